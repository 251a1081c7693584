//! What a flush answers for, found by attacking the first design: a flush
//! that timed out does not swallow a loss, a report a `Later` sink's lane
//! gave up on is a loss, `capture_panic` never returns the id of a report
//! that was not queued, and `Duration::MAX` is "as long as it takes".

mod common;

use std::time::Duration;

use common::{MemorySink, WAIT};
use loggerflow_layer::sink::{Confirmation, Delivery, Sink, SinkError};
use loggerflow_layer::{Level, LoggerFlowLayer, RetryPolicy};
use tracing_subscriber::prelude::*;

/// A sink that takes a while, then gives the report up for good.
struct SlowlyRefusing;

#[loggerflow_layer::sink::async_trait]
impl Sink for SlowlyRefusing {
    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Err(SinkError::permanent("401 Unauthorized"))
    }
}

/// A flush that timed out leaves its reports to the next one: the retry
/// says `false` for the report that was given up meanwhile.
#[test]
fn a_flush_retried_after_a_timeout_still_reports_the_loss() {
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("RetryFlush")
        .sink(SlowlyRefusing)
        .capture_panics(false)
        .retry(RetryPolicy::default().retries(0))
        .build();
    let handle = layer.handle();
    assert!(handle.capture_message("lost", Level::Error).is_some());
    assert!(!handle.flush(Duration::from_millis(100)), "timed out");
    let again = handle.flush(WAIT);
    let stats = handle.stats();
    assert_eq!((stats.sinks[0].delivered, stats.sinks[0].failed), (0, 1));
    assert!(!again, "the only report was given up");
    assert!(handle.flush(WAIT), "answered once: nothing captured since");
}

/// A sink that confirms later and whose `send` fails for good.
struct LaterRefusing;

#[loggerflow_layer::sink::async_trait]
impl Sink for LaterRefusing {
    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        Err(SinkError::permanent("refused"))
    }

    fn confirmation(&self) -> Confirmation {
        Confirmation::Later
    }
}

/// A report the lane gave up on before a `Later` sink buffered it is lost,
/// though the sink's own `flush` never heard of it.
#[test]
fn a_later_sink_whose_send_failed_makes_the_flush_false() {
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("LaterRefusing")
        .sink(LaterRefusing)
        .capture_panics(false)
        .retry(RetryPolicy::default().retries(0))
        .build();
    let handle = layer.handle();
    assert!(handle.capture_message("lost", Level::Error).is_some());
    let flushed = handle.flush(WAIT);
    assert_eq!(handle.stats().sinks[0].failed, 1);
    assert!(!flushed, "the report was given up");
}

/// When the hook's report of a panic was dropped (a full queue), handing
/// the same panic over later queues it anew, never answering with the
/// dropped report's id.
#[test]
fn capture_panic_never_returns_the_id_of_a_dropped_hook_report() {
    let (hold, hook) = common::Hold::new();
    let sink = MemorySink::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("PanicDedupe")
        .sink(sink.clone())
        .queue_capacity(1)
        .before_send(hook)
        .build();
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // hold the worker in the hook, then fill the queue
    assert!(handle.capture_message("first", Level::Error).is_some());
    hold.wait_until_held();
    assert!(
        handle
            .capture_message("fills the queue", Level::Error)
            .is_some()
    );
    // a task panics: the hook's report finds the queue full and is dropped
    let payload = tracing::dispatcher::with_default(&dispatch, || {
        std::panic::catch_unwind(|| panic!("job 7 failed")).expect_err("panicked")
    });
    assert!(handle.stats().dropped >= 1, "the hook's report was dropped");
    hold.release();
    assert!(!handle.flush(WAIT), "the hook's report was lost");
    // the supervisor hands the panic over once the queue has room again
    let id = handle.capture_panic(&*payload).expect("queued this time");
    assert!(handle.flush(WAIT));
    let delivered: Vec<_> = sink.taken().iter().map(|d| d.report().id).collect();
    assert!(delivered.contains(&id), "{id:?} not in {delivered:?}");
}

/// `Duration::MAX` ("as long as it takes") never panics the caller.
#[test]
fn a_flush_without_a_time_limit_does_not_panic() {
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("NoLimit")
        .sink(MemorySink::default())
        .capture_panics(false)
        .flush_timeout(Duration::MAX)
        .build();
    let handle = layer.handle();
    let guard = layer.flush_guard();
    assert!(handle.capture_message("one", Level::Error).is_some());
    assert!(handle.flush(Duration::MAX));
    drop(guard);
}

/// Another thread's flush, which was told of the loss, does not take it
/// away from this thread's flush.
#[test]
fn another_threads_flush_does_not_swallow_this_threads_loss() {
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("CrossThread")
        .sink(common::Refusing)
        .capture_panics(false)
        .retry(RetryPolicy::default().retries(0))
        .build();
    let handle = layer.handle();
    assert!(handle.capture_message("mine", Level::Error).is_some());
    let other = handle.clone();
    let told = std::thread::spawn(move || other.flush(WAIT))
        .join()
        .expect("the other thread");
    assert!(!told, "the other thread is told of the loss too");
    assert_eq!(handle.stats().sinks[0].failed, 1);
    assert!(!handle.flush(WAIT), "this thread's report was lost");
    assert!(handle.flush(WAIT), "told once per thread");
}
