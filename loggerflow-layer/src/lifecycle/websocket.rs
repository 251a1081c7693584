//! [`WebSocketLifecycle`]: the lifecycle over one websocket.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt as _, SinkExt, StreamExt};
use tokio::sync::{Notify, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::pending::Pending;
use super::{Backoff, Sampler, Settings, hello, join};
use crate::protocol::{Message, Refusal, Reply, ReportId, Transport};
use crate::sink::{Confirmation, Delivery, Sink, SinkContext, SinkError};

/// A report sent on a connection and not acknowledged within this long is
/// sent again (the server stores an id once).
const RESEND_AFTER: Duration = Duration::from_secs(30);
/// How long a stopping app waits for the acknowledgement of what it sent.
const SHUTDOWN_ACKS: Duration = Duration::from_secs(4);
/// After an error frame, unacknowledged reports go again this soon (at the
/// next heartbeat after it).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);
/// How long the TCP, TLS and websocket handshakes may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one frame may take to leave: a server that stops reading is
/// given up, and the connection made again.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest frame read from the server (an ack of a thousand ids is
/// about 40 KB).
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Sends one frame within [`SEND_TIMEOUT`]; whether it left.
async fn send<T>(tx: &mut T, frame: WsMessage) -> bool
where
    T: futures_util::Sink<WsMessage> + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(frame)).await,
        Ok(Ok(()))
    )
}

/// Reports and heartbeats to a LoggerFlow server over one websocket
/// (`{base}v1/ws`): a hello on every connection, heartbeats every 5 s by
/// default, every report as it comes, acknowledgements back by id, and a
/// goodbye when the layer shuts down. The server marks the app offline the
/// moment the socket drops without a goodbye.
///
/// `ws://` or `wss://` (rustls; see [the module](super) for what is
/// trusted).
#[derive(Clone)]
pub struct WebSocketLifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    instance: String,
    pending: Pending,
    wake: Notify,
    stopping: AtomicBool,
    /// The lifecycle is over (goodbye said, or given up): nothing more
    /// will be sent.
    done: AtomicBool,
    stop: Notify,
    /// Set by `shutdown`; answered once the goodbye is sent (or cannot be).
    finished: Mutex<Option<oneshot::Sender<()>>>,
    sampler: Mutex<Sampler>,
}

impl std::fmt::Debug for WebSocketLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketLifecycle")
            .field("url", &self.inner.settings.base)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl WebSocketLifecycle {
    /// A lifecycle reporting to the server at `base_url`
    /// (`ws://HOST:8000/loggerflow/`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::build(Settings::new(base_url.into(), Duration::from_secs(5)))
    }

    fn build(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                pending: Pending::new(settings.capacity, settings.capacity_bytes),
                settings,
                instance: ReportId::new().to_string(),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                done: AtomicBool::new(false),
                stop: Notify::new(),
                finished: Mutex::new(None),
                sampler: Mutex::new(Sampler::new()),
            }),
        }
    }

    fn with(self, update: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.inner.settings.clone();
        update(&mut settings);
        Self::build(settings)
    }

    /// Seconds between heartbeats (default 5; from 1 s to a day).
    #[must_use]
    pub fn heartbeat(self, every: Duration) -> Self {
        self.with(|s| s.heartbeat = super::heartbeat_within_bounds(every))
    }

    common_builder!();
}

fn text(message: &Message) -> WsMessage {
    WsMessage::text(serde_json::to_string(message).unwrap_or_default())
}

/// How a connection ended.
enum Ended {
    /// The goodbye was sent: the lifecycle is over.
    Goodbye,
    /// The connection broke or closed: reconnect after a backoff of at
    /// least `wait` (what the server asked for). A `healthy` connection (it
    /// carried acks, or lasted a heartbeat interval) starts the backoff
    /// short again; one refused at once (a hello the server does not take)
    /// lets it grow.
    Lost {
        wait: Option<Duration>,
        healthy: bool,
    },
}

impl Inner {
    async fn run(&self, context: &SinkContext) {
        let heartbeat_s = u32::try_from(self.settings.heartbeat.as_secs())
            .unwrap_or(5)
            .max(1);
        let hello = hello(context, &self.instance, heartbeat_s, Transport::Websocket);
        let url = join(&self.settings.base, "v1/ws");
        // reading the certificates is file IO: on the blocking pool; a bad
        // certificate file is said once, and `wss://` then cannot connect
        let roots = self.settings.roots.clone();
        let tls = tokio::task::spawn_blocking(move || super::tls::client_config(roots.as_deref()))
            .await
            .unwrap_or_else(|_| Err("reading the certificates panicked".into()))
            .inspect_err(|e| crate::diag::warn(format_args!("lifecycle: {e}")));
        let mut backoff = Backoff::new();
        // a stopping app with reports pending gets one more connection
        let mut last_try = false;
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                if last_try || self.pending.len() == 0 {
                    self.finish();
                    return;
                }
                last_try = true;
            }
            let mut request = match url.as_str().into_client_request() {
                Ok(request) => request,
                Err(e) => {
                    crate::diag::warn(format_args!("lifecycle: bad websocket URL {url}: {e}"));
                    self.finish();
                    return;
                }
            };
            let auth = self
                .settings
                .key
                .as_ref()
                .and_then(|key| format!("Bearer {key}").parse().ok());
            if let Some(value) = auth {
                request.headers_mut().insert("authorization", value);
            }
            let connector = match &tls {
                Ok(config) => tokio_tungstenite::Connector::Rustls(Arc::clone(config)),
                Err(_) => tokio_tungstenite::Connector::Plain,
            };
            // frames larger than any answer of the server are refused
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_FRAME_BYTES))
                .max_frame_size(Some(MAX_FRAME_BYTES));
            let connect = tokio_tungstenite::connect_async_tls_with_config(
                request,
                Some(config),
                false,
                Some(connector),
            );
            // a peer that takes the TCP connection and never finishes the
            // handshake (a half-open socket, a stuck balancer) is given up
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, connect);
            let connected = tokio::select! {
                c = connect => c.unwrap_or_else(|_| Err(tokio_tungstenite::tungstenite::Error::Io(
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "the handshake timed out"),
                ))),
                // stopping: back to the top, for the last try
                _ = self.stop.notified(), if !last_try => continue,
            };
            let mut asked = None;
            match connected {
                Ok((socket, _)) => match self.connection(socket, &hello).await {
                    Ended::Goodbye => return,
                    Ended::Lost { wait, healthy } => {
                        asked = wait;
                        if healthy {
                            // the next reconnect starts short again (with
                            // jitter, so a server restart is not met by every
                            // app in the same instant)
                            backoff.reset();
                        }
                    }
                },
                // the upgrade was refused (429, 503…): wait as long as it says
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    asked = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(3600)));
                }
                Err(_) => {}
            }
            if self.stopping.load(Ordering::Relaxed) {
                // no waiting: straight to the last try (or the end)
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next(asked)) => {}
                // the stop (its permit stays if it came before this wait)
                _ = self.stop.notified() => {}
            }
        }
    }

    /// How a shutdown ends: an error when reports are still unacknowledged.
    fn unacknowledged(&self) -> Result<(), SinkError> {
        match self.pending.len() {
            0 => Ok(()),
            n => Err(SinkError::retryable(format!(
                "{n} report(s) were not acknowledged before shutdown"
            ))),
        }
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(done) = self.finished.lock().ok().and_then(|mut f| f.take()) {
            let _ = done.send(());
        }
    }

    /// Acts on a refusal; what to do with the connection.
    fn refused(&self, refusal: &Refusal, sent: &mut HashMap<ReportId, Instant>) -> Refused {
        match refusal.error.as_str() {
            "unknown_instance" => Refused::HelloAgain,
            "body_too_large" => {
                // the server's limit, however small (a frame larger than it
                // would be refused for ever); none, or one no frame fits:
                // the largest a report can be
                let limit = refusal
                    .limit_bytes
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|&l| l > 64)
                    .unwrap_or(crate::protocol::MAX_REPORT_BYTES);
                // frames are a report plus a few bytes of envelope
                self.pending.refuse_over_limit(limit, 64);
                Refused::Retry
            }
            _ => {
                if let Some(id) = refusal.id {
                    self.pending.refuse(id);
                    sent.remove(&id);
                    crate::diag::warn(format_args!(
                        "lifecycle: the server refused a report for good: {}: {}",
                        refusal.error, refusal.message
                    ));
                }
                Refused::Retry
            }
        }
    }

    /// Serves one connection.
    async fn connection<S>(
        &self,
        socket: tokio_tungstenite::WebSocketStream<S>,
        hello: &crate::protocol::Hello,
    ) -> Ended
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut tx, mut rx) = socket.split();
        let mut conn = Conn {
            opened: Instant::now(),
            acked: false,
            wait: None,
            sent: HashMap::new(),
        };
        if !send(&mut tx, text(&Message::Hello(hello.clone()))).await {
            return conn.lost(self);
        }
        let mut ticker = tokio::time::interval(self.settings.heartbeat);
        loop {
            // what this connection has not carried yet, a megabyte at a time
            // and at most MAX_IN_FLIGHT unacknowledged; the acks that arrive
            // meanwhile are read between frames (a server waiting for us to
            // read its acks would otherwise stop reading ours)
            loop {
                let room = MAX_IN_FLIGHT.saturating_sub(conn.sent.len());
                if room == 0 {
                    break;
                }
                let unsent = self
                    .pending
                    .take_copy(room, 1024 * 1024, |id| conn.sent.contains_key(id));
                if unsent.is_empty() {
                    break;
                }
                for (report, _) in unsent {
                    conn.sent.insert(report.id, Instant::now());
                    let frame = text(&Message::Report {
                        report: Box::new(report),
                    });
                    if !send(&mut tx, frame).await {
                        return conn.lost(self);
                    }
                    while let Some(frame) = rx.next().now_or_never() {
                        if let Some(ended) = self.on_frame(frame, &mut tx, &mut conn, hello).await {
                            return ended;
                        }
                    }
                }
            }
            if self.stopping.load(Ordering::Relaxed) {
                return self.goodbye(&mut tx, &mut rx, &mut conn).await;
            }
            tokio::select! {
                _ = ticker.tick() => {
                    let metrics = self.sampler.lock().map(|mut s| s.sample()).unwrap_or_default();
                    if !send(&mut tx, text(&Message::Heartbeat { metrics })).await {
                        return conn.lost(self);
                    }
                    conn.sent.retain(|_, at| at.elapsed() < RESEND_AFTER);
                }
                _ = self.wake.notified() => {}
                _ = self.stop.notified() => {}
                frame = rx.next() => {
                    if let Some(ended) = self.on_frame(frame, &mut tx, &mut conn, hello).await {
                        return ended;
                    }
                }
            }
        }
    }

    /// Acts on one frame from the server; `Some` when the connection is over.
    async fn on_frame<T, E>(
        &self,
        frame: Option<Result<WsMessage, E>>,
        tx: &mut T,
        conn: &mut Conn,
        hello: &crate::protocol::Hello,
    ) -> Option<Ended>
    where
        T: futures_util::Sink<WsMessage> + Unpin,
    {
        let body = match frame {
            Some(Ok(WsMessage::Text(body))) => body,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return Some(conn.lost(self)),
            Some(Ok(_)) => return None,
        };
        match serde_json::from_str::<Reply>(body.as_str()) {
            Ok(Reply::Ack { ids }) => {
                conn.acked = true;
                // only what this connection carried can be acknowledged on it
                let acked: HashSet<ReportId> = ids
                    .into_iter()
                    .filter(|id| conn.sent.contains_key(id))
                    .collect();
                for id in &acked {
                    conn.sent.remove(id);
                }
                self.pending.ack(&acked);
            }
            Ok(Reply::Error(refusal)) => {
                if let Some(seconds) = refusal.retry_after_s {
                    conn.wait = Some(Duration::from_secs(seconds.min(3600)));
                }
                if let Refused::HelloAgain = self.refused(&refusal, &mut conn.sent) {
                    // the server forgot this instance (its database was
                    // replaced, the app cleared)
                    if !send(tx, text(&Message::Hello(hello.clone()))).await {
                        return Some(conn.lost(self));
                    }
                }
                if matches!(refusal.error.as_str(), "idle_timeout" | "body_too_large") {
                    // the server closes this socket next
                    return Some(conn.lost(self));
                }
                // the frame does not say which message failed: everything
                // unacknowledged goes again soon
                let soon = Instant::now()
                    .checked_sub(RESEND_AFTER.saturating_sub(RETRY_AFTER_ERROR))
                    .unwrap_or_else(Instant::now);
                for at in conn.sent.values_mut() {
                    *at = (*at).min(soon);
                }
            }
            Err(_) => {}
        }
        None
    }

    /// The app is stopping: what is pending goes (again, all of it), then
    /// the goodbye, and the acknowledgements are awaited before the socket
    /// closes (the process is about to exit).
    async fn goodbye<T, R, E>(&self, tx: &mut T, rx: &mut R, conn: &mut Conn) -> Ended
    where
        T: futures_util::Sink<WsMessage> + Unpin,
        R: futures_util::Stream<Item = Result<WsMessage, E>> + Unpin,
    {
        let until = tokio::time::Instant::now() + SHUTDOWN_ACKS;
        // reports this connection carried but that were refused (an error
        // frame) are resent too: the server stores an id once
        for (report, _) in self.pending.take_copy(usize::MAX, usize::MAX, |_| false) {
            if conn.sent.contains_key(&report.id)
                && conn.sent[&report.id].elapsed() < RETRY_AFTER_ERROR
            {
                continue;
            }
            conn.sent.insert(report.id, Instant::now());
            let frame = text(&Message::Report {
                report: Box::new(report),
            });
            if !matches!(
                tokio::time::timeout_at(until, tx.send(frame)).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        let _ = tokio::time::timeout_at(until, tx.send(text(&Message::Goodbye {}))).await;
        while self.pending.len() > 0 {
            match tokio::time::timeout_at(until, rx.next()).await {
                Ok(Some(Ok(WsMessage::Text(body)))) => {
                    match serde_json::from_str::<Reply>(body.as_str()) {
                        Ok(Reply::Ack { ids }) => {
                            let acked: HashSet<ReportId> = ids
                                .into_iter()
                                .filter(|id| conn.sent.contains_key(id))
                                .collect();
                            self.pending.ack(&acked);
                        }
                        Ok(Reply::Error(refusal)) => {
                            self.refused(&refusal, &mut conn.sent);
                        }
                        Err(_) => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        let _ = tokio::time::timeout_at(until, tx.close()).await;
        self.finish();
        Ended::Goodbye
    }
}

/// Reports a connection has sent and not yet seen acknowledged, at most.
const MAX_IN_FLIGHT: usize = 1000;

/// The state of one connection.
struct Conn {
    opened: Instant,
    /// The server acknowledged something on it.
    acked: bool,
    /// How long the server asked to wait before the next connection.
    wait: Option<Duration>,
    /// What it carried and when; a report the server refused (an error
    /// frame: its database is down, say) or never answered is sent again.
    sent: HashMap<ReportId, Instant>,
}

impl Conn {
    /// The connection is lost; healthy if it carried acks or lasted a
    /// heartbeat interval.
    fn lost(&self, inner: &Inner) -> Ended {
        Ended::Lost {
            wait: self.wait,
            healthy: self.acked || self.opened.elapsed() >= inner.settings.heartbeat,
        }
    }
}

/// What a refusal means for the connection.
enum Refused {
    /// Say hello again on this connection.
    HelloAgain,
    /// Send what is unacknowledged again soon.
    Retry,
}

#[async_trait::async_trait]
impl Sink for WebSocketLifecycle {
    fn name(&self) -> Cow<'static, str> {
        "lifecycle:websocket".into()
    }

    async fn start(&self, context: &SinkContext) {
        self.inner.pending.count_in(context.ledger.clone());
        self.inner.run(context).await;
    }

    /// Buffers the report and wakes the connection: the lifecycle owns
    /// retries, so this never fails.
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.inner
            .pending
            .push(delivery.report().clone(), delivery.receipt());
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Delivered when the server acknowledged it.
    fn confirmation(&self) -> Confirmation {
        Confirmation::Later
    }

    /// Waits for the server's acknowledgement of what was buffered before.
    async fn flush(&self) -> Result<(), SinkError> {
        self.inner.wake.notify_one();
        let running = !self.inner.done.load(Ordering::Relaxed);
        self.inner.pending.flush(running).await
    }

    /// Sends what is pending and a goodbye, then closes the socket.
    async fn shutdown(&self) -> Result<(), SinkError> {
        if self.inner.done.load(Ordering::Relaxed) {
            // the lifecycle already ended (a bad URL, say): nothing to wait for
            return self.inner.unacknowledged();
        }
        let (done, finished) = oneshot::channel();
        if let Ok(mut slot) = self.inner.finished.lock() {
            *slot = Some(done);
        }
        self.inner.stopping.store(true, Ordering::Relaxed);
        self.inner.stop.notify_waiters();
        // also a permit for a wait that has not started yet
        self.inner.stop.notify_one();
        self.inner.wake.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), finished).await;
        self.inner.unacknowledged()
    }
}
