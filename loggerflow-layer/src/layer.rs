//! [`LoggerFlowLayer`]: the `tracing` layer that captures events.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{self, Context, Layer};
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::capture::{Captured, FieldVisitor, Reentrancy, SpanFields, span_info};
use crate::pipeline::config::{Config, RetryPolicy, target_excluded};
use crate::pipeline::guard::FlushGuard;
use crate::pipeline::handle::Handle;
use crate::protocol::{Level, Report, ReportKind, SpanInfo, TraceMode};
use crate::sink::{Blocking, BlockingSink, Sink};

/// A `tracing` layer that turns events at or above a level (ERROR by
/// default) and panics into [`Report`](crate::Report)s, and ships them to
/// sinks from a background worker.
///
/// Made by [`LoggerFlowLayer::builder`]: every setting is made on the
/// builder, and [`build`](LoggerFlowBuilder::build) starts the worker with
/// them, so no setting can be changed once the layer runs.
///
/// Its level applies to this layer alone (it is a per-layer filter): other
/// layers, such as `fmt`, see exactly what they saw without it.
///
/// ```no_run
/// use loggerflow_layer::{LoggerFlowLayer, TraceMode, sink::FileSink};
/// use tracing_subscriber::prelude::*;
///
/// let layer = LoggerFlowLayer::builder("TestProj")
///     .sink(FileSink::new("test.log"))
///     .trace_mode(TraceMode::Clean)
///     .exclude("ValueError")
///     .build();
/// let _guard = layer.flush_guard();
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(layer)
///     .init();
///
/// tracing::error!(user_id = 7, "failed to load the user");
/// ```
pub struct LoggerFlowLayer<S = Registry> {
    inner: Filtered<Capture, CaptureFilter, S>,
}

impl<S> std::fmt::Debug for LoggerFlowLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerFlowLayer")
            .field("project", &self.inner.inner().handle.project())
            .finish_non_exhaustive()
    }
}

impl LoggerFlowLayer {
    /// A builder for the layer of the project (application) `project`, with
    /// no sinks yet.
    pub fn builder(project: impl Into<String>) -> LoggerFlowBuilder {
        LoggerFlowBuilder {
            config: Config::new(project.into()),
        }
    }
}

impl<S> LoggerFlowLayer<S> {
    /// The handle of this layer: capture by hand, flush, read the counters.
    pub fn handle(&self) -> Handle {
        self.inner.inner().handle.clone()
    }

    /// A guard that flushes when dropped; the last guard of the layer also
    /// shuts the sinks down (see [`FlushGuard`]). Bind it in `main`:
    /// `let _guard = layer.flush_guard();`.
    pub fn flush_guard(&self) -> FlushGuard {
        FlushGuard::new(self.handle())
    }
}

/// The settings of a [`LoggerFlowLayer`], made with
/// [`LoggerFlowLayer::builder`]. Each method changes one setting, in any
/// order; [`build`](Self::build) starts the layer's worker.
#[must_use = "a builder does nothing until `build()`"]
pub struct LoggerFlowBuilder {
    config: Config,
}

impl std::fmt::Debug for LoggerFlowBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerFlowBuilder")
            .field("project", &self.config.project)
            .finish_non_exhaustive()
    }
}

impl LoggerFlowBuilder {
    fn config(mut self, update: impl FnOnce(&mut Config)) -> Self {
        update(&mut self.config);
        self
    }

    /// Starts the layer's worker with these settings.
    pub fn build<S>(self) -> LoggerFlowLayer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter = CaptureFilter::from_config(&self.config);
        let handle = Handle::start(self.config);
        LoggerFlowLayer {
            inner: Filtered::new(Capture { handle }, filter),
        }
    }

    /// Adds a sink.
    pub fn sink(self, sink: impl Sink) -> Self {
        self.config(|c| c.sinks.push(Arc::new(sink)))
    }

    /// Adds a blocking sink; it runs on a blocking thread pool.
    pub fn blocking_sink(self, sink: impl BlockingSink) -> Self {
        self.config(|c| c.sinks.push(Arc::new(Blocking::new(sink))))
    }

    /// How sinks receive the trace (default [`TraceMode::Full`]).
    pub fn trace_mode(self, mode: TraceMode) -> Self {
        self.config(|c| c.trace_mode = mode)
    }

    /// The least severe event level captured (default ERROR): a [`Level`]
    /// or a `tracing::Level`.
    pub fn level(self, level: impl Into<Level>) -> Self {
        let level = level.into();
        self.config(|c| c.event_level = level.into())
    }

    /// The least severe span level recorded in span traces (default INFO).
    pub fn span_level(self, level: impl Into<Level>) -> Self {
        let level = level.into();
        self.config(|c| c.span_level = level.into())
    }

    /// Leaves out reports whose message or full trace contains `text`, or
    /// whose error type is named `text` (the model's `exclude`).
    pub fn exclude(self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.config(|c| {
            c.exclude_types.push(text.clone());
            c.exclude_text.push(text);
        })
    }

    /// Leaves out reports whose error's type is named `name`
    /// (`ParseIntError`, `io::Error`, `serde_json::Error`).
    pub fn exclude_error_type(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.config(|c| c.exclude_types.push(name))
    }

    /// Never captures events whose target is `target` or lies under it
    /// (`sqlx` excludes `sqlx::query` too). Decided once per callsite, so it
    /// costs nothing per event.
    pub fn exclude_target(self, target: impl Into<String>) -> Self {
        let target = target.into();
        self.config(|c| c.exclude_targets.push(target))
    }

    /// Edits, drops or samples each report before it is sent (sentry's
    /// `before_send`): return `false` to drop it (counted in
    /// [`Stats::filtered`](crate::Stats::filtered)).
    ///
    /// It runs on the layer's worker, never on the app's thread, after the
    /// excludes on the error type and before the report is rendered (so
    /// the text excludes and every sink see the edited report). A hook that
    /// panics loses that report (counted in `dropped`), never the worker.
    ///
    /// ```no_run
    /// use loggerflow_layer::LoggerFlowLayer;
    ///
    /// let layer: LoggerFlowLayer = LoggerFlowLayer::builder("shop")
    ///     .before_send(|report| {
    ///         // never send a password, wherever it was logged
    ///         if let Some(value) = report.fields.get_mut("password") {
    ///             *value = "[redacted]".into();
    ///         }
    ///         // and nothing from the health checks
    ///         !report.message.starts_with("health check")
    ///     })
    ///     .build();
    /// ```
    pub fn before_send(self, hook: impl Fn(&mut Report) -> bool + Send + Sync + 'static) -> Self {
        self.config(|c| c.before_send = Some(Arc::new(hook)))
    }

    /// Adds crates whose frames are yours (by name), on top of the default
    /// rules of [`Classifier`](crate::trace::classify::Classifier).
    pub fn your_crates<I, N>(self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.config(|c| c.classifier = c.classifier.clone().crates(names))
    }

    /// Replaces the rules that decide which frames are yours.
    pub fn yours_if(
        self,
        predicate: impl Fn(&crate::protocol::Frame) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config(|c| c.classifier = c.classifier.clone().predicate(predicate))
    }

    /// Whether `tracing` events carry a backtrace. Defaults to what
    /// `RUST_LIB_BACKTRACE` / `RUST_BACKTRACE` say; panics always carry one.
    pub fn with_backtrace(self, enabled: bool) -> Self {
        self.config(|c| c.backtrace = enabled)
    }

    /// Whether panics become reports (default `true`).
    pub fn capture_panics(self, enabled: bool) -> Self {
        self.config(|c| c.capture_panics = enabled)
    }

    /// The release (version) reports and the hello carry, e.g.
    /// `env!("CARGO_PKG_VERSION")` or a git hash. Default: the
    /// `LOGGERFLOW_RELEASE` environment variable, or none. The server
    /// remembers in which release each error was first and last seen, and
    /// which release a regression came back in.
    pub fn release(self, release: impl Into<String>) -> Self {
        let release = release.into().trim().to_owned();
        self.config(|c| c.release = (!release.is_empty()).then_some(release))
    }

    /// The environment the app runs in (`production`, `staging`, …), sent
    /// in the hello and in every report. Default: the
    /// `LOGGERFLOW_ENVIRONMENT` environment variable, or `production`.
    pub fn environment(self, environment: impl Into<String>) -> Self {
        let environment = environment.into().trim().to_owned();
        self.config(|c| {
            if !environment.is_empty() {
                c.environment = environment;
            }
        })
    }

    /// How many reports may wait for the worker (default 1024); beyond it
    /// reports are dropped and counted, never waited for.
    pub fn queue_capacity(self, capacity: usize) -> Self {
        self.config(|c| c.queue_capacity = capacity.max(1))
    }

    /// How sinks' failed deliveries are retried.
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.config(|c| c.retry = policy)
    }

    /// How long a [`FlushGuard`] waits when dropped (default 5 s).
    pub fn flush_timeout(self, timeout: Duration) -> Self {
        self.config(|c| c.flush_timeout = timeout)
    }

    /// How long a panic on the main thread waits for its report to be
    /// delivered before the process goes on ending (default 2 s).
    pub fn panic_flush_timeout(self, timeout: Duration) -> Self {
        self.config(|c| c.panic_flush_timeout = timeout)
    }
}

/// The layer inside the per-layer filter: copies events into captures.
pub(crate) struct Capture {
    handle: Handle,
}

/// The spans enclosing the current one, for captures made outside `on_event`.
fn current_spans<S>(dispatch: &Dispatch) -> Vec<SpanInfo>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(subscriber) = dispatch.downcast_ref::<S>() else {
        return Vec::new();
    };
    let current = subscriber.current_span();
    let Some(span) = current.id().and_then(|id| subscriber.span(id)) else {
        return Vec::new();
    };
    span.scope()
        .filter(|s| s.extensions().get::<SpanFields>().is_some())
        .map(|s| span_info(&s))
        .collect()
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        let _ = self.handle.core.span_lookup.set(current_spans::<S>);
        if self.handle.capture_panics() {
            crate::hook::install();
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        fields.format();
        // `replace`, not `insert`: a second LoggerFlowLayer records the same
        span.extensions_mut().replace(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // format before taking the span's lock: `Debug` impls are user code
        // and may log (which reads this span) or panic
        let mut more = SpanFields::default();
        values.record(&mut more);
        if more.is_empty() {
            return;
        }
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            fields.merge(more);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(_reentrancy) = Reentrancy::enter() else {
            return;
        };
        let handle = &self.handle;
        let meta = event.metadata();
        let mut captured = Captured::new(
            ReportKind::Event,
            (*meta.level()).into(),
            meta.target().into(),
        );
        captured.module = meta.module_path().map(Into::into);
        captured.file = meta.file().map(Into::into);
        captured.line = meta.line();
        event.record(&mut FieldVisitor {
            captured: &mut captured,
        });
        if let Some(scope) = ctx.event_scope(event) {
            captured.spans = scope.map(|span| span_info(&span)).collect();
        }
        if handle.core.config.backtrace {
            captured.backtrace = Some(backtrace::Backtrace::new_unresolved());
        }
        handle.submit(captured);
    }
}

/// The per-layer filter: events by level and target, spans by level.
#[derive(Clone)]
pub(crate) struct CaptureFilter {
    event_level: tracing::Level,
    span_level: tracing::Level,
    exclude_targets: Arc<[String]>,
}

impl CaptureFilter {
    fn from_config(config: &Config) -> Self {
        Self {
            event_level: config.event_level,
            span_level: config.span_level,
            exclude_targets: config.exclude_targets.clone().into(),
        }
    }

    fn decide(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            meta.level() <= &self.span_level
        } else {
            meta.level() <= &self.event_level
                && !target_excluded(&self.exclude_targets, meta.target())
        }
    }
}

impl<S> layer::Filter<S> for CaptureFilter {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        self.decide(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.decide(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(
            self.event_level.max(self.span_level),
        ))
    }
}

impl<S> Layer<S> for LoggerFlowLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // how `Handle::current` finds this layer's handle
        if id == TypeId::of::<Handle>() {
            return Some(&self.inner.inner().handle as *const Handle as *const ());
        }
        // SAFETY: forwarded unchanged to the per-layer filter, which answers
        // for itself, its filter id marker and the `Capture` layer inside.
        unsafe { self.inner.downcast_raw(id) }
    }
}
