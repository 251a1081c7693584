//! The Python `loggerflow` 0.0.6 clients, unchanged, against this server.
//!
//! Needs a Python with `loggerflow==0.0.6`: `scripts/test` makes one in
//! `target/py-loggerflow` (or set `LOGGERFLOW_PYTHON`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{BACKENDS, Db, Server};

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

fn project<'a>(projects: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    projects["projects"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
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
                    .args([kind, base.as_str(), name, "2", "4"])
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
