//! Delivery: the app never waits on a sink, bad sinks are contained, and
//! nothing raised while delivering is captured again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loggerflow_layer::sink::{BlockingSink, Delivery, Sink, SinkError};
use loggerflow_layer::{LoggerFlowLayer, RetryPolicy};
use tracing_subscriber::prelude::*;

/// A sink that logs an error itself every time it delivers.
#[derive(Clone, Default)]
struct LoudSink {
    calls: Arc<AtomicUsize>,
}

#[loggerflow_layer::sink::async_trait]
impl Sink for LoudSink {
    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tracing::error!("the sink itself logs an error while delivering");
        Ok(())
    }
}

impl BlockingSink for LoudSink {
    fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tracing::error!("the blocking sink logs an error while delivering");
        Ok(())
    }
}

/// Without the re-entrancy guard each delivery would raise a new report, and
/// this would loop until the queue overflowed.
#[test]
fn events_raised_while_delivering_are_not_captured_again() {
    let async_sink = LoudSink::default();
    let blocking = LoudSink::default();
    let layer = LoggerFlowLayer::builder("Reentrancy")
        .sink(async_sink.clone())
        .blocking_sink(blocking.clone())
        .build();
    let handle = layer.handle();
    // global, so the worker's threads would see the layer if they were not guarded
    tracing_subscriber::registry().with(layer).init();
    tracing::error!("one error");
    assert!(handle.flush(common::WAIT));
    std::thread::sleep(Duration::from_millis(300));
    assert!(handle.flush(common::WAIT));
    assert_eq!(async_sink.calls.load(Ordering::SeqCst), 1);
    assert_eq!(blocking.calls.load(Ordering::SeqCst), 1);
    assert_eq!(handle.stats().captured, 1);
}

/// A sink that reports its own trouble through a stored handle: on the
/// worker's threads nothing is captured, so this cannot loop.
#[derive(Clone, Default)]
struct SelfReporting {
    handle: Arc<std::sync::OnceLock<loggerflow_layer::Handle>>,
    answers: Arc<std::sync::Mutex<Vec<Option<loggerflow_layer::ReportId>>>>,
}

#[loggerflow_layer::sink::async_trait]
impl Sink for SelfReporting {
    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        if let Some(handle) = self.handle.get() {
            let id = handle.capture_message("from inside a sink", loggerflow_layer::Level::Error);
            self.answers
                .lock()
                .map_err(|_| SinkError::permanent("poisoned"))?
                .push(id);
        }
        Ok(())
    }
}

#[test]
fn manual_captures_from_a_sink_are_refused() {
    let sink = SelfReporting::default();
    let layer = LoggerFlowLayer::builder("SelfReporting")
        .sink(sink.clone())
        .build();
    let handle = layer.handle();
    let _ = sink.handle.set(handle.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!("one");
    });
    assert!(handle.flush(common::WAIT));
    std::thread::sleep(Duration::from_millis(200));
    assert!(handle.flush(common::WAIT));
    assert_eq!(*sink.answers.lock().expect("answers"), [None]);
    assert_eq!(handle.stats().captured, 1);
}

#[derive(Clone)]
enum Bad {
    Hangs,
    Panics,
    Fails(Arc<AtomicUsize>),
}

#[loggerflow_layer::sink::async_trait]
impl Sink for Bad {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Bad::Hangs => "hangs".into(),
            Bad::Panics => "panics".into(),
            Bad::Fails(_) => "fails".into(),
        }
    }

    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        match self {
            Bad::Hangs => {
                std::future::pending::<()>().await;
                Ok(())
            }
            Bad::Panics => panic!("a sink bug"),
            Bad::Fails(attempts) => {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(SinkError::retryable("503 from upstream"))
            }
        }
    }
}

/// A hanging, a panicking and a failing sink: the good sink still delivers
/// everything, the failing one is retried then given up, the app never waits.
#[test]
fn bad_sinks_are_contained() {
    let good = common::MemorySink::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let layer = LoggerFlowLayer::builder("Contained")
        .sink(Bad::Hangs)
        .sink(Bad::Panics)
        .sink(Bad::Fails(attempts.clone()))
        .sink(good.clone())
        .retry(
            RetryPolicy::default()
                .retries(2)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(20))
                .attempt_timeout(Duration::from_millis(200))
                .max_retry_after(Duration::from_secs(1)),
        )
        .build();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    let started = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            tracing::error!(i, "error number {i}");
        }
    });
    let emitting = started.elapsed();
    assert!(
        !handle.flush(common::WAIT),
        "the bad sinks lost reports: the flush says so"
    );

    assert_eq!(good.taken().len(), 3, "the good sink delivered everything");
    let stats = handle.stats();
    let by_name = |n: &str| {
        stats
            .sinks
            .iter()
            .find(|s| s.name == n)
            .cloned()
            .expect("sink")
    };
    assert_eq!(by_name("hangs").failed, 3);
    assert!(
        by_name("hangs")
            .last_error
            .unwrap_or_default()
            .contains("timed out")
    );
    assert_eq!(by_name("panics").failed, 3);
    assert_eq!(by_name("panics").panicked, 3);
    assert_eq!(by_name("fails").failed, 3);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        9,
        "1 attempt + 2 retries each"
    );
    assert_eq!(by_name("memory").delivered, 3);
    // the app's thread only enqueued: far below one sink timeout
    assert!(emitting < Duration::from_millis(200), "{emitting:?}");
}

/// A flush waits for the lanes in a task of its own: while one sink hangs,
/// the others keep receiving new reports.
#[test]
fn a_flush_never_holds_up_the_other_sinks() {
    let good = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("FlushIsolation")
        .sink(Bad::Hangs)
        .sink(good.clone())
        .retry(
            RetryPolicy::default()
                .retries(0)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(1))
                .attempt_timeout(Duration::from_secs(30))
                .max_retry_after(Duration::from_secs(1)),
        )
        .build();
    let handle = layer.handle();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    tracing::error!("before the flush");
    assert!(
        !handle.flush(Duration::from_millis(200)),
        "the hanging sink cannot finish"
    );
    tracing::error!("after the flush");
    let deadline = Instant::now() + Duration::from_secs(5);
    while good.taken().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        good.taken().len(),
        2,
        "the good sink got the report sent after the flush"
    );
}

/// When the queue is full the report is dropped and counted; the caller
/// never blocks, and the next delivery says how many were lost.
#[test]
fn a_full_queue_drops_counts_and_reports_later() {
    let good = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Full")
        .sink(Bad::Hangs)
        .sink(good.clone())
        .queue_capacity(2)
        .retry(
            RetryPolicy::default()
                .retries(0)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(1))
                .attempt_timeout(Duration::from_millis(50))
                .max_retry_after(Duration::from_secs(1)),
        )
        .build();
    let handle = layer.handle();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    for i in 0..500 {
        tracing::error!(i, "burst");
    }
    assert!(!handle.flush(common::WAIT), "reports were dropped");
    let stats = handle.stats();
    assert_eq!(stats.captured, 500);
    assert!(stats.dropped > 0, "{stats:?}");
    let delivered = good.taken();
    assert_eq!(
        delivered.len() as u64 + stats.dropped + stats.sinks[1].dropped,
        500,
        "{stats:?}"
    );
    tracing::error!("after the burst");
    assert!(
        !handle.flush(common::WAIT),
        "the hanging sink gives this report up too"
    );
    let reported: u64 = good.taken().iter().map(Delivery::dropped_before).sum();
    assert_eq!(
        reported,
        stats.dropped + stats.sinks[1].dropped,
        "every report the good sink lost is reported by a later delivery"
    );
}
