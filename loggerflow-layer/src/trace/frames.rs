//! Turning a captured, unresolved backtrace into classified [`Frame`]s.
//!
//! Capture (on the app's thread) only walks the stack; symbol resolution,
//! which is slow, happens here on the worker.

use std::path::Path;

use backtrace::Backtrace;

use super::classify::{Classifier, crate_of, is_own_path};
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
            let mut frame = Frame {
                function: format!("{name:#}"),
                file: symbol.filename().map(|p| p.display().to_string()),
                line: symbol.lineno(),
                yours: false,
            };
            frame.yours = classifier.is_yours(&frame);
            frames.push(frame);
        }
    }
    // classify and strip on absolute paths, then shorten them for display
    let mut frames = strip_machinery(frames);
    for frame in &mut frames {
        if let Some(file) = &frame.file {
            frame.file = Some(display_path(Path::new(file), cwd));
        }
    }
    frames
}

/// Drops the frames above the user's code: everything up to the end of the
/// leading run of capture/panic machinery.
pub(crate) fn strip_machinery(mut frames: Vec<Frame>) -> Vec<Frame> {
    // std marks where panic machinery ends; everything above it is runtime.
    if let Some(end) = frames
        .iter()
        .take(64)
        .position(|f| f.function.contains("__rust_end_short_backtrace"))
    {
        frames.drain(..=end);
    }
    // The leading run of machinery, seen through std frames between its
    // parts (`LocalKey::with` inside tracing's dispatch); std frames after
    // the last machinery frame (`Option::expect` calling the panic) stay.
    let mut last_machinery = None;
    for (i, frame) in frames.iter().enumerate().take(128) {
        if is_machinery(frame) {
            last_machinery = Some(i);
        } else if !is_std(frame) {
            break;
        }
    }
    if let Some(last) = last_machinery {
        frames.drain(..=last);
    }
    frames
}

fn is_std(frame: &Frame) -> bool {
    matches!(crate_of(&frame.function), "std" | "core" | "alloc")
        || frame
            .file
            .as_deref()
            .is_some_and(|f| f.contains("/rustc/") || f.contains("/library/std/"))
}

/// Source folders (in cargo's registry) of the crates in `MACHINERY_CRATES`.
const MACHINERY_SOURCES: &[&str] = &[
    "/backtrace-0.",
    "/tracing-0.",
    "/tracing-core-0.",
    "/tracing-subscriber-0.",
];

fn is_machinery(frame: &Frame) -> bool {
    let function = frame.function.as_str();
    MACHINERY_CRATES.contains(&crate_of(function))
        || MACHINERY_PREFIXES.iter().any(|p| function.starts_with(p))
        || frame.file.as_deref().is_some_and(|file| {
            is_own_path(file)
                || (file.contains("/.cargo/registry/")
                    && MACHINERY_SOURCES.iter().any(|s| file.contains(s)))
        })
}

/// A path as shown in reports: relative to the working directory when inside it.
pub(crate) fn display_path(path: &Path, cwd: Option<&Path>) -> String {
    if let Some(relative) = cwd.and_then(|cwd| path.strip_prefix(cwd).ok()) {
        return relative.display().to_string();
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
            f(
                "<tracing_subscriber::layer::layered::Layered<L,S> as tracing_core::subscriber::Subscriber>::event",
            ),
            f("tracing_core::event::Event::dispatch::{{closure}}"),
            f("std::thread::local::LocalKey<T>::try_with"),
            f("tracing_core::dispatcher::get_default"),
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
            [
                "my_app::handler",
                "core::ops::function::FnOnce::call_once",
                "my_app::main"
            ]
        );
    }

    #[test]
    fn inlined_frames_with_bare_names_are_recognised_by_their_path() {
        let at = |function: &str, file: &str| Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(1),
            yours: false,
        };
        let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/handle.rs");
        let frames = vec![
            at("capture_error_at<u8>", own),
            at(
                "{closure#0}<tracing_subscriber::Registry>",
                "/root/.cargo/registry/src/index.crates.io-1/tracing-subscriber-0.3.23/src/filter/layer_filters/mod.rs",
            ),
            at(
                "{closure#2}",
                "/root/.cargo/registry/src/index.crates.io-1/tracing-0.1.44/src/macros.rs",
            ),
            at("main", "/work/app/src/main.rs"),
        ];
        let names: Vec<_> = strip_machinery(frames)
            .into_iter()
            .map(|f| f.function)
            .collect();
        assert_eq!(names, ["main"]);
    }

    #[test]
    fn panic_machinery_ends_at_the_short_backtrace_marker() {
        let frames = vec![
            f("backtrace::capture::Backtrace::new_unresolved"),
            f("loggerflow_layer::panic::hook"),
            f("std::panicking::rust_panic_with_hook"),
            f("std::panicking::begin_panic_handler::{{closure}}"),
            f(
                "std::sys::backtrace::__rust_end_short_backtrace::<std::panicking::panic_handler::{closure#0}, !>",
            ),
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
