//! The wire types shared by the layer, the server and the dashboard.
//!
//! [`Report`] is defined here once: the layer builds it, sinks receive it, the
//! server stores it and the dashboard renders it. Everything here is plain data
//! with serde derives and no heavy dependencies, so the server can depend on this
//! module without pulling in any sink.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of the wire protocol this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The unique id of a report: a UUID v7, made by the client.
///
/// Ids are time-ordered, so stores that index them write sequentially, and the
/// server stores each id once however often a client re-sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReportId(pub Uuid);

impl ReportId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for ReportId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A `tracing` event, or an error or message captured by hand.
    Event,
    /// A panic, caught by the panic hook or captured by hand from a payload.
    Panic,
}

/// The severity of a report, as in `tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// `tracing::Level::ERROR`.
    Error,
    /// `tracing::Level::WARN`.
    Warn,
    /// `tracing::Level::INFO`.
    Info,
    /// `tracing::Level::DEBUG`.
    Debug,
    /// `tracing::Level::TRACE`.
    Trace,
}

impl From<tracing::Level> for Level {
    fn from(level: tracing::Level) -> Self {
        match level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            _ => Level::Trace,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        })
    }
}

/// One frame of a stack trace, resolved and classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The demangled function name, without the hash suffix.
    pub function: String,
    /// The source file, relative to the working directory when it lies inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Whether the frame belongs to the application's own crates.
    pub yours: bool,
}

/// One span that enclosed the event, innermost first in [`Report::spans`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanInfo {
    /// The span's name.
    pub name: String,
    /// The span's target (usually its module path).
    pub target: String,
    /// The span's recorded fields, formatted as `key=value` pairs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fields: String,
    /// Where the span was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line where the span was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// An error value with its chain of sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error's type name: exact when captured through a generic API,
    /// taken from the `Debug` output for a `&dyn Error` field.
    pub type_name: String,
    /// The error's `Display` output.
    pub message: String,
    /// The `Display` output of each `source()`, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// An error, panic or event worth reporting: the one type that flows from the
/// app to the sinks, the server and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Unique, client-made, time-ordered id.
    pub id: ReportId,
    /// The project (application) name given to the layer.
    pub project: String,
    /// When the event happened (UTC).
    pub timestamp: DateTime<Utc>,
    /// Severity.
    pub level: Level,
    /// Event or panic.
    pub kind: ReportKind,
    /// The event's message, the panic payload or the error's `Display`.
    pub message: String,
    /// The `tracing` target.
    pub target: String,
    /// The module path where the event was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The source file where the event was raised or the panic happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The event's fields other than the message, as JSON values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The error carried by the event, with its sources, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The enclosing spans, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanInfo>,
    /// The stack, innermost (most recent call) first. Empty when no backtrace was taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
    /// The thread's name, or its id when it has none.
    pub thread: String,
    /// The host name of the machine.
    pub host: String,
    /// The application's release, if configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

impl Report {
    /// The application's own innermost frame, if the stack has one.
    pub fn innermost_yours(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| f.yours)
    }

    /// A one-line title: the error type (when known) and the first line of the message.
    pub fn title(&self) -> String {
        let first = self.message.lines().next().unwrap_or_default();
        match (&self.kind, &self.error) {
            (ReportKind::Panic, _) => format!("panic: {first}"),
            (_, Some(e)) if !first.contains(&e.type_name) => format!("{}: {first}", e.type_name),
            _ => first.to_owned(),
        }
    }
}
