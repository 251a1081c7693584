//! [`TracebackBacklighter`]: panics and errors printed in the terminal with
//! your own frames lit (the model's `TracebackBacklighter`).
//!
//! Unlike the Python version it never touches stdout or stderr except to
//! print a panic or an error you asked it to print.
//!
//! ```no_run
//! use loggerflow_layer::{Backlight, Color, TracebackBacklighter};
//!
//! TracebackBacklighter::new()
//!     .backlight(Backlight::MyLine)
//!     .color(Color::Red)
//!     .install();
//! ```

mod error;
mod page;
mod style;

use std::borrow::Cow;
use std::error::Error;
use std::panic::PanicHookInfo;
use std::sync::{Arc, RwLock};

use backtrace::Backtrace;
use tracing_error::SpanTrace;

pub use error::BacklitError;
pub use style::{Backlight, Color, colour_wanted};

use crate::capture::error_info;
use crate::capture::panic_message;
use crate::hook::PanicPrinter;
use crate::pipeline::handle::Handle;
use crate::protocol::{Frame, Report, ReportKind, SpanInfo};
use crate::sink::{BlockingSink, Delivery, SinkError};
use crate::trace::classify::Classifier;
use crate::trace::frames;
use page::{Page, Spans, render};
use style::{Palette, backtrace_wanted};

static INSTALLED: RwLock<Option<Arc<TracebackBacklighter>>> = RwLock::new(None);

/// Prints panics (as a panic hook) and errors (on request) with your frames
/// bold and coloured, dependency frames dim, the span trace, and the source
/// line of each of your frames.
///
/// Colour follows `NO_COLOR`, `FORCE_COLOR` and whether stderr is a
/// terminal ([`colour_wanted`]); backtraces follow `RUST_BACKTRACE` (panics)
/// and `RUST_LIB_BACKTRACE` (errors) unless set with
/// [`with_backtrace`](Self::with_backtrace). The span trace comes from
/// `tracing_error::ErrorLayer` when it is installed (shown by
/// `color-spantrace`), else from a `LoggerFlowLayer`.
///
/// It is also a [`BlockingSink`]: add it to a layer with
/// `.blocking_sink(TracebackBacklighter::new())` to see every captured
/// `error!` backlit on stderr during development.
#[derive(Debug, Clone)]
pub struct TracebackBacklighter {
    backlight: Backlight,
    color: Color,
    backtrace: Option<bool>,
    colored: Option<bool>,
    classifier: Classifier,
}

impl Default for TracebackBacklighter {
    fn default() -> Self {
        Self::new()
    }
}

impl TracebackBacklighter {
    /// `Backlight::MyLine` in red, colour and backtraces as the environment says.
    pub fn new() -> Self {
        Self {
            backlight: Backlight::MyLine,
            color: Color::Red,
            backtrace: None,
            colored: None,
            classifier: Classifier::new(),
        }
    }

    /// Which frames to light.
    #[must_use]
    pub fn backlight(mut self, backlight: Backlight) -> Self {
        self.backlight = backlight;
        self
    }

    /// The colour of your frames.
    #[must_use]
    pub fn color(mut self, color: Color) -> Self {
        self.color = color;
        self
    }

    /// Captures a backtrace (or not) whatever `RUST_BACKTRACE` says.
    #[must_use]
    pub fn with_backtrace(mut self, enabled: bool) -> Self {
        self.backtrace = Some(enabled);
        self
    }

    /// Colour on or off whatever the environment and the terminal say.
    #[must_use]
    pub fn colored(mut self, enabled: bool) -> Self {
        self.colored = Some(enabled);
        self
    }

    /// Adds crates (by name) whose frames are yours, as
    /// [`Classifier::crates`].
    #[must_use]
    pub fn your_crates<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.classifier = self.classifier.crates(names);
        self
    }

    /// Installs it as the panic printer (replacing any installed before).
    ///
    /// LoggerFlow keeps one panic hook for capture and printing. It chains
    /// the hook that was installed before it, except Rust's default hook,
    /// whose message this replaces. The default hook is recognised as a hook
    /// that keeps no state (a zero-sized closure or function): a stateless
    /// hook of your own is replaced too, so install it after this one.
    pub fn install(self) {
        let installed = Arc::new(self);
        if let Ok(mut slot) = INSTALLED.write() {
            *slot = Some(Arc::clone(&installed));
        }
        crate::hook::set_printer(installed);
    }

    /// The installed backlighter, if any.
    pub(crate) fn installed() -> Option<Arc<TracebackBacklighter>> {
        INSTALLED.read().ok().and_then(|b| b.clone())
    }

    fn palette(&self) -> Palette {
        let colored = self.colored.unwrap_or_else(colour_wanted);
        Palette::new(self.backlight, self.color, colored)
    }

    fn frames(&self, var: &str) -> Option<Vec<Frame>> {
        let wanted = self.backtrace.unwrap_or_else(|| backtrace_wanted(var));
        wanted.then(|| {
            let cwd = std::env::current_dir().ok();
            frames::resolve(
                Backtrace::new_unresolved(),
                &self.classifier,
                cwd.as_deref(),
            )
        })
    }

    /// The text printed for a panic.
    fn render_panic_page(&self, info: &PanicHookInfo<'_>) -> String {
        let message = panic_message(info.payload());
        let location = info.location().map(|l| (l.file(), Some(l.line())));
        let span_trace = SpanTrace::capture();
        let infos = fallback_spans(&span_trace);
        let frames = self.frames("RUST_BACKTRACE");
        let page = Page {
            headline: Some("The application panicked (crashed)."),
            message: &message,
            location,
            sources: &[],
            spans: spans(&span_trace, &infos),
            frames: frames.as_deref(),
            backtrace_var: "RUST_BACKTRACE",
        };
        render(&page, self.backlight, &self.palette())
    }

    /// Renders `error` with its chain of sources, the current span trace and
    /// (when enabled) a backtrace taken here.
    #[track_caller]
    pub fn render_error(&self, error: &dyn Error) -> String {
        let location = std::panic::Location::caller();
        let info = error_info(error, None);
        let span_trace = SpanTrace::capture();
        let infos = fallback_spans(&span_trace);
        let frames = self.frames("RUST_LIB_BACKTRACE");
        let page = Page {
            headline: Some("Error"),
            message: &info.message,
            location: Some((location.file(), Some(location.line()))),
            sources: &info.sources,
            spans: spans(&span_trace, &infos),
            frames: frames.as_deref(),
            backtrace_var: "RUST_LIB_BACKTRACE",
        };
        render(&page, self.backlight, &self.palette())
    }

    /// Renders a report captured by a `LoggerFlowLayer`.
    pub fn render_report(&self, report: &Report) -> String {
        let headline = match report.kind {
            ReportKind::Panic => format!("[{}] The application panicked.", report.project),
            ReportKind::Event => {
                format!("[{}] {} in {}", report.project, report.level, report.target)
            }
        };
        let sources = report
            .error
            .as_ref()
            .map(|e| Cow::Borrowed(e.sources.as_slice()))
            .unwrap_or_default();
        let page = Page {
            headline: Some(&headline),
            message: &report.title(),
            location: report.file.as_deref().map(|f| (f, report.line)),
            sources: &sources,
            spans: Spans::Infos(&report.spans),
            frames: (!report.frames.is_empty()).then_some(report.frames.as_slice()),
            backtrace_var: "RUST_LIB_BACKTRACE",
        };
        render(&page, self.backlight, &self.palette())
    }
}

/// Spans from a `LoggerFlowLayer` when no `ErrorLayer` captured a trace.
impl PanicPrinter for TracebackBacklighter {
    fn render_panic(&self, info: &PanicHookInfo<'_>) -> String {
        self.render_panic_page(info)
    }
}

fn fallback_spans(span_trace: &SpanTrace) -> Vec<SpanInfo> {
    if span_trace.status() == tracing_error::SpanTraceStatus::CAPTURED {
        return Vec::new();
    }
    let lookup = Handle::current().and_then(|h| h.core.span_lookup.get().copied());
    lookup
        .map(|lookup| tracing::dispatcher::get_default(lookup))
        .unwrap_or_default()
}

fn spans<'a>(span_trace: &'a SpanTrace, infos: &'a [SpanInfo]) -> Spans<'a> {
    if span_trace.status() == tracing_error::SpanTraceStatus::CAPTURED {
        Spans::Trace(span_trace)
    } else {
        Spans::Infos(infos)
    }
}

impl BlockingSink for TracebackBacklighter {
    fn name(&self) -> Cow<'static, str> {
        "backlighter".into()
    }

    fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        use std::io::Write as _;
        let text = self.render_report(delivery.report());
        std::io::stderr()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| SinkError::io("cannot write to stderr", &e))
    }
}
