//! The background worker: one thread running a tokio current-thread runtime,
//! with tracing switched off. It turns captures into reports (resolving and
//! classifying frames), applies the excludes, renders, and hands each
//! delivery to every sink's own lane. Each lane is a task with a bounded
//! queue that retries with backoff, so one bad sink never holds up another.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Dispatch;

use super::config::{Config, RetryPolicy};
use crate::capture::{Captured, suppress_thread};
use crate::protocol::Report;
use crate::sink::{
    Confirmation, Delivery, Ledger, Losses, Sink, SinkContext, SinkCounters, SinkError,
};
use crate::trace::TraceMode;
use crate::trace::frames;

/// A message from the app's threads to the worker.
///
/// Captures travel unboxed: boxing costs the app's thread an allocation and
/// the worker a cross-thread free, and reports are by far the common message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Report(Captured),
    Flush(Marker),
    Shutdown(Marker),
}

/// A flush (or shutdown) on its way: whom to tell, and until when it may
/// take.
pub(crate) struct Marker {
    notify: Notify,
    deadline: Instant,
}

impl Marker {
    pub(crate) fn new(notify: Notify, deadline: std::time::Instant) -> Self {
        Self {
            notify,
            deadline: Instant::from_std(deadline),
        }
    }
}

/// Tells a waiting caller that a flush finished, and whether every lane
/// (and every sink that confirms later) got there before the deadline.
pub(crate) enum Notify {
    Blocking(std::sync::mpsc::SyncSender<bool>),
    Async(oneshot::Sender<bool>),
}

impl Notify {
    fn done(self, ok: bool) {
        match self {
            Notify::Blocking(tx) => {
                let _ = tx.try_send(ok);
            }
            Notify::Async(tx) => {
                let _ = tx.send(ok);
            }
        }
    }
}

/// Counters of the whole pipeline.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) captured: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) excluded: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) sinks: Vec<Arc<SinkCounters>>,
    /// Reports lost anywhere, by capture seq.
    pub(crate) losses: Arc<Losses>,
}

/// A flush reaching one lane: answered with whether the lane (and its sink,
/// when it confirms later) got there before the deadline.
struct LaneMarker {
    done: oneshot::Sender<bool>,
    deadline: Instant,
}

enum LaneMsg {
    Deliver(Arc<Delivery>),
    Flush(LaneMarker),
    Shutdown(LaneMarker),
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
    let names: Vec<String> = config.sinks.iter().map(|s| s.name().into_owned()).collect();
    let mut lanes: Vec<LaneTx> = config
        .sinks
        .iter()
        .enumerate()
        .map(|(index, sink)| {
            let context = SinkContext {
                project: config.project.clone(),
                trace_mode: config.trace_mode,
                release: config.release.clone(),
                environment: config.environment.clone(),
                ledger: Ledger::new(
                    Arc::clone(&counters.sinks[index]),
                    Arc::clone(&counters.losses),
                ),
                sinks: names.clone(),
            };
            let starting = Arc::clone(sink);
            tokio::spawn(async move { starting.start(&context).await });
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            tokio::spawn(lane(
                Arc::clone(sink),
                rx,
                config.retry,
                Arc::clone(&counters.sinks[index]),
                Arc::clone(&counters.losses),
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
                let with_stack = captures.iter().any(|c| c.backtrace.is_some());
                // (for the blocking pool's failure only: its reports are lost)
                let seqs: Vec<u64> = if with_stack {
                    captures.iter().map(|c| c.seq).collect()
                } else {
                    Vec::new()
                };
                let shared = Arc::clone(&config);
                let prepare_all = move || -> Vec<Result<Prepared, u64>> {
                    // user code runs here (the `yours_if` predicate): a
                    // panic loses that report, never the worker
                    captures
                        .into_iter()
                        .map(|captured| {
                            let seq = captured.seq;
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                prepare(captured, &shared)
                            }))
                            .map_err(|_| seq)
                        })
                        .collect()
                };
                // resolving stacks' symbols takes milliseconds: it runs on
                // the blocking pool, so the lifecycle's heartbeats on this
                // runtime keep their cadence through a burst of errors
                let prepared = if with_stack {
                    tokio::task::spawn_blocking(prepare_all)
                        .await
                        .unwrap_or_else(|_| seqs.into_iter().map(Err).collect())
                } else {
                    prepare_all()
                };
                for (i, prepared) in prepared.into_iter().enumerate() {
                    let dropped = if i == 0 { dropped } else { 0 };
                    fan_out(&mut lanes, &counters, prepared, dropped);
                }
            }
            // waiting happens in a task: a slow lane never stops the loop
            Msg::Flush(marker) => drain_lanes(&lanes, LaneMsg::Flush, marker),
            Msg::Shutdown(marker) => drain_lanes(&lanes, LaneMsg::Shutdown, marker),
        }
    }
}

/// Captures prepared in one go (one trip to the blocking pool).
const MAX_PREPARED_TOGETHER: usize = 64;

/// Hands one prepared report to every sink's lane; `dropped` reports were
/// lost before it. `Err(seq)`: preparing the report captured as `seq`
/// panicked.
fn fan_out(
    lanes: &mut [LaneTx],
    counters: &Counters,
    prepared: Result<Prepared, u64>,
    dropped: u64,
) {
    let delivery = match prepared {
        Ok(Prepared::Deliver(delivery)) => delivery,
        Ok(Prepared::Excluded) => {
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            lanes.iter_mut().for_each(|l| l.unreported += dropped);
            return;
        }
        Ok(Prepared::Filtered) => {
            counters.filtered.fetch_add(1, Ordering::Relaxed);
            lanes.iter_mut().for_each(|l| l.unreported += dropped);
            return;
        }
        Err(seq) => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            counters.losses.record(seq);
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
                counters.losses.record(delivery.seq());
                lane.unreported = lost + 1;
            }
        }
    }
}

/// What became of one capture on the worker (short-lived, never stored:
/// boxing the delivery would cost an allocation per report).
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Deliver(Delivery),
    /// An exclude matched.
    Excluded,
    /// The `before_send` hook dropped it.
    Filtered,
}

/// Builds, filters and renders one report: the excludes on its error type,
/// the `before_send` hook, then the excludes on its text.
fn prepare(captured: Captured, config: &Config) -> Prepared {
    let seq = captured.seq;
    let mut report = build_report(captured, config);
    if report
        .error
        .as_ref()
        .is_some_and(|e| config.excluded_type(&e.type_name))
    {
        return Prepared::Excluded;
    }
    if let Some(before_send) = &config.before_send {
        if !before_send(&mut report) {
            return Prepared::Filtered;
        }
        // the hook may have grown it
        report.bound();
    }
    let delivery = Delivery::new(report, config.trace_mode, seq);
    if config.exclude_text.is_empty() {
        return Prepared::Deliver(delivery);
    }
    let full = delivery.render(TraceMode::Full);
    let excluded_text = config
        .exclude_text
        .iter()
        .any(|needle| full.contains(needle.as_str()));
    if excluded_text {
        Prepared::Excluded
    } else {
        Prepared::Deliver(delivery)
    }
}

/// Sends a marker down every lane (after what is queued there) and, in a
/// task of its own, waits until each lane answered or the deadline passed,
/// then tells the caller whether every lane got there in time. (Whether a
/// report was lost on the way is read from [`Losses`](crate::sink::Losses)
/// by the caller, by capture seq.)
fn drain_lanes(lanes: &[LaneTx], marker: fn(LaneMarker) -> LaneMsg, flush: Marker) {
    let lanes: Vec<mpsc::Sender<LaneMsg>> = lanes.iter().map(|l| l.tx.clone()).collect();
    let Marker { notify, deadline } = flush;
    tokio::spawn(async move {
        let mut waits = Vec::with_capacity(lanes.len());
        let mut ok = true;
        for lane in &lanes {
            let (done, answer) = oneshot::channel();
            let sent =
                tokio::time::timeout_at(deadline, lane.send(marker(LaneMarker { done, deadline })));
            match sent.await {
                Ok(Ok(())) => waits.push(answer),
                _ => ok = false,
            }
        }
        for wait in waits {
            ok &= matches!(tokio::time::timeout_at(deadline, wait).await, Ok(Ok(true)));
        }
        notify.done(ok);
    });
}

async fn lane(
    sink: Arc<dyn Sink>,
    mut rx: mpsc::Receiver<LaneMsg>,
    retry: RetryPolicy,
    counters: Arc<SinkCounters>,
    losses: Arc<Losses>,
) {
    let later = sink.confirmation() == Confirmation::Later;
    while let Some(msg) = rx.recv().await {
        match msg {
            LaneMsg::Deliver(delivery) => {
                let seq = delivery.seq();
                if deliver(&sink, delivery, retry, &counters).await {
                    if !later {
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    losses.record(seq);
                }
            }
            // every earlier delivery was handed over; a sink that confirms
            // later is waited for in a task (deliveries go on meanwhile)
            LaneMsg::Flush(LaneMarker { done, deadline }) => {
                if later {
                    let sink = Arc::clone(&sink);
                    tokio::spawn(async move {
                        let flushed = tokio::time::timeout_at(deadline, sink.flush()).await;
                        let _ = done.send(matches!(flushed, Ok(Ok(()))));
                    });
                } else {
                    let _ = done.send(true);
                }
            }
            LaneMsg::Shutdown(LaneMarker { done, deadline }) => {
                let mut ok = true;
                if later {
                    // a quarter of the time left is kept for the goodbye
                    let left = deadline.saturating_duration_since(Instant::now());
                    let flush_until = deadline - left / 4;
                    let flushed = tokio::time::timeout_at(flush_until, sink.flush()).await;
                    ok &= matches!(flushed, Ok(Ok(())));
                }
                let sink = Arc::clone(&sink);
                let task = tokio::spawn(async move { sink.shutdown().await });
                let limit = deadline
                    .saturating_duration_since(Instant::now())
                    .min(retry.attempt_timeout);
                if let Err(error) = outcome(task, limit, &counters).await {
                    counters.note_failure("shutdown failed", &error);
                    ok = false;
                }
                let _ = done.send(ok);
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

/// Hands `delivery` to the sink, retrying as the policy says; whether it
/// succeeded.
async fn deliver(
    sink: &Arc<dyn Sink>,
    delivery: Arc<Delivery>,
    retry: RetryPolicy,
    counters: &SinkCounters,
) -> bool {
    let mut attempt = 0u32;
    loop {
        let task = {
            let sink = Arc::clone(sink);
            let delivery = Arc::clone(&delivery);
            tokio::spawn(async move { sink.send(&delivery).await })
        };
        match outcome(task, retry.attempt_timeout, counters).await {
            Ok(()) => return true,
            Err(error) => match retry.delay(attempt, &error) {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    counters.note_failure("gave up on a report", &error);
                    return false;
                }
            },
        }
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
        seq: _,
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
        environment: Some(config.environment.clone()),
    };
    report.bound();
    report
}
