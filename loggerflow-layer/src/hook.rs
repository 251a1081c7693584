//! The panic hook: panics in any thread become reports, and are printed by
//! the registered printer (the backlighter) when there is one.
//!
//! Installed once per process, when the first `LoggerFlowLayer` is
//! registered or a printer is set. It captures into the layer of the
//! panicking thread's dispatcher, prints through the printer when one is
//! registered, chains to the hook that was installed before it, and never
//! panics itself.
//!
//! The printer is registered here (not looked up from here), so this module
//! knows nothing of the backlighter above it.

use std::io::Write as _;
use std::panic::{self, PanicHookInfo};
use std::sync::{Arc, Once, RwLock};

use crate::capture::suppressed;
use crate::pipeline::handle::Handle;

static INSTALL: Once = Once::new();

/// Something that turns a panic into the text printed on stderr.
pub(crate) trait PanicPrinter: Send + Sync {
    /// The text printed for the panic.
    fn render_panic(&self, info: &PanicHookInfo<'_>) -> String;
}

static PRINTER: RwLock<Option<Arc<dyn PanicPrinter>>> = RwLock::new(None);

/// Sets the printer (replacing any set before) and installs the hook.
#[cfg_attr(not(feature = "backlight"), allow(dead_code))]
pub(crate) fn set_printer(printer: Arc<dyn PanicPrinter>) {
    if let Ok(mut slot) = PRINTER.write() {
        *slot = Some(printer);
    }
    install();
}

fn printer() -> Option<Arc<dyn PanicPrinter>> {
    PRINTER.read().ok().and_then(|p| p.clone())
}

/// Installs the hook (once per process).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        // Rust's default hook keeps no state; a hook someone installed
        // usually does. The printer replaces the first, chains the others.
        let previous_is_default = std::mem::size_of_val(&*previous) == 0;
        panic::set_hook(Box::new(move |info| {
            let to_flush = capture(info);
            match printer() {
                Some(printer) if !suppressed() => {
                    let text = printer.render_panic(info);
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
