//! The layer's contract as its API states it: `capture_*` return an id only
//! for a queued report, `flush` says whether everything made it, guards are
//! counted, `before_send` edits and drops, a blocking sink's `retry_after`
//! is honoured, and span fields stay bounded.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{MemorySink, WAIT};
use loggerflow_layer::sink::{BlockingSink, Delivery, Sink, SinkError};
use loggerflow_layer::{Level, LoggerFlowLayer, RetryPolicy};
use tracing_subscriber::prelude::*;

/// A full queue: `capture_*` say `None` for exactly the reports dropped.
#[test]
fn capture_returns_none_when_the_report_was_not_queued() {
    // holding the first report on the worker fills the queue (one report)
    let (hold, hook) = common::Hold::new();
    let sink = MemorySink::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("FullQueue")
        .sink(sink.clone())
        .queue_capacity(1)
        .capture_panics(false)
        .before_send(hook)
        .build();
    let handle = layer.handle();
    let mut ids = Vec::new();
    ids.push(handle.capture_message("first", Level::Error));
    hold.wait_until_held();
    for i in 0..10 {
        ids.push(handle.capture_message(format!("more {i}"), tracing::Level::ERROR));
    }
    hold.release();
    let queued = ids.iter().filter(|id| id.is_some()).count();
    let refused = ids.len() - queued;
    assert!(
        refused >= 9,
        "one in the hook, one in the queue, the rest refused: {ids:?}"
    );
    assert!(!handle.flush(WAIT), "reports were lost: the flush says so");
    let stats = handle.stats();
    assert_eq!(stats.dropped, refused as u64, "{stats:?}");
    // a queued report can still be lost later (the sink's own queue holds
    // one report too), and is then counted there: never an id for nothing
    let delivered: Vec<_> = sink.taken().iter().map(|d| d.report().id).collect();
    let queued_ids: Vec<_> = ids.iter().flatten().copied().collect();
    assert!(
        delivered.iter().all(|id| queued_ids.contains(id)),
        "only queued reports are delivered"
    );
    assert_eq!(
        (queued_ids.len() - delivered.len()) as u64,
        stats.sinks[0].dropped,
        "{stats:?}"
    );
    assert!(
        handle.flush(WAIT),
        "nothing lost since this thread's previous flush"
    );
}

/// `before_send` edits every report and drops the ones it refuses; the
/// sinks see only what it let through, as it left it.
#[test]
fn before_send_edits_and_drops() {
    let sink = MemorySink::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("BeforeSend")
        .sink(sink.clone())
        .capture_panics(false)
        .before_send(|report| {
            if let Some(value) = report.fields.get_mut("password") {
                *value = "[redacted]".into();
            }
            report.message = report.message.replace("hunter2", "[redacted]");
            !report.message.starts_with("health check")
        })
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!(user = "ada", password = "hunter2", "login failed");
        tracing::error!("health check failed");
        tracing::error!("the password hunter2 leaked into a message");
    });
    assert!(handle.flush(WAIT), "a report dropped on purpose is no loss");
    let deliveries = sink.taken();
    let messages: Vec<&str> = deliveries
        .iter()
        .map(|d| d.report().message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "login failed",
            "the password [redacted] leaked into a message"
        ]
    );
    let first = deliveries[0].report();
    assert_eq!(first.fields["password"], "[redacted]");
    assert_eq!(first.fields["user"], "ada");
    assert!(
        deliveries.iter().all(|d| !d.text().contains("hunter2")),
        "the rendered text is made from the edited report"
    );
    let stats = handle.stats();
    assert_eq!((stats.captured, stats.filtered), (3, 1), "{stats:?}");
}

/// A sink that counts its shutdowns.
#[derive(Clone, Default)]
struct Closing {
    memory: MemorySink,
    shutdowns: Arc<AtomicUsize>,
}

#[loggerflow_layer::sink::async_trait]
impl Sink for Closing {
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.memory.send(delivery).await
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Two guards: dropping the first flushes and leaves the sinks running;
/// the last one shuts them down, once.
#[test]
fn a_layer_shuts_down_once_when_its_last_guard_goes() {
    let sink = Closing::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("Guards")
        .sink(sink.clone())
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    let first = layer.flush_guard();
    let second = layer.flush_guard();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!("before");
        drop(first);
        assert_eq!(sink.memory.taken().len(), 1, "the first guard flushed");
        assert_eq!(sink.shutdowns.load(Ordering::SeqCst), 0, "still running");
        tracing::error!("between");
        assert!(handle.flush(WAIT));
        assert_eq!(sink.memory.taken().len(), 2, "still delivering");
        drop(second);
    });
    assert_eq!(sink.shutdowns.load(Ordering::SeqCst), 1);
    // an explicit shutdown after the guards is a flush, not a second shutdown
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    assert!(runtime.block_on(handle.shutdown(WAIT)));
    assert_eq!(sink.shutdowns.load(Ordering::SeqCst), 1);
}

/// A blocking sink rate-limited once.
#[derive(Clone, Default)]
struct RateLimited {
    attempts: Arc<Mutex<Vec<Instant>>>,
}

impl BlockingSink for RateLimited {
    fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        let mut attempts = self
            .attempts
            .lock()
            .map_err(|_| SinkError::permanent("poisoned"))?;
        attempts.push(Instant::now());
        if attempts.len() == 1 {
            return Err(SinkError::rate_limited("429", Duration::from_millis(400)));
        }
        Ok(())
    }
}

/// The wait a blocking sink asks for is waited, not the shorter backoff.
#[test]
fn a_blocking_sink_retry_after_is_honoured() {
    let sink = RateLimited::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("RetryAfter")
        .blocking_sink(sink.clone())
        .capture_panics(false)
        .retry(
            RetryPolicy::default()
                .retries(3)
                .initial_backoff(Duration::from_millis(10)),
        )
        .build();
    let handle = layer.handle();
    assert!(handle.capture_message("limited", Level::Error).is_some());
    assert!(handle.flush(WAIT));
    let attempts = sink.attempts.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(attempts.len(), 2, "retried once");
    let waited = attempts[1] - attempts[0];
    assert!(
        waited >= Duration::from_millis(400),
        "waited {waited:?}, asked for 400 ms"
    );
    assert_eq!(handle.stats().sinks[0].delivered, 1);
}

/// `flush` says whether what was captured since its thread's previous flush made it.
#[test]
fn flush_says_when_a_sink_gave_up() {
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("GaveUp")
        .sink(common::Refusing)
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    assert!(handle.flush(WAIT), "nothing captured, nothing lost");
    assert!(handle.capture_message("lost", Level::Error).is_some());
    assert!(!handle.flush(WAIT), "the sink gave the report up");
    assert!(handle.flush(WAIT), "nothing captured since");
    assert_eq!(handle.stats().sinks[0].failed, 1);
}

/// A span field recorded again and again keeps one value, and a huge one
/// is cut: a long-running span cannot grow without bound.
#[test]
fn span_fields_stay_bounded() {
    let sink = MemorySink::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("Spans")
        .sink(sink.clone())
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "job",
            step = tracing::field::Empty,
            blob = tracing::field::Empty
        );
        for step in 0..50_000u32 {
            span.record("step", step);
        }
        span.record("blob", "x".repeat(1_000_000).as_str());
        let _entered = span.enter();
        tracing::error!("failed at the end");
    });
    assert!(handle.flush(WAIT));
    let deliveries = sink.taken();
    let fields = &deliveries[0].report().spans[0].fields;
    assert!(
        fields.starts_with("step=49999 blob=\"xxx"),
        "{}",
        &fields[..40.min(fields.len())]
    );
    assert!(fields.len() <= 4096 + 8, "{} bytes", fields.len());
}
