//! Panics in any thread become reports (kind `panic`), with the thread's
//! name, while the default hook still prints them.
//!
//! Run with: `cargo run -p loggerflow-examples --bin panic_thread`

use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

fn main() {
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "test.log".into());
    let layer = LoggerFlowLayer::builder("Threads")
        .sink(FileSink::new(&path))
        .trace_mode(TraceMode::Clean)
        .build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    let worker = std::thread::Builder::new()
        .name("importer".into())
        .spawn(|| import(&["1", "2", "three"]))
        .expect("spawn the importer");
    match worker.join() {
        Ok(total) => println!("imported {total}"),
        Err(_) => println!("the importer panicked; its report is in {path}"),
    }
}

fn import(rows: &[&str]) -> u32 {
    rows.iter()
        .map(|row| row.parse::<u32>().expect("rows are numbers"))
        .sum()
}
