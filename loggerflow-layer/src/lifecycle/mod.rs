//! The LoggerFlow server's lifecycle: sinks that introduce the app to the
//! server, keep it informed with heartbeats and metrics, send every report,
//! and say goodbye when the app stops (the model's `WebhookLifecycle` and
//! `WebSocketLifecycle`).
//!
//! ```no_run
//! use loggerflow_layer::LoggerFlowLayer;
//! use loggerflow_layer::lifecycle::WebhookLifecycle;
//!
//! let layer: LoggerFlowLayer = LoggerFlowLayer::builder("TestProj")
//!     .sink(WebhookLifecycle::new("https://loggerflow.example.com/loggerflow/"))
//!     .build();
//! let _guard = layer.flush_guard(); // says goodbye when main returns
//! ```
//!
//! The app starts even when the server is down. Reports wait in a bounded
//! buffer (10,000 reports and 64 MiB by default; what overflows is counted)
//! until the server acknowledges them by id; after a reconnect everything
//! unacknowledged is sent again (the server stores each id once). Retries
//! back off with jitter (0.5–1 s at first, doubling to 15–30 s), so a
//! thousand apps do not come back to a restarted server in one instant; a
//! server that says how long to wait (`Retry-After`) is waited for.
//!
//! Both speak TLS (`https://`, `wss://`) through rustls, trusting the
//! system's roots (or `SSL_CERT_FILE`), and a PEM file given with
//! `root_certificates` for a self-signed server.
//!
//! A report counts as delivered ([`SinkStats::delivered`](crate::SinkStats::delivered))
//! when the server acknowledged it, and a flush
//! ([`Handle::flush`](crate::Handle::flush), the flush guard) waits for those
//! acknowledgements: an app that flushes and exits loses nothing the flush
//! said was delivered.
//!
//! What the server says is acted on: `unknown_instance` (its database was
//! replaced, the project deleted, the app cleared) makes the app say hello
//! again; a report it refuses for good (too large, a bad name) is dropped and
//! counted in [`overflowed`](WebhookLifecycle::overflowed), never sent again.

/// The builder methods and counters both lifecycle sinks share (each has
/// an `inner: Arc<Inner>` with `settings`, `instance` and `pending`, and a
/// `with` that rebuilds it with changed settings).
macro_rules! common_builder {
    () => {
        /// The server's ingest key (`--ingest-key`).
        #[must_use]
        pub fn ingest_key(self, key: impl Into<String>) -> Self {
            let key = key.into();
            self.with(|s| s.key = Some(key))
        }

        /// How many unacknowledged reports are kept while the server is
        /// away (default 10,000); beyond it the oldest are dropped and
        /// counted.
        #[must_use]
        pub fn buffer(self, capacity: usize) -> Self {
            self.with(|s| s.capacity = capacity)
        }

        /// How many bytes of unacknowledged reports are kept (serialised;
        /// default 64 MiB); beyond it the oldest are dropped and counted.
        #[must_use]
        pub fn buffer_bytes(self, bytes: usize) -> Self {
            self.with(|s| s.capacity_bytes = bytes)
        }

        /// Also trusts the certificates in the PEM file at `path` for an
        /// `https://` or `wss://` server: its own self-signed certificate,
        /// or a private CA's. The system's roots stay trusted (set
        /// `SSL_CERT_FILE` to replace them). A file that cannot be read or
        /// holds no certificate is said on stderr when the sink starts, and
        /// nothing is sent (fix it and restart the app).
        #[must_use]
        pub fn root_certificates(self, path: impl Into<std::path::PathBuf>) -> Self {
            let path = path.into();
            self.with(|s| s.roots = Some(path))
        }

        /// This process's instance id, as the server knows it.
        pub fn instance(&self) -> &str {
            &self.inner.instance
        }

        /// Reports waiting for the server's acknowledgement.
        pub fn pending(&self) -> usize {
            self.inner.pending.len()
        }

        /// Reports dropped: the buffer was full, or the server refused them
        /// for good (too large, a name it does not accept).
        pub fn overflowed(&self) -> u64 {
            self.inner.pending.overflowed()
        }
    };
}

mod metrics;
mod pending;
mod tls;
mod webhook;
mod websocket;

pub use metrics::Sampler;
pub use webhook::WebhookLifecycle;
pub use websocket::WebSocketLifecycle;

use crate::protocol::{Hello, PROTOCOL_VERSION, Transport};
use crate::sink::SinkContext;

/// The client name and version sent in hellos.
pub(crate) const CLIENT: &str = concat!("loggerflow-rust/", env!("CARGO_PKG_VERSION"));

/// How the names of the lifecycle sinks begin (`lifecycle:webhook`,
/// `lifecycle:websocket`): a hello lists the other sinks.
const LIFECYCLE_PREFIX: &str = "lifecycle:";

/// How the lifecycle sinks are set up; every builder method changes one
/// setting, in any order.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) base: String,
    pub(crate) key: Option<String>,
    pub(crate) heartbeat: std::time::Duration,
    pub(crate) capacity: usize,
    pub(crate) capacity_bytes: usize,
    /// A PEM file of further trusted certificates.
    pub(crate) roots: Option<std::path::PathBuf>,
}

impl Settings {
    pub(crate) fn new(base: String, heartbeat: std::time::Duration) -> Self {
        Self {
            base,
            key: None,
            heartbeat,
            capacity: 10_000,
            capacity_bytes: 64 * 1024 * 1024,
            roots: None,
        }
    }
}

/// Waits between retries: exponential with jitter (`backon`), 0.5–1 s at
/// first, at most 15–30 s.
pub(crate) struct Backoff(backon::ExponentialBackoff);

impl Backoff {
    pub(crate) fn new() -> Self {
        use backon::BackoffBuilder as _;
        Self(
            backon::ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(500))
                .with_max_delay(std::time::Duration::from_secs(15))
                .with_jitter()
                .without_max_times()
                .build(),
        )
    }

    /// The next wait, at least `at_least` (what the server asked for).
    pub(crate) fn next(&mut self, at_least: Option<std::time::Duration>) -> std::time::Duration {
        let wait = self.0.next().unwrap_or(std::time::Duration::from_secs(15));
        wait.max(at_least.unwrap_or_default())
    }

    /// Back to the shortest wait (after a success).
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }
}

/// The hello of this process for `context`.
pub(crate) fn hello(
    context: &SinkContext,
    instance: &str,
    heartbeat_s: u32,
    transport: Transport,
) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        project: context.project.clone(),
        instance: instance.to_owned(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        pid: std::process::id(),
        client_version: CLIENT.into(),
        heartbeat_s,
        trace_mode: context.trace_mode,
        transport,
        release: context.release.clone(),
        environment: Some(context.environment.clone()),
        // the lifecycle sinks are how it reaches the server, not where else
        // its reports go
        backends: context
            .sinks
            .iter()
            .filter(|name| !name.starts_with(LIFECYCLE_PREFIX))
            .cloned()
            .collect(),
    }
}

/// A heartbeat interval between 1 s and a day.
pub(crate) fn heartbeat_within_bounds(every: std::time::Duration) -> std::time::Duration {
    every.clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(24 * 3600),
    )
}

/// `base` + `path`, with exactly one `/` between them.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_lists_the_sinks_but_the_lifecycle_ones() {
        let mut context = SinkContext::new("Shop", crate::trace::TraceMode::Clean);
        context.sinks = vec![
            "file:/var/log/shop.log".into(),
            "lifecycle:webhook".into(),
            "telegram".into(),
        ];
        let hello = hello(&context, "i-1", 10, Transport::Webhook);
        assert_eq!(hello.backends, ["file:/var/log/shop.log", "telegram"]);
    }

    /// The first wait after a lost connection (what every app of a
    /// restarted server waits) is spread over 0.5–1 s: 10,000 of them fill
    /// each tenth of the window with 5–15 % of the waits, so a server
    /// restart is not met by every app in the same instant. The later waits
    /// double, up to 15–30 s; the server's `Retry-After` is a floor.
    #[test]
    fn waits_are_jittered_over_the_window_and_double() {
        use std::time::Duration;
        let mut tenths = [0usize; 10];
        for _ in 0..10_000 {
            let wait = Backoff::new().next(None);
            assert!(
                (Duration::from_millis(500)..=Duration::from_millis(1000)).contains(&wait),
                "{wait:?}"
            );
            let tenth = usize::try_from((wait.as_millis() - 500) / 50).unwrap_or(9);
            tenths[tenth.min(9)] += 1;
        }
        for (i, n) in tenths.iter().enumerate() {
            assert!(
                (500..=1500).contains(n),
                "{}–{} ms holds {n} of 10,000: {tenths:?}",
                500 + 50 * i,
                550 + 50 * i
            );
        }
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next(None)).collect();
        assert!(waits[1] >= Duration::from_secs(1), "{waits:?}");
        assert!(
            waits[11] >= Duration::from_secs(15) && waits[11] <= Duration::from_secs(30),
            "{waits:?}"
        );
        assert_eq!(
            Backoff::new().next(Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        backoff.reset();
        assert!(backoff.next(None) <= Duration::from_secs(1));
    }
}
