//! [`BacklitError`]: an error for `main() -> Result<(), BacklitError>` that
//! prints backlit.

use std::error::Error;
use std::fmt;

use backtrace::Backtrace;
use tracing_error::SpanTrace;

use super::TracebackBacklighter;
use super::page::{Page, render};
use super::style::backtrace_wanted;
use crate::capture::error_info;
use crate::trace::frames;

/// Wraps any error with the span trace and (when `RUST_LIB_BACKTRACE` or
/// `RUST_BACKTRACE` asks for it) the backtrace of the place where it was
/// converted, and prints all of it backlit as its `Debug`, which is what
/// `main` prints when it returns an error.
///
/// ```no_run
/// use loggerflow_layer::BacklitError;
///
/// fn main() -> Result<(), BacklitError> {
///     let port: u16 = std::env::var("PORT").unwrap_or_default().parse()?;
///     println!("port {port}");
///     Ok(())
/// }
/// ```
pub struct BacklitError {
    error: Box<dyn Error + Send + Sync + 'static>,
    span_trace: SpanTrace,
    backtrace: Option<Backtrace>,
}

impl<E> From<E> for BacklitError
where
    E: Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        let backlighter = TracebackBacklighter::installed();
        let wanted = backlighter
            .as_ref()
            .and_then(|b| b.backtrace)
            .unwrap_or_else(|| backtrace_wanted("RUST_LIB_BACKTRACE"));
        Self {
            error: Box::new(error),
            span_trace: SpanTrace::capture(),
            backtrace: wanted.then(Backtrace::new_unresolved),
        }
    }
}

impl BacklitError {
    /// The wrapped error.
    pub fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.error.as_ref()
    }
}

impl fmt::Display for BacklitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for BacklitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backlighter = TracebackBacklighter::installed()
            .map(|b| (*b).clone())
            .unwrap_or_default();
        let info = error_info(self.error.as_ref(), None);
        let cwd = std::env::current_dir().ok();
        let frames = self
            .backtrace
            .clone()
            .map(|bt| frames::resolve(bt, &backlighter.classifier, cwd.as_deref()));
        let page = Page {
            // `main` prints "Error: " before this
            headline: None,
            message: &info.message,
            location: None,
            sources: &info.sources,
            spans: super::page::Spans::Trace(&self.span_trace),
            frames: frames.as_deref(),
            backtrace_var: "RUST_LIB_BACKTRACE",
        };
        f.write_str(&render(
            &page,
            backlighter.backlight,
            &backlighter.palette(),
        ))
    }
}
