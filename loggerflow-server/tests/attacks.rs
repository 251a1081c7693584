//! The attacks of issue 12, each as a real request against a real
//! `loggerflow run` on loopback: the answer is a refusal (status and JSON
//! `error` code), and nothing was written, stored or reached.
//!
//! Servers are shared where the flags allow: one open server (with
//! `--alarm-dir`), one with `--auth admin:pw --alarm-dir`, and one per flag
//! that must differ (`--allow-private-targets`, short timeouts, a connection
//! cap, throttling from a fresh start, `--public-url`, the project quota).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use common::{Backend, Db, FormClient, Server, batch, heartbeat, hello, new_id, report};

// ---------------------------------------------------------------------------
// Raw HTTP: every request is written by hand on its own connection, so no
// client library adds, fixes or hides a header (Host, Origin, cookies).
// ---------------------------------------------------------------------------

/// A request written byte for byte (`Connection: close` unless given).
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    host: bool,
}

impl Req {
    fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            host: true,
        }
    }

    fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    fn delete(path: &str) -> Self {
        Self::new("DELETE", path)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn basic(self, user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    /// A body as it is (no `Content-Type`).
    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into().into_bytes();
        self
    }

    fn json(self, body: impl Into<String>) -> Self {
        self.body(body).header("Content-Type", "application/json")
    }

    fn form(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// No `Host` header at all.
    fn without_host(mut self) -> Self {
        self.host = false;
        self
    }

    fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn bytes(&self, port: u16) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if self.host && !self.has("host") {
            head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
        }
        if !self.has("connection") {
            head.push_str("Connection: close\r\n");
        }
        if !self.body.is_empty() || self.method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request on a new connection and reads the answer to the end.
    async fn send(&self, port: u16) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the server");
        stream
            .write_all(&self.bytes(port))
            .await
            .expect("write the request");
        let (raw, closed) = read_for(&mut stream, Duration::from_secs(15)).await;
        assert!(
            closed,
            "{} {}: the server did not finish its answer in 15 s",
            self.method, self.path
        );
        Answer::parse(&raw).unwrap_or_else(|| {
            panic!(
                "{} {}: not an HTTP answer: {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&raw)
            )
        })
    }
}

/// Reads until the peer closes (EOF or error) or `limit` passes: the bytes,
/// and whether the connection was closed.
async fn read_for(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> (Vec<u8>, bool) {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (raw, true),
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => return (raw, false),
        }
    }
}

/// How long until the server closes the connection (`None`: still open
/// after `limit`), and what it sent before.
async fn closed_within(
    stream: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> (Option<Duration>, Vec<u8>) {
    let started = Instant::now();
    let (raw, closed) = read_for(stream, limit).await;
    (closed.then(|| started.elapsed()), raw)
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Option<Self> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        if chunked {
            body = dechunk(&body);
        }
        Some(Self {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// The first header of this name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Set-Cookie` that sets cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The JSON `error` code.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts a refusal with this status and JSON error code.
    fn refused(&self, status: u16, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.error().as_str()),
            (status, code),
            "{what}: {self:?}"
        );
    }

    /// `Retry-After` in seconds.
    fn retry_after(&self) -> Option<u64> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse().ok())
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .and_then(|s| {
                usize::from_str_radix(s.split(';').next().unwrap_or_default().trim(), 16).ok()
            })
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or_default();
    }
    out
}

/// Requests to one server, with HTTP Basic credentials (a script) when it
/// runs with `--auth`.
struct Api {
    port: u16,
    auth: Option<(&'static str, &'static str)>,
}

impl Api {
    fn of(server: &Server, auth: Option<(&'static str, &'static str)>) -> Self {
        Self {
            port: server.port(),
            auth,
        }
    }

    /// Sends `req` with this API's credentials.
    async fn send(&self, req: Req) -> Answer {
        let req = match self.auth {
            Some((user, password)) => req.basic(user, password),
            None => req,
        };
        req.send(self.port).await
    }

    /// Sends `req` as it is, without credentials.
    async fn anonymous(&self, req: Req) -> Answer {
        req.send(self.port).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Req::get(path)).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(Req::post(path).json(body.to_string())).await
    }

    /// Ingest (no credentials: apps never send them).
    async fn ingest(&self, path: &str, body: impl Into<String>) -> Answer {
        self.anonymous(Req::post(path).json(body)).await
    }

    async fn names(&self, path: &str, list: &str) -> Vec<String> {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
        answer.json()[list]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn alarms(&self) -> Vec<String> {
        self.names("/api/v1/alarms", "alarms").await
    }

    async fn projects(&self) -> Vec<String> {
        self.names("/api/v1/projects", "projects").await
    }

    /// `POST /api/v1/alarms/NAME/check`: its JSON (`{"ok": …, "error": …}`).
    async fn check(&self, alarm: &str) -> Value {
        let answer = self
            .send(Req::post(&format!("/api/v1/alarms/{alarm}/check")))
            .await;
        assert_eq!(answer.status, 200, "check {alarm}: {answer:?}");
        answer.json()
    }
}

fn file_alarm(name: &str, path: &str) -> Value {
    json!({ "kind": "file", "name": name, "fields": { "path": path } })
}

fn webhook_alarm(name: &str, url: &str) -> Value {
    json!({ "kind": "webhook", "name": name, "fields": { "url": url } })
}

fn telegram_alarm(name: &str, api_url: &str) -> Value {
    json!({ "kind": "telegram", "name": name, "fields": {
        "token": "1:T", "chat_id": "-100", "api_url": api_url } })
}

fn discord_alarm(name: &str, url: &str) -> Value {
    json!({ "kind": "discord", "name": name, "fields": { "webhook_url": url } })
}

/// A native batch with one hello.
fn hello_batch(project: &str, instance: &str) -> String {
    batch(instance, json!([hello(project, instance, 5, "webhook")]))
}

/// The value of the `<input name=NAME>` of a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    html.split('<')
        .filter(|tag| tag.starts_with("input"))
        .find(|tag| tag.contains(&format!(r#"name="{name}""#)))
        .and_then(|tag| tag.split(r#"value=""#).nth(1))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

/// Whether a `Set-Cookie` value has the `Secure` attribute.
fn is_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .skip(1)
        .any(|attr| attr.trim().eq_ignore_ascii_case("secure"))
}

// ---------------------------------------------------------------------------
// Stand-ins for the targets of alarms: they count every TCP connection.
// ---------------------------------------------------------------------------

/// A local HTTP server standing in for an alarm's target: counts every
/// connection made to it and answers each request with a canned answer.
struct StandIn {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

/// An HTTP answer as bytes (`extra`: header lines, each ending in `\r\n`).
fn canned(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

impl StandIn {
    async fn start(answer: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a stand-in");
        let addr = listener.local_addr().expect("the stand-in's address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(Self::answer(stream, answer.clone()));
            }
        });
        Self { addr, hits }
    }

    /// Reads the request (head and body), answers, then drains the socket.
    async fn answer(mut stream: TcpStream, answer: String) {
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let wait = Duration::from_secs(2);
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    break;
                }
            }
            match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        let _ = read_for(&mut stream, wait).await;
    }

    async fn ok() -> Self {
        Self::start(canned("200 OK", "", r#"{"ok":true}"#)).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `http://HOST:PORT/PATH` of this stand-in.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }
}

// ---------------------------------------------------------------------------
// The `--alarm-dir` layout.
// ---------------------------------------------------------------------------

/// `root/alarms` is the alarm dir, `root/outside` is not; `alarms/link` is a
/// symlink to `outside`, `alarms/out.log` a symlink to `outside/target.log`.
struct AlarmDir {
    _temp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    outside: PathBuf,
}

impl AlarmDir {
    fn new() -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let root = temp.path().canonicalize().expect("a canonical tempdir");
        let dir = root.join("alarms");
        let outside = root.join("outside");
        std::fs::create_dir(&dir).expect("create the alarm dir");
        std::fs::create_dir(&outside).expect("create a dir outside it");
        std::os::unix::fs::symlink(&outside, dir.join("link")).expect("symlink to a dir outside");
        std::fs::write(outside.join("target.log"), "").expect("a file outside");
        std::os::unix::fs::symlink(outside.join("target.log"), dir.join("out.log"))
            .expect("symlink to a file outside");
        Self {
            _temp: temp,
            root,
            dir,
            outside,
        }
    }

    fn flag(&self) -> String {
        self.dir.display().to_string()
    }

    /// The names of the entries of `dir`, sorted.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read a dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

// ---------------------------------------------------------------------------
// The attacks, as helpers run against the servers below.
// ---------------------------------------------------------------------------

/// File alarms: a path outside `--alarm-dir` (absolute, `..`, through a
/// symlink) is refused, a name with control or bidi characters is refused,
/// and a valid alarm writes exactly one line inside the dir.
async fn file_alarms_stay_inside_the_alarm_dir(api: &Api, dirs: &AlarmDir) {
    let escapes = [
        (
            "abs-elsewhere",
            dirs.outside.join("abs.log").display().to_string(),
            dirs.outside.join("abs.log"),
        ),
        (
            "dot-dot",
            "../dotdot.log".to_owned(),
            dirs.root.join("dotdot.log"),
        ),
        (
            "dot-dot-abs",
            format!("{}/../dotdot-abs.log", dirs.dir.display()),
            dirs.root.join("dotdot-abs.log"),
        ),
        (
            "dir-link",
            "link/linked.log".to_owned(),
            dirs.outside.join("linked.log"),
        ),
        (
            "dir-link-abs",
            dirs.dir
                .join("link")
                .join("linked-abs.log")
                .display()
                .to_string(),
            dirs.outside.join("linked-abs.log"),
        ),
    ];
    for (name, path, target) in &escapes {
        let answer = api
            .post_json("/api/v1/alarms", &file_alarm(name, path))
            .await;
        answer.refused(400, "invalid_alarm", &format!("a file alarm to {path}"));
        assert!(!target.exists(), "{} was written", target.display());
    }
    // a symlinked file inside the dir: refused now, or its write fails (O_NOFOLLOW)
    let answer = api
        .post_json("/api/v1/alarms", &file_alarm("file-link", "out.log"))
        .await;
    match answer.status {
        400 => answer.refused(400, "invalid_alarm", "a file alarm to a symlink"),
        201 => {
            let check = api.check("file-link").await;
            assert_eq!(check["ok"], false, "written through a symlink: {check}");
        }
        _ => panic!("a file alarm to a symlink: {answer:?}"),
    }
    let target = std::fs::read_to_string(dirs.outside.join("target.log")).expect("read target");
    assert_eq!(target, "", "nothing is written through the symlink");

    // a FIFO in the alarm dir: refused, never a thread blocked on it
    let fifo = dirs.dir.join("fifo.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let answer = api
        .post_json("/api/v1/alarms", &file_alarm("fifo", "fifo.log"))
        .await;
    answer.refused(400, "invalid_alarm", "a file alarm to a FIFO");
    std::fs::remove_file(&fifo).expect("remove the FIFO");

    let long = "n".repeat(300);
    let names = [
        ("x\nANY LINE\n", "a newline"),
        ("x\rY", "a carriage return"),
        ("red\u{1b}[31m", "an escape"),
        ("evil\u{202e}gol.exe", "U+202E"),
        ("zero\u{200b}width", "U+200B"),
        (long.as_str(), "300 characters"),
    ];
    for (name, what) in names {
        let answer = api
            .post_json("/api/v1/alarms", &file_alarm(name, "names.log"))
            .await;
        answer.refused(400, "invalid_name", &format!("an alarm name with {what}"));
    }
    assert!(!dirs.dir.join("names.log").exists());

    // a valid alarm, relative and absolute: one line each, inside the dir
    let inside = dirs.dir.join("inside.log").display().to_string();
    for (name, path, file) in [
        ("audit", "alerts.log", dirs.dir.join("alerts.log")),
        ("audit-abs", inside.as_str(), dirs.dir.join("inside.log")),
    ] {
        let answer = api
            .post_json("/api/v1/alarms", &file_alarm(name, path))
            .await;
        assert_eq!(answer.status, 201, "a file alarm to {path}: {answer:?}");
        let check = api.check(name).await;
        assert_eq!(check["ok"], true, "{name}: {check}");
        let text = std::fs::read_to_string(&file).expect("the alarm's file");
        assert_eq!(text.lines().count(), 1, "exactly one line: {text:?}");
        assert!(text.ends_with('\n') && text.contains(name), "{text:?}");
    }

    let alarms = api.alarms().await;
    for (name, _, _) in &escapes {
        assert!(!alarms.contains(&(*name).to_owned()), "{name}: {alarms:?}");
    }
    assert!(
        alarms
            .iter()
            .all(|a| a.chars().all(|c| !c.is_control()) && a.len() <= 128),
        "{alarms:?}"
    );
    assert_eq!(AlarmDir::entries(&dirs.root), ["alarms", "outside"]);
    assert_eq!(AlarmDir::entries(&dirs.outside), ["target.log"]);
}

/// DNS rebinding: a `Host` that is not a loopback name, an IP literal, the
/// `--host` or the `--public-url` host is refused (400 `host_not_allowed`)
/// for the API and pages; `localhost` works. Ingest answers under any name
/// (apps use their network's name), but not to a page: under a rebound name
/// the browser still sends `Origin`, refused with 403.
async fn rebinding_hosts_are_refused(api: &Api, dirs: &AlarmDir) {
    let port = api.port;
    for host in [
        "rb.evil.example".to_owned(),
        format!("rb.evil.example:{port}"),
    ] {
        let origin = format!("http://{host}");
        let answer = api
            .send(
                Req::post("/api/v1/alarms")
                    .header("Host", &host)
                    .header("Origin", &origin)
                    .json(file_alarm("rebound", "rebound.log").to_string()),
            )
            .await;
        answer.refused(400, "host_not_allowed", &format!("POST alarm, Host {host}"));
        for path in ["/", "/api/v1/projects", "/alarms", "/api/v1/alarms"] {
            let answer = api.send(Req::get(path).header("Host", &host)).await;
            answer.refused(400, "host_not_allowed", &format!("GET {path}, Host {host}"));
        }
        let answer = api
            .anonymous(
                Req::post("/loggerflow/v1/batch")
                    .header("Host", &host)
                    .header("Origin", &origin)
                    .json(hello_batch("Rebound", "rebound-1")),
            )
            .await;
        answer.refused(
            403,
            "browser_origin_refused",
            &format!("ingest from a page, Host {host}"),
        );
    }
    let answer = api.send(Req::get("/api/v1/projects").without_host()).await;
    assert_eq!(answer.status, 400, "no Host: {answer:?}");

    for host in [
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let answer = api
            .send(Req::get("/api/v1/projects").header("Host", &host))
            .await;
        assert_eq!(answer.status, 200, "Host {host}: {answer:?}");
    }
    let answer = api
        .send(
            Req::post("/api/v1/alarms")
                .header("Host", &format!("localhost:{port}"))
                .json(file_alarm("via-localhost", "localhost.log").to_string()),
        )
        .await;
    assert_eq!(answer.status, 201, "Host localhost: {answer:?}");

    assert!(!api.alarms().await.contains(&"rebound".to_owned()));
    assert!(!api.projects().await.contains(&"Rebound".to_owned()));
    assert!(!dirs.dir.join("rebound.log").exists());
}

/// SSRF: alarms do not reach loopback, private, CGNAT, link-local or
/// metadata addresses: IP literals are refused at creation, names at send
/// time (`/check` says "private"), and the stand-in is never reached.
async fn alarms_reach_no_private_address(api: &Api) {
    let stand_in = StandIn::ok().await;
    let literals = [
        webhook_alarm("hook-loopback", &stand_in.url("127.0.0.1", "/")),
        webhook_alarm("hook-v6-loopback", &stand_in.url("[::1]", "/")),
        webhook_alarm("hook-metadata", "http://169.254.169.254/latest/meta-data/"),
        webhook_alarm("hook-private-10", "http://10.0.0.1/"),
        webhook_alarm("hook-private-192", "http://192.168.1.1/"),
        webhook_alarm("hook-cgnat", "http://100.64.0.1/"),
        telegram_alarm("tg-loopback", &stand_in.url("127.0.0.1", "")),
        discord_alarm(
            "discord-loopback",
            &stand_in.url("127.0.0.1", "/api/webhooks/1/x"),
        ),
    ];
    for alarm in &literals {
        let answer = api.post_json("/api/v1/alarms", alarm).await;
        answer.refused(400, "invalid_alarm", &alarm.to_string());
    }
    let names = [
        webhook_alarm("hook-by-name", &stand_in.url("localhost", "/hook")),
        telegram_alarm("tg-by-name", &stand_in.url("localhost", "")),
        discord_alarm(
            "discord-by-name",
            &stand_in.url("localhost", "/api/webhooks/1/x"),
        ),
    ];
    for alarm in &names {
        let name = alarm["name"].as_str().unwrap_or_default();
        let answer = api.post_json("/api/v1/alarms", alarm).await;
        assert_eq!(answer.status, 201, "{alarm}: {answer:?}");
        let check = api.check(name).await;
        assert_eq!(check["ok"], false, "{name}: {check}");
        let error = check["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(error.contains("private"), "{name}: {check}");
    }
    // other spellings of this machine: refused at creation or at send time
    for (name, url) in [
        ("hook-unspecified", stand_in.url("0.0.0.0", "/")),
        ("hook-mapped", stand_in.url("[::ffff:127.0.0.1]", "/")),
        ("hook-short", stand_in.url("127.1", "/")),
    ] {
        let answer = api
            .post_json("/api/v1/alarms", &webhook_alarm(name, &url))
            .await;
        match answer.status {
            400 => answer.refused(400, "invalid_alarm", &url),
            201 => {
                let check = api.check(name).await;
                assert_eq!(check["ok"], false, "{url}: {check}");
            }
            _ => panic!("{url}: {answer:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stand_in.hits(), 0, "the stand-in on loopback was reached");
    let alarms = api.alarms().await;
    for alarm in &literals {
        let name = alarm["name"].as_str().unwrap_or_default().to_owned();
        assert!(!alarms.contains(&name), "{name} was stored: {alarms:?}");
    }
}

/// Secrets: a Telegram token is shown as `********` in `GET /api/v1/alarms`
/// and on the alarms page, nothing of it.
async fn secrets_are_fully_masked(api: &Api) {
    let alarm = json!({ "kind": "telegram", "name": "ops-bot", "fields": {
        "token": "123456:ABCDEFSECRET", "chat_id": "-100" } });
    let created = api.post_json("/api/v1/alarms", &alarm).await;
    assert_eq!(created.status, 201, "{created:?}");
    for shown in ["1234", "SECRET"] {
        assert!(!created.body.contains(shown), "{created:?}");
    }
    let listed = api.get("/api/v1/alarms").await;
    assert_eq!(listed.status, 200);
    for shown in ["123456:", "ABCDEF", "SECRET"] {
        assert!(!listed.body.contains(shown), "{shown}: {}", listed.body);
    }
    let entry = listed.json()["alarms"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "ops-bot").cloned())
        .expect("the alarm is listed");
    let entry_text = entry.to_string();
    assert!(
        !entry_text.contains("1234") && !entry_text.contains("SECRET"),
        "{entry}"
    );
    assert_eq!(entry["fields"]["token"], "********", "{entry}");
    let page = api.get("/alarms").await;
    assert_eq!(page.status, 200, "{page:?}");
    for shown in ["123456:", "ABCDEFSECRET"] {
        assert!(!page.body.contains(shown), "the alarms page shows {shown}");
    }
}

/// Ingest bounds: project names and instance ids that are too long or carry
/// control/bidi characters are refused (400 `invalid_name`, native and
/// Python, HTTP and websocket), and nothing is created.
async fn ingest_refuses_bad_names(api: &Api) {
    let long = "a".repeat(300);
    let bad = [
        (long.as_str(), "300 characters"),
        ("bad\nname", "a newline"),
        ("evil\u{202e}txt", "U+202E"),
        ("tab\tname", "a tab"),
        ("zw\u{200b}j", "U+200B"),
    ];
    for (name, what) in bad {
        let answer = api
            .ingest("/loggerflow/v1/batch", hello_batch(name, "bad-1"))
            .await;
        answer.refused(400, "invalid_name", &format!("native hello, {what}"));
        let answer = api
            .ingest(
                "/loggerflow/v1/batch",
                batch("bad-2", json!([report(name, &new_id(), 1)])),
            )
            .await;
        answer.refused(400, "invalid_name", &format!("native report, {what}"));
        let handshake =
            json!({ "project_name": name, "implementation": "webhook", "heartbeat": 60 });
        let answer = api
            .ingest("/loggerflow/handshake", handshake.to_string())
            .await;
        answer.refused(400, "invalid_name", &format!("Python handshake, {what}"));
        let error = json!({ "project_name": name,
            "traceback": "Traceback (most recent call last):\nZeroDivisionError: division by zero" });
        let answer = api
            .ingest("/loggerflow/project_error", error.to_string())
            .await;
        answer.refused(400, "invalid_name", &format!("Python error, {what}"));
    }
    let long_instance = "i".repeat(300);
    for (instance, what) in [
        (long_instance.as_str(), "300 characters"),
        ("inst\nance", "a newline"),
    ] {
        let answer = api
            .ingest("/loggerflow/v1/batch", hello_batch("Instances", instance))
            .await;
        answer.refused(400, "invalid_name", &format!("instance id with {what}"));
    }

    let mut ws = ws_connect(api.port, "/loggerflow/v1/ws").await;
    ws.send(Message::text(
        hello("ws\nname", "ws-1", 5, "websocket").to_string(),
    ))
    .await
    .expect("send a hello");
    let refusal = ws_first_text(&mut ws, Duration::from_secs(5))
        .await
        .expect("an error frame for a bad hello");
    let refusal: Value = serde_json::from_str(&refusal).unwrap_or(Value::Null);
    assert_eq!(refusal["error"], "invalid_name", "{refusal}");

    let projects = api.projects().await;
    assert!(!projects.contains(&"Instances".to_owned()), "{projects:?}");
    for project in &projects {
        assert!(
            project.chars().count() <= 128
                && !project.chars().any(|c| c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')),
            "{project:?} was created"
        );
    }
    // a good name is accepted (the refusals above are about the names)
    let answer = api
        .ingest("/loggerflow/v1/batch", hello_batch("Good", "good-1"))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(api.projects().await.contains(&"Good".to_owned()));
}

/// Browsers: any ingest request with an `Origin` (a web page's `fetch`,
/// even `no-cors`) is refused 403 `browser_origin_refused`, websocket
/// upgrades too, and nothing is stored.
async fn ingest_refuses_browsers(api: &Api) {
    for origin in ["http://evil.example", "null"] {
        let answer = api
            .anonymous(
                Req::post("/loggerflow/v1/batch")
                    .header("Origin", origin)
                    .json(batch(
                        "browser-1",
                        json!([
                            hello("FromBrowser", "browser-1", 5, "webhook"),
                            report("FromBrowser", &new_id(), 1)
                        ]),
                    )),
            )
            .await;
        answer.refused(
            403,
            "browser_origin_refused",
            &format!("native batch, Origin {origin}"),
        );
        let handshake =
            json!({ "project_name": "FromBrowser", "implementation": "webhook", "heartbeat": 60 });
        let answer = api
            .anonymous(
                Req::post("/loggerflow/handshake")
                    .header("Origin", origin)
                    .json(handshake.to_string()),
            )
            .await;
        answer.refused(
            403,
            "browser_origin_refused",
            &format!("Python handshake, Origin {origin}"),
        );
        let error = json!({ "project_name": "FromBrowser",
            "traceback": "Traceback (most recent call last):\nValueError: x" });
        let answer = api
            .anonymous(
                Req::post("/loggerflow/project_error")
                    .header("Origin", origin)
                    // what `fetch(…, {mode: "no-cors"})` can send
                    .header("Content-Type", "text/plain")
                    .body(error.to_string()),
            )
            .await;
        answer.refused(
            403,
            "browser_origin_refused",
            &format!("Python error, Origin {origin}"),
        );
    }
    for path in ["/loggerflow/v1/ws", "/loggerflow/"] {
        let mut request = format!("ws://127.0.0.1:{}{path}", api.port)
            .into_client_request()
            .expect("a websocket request");
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_static("http://evil.example"));
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{path}: {response:?}");
                if let Some(body) = response.body() {
                    let body = String::from_utf8_lossy(body);
                    assert!(
                        body.is_empty() || body.contains("browser_origin_refused"),
                        "{path}: {body}"
                    );
                }
            }
            Ok(_) => panic!("{path}: a websocket upgrade with an Origin was accepted"),
            Err(e) => panic!("{path}: {e}"),
        }
    }
    // without an Origin the same socket is accepted
    let ws = ws_connect(api.port, "/loggerflow/v1/ws").await;
    drop(ws);
    let projects = api.projects().await;
    assert!(
        !projects.contains(&"FromBrowser".to_owned()),
        "{projects:?}"
    );
}

/// Every answer (JSON, CSS, HTML, 404, errors) carries `nosniff`, `DENY`
/// and `Referrer-Policy`; HSTS only when `--public-url` is https.
async fn every_answer_carries_security_headers(api: &Api, hsts: bool) {
    let requests = [
        Req::get("/api/v1/health"),
        Req::get("/no/such/page"),
        Req::get("/assets/style.css"),
        Req::get("/"),
        Req::get("/api/v1/projects"),
        Req::post("/loggerflow/v1/batch").json("not json"),
        Req::get("/api/v1/projects").header("Host", "rb.evil.example"),
    ];
    for req in requests {
        let what = format!("{} {} ({:?})", req.method, req.path, req.headers);
        let answer = api.anonymous(req).await;
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{what}: {answer:?}"
        );
        assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(
            answer.header("referrer-policy"),
            Some("same-origin"),
            "{what}"
        );
        let sts = answer.header("strict-transport-security");
        if hsts {
            assert!(
                sts.is_some_and(|v| v.contains("max-age=31536000")),
                "{what}: {answer:?}"
            );
        } else {
            assert_eq!(sts, None, "{what}: HSTS on a plain-http server");
        }
    }
    let css = api.anonymous(Req::get("/assets/style.css")).await;
    assert_eq!(css.status, 200);
    let missing = api.anonymous(Req::get("/no/such/page")).await;
    assert_eq!(missing.status, 404);
}

/// Login: `next` is used only as a plain local path: `/%09/evil.example`,
/// `//…`, `/\…`, absolute URLs and CR/LF all become `/`, never a 500.
async fn login_returns_only_to_a_local_path(api: &Api) {
    for (next, expected) in [
        ("/%09/evil.example", "/"),
        ("/%0d%0aX-Injected:%20y", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("/settings", "/settings"),
    ] {
        let page = api
            .anonymous(Req::get(&format!("/login?next={next}")))
            .await;
        assert_eq!(page.status, 200, "GET /login?next={next}: {page:?}");
        assert_eq!(
            input_value(&page.body, "next").as_deref(),
            Some(expected),
            "the form's next for {next}"
        );
    }
    for (next, expected) in [
        ("%2F%09%2Fevil.example", "/"),
        ("%2F%0D%0AX-Injected%3A%20y", "/"),
        ("%2F%0d%0a", "/"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2Fsettings", "/settings"),
    ] {
        let answer = api
            .anonymous(Req::post("/login").form(&format!("user=admin&password=pw&next={next}")))
            .await;
        assert_eq!(answer.status, 303, "POST /login next={next}: {answer:?}");
        assert_eq!(answer.header("location"), Some(expected), "next={next}");
        assert_eq!(answer.header("x-injected"), None, "next={next}");
    }
}

/// 401 challenge: no `WWW-Authenticate` to a request that carries our
/// cookies or `Sec-Fetch-Mode` (the dashboard's scripts); scripts get one.
async fn browsers_get_no_basic_challenge(api: &Api) {
    let path = "/api/v1/dashboard/projects";
    let stale = format!("lf_session={}", "0".repeat(64));
    let csrf = format!("lf_csrf={}", "a".repeat(64));
    for (name, value) in [
        ("Cookie", stale.as_str()),
        ("Cookie", "lf_session=bogus"),
        ("Cookie", csrf.as_str()),
        ("Sec-Fetch-Mode", "cors"),
    ] {
        let answer = api.anonymous(Req::get(path).header(name, value)).await;
        assert_eq!(answer.status, 401, "{name}: {value}: {answer:?}");
        assert_eq!(
            answer.header("www-authenticate"),
            None,
            "{name}: {value}: the browser would pop its password box"
        );
    }
    let script = api.anonymous(Req::get(path)).await;
    assert_eq!(script.status, 401, "{script:?}");
    assert!(
        script
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic")),
        "{script:?}"
    );
}

/// CSRF with Basic: a state change authenticated by HTTP Basic that carries
/// `Origin`, `Sec-Fetch-Site` or our cookie needs the CSRF token (403
/// `csrf_token_mismatch`); a script's plain Basic request needs none.
async fn basic_from_a_browser_needs_the_csrf_token(api: &Api, dirs: &AlarmDir) {
    let origin = format!("http://127.0.0.1:{}", api.port);
    let cookie = format!("lf_csrf={}", "a".repeat(64));
    let cases = [
        ("csrf-origin", "Origin", origin.as_str()),
        ("csrf-fetch-site", "Sec-Fetch-Site", "same-origin"),
        ("csrf-cookie", "Cookie", cookie.as_str()),
    ];
    for (name, header, value) in cases {
        let answer = api
            .send(
                Req::post("/api/v1/alarms")
                    .header(header, value)
                    .json(file_alarm(name, &format!("{name}.log")).to_string()),
            )
            .await;
        answer.refused(
            403,
            "csrf_token_mismatch",
            &format!("Basic + {header}: {value}"),
        );
    }
    let form = api
        .send(
            Req::post("/alarms/new")
                .header("Origin", &origin)
                .form("kind=file&name=csrf-form&field.path=csrf-form.log"),
        )
        .await;
    assert_eq!(form.status, 403, "a form with Basic + Origin: {form:?}");

    let script = api
        .post_json("/api/v1/alarms", &file_alarm("script", "script.log"))
        .await;
    assert_eq!(script.status, 201, "a script's Basic: {script:?}");
    let answer = api
        .send(Req::delete("/api/v1/alarms/script").header("Origin", &origin))
        .await;
    answer.refused(403, "csrf_token_mismatch", "DELETE with Basic + Origin");
    assert!(api.alarms().await.contains(&"script".to_owned()));
    let answer = api.send(Req::delete("/api/v1/alarms/script")).await;
    assert!(matches!(answer.status, 200 | 204), "{answer:?}");

    let alarms = api.alarms().await;
    assert!(
        alarms
            .iter()
            .all(|a| !a.starts_with("csrf-") && a != "script"),
        "{alarms:?}"
    );
    for (name, _, _) in cases {
        assert!(!dirs.dir.join(format!("{name}.log")).exists());
    }
}

// ---------------------------------------------------------------------------
// Websockets.
// ---------------------------------------------------------------------------

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws_connect(port: u16, path: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
        .await
        .expect("a websocket");
    ws
}

/// The first text frame within `limit` (`None`: closed or nothing came).
async fn ws_first_text(ws: &mut Ws, limit: Duration) -> Option<String> {
    tokio::time::timeout(limit, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Reads until the server closes the socket (close frame, error or end):
/// how long that took (`None`: still open after `limit`) and the text frames.
async fn ws_closed_within(ws: &mut Ws, limit: Duration) -> (Option<Duration>, Vec<String>) {
    let started = Instant::now();
    let mut texts = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        loop {
            match ws.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => texts.push(text.to_string()),
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    (closed.ok().map(|()| started.elapsed()), texts)
}

// ---------------------------------------------------------------------------
// Timeouts (a server with --header-timeout 2 --websocket-idle-timeout 2).
// ---------------------------------------------------------------------------

/// The bound on a cut that is due after 2 s: generous for a loaded machine
/// (the tests run their clients together), and still below the 10 s the
/// trickle and the silent clients would otherwise last.
const CUT: Duration = Duration::from_secs(8);

/// Headers trickled a line every 500 ms are cut at the header timeout.
async fn trickled_headers_are_cut(port: u16) {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        if write
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .is_err()
        {
            return;
        }
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let line = format!("X-Trickle-{i}: x\r\n");
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let (closed, sent) = closed_within(&mut read, Duration::from_secs(12)).await;
    trickle.abort();
    let took = closed.expect("the trickle (10 s) outlived the connection");
    assert!(took < CUT, "a trickle kept the connection for {took:?}");
    assert!(
        !sent.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&sent)
    );
}

/// A connection that never sends a byte is cut at the header timeout.
async fn silent_connections_are_cut(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (closed, _) = closed_within(&mut stream, Duration::from_secs(10)).await;
    let took = closed.expect("a silent connection stayed open for 10 s");
    assert!(took < CUT, "a silent connection lived {took:?}");
}

/// An idle keep-alive connection, after one complete request, is cut.
async fn idle_keep_alive_is_cut(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 4096];
    let complete = |raw: &[u8]| {
        raw.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|end| {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                raw.len() >= end + 4 + length
            })
    };
    while !complete(&raw) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(n > 0, "closed before the answer");
        raw.extend_from_slice(&buf[..n]);
    }
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    let (closed, _) = closed_within(&mut stream, Duration::from_secs(10)).await;
    let took = closed.expect("an idle keep-alive connection stayed open for 10 s");
    assert!(took < CUT, "an idle keep-alive connection lived {took:?}");
}

/// A websocket that never sends its hello is closed at the header timeout.
async fn silent_websocket_is_closed(port: u16, path: &str) {
    let mut ws = ws_connect(port, path).await;
    let (closed, _) = ws_closed_within(&mut ws, Duration::from_secs(10)).await;
    let took = closed.unwrap_or_else(|| panic!("{path}: a silent websocket stayed open"));
    assert!(took < CUT, "{path}: a silent websocket lived {took:?}");
}

/// Adds a webhook alarm to `url` (201) and answers its `/check`.
async fn webhook_checked(api: &Api, name: &str, url: &str) -> serde_json::Value {
    let answer = api
        .post_json("/api/v1/alarms", &webhook_alarm(name, url))
        .await;
    assert_eq!(answer.status, 201, "{name}: {answer:?}");
    api.check(name).await
}

/// A websocket that says hello (heartbeat 1 s) and then nothing is closed
/// after max(idle timeout 2 s, 3 × 1 s).
async fn quiet_websocket_is_closed(port: u16) {
    let mut ws = ws_connect(port, "/loggerflow/v1/ws").await;
    ws.send(Message::text(
        hello("Quiet", "quiet-1", 1, "websocket").to_string(),
    ))
    .await
    .expect("hello");
    let (closed, texts) = ws_closed_within(&mut ws, Duration::from_secs(12)).await;
    let took = closed.expect("a quiet websocket stayed open for 12 s");
    assert!(
        took < Duration::from_secs(9),
        "a quiet websocket lived {took:?}"
    );
    assert!(
        took > Duration::from_millis(1500),
        "closed at once ({took:?}), not for being idle: {texts:?}"
    );
    // the only thing said is why it was closed
    assert!(
        texts.iter().all(|t| t.contains("\"idle_timeout\"")),
        "{texts:?}"
    );
}

/// A websocket that keeps sending heartbeats stays open past the idle
/// timeout (the control for the two above).
async fn beating_websocket_stays_open(port: u16) {
    let mut ws = ws_connect(port, "/loggerflow/v1/ws").await;
    ws.send(Message::text(
        hello("Beating", "beat-1", 1, "websocket").to_string(),
    ))
    .await
    .expect("hello");
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ws.send(Message::text(heartbeat(1.0).to_string()))
            .await
            .expect("a heartbeating socket is kept");
    }
    let id = new_id();
    ws.send(Message::text(report("Beating", &id, 1).to_string()))
        .await
        .expect("report");
    let ack = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(_)) => {}
                other => panic!("a heartbeating socket was closed: {other:?}"),
            }
        }
    })
    .await
    .expect("an ack within 5 s");
    assert!(ack.contains(&id), "{ack}");
}

/// A websocket message larger than the body limit (1 MiB) closes the
/// socket, and the report is not stored.
async fn oversized_frame_closes_the_socket(port: u16) {
    let mut ws = ws_connect(port, "/loggerflow/v1/ws").await;
    ws.send(Message::text(
        hello("Big", "big-1", 5, "websocket").to_string(),
    ))
    .await
    .expect("hello");
    let mut big = report("Big", &new_id(), 1);
    big["report"]["message"] = json!("x".repeat(1_100_000));
    // the server may close while the frame is still being written
    let _ = ws.send(Message::text(big.to_string())).await;
    let (closed, texts) = ws_closed_within(&mut ws, Duration::from_secs(10)).await;
    let took = closed.expect("a socket sending 1.1 MB frames stayed open");
    assert!(took < CUT, "{took:?}");
    assert!(texts.iter().all(|t| !t.contains("\"ack\"")), "{texts:?}");
    let reports = Req::get("/api/v1/projects/Big/reports").send(port).await;
    if reports.status == 200 {
        assert_eq!(
            reports.json()["reports"].as_array().map(Vec::len),
            Some(0),
            "{reports:?}"
        );
    } else {
        assert_eq!(reports.status, 404, "{reports:?}");
    }
}

// ---------------------------------------------------------------------------
// Processes started by hand (flags the harness does not use).
// ---------------------------------------------------------------------------

fn loggerflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loggerflow"));
    for name in [
        "LOGGERFLOW_AUTH",
        "LOGGERFLOW_HOST",
        "LOGGERFLOW_ALLOW_UNAUTHENTICATED",
        "LOGGERFLOW_PUBLIC_URL",
        "LOGGERFLOW_INGEST_KEY",
    ] {
        command.env_remove(name);
    }
    command
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines a pipe gives, on a channel (so reads can time out).
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

/// An open server (no `--auth`) refuses file, rebinding, SSRF, secret,
/// ingest-name and browser-ingest attacks, and sends security headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_refuses_the_attacks() {
    let db = Db::new(Backend::Sqlite).await;
    let dirs = AlarmDir::new();
    let dir = dirs.flag();
    let server = Server::start(&db.url, &["--alarm-dir", &dir]);
    let api = Api::of(&server, None);
    file_alarms_stay_inside_the_alarm_dir(&api, &dirs).await;
    rebinding_hosts_are_refused(&api, &dirs).await;
    alarms_reach_no_private_address(&api).await;
    secrets_are_fully_masked(&api).await;
    ingest_refuses_bad_names(&api).await;
    ingest_refuses_browsers(&api).await;
    every_answer_carries_security_headers(&api, false).await;
}

/// Under `--auth`, a script with HTTP Basic meets the same file, rebinding
/// and SSRF refusals; login `next`, the 401 challenge and CSRF are guarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_auth_refuses_the_attacks() {
    let db = Db::new(Backend::Sqlite).await;
    let dirs = AlarmDir::new();
    let dir = dirs.flag();
    let server = Server::start(&db.url, &["--auth", "admin:pw", "--alarm-dir", &dir]);
    let api = Api::of(&server, Some(("admin", "pw")));
    // without credentials nothing is created at all
    let anonymous = api
        .anonymous(Req::post("/api/v1/alarms").json(file_alarm("anon", "anon.log").to_string()))
        .await;
    anonymous.refused(401, "unauthorized", "an alarm without credentials");
    assert!(!dirs.dir.join("anon.log").exists());
    file_alarms_stay_inside_the_alarm_dir(&api, &dirs).await;
    rebinding_hosts_are_refused(&api, &dirs).await;
    alarms_reach_no_private_address(&api).await;
    login_returns_only_to_a_local_path(&api).await;
    browsers_get_no_basic_challenge(&api).await;
    basic_from_a_browser_needs_the_csrf_token(&api, &dirs).await;
    every_answer_carries_security_headers(&api, false).await;
}

/// With `--allow-private-targets`, redirects are still not followed (a 3xx
/// is a failure) and `/check` never echoes the target's body; without
/// `--alarm-dir` no file alarm can be created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_private_targets_follow_no_redirect_and_echo_no_body() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let api = Api::of(&server, None);

    let ok = StandIn::ok().await;
    let check = webhook_checked(&api, "reachable", &ok.url("127.0.0.1", "/")).await;
    assert_eq!(check["ok"], true, "{check}");
    assert!(ok.hits() >= 1, "the control stand-in was not reached");

    let landing = StandIn::ok().await;
    let redirect = StandIn::start(canned(
        "302 Found",
        &format!("Location: {}\r\n", landing.url("127.0.0.1", "/landed")),
        "",
    ))
    .await;
    let check = webhook_checked(&api, "redirected", &redirect.url("127.0.0.1", "/")).await;
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["error"].as_str().unwrap_or_default().contains("302"),
        "{check}"
    );
    assert!(
        redirect.hits() >= 1,
        "the redirecting stand-in was not reached"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(landing.hits(), 0, "the redirect was followed");

    let leaky = StandIn::start(canned(
        "500 Internal Server Error",
        "",
        "SECRET-BODY-BYTES internal detail",
    ))
    .await;
    let check = webhook_checked(&api, "leaky", &leaky.url("127.0.0.1", "/")).await;
    assert_eq!(check["ok"], false, "{check}");
    let error = check["error"].as_str().unwrap_or_default();
    assert!(error.contains("500"), "{check}");
    assert!(
        !error.contains("SECRET") && !error.contains("internal detail"),
        "the body was echoed: {check}"
    );
    assert!(leaky.hits() >= 1, "the failing stand-in was not reached");
    let history = api.get("/api/v1/alarm-events").await;
    assert!(!history.body.contains("SECRET-BODY"), "{history:?}");

    // no --alarm-dir: file alarms are refused
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let path = elsewhere.path().join("x.log");
    let answer = api
        .post_json(
            "/api/v1/alarms",
            &file_alarm("file-without-dir", &path.display().to_string()),
        )
        .await;
    answer.refused(400, "invalid_alarm", "a file alarm without --alarm-dir");
    assert!(!path.exists());
    assert!(!api.alarms().await.contains(&"file-without-dir".to_owned()));
}

/// Slow and silent clients are cut: trickled headers, a silent connection,
/// an idle keep-alive, silent and quiet websockets, an oversized frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_cut() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(
        &db.url,
        &["--header-timeout", "2", "--websocket-idle-timeout", "2"],
    );
    let port = server.port();
    tokio::join!(
        trickled_headers_are_cut(port),
        silent_connections_are_cut(port),
        idle_keep_alive_is_cut(port),
        silent_websocket_is_closed(port, "/loggerflow/v1/ws"),
        silent_websocket_is_closed(port, "/loggerflow/"),
        quiet_websocket_is_closed(port),
        beating_websocket_stays_open(port),
        oversized_frame_closes_the_socket(port),
        noise_without_hello_is_closed(port, "/loggerflow/v1/ws"),
        noise_without_hello_is_closed(port, "/loggerflow/"),
        a_client_that_never_reads_is_cut(port),
    );
}

/// A websocket that never says hello but keeps sending other frames (pings,
/// binary, junk text) is closed at the header timeout all the same: only a
/// valid message moves its deadline.
async fn noise_without_hello_is_closed(port: u16, path: &str) {
    let mut ws = ws_connect(port, path).await;
    let started = Instant::now();
    let noise = async {
        for i in 0u32.. {
            let frame = match i % 3 {
                0 => Message::Ping(vec![1].into()),
                1 => Message::Binary(vec![0; 8].into()),
                _ => Message::text("{}"),
            };
            if ws.send(frame).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if started.elapsed() > Duration::from_secs(12) {
                break;
            }
        }
    };
    noise.await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(9),
        "{path}: a websocket sending noise without a hello lived {took:?}"
    );
}

/// A client that pipelines requests and never reads the answers is cut off
/// once its writes stall for twice the header timeout (it would otherwise
/// hold its connection for ever).
async fn a_client_that_never_reads_is_cut(port: u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect");
    let request = b"GET /assets/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let started = Instant::now();
    let mut cut = None;
    while started.elapsed() < Duration::from_secs(20) {
        let write = tokio::time::timeout(Duration::from_millis(200), stream.write_all(request));
        match write.await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                cut = Some(started.elapsed());
                break;
            }
            // our own send buffer is full: the server stopped reading us;
            // see whether it closed the connection
            Err(_) => {
                let mut probe = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(
                    Duration::from_millis(50),
                    tokio::io::AsyncReadExt::read(&mut stream, &mut probe),
                )
                .await
                {
                    cut = Some(started.elapsed());
                    break;
                }
            }
        }
    }
    let took = cut.expect("a client that never reads was still connected after 20 s");
    assert!(took < Duration::from_secs(15), "cut after {took:?}");
}

/// A connection over `--max-connections` is answered 503 (Retry-After: 1)
/// and closed; once the others close, new connections are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--max-connections", "4"]);
    let port = server.port();
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .expect("read");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        idle.push(stream);
    }
    let mut fifth = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the kernel accepts the fifth");
    // the refusal may come at once, or once the request head is in
    let (mut raw, mut closed) = read_for(&mut fifth, Duration::from_secs(2)).await;
    if raw.is_empty() && !closed {
        let _ = fifth
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await;
        (raw, closed) = read_for(&mut fifth, Duration::from_secs(5)).await;
    }
    let answer = Answer::parse(&raw).unwrap_or_else(|| {
        panic!(
            "the fifth got no answer: {:?}",
            String::from_utf8_lossy(&raw)
        )
    });
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.retry_after(), Some(1), "{answer:?}");
    assert!(closed, "the fifth connection is closed after its 503");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = Req::get("/api/v1/health").send(port).await;
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Throttle: after 5 wrong Basic passwords even the right one gets 429 with
/// Retry-After until the block passes; `POST /login` shares the throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_throttled_for_basic_and_login_alike() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "admin:pw"]);
    let port = server.port();
    let projects = |password: &str| Req::get("/api/v1/projects").basic("admin", password);
    for i in 0..5 {
        let answer = projects(&format!("wrong{i}")).send(port).await;
        answer.refused(401, "unauthorized", &format!("wrong guess {i}"));
    }
    let blocked = projects("pw").send(port).await;
    blocked.refused(
        429,
        "too_many_attempts",
        "the right password during the block",
    );
    assert!(
        blocked.retry_after().is_some_and(|s| (1..=60).contains(&s)),
        "{blocked:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = projects("pw").send(port).await;
    assert_eq!(answer.status, 200, "after the block: {answer:?}");

    let login = |password: &str| {
        Req::post("/login").form(&format!("user=admin&password={password}&next=%2F"))
    };
    for i in 0..5 {
        let answer = login(&format!("wrong{i}")).send(port).await;
        assert_eq!(answer.status, 401, "wrong login {i}: {answer:?}");
    }
    let answer = login("pw").send(port).await;
    assert_eq!(
        answer.status, 429,
        "the right login during the block: {answer:?}"
    );
    assert!(answer.retry_after().is_some(), "{answer:?}");
    assert_eq!(
        answer.set_cookie("lf_session"),
        None,
        "a session during the block"
    );
    let answer = projects("pw").send(port).await;
    answer.refused(429, "too_many_attempts", "Basic shares the login's block");
}

/// Throttle: 50 wrong guesses sent in parallel get at most 5 answers (401),
/// the rest 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_guesses_get_at_most_five_answers() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "admin:pw"]);
    let port = server.port();
    let guesses: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(async move {
                Req::get("/api/v1/projects")
                    .basic("admin", &format!("guess{i}"))
                    .send(port)
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("a guess"));
    }
    let answered = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        (1..=5).contains(&answered),
        "{answered} guesses were checked: {statuses:?}"
    );
    assert_eq!(answered + throttled, 50, "{statuses:?}");
}

/// Sessions are bound to the credentials: after a restart with another
/// password, an old session cookie opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_die_when_the_password_changes() {
    let db = Db::new(Backend::Sqlite).await;
    let first = Server::start(&db.url, &["--auth", "admin:pw1"]);
    let browser = FormClient::login(&first, "admin", "pw1").await;
    let (status, _) = browser.get("/").await;
    assert_eq!(status, 200, "the session works under pw1");
    drop(first);

    let second = Server::start(&db.url, &["--auth", "admin:pw2"]);
    let port = second.port();
    let page = Req::get("/")
        .header("Cookie", &browser.cookie)
        .send(port)
        .await;
    assert!(matches!(page.status, 302 | 303 | 307), "{page:?}");
    assert!(
        page.header("location")
            .is_some_and(|l| l.starts_with("/login")),
        "{page:?}"
    );
    let api = Req::get("/api/v1/projects")
        .header("Cookie", &browser.cookie)
        .send(port)
        .await;
    assert_eq!(api.status, 401, "{api:?}");
    let change = Req::post("/api/v1/alarms")
        .header("Cookie", &browser.cookie)
        .header("X-CSRF-Token", &browser.csrf)
        .json(webhook_alarm("stale", "https://hooks.example.com/x").to_string())
        .send(port)
        .await;
    assert!(matches!(change.status, 401 | 403), "{change:?}");
    let alarms = Api::of(&second, Some(("admin", "pw2"))).alarms().await;
    assert!(alarms.is_empty(), "{alarms:?}");
}

/// Behind https (`--public-url https://…`): cookies are `Secure`, HSTS is
/// sent, the public host is allowed and other hosts are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_cookies_are_secure_and_hsts_is_sent() {
    let db = Db::new(Backend::Sqlite).await;
    let open = Server::start(&db.url, &["--public-url", "https://lf.example.com"]);
    let api = Api::of(&open, None);
    let home = api.get("/").await;
    assert_eq!(home.status, 200, "{home:?}");
    let csrf = home.set_cookie("lf_csrf").expect("a CSRF cookie");
    assert!(is_secure(csrf), "{csrf}");
    for path in ["/", "/api/v1/health"] {
        let answer = api
            .send(Req::get(path).header("Host", "lf.example.com"))
            .await;
        assert_eq!(answer.status, 200, "Host lf.example.com {path}: {answer:?}");
    }
    let answer = api
        .send(Req::get("/api/v1/projects").header("Host", "rb.evil.example"))
        .await;
    answer.refused(400, "host_not_allowed", "another host beside --public-url");
    // the health check answers load balancers under any name
    let answer = api
        .send(Req::get("/api/v1/health").header("Host", "rb.evil.example"))
        .await;
    assert_eq!(answer.status, 200, "health under any name: {answer:?}");
    every_answer_carries_security_headers(&api, true).await;

    let db = Db::new(Backend::Sqlite).await;
    let authed = Server::start(
        &db.url,
        &[
            "--public-url",
            "https://lf.example.com",
            "--auth",
            "admin:pw",
        ],
    );
    let login = Req::post("/login")
        .form("user=admin&password=pw&next=%2F")
        .send(authed.port())
        .await;
    assert_eq!(login.status, 303, "{login:?}");
    let session = login.set_cookie("lf_session").expect("a session cookie");
    assert!(is_secure(session), "{session}");
    assert!(
        login
            .header("strict-transport-security")
            .is_some_and(|v| v.contains("max-age=31536000")),
        "{login:?}"
    );
}

/// Ingest quota: over `--max-new-projects-per-hour`, a new project is
/// refused (429 `too_many_new_projects`); existing projects are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_projects_per_client_are_capped() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--max-new-projects-per-hour", "3"]);
    let api = Api::of(&server, None);
    for n in 1..=3 {
        let answer = api
            .ingest(
                "/loggerflow/v1/batch",
                hello_batch(&format!("Quota{n}"), &format!("q{n}")),
            )
            .await;
        assert_eq!(answer.status, 200, "new project {n}: {answer:?}");
    }
    let answer = api
        .ingest("/loggerflow/v1/batch", hello_batch("Quota4", "q4"))
        .await;
    answer.refused(429, "too_many_new_projects", "the fourth new project");
    assert!(answer.retry_after().is_some(), "{answer:?}");
    let answer = api
        .ingest(
            "/loggerflow/v1/batch",
            batch("q1", json!([report("Quota1", &new_id(), 1)])),
        )
        .await;
    assert_eq!(
        answer.status, 200,
        "a report to an existing project: {answer:?}"
    );
    let mut projects = api.projects().await;
    projects.sort();
    assert_eq!(projects, ["Quota1", "Quota2", "Quota3"]);
}

/// `--help` never prints env values: `LOGGERFLOW_AUTH` stays secret.
#[test]
fn help_never_prints_the_password_from_the_environment() {
    let output = loggerflow()
        .args(["run", "--help"])
        .env("LOGGERFLOW_AUTH", "admin:hunter2-secret")
        .env("LOGGERFLOW_INGEST_KEY", "hunter2-ingest")
        .output()
        .expect("run loggerflow run --help");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("--auth"), "{stdout}");
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stdout}{stderr}"
    );
    // nor any other variable's value (a URL can carry a password), nor a
    // malformed secret in an error
    let output = loggerflow()
        .args(["run", "--help"])
        .env("LOGGERFLOW_PUBLIC_URL", "https://u:URLPW@lf.example.com")
        .env("LOGGERFLOW_DATABASE", "postgres://lf:DBPW@db/lf")
        .output()
        .expect("run loggerflow run --help");
    let all = format!("{output:?}");
    assert!(!all.contains("URLPW") && !all.contains("DBPW"), "{all}");
    for (name, value) in [
        ("LOGGERFLOW_AUTH", "adminNOCOLONPW"),
        ("LOGGERFLOW_PUBLIC_URL", "https://u:URLPW@lf.example.com"),
    ] {
        let output = loggerflow()
            .args(["run", "--port", "0", "--disable-log"])
            .env(name, value)
            .output()
            .expect("run loggerflow run");
        assert!(!output.status.success(), "{name}: {output:?}");
        let all = format!("{output:?}");
        assert!(!all.contains("PW"), "{name} echoed: {all}");
        assert!(all.contains(name), "{name} named: {all}");
    }
}

/// The Host check cannot be sidestepped: an absolute-form target naming
/// another host, or two Host headers, are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_targets_and_two_hosts_are_refused() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let port = server.port();
    for raw in [
        format!(
            "GET http://evil.example/api/v1/projects HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET /api/v1/projects HTTP/1.1\r\nHost: localhost:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.write_all(raw.as_bytes()).await.expect("write");
        let (bytes, _) = read_for(&mut stream, Duration::from_secs(5)).await;
        let answer = Answer::parse(&bytes).expect("an answer");
        answer.refused(400, "host_not_allowed", &raw);
    }
}

/// A non-loopback `--host` without `--auth` does not start unless
/// `--allow-unauthenticated` is given, and then it warns loudly.
#[test]
fn a_public_address_without_auth_needs_an_explicit_opt_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("lf.db").display());
    let public = [
        "run",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "-d",
        database.as_str(),
    ];

    let mut refused = loggerflow()
        .args(public)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loggerflow");
    let status = wait_exit(&mut refused, Duration::from_secs(10));
    if status.is_none() {
        let _ = refused.kill();
        let _ = refused.wait();
    }
    let status = status.expect("it exits within 10 s");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let mut stderr = String::new();
    if let Some(mut pipe) = refused.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");

    let mut allowed = loggerflow()
        .args(public)
        .arg("--allow-unauthenticated")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loggerflow");
    let stdout = lines_of(allowed.stdout.take().expect("stdout"));
    let stderr = lines_of(allowed.stderr.take().expect("stderr"));
    let banner = stdout.recv_timeout(Duration::from_secs(10));
    let mut warned = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !warned.iter().any(|l: &String| l.contains("WARNING")) && Instant::now() < deadline {
        if let Ok(line) = stderr.recv_timeout(Duration::from_millis(100)) {
            warned.push(line);
        }
    }
    let _ = allowed.kill();
    let _ = allowed.wait();
    let banner = banner.expect("the banner on stdout");
    assert!(banner.contains("listening on http://"), "{banner}");
    assert!(warned.iter().any(|l| l.contains("WARNING")), "{warned:?}");

    // with --auth no opt-in is needed
    let mut authed = loggerflow()
        .args(public)
        .args(["--auth", "admin:pw", "--disable-log"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start loggerflow");
    let stdout = lines_of(authed.stdout.take().expect("stdout"));
    let banner = stdout.recv_timeout(Duration::from_secs(10));
    let _ = authed.kill();
    let _ = authed.wait();
    assert!(banner.is_ok_and(|b| b.contains("listening on http://")));
}

/// Dashboard event streams have a cap of their own (`--max-event-streams`),
/// so tabs cannot take the connections ingest needs: over it a stream is
/// refused with 503 and Retry-After while ingest is still answered; a
/// stream closed makes room again. A `project` that is no project name is
/// refused with 400 before anything is held for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_over_their_cap_get_503_and_leave_room_for_ingest() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(
        &db.url,
        &["--max-event-streams", "2", "--max-connections", "6"],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let open = || client.get(server.url("/api/v1/events")).send();
    let first = open().await.expect("first");
    let second = open().await.expect("second");
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open().await.expect("third");
    assert_eq!(third.status().as_u16(), 503);
    assert_eq!(third.headers()["retry-after"], "30");
    let refusal: Value = third.json().await.expect("JSON");
    assert_eq!(refusal["error"], "too_many_streams", "{refusal}");
    // ingest still has room
    let body = batch("i-1", json!([hello("Streams", "i-1", 5, "webhook")]));
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    // a stream that ends makes room for another
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = open().await.expect("again");
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no room after a stream closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // whatever --max-event-streams says, streams take at most three
    // quarters of --max-connections
    let small = Server::start(
        &db.url.replace("lf.db", "lf2.db"),
        &["--max-connections", "8"],
    );
    let mut held = Vec::new();
    for _ in 0..6 {
        let stream = client
            .get(small.url("/api/v1/events"))
            .send()
            .await
            .expect("a stream");
        assert_eq!(stream.status().as_u16(), 200);
        held.push(stream);
    }
    let seventh = client
        .get(small.url("/api/v1/events"))
        .send()
        .await
        .expect("seventh");
    assert_eq!(seventh.status().as_u16(), 503);
    let body = batch("i-2", json!([hello("Streams", "i-2", 5, "webhook")]));
    assert_eq!(small.post("/loggerflow/v1/batch", &body).await.0, 200);
    drop(held);

    // a `project` longer than any name, or with a control character; a
    // topic that is none
    for (query, code) in [
        (format!("project={}", "x".repeat(2_000)), "invalid_name"),
        ("project=a%0Ab".to_owned(), "invalid_name"),
        ("topics=errors,secrets".to_owned(), "invalid_topics"),
    ] {
        let answer = Req::get(&format!("/api/v1/events?{query}"))
            .send(server.port())
            .await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.json()["error"], code, "{answer:?}");
    }
    drop(second);
}

/// A NUL byte (which PostgreSQL refuses in text, even in a comparison) in a
/// project name, a search or a history filter is an answer, not a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_in_names_and_filters_are_answered_on_postgres() {
    let db = Db::new(Backend::Postgres).await;
    let server = Server::start(&db.url, &[]);
    let id = new_id();
    let body = batch(
        "shop-1",
        json!([
            hello("Shop", "shop-1", 5, "webhook"),
            report("Shop", &id, 1)
        ]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    for path in [
        "/projects/%00".to_owned(),
        "/projects/Shop?q=%00".to_owned(),
        "/alarms?project=%00".to_owned(),
        "/api/v1/projects/%00/errors".to_owned(),
        "/api/v1/dashboard/projects/%00/errors".to_owned(),
        "/api/v1/dashboard/projects/Shop/errors?q=%00".to_owned(),
        "/api/v1/dashboard/alarm-events?project=%00".to_owned(),
        "/api/v1/dashboard/projects/%00/releases".to_owned(),
        "/api/v1/dashboard/projects/%00/metrics?window=%00".to_owned(),
        format!("/api/v1/dashboard/projects/%00/reports/{id}/neighbours"),
        "/api/v1/alarm-events?project=%00".to_owned(),
    ] {
        let answer = Req::get(&path).send(server.port()).await;
        assert!(
            matches!(answer.status, 200 | 400 | 404),
            "{path}: {answer:?}"
        );
    }
    let cleared = Req::delete("/api/v1/alarm-events?project=a%00")
        .send(server.port())
        .await;
    assert_eq!(cleared.status, 200, "{cleared:?}");
}
