//! Rendering a [`Report`] as text in a [`TraceMode`].
//!
//! The text is plain (no colour, no markup): sinks escape it for their medium.

use std::fmt::Write as _;

use super::TraceMode;
use crate::protocol::{Frame, Report};

/// Renders `report` in `mode`.
///
/// `Full` and `Clean` give a block: the message, the error's sources, the
/// fields, where it happened, the span trace and the stack (your frames marked
/// with `>`). `Minimal` gives one line, `file.rs:LINE - message`, for your
/// innermost frame (or the event's own location when the stack is empty).
pub fn render(report: &Report, mode: TraceMode) -> String {
    match mode {
        TraceMode::Minimal => minimal(report),
        TraceMode::Full | TraceMode::Clean => block(report, mode),
    }
}

/// The `Minimal` line.
fn minimal(report: &Report) -> String {
    let message = report.title();
    let message = message.trim();
    let location = match report.innermost_yours() {
        Some(Frame {
            file: Some(file),
            line,
            ..
        }) => Some(location(file, *line)),
        _ => report.file.as_deref().map(|f| location(f, report.line)),
    };
    match location {
        Some(at) => format!("{at} - {message}"),
        None => message.to_owned(),
    }
}

fn location(file: &str, line: Option<u32>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

fn block(report: &Report, mode: TraceMode) -> String {
    let mut out = String::with_capacity(512 + report.message.len() + report.frames.len() * 96);
    let _ = writeln!(out, "{}", report.title());
    // the title holds the message's first line; the rest follows as it is
    for line in report.message.lines().skip(1) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(error) = &report.error {
        if error.message != report.message {
            let _ = writeln!(out, "Error: {}: {}", error.type_name, error.message);
        }
        for (i, source) in error.sources.iter().enumerate() {
            if i == 0 {
                out.push_str("Caused by:\n");
            }
            let _ = writeln!(out, "  {i}: {source}");
        }
    }
    if !report.fields.is_empty() {
        out.push_str("Fields:");
        for (key, value) in &report.fields {
            match value {
                serde_json::Value::String(s) => {
                    let _ = write!(out, " {key}={s}");
                }
                other => {
                    let _ = write!(out, " {key}={other}");
                }
            }
        }
        out.push('\n');
    }
    if let Some(file) = &report.file {
        let _ = write!(out, "Location: {}", location(file, report.line));
        if let Some(module) = &report.module {
            let _ = write!(out, " ({module})");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Thread: {} | Level: {} | Target: {}",
        report.thread, report.level, report.target
    );

    if !report.spans.is_empty() {
        out.push_str("\nSpan trace:\n");
        for (i, span) in report.spans.iter().enumerate() {
            let _ = write!(out, "  {i:>2}: {}::{}", span.target, span.name);
            if !span.fields.is_empty() {
                let _ = write!(out, " with {}", span.fields);
            }
            out.push('\n');
            if let Some(file) = &span.file {
                let _ = writeln!(out, "        at {}", location(file, span.line));
            }
        }
    }

    if !report.frames.is_empty() {
        out.push_str("\nStack backtrace:\n");
        let any_yours = report.frames.iter().any(|f| f.yours);
        let clean = mode == TraceMode::Clean && any_yours;
        let mut hidden = 0usize;
        for (i, frame) in report.frames.iter().enumerate() {
            if clean && !frame.yours {
                hidden += 1;
                continue;
            }
            if hidden > 0 {
                push_hidden(&mut out, hidden);
                hidden = 0;
            }
            let mark = if frame.yours && mode == TraceMode::Full {
                '>'
            } else {
                ' '
            };
            let _ = writeln!(out, "{mark}{i:>3}: {}", elide_generics(&frame.function));
            if let Some(file) = &frame.file {
                let _ = writeln!(out, "        at {}", location(file, frame.line));
            }
        }
        if hidden > 0 {
            push_hidden(&mut out, hidden);
        }
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Long generic argument lists (`poll<hyper::…<…>>`) make a stack unreadable:
/// those longer than 48 characters are shown as `<…>`. `<T as Trait>`
/// qualifications are kept.
pub(crate) fn elide_generics(function: &str) -> std::borrow::Cow<'_, str> {
    const LONGEST: usize = 48;
    if function.len() <= LONGEST {
        return std::borrow::Cow::Borrowed(function);
    }
    let mut out = String::with_capacity(function.len());
    let mut chars = function.char_indices().peekable();
    let mut prev: Option<char> = None;
    while let Some((start, c)) = chars.next() {
        let opens_generics = c == '<'
            && prev.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '}' || p == ':');
        if opens_generics {
            // find the matching '>'
            let mut depth = 1usize;
            let mut end = start;
            for (i, c) in chars.by_ref() {
                match c {
                    '<' => depth += 1,
                    '>' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let inner = &function[start..=end.max(start)];
            if inner.len() > LONGEST {
                out.push_str("<…>");
            } else {
                out.push_str(inner);
            }
            prev = Some('>');
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    std::borrow::Cow::Owned(out)
}

fn push_hidden(out: &mut String, hidden: usize) {
    let noun = if hidden == 1 { "frame" } else { "frames" };
    let _ = writeln!(out, "      ⋮ {hidden} {noun} hidden ⋮");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorInfo, Level, ReportId, ReportKind, SpanInfo};

    fn frame(function: &str, file: &str, line: u32, yours: bool) -> Frame {
        Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(line),
            yours,
        }
    }

    fn sample() -> Report {
        Report {
            id: ReportId(uuid::Uuid::nil()),
            project: "TestProj".into(),
            timestamp: chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap_or_default(),
            level: Level::Error,
            kind: ReportKind::Event,
            message: "failed to load user".into(),
            target: "my_app::users".into(),
            module: Some("my_app::users".into()),
            file: Some("src/users.rs".into()),
            line: Some(42),
            fields: [
                ("user_id".to_owned(), serde_json::json!(7)),
                ("db".to_owned(), serde_json::json!("primary")),
            ]
            .into_iter()
            .collect(),
            error: Some(ErrorInfo {
                type_name: "QueryError".into(),
                message: "query failed".into(),
                sources: vec![
                    "connection pool error".into(),
                    "connection reset by peer (os error 104)".into(),
                ],
            }),
            spans: vec![
                SpanInfo {
                    name: "load_user".into(),
                    target: "my_app::users".into(),
                    fields: "id=7".into(),
                    file: Some("src/users.rs".into()),
                    line: Some(30),
                },
                SpanInfo {
                    name: "request".into(),
                    target: "my_app::http".into(),
                    fields: "method=GET path=/users/7".into(),
                    file: Some("src/http.rs".into()),
                    line: Some(12),
                },
            ],
            frames: vec![
                frame("my_app::users::load_user", "src/users.rs", 42, true),
                frame(
                    "core::ops::function::FnOnce::call_once",
                    "/rustc/abc/library/core/src/ops/function.rs",
                    250,
                    false,
                ),
                frame(
                    "tokio::runtime::task::core::Core<T,S>::poll",
                    "/root/.cargo/registry/src/index.crates.io-1/tokio-1.54.1/src/runtime/task/core.rs",
                    375,
                    false,
                ),
                frame("my_app::http::handle", "src/http.rs", 15, true),
                frame("my_app::main", "src/main.rs", 9, true),
                frame(
                    "std::rt::lang_start_internal",
                    "/rustc/abc/library/std/src/rt.rs",
                    175,
                    false,
                ),
            ],
            thread: "tokio-runtime-worker".into(),
            host: "web-1".into(),
            release: Some("1.4.2".into()),
            environment: Some("production".into()),
        }
    }

    #[test]
    fn full() {
        insta::assert_snapshot!(render(&sample(), TraceMode::Full));
    }

    #[test]
    fn clean() {
        insta::assert_snapshot!(render(&sample(), TraceMode::Clean));
    }

    #[test]
    fn minimal() {
        insta::assert_snapshot!(render(&sample(), TraceMode::Minimal));
    }

    #[test]
    fn clean_shows_every_frame_when_none_are_yours() {
        let mut report = sample();
        report.frames.iter_mut().for_each(|f| f.yours = false);
        let clean = render(&report, TraceMode::Clean);
        assert!(clean.contains("tokio::runtime::task::core::Core<T,S>::poll"));
        assert!(!clean.contains("hidden"));
        assert_eq!(
            render(&report, TraceMode::Minimal),
            "src/users.rs:42 - QueryError: failed to load user"
        );
    }

    #[test]
    fn long_generic_arguments_are_elided() {
        assert_eq!(elide_generics("my_app::run"), "my_app::run");
        let long = "poll<hyper_util::service::glue::TowerToHyperService<tower::util::map_request::MapRequest<axum::routing::Router<()>>>>";
        assert_eq!(elide_generics(long), "poll<…>");
        let qualified = "<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll";
        assert_eq!(elide_generics(qualified), qualified);
    }

    #[test]
    fn panics_are_titled_as_panics() {
        let mut report = sample();
        report.kind = ReportKind::Panic;
        report.error = None;
        report.message = "index out of bounds: the len is 3 but the index is 7".into();
        assert_eq!(
            render(&report, TraceMode::Minimal),
            "src/users.rs:42 - panic: index out of bounds: the len is 3 but the index is 7"
        );
    }
}
