//! Custom sinks (the model's `AbstractBackend` with `write_flow` and
//! `async_write_flow`): an async one and a blocking one.
//!
//! The async sink stores each report as a JSON line (a stand-in for a
//! database or a queue); the blocking sink keeps the last report per
//! project in a key-value map, like the model's Redis example.
//!
//! Run with: `cargo run -p loggerflow-examples --bin custom_sink`

use std::collections::HashMap;
use std::sync::Mutex;

use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::sink::{BlockingSink, Delivery, Sink, SinkError, async_trait};
use tokio::io::AsyncWriteExt;
use tracing_subscriber::prelude::*;

/// Appends each report as one JSON line, asynchronously.
struct JsonLines {
    path: String,
}

#[async_trait]
impl Sink for JsonLines {
    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(delivery.report())
            .map_err(|e| SinkError::permanent(format!("cannot encode the report: {e}")))?;
        line.push(b'\n');
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| SinkError::io(format!("cannot open {}", self.path), &e))?;
        file.write_all(&line)
            .await
            .map_err(|e| SinkError::io(format!("cannot write {}", self.path), &e))
    }
}

/// Keeps the latest report text per project (blocking, like a sync client).
#[derive(Default)]
struct KeyValue {
    store: Mutex<HashMap<String, String>>,
}

impl BlockingSink for KeyValue {
    fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        let mut store = self
            .store
            .lock()
            .map_err(|_| SinkError::permanent("the store is poisoned"))?;
        store.insert(
            delivery.report().project.clone(),
            delivery.text().to_owned(),
        );
        println!("stored the latest report of {}", delivery.report().project);
        Ok(())
    }
}

fn main() {
    let layer = LoggerFlowLayer::builder("Redis Backend")
        .sink(JsonLines {
            path: "reports.jsonl".into(),
        })
        .blocking_sink(KeyValue::default())
        .build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!("your test exception");
}
