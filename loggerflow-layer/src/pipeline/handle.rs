//! [`Handle`]: capture by hand, flush, shut down and read the counters.

use std::any::Any;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::error::Error;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::Dispatch;

use super::config::Config;
use super::worker::{self, Counters, Marker, Msg, Notify};
use crate::capture::{Captured, Reentrancy, error_info, panic_message};
use crate::protocol::{Level, ReportId, ReportKind, SpanInfo};
use crate::sink::SinkCounters;

/// Finds the spans enclosing the current one in a dispatcher's registry.
pub(crate) type SpanLookup = fn(&Dispatch) -> Vec<SpanInfo>;

pub(crate) struct Core {
    pub(crate) config: Arc<Config>,
    tx: Option<mpsc::Sender<Msg>>,
    counters: Arc<Counters>,
    pub(crate) span_lookup: OnceLock<SpanLookup>,
    /// Panics the hook reported lately: (message, id, when).
    recent_panics: Mutex<VecDeque<(String, ReportId, Instant)>>,
    /// Flush guards alive: the last one dropped shuts the sinks down.
    pub(crate) guards: AtomicUsize,
    /// The seq of the last capture (the first is 1).
    last_seq: AtomicU64,
    /// This layer, among the layers of the process (for the threads'
    /// flush marks).
    id: u64,
    /// The shutdown was asked for (it happens once).
    shut_down: AtomicBool,
}

/// A cheap, cloneable handle to a layer's pipeline.
///
/// Get one from [`LoggerFlowLayer::handle`](crate::LoggerFlowLayer::handle),
/// or from anywhere with [`Handle::current`]. Every capture method is
/// non-blocking (it only copies and enqueues), so it is as safe in async code
/// as in sync code, and returns the id the report will carry when it was
/// queued.
#[derive(Clone)]
pub struct Handle {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("project", &self.core.config.project)
            .finish_non_exhaustive()
    }
}

/// Counters of one sink, as read by [`Handle::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Reports delivered: for a sink that confirms later (the lifecycle
    /// sinks), acknowledged by the server, not merely buffered.
    pub delivered: u64,
    /// Reports given up on: after the retries, or (a lifecycle sink)
    /// dropped from its full buffer or refused by the server for good.
    pub failed: u64,
    /// Reports dropped because the sink's own queue was full.
    pub dropped: u64,
    /// Attempts that panicked.
    pub panicked: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Counters of a layer's pipeline, as read by [`Handle::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reports captured (events, panics and manual captures).
    pub captured: u64,
    /// Reports lost before any sink: the layer's queue was full, or the
    /// `before_send` hook or a `yours_if` predicate panicked on them.
    pub dropped: u64,
    /// Reports left out by an exclude.
    pub excluded: u64,
    /// Reports the `before_send` hook dropped.
    pub filtered: u64,
    /// Per sink, in the order they were added.
    pub sinks: Vec<SinkStats>,
}

impl Handle {
    /// Starts the worker for `config`.
    pub(crate) fn start(config: Config) -> Self {
        let config = Arc::new(config);
        let counters = Arc::new(Counters {
            sinks: config
                .sinks
                .iter()
                .map(|s| {
                    Arc::new(SinkCounters {
                        name: s.name().into_owned(),
                        ..SinkCounters::default()
                    })
                })
                .collect(),
            ..Counters::default()
        });
        let tx = match worker::spawn(Arc::clone(&config), Arc::clone(&counters)) {
            Ok(tx) => Some(tx),
            Err(error) => {
                crate::diag::warn(format_args!(
                    "cannot start the delivery worker, reports will be dropped: {error}"
                ));
                None
            }
        };
        Self {
            core: Arc::new(Core {
                config,
                tx,
                counters,
                span_lookup: OnceLock::new(),
                recent_panics: Mutex::new(VecDeque::new()),
                guards: AtomicUsize::new(0),
                last_seq: AtomicU64::new(0),
                id: NEXT_LAYER.fetch_add(1, Ordering::Relaxed),
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    /// The handle of the layer in the current dispatcher (the thread's scoped
    /// one, else the global one), if it has a `LoggerFlowLayer`.
    pub fn current() -> Option<Handle> {
        // the layer answers a downcast to `Handle` with its own
        tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<Handle>().cloned())
    }

    /// The project name reports carry.
    pub fn project(&self) -> &str {
        &self.core.config.project
    }

    pub(crate) fn capture_panics(&self) -> bool {
        self.core.config.capture_panics
    }

    pub(crate) fn panic_flush_timeout(&self) -> Duration {
        self.core.config.panic_flush_timeout
    }

    /// Enqueues a capture; counts it as dropped when the queue is full.
    /// Its id when it was queued.
    pub(crate) fn submit(&self, mut captured: Captured) -> Option<ReportId> {
        let id = captured.id;
        let seq = self.core.last_seq.fetch_add(1, Ordering::Relaxed) + 1;
        captured.seq = seq;
        self.core.counters.captured.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .core
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(Msg::Report(captured)).is_ok());
        if sent {
            Some(id)
        } else {
            self.core.counters.dropped.fetch_add(1, Ordering::Relaxed);
            self.core.counters.losses.record(seq);
            None
        }
    }

    fn manual(
        &self,
        kind: ReportKind,
        level: Level,
        file: Option<Cow<'static, str>>,
        line: Option<u32>,
    ) -> Captured {
        let target = match kind {
            ReportKind::Panic => "panic",
            ReportKind::Event => "loggerflow::capture",
        };
        let mut captured = Captured::new(kind, level, Cow::Borrowed(target));
        captured.file = file;
        captured.line = line;
        if self.core.config.backtrace || kind == ReportKind::Panic {
            captured.backtrace = Some(backtrace::Backtrace::new_unresolved());
        }
        if let Some(lookup) = self.core.span_lookup.get() {
            captured.spans = tracing::dispatcher::get_default(lookup);
        }
        captured
    }

    /// Captures an error with its chain of sources, at level ERROR.
    ///
    /// For code that handles errors itself (an axum error type, a failed
    /// tokio task): the model's `send_traceback`.
    ///
    /// The report's id when it was queued; `None` when it was not: the
    /// queue was full, its error type is excluded, or the call came from
    /// LoggerFlow's own threads (a sink), where nothing is captured. A
    /// queued report may still be left out later by an exclude on its text
    /// or by the `before_send` hook.
    #[track_caller]
    pub fn capture_error<E>(&self, error: &E) -> Option<ReportId>
    where
        E: Error + ?Sized + 'static,
    {
        self.capture_error_at(error, Location::caller())
    }

    /// Captures a message at `level` (a [`Level`], or a `tracing::Level`).
    /// The id when it was queued (see [`capture_error`](Self::capture_error)).
    #[track_caller]
    pub fn capture_message(
        &self,
        message: impl Into<String>,
        level: impl Into<Level>,
    ) -> Option<ReportId> {
        self.capture_message_at(message.into(), level.into(), Location::caller())
    }

    /// Captures a panic from its payload, as returned by
    /// `std::panic::catch_unwind` or `tokio::task::JoinError::into_panic`.
    ///
    /// When the panic hook already reported this panic (same message, in
    /// the last 30 s), no second report is made: the hook's id is returned.
    /// Otherwise the id when it was queued (see
    /// [`capture_error`](Self::capture_error)).
    #[track_caller]
    pub fn capture_panic(&self, payload: &(dyn Any + Send)) -> Option<ReportId> {
        self.capture_panic_at(payload, Location::caller())
    }

    fn capture_error_at<E>(
        &self,
        error: &E,
        location: &'static Location<'static>,
    ) -> Option<ReportId>
    where
        E: Error + ?Sized + 'static,
    {
        let _reentrancy = Reentrancy::enter()?;
        let type_name = std::any::type_name::<E>();
        // for `dyn Error` the type is only known from its Debug output
        let type_name = (!type_name.starts_with("dyn ")).then_some(type_name);
        let info = error_info(&DynError(error), type_name);
        if self.core.config.excluded_type(&info.type_name) {
            let counters = &self.core.counters;
            counters.captured.fetch_add(1, Ordering::Relaxed);
            counters.excluded.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut captured = self.manual(
            ReportKind::Event,
            Level::Error,
            at(location),
            Some(location.line()),
        );
        // the worker titles it with the error's message
        captured.error = Some(info);
        self.submit(captured)
    }

    fn capture_message_at(
        &self,
        message: String,
        level: Level,
        location: &'static Location<'static>,
    ) -> Option<ReportId> {
        let _reentrancy = Reentrancy::enter()?;
        let mut captured = self.manual(
            ReportKind::Event,
            level,
            at(location),
            Some(location.line()),
        );
        captured.message = message;
        self.submit(captured)
    }

    fn capture_panic_at(
        &self,
        payload: &(dyn Any + Send),
        location: &'static Location<'static>,
    ) -> Option<ReportId> {
        let _reentrancy = Reentrancy::enter()?;
        let message = panic_message(payload);
        if let Some(id) = self.recent_panic(&message) {
            return Some(id);
        }
        let mut captured = self.manual(
            ReportKind::Panic,
            Level::Error,
            at(location),
            Some(location.line()),
        );
        captured.message = message;
        self.submit(captured)
    }

    /// Captures a panic where it happened (called by the panic hook).
    pub(crate) fn capture_panic_from_hook(
        &self,
        payload: &(dyn Any + Send),
        file: Option<String>,
        line: Option<u32>,
    ) -> Option<ReportId> {
        let _reentrancy = Reentrancy::enter()?;
        let mut captured = self.manual(ReportKind::Panic, Level::Error, file.map(Cow::Owned), line);
        captured.message = panic_message(payload);
        let message = captured.message.clone();
        let id = self.submit(captured)?;
        // remembered (when queued), so that a supervisor handing the same
        // panic over by hand (a tokio JoinError) does not report it twice
        if let Ok(mut recent) = self.core.recent_panics.try_lock() {
            if recent.len() >= 16 {
                recent.pop_front();
            }
            recent.push_back((message, id, Instant::now()));
        }
        Some(id)
    }

    fn recent_panic(&self, message: &str) -> Option<ReportId> {
        let recent = self.core.recent_panics.try_lock().ok()?;
        recent
            .iter()
            .rev()
            .find(|(m, _, at)| m == message && at.elapsed() < Duration::from_secs(30))
            .map(|(_, id, _)| *id)
    }

    /// Waits until every report captured before the call was delivered by
    /// every sink (for the lifecycle sinks: acknowledged by the server), or
    /// `timeout` passed.
    ///
    /// Returns `true` when every report captured (on any thread) since this
    /// thread's previous flush that answered, or since the start, made it:
    /// delivered, or left out on purpose (an exclude, the `before_send`
    /// hook). `false` when the timeout passed first (the next flush then
    /// answers for these reports too), or when one of them was lost on the
    /// way (a full queue, a sink that gave up, a report the server
    /// refused). Reports are told apart by the order they were captured in;
    /// each thread keeps its own mark, so one thread's flush never takes a
    /// loss away from another's.
    ///
    /// Blocks the calling thread: in async code use [`Handle::flush_async`].
    pub fn flush(&self, timeout: Duration) -> bool {
        let window = self.window();
        let reply = self.wait_blocking(Msg::Flush, timeout);
        self.answer(window, reply, false)
    }

    /// [`Handle::flush`] for async code: never blocks the runtime. Call it
    /// within a tokio runtime (it times out with tokio's timer).
    pub async fn flush_async(&self, timeout: Duration) -> bool {
        let window = self.window();
        let reply = self.wait_async(Msg::Flush, timeout).await;
        self.answer(window, reply, false)
    }

    /// Flushes, then lets each sink finish (a lifecycle sink says goodbye).
    /// Returns what [`flush`](Self::flush) returns, and `false` when a sink
    /// could not finish within `timeout`. Call it within a tokio runtime.
    ///
    /// The sinks shut down once per layer: a later call (or the last
    /// [`FlushGuard`](crate::FlushGuard) dropped after it) only flushes.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        if self.core.shut_down.swap(true, Ordering::AcqRel) {
            return self.flush_async(timeout).await;
        }
        let window = self.window();
        let reply = self.wait_async(Msg::Shutdown, timeout).await;
        self.answer(window, reply, true)
    }

    /// [`Handle::shutdown`] for the flush guard: blocks.
    pub(crate) fn shutdown_blocking(&self, timeout: Duration) -> bool {
        if self.core.shut_down.swap(true, Ordering::AcqRel) {
            return self.flush(timeout);
        }
        let window = self.window();
        let reply = self.wait_blocking(Msg::Shutdown, timeout);
        self.answer(window, reply, true)
    }

    /// The captures a flush called now answers for: after this thread's
    /// last answered flush, up to the last capture so far.
    fn window(&self) -> (u64, u64) {
        (
            self.flushed_here(),
            self.core.last_seq.load(Ordering::Acquire),
        )
    }

    /// What a flush (or shutdown) about `window` returns, given the
    /// worker's reply: `None` when its marker was never queued (a shutdown
    /// is then left for a later call), else whether every lane got there in
    /// time. When it did, the answer reaches the caller: whether none of
    /// the window's reports was lost, and this thread's next flush answers
    /// from the window's end on.
    fn answer(&self, (since, upto): (u64, u64), reply: Option<bool>, shutting: bool) -> bool {
        match reply {
            None => {
                if shutting {
                    self.core.shut_down.store(false, Ordering::Release);
                }
                false
            }
            Some(false) => false,
            Some(true) => {
                let lost = self.core.counters.losses.any_between(since, upto);
                self.set_flushed_here(upto);
                !lost
            }
        }
    }

    /// The last capture this thread's latest answered flush of this layer
    /// was about (0: none yet). Each thread keeps its own mark, so a flush
    /// on one thread never takes a loss away from another thread's next
    /// flush.
    fn flushed_here(&self) -> u64 {
        FLUSHED
            .try_with(|marks| {
                marks
                    .borrow()
                    .iter()
                    .find(|(layer, _)| *layer == self.core.id)
                    .map_or(0, |(_, upto)| *upto)
            })
            .unwrap_or(0)
    }

    fn set_flushed_here(&self, upto: u64) {
        let _ = FLUSHED.try_with(|marks| {
            let mut marks = marks.borrow_mut();
            match marks.iter_mut().find(|(layer, _)| *layer == self.core.id) {
                Some((_, mark)) => *mark = (*mark).max(upto),
                None => {
                    // a few layers per process: forgetting the oldest mark
                    // only makes its next flush answer for more
                    if marks.len() >= 16 {
                        marks.remove(0);
                    }
                    marks.push((self.core.id, upto));
                }
            }
        });
    }

    pub(crate) fn flush_timeout(&self) -> Duration {
        self.core.config.flush_timeout
    }

    /// Sends the marker and waits for the answer: `None` when the marker
    /// could not even be queued, else whether every lane got there in time.
    fn wait_blocking(&self, msg: fn(Marker) -> Msg, timeout: Duration) -> Option<bool> {
        // on the worker's own threads (a sink flushing) waiting would wait
        // on itself until the timeout
        if crate::capture::suppressed() {
            return None;
        }
        let tx = self.core.tx.as_ref()?;
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let deadline = deadline_after(timeout);
        let mut msg = msg(Marker::new(Notify::Blocking(done_tx), deadline));
        // the queue may be full: retry until there is room or time runs out
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return None,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        Some(done_rx.recv_timeout(left).unwrap_or(false))
    }

    async fn wait_async(&self, msg: fn(Marker) -> Msg, timeout: Duration) -> Option<bool> {
        let tx = self.core.tx.as_ref()?;
        let (done_tx, done_rx) = oneshot::channel();
        let deadline = deadline_after(timeout);
        let until = tokio::time::Instant::from_std(deadline);
        let sent = tokio::time::timeout_at(
            until,
            tx.send(msg(Marker::new(Notify::Async(done_tx), deadline))),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return None;
        }
        let answer = tokio::time::timeout_at(until, done_rx).await;
        Some(matches!(answer, Ok(Ok(true))))
    }

    /// Reports dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.core.counters.dropped.load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn stats(&self) -> Stats {
        let c = &self.core.counters;
        Stats {
            captured: c.captured.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            excluded: c.excluded.load(Ordering::Relaxed),
            filtered: c.filtered.load(Ordering::Relaxed),
            sinks: c
                .sinks
                .iter()
                .map(|s| SinkStats {
                    name: s.name.clone(),
                    delivered: s.delivered.load(Ordering::Relaxed),
                    failed: s.failed.load(Ordering::Relaxed),
                    dropped: s.dropped.load(Ordering::Relaxed),
                    panicked: s.panicked.load(Ordering::Relaxed),
                    last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
                })
                .collect(),
        }
    }
}

/// Where the layers of the process are numbered.
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Per layer (by id), the last capture this thread's latest answered
    /// flush was about.
    static FLUSHED: std::cell::RefCell<Vec<(u64, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `timeout` from now, or far in the future when that is beyond what an
/// `Instant` holds (`Duration::MAX`: "as long as it takes").
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

fn at(location: &'static Location<'static>) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(location.file()))
}

/// Lets an unsized `E` be seen as `&dyn Error + 'static`.
struct DynError<'a, E: ?Sized>(&'a E);

impl<E: Error + ?Sized> std::fmt::Debug for DynError<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl<E: Error + ?Sized> std::fmt::Display for DynError<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.0, f)
    }
}

impl<E: Error + ?Sized> Error for DynError<'_, E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Captures an error through the current dispatcher's layer (see
/// [`Handle::capture_error`]); `None` when no `LoggerFlowLayer` is installed
/// or the report was not queued.
#[track_caller]
pub fn capture_error<E>(error: &E) -> Option<ReportId>
where
    E: Error + ?Sized + 'static,
{
    let location = Location::caller();
    Handle::current().and_then(|h| h.capture_error_at(error, location))
}

/// Captures a message through the current dispatcher's layer (see
/// [`Handle::capture_message`]); `None` when no `LoggerFlowLayer` is
/// installed or the report was not queued.
#[track_caller]
pub fn capture_message(message: impl Into<String>, level: impl Into<Level>) -> Option<ReportId> {
    let location = Location::caller();
    Handle::current().and_then(|h| h.capture_message_at(message.into(), level.into(), location))
}

/// Captures a panic payload through the current dispatcher's layer (see
/// [`Handle::capture_panic`]); `None` when no `LoggerFlowLayer` is
/// installed or the report was not queued.
#[track_caller]
pub fn capture_panic(payload: &(dyn Any + Send)) -> Option<ReportId> {
    let location = Location::caller();
    Handle::current().and_then(|h| h.capture_panic_at(payload, location))
}
