//! [`WebhookLifecycle`]: the lifecycle over HTTP batches.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::pending::Pending;
use super::{Backoff, Sampler, Settings, hello, join};
use crate::protocol::{
    Batch, Hello, Message, PROTOCOL_VERSION, Refusal, Reply, ReportId, Transport,
};
use crate::sink::{Confirmation, Delivery, Sink, SinkContext, SinkError};

/// Reports and heartbeats to a LoggerFlow server as HTTP batches
/// (`POST {base}v1/batch`), with a hello first and a goodbye when the layer
/// shuts down.
///
/// Heartbeats go every 10 s by default; reports go at once, in batches of
/// up to 500. See [the module](super) for buffering and reconnects.
#[derive(Clone)]
pub struct WebhookLifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    instance: String,
    /// Made on first use (loading the system's roots takes a moment): the
    /// client, or why there is none (a bad certificate file).
    client: OnceLock<Result<reqwest::Client, String>>,
    pending: Pending,
    hello: Mutex<Option<Hello>>,
    introduced: AtomicBool,
    /// The largest body the server accepts, once it said so.
    limit: AtomicUsize,
    /// Batches to send with one report each (after a batch was refused as a
    /// whole, to find the report that is the cause).
    single: AtomicUsize,
    wake: Notify,
    stop: Notify,
    stopped: AtomicBool,
    sampler: Mutex<Sampler>,
}

impl std::fmt::Debug for WebhookLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookLifecycle")
            .field("url", &self.inner.settings.base)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl WebhookLifecycle {
    /// A lifecycle reporting to the server at `base_url`
    /// (`http://HOST:8000/loggerflow/`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::build(Settings::new(base_url.into(), Duration::from_secs(10)))
    }

    fn build(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                pending: Pending::new(settings.capacity, settings.capacity_bytes),
                settings,
                instance: ReportId::new().to_string(),
                client: OnceLock::new(),
                hello: Mutex::new(None),
                introduced: AtomicBool::new(false),
                limit: AtomicUsize::new(usize::MAX),
                single: AtomicUsize::new(0),
                wake: Notify::new(),
                stop: Notify::new(),
                stopped: AtomicBool::new(false),
                sampler: Mutex::new(Sampler::new()),
            }),
        }
    }

    fn with(self, update: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.inner.settings.clone();
        update(&mut settings);
        Self::build(settings)
    }

    /// Seconds between heartbeats (default 10; from 1 s to a day).
    #[must_use]
    pub fn heartbeat(self, every: Duration) -> Self {
        self.with(|s| s.heartbeat = super::heartbeat_within_bounds(every))
    }

    common_builder!();
}

/// The size a batch aims at.
const BATCH_BYTES: usize = 256 * 1024;
/// The largest answer read from the server.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What one exchange carried.
struct Sent {
    reports: usize,
    first: Option<ReportId>,
    /// What it carried: only these can be acknowledged by its answer.
    ids: HashSet<ReportId>,
}

enum Outcome {
    /// Delivered; `more` when reports are still waiting.
    Sent { more: bool },
    /// Try again at once (a hello is needed, or a refused report dropped).
    Again,
    /// Failed: wait (at least as long as the server asked) and retry.
    Failed(String, Option<Duration>),
}

impl Inner {
    /// Makes the HTTP client (reading the certificates is file IO: it runs
    /// on the blocking pool).
    async fn prepare_client(&self) {
        let roots = self.settings.roots.clone();
        let tls = tokio::task::spawn_blocking(move || super::tls::client_config(roots.as_deref()))
            .await
            .unwrap_or_else(|_| Err("reading the certificates panicked".into()));
        let _ = self.client.get_or_init(|| Self::make_client(tls));
    }

    fn make_client(
        tls: Result<Arc<rustls::ClientConfig>, String>,
    ) -> Result<reqwest::Client, String> {
        let tls = tls.inspect_err(|e| crate::diag::warn(format_args!("lifecycle: {e}")))?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            // the server closes a connection idle for its header timeout
            // (15 s by default): a connection is not reused after 10 s,
            // so a request never races that close
            .pool_idle_timeout(Duration::from_secs(10))
            .user_agent(super::CLIENT)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))
            .inspect_err(|e| crate::diag::warn(format_args!("lifecycle: {e}")))
    }

    /// The HTTP client (TLS through the layer's rustls configuration); made
    /// when the sink starts, or here when it never started.
    fn client(&self) -> Result<&reqwest::Client, String> {
        let made = self.client.get_or_init(|| {
            Self::make_client(super::tls::client_config(self.settings.roots.as_deref()))
        });
        made.as_ref().map_err(Clone::clone)
    }

    async fn post(&self, messages: Vec<Message>) -> Result<Reply, (String, Option<Duration>)> {
        let batch = Batch {
            protocol: PROTOCOL_VERSION,
            instance: self.instance.clone(),
            messages,
        };
        let client = self.client().map_err(|e| (e, None))?;
        let mut request = client
            .post(join(&self.settings.base, "v1/batch"))
            .json(&batch);
        if let Some(key) = &self.settings.key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| (e.without_url().to_string(), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        // an answer is an ack of at most 500 ids: a body past this is no
        // answer of a LoggerFlow server, and is not read into memory
        let mut response = response;
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_ANSWER_BYTES => {
                    body.extend_from_slice(&chunk);
                }
                Ok(Some(_)) => {
                    return Err((format!("HTTP {status}: an answer over 1 MiB"), retry_after));
                }
                Ok(None) => break,
                Err(e) => return Err((format!("HTTP {status}: {}", e.without_url()), retry_after)),
            }
        }
        // every answer, success or refusal, is a `Reply`; an older server
        // answers refusals without `type`; a proxy's 413 is no JSON at all
        let header_wait = |mut refusal: Refusal| {
            refusal.retry_after_s = refusal
                .retry_after_s
                .or_else(|| retry_after.map(|d| d.as_secs()));
            Reply::Error(refusal)
        };
        match serde_json::from_slice::<Reply>(&body) {
            Ok(Reply::Error(refusal)) => return Ok(header_wait(refusal)),
            Ok(reply) => return Ok(reply),
            Err(_) => {}
        }
        if let Ok(refusal) = serde_json::from_slice::<Refusal>(&body) {
            return Ok(header_wait(refusal));
        }
        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            return Ok(Reply::Error(Refusal::new(
                "body_too_large",
                "HTTP 413 (not from the server itself: a proxy)",
            )));
        }
        Err((format!("HTTP {status}"), retry_after))
    }

    /// One exchange: the hello when needed, a heartbeat when due, and the
    /// oldest pending reports.
    async fn exchange(&self, heartbeat: bool, goodbye: bool) -> Outcome {
        let mut messages = Vec::new();
        // while looking for the report a batch was refused for, reports go
        // alone (without the hello or a heartbeat, which could be the cause)
        // (an instance the server does not know yet says hello alone first:
        // if the hello is what it refuses, no report is blamed for it)
        let probing = self.single.load(Ordering::Relaxed) > 0 && self.pending.len() > 0;
        let heartbeat = heartbeat && !probing;
        let hello = self.hello.lock().ok().and_then(|h| h.clone());
        let needs_hello = !self.introduced.load(Ordering::Relaxed) && hello.is_some();
        let with_hello = needs_hello;
        let hello_alone = probing && needs_hello;
        if let (true, Some(hello)) = (with_hello, hello) {
            messages.push(Message::Hello(hello));
        }
        if heartbeat {
            let metrics = self
                .sampler
                .lock()
                .map(|mut s| s.sample())
                .unwrap_or_default();
            messages.push(Message::Heartbeat { metrics });
        }
        // at most 500 reports and about 256 KiB a batch (or half what the
        // server said it accepts): well inside its body limit; one at a time
        // after a batch was refused as a whole
        let limit = self.limit.load(Ordering::Relaxed);
        let budget = BATCH_BYTES.min(limit / 2);
        let most = match (probing, hello_alone) {
            (_, true) => 0,
            (true, false) => 1,
            (false, false) => 500,
        };
        let taken = self.pending.take_copy(most, budget, |_| false);
        let sent = Sent {
            reports: taken.len(),
            first: taken.first().map(|(r, _)| r.id),
            ids: taken.iter().map(|(r, _)| r.id).collect(),
        };
        let reports: Vec<_> = taken.into_iter().map(|(report, _)| report).collect();
        let more = self.pending.len() > reports.len();
        messages.extend(reports.into_iter().map(|r| Message::Report {
            report: Box::new(r),
        }));
        if goodbye && !more {
            messages.push(Message::Goodbye {});
        }
        if messages.is_empty() {
            return Outcome::Sent { more: false };
        }
        match self.post(messages).await {
            Ok(Reply::Ack { ids }) => {
                self.introduced.store(true, Ordering::Relaxed);
                let acked: HashSet<ReportId> =
                    ids.into_iter().filter(|id| sent.ids.contains(id)).collect();
                self.pending.ack(&acked);
                if sent.reports > 0 {
                    let _ = self
                        .single
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                }
                Outcome::Sent { more }
            }
            Ok(Reply::Error(refusal)) => self.refused(refusal, with_hello, &sent),
            Err((error, wait)) => Outcome::Failed(error, wait),
        }
    }

    /// Acts on what the server refused.
    fn refused(&self, refusal: Refusal, had_hello: bool, sent: &Sent) -> Outcome {
        let wait = refusal
            .retry_after_s
            .map(|s| Duration::from_secs(s.min(3600)));
        let reason = format!("{}: {}", refusal.error, refusal.message);
        match refusal.error.as_str() {
            // the server forgot this instance (its database was replaced,
            // the project deleted, the apps cleared): introduce it again
            "unknown_instance" if !had_hello => {
                self.introduced.store(false, Ordering::Relaxed);
                Outcome::Again
            }
            // a limit no batch envelope fits in is no usable limit: as
            // unknown (reports then go one at a time)
            "body_too_large" => match refusal
                .limit_bytes
                .and_then(|l| usize::try_from(l).ok())
                .filter(|&l| l >= 8192)
            {
                // the server names its limit: a report that alone passes it
                // never will fit
                Some(limit) => {
                    self.limit.store(limit, Ordering::Relaxed);
                    self.pending.refuse_over_limit(limit, 4096);
                    Outcome::Again
                }
                // a proxy's 413, limit unknown: one report at a time, and the
                // one refused alone is dropped
                None => {
                    match (sent.reports, sent.first) {
                        (1, Some(id)) => {
                            self.pending.refuse(id);
                            crate::diag::warn(format_args!(
                                "lifecycle: a report was refused as too large: {reason}"
                            ));
                        }
                        (0, _) => return Outcome::Failed(reason, wait),
                        (n, _) => self.single.store(n, Ordering::Relaxed),
                    }
                    Outcome::Again
                }
            },
            _ => match refusal.id {
                // one report is the cause: it would be refused again
                Some(id) => {
                    self.pending.refuse(id);
                    crate::diag::warn(format_args!(
                        "lifecycle: the server refused a report for good: {reason}"
                    ));
                    Outcome::Again
                }
                // the batch as a whole could not be read: one of its reports
                // is the cause; send them one at a time to find it, and drop
                // it when it is alone
                None if matches!(refusal.error.as_str(), "invalid_message" | "malformed_json")
                    && sent.reports > 0 =>
                {
                    match (sent.reports, sent.first) {
                        (1, Some(id)) => {
                            self.pending.refuse(id);
                            crate::diag::warn(format_args!(
                                "lifecycle: the server refused a report for good: {reason}"
                            ));
                        }
                        (n, _) => self.single.store(n, Ordering::Relaxed),
                    }
                    Outcome::Again
                }
                None => Outcome::Failed(reason, wait),
            },
        }
    }

    async fn run(&self, context: &SinkContext) {
        self.prepare_client().await;
        let heartbeat = self.settings.heartbeat;
        let heartbeat_s = u32::try_from(heartbeat.as_secs()).unwrap_or(10).max(1);
        if let Ok(mut hello_slot) = self.hello.lock() {
            *hello_slot = Some(hello(
                context,
                &self.instance,
                heartbeat_s,
                Transport::Webhook,
            ));
        }
        let mut backoff = Backoff::new();
        let mut next_heartbeat = tokio::time::Instant::now();
        // `Again` at most this often in a row, so a confused server cannot
        // make the app spin
        let mut again = 0;
        loop {
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            let due = tokio::time::Instant::now() >= next_heartbeat;
            if due {
                next_heartbeat = tokio::time::Instant::now() + heartbeat;
            }
            // (how long, whether the server asked for it)
            let wait = match self.exchange(due, false).await {
                Outcome::Sent { more: true } => {
                    backoff.reset();
                    again = 0;
                    continue;
                }
                Outcome::Again if again < 10 => {
                    again += 1;
                    continue;
                }
                Outcome::Again => {
                    again = 0;
                    Some((backoff.next(None), false))
                }
                Outcome::Sent { more: false } => {
                    backoff.reset();
                    again = 0;
                    None
                }
                Outcome::Failed(_, asked) => Some((backoff.next(asked), asked.is_some())),
            };
            let now = tokio::time::Instant::now();
            let sleep_until = match wait {
                // the server said how long: heartbeats wait too
                Some((wait, true)) => now + wait,
                // retry after the backoff, but heartbeats keep their cadence
                Some((wait, false)) => (now + wait).min(next_heartbeat),
                None => next_heartbeat,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {}
                _ = self.wake.notified(), if wait.is_none() => {}
                _ = self.stop.notified() => return,
            }
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for WebhookLifecycle {
    fn name(&self) -> Cow<'static, str> {
        "lifecycle:webhook".into()
    }

    async fn start(&self, context: &SinkContext) {
        self.inner.pending.count_in(context.ledger.clone());
        self.inner.run(context).await;
    }

    /// Buffers the report and wakes the sender: the lifecycle owns retries,
    /// so this never fails.
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
        let running = !self.inner.stopped.load(Ordering::Relaxed);
        self.inner.pending.flush(running).await
    }

    /// Sends what is pending and a goodbye (a few tries, bounded by the
    /// layer's flush timeout).
    async fn shutdown(&self) -> Result<(), SinkError> {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.stop.notify_waiters();
        // within the layer's flush timeout: a server that restarts or asks
        // to wait a moment still gets what is pending
        let until = tokio::time::Instant::now() + Duration::from_secs(4);
        let mut backoff = Backoff::new();
        for _ in 0..50 {
            match self.inner.exchange(false, true).await {
                Outcome::Sent { more: true } | Outcome::Again => continue,
                Outcome::Sent { more: false } => return Ok(()),
                Outcome::Failed(e, asked) => {
                    let wait = backoff.next(asked).min(Duration::from_secs(1));
                    if tokio::time::Instant::now() + wait >= until {
                        return Err(SinkError::retryable(format!("goodbye not delivered: {e}")));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Err(SinkError::retryable(
            "goodbye not delivered: too many reports pending",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each builder method changes its own setting, whatever the order.
    #[test]
    fn builder_settings_do_not_depend_on_their_order() {
        let one = WebhookLifecycle::new("https://a/")
            .buffer(7)
            .buffer_bytes(9_000)
            .ingest_key("k")
            .root_certificates("/ca.pem")
            .heartbeat(Duration::from_secs(3));
        let other = WebhookLifecycle::new("https://a/")
            .heartbeat(Duration::from_secs(3))
            .root_certificates("/ca.pem")
            .ingest_key("k")
            .buffer_bytes(9_000)
            .buffer(7);
        for sink in [&one, &other] {
            let s = &sink.inner.settings;
            assert_eq!(
                (s.capacity, s.capacity_bytes, s.key.as_deref(), s.heartbeat),
                (7, 9_000, Some("k"), Duration::from_secs(3))
            );
            assert_eq!(s.roots.as_deref(), Some(std::path::Path::new("/ca.pem")));
        }
    }
}
