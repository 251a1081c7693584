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
    /// A new time-ordered id: a UUID v7 (48 bits of Unix milliseconds, a
    /// 32-bit counter, then 42 random bits). Ids made by one process are
    /// strictly increasing; across processes the random bits keep them
    /// apart.
    ///
    /// It uses no thread-local state and no system call, so it works in a
    /// panic hook while a thread is being torn down, and costs a few
    /// nanoseconds.
    pub fn new() -> Self {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEED: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = *SEED.get_or_init(|| {
            // process-unique start: the clock's nanoseconds, the pid and an
            // address, mixed
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            let addr = &COUNTER as *const AtomicU64 as u64;
            splitmix(nanos ^ (u64::from(std::process::id()) << 32) ^ addr)
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = splitmix(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let mut bytes = [0u8; 10];
        // the counter first (from a random start), so ids sort in making order
        let counter = (seed as u32).wrapping_add(n as u32);
        bytes[..4].copy_from_slice(&counter.to_be_bytes());
        bytes[4..].copy_from_slice(&random.to_le_bytes()[..6]);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid())
    }
}

/// SplitMix64's output function: a bijective mix of 64 bits.
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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

/// The longest message a report keeps (longer ones are cut with a marker).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The longest string field value a report keeps.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;
/// The most frames a report keeps: the innermost 150 and the outermost 49,
/// with one marker frame for the rest.
pub const MAX_FRAMES: usize = 200;

/// Cuts `text` to at most `max` bytes, marker included (at a character
/// boundary), and says so.
fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let marker = format!("… [truncated: {} bytes in all]", text.len());
    let mut at = max.saturating_sub(marker.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    text.push_str(&marker);
    true
}

impl Report {
    /// Bounds what one report can weigh: the message to
    /// [`MAX_MESSAGE_BYTES`], string fields to [`MAX_FIELD_BYTES`], the
    /// stack to [`MAX_FRAMES`]; each cut is marked in the text. Returns
    /// whether anything was cut. The layer bounds every report it builds and
    /// the server every report it receives.
    pub fn bound(&mut self) -> bool {
        let mut cut_any = cut(&mut self.message, MAX_MESSAGE_BYTES);
        for value in self.fields.values_mut() {
            if let serde_json::Value::String(text) = value {
                cut_any |= cut(text, MAX_FIELD_BYTES);
            }
        }
        if let Some(error) = &mut self.error {
            cut_any |= cut(&mut error.message, MAX_FIELD_BYTES);
            for source in &mut error.sources {
                cut_any |= cut(source, MAX_FIELD_BYTES);
            }
        }
        if self.frames.len() > MAX_FRAMES {
            let (head, tail) = (150, MAX_FRAMES - 151);
            let omitted = self.frames.len() - head - tail;
            let rest = self.frames.split_off(head);
            self.frames.push(Frame {
                function: format!("… {omitted} frames omitted …"),
                file: None,
                line: None,
                yours: false,
            });
            self.frames.extend(rest.into_iter().skip(omitted));
            cut_any = true;
        }
        cut_any
    }

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

/// Readings of a process and its host, sent with every heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The host's CPU use, 0–100 %.
    pub cpu_percent: f32,
    /// The process's CPU use, in % of one core (may exceed 100 on several cores).
    pub process_cpu_percent: f32,
    /// The process's resident memory.
    pub process_memory_bytes: u64,
    /// The host's used memory.
    pub memory_used_bytes: u64,
    /// The host's total memory.
    pub memory_total_bytes: u64,
}

/// How an app instance talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// HTTP batches (`POST {base}v1/batch`).
    Webhook,
    /// One websocket (`GET {base}v1/ws`).
    Websocket,
}

/// The first message of an app instance: who it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The project (application) name.
    pub project: String,
    /// This process's unique id (a UUID made at start).
    pub instance: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The client library and its version.
    pub client_version: String,
    /// Seconds between heartbeats; the server marks the instance offline
    /// after three missed ones.
    pub heartbeat_s: u32,
    /// The trace mode the app renders in.
    pub trace_mode: crate::trace::TraceMode,
    /// Webhook or websocket.
    pub transport: Transport,
}

/// One message from an app instance to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Who the instance is; first on every connection (websocket) or in
    /// every batch until acknowledged (webhook).
    Hello(Hello),
    /// The instance is alive; its readings.
    Heartbeat {
        /// The readings.
        metrics: Metrics,
    },
    /// An error, panic or event.
    Report {
        /// The report.
        report: Box<Report>,
    },
    /// The instance is stopping on purpose.
    Goodbye {},
}

/// The body of `POST {base}v1/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The protocol version ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The sending instance (as in its hello).
    pub instance: String,
    /// Messages, oldest first.
    pub messages: Vec<Message>,
}

/// The server's answer to a batch, or to a websocket frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// These reports are stored (and will never be stored twice).
    Ack {
        /// The stored reports.
        ids: Vec<ReportId>,
    },
    /// The request was refused.
    Error {
        /// A stable code (`unknown_instance`, `unsupported_protocol`, …).
        error: String,
        /// What is wrong, for people.
        message: String,
    },
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    fn report(message: String, frames: usize) -> Report {
        Report {
            id: ReportId::new(),
            project: "p".into(),
            timestamp: chrono::Utc::now(),
            level: Level::Error,
            kind: ReportKind::Event,
            message,
            target: "t".into(),
            module: None,
            file: None,
            line: None,
            fields: [("note".to_owned(), serde_json::json!("é".repeat(20_000)))]
                .into_iter()
                .collect(),
            error: None,
            spans: Vec::new(),
            frames: (0..frames)
                .map(|i| Frame {
                    function: format!("f{i}"),
                    file: None,
                    line: None,
                    yours: false,
                })
                .collect(),
            thread: String::new(),
            host: String::new(),
            release: None,
        }
    }

    #[test]
    fn huge_reports_are_cut_with_markers() {
        let mut r = report("x".repeat(10 * 1024 * 1024), 100_000);
        assert!(r.bound());
        assert!(r.message.len() <= MAX_MESSAGE_BYTES);
        assert!(r.message.ends_with("[truncated: 10485760 bytes in all]"));
        let note = r.fields["note"].as_str().unwrap_or_default();
        assert!(note.len() <= MAX_FIELD_BYTES, "cut at a character boundary");
        assert_eq!(r.frames.len(), MAX_FRAMES);
        assert_eq!(r.frames[149].function, "f149");
        assert_eq!(r.frames[150].function, "… 99801 frames omitted …");
        assert_eq!(r.frames[151].function, "f99951");
        assert_eq!(r.frames[199].function, "f99999");
        assert!(!r.bound(), "bounding twice changes nothing");
    }

    #[test]
    fn small_reports_are_untouched() {
        let mut r = report("short".into(), 20);
        r.fields.clear();
        let before = r.clone();
        assert!(!r.bound());
        assert_eq!(r, before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ids_are_unique_v7_and_ordered_by_millisecond() {
        let ids: Vec<ReportId> = (0..10_000).map(|_| ReportId::new()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| id.0.get_version_num() == 7));
        let millis = |id: &ReportId| {
            id.0.get_timestamp()
                .map(|t| t.to_unix())
                .unwrap_or_default()
        };
        assert!(ids.windows(2).all(|w| millis(&w[0]) <= millis(&w[1])));
    }
}
