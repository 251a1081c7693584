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
use crate::trace::TraceMode;
use crate::trace::frames;

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

/// The worker's side of one sink's lane.
struct LaneTx {
    tx: mpsc::Sender<LaneMsg>,
    /// Reports lost for this sink (the layer's queue was full, or this
    /// lane's) that no delivery has reported yet.
    unreported: u64,
}

async fn run(mut rx: mpsc::Receiver<Msg>, config: Arc<Config>, counters: Arc<Counters>) {
    let mut lanes: Vec<LaneTx> = config
        .sinks
        .iter()
        .enumerate()
        .map(|(index, sink)| {
            let context = crate::sink::SinkContext {
                project: config.project.clone(),
                trace_mode: config.trace_mode,
                release: config.release.clone(),
            };
            let starting = Arc::clone(sink);
            tokio::spawn(async move { starting.start(&context).await });
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            tokio::spawn(lane(
                Arc::clone(sink),
                rx,
                config.retry,
                Arc::clone(&counters),
                index,
            ));
            LaneTx { tx, unreported: 0 }
        })
        .collect();
    let mut dropped_seen = 0u64;
    // a message read ahead while gathering captures, to handle next
    let mut next: Option<Msg> = None;
    loop {
        let msg = match next.take() {
            Some(msg) => msg,
            None => match rx.recv().await {
                Some(msg) => msg,
                None => return,
            },
        };
        match msg {
            Msg::Report(first) => {
                // the captures already waiting are prepared together
                let mut captures = vec![first];
                while captures.len() < MAX_PREPARED_TOGETHER {
                    match rx.try_recv() {
                        Ok(Msg::Report(captured)) => captures.push(captured),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let dropped_now = counters.dropped.load(Ordering::Relaxed);
                let dropped = dropped_now.saturating_sub(dropped_seen);
                dropped_seen = dropped_now;
                let count = captures.len();
                let with_stack = captures.iter().any(|c| c.backtrace.is_some());
                let shared = Arc::clone(&config);
                let prepare_all = move || -> Vec<Result<Option<Delivery>, ()>> {
                    // user code runs here (the `yours_if` predicate): a
                    // panic loses that report, never the worker
                    captures
                        .into_iter()
                        .map(|captured| {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                prepare(captured, &shared)
                            }))
                            .map_err(|_| ())
                        })
                        .collect()
                };
                // resolving stacks' symbols takes milliseconds: it runs on
                // the blocking pool, so the lifecycle's heartbeats on this
                // runtime keep their cadence through a burst of errors
                let prepared = if with_stack {
                    tokio::task::spawn_blocking(prepare_all)
                        .await
                        .unwrap_or_else(|_| vec![Err(()); count])
                } else {
                    prepare_all()
                };
                for (i, prepared) in prepared.into_iter().enumerate() {
                    let dropped = if i == 0 { dropped } else { 0 };
                    fan_out(&mut lanes, &counters, prepared, dropped);
                }
            }
            // waiting happens in a task: a slow lane never stops the loop
            Msg::Flush(notify) => drain_lanes(&lanes, LaneMsg::Flush, notify),
            Msg::Shutdown(notify) => drain_lanes(&lanes, LaneMsg::Shutdown, notify),
        }
    }
}

/// Captures prepared in one go (one trip to the blocking pool).
const MAX_PREPARED_TOGETHER: usize = 64;

/// Hands one prepared report to every sink's lane; `dropped` reports were
/// lost before it.
fn fan_out(
    lanes: &mut [LaneTx],
    counters: &Counters,
    prepared: Result<Option<Delivery>, ()>,
    dropped: u64,
) {
    let delivery = match prepared {
        Ok(Some(delivery)) => delivery,
        Ok(None) => {
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            lanes.iter_mut().for_each(|l| l.unreported += dropped);
            return;
        }
        Err(()) => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            lanes.iter_mut().for_each(|l| l.unreported += dropped);
            return;
        }
    };
    let delivery = Arc::new(delivery);
    for (index, lane) in lanes.iter_mut().enumerate() {
        let lost = dropped + lane.unreported;
        let own = if lost == delivery.dropped_before() {
            Arc::clone(&delivery)
        } else {
            Arc::new(delivery.with_dropped_before(lost))
        };
        match lane.tx.try_send(LaneMsg::Deliver(own)) {
            Ok(()) => lane.unreported = 0,
            Err(_) => {
                counters.sinks[index]
                    .dropped
                    .fetch_add(1, Ordering::Relaxed);
                lane.unreported = lost + 1;
            }
        }
    }
}

/// Builds, filters and renders one report; `None` when an exclude matches.
fn prepare(captured: Captured, config: &Config) -> Option<Delivery> {
    let report = build_report(captured, config);
    let excluded_type = report.error.as_ref().is_some_and(|e| {
        config.exclude_types.iter().any(|t| {
            e.type_name == *t
                || e.type_name
                    .strip_prefix(t.as_str())
                    .is_some_and(|generics| generics.starts_with('<'))
        })
    });
    if excluded_type {
        return None;
    }
    let delivery = Delivery::new(report, config.trace_mode, 0);
    if config.exclude_text.is_empty() {
        return Some(delivery);
    }
    let full = delivery.render(TraceMode::Full);
    let excluded_text = config
        .exclude_text
        .iter()
        .any(|needle| full.contains(needle.as_str()));
    (!excluded_text).then_some(delivery)
}

/// Sends a marker down every lane (after what is queued there) and, in a
/// task of its own, waits until each lane has reached it, then notifies.
fn drain_lanes(lanes: &[LaneTx], marker: fn(oneshot::Sender<()>) -> LaneMsg, notify: Notify) {
    let lanes: Vec<mpsc::Sender<LaneMsg>> = lanes.iter().map(|l| l.tx.clone()).collect();
    tokio::spawn(async move {
        let mut waits = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let (tx, rx) = oneshot::channel();
            if lane.send(marker(tx)).await.is_ok() {
                waits.push(rx);
            }
        }
        for wait in waits {
            let _ = wait.await;
        }
        notify.done();
    });
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
        crate::diag::warn(format_args!(
            "sink {}: {what} ({failures} so far): {error}",
            counters.name
        ));
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
    // an event whose only content is an error field is titled by the error
    if let (true, Some(error)) = (message.is_empty(), &error) {
        message.clone_from(&error.message);
    }
    let frames = backtrace
        .map(|bt| frames::resolve(bt, &config.classifier, config.cwd.as_deref()))
        .unwrap_or_default();
    let mut report = Report {
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
    };
    report.bound();
    report
}
