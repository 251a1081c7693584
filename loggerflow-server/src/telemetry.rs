//! The server's own metrics, for Prometheus: `GET /metrics` (behind `--auth`
//! like the API) answers them in the text exposition format.
//!
//! Counters and histograms live for the process (one set per process, as a
//! scraper sees one process per target); what is a reading of the moment
//! (the writer's queue, open websockets, apps by status) is read at each
//! scrape. This module imports nothing of the crate: any module may count.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A refusal's code (`malformed_json`, `storage_unavailable`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The code of the refusal.
    pub code: String,
}

/// An alarm message's outcome: `sent`, `failed` or `digested`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// What became of it.
    pub outcome: String,
}

/// Apps of one status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// `online`, `offline` or `stopped`.
    pub status: String,
}

/// The process's counters and histograms.
#[derive(Debug)]
pub struct Telemetry {
    /// Reports handed to the writer (every transport).
    pub reports_received: Counter,
    /// Reports acknowledged: committed (or stored before, for a re-sent id).
    pub reports_stored: Counter,
    /// Requests and messages refused, by code.
    pub refused: Family<CodeLabel, Counter>,
    /// Reports per write transaction.
    pub batch_reports: Histogram,
    /// Seconds a write transaction took, commit included.
    pub batch_seconds: Histogram,
    /// Alarm messages by outcome.
    pub alarm_messages: Family<OutcomeLabel, Counter>,
    /// Database errors (a batch rolled back, a read that failed).
    pub database_errors: Counter,
}

static TELEMETRY: LazyLock<Telemetry> = LazyLock::new(|| Telemetry {
    reports_received: Counter::default(),
    reports_stored: Counter::default(),
    refused: Family::default(),
    batch_reports: Histogram::new([1.0, 10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0]),
    batch_seconds: Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ]),
    alarm_messages: Family::default(),
    database_errors: Counter::default(),
});

/// This process's counters.
pub fn get() -> &'static Telemetry {
    &TELEMETRY
}

/// Counts a refusal with `code`.
pub fn refused(code: &str) {
    get()
        .refused
        .get_or_create(&CodeLabel {
            code: code.to_owned(),
        })
        .inc();
}

/// Counts an alarm message that was `outcome` (`sent`, `failed`, `digested`).
pub fn alarm_message(outcome: &str) {
    get()
        .alarm_messages
        .get_or_create(&OutcomeLabel {
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// The readings of the moment a scrape adds to the counters.
#[derive(Debug, Default)]
pub struct Readings {
    /// Jobs waiting for the writer.
    pub writer_queue: usize,
    /// Websockets open (native and Python).
    pub websockets: usize,
    /// Dashboard tabs' event streams open (`GET /api/v1/events`).
    pub event_streams: usize,
    /// Apps by status (from the database).
    pub apps: Vec<(String, i64)>,
}

/// Everything in the text exposition format (OpenMetrics text, which
/// Prometheus reads), names prefixed `loggerflow_`.
pub fn encode(readings: &Readings) -> Result<String, std::fmt::Error> {
    let t = get();
    let mut registry = Registry::with_prefix("loggerflow");
    registry.register(
        "reports_received",
        "Reports handed to the writer",
        t.reports_received.clone(),
    );
    registry.register(
        "reports_stored",
        "Reports acknowledged after their commit",
        t.reports_stored.clone(),
    );
    registry.register(
        "refused",
        "Requests and messages refused, by code",
        t.refused.clone(),
    );
    registry.register(
        "write_batch_reports",
        "Reports per write transaction",
        t.batch_reports.clone(),
    );
    registry.register(
        "write_batch_seconds",
        "Seconds a write transaction took, commit included",
        t.batch_seconds.clone(),
    );
    registry.register(
        "alarm_messages",
        "Alarm messages by outcome",
        t.alarm_messages.clone(),
    );
    registry.register(
        "database_errors",
        "Database errors",
        t.database_errors.clone(),
    );
    let gauge = |value: usize| {
        let gauge: Gauge = Gauge::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        gauge
    };
    registry.register(
        "writer_queue",
        "Jobs waiting for the writer",
        gauge(readings.writer_queue),
    );
    registry.register("websockets", "Websockets open", gauge(readings.websockets));
    registry.register(
        "event_streams",
        "Dashboard event streams open",
        gauge(readings.event_streams),
    );
    let apps: Family<StatusLabel, Gauge> = Family::default();
    for (status, count) in &readings.apps {
        apps.get_or_create(&StatusLabel {
            status: status.clone(),
        })
        .set(*count);
    }
    registry.register("apps", "Apps by status", apps);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}
