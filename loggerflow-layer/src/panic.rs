//! The panic hook: panics in any thread become reports.
//!
//! Installed once per process, when the first `LoggerFlowLayer` is registered
//! or a `TracebackBacklighter` is installed. It captures into the layer of the
//! panicking thread's dispatcher, prints through the backlighter when one is
//! installed, chains to the hook that was installed before it, and never
//! panics itself.

use std::io::Write as _;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::backlight::TracebackBacklighter;
use crate::capture::suppressed;
use crate::handle::Handle;

static INSTALL: Once = Once::new();

/// Installs the hook (once per process).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        // Rust's default hook keeps no state; a hook someone installed
        // usually does. The backlighter replaces the first, chains the others.
        let previous_is_default = std::mem::size_of_val(&*previous) == 0;
        panic::set_hook(Box::new(move |info| {
            let to_flush = capture(info);
            match TracebackBacklighter::installed() {
                Some(backlighter) if !suppressed() => {
                    let text = backlighter.render_panic(info);
                    // never `eprint!`: it panics when stderr is closed
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                    if !previous_is_default {
                        previous(info);
                    }
                }
                _ => previous(info),
            }
            if let Some(handle) = to_flush {
                handle.flush(handle.panic_flush_timeout());
            }
        }));
    });
}

/// Captures the panic into the current layer; returns the handle to flush
/// when the process may be about to end.
fn capture(info: &PanicHookInfo<'_>) -> Option<Handle> {
    // a panic inside a sink, or inside our own capture, is not captured again
    if suppressed() {
        return None;
    }
    let handle = Handle::current().filter(Handle::capture_panics)?;
    let (file, line) = match info.location() {
        Some(location) => (Some(location.file().to_owned()), Some(location.line())),
        None => (None, None),
    };
    handle.capture_panic_from_hook(info.payload(), file, line);
    // The process may be about to end: the main thread's panic ends it, and
    // with panic=abort every panic does. Give the report a moment to leave.
    let ending = std::thread::current().name() == Some("main") || cfg!(panic = "abort");
    ending.then_some(handle)
}
