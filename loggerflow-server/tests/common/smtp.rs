//! An SMTP server standing in for a mail relay: `EHLO`, `STARTTLS` (the
//! test CA's certificate), `AUTH PLAIN` / `AUTH LOGIN`, `MAIL`, `RCPT`,
//! `DATA`; it records each message with how it came.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// One message received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Whether it came after `STARTTLS`.
    pub encrypted: bool,
    /// The login and password given with `AUTH`, if any.
    pub login: Option<(String, String)>,
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The message as sent (dot-unstuffed).
    pub data: Vec<u8>,
}

/// The stand-in; it stops with the test's runtime.
pub struct SmtpSink {
    pub addr: SocketAddr,
    /// The CA that signed its certificate (PEM), for the client to trust.
    pub ca_pem: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl SmtpSink {
    pub async fn start() -> Self {
        let (config, ca_pem) = super::tls::test_ca(&[]);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, store) = (acceptor.clone(), store.clone());
                tokio::spawn(async move {
                    let _ = session(Box::new(tcp), acceptor, store).await;
                });
            }
        });
        Self {
            addr,
            ca_pem,
            received,
        }
    }

    /// The messages once there are `n`, or when `within` has passed.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = self.received.lock().expect("lock").clone();
            if got.len() >= n || std::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn session(
    stream: Box<dyn Stream>,
    acceptor: tokio_rustls::TlsAcceptor,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    let mut encrypted = false;
    let mut login = None;
    let mut from = String::new();
    let mut to = Vec::new();
    io.write_all(b"220 stand-in ESMTP\r\n").await?;
    io.flush().await?;
    let b64 = |text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    loop {
        let line = read_line(&mut io).await?;
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let tls = if encrypted { "" } else { "250-STARTTLS\r\n" };
            format!("250-stand-in\r\n{tls}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
        } else if upper == "STARTTLS" {
            io.write_all(b"220 ready\r\n").await?;
            io.flush().await?;
            let tls = acceptor.accept(io.into_inner()).await?;
            io = BufReader::new(Box::new(tls));
            encrypted = true;
            continue;
        } else if upper.starts_with("AUTH PLAIN") {
            let given = match line.get(11..).filter(|s| !s.trim().is_empty()) {
                Some(inline) => b64(inline),
                None => {
                    io.write_all(b"334 \r\n").await?;
                    io.flush().await?;
                    b64(&read_line(&mut io).await?)
                }
            };
            let mut parts = given.split('\0').skip(1);
            login = Some((
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            ));
            "235 ok\r\n".into()
        } else if upper.starts_with("AUTH LOGIN") {
            io.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            io.flush().await?;
            let user = b64(&read_line(&mut io).await?);
            io.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            io.flush().await?;
            let password = b64(&read_line(&mut io).await?);
            login = Some((user, password));
            "235 ok\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line[10..]);
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line[8..]));
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            io.write_all(b"354 go on\r\n").await?;
            io.flush().await?;
            let mut data = Vec::new();
            loop {
                let mut raw = Vec::new();
                if io.read_until(b'\n', &mut raw).await? == 0 {
                    return Ok(());
                }
                if raw == b".\r\n" {
                    break;
                }
                let unstuffed = raw.strip_prefix(b".").unwrap_or(&raw);
                data.extend_from_slice(unstuffed);
            }
            store.lock().expect("lock").push(Received {
                encrypted,
                login: login.clone(),
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            io.write_all(b"221 bye\r\n").await?;
            io.flush().await?;
            return Ok(());
        } else {
            "250 ok\r\n".into()
        };
        io.write_all(reply.as_bytes()).await?;
        io.flush().await?;
    }
}

async fn read_line(io: &mut BufReader<Box<dyn Stream>>) -> std::io::Result<String> {
    let mut line = String::new();
    if io.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `<a@b> SIZE=…` → `a@b`.
fn address(text: &str) -> String {
    let text = text.trim();
    match (text.find('<'), text.find('>')) {
        (Some(start), Some(end)) if start < end => text[start + 1..end].to_owned(),
        _ => text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}
