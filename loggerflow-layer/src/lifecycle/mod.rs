//! The LoggerFlow server's lifecycle: sinks that introduce the app to the
//! server, keep it informed with heartbeats and metrics, send every report,
//! and say goodbye when the app stops (the model's `WebhookLifecycle` and
//! `WebSocketLifecycle`).
//!
//! ```no_run
//! use loggerflow_layer::LoggerFlowLayer;
//! use loggerflow_layer::lifecycle::WebhookLifecycle;
//!
//! let layer: LoggerFlowLayer = LoggerFlowLayer::new("TestProj")
//!     .sink(WebhookLifecycle::new("http://127.0.0.1:8000/loggerflow/"));
//! let _guard = layer.flush_guard(); // says goodbye when main returns
//! ```
//!
//! The app starts even when the server is down. Reports wait in a bounded
//! buffer (10,000 by default; what overflows is counted) until the server
//! acknowledges them by id; after a reconnect everything unacknowledged is
//! sent again (the server stores each id once). Reconnects back off,
//! doubling up to 30 s.

mod metrics;
mod pending;
mod webhook;
mod websocket;

pub use metrics::Sampler;
pub use webhook::WebhookLifecycle;
pub use websocket::WebSocketLifecycle;

use crate::protocol::{Hello, PROTOCOL_VERSION, Transport};
use crate::sink::SinkContext;

/// The client name and version sent in hellos.
pub(crate) const CLIENT: &str = concat!("loggerflow-rust/", env!("CARGO_PKG_VERSION"));

/// The longest wait between reconnects.
pub(crate) const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);

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
    }
}

/// `base` + `path`, with exactly one `/` between them.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
