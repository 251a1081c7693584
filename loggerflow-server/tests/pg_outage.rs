//! PostgreSQL stops for 10 s while apps are sending: ingest answers 503
//! with `Retry-After` (not 500, not a hang), the Rust clients buffer and
//! retry, and once the database is back every report is stored exactly once.
//!
//! This binary holds one test: it stops the machine's PostgreSQL cluster
//! (cargo runs test binaries one after another, so no other test is using
//! it), and a guard starts it again whatever happens.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Db, Server, batch, hello, new_id, project, report};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use tracing_subscriber::prelude::*;

fn cluster(action: &str) -> bool {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a PostgreSQL cluster in /etc/postgresql");
    let mut command = Command::new("pg_ctlcluster");
    command.args(["--skip-systemctl-redirect", &version, "main", action]);
    if action == "stop" {
        command.args(["-m", "fast"]);
    }
    command.status().map(|s| s.success()).unwrap_or(false)
}

fn ready() -> bool {
    Command::new("pg_isready")
        .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Starts PostgreSQL again when dropped (also when the test fails).
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if !ready() {
            cluster("start");
        }
        for _ in 0..60 {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// An app that logs `errors` errors, 50 ms apart; its guard keeps it
/// delivering.
fn app(
    name: &str,
    sink: impl loggerflow_layer::sink::Sink,
    errors: usize,
) -> loggerflow_layer::FlushGuard {
    let layer = LoggerFlowLayer::builder(name)
        .sink(sink)
        .capture_panics(false)
        .build();
    let guard = layer.flush_guard();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..errors {
            tracing::error!(i, "order {i} failed");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    guard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_503_while_postgres_is_down_and_nothing_is_lost() {
    const PER_APP: usize = 300;
    let db = Db::new(Backend::Postgres).await;
    let server = Server::start(&db.url, &[]);
    let hook = WebhookLifecycle::new(format!("{}/loggerflow/", server.base))
        .heartbeat(Duration::from_secs(1));
    let ws = WebSocketLifecycle::new(format!("ws://127.0.0.1:{}/loggerflow/", server.port()))
        .heartbeat(Duration::from_secs(1));
    // two apps sending for ~15 s, across the outage
    let apps = vec![
        std::thread::spawn({
            let hook = hook.clone();
            move || app("OutageHook", hook, PER_APP)
        }),
        std::thread::spawn({
            let ws = ws.clone();
            move || app("OutageWs", ws, PER_APP)
        }),
    ];

    tokio::time::sleep(Duration::from_secs(2)).await;
    let _restart = Restart;
    assert!(cluster("stop"), "stopping PostgreSQL");
    let stopped = Instant::now();
    // while it is down, a batch is answered 503 with Retry-After, in bounded time
    let id = new_id();
    let body = batch(
        "probe-1",
        serde_json::json!([
            hello("Probe", "probe-1", 5, "webhook"),
            report("Probe", &id, 1)
        ]),
    );
    let asked = Instant::now();
    let response = reqwest::Client::new()
        .post(server.url("/loggerflow/v1/batch"))
        .header("content-type", "application/json")
        .body(body.clone())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(
        response.status().as_u16(),
        503,
        "{:?}",
        response.text().await
    );
    assert!(asked.elapsed() < Duration::from_secs(12));
    assert!(response.headers().contains_key("retry-after"));
    let error: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(error["error"], "storage_unavailable");
    let pages = reqwest::get(server.url("/")).await.expect("GET /");
    assert_eq!(pages.status().as_u16(), 503, "pages say so too");

    let left = Duration::from_secs(10).saturating_sub(stopped.elapsed());
    tokio::time::sleep(left).await;
    assert!(cluster("start"), "starting PostgreSQL");
    for _ in 0..60 {
        if ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // the probe's client retries after the outage: stored once
    let mut status = 0;
    for _ in 0..40 {
        status = server.post("/loggerflow/v1/batch", &body).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, 200, "ingest recovers by itself");
    let guards: Vec<_> = apps
        .into_iter()
        .map(|a| a.join().expect("app thread"))
        .collect();
    let done = |v: &serde_json::Value| {
        ["OutageHook", "OutageWs"]
            .iter()
            .all(|n| project(v, n).is_some_and(|p| p["error_count"] == PER_APP))
    };
    let seen = server
        .wait_for("/api/v1/projects", Duration::from_secs(60), done)
        .await;
    for name in ["OutageHook", "OutageWs"] {
        let p = project(&seen, name).unwrap_or_else(|| panic!("{seen}"));
        assert_eq!(p["error_count"], PER_APP, "{name}: every report, once");
    }
    assert_eq!(
        project(&seen, "Probe").map(|p| p["error_count"].clone()),
        Some(1.into())
    );
    assert_eq!(hook.pending(), 0);
    assert_eq!(ws.pending(), 0);
    drop(guards);
}
