//! The app's own reqwest, hyper, h2 and rustls errors are reports like any
//! other; what the same crates log on the worker's threads while
//! delivering is not. Its own binary: it installs a global subscriber.

mod common;

use std::time::Duration;

use common::{MemorySink, WAIT};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::sink::{Delivery, Sink, SinkError};
use tracing_subscriber::prelude::*;

/// A sink that logs through the HTTP stack's targets while delivering.
#[derive(Clone, Default)]
struct NoisyTransport {
    memory: MemorySink,
}

#[loggerflow_layer::sink::async_trait]
impl Sink for NoisyTransport {
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        tracing::error!(target: "reqwest::connect", "the worker's own request failed");
        tracing::error!(target: "hyper_util::client::legacy", "the worker's connection broke");
        self.memory.send(delivery).await
    }
}

/// The app's own reqwest, hyper and rustls errors are reports like any
/// other; what the worker's stack logs while delivering is not.
#[test]
fn the_apps_own_http_errors_are_captured_and_the_workers_are_not() {
    let sink = NoisyTransport::default();
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder("AppHttp")
        .sink(sink.clone())
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    // a real reqwest error, from a request to a port nobody listens on
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let failed = runtime
        .block_on(reqwest::get(format!("http://127.0.0.1:{closed}/")))
        .expect_err("nothing listens there");
    // global: the worker's threads would see the layer if they were not
    // kept out (a scoped default would hide them from it anyway)
    tracing_subscriber::registry().with(layer).init();
    tracing::error!(target: "reqwest::connect", error = %failed, "the app's request failed");
    tracing::error!(target: "hyper::proto::h1", "the app's connection broke");
    tracing::error!(target: "rustls::conn", "the app's handshake failed");
    tracing::error!(target: "h2::codec", "the app's stream was reset");
    assert!(handle.flush(WAIT));
    // the worker's events, logged during those deliveries, would come next
    std::thread::sleep(Duration::from_millis(200));
    assert!(handle.flush(WAIT));
    let targets: Vec<String> = sink
        .memory
        .taken()
        .iter()
        .map(|d| d.report().target.clone())
        .collect();
    assert_eq!(
        targets,
        [
            "reqwest::connect",
            "hyper::proto::h1",
            "rustls::conn",
            "h2::codec"
        ]
    );
    let first = &sink.memory.taken()[0];
    assert!(
        first.report().fields["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{:?}",
        first.report().fields
    );
    assert_eq!(handle.stats().captured, 4);
}
