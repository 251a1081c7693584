//! The text the backlighter prints: message, location, error chain, span
//! trace and the stack with your frames lit.

use std::collections::HashMap;
use std::fmt::Write as _;

use owo_colors::OwoColorize as _;
use tracing_error::{SpanTrace, SpanTraceStatus};

use super::style::{Backlight, Palette};
use crate::protocol::{Frame, SpanInfo};
use crate::trace::render::elide_generics;

const RULE_WIDTH: usize = 80;

/// Where the span trace comes from.
pub(crate) enum Spans<'a> {
    /// A `tracing_error::SpanTrace` (needs `tracing_error::ErrorLayer`),
    /// shown through `color-spantrace`.
    Trace(&'a SpanTrace),
    /// Spans copied by a `LoggerFlowLayer`.
    Infos(&'a [SpanInfo]),
}

/// One thing to print.
pub(crate) struct Page<'a> {
    pub(crate) headline: Option<&'a str>,
    pub(crate) message: &'a str,
    pub(crate) location: Option<(&'a str, Option<u32>)>,
    pub(crate) sources: &'a [String],
    pub(crate) spans: Spans<'a>,
    /// `None` when no backtrace was captured.
    pub(crate) frames: Option<&'a [Frame]>,
    /// The variable that turns backtraces on, for the hint when there is none.
    pub(crate) backtrace_var: &'a str,
}

pub(crate) fn render(page: &Page<'_>, backlight: Backlight, palette: &Palette) -> String {
    let mut out = String::with_capacity(2048);
    match page.headline {
        Some(headline) => {
            let _ = writeln!(out, "{}", headline.style(palette.heading));
            let _ = writeln!(out, "Message:  {}", page.message.style(palette.message));
        }
        None => {
            let _ = writeln!(out, "{}", page.message.style(palette.message));
        }
    }
    if let Some((file, line)) = page.location {
        let _ = writeln!(out, "Location: {}", location(file, line));
    }
    if !page.sources.is_empty() {
        out.push_str("\nCaused by:\n");
        for (i, source) in page.sources.iter().enumerate() {
            let _ = writeln!(out, "  {i}: {source}");
        }
    }
    spans(&mut out, &page.spans, palette);
    match page.frames {
        Some(frames) => stack(&mut out, frames, backlight, palette),
        None => {
            let _ = write!(
                out,
                "\nBacktrace omitted. Run with {}=1 to display it.\n",
                page.backtrace_var
            );
        }
    }
    out
}

fn location(file: &str, line: Option<u32>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

fn rule(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{:━^RULE_WIDTH$}\n", format!(" {title} "));
}

fn spans(out: &mut String, spans: &Spans<'_>, palette: &Palette) {
    match spans {
        Spans::Trace(trace) if trace.status() == SpanTraceStatus::CAPTURED && palette.colored => {
            let _ = writeln!(out, "\n{}", color_spantrace::colorize(trace));
        }
        // color-spantrace's theme is global and set once: without colour we
        // format the trace ourselves, so no escape code can leak
        Spans::Trace(trace) if trace.status() == SpanTraceStatus::CAPTURED => {
            rule(out, "SPANTRACE");
            let mut i = 0usize;
            trace.with_spans(|meta, fields| {
                let _ = write!(out, "{i:>2}: {}::{}", meta.target(), meta.name());
                if !fields.is_empty() {
                    let _ = write!(out, " with {fields}");
                }
                out.push('\n');
                if let Some(file) = meta.file() {
                    let _ = writeln!(out, "    at {}", location(file, meta.line()));
                }
                i += 1;
                true
            });
        }
        Spans::Trace(_) => {}
        Spans::Infos([]) => {}
        Spans::Infos(infos) => {
            rule(out, "SPANTRACE");
            for (i, span) in infos.iter().enumerate() {
                let _ = write!(out, "{i:>2}: {}::{}", span.target, span.name);
                if !span.fields.is_empty() {
                    let _ = write!(out, " with {}", span.fields.style(palette.dependency));
                }
                out.push('\n');
                if let Some(file) = &span.file {
                    let _ = writeln!(out, "    at {}", location(file, span.line));
                }
            }
        }
    }
}

fn stack(out: &mut String, frames: &[Frame], backlight: Backlight, palette: &Palette) {
    rule(out, "BACKTRACE");
    let clean = backlight == Backlight::Clean && frames.iter().any(|f| f.yours);
    let mut sources = SourceCache::default();
    let mut hidden = 0usize;
    for (i, frame) in frames.iter().enumerate() {
        if clean && !frame.yours {
            hidden += 1;
            continue;
        }
        if hidden > 0 {
            hidden_marker(out, hidden);
            hidden = 0;
        }
        let name = elide_generics(&frame.function);
        let lit = frame.yours && backlight != Backlight::None;
        if lit {
            let _ = writeln!(out, "> {i:>3}: {}", name.style(palette.yours));
        } else {
            let _ = writeln!(out, "  {i:>3}: {}", name.style(palette.dependency));
        }
        let Some(file) = &frame.file else { continue };
        let at = format!("at {}", location(file, frame.line));
        if lit {
            let _ = writeln!(out, "        {}", at.style(palette.yours_location));
        } else {
            let _ = writeln!(out, "        {}", at.style(palette.dependency));
        }
        let source = frame
            .line
            .filter(|_| frame.yours)
            .and_then(|l| sources.line(file, l).map(|t| (l, t)));
        if let Some((line, text)) = source {
            let _ = writeln!(out, "        {line:>5} │ {}", text.trim_end());
        }
    }
    if hidden > 0 {
        hidden_marker(out, hidden);
    }
}

fn hidden_marker(out: &mut String, hidden: usize) {
    let noun = if hidden == 1 { "frame" } else { "frames" };
    let _ = writeln!(out, "        ⋮ {hidden} {noun} hidden ⋮");
}

/// Source files read once per rendering.
#[derive(Default)]
struct SourceCache {
    files: HashMap<String, Option<Vec<String>>>,
}

impl SourceCache {
    fn line(&mut self, file: &str, line: u32) -> Option<&str> {
        let lines = self.files.entry(file.to_owned()).or_insert_with(|| {
            std::fs::read_to_string(file)
                .ok()
                .map(|text| text.lines().map(str::to_owned).collect())
        });
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        lines.as_ref()?.get(index).map(String::as_str)
    }
}
