//! A quick ingest load: N concurrent webhook clients posting batches of
//! realistic reports (~2 KB, 20 frames) to a running server; prints
//! reports/s. The full load tool (websockets, PostgreSQL, latency
//! percentiles, the raw-insert ratio) is a later milestone.
//!
//! Run with: `cargo run --release -p loggerflow-server --example ingest_load -- http://127.0.0.1:8000 8 200 100`
//! (server, clients, batches per client, reports per batch).

use std::time::Instant;

fn report(project: &str, n: usize) -> serde_json::Value {
    let frames: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            serde_json::json!({
                "function": format!("shop::checkout::step_{i}::{{{{closure}}}}"),
                "file": format!("src/checkout/step_{i}.rs"),
                "line": 100 + i,
                "yours": i % 3 == 0
            })
        })
        .collect();
    serde_json::json!({ "type": "report", "report": {
        "id": loggerflow_layer::ReportId::new().to_string(), "project": project,
        "timestamp": chrono::Utc::now().to_rfc3339(), "level": "ERROR", "kind": "event",
        "message": format!("payment {n} failed: card declined by issuer"), "target": "shop::pay",
        "module": "shop::pay", "file": "src/pay.rs", "line": 10, "thread": "tokio-runtime-worker",
        "host": "web-1", "frames": frames
    } })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let batches: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let per_batch: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let http = reqwest::Client::new();
    let sample = serde_json::to_vec(&report("Load", 0))
        .map(|v| v.len())
        .unwrap_or(0);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = format!("{base}/loggerflow/v1/batch");
        tasks.push(tokio::spawn(async move {
            let instance = format!("load-{c}");
            let mut acked = 0usize;
            for b in 0..batches {
                let mut messages = Vec::with_capacity(per_batch + 1);
                if b == 0 {
                    messages.push(
                        serde_json::json!({"type": "hello", "protocol": 1, "project": "Load",
                        "instance": instance, "host": "h", "pid": 1, "client_version": "load/1",
                        "heartbeat_s": 60, "trace_mode": "full", "transport": "webhook"}),
                    );
                }
                messages.extend((0..per_batch).map(|n| report("Load", n)));
                let body =
                    serde_json::json!({"protocol": 1, "instance": instance, "messages": messages});
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let reply: serde_json::Value = r.json().await.unwrap_or_default();
                        acked += reply["ids"].as_array().map(Vec::len).unwrap_or(0);
                    }
                    Ok(r) => eprintln!("HTTP {}", r.status()),
                    Err(e) => eprintln!("{e}"),
                }
            }
            acked
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} reports acknowledged in {secs:.2} s: {:.0} reports/s ({clients} clients, {per_batch} per batch, ~{sample} bytes each)",
        total as f64 / secs
    );
}
