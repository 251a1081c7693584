//! The panic hook: panics in any thread become reports.
//!
//! Installed once per process when the first `LoggerFlowLayer` is registered.
//! It captures into the layer of the panicking thread's dispatcher, chains to
//! the hook that was installed before it, and never panics itself.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::capture::suppressed;
use crate::handle::Handle;

static INSTALL: Once = Once::new();

/// Installs the hook (once per process).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            hook(info);
            previous(info);
        }));
    });
}

fn hook(info: &PanicHookInfo<'_>) {
    // a panic inside a sink, or inside our own capture, is not captured again
    if suppressed() {
        return;
    }
    let Some(handle) = Handle::current() else {
        return;
    };
    if !handle.capture_panics() {
        return;
    }
    let (file, line) = match info.location() {
        Some(location) => (Some(location.file().to_owned()), Some(location.line())),
        None => (None, None),
    };
    handle.capture_panic_from_hook(info.payload(), file, line);
    // The process may be about to end: the main thread's panic ends it, and
    // with panic=abort every panic does. Give the report a moment to leave.
    let ending = std::thread::current().name() == Some("main") || cfg!(panic = "abort");
    if ending {
        handle.flush(handle.panic_flush_timeout());
    }
}
