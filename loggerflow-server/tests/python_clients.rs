//! The Python `loggerflow` 0.0.6 clients, unchanged, against this server.
//!
//! Needs a Python with `loggerflow==0.0.6`: `scripts/test` makes one in
//! `target/py-loggerflow` (or set `LOGGERFLOW_PYTHON`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{BACKENDS, Db, Server, project};

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("LOGGERFLOW_PYTHON") {
        return python.into();
    }
    let python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-loggerflow/bin/python");
    assert!(
        python.exists(),
        "no Python with loggerflow 0.0.6 at {}: run scripts/test (it installs one) or set LOGGERFLOW_PYTHON",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_webhook_and_websocket_clients_report_unchanged() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client.py");
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let webhook = format!("{}/loggerflow/", server.base);
        let websocket = format!("ws://127.0.0.1:{}/loggerflow/", server.port());
        let mut children = Vec::new();
        for (kind, base, name) in [("webhook", &webhook, "PyHook"), ("ws", &websocket, "PyWs")] {
            children.push(
                Command::new(python())
                    .arg(&script)
                    // 7 s: the checks below need it online, and importing
                    // its packages takes seconds on a loaded machine
                    .args([kind, base.as_str(), name, "2", "7"])
                    .spawn()
                    .expect("run the Python client"),
            );
        }
        let seen = server
            .wait_for("/api/v1/projects", Duration::from_secs(20), |v| {
                ["PyHook", "PyWs"].iter().all(|n| {
                    project(v, n).is_some_and(|p| p["error_count"] == 2 && p["status"] == "online")
                })
            })
            .await;
        for (name, implementation) in [("PyHook", "webhook"), ("PyWs", "websocket")] {
            let p = project(&seen, name)
                .unwrap_or_else(|| panic!("{backend:?}: {name} missing: {seen}"));
            assert_eq!(p["status"], "online", "{backend:?} {name}: {p}");
            assert_eq!(p["implementation"], implementation);
            assert_eq!(p["heartbeat_s"], 1);
            assert_eq!(p["error_count"], 2, "{backend:?} {name}");
            assert_eq!(p["group_count"], 1, "the same error twice is one group");
            assert_eq!(p["last_error"], "ZeroDivisionError: division by zero");
            let instance = &p["instances"][0];
            assert!(
                instance["memory_total_bytes"].as_i64() > Some(100_000_000),
                "GiB strings became bytes: {instance}"
            );
            let errors = server
                .get(&format!("/api/v1/projects/{name}/reports?limit=1"))
                .await;
            let report = &errors["reports"][0]["report"];
            let innermost = report["frames"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["yours"] == true))
                .cloned();
            assert_eq!(
                innermost.map(|f| f["function"].clone()),
                Some("charge".into()),
                "{report}"
            );
            let metrics = server
                .get(&format!("/api/v1/projects/{name}/metrics?window=1m"))
                .await;
            assert!(
                !metrics["points"]
                    .as_array()
                    .map(Vec::is_empty)
                    .unwrap_or(true)
            );
        }
        for mut child in children {
            let status = child.wait().expect("wait");
            assert!(
                status.success(),
                "{backend:?}: the Python client exited with {status}"
            );
        }
        // the websocket client's socket closed at exit: offline at once
        let after = server
            .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
                project(v, "PyWs").is_some_and(|p| p["status"] == "offline")
            })
            .await;
        assert_eq!(
            project(&after, "PyWs").map(|p| p["status"].clone()),
            Some("offline".into()),
            "{backend:?}"
        );
    }
}

/// The server is killed with SIGKILL twice while the Python 0.0.6 webhook
/// client and a Rust webhook app stream errors. The Rust app's reports are
/// all stored exactly once. The Python client sends each error once, with no
/// id and no retry (and stops posting errors after a failed post: its own
/// design), so what can hold for it is that nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twice_with_the_python_webhook_client_stores_nothing_twice() {
    use loggerflow_layer::LoggerFlowLayer;
    use loggerflow_layer::lifecycle::WebhookLifecycle;
    use tracing_subscriber::prelude::*;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client.py");
    let db = Db::new(common::Backend::Sqlite).await;
    let mut server = Server::start(&db.url, &[]);
    let webhook = format!("{}/loggerflow/", server.base);
    let mut python_app = Command::new(python())
        .arg(&script)
        .args([
            "webhook",
            webhook.as_str(),
            "KillPy",
            "300",
            "1",
            "0.01",
            "distinct",
        ])
        .spawn()
        .expect("run the Python client");
    let sink = WebhookLifecycle::new(webhook.clone()).heartbeat(Duration::from_secs(1));
    let rust_app = std::thread::spawn(move || {
        let layer = LoggerFlowLayer::builder("KillRust")
            .sink(sink)
            .capture_panics(false)
            .build();
        let guard = layer.flush_guard();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..150 {
                tracing::error!(i, "order {i} failed");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        guard
    });
    // the first kill once the Python client has been heard (it stops posting
    // errors after a failed post, so it must have started before)
    server
        .wait_for("/api/v1/projects", Duration::from_secs(30), |v| {
            project(v, "KillPy").is_some_and(|p| p["error_count"].as_i64() >= Some(1))
        })
        .await;
    server.kill_and_restart();
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.kill_and_restart();
    let guard = rust_app.join().expect("Rust app");
    let _ = python_app.wait();
    let seen = server
        .wait_for("/api/v1/projects", Duration::from_secs(30), |v| {
            project(v, "KillRust").is_some_and(|p| p["error_count"] == 150)
        })
        .await;
    assert_eq!(
        project(&seen, "KillRust").map(|p| p["error_count"].clone()),
        Some(150.into()),
        "the Rust app lost nothing: {seen}"
    );
    let stored = server
        .get("/api/v1/projects/KillPy/reports?limit=500")
        .await;
    let messages: Vec<String> = stored["reports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["report"]["message"].as_str().map(str::to_owned))
        .collect();
    let distinct: std::collections::HashSet<&String> = messages.iter().collect();
    assert!(
        !messages.is_empty(),
        "the Python client reported before the kills"
    );
    assert!(messages.len() <= 300);
    assert_eq!(
        distinct.len(),
        messages.len(),
        "nothing stored twice: {messages:?}"
    );
    drop(guard);
}

/// The original's projects page shows each app's backends and authors: the
/// Python 0.0.6 handshake sends both (webhook and websocket), a Rust app's
/// hello names its sinks; the API and the projects page show them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_apps_backends_and_authors_are_shown() {
    use loggerflow_layer::LoggerFlowLayer;
    use loggerflow_layer::lifecycle::WebhookLifecycle;
    use loggerflow_layer::sink::FileSink;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/backends.py");
    let dir = tempfile::tempdir().expect("tempdir");
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let webhook = format!("{}/loggerflow/", server.base);
        let websocket = format!("ws://127.0.0.1:{}/loggerflow/", server.port());
        let log = dir.path().join("py.log");
        let mut children = Vec::new();
        for (kind, base, name) in [("webhook", &webhook, "PyHook"), ("ws", &websocket, "PyWs")] {
            children.push(
                Command::new(python())
                    .arg(&script)
                    .args([kind, base.as_str(), name, "3"])
                    .arg(&log)
                    .spawn()
                    .expect("run the Python client"),
            );
        }
        let file = dir.path().join("rust.log");
        let layer: LoggerFlowLayer = LoggerFlowLayer::builder("RustApp")
            .sink(FileSink::new(&file))
            .sink(WebhookLifecycle::new(webhook.clone()).heartbeat(Duration::from_secs(1)))
            .capture_panics(false)
            .build();
        let guard = layer.flush_guard();
        let seen = server
            .wait_for("/api/v1/projects", Duration::from_secs(20), |v| {
                ["PyHook", "PyWs", "RustApp"]
                    .iter()
                    .all(|n| project(v, n).is_some_and(|p| p["status"] == "online"))
            })
            .await;
        for name in ["PyHook", "PyWs"] {
            let p = project(&seen, name)
                .unwrap_or_else(|| panic!("{backend:?}: {name} missing: {seen}"));
            assert_eq!(p["backends"], "TelegramBackend, FileBackend", "{p}");
            assert_eq!(p["authors"], "@ann, @bob", "{p}");
            assert_eq!(
                p["instances"][0]["backends"],
                "TelegramBackend, FileBackend"
            );
        }
        let rust = project(&seen, "RustApp")
            .unwrap_or_else(|| panic!("{backend:?}: RustApp missing: {seen}"));
        assert_eq!(
            rust["backends"],
            format!("file:{}", file.display()),
            "its sinks but the lifecycle one: {rust}"
        );
        assert_eq!(rust["authors"], "", "{rust}");
        let html = reqwest::get(server.url("/"))
            .await
            .expect("GET /")
            .text()
            .await
            .expect("body");
        assert!(
            html.contains("TelegramBackend, FileBackend") && html.contains("@ann, @bob"),
            "{backend:?}: the projects page shows them: {html}"
        );
        assert!(html.contains(&format!("file:{}", file.display())), "{html}");
        drop(guard);
        drop(layer);
        for mut child in children {
            let status = child.wait().expect("wait");
            assert!(
                status.success(),
                "{backend:?}: the Python client exited with {status}"
            );
        }
    }
}
