//! An app connected to the LoggerFlow server (the model's "Simple start
//! with Lifecycle"): hello on start, heartbeats with process metrics, every
//! error, goodbye on exit.
//!
//! Start the server (`cargo run -p loggerflow-server -- run`), then:
//! `cargo run -p loggerflow-examples --bin lifecycle -- webhook` (or `websocket`),
//! and open http://127.0.0.1:8000/api/v1/projects.
//! `LOGGERFLOW_URL` changes the server (default 127.0.0.1:8000).

use std::time::Duration;

use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use tracing_subscriber::prelude::*;

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "webhook".into());
    let host = std::env::var("LOGGERFLOW_URL").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let builder = LoggerFlowLayer::builder("TestProj");
    let layer = if kind == "websocket" {
        builder.sink(WebSocketLifecycle::new(format!("ws://{host}/loggerflow/")))
    } else {
        builder.sink(WebhookLifecycle::new(format!("http://{host}/loggerflow/")))
    }
    .build();
    let _guard = layer.flush_guard(); // goodbye when main returns
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(layer)
        .init();

    for order in 0..3 {
        tracing::error!(order, "payment provider rejected the card");
        std::thread::sleep(Duration::from_secs(2));
    }
    tracing::info!("done: the app says goodbye and shows as stopped");
}
