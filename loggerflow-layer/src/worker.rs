//! The background worker: one thread running a tokio current-thread runtime,
//! with tracing switched off. It turns captures into reports (resolving and
//! classifying frames), applies the excludes, renders, and hands each
//! delivery to every sink's own lane. Each lane is a task with a bounded
//! queue that retries with backoff, so one bad sink never holds up another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Dispatch;

use crate::capture::{Captured, suppress_thread};
use crate::config::{Config, RetryPolicy};
use crate::protocol::Report;
use crate::sink::{Delivery, Sink, SinkError};
use crate::trace::frames;
use crate::trace::{TraceMode, render::render};

/// A message from the app's threads to the worker.
///
/// Captures travel unboxed: boxing costs the app's thread an allocation and
/// the worker a cross-thread free, and reports are by far the common message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Report(Captured),
    Flush(Notify),
    Shutdown(Notify),
}

/// Tells a waiting caller that a flush finished.
pub(crate) enum Notify {
    Blocking(std::sync::mpsc::SyncSender<()>),
    Async(oneshot::Sender<()>),
}

impl Notify {
    fn done(self) {
        match self {
            Notify::Blocking(tx) => {
                let _ = tx.try_send(());
            }
            Notify::Async(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

/// Counters of one sink.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    pub(crate) name: String,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// Counters of the whole pipeline.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) captured: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) excluded: AtomicU64,
    pub(crate) sinks: Vec<SinkCounters>,
}

enum LaneMsg {
    Deliver(Arc<Delivery>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// Starts the worker thread; returns the sending side of its queue.
pub(crate) fn spawn(
    config: Arc<Config>,
    counters: Arc<Counters>,
) -> std::io::Result<mpsc::Sender<Msg>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("loggerflow-blocking")
        .on_thread_start(|| {
            // blocking sinks run on these threads: nothing they log is captured
            suppress_thread();
            std::mem::forget(tracing::dispatcher::set_default(&Dispatch::none()));
        })
        .build()?;
    let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
    std::thread::Builder::new()
        .name("loggerflow-worker".into())
        .spawn(move || {
            suppress_thread();
            let _no_tracing = tracing::dispatcher::set_default(&Dispatch::none());
            runtime.block_on(run(rx, config, counters));
        })?;
    Ok(tx)
}

async fn run(mut rx: mpsc::Receiver<Msg>, config: Arc<Config>, counters: Arc<Counters>) {
    let lanes: Vec<mpsc::Sender<LaneMsg>> = config
        .sinks
        .iter()
        .enumerate()
        .map(|(index, sink)| {
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            tokio::spawn(lane(
                Arc::clone(sink),
                rx,
                config.retry,
                Arc::clone(&counters),
                index,
            ));
            tx
        })
        .collect();
    let mut dropped_seen = 0u64;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Report(captured) => {
                let report = build_report(captured, &config);
                if is_excluded(&report, &config) {
                    counters.excluded.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let dropped_now = counters.dropped.load(Ordering::Relaxed);
                let delivery = Arc::new(Delivery::new(
                    report,
                    config.trace_mode,
                    dropped_now.saturating_sub(dropped_seen),
                ));
                dropped_seen = dropped_now;
                for (index, lane) in lanes.iter().enumerate() {
                    if lane
                        .try_send(LaneMsg::Deliver(Arc::clone(&delivery)))
                        .is_err()
                    {
                        counters.sinks[index]
                            .dropped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Msg::Flush(notify) => {
                drain_lanes(&lanes, LaneMsg::Flush).await;
                notify.done();
            }
            Msg::Shutdown(notify) => {
                drain_lanes(&lanes, LaneMsg::Shutdown).await;
                notify.done();
            }
        }
    }
}

/// Sends a marker down every lane and waits until each has reached it.
async fn drain_lanes(lanes: &[mpsc::Sender<LaneMsg>], marker: fn(oneshot::Sender<()>) -> LaneMsg) {
    let mut waits = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let (tx, rx) = oneshot::channel();
        if lane.send(marker(tx)).await.is_ok() {
            waits.push(rx);
        }
    }
    for wait in waits {
        let _ = wait.await;
    }
}

async fn lane(
    sink: Arc<dyn Sink>,
    mut rx: mpsc::Receiver<LaneMsg>,
    retry: RetryPolicy,
    counters: Arc<Counters>,
    index: usize,
) {
    let Some(counters) = counters.sinks.get(index) else {
        return;
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            LaneMsg::Deliver(delivery) => deliver(&sink, delivery, retry, counters).await,
            LaneMsg::Flush(done) => {
                let _ = done.send(());
            }
            LaneMsg::Shutdown(done) => {
                let sink = Arc::clone(&sink);
                let task = tokio::spawn(async move { sink.shutdown().await });
                if let Err(error) = outcome(task, retry.attempt_timeout, counters).await {
                    give_up(counters, "shutdown failed", &error);
                }
                let _ = done.send(());
            }
        }
    }
}

/// Runs one attempt in its own task, so a panic or a hang stays contained.
async fn outcome(
    mut task: tokio::task::JoinHandle<Result<(), SinkError>>,
    timeout: Duration,
    counters: &SinkCounters,
) -> Result<(), SinkError> {
    match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) if join.is_panic() => {
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            Err(SinkError::permanent("the sink panicked"))
        }
        Ok(Err(join)) => Err(SinkError::retryable(join)),
        Err(_) => {
            task.abort();
            Err(SinkError::retryable(format_args!(
                "timed out after {timeout:?}"
            )))
        }
    }
}

async fn deliver(
    sink: &Arc<dyn Sink>,
    delivery: Arc<Delivery>,
    retry: RetryPolicy,
    counters: &SinkCounters,
) {
    let mut attempt = 0u32;
    loop {
        let task = {
            let sink = Arc::clone(sink);
            let delivery = Arc::clone(&delivery);
            tokio::spawn(async move { sink.send(&delivery).await })
        };
        match outcome(task, retry.attempt_timeout, counters).await {
            Ok(()) => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(error) => match retry.delay(attempt, &error) {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    give_up(counters, "gave up on a report", &error);
                    return;
                }
            },
        }
    }
}

/// Records a failure; says so on stderr for the 1st, 2nd, 4th, 8th… failure,
/// so a dead sink is visible without flooding the terminal.
fn give_up(counters: &SinkCounters, what: &str, error: &SinkError) {
    let failures = counters.failed.load(Ordering::Relaxed).max(1);
    if failures.is_power_of_two() {
        eprintln!(
            "loggerflow: sink {}: {what} ({failures} so far): {error}",
            counters.name
        );
    }
    if let Ok(mut last) = counters.last_error.lock() {
        *last = Some(error.to_string());
    }
}

/// Turns a capture into a report: resolves and classifies the stack.
pub(crate) fn build_report(captured: Captured, config: &Config) -> Report {
    let Captured {
        id,
        kind,
        level,
        timestamp,
        mut message,
        target,
        module,
        file,
        line,
        fields,
        error,
        spans,
        thread,
        backtrace,
    } = captured;
    if let (true, Some(error)) = (message.is_empty(), &error) {
        message.clone_from(&error.message);
    }
    let frames = backtrace
        .map(|bt| frames::resolve(bt, &config.classifier, config.cwd.as_deref()))
        .unwrap_or_default();
    Report {
        id,
        project: config.project.clone(),
        timestamp,
        level,
        kind,
        message,
        target: target.into_owned(),
        module: module.map(|m| m.into_owned()),
        file: file.map(|f| f.into_owned()),
        line,
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_json()))
            .collect(),
        error,
        spans,
        frames,
        thread: thread.to_string(),
        host: config.host.clone(),
        release: config.release.clone(),
    }
}

/// Excludes by error type name, or by a substring of the message or the full trace.
fn is_excluded(report: &Report, config: &Config) -> bool {
    let type_excluded = |name: &str| {
        config.exclude_types.iter().any(|t| {
            name == t
                || name
                    .strip_prefix(t.as_str())
                    .is_some_and(|g| g.starts_with('<'))
        })
    };
    if report
        .error
        .as_ref()
        .is_some_and(|e| type_excluded(&e.type_name))
    {
        return true;
    }
    if config.exclude_text.is_empty() {
        return false;
    }
    let text = render(report, TraceMode::Full);
    config
        .exclude_text
        .iter()
        .any(|needle| text.contains(needle.as_str()))
}
