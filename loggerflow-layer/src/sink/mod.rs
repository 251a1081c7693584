//! Where reports go.
//!
//! A sink receives each [`Delivery`] (the [`Report`] and its text in the
//! layer's [`TraceMode`]) on the layer's background worker, never on the
//! app's threads. Each sink has its own queue and task: a slow, failing or
//! panicking sink delays or loses only its own deliveries. A failed delivery
//! is retried with exponential backoff when the error is
//! [retryable](SinkError::is_retryable).
//!
//! Write an async sink by implementing [`Sink`]; write a blocking one (a
//! database driver without async, say) by implementing [`BlockingSink`] and
//! adding it with [`LoggerFlowBuilder::blocking_sink`](crate::LoggerFlowBuilder::blocking_sink):
//! it then runs on a blocking thread pool.
//!
//! ```
//! use loggerflow_layer::sink::{BlockingSink, Delivery, SinkError};
//!
//! struct Stderr;
//!
//! impl BlockingSink for Stderr {
//!     fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
//!         eprintln!("[{}] {}", delivery.report().project, delivery.text());
//!         Ok(())
//!     }
//! }
//! ```

#[cfg(any(feature = "telegram", feature = "discord"))]
mod chat;
#[cfg(feature = "discord")]
mod discord;
mod file;
mod ledger;
#[cfg(feature = "telegram")]
mod telegram;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

#[cfg(any(feature = "telegram", feature = "discord"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "telegram", feature = "discord"))))]
pub use chat::ChatStats;
#[cfg(feature = "discord")]
#[cfg_attr(docsrs, doc(cfg(feature = "discord")))]
pub use discord::DiscordSink;
pub use file::FileSink;
pub use ledger::{Ledger, Receipt};
pub(crate) use ledger::{Losses, SinkCounters};
#[cfg(feature = "telegram")]
#[cfg_attr(docsrs, doc(cfg(feature = "telegram")))]
pub use telegram::{ChatId, TelegramSink};

/// The attribute that makes [`Sink`]'s async methods object-safe; put it on
/// your `impl Sink for ...` block.
pub use async_trait::async_trait;

use crate::protocol::Report;
use crate::trace::{TraceMode, render::render};

/// One report on its way to a sink.
#[derive(Debug, Clone)]
pub struct Delivery {
    report: Report,
    text: String,
    trace_mode: TraceMode,
    dropped_before: u64,
    /// The report's place in the order of captures.
    seq: u64,
}

impl Delivery {
    pub(crate) fn new(report: Report, trace_mode: TraceMode, seq: u64) -> Self {
        let text = render(&report, trace_mode);
        Self {
            report,
            text,
            trace_mode,
            dropped_before: 0,
            seq,
        }
    }

    /// What a sink that confirms later hands to its [`Ledger`] when this
    /// report's fate is known.
    pub fn receipt(&self) -> Receipt {
        Receipt { seq: self.seq }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The same delivery, saying that `dropped` reports were lost before it.
    pub(crate) fn with_dropped_before(&self, dropped: u64) -> Self {
        Self {
            dropped_before: dropped,
            ..self.clone()
        }
    }

    /// The report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The report rendered in the layer's trace mode.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The layer's trace mode.
    pub fn trace_mode(&self) -> TraceMode {
        self.trace_mode
    }

    /// The report rendered in another mode.
    pub fn render(&self, mode: TraceMode) -> String {
        if mode == self.trace_mode {
            self.text.clone()
        } else {
            render(&self.report, mode)
        }
    }

    /// How many reports this sink lost (the layer's queue or the sink's own
    /// queue was full) since its previous delivery: sinks should mention it
    /// when it is not zero.
    pub fn dropped_before(&self) -> u64 {
        self.dropped_before
    }
}

/// Why a sink could not deliver.
#[derive(Debug, Clone)]
pub struct SinkError {
    message: String,
    retryable: bool,
    retry_after: Option<std::time::Duration>,
}

impl SinkError {
    /// A failure worth retrying (network errors, timeouts, 5xx, 429).
    pub fn retryable(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retryable: true,
            retry_after: None,
        }
    }

    /// The service asked to wait `retry_after` before trying again (HTTP
    /// 429). The worker waits at least that long, or gives up when it is
    /// longer than [`RetryPolicy::max_retry_after`](crate::RetryPolicy::max_retry_after).
    pub fn rate_limited(message: impl fmt::Display, retry_after: std::time::Duration) -> Self {
        Self {
            message: message.to_string(),
            retryable: true,
            retry_after: Some(retry_after),
        }
    }

    /// A failure that retrying will not fix (bad credentials, a 4xx, an
    /// unwritable path).
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            retryable: false,
            retry_after: None,
        }
    }

    /// Whether the worker should retry the delivery.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// How long the service asked to wait, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SinkError {}

impl SinkError {
    /// An IO failure with context; retryable unless retrying cannot help
    /// (permission denied, a missing or read-only path, a directory).
    pub fn io(context: impl fmt::Display, error: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let message = format!("{context}: {error}");
        match error.kind() {
            PermissionDenied | NotFound | InvalidInput | IsADirectory | ReadOnlyFilesystem
            | NotADirectory => Self::permanent(message),
            _ => Self::retryable(message),
        }
    }
}

/// When a sink's deliveries count as delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confirmation {
    /// When [`Sink::send`] returns `Ok` (the default).
    #[default]
    OnSend,
    /// Later: `send` only buffers the report (keeping its
    /// [`Delivery::receipt`]), the sink enters each report's fate in the
    /// [`Ledger`] of its [`SinkContext`], and its [`flush`](Sink::flush)
    /// returns once what it buffered was delivered or given up (the
    /// lifecycle sinks: acknowledged by the server).
    Later,
}

/// An async destination for reports.
///
/// `send` runs on the layer's worker runtime (a tokio current-thread runtime
/// with IO and timers), so it may use tokio and async HTTP clients but must
/// not block: use [`BlockingSink`] for blocking IO. Events raised inside a
/// sink (yours, or your HTTP client's) are never captured again.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// A short name for statistics and error messages.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }

    /// Delivers one report.
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError>;

    /// When a delivery counts as delivered: when `send` returns (the
    /// default), or later, for a sink that buffers.
    fn confirmation(&self) -> Confirmation {
        Confirmation::OnSend
    }

    /// Called once when the layer's worker starts, in a task of its own:
    /// sinks with background work (heartbeats, a connection) run it here,
    /// until [`shutdown`](Sink::shutdown). It must not return early unless
    /// it has nothing to do.
    async fn start(&self, context: &SinkContext) {
        let _ = context;
    }

    /// Called when the layer is flushed, after every report captured before
    /// the flush was handed to [`send`](Sink::send): a sink that buffers
    /// ([`Confirmation::Later`]) returns once each of those reports was
    /// delivered or given up (entered in its [`Ledger`]), an error when it
    /// cannot wait (it stopped with reports unconfirmed). The layer bounds
    /// the wait by the flush's timeout, and reads from the ledger which
    /// reports were lost. The default returns at once.
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once when the layer shuts down (its last flush guard is
    /// dropped, or [`Handle::shutdown`](crate::Handle::shutdown)), after
    /// every queued report was attempted and flushed.
    async fn shutdown(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What a sink learns about its layer when the worker starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SinkContext {
    /// The project name reports carry.
    pub project: String,
    /// The layer's trace mode.
    pub trace_mode: TraceMode,
    /// The release, if configured.
    pub release: Option<String>,
    /// The environment (`production` unless configured).
    pub environment: String,
    /// Where a sink that confirms later counts its deliveries.
    pub ledger: Ledger,
    /// The names of the layer's sinks, in order (this one's too): a
    /// lifecycle sink tells the server the others.
    pub sinks: Vec<String>,
}

impl SinkContext {
    /// A context for `project` (to drive a sink in a test), whose ledger
    /// counts nowhere.
    pub fn new(project: impl Into<String>, trace_mode: TraceMode) -> Self {
        Self {
            project: project.into(),
            trace_mode,
            release: None,
            environment: crate::protocol::DEFAULT_ENVIRONMENT.to_owned(),
            ledger: Ledger::default(),
            sinks: Vec::new(),
        }
    }
}

/// A blocking destination for reports; it runs on a blocking thread pool.
pub trait BlockingSink: Send + Sync + 'static {
    /// A short name for statistics and error messages.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }

    /// Delivers one report.
    fn send(&self, delivery: &Delivery) -> Result<(), SinkError>;
}

/// Runs a [`BlockingSink`] as a [`Sink`], on tokio's blocking pool.
///
/// A blocking call cannot be cancelled: when an attempt times out, the call
/// goes on. So the next attempt first waits for the call still running (a
/// retry of the same report takes its outcome instead of writing twice), and
/// a hanging sink holds one blocking thread, not one per attempt.
pub(crate) struct Blocking<S> {
    pub(crate) sink: Arc<S>,
    in_flight: tokio::sync::Mutex<Option<InFlight>>,
}

struct InFlight {
    id: crate::protocol::ReportId,
    done: tokio::sync::watch::Receiver<Option<Outcome>>,
}

/// The result of one blocking call, shared between attempts (whole: a
/// `retry_after` the sink asked for is honoured).
#[derive(Clone)]
struct Outcome(Result<(), SinkError>);

impl Outcome {
    fn into_result(self) -> Result<(), SinkError> {
        self.0
    }
}

impl<S> Blocking<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            sink: Arc::new(sink),
            in_flight: tokio::sync::Mutex::new(None),
        }
    }
}

async fn finished(done: &mut tokio::sync::watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    loop {
        if let Some(outcome) = done.borrow_and_update().clone() {
            return Some(outcome);
        }
        if done.changed().await.is_err() {
            // the call ended without a word: it panicked
            return None;
        }
    }
}

#[async_trait::async_trait]
impl<S: BlockingSink> Sink for Blocking<S> {
    fn name(&self) -> Cow<'static, str> {
        self.sink.name()
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        let id = delivery.report().id;
        let mut in_flight = self.in_flight.lock().await;
        if let Some(previous) = in_flight.as_mut() {
            let outcome = finished(&mut previous.done).await;
            let same = previous.id == id;
            *in_flight = None;
            if same {
                return match outcome {
                    Some(outcome) => outcome.into_result(),
                    None => Err(SinkError::permanent("the sink panicked")),
                };
            }
        }
        let (tx, mut done) = tokio::sync::watch::channel(None);
        let sink = Arc::clone(&self.sink);
        let delivery = delivery.clone();
        let _call = tokio::task::spawn_blocking(move || {
            let _ = tx.send(Some(Outcome(sink.send(&delivery))));
        });
        *in_flight = Some(InFlight {
            id,
            done: done.clone(),
        });
        let outcome = finished(&mut done).await;
        *in_flight = None;
        match outcome {
            Some(outcome) => outcome.into_result(),
            None => Err(SinkError::permanent("the sink panicked")),
        }
    }
}
