//! Accepting connections: HTTP/1.1 through hyper with a timer, so that a
//! client must send a whole request head within the header timeout (the same
//! timer closes an idle keep-alive connection), and at most
//! `max_connections` at once: one more is answered `503` and closed.
//!
//! axum's own `serve` gives hyper no timer (no header timeout at all) and
//! no cap, which is why the server has this loop. Each request gets the
//! peer's address as [`axum::extract::ConnectInfo`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// How connections are accepted.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// The time a client has to send a request head (also the longest an
    /// idle keep-alive connection is kept).
    pub header_timeout: Duration,
}

const BUSY_BODY: &str = r#"{"type":"error","error":"too_many_connections","message":"the server is at its connection limit, try again","retry_after_s":1}"#;

/// The whole answer to a connection over the cap.
fn busy() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\n\
         content-type: application/json\r\nx-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\ncontent-security-policy: default-src 'none'; frame-ancestors 'none'\r\n\
         content-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown`, then lets the requests in
/// flight finish (at most `drain` more) before returning.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // every connection task holds a receiver: all gone = all done
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // out of descriptors or a connection reset before accept:
                    // wait a moment instead of spinning (and say so once a
                    // second at most)
                    if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(%error, "accept failed");
                        warned = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(&busy())).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(service);
        let mut stop = stop_rx.clone();
        let timeout = limits.header_timeout;
        // a client gets twice the header timeout to take what it is sent
        let write_stall = limits.header_timeout * 2;
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(true);
            let connection = builder
                .serve_connection(
                    TokioIo::new(Slotted {
                        stream,
                        _slot: slot,
                        stall_after: write_stall,
                        stalled: None,
                    }),
                    service,
                )
                .with_upgrades();
            let mut connection = pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "connection ended");
                        }
                        break;
                    }
                    changed = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        if changed.is_err() {
                            // the sender is gone: nothing more to wait for
                            let _ = connection.as_mut().await;
                            break;
                        }
                    }
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // connections close once their request in flight is answered
    let _ = tokio::time::timeout(drain, stop_tx.closed()).await;
    Ok(())
}

/// The client's address as the server sees it: the TCP peer, or with
/// `trust_forwarded_for`, the right-most `X-Forwarded-For` address (the one
/// the reverse proxy added).
pub fn client_ip(
    request_peer: Option<SocketAddr>,
    headers: &axum::http::HeaderMap,
    trust_forwarded_for: bool,
) -> Option<std::net::IpAddr> {
    if trust_forwarded_for {
        // only the entry the proxy appended: the ones before it are
        // whatever the client wrote
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok());
        if last.is_some() {
            return last;
        }
    }
    request_peer.map(|p| p.ip())
}

/// The client that sent a request, as an extractor: the TCP peer, or
/// behind a trusted proxy the address it forwarded (the login throttle and
/// the creation quota count by it). Unknown (`0.0.0.0`) when the router is
/// served by something that records no peer.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<crate::router::AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::router::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(request_client(
            &parts.extensions,
            &parts.headers,
            state.config.trust_forwarded_for,
        )))
    }
}

/// The client of a request from its extensions (the peer) and headers.
pub fn request_client(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trust_forwarded_for: bool,
) -> std::net::IpAddr {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    client_ip(peer, headers, trust_forwarded_for)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The key a client is counted by (the login throttle, the creation
/// quota): its IPv4 address, or its IPv6 /64 (one host commonly holds a whole
/// /64, so counting addresses would let it rotate).
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::IpAddr;
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// A connection's stream with its slot: the slot is released when the
/// stream is dropped, which for a websocket is when the socket closes (an
/// upgrade takes the stream out of hyper's connection, so the slot goes
/// with it).
///
/// It also cuts off a client that stops reading: a write that makes no
/// progress for `stall_after` fails the connection (hyper has no write
/// timeout, and a pipelining client that never reads would hold its slot
/// for ever).
struct Slotted {
    stream: tokio::net::TcpStream,
    _slot: OwnedSemaphorePermit,
    stall_after: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Slotted {
    /// Counts a write that could not progress; an error once it has not
    /// progressed for `stall_after`.
    fn stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let after = self.stall_after;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Pending => self.stall(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stall(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Descriptors kept free for the database, files and DNS beside the
/// connections (a quarter of a small limit).
const FD_RESERVE: u64 = 256;

/// Raises this process's open-file limit to its hard limit and returns the
/// most connections it allows (the limit less a reserve), so that the
/// connection cap answers 503 before `accept` runs out of descriptors.
pub fn connection_room() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own; no pointer is kept
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        // the hard limit, or (macOS refuses an infinite one) 10,240
        for target in [limit.rlim_max, limit.rlim_max.min(10_240)] {
            if limit.rlim_cur >= target {
                break;
            }
            let raised = libc::rlimit {
                rlim_cur: target,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit reads the struct we own; no pointer is kept
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit.rlim_cur = target;
                break;
            }
        }
        let reserve = FD_RESERVE.min(limit.rlim_cur / 4);
        usize::try_from(limit.rlim_cur.saturating_sub(reserve).max(16)).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proxy_s_forwarded_entry_counts_and_only_when_trusted() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        let ip = |headers: &axum::http::HeaderMap, trust| {
            client_ip(Some(peer), headers, trust).map(|i| i.to_string())
        };
        assert_eq!(ip(&headers, true).as_deref(), Some("203.0.113.9"));
        assert_eq!(ip(&headers, false).as_deref(), Some("127.0.0.1"));
        headers.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_static("6.6.6.6, garbage"),
        );
        // a broken last entry falls back to the peer, never to an earlier one
        assert_eq!(ip(&headers, true).as_deref(), Some("127.0.0.1"));
    }
}
