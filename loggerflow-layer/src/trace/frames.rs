//! Turning a captured, unresolved backtrace into classified [`Frame`]s.
//!
//! Capture (on the app's thread) only walks the stack; symbol resolution,
//! which is slow, happens here on the worker.

use std::path::Path;

use backtrace::Backtrace;

use super::classify::{Classifier, crate_of};
use crate::protocol::Frame;

/// The crates whose frames make up the capture machinery on top of the stack.
const MACHINERY_CRATES: &[&str] = &[
    "backtrace",
    "loggerflow_layer",
    "tracing",
    "tracing_core",
    "tracing_subscriber",
];

/// Function prefixes of the panic and dispatch machinery on top of the stack.
const MACHINERY_PREFIXES: &[&str] = &[
    "std::panicking::",
    "core::panicking::",
    "std::panic::",
    "rust_begin_unwind",
    "__rustc::rust_begin_unwind",
    "std::sys::backtrace::",
    "std::sys_common::backtrace::",
    "std::thread::local::",
    "core::ops::function::",
    "<alloc::boxed::Box<F,A> as core::ops::function::Fn",
    "core::option::Option<T>::map",
];

/// Resolves `backtrace` and returns its frames, innermost first, without the
/// capture and panic machinery on top, each classified by `classifier`.
pub(crate) fn resolve(
    mut backtrace: Backtrace,
    classifier: &Classifier,
    cwd: Option<&Path>,
) -> Vec<Frame> {
    backtrace.resolve();
    let mut frames = Vec::new();
    for frame in backtrace.frames() {
        for symbol in frame.symbols() {
            let Some(name) = symbol.name() else { continue };
            let path = symbol.filename();
            let mut frame = Frame {
                function: format!("{name:#}"),
                file: path.map(|p| p.display().to_string()),
                line: symbol.lineno(),
                yours: false,
            };
            // classify on the absolute path, then shorten it for display
            frame.yours = classifier.is_yours(&frame);
            frame.file = path.map(|p| display_path(p, cwd));
            frames.push(frame);
        }
    }
    strip_machinery(frames)
}

/// Drops the frames above the user's code: everything up to the end of the
/// leading run of capture/panic machinery.
pub(crate) fn strip_machinery(mut frames: Vec<Frame>) -> Vec<Frame> {
    // std marks where panic machinery ends; everything above it is runtime.
    if let Some(end) = frames
        .iter()
        .take(64)
        .position(|f| f.function.ends_with("__rust_end_short_backtrace"))
    {
        frames.drain(..=end);
    }
    let lead = frames
        .iter()
        .take_while(|f| is_machinery(&f.function))
        .count();
    frames.drain(..lead);
    frames
}

fn is_machinery(function: &str) -> bool {
    MACHINERY_CRATES.contains(&crate_of(function))
        || MACHINERY_PREFIXES.iter().any(|p| function.starts_with(p))
}

/// A path as shown in reports: relative to the working directory when inside it.
pub(crate) fn display_path(path: &Path, cwd: Option<&Path>) -> String {
    if let Some(cwd) = cwd {
        if let Ok(relative) = path.strip_prefix(cwd) {
            return relative.display().to_string();
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(function: &str) -> Frame {
        Frame {
            function: function.into(),
            file: None,
            line: None,
            yours: false,
        }
    }

    #[test]
    fn capture_machinery_is_stripped_from_the_top_only() {
        let frames = vec![
            f("backtrace::backtrace::trace_unsynchronized"),
            f("backtrace::capture::Backtrace::new_unresolved"),
            f("loggerflow_layer::capture::Captured::from_event"),
            f("<tracing_subscriber::layer::layered::Layered<L,S> as tracing_core::subscriber::Subscriber>::event"),
            f("tracing_core::event::Event::dispatch::{{closure}}"),
            f("std::thread::local::LocalKey<T>::try_with"),
            f("my_app::handler"),
            f("core::ops::function::FnOnce::call_once"),
            f("my_app::main"),
        ];
        let names: Vec<_> = strip_machinery(frames)
            .into_iter()
            .map(|f| f.function)
            .collect();
        assert_eq!(
            names,
            ["my_app::handler", "core::ops::function::FnOnce::call_once", "my_app::main"]
        );
    }

    #[test]
    fn panic_machinery_ends_at_the_short_backtrace_marker() {
        let frames = vec![
            f("backtrace::capture::Backtrace::new_unresolved"),
            f("loggerflow_layer::panic::hook"),
            f("std::panicking::rust_panic_with_hook"),
            f("std::panicking::begin_panic_handler::{{closure}}"),
            f("std::sys::backtrace::__rust_end_short_backtrace"),
            f("__rustc::rust_begin_unwind"),
            f("core::panicking::panic_fmt"),
            f("core::result::unwrap_failed"),
            f("my_app::parse"),
        ];
        let names: Vec<_> = strip_machinery(frames)
            .into_iter()
            .map(|f| f.function)
            .collect();
        assert_eq!(names, ["core::result::unwrap_failed", "my_app::parse"]);
    }

    #[test]
    fn paths_inside_the_working_directory_are_relative() {
        let cwd = Path::new("/work/app");
        assert_eq!(
            display_path(Path::new("/work/app/src/main.rs"), Some(cwd)),
            "src/main.rs"
        );
        assert_eq!(
            display_path(Path::new("/rustc/x/library/std/src/rt.rs"), Some(cwd)),
            "/rustc/x/library/std/src/rt.rs"
        );
    }
}
