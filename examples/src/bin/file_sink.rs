//! The simplest start: every `error!` and panic goes to a file, in the trace
//! mode you pick (the model's `FileBackend` with `traceback='clean'`).
//!
//! Run with: `cargo run -p loggerflow-examples --bin file_sink -- clean`
//! (or `full`, `minimal`), then read `test.log`.

use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    let mode: TraceMode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "clean".into())
        .parse()
        .map_err(anyhow::Error::msg)?;
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "test.log".into());

    let layer = LoggerFlowLayer::builder("TestProj")
        .sink(FileSink::new(&path))
        .trace_mode(mode)
        .with_backtrace(true)
        .build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(layer)
        .init();

    let span = tracing::info_span!("import", file = "users.csv");
    let _entered = span.enter();
    if let Err(error) = parse_row("7,alice,forty-two") {
        tracing::error!(
            error = &error as &dyn std::error::Error,
            row = 3,
            "cannot import a row"
        );
    }
    println!("reported in {mode:?} mode to {path}");
    Ok(())
}

fn parse_row(row: &str) -> Result<u32, std::num::ParseIntError> {
    let age = row.split(',').nth(2).unwrap_or_default();
    age.parse()
}
