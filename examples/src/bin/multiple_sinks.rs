//! Several sinks at once: every report goes to each of them, independently
//! (the model's `backend=[backend_telegram, backend_discord]`). Here: a
//! full trace in one file, the one-line summary in another, and stderr.
//!
//! Run with: `cargo run -p loggerflow-examples --bin multiple_sinks`

use loggerflow_layer::sink::{BlockingSink, Delivery, FileSink, SinkError};
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

/// A sink that writes the one-line summary to stderr, whatever the layer's mode.
struct Stderr;

impl BlockingSink for Stderr {
    fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        eprintln!(
            "[{}] {}",
            delivery.report().project,
            delivery.render(TraceMode::Minimal)
        );
        Ok(())
    }
}

fn main() {
    let layer = LoggerFlowLayer::new("Multi")
        .sink(FileSink::new("logs/full.log"))
        .sink(FileSink::new("logs/errors.log"))
        .blocking_sink(Stderr)
        .trace_mode(TraceMode::Full);
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!(order = 1042, "payment provider rejected the card");
}
