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
        Self::made_at(std::time::SystemTime::now())
    }

    /// A new id whose time part is `now` (a capture reads the clock once,
    /// for its id and its timestamp).
    pub(crate) fn made_at(now: std::time::SystemTime) -> Self {
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
        let millis = now
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
#[non_exhaustive]
pub enum ReportKind {
    /// A `tracing` event, or an error or message captured by hand.
    Event,
    /// A panic, caught by the panic hook or captured by hand from a payload.
    Panic,
}

/// How much of a report's stack a rendering shows.
///
/// The modes are computed from structured, classified frames (never by
/// filtering text), so the same [`Report`] can be shown in any
/// mode later: the dashboard offers all three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TraceMode {
    /// Every frame, yours marked.
    #[default]
    Full,
    /// Only frames of your own crates (all frames when none are yours), with a
    /// marker where frames were hidden.
    Clean,
    /// One line: `file.rs:LINE - message` of your innermost frame.
    Minimal,
}

impl std::str::FromStr for TraceMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "clean" => Ok(Self::Clean),
            "minimal" => Ok(Self::Minimal),
            other => Err(format!(
                "unknown trace mode `{other}`: expected full, clean or minimal"
            )),
        }
    }
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

impl From<Level> for tracing::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Error => tracing::Level::ERROR,
            Level::Warn => tracing::Level::WARN,
            Level::Info => tracing::Level::INFO,
            Level::Debug => tracing::Level::DEBUG,
            Level::Trace => tracing::Level::TRACE,
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
///
/// It is `#[non_exhaustive]`: it will grow. Outside this crate make one with
/// [`Report::new`] and set its public fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// The environment the application runs in (`production`, `staging`…);
    /// none from older clients (the server files those under `production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// The most a report weighs serialised (JSON): [`Report::bound`] guarantees
/// it, whatever the report holds, well under the server's body limit
/// (1 MiB by default), so one report can never block the ones after it.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;
/// The longest message a report keeps (longer ones are cut with a marker).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The longest string field value a report keeps (other values: their JSON).
pub const MAX_FIELD_BYTES: usize = 16 * 1024;
/// The most frames a report keeps: the innermost 150 and the outermost 49,
/// with one marker frame for the rest.
pub const MAX_FRAMES: usize = 200;
/// The most fields a report keeps (the rest are counted in a marker field).
pub const MAX_FIELDS: usize = 64;
/// The most spans a report keeps (innermost first).
pub const MAX_SPANS: usize = 32;
/// The most error sources a report keeps (outermost first).
pub const MAX_SOURCES: usize = 16;

/// How much each part of a report may hold; halved until the report fits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    message: usize,
    field: usize,
    span_fields: usize,
    short: usize,
    frames: usize,
}

impl Limits {
    const NORMAL: Limits = Limits {
        message: MAX_MESSAGE_BYTES,
        field: MAX_FIELD_BYTES,
        span_fields: 4 * 1024,
        short: 1024,
        frames: MAX_FRAMES,
    };
    /// The least: below this, parts are dropped instead.
    const FLOOR: usize = 128;

    fn halved(self) -> Limits {
        let half = |n: usize| (n / 2).max(Self::FLOOR);
        Limits {
            message: half(self.message),
            field: half(self.field),
            span_fields: half(self.span_fields),
            short: half(self.short),
            frames: (self.frames / 2).max(8),
        }
    }

    fn at_floor(&self) -> bool {
        self.message == Self::FLOOR && self.field == Self::FLOOR && self.frames == 8
    }
}

/// Cuts `text` to at most `max` bytes, marker included (at a character
/// boundary), and says so.
fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    // cut again (a tighter limit): the marker keeps the original size
    let original = text
        .strip_suffix(" bytes in all]")
        .and_then(|rest| rest.rsplit_once("… [truncated: "))
        .and_then(|(_, n)| n.parse::<usize>().ok())
        .unwrap_or(text.len());
    let marker = format!("… [truncated: {original} bytes in all]");
    let mut at = max.saturating_sub(marker.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    text.push_str(&marker);
    true
}

fn cut_option(text: &mut Option<String>, max: usize) -> bool {
    text.as_mut().is_some_and(|t| cut(t, max))
}

/// Counts bytes written, to weigh a serialised report without keeping it.
struct Weigher(usize);

impl std::io::Write for Weigher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Report {
    /// What the report weighs serialised as JSON, in bytes.
    pub fn serialized_len(&self) -> usize {
        let mut weigher = Weigher(0);
        match serde_json::to_writer(&mut weigher, self) {
            Ok(()) => weigher.0,
            Err(_) => usize::MAX,
        }
    }

    /// Bounds what one report can weigh: serialised, it is at most
    /// [`MAX_REPORT_BYTES`], whatever it holds. The message is cut to
    /// [`MAX_MESSAGE_BYTES`], field values to [`MAX_FIELD_BYTES`] (a value
    /// that is not a string becomes the start of its JSON), the stack to
    /// [`MAX_FRAMES`], fields, spans and error sources to their counts, and
    /// every other string to 1 KiB; when JSON escaping still makes it too
    /// heavy (a control character weighs six bytes), every limit is halved
    /// until it fits, and at the floor fields, spans and frames are dropped.
    /// Each cut is marked in the text. Returns whether anything was cut.
    /// The layer bounds every report it builds and the server every report
    /// it receives.
    pub fn bound(&mut self) -> bool {
        let mut limits = Limits::NORMAL;
        let mut cut_any = self.bound_parts(limits);
        // weighing means serialising: only when it could be too heavy
        if self.weight_at_most() <= MAX_REPORT_BYTES {
            return cut_any;
        }
        while self.serialized_len() > MAX_REPORT_BYTES {
            cut_any = true;
            if limits.at_floor() {
                self.strip();
                break;
            }
            limits = limits.halved();
            self.bound_parts(limits);
        }
        cut_any
    }

    /// An upper bound of [`Report::serialized_len`], cheap to work out: a
    /// string weighs at most six bytes a byte escaped (`\u0001`) plus its
    /// quotes and key; every other part a generous constant.
    fn weight_at_most(&self) -> usize {
        const PER_ITEM: usize = 96;
        let text = |t: &str| 6 * t.len() + PER_ITEM;
        let option = |t: &Option<String>| t.as_deref().map_or(PER_ITEM, text);
        let mut weight = 512
            + text(&self.project)
            + text(&self.message)
            + text(&self.target)
            + text(&self.thread)
            + text(&self.host)
            + option(&self.module)
            + option(&self.file)
            + option(&self.release)
            + option(&self.environment);
        for (key, value) in &self.fields {
            weight += text(key)
                + match value {
                    serde_json::Value::String(t) => text(t),
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        // nested values: no cheap bound
                        return usize::MAX;
                    }
                    _ => PER_ITEM,
                };
        }
        if let Some(error) = &self.error {
            weight += text(&error.type_name) + text(&error.message);
            weight += error.sources.iter().map(|s| text(s)).sum::<usize>();
        }
        for span in &self.spans {
            weight +=
                text(&span.name) + text(&span.target) + text(&span.fields) + option(&span.file);
        }
        for frame in &self.frames {
            weight += text(&frame.function) + option(&frame.file);
        }
        weight
    }

    /// Drops everything but the message and the identity, marked.
    fn strip(&mut self) {
        let dropped = self.fields.len() + self.spans.len() + self.frames.len();
        self.fields.clear();
        self.spans.clear();
        self.frames.clear();
        if let Some(error) = &mut self.error {
            error.sources.clear();
            cut(&mut error.message, Limits::FLOOR);
            cut(&mut error.type_name, Limits::FLOOR);
        }
        self.fields.insert(
            "loggerflow.truncated".into(),
            serde_json::Value::String(format!(
                "the report was too large: {dropped} fields, spans and frames dropped"
            )),
        );
    }

    fn bound_parts(&mut self, limits: Limits) -> bool {
        let mut cut_any = cut(&mut self.message, limits.message);
        // never the project: a cut name would file the report under
        // another project (the server refuses names over 128 characters)
        for text in [&mut self.target, &mut self.thread, &mut self.host] {
            cut_any |= cut(text, limits.short);
        }
        for text in [
            &mut self.module,
            &mut self.file,
            &mut self.release,
            &mut self.environment,
        ] {
            cut_any |= cut_option(text, limits.short);
        }
        if self.fields.len() > MAX_FIELDS
            || self.fields.keys().any(|k| k.len() > limits.short.min(256))
        {
            let total = self.fields.len();
            let fields = std::mem::take(&mut self.fields);
            for (mut key, value) in fields.into_iter().take(MAX_FIELDS - 1) {
                cut(&mut key, limits.short.min(256));
                self.fields.insert(key, value);
            }
            if total > MAX_FIELDS - 1 {
                self.fields.insert(
                    "loggerflow.fields_omitted".into(),
                    serde_json::Value::from(total - (MAX_FIELDS - 1)),
                );
            }
            cut_any = true;
        }
        for value in self.fields.values_mut() {
            cut_any |= bound_value(value, limits.field);
        }
        if let Some(error) = &mut self.error {
            cut_any |= cut(&mut error.type_name, limits.short);
            cut_any |= cut(&mut error.message, limits.field);
            if error.sources.len() > MAX_SOURCES {
                error.sources.truncate(MAX_SOURCES);
                cut_any = true;
            }
            for source in &mut error.sources {
                cut_any |= cut(source, limits.field);
            }
        }
        if self.spans.len() > MAX_SPANS {
            self.spans.truncate(MAX_SPANS);
            cut_any = true;
        }
        for span in &mut self.spans {
            cut_any |= cut(&mut span.name, limits.short);
            cut_any |= cut(&mut span.target, limits.short);
            cut_any |= cut(&mut span.fields, limits.span_fields);
            cut_any |= cut_option(&mut span.file, limits.short);
        }
        if self.frames.len() > limits.frames {
            let head = limits.frames * 3 / 4;
            let tail = limits.frames - head - 1;
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
        for frame in &mut self.frames {
            cut_any |= cut(&mut frame.function, limits.short);
            cut_any |= cut_option(&mut frame.file, limits.short);
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

/// Bounds a field value: a string to `max` bytes, anything else to `max`
/// bytes of JSON (a larger array or object becomes the cut text of its JSON).
fn bound_value(value: &mut serde_json::Value, max: usize) -> bool {
    match value {
        serde_json::Value::String(text) => cut(text, max),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            let mut weigher = Weigher(0);
            let weight = match serde_json::to_writer(&mut weigher, &*value) {
                Ok(()) => weigher.0,
                Err(_) => usize::MAX,
            };
            if weight <= max {
                return false;
            }
            let mut text = value.to_string();
            cut(&mut text, max);
            *value = serde_json::Value::String(text);
            true
        }
        _ => false,
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
#[non_exhaustive]
pub enum Transport {
    /// HTTP batches (`POST {base}v1/batch`).
    Webhook,
    /// One websocket (`GET {base}v1/ws`).
    Websocket,
}

/// The environment of a layer that names none (and of reports and hellos
/// that carry none: the server files them under it).
pub const DEFAULT_ENVIRONMENT: &str = "production";

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
    pub trace_mode: TraceMode,
    /// Webhook or websocket.
    pub transport: Transport,
    /// The application's release, if configured (none from older clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The environment it runs in (none from older clients: `production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The app's other destinations for reports (its sinks' names, e.g.
    /// `telegram`), shown on the projects page; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
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
    /// The request was refused: the one shape of every refusal, over HTTP
    /// (with its status) and websocket alike.
    Error(Refusal),
}

/// Why the server refused a request or a frame.
///
/// `{"type": "error", "error": CODE, "message": TEXT}`, plus what a client
/// needs to act on it: the report it is about, how long to wait, the size
/// limit that was passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// A stable code (`unknown_instance`, `body_too_large`,
    /// `storage_unavailable`, …).
    pub error: String,
    /// What is wrong, for people.
    pub message: String,
    /// The report refused, when one report is the cause: a client drops it
    /// (sending it again would be refused again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ReportId>,
    /// Seconds to wait before trying again (429, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// The largest body or frame the server accepts, with `body_too_large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

impl Refusal {
    /// A refusal with a code and a message.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
            id: None,
            retry_after_s: None,
            limit_bytes: None,
        }
    }
}

impl Report {
    /// A report of `project` with `message`: a new id, the time now, level
    /// ERROR, an event with no target, fields, error, spans or frames.
    /// Set the other fields on the result (the type is `#[non_exhaustive]`).
    pub fn new(project: impl Into<String>, message: impl Into<String>) -> Self {
        Report {
            id: ReportId::new(),
            project: project.into(),
            timestamp: chrono::Utc::now(),
            level: Level::Error,
            kind: ReportKind::Event,
            message: message.into(),
            target: String::new(),
            module: None,
            file: None,
            line: None,
            fields: BTreeMap::new(),
            error: None,
            spans: Vec::new(),
            frames: Vec::new(),
            thread: String::new(),
            host: String::new(),
            release: None,
            environment: None,
        }
    }

    /// A minimal report for tests: `message`, everything else empty.
    #[cfg(test)]
    pub(crate) fn sample(message: impl Into<String>) -> Self {
        let mut report = Report::new("p", message);
        report.target = "t".into();
        report
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    fn report(message: String, frames: usize) -> Report {
        let mut report = Report::sample(message);
        report
            .fields
            .insert("note".to_owned(), serde_json::json!("é".repeat(20_000)));
        report.frames = (0..frames)
            .map(|i| Frame {
                function: format!("f{i}"),
                file: None,
                line: None,
                yours: false,
            })
            .collect();
        report
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

#[cfg(test)]
mod bound_properties {
    use super::*;
    use proptest::prelude::*;

    /// A string of up to a few MiB: a random piece repeated, with control
    /// characters (six bytes each in JSON) as likely as letters.
    fn text() -> impl Strategy<Value = String> {
        (
            proptest::string::string_regex("[\\x00-\\x1f\"\\\\a-zé😀]{0,40}").expect("regex"),
            prop_oneof![19 => 0usize..4, 1 => 0usize..50_000],
        )
            .prop_map(|(piece, times)| piece.repeat(times))
    }

    fn small_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[\\x00-\\x1f\"\\\\a-zé😀]{0,40}").expect("regex")
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            text().prop_map(serde_json::Value::String),
            any::<i64>().prop_map(serde_json::Value::from),
            (small_text(), 0usize..2_000)
                .prop_map(|(t, n)| serde_json::Value::Array(vec![serde_json::Value::String(t); n])),
        ]
    }

    fn report() -> impl Strategy<Value = Report> {
        (
            (text(), text(), text(), text()),
            prop::collection::btree_map(text(), value(), 0..80),
            prop::collection::vec((text(), text(), text()), 0..60),
            prop::collection::vec((text(), small_text()), 0..300),
            (0usize..200_000, text()),
            prop::option::of((text(), text(), prop::collection::vec(text(), 0..30))),
        )
            .prop_map(
                |(
                    (message, target, thread, host),
                    fields,
                    spans,
                    frames,
                    (many, module),
                    error,
                )| {
                    let mut frames: Vec<Frame> = frames
                        .into_iter()
                        .map(|(function, file)| Frame {
                            function,
                            file: Some(file),
                            line: Some(1),
                            yours: true,
                        })
                        .collect();
                    // many small frames (a deep recursion), never many big ones
                    if let Some(mut first) = frames.first().cloned() {
                        first
                            .function
                            .truncate(first.function.floor_char_boundary(64));
                        frames.extend(std::iter::repeat_n(first, many));
                    }
                    Report {
                        id: ReportId::new(),
                        project: "p".into(),
                        timestamp: chrono::Utc::now(),
                        level: Level::Error,
                        kind: ReportKind::Event,
                        message,
                        target,
                        module: Some(module),
                        file: None,
                        line: None,
                        fields,
                        error: error.map(|(type_name, message, sources)| ErrorInfo {
                            type_name,
                            message,
                            sources,
                        }),
                        spans: spans
                            .into_iter()
                            .map(|(name, target, fields)| SpanInfo {
                                name,
                                target,
                                fields,
                                file: None,
                                line: None,
                            })
                            .collect(),
                        frames,
                        thread,
                        host,
                        release: None,
                        environment: None,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever a report holds, bounded it weighs at most
        /// `MAX_REPORT_BYTES` serialised, and bounding again changes nothing.
        #[test]
        fn a_bounded_report_always_fits(mut report in report()) {
            report.bound();
            let weight = serde_json::to_vec(&report).map(|v| v.len()).unwrap_or(usize::MAX);
            prop_assert!(weight <= MAX_REPORT_BYTES, "{weight} bytes");
            prop_assert_eq!(weight, report.serialized_len());
            let once = report.clone();
            report.bound();
            prop_assert_eq!(report, once);
        }
    }

    #[test]
    fn a_span_field_of_two_mib_and_control_characters_fit() {
        let mut report = Report::sample("\u{1}".repeat(64 * 1024));
        report.fields = (0..10_000)
            .map(|i| (format!("k{i}"), serde_json::json!([i, "\n".repeat(100)])))
            .collect();
        report.spans = vec![
            SpanInfo {
                name: "request".into(),
                target: "t".into(),
                fields: "x".repeat(2 * 1024 * 1024),
                file: None,
                line: None,
            };
            100
        ];
        assert!(report.bound());
        assert!(report.serialized_len() <= MAX_REPORT_BYTES);
        assert_eq!(report.spans.len(), MAX_SPANS);
        assert!(
            report.spans[0]
                .fields
                .contains("[truncated: 2097152 bytes in all]")
        );
        assert_eq!(report.fields.len(), MAX_FIELDS);
    }
}

#[cfg(test)]
mod weight_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The cheap bound is never below the real weight.
        #[test]
        fn the_cheap_bound_is_an_upper_bound(
            message in "[\\x00-\\x1f\"\\\\a-zé😀]{0,200}",
            field in "[\\x00-\\x1f\"\\\\a-zé😀]{0,200}",
            frames in 0usize..50,
        ) {
            let mut report = Report::sample(message);
            report.module = Some("m".into());
            report.line = Some(u32::MAX);
            report.fields = [
                ("k".to_owned(), serde_json::Value::String(field)),
                ("n".to_owned(), serde_json::json!(-1.5e300)),
            ]
            .into_iter()
            .collect();
            report.error = Some(ErrorInfo {
                type_name: "E".into(),
                message: "m".into(),
                sources: vec!["s".into()],
            });
            report.spans = vec![SpanInfo {
                name: "n".into(),
                target: "t".into(),
                fields: "a=1".into(),
                file: None,
                line: Some(u32::MAX),
            }];
            report.frames = (0..frames)
                .map(|i| Frame {
                    function: format!("f{i}"),
                    file: Some("src/x.rs".into()),
                    line: Some(u32::MAX),
                    yours: true,
                })
                .collect();
            report.thread = "main".into();
            report.host = "h".into();
            report.release = Some("1.0".into());
            prop_assert!(report.weight_at_most() >= report.serialized_len());
        }
    }
}
