//! Leaving out what should not be reported (the model's `lf.exclude(...)`):
//! by text in the message or trace, by error type, and by target.
//!
//! Run with: `cargo run -p loggerflow-examples --bin excludes`, then read
//! `test.log`: only the last error is there.

use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::sink::FileSink;
use tracing_subscriber::prelude::*;

fn main() {
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "test.log".into());
    let layer = LoggerFlowLayer::builder("Excludes")
        .sink(FileSink::new(&path))
        .exclude("502 Bad Gateway") // any report whose text contains it
        .exclude_error_type("ParseIntError") // by the error's type name
        .exclude_target("noisy_dependency") // never captured from this target
        .build();
    let handle = layer.handle();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!("upstream answered 502 Bad Gateway");
    let error = "abc".parse::<u32>().expect_err("\"abc\" is not a number");
    tracing::error!(error = &error as &dyn std::error::Error, "bad input");
    tracing::error!(target: "noisy_dependency::pool", "connection pool exhausted");
    tracing::error!("the one that is reported");

    handle.flush(std::time::Duration::from_secs(5));
    println!("excluded: {}", handle.stats().excluded);
}
