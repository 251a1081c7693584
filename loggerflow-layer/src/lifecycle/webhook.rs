//! [`WebhookLifecycle`]: the lifecycle over HTTP batches.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::pending::Pending;
use super::{MAX_BACKOFF, Sampler, hello, join};
use crate::protocol::{Batch, Hello, Message, PROTOCOL_VERSION, Reply, Transport};
use crate::sink::{Delivery, Sink, SinkContext, SinkError};

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
    base: String,
    key: Option<String>,
    heartbeat: Duration,
    instance: String,
    client: reqwest::Client,
    pending: Pending,
    hello: Mutex<Option<Hello>>,
    introduced: AtomicBool,
    wake: Notify,
    stop: Notify,
    stopped: AtomicBool,
    sampler: Mutex<Sampler>,
}

impl std::fmt::Debug for WebhookLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookLifecycle")
            .field("url", &self.inner.base)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl WebhookLifecycle {
    /// A lifecycle reporting to the server at `base_url`
    /// (`http://HOST:8000/loggerflow/`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::build(base_url.into(), None, Duration::from_secs(10), 10_000)
    }

    fn build(base: String, key: Option<String>, heartbeat: Duration, capacity: usize) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(super::CLIENT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            inner: Arc::new(Inner {
                base,
                key,
                heartbeat,
                instance: crate::ReportId::new().to_string(),
                client,
                pending: Pending::new(capacity),
                hello: Mutex::new(None),
                introduced: AtomicBool::new(false),
                wake: Notify::new(),
                stop: Notify::new(),
                stopped: AtomicBool::new(false),
                sampler: Mutex::new(Sampler::new()),
            }),
        }
    }

    fn rebuild(
        self,
        update: impl FnOnce(&mut String, &mut Option<String>, &mut Duration, &mut usize),
    ) -> Self {
        let mut base = self.inner.base.clone();
        let mut key = self.inner.key.clone();
        let mut heartbeat = self.inner.heartbeat;
        let mut capacity = 10_000;
        update(&mut base, &mut key, &mut heartbeat, &mut capacity);
        Self::build(base, key, heartbeat, capacity)
    }

    /// Seconds between heartbeats (default 10; at least 1).
    #[must_use]
    pub fn heartbeat(self, every: Duration) -> Self {
        self.rebuild(|_, _, h, _| *h = every.max(Duration::from_secs(1)))
    }

    /// The server's ingest key (`--ingest-key`).
    #[must_use]
    pub fn ingest_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.rebuild(|_, k, _, _| *k = Some(key))
    }

    /// How many unacknowledged reports are kept while the server is away
    /// (default 10,000); beyond it the oldest are dropped and counted.
    #[must_use]
    pub fn buffer(self, capacity: usize) -> Self {
        self.rebuild(|_, _, _, c| *c = capacity)
    }

    /// This process's instance id, as the server knows it.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Reports waiting for the server.
    pub fn pending(&self) -> usize {
        self.inner.pending.len()
    }

    /// Reports dropped because the buffer was full.
    pub fn overflowed(&self) -> u64 {
        self.inner.pending.overflowed()
    }
}

/// The size a batch aims at.
const BATCH_BYTES: usize = 256 * 1024;

enum Outcome {
    Sent { more: bool },
    Unknown,
    Failed(String),
}

impl Inner {
    async fn post(&self, messages: Vec<Message>) -> Result<Reply, String> {
        let batch = Batch {
            protocol: PROTOCOL_VERSION,
            instance: self.instance.clone(),
            messages,
        };
        let mut request = self.client.post(join(&self.base, "v1/batch")).json(&batch);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let reply: Reply = response
            .json()
            .await
            .map_err(|e| format!("HTTP {status}: {}", e.without_url()))?;
        Ok(reply)
    }

    /// One exchange: the hello when needed, a heartbeat when due, and the
    /// oldest pending reports.
    async fn exchange(&self, heartbeat: bool, goodbye: bool) -> Outcome {
        let mut messages = Vec::new();
        let hello = self.hello.lock().ok().and_then(|h| h.clone());
        if let (false, Some(hello)) = (self.introduced.load(Ordering::Relaxed), hello) {
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
        // at most 500 reports and about 256 KiB a batch: well inside the
        // server's body limit (1 MiB by default)
        let mut budget = BATCH_BYTES;
        let mut reports = Vec::new();
        for report in self.pending.take_copy(500, |_| false) {
            let size = serde_json::to_vec(&report).map(|v| v.len()).unwrap_or(0);
            if size > budget && !reports.is_empty() {
                break;
            }
            budget = budget.saturating_sub(size);
            reports.push(report);
        }
        let more = self.pending.len() > reports.len();
        let single = (reports.len() == 1).then(|| reports[0].id);
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
                self.pending.ack(&ids);
                Outcome::Sent { more }
            }
            Ok(Reply::Error { error, .. }) if error == "unknown_instance" => {
                self.introduced.store(false, Ordering::Relaxed);
                Outcome::Unknown
            }
            Ok(Reply::Error { error, message }) if error == "body_too_large" => {
                // one report larger than the server accepts: it never will be
                if let Some(id) = single {
                    self.pending.ack(&[id]);
                    self.pending.count_refused();
                    crate::diag::warn(format_args!(
                        "lifecycle: a report was refused as too large: {message}"
                    ));
                }
                Outcome::Failed(format!("{error}: {message}"))
            }
            Ok(Reply::Error { error, message }) => Outcome::Failed(format!("{error}: {message}")),
            Err(e) => Outcome::Failed(e),
        }
    }

    async fn run(&self, context: &SinkContext) {
        let heartbeat_s = u32::try_from(self.heartbeat.as_secs()).unwrap_or(10).max(1);
        if let Ok(mut hello_slot) = self.hello.lock() {
            *hello_slot = Some(hello(
                context,
                &self.instance,
                heartbeat_s,
                Transport::Webhook,
            ));
        }
        let mut backoff = Duration::from_millis(500);
        let mut next_heartbeat = tokio::time::Instant::now();
        loop {
            if self.stopped.load(Ordering::Relaxed) {
                return;
            }
            let due = tokio::time::Instant::now() >= next_heartbeat;
            if due {
                next_heartbeat = tokio::time::Instant::now() + self.heartbeat;
            }
            let wait = match self.exchange(due, false).await {
                Outcome::Sent { more: true } | Outcome::Unknown => {
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Outcome::Sent { more: false } => {
                    backoff = Duration::from_millis(500);
                    None
                }
                Outcome::Failed(_) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    Some(wait)
                }
            };
            let sleep_until = match wait {
                // retry after the backoff, but heartbeats keep their cadence
                Some(wait) => (tokio::time::Instant::now() + wait).min(next_heartbeat),
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
        self.inner.run(context).await;
    }

    /// Buffers the report and wakes the sender: the lifecycle owns retries,
    /// so this never fails.
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.inner.pending.push(delivery.report().clone());
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Sends what is pending and a goodbye (a few tries, bounded by the
    /// layer's flush timeout).
    async fn shutdown(&self) -> Result<(), SinkError> {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.stop.notify_waiters();
        for _ in 0..20 {
            match self.inner.exchange(false, true).await {
                Outcome::Sent { more: true } | Outcome::Unknown => continue,
                Outcome::Sent { more: false } => return Ok(()),
                Outcome::Failed(e) => {
                    return Err(SinkError::retryable(format!("goodbye not delivered: {e}")));
                }
            }
        }
        Err(SinkError::retryable(
            "goodbye not delivered: too many reports pending",
        ))
    }
}
