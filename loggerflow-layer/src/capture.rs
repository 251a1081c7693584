//! What the app's thread does when something is captured: copy the event into
//! our own type, cheaply, and leave everything slow to the worker.

use std::borrow::Cow;
use std::cell::Cell;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use backtrace::Backtrace;
use chrono::{DateTime, Utc};
use tracing::field::{Field, Visit};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::protocol::{ErrorInfo, Level, ReportId, ReportKind, SpanInfo};

thread_local! {
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Whether capture is switched off on this thread (the worker's threads, or
/// a capture already in progress).
pub(crate) fn suppressed() -> bool {
    SUPPRESSED.try_with(Cell::get).unwrap_or(true)
}

/// Switches capture off on this thread for good (worker threads).
pub(crate) fn suppress_thread() {
    let _ = SUPPRESSED.try_with(|s| s.set(true));
}

/// Switches capture off on this thread until the guard drops, so an event
/// raised while capturing (by a `Debug` impl, say) is not captured again.
pub(crate) struct Reentrancy(());

impl Reentrancy {
    /// `None` when capture is already off on this thread (or the thread is
    /// being torn down).
    pub(crate) fn enter() -> Option<Self> {
        let was = SUPPRESSED.try_with(|s| s.replace(true)).unwrap_or(true);
        if was { None } else { Some(Self(())) }
    }
}

impl Drop for Reentrancy {
    fn drop(&mut self) {
        let _ = SUPPRESSED.try_with(|s| s.set(false));
    }
}

/// A field value as copied on the app's thread.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl FieldValue {
    pub(crate) fn into_json(self) -> serde_json::Value {
        match self {
            FieldValue::Str(s) => serde_json::Value::String(s),
            FieldValue::I64(v) => v.into(),
            FieldValue::U64(v) => v.into(),
            FieldValue::F64(v) => serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(v.to_string())),
            FieldValue::Bool(v) => v.into(),
        }
    }
}

/// Everything a report needs, copied on the app's thread; the worker turns it
/// into a [`Report`](crate::Report).
#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) id: ReportId,
    pub(crate) kind: ReportKind,
    pub(crate) level: Level,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) message: String,
    pub(crate) target: Cow<'static, str>,
    pub(crate) module: Option<Cow<'static, str>>,
    pub(crate) file: Option<Cow<'static, str>>,
    pub(crate) line: Option<u32>,
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) spans: Vec<SpanInfo>,
    pub(crate) thread: Arc<str>,
    pub(crate) backtrace: Option<Backtrace>,
    /// Its place in the order of captures (set when it is queued): what
    /// a flush's answer is about.
    pub(crate) seq: u64,
}

impl Captured {
    pub(crate) fn new(kind: ReportKind, level: Level, target: Cow<'static, str>) -> Self {
        // one clock read for the id and the timestamp
        let now = std::time::SystemTime::now();
        Self {
            id: ReportId::made_at(now),
            kind,
            level,
            timestamp: DateTime::<Utc>::from(now),
            message: String::new(),
            target,
            module: None,
            file: None,
            line: None,
            fields: Vec::new(),
            error: None,
            spans: Vec::new(),
            thread: thread_name(),
            backtrace: None,
            seq: 0,
        }
    }
}

/// This thread's name (or id), looked up once per thread.
fn thread_name() -> Arc<str> {
    thread_local! {
        static NAME: Arc<str> = {
            let thread = std::thread::current();
            match thread.name() {
                Some(name) => name.into(),
                None => format!("{:?}", thread.id()).into(),
            }
        };
    }
    // `try_with`: a panic while the thread's locals are torn down must not panic again
    NAME.try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from("<exiting thread>"))
}

/// The chain of an error: its type name, message and sources.
pub(crate) fn error_info(error: &dyn Error, type_name: Option<&str>) -> ErrorInfo {
    let mut sources = Vec::new();
    let mut source = error.source();
    while let Some(e) = source {
        if sources.len() >= 32 {
            break;
        }
        sources.push(e.to_string());
        source = e.source();
    }
    ErrorInfo {
        type_name: match type_name {
            Some(name) => short_type_name(name),
            None => debug_type_name(error),
        },
        message: error.to_string(),
        sources,
    }
}

/// The name an error type is known by: `std::num::ParseIntError` →
/// `ParseIntError`, `my::Wrap<a::B>` → `Wrap<a::B>`, and for the many types
/// called `Error`, their crate's (or std module's) public path:
/// `std::io::error::Error` → `io::Error`, `serde_json::error::Error` →
/// `serde_json::Error`.
pub(crate) fn short_type_name(name: &str) -> String {
    let head = name.find('<').unwrap_or(name.len());
    let path = &name[..head];
    let short = match path.rfind("::") {
        Some(i) => &name[i + 2..],
        None => return name.to_owned(),
    };
    if short != "Error" {
        return short.to_owned();
    }
    let mut segments = path.split("::");
    let krate = segments.next().unwrap_or_default();
    match krate {
        "std" | "core" | "alloc" => match segments.next() {
            Some(module) if module != "Error" => format!("{module}::Error"),
            _ => short.to_owned(),
        },
        _ => format!("{krate}::Error"),
    }
}

/// The type name of a `&dyn Error` as far as its `Debug` output tells: the
/// leading identifier (`ParseIntError { kind: InvalidDigit }` → `ParseIntError`).
fn debug_type_name(error: &dyn Error) -> String {
    let mut debug = String::new();
    let _ = write!(debug, "{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let name = short_type_name(&name);
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        "Error".to_owned()
    } else {
        name
    }
}

/// Copies an event's fields into a [`Captured`].
pub(crate) struct FieldVisitor<'a> {
    pub(crate) captured: &'a mut Captured,
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.captured
            .fields
            .push((field.name(), FieldValue::F64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.captured
            .fields
            .push((field.name(), FieldValue::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.captured
            .fields
            .push((field.name(), FieldValue::U64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.captured
            .fields
            .push((field.name(), FieldValue::Bool(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.captured.message.push_str(value);
        } else {
            self.captured
                .fields
                .push((field.name(), FieldValue::Str(value.to_owned())));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        // io::Error's Debug starts with its representation, not its name
        let name = value.is::<std::io::Error>().then_some("std::io::Error");
        let info = error_info(value, name);
        self.captured
            .fields
            .push((field.name(), FieldValue::Str(info.message.clone())));
        if self.captured.error.is_none() {
            self.captured.error = Some(info);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.captured.message, "{value:?}");
        } else {
            let mut s = String::new();
            let _ = write!(s, "{value:?}");
            self.captured
                .fields
                .push((field.name(), FieldValue::Str(s)));
        }
    }
}

/// The most one span field's value keeps, in bytes (longer ones are cut).
pub(crate) const MAX_SPAN_VALUE: usize = 1024;
/// The most a span's formatted fields keep, in bytes.
pub(crate) const MAX_SPAN_FIELDS: usize = 4096;

/// A span's fields, formatted when the span is created and again when one
/// is `record`ed, stored in the span's extensions. Bounded: a field recorded
/// again replaces its value (a span's fields are fixed by its callsite), a
/// value keeps at most [`MAX_SPAN_VALUE`] bytes and the whole text at most
/// [`MAX_SPAN_FIELDS`].
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    values: Vec<(&'static str, String)>,
    text: String,
}

impl SpanFields {
    /// The fields as `key=value` pairs.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Takes the values recorded in `more` (replacing those of the same
    /// name) and formats the text again.
    pub(crate) fn merge(&mut self, more: SpanFields) {
        for (name, value) in more.values {
            self.set(name, value);
        }
        self.format();
    }

    fn set(&mut self, name: &'static str, value: String) {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.values.push((name, value)),
        }
    }

    /// Formats the text from the values, within its bound.
    pub(crate) fn format(&mut self) {
        self.text.clear();
        for (name, value) in &self.values {
            let room = MAX_SPAN_FIELDS.saturating_sub(self.text.len());
            let pair = format!(
                "{}{name}={value}",
                if self.text.is_empty() { "" } else { " " }
            );
            if pair.len() > room {
                self.text
                    .push_str(if self.text.is_empty() { "…" } else { " …" });
                break;
            }
            self.text.push_str(&pair);
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(Bounded::new(&mut text, MAX_SPAN_VALUE), "{value:?}");
        self.set(field.name(), text);
    }
}

/// A `fmt::Write` that keeps at most `room` bytes (cut at a character
/// boundary, ending in `…`) and ignores the rest. It never returns an
/// error: a user's `Debug` impl that unwraps its writes must not panic
/// because a value was long.
pub(crate) struct Bounded<'a> {
    out: &'a mut String,
    room: usize,
    cut: bool,
}

impl<'a> Bounded<'a> {
    pub(crate) fn new(out: &'a mut String, room: usize) -> Self {
        Self {
            out,
            room,
            cut: false,
        }
    }
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        if s.len() <= self.room {
            self.out.push_str(s);
            self.room -= s.len();
            return Ok(());
        }
        let mut cut = self.room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&s[..cut]);
        self.out.push('…');
        self.cut = true;
        Ok(())
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// A span as it appears in a report.
pub(crate) fn span_info<'a, R: LookupSpan<'a>>(span: &SpanRef<'a, R>) -> SpanInfo {
    let meta = span.metadata();
    let fields = span
        .extensions()
        .get::<SpanFields>()
        .map(|f| f.text().to_owned())
        .unwrap_or_default();
    SpanInfo {
        name: meta.name().to_owned(),
        target: meta.target().to_owned(),
        fields,
        file: meta.file().map(str::to_owned),
        line: meta.line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_fields_stay_bounded_however_often_they_are_recorded() {
        let mut fields = SpanFields::default();
        fields.values.push(("step", "0".into()));
        fields.format();
        for i in 0..10_000 {
            let mut more = SpanFields::default();
            more.values.push(("step", i.to_string()));
            fields.merge(more);
        }
        assert_eq!(fields.text(), "step=9999", "a record replaces the value");
        let mut many = SpanFields::default();
        for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            let mut text = String::new();
            let _ = write!(
                Bounded::new(&mut text, MAX_SPAN_VALUE),
                "{}",
                "é".repeat(5000)
            );
            assert!(text.len() <= MAX_SPAN_VALUE + '…'.len_utf8());
            many.set(name, text);
        }
        many.format();
        assert!(
            many.text().len() <= MAX_SPAN_FIELDS + 4,
            "{}",
            many.text().len()
        );
        assert!(many.text().ends_with('…'));
    }

    #[test]
    fn type_names_are_shortened() {
        assert_eq!(short_type_name("std::num::ParseIntError"), "ParseIntError");
        assert_eq!(short_type_name("my::Wrap<a::B>"), "Wrap<a::B>");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("std::io::error::Error"), "io::Error");
        assert_eq!(
            short_type_name("serde_json::error::Error"),
            "serde_json::Error"
        );
    }

    #[test]
    fn dyn_errors_are_named_from_debug() {
        let err = "x".parse::<u8>().unwrap_err();
        assert_eq!(error_info(&err, None).type_name, "ParseIntError");
        let parse = "1.5"
            .parse::<f32>()
            .map(|_| ())
            .and("x".parse::<f32>().map(|_| ()));
        let parse = parse.unwrap_err();
        assert_eq!(error_info(&parse, None).type_name, "ParseFloatError");
    }
}
