//! A Rust app with each lifecycle sink against a real `loggerflow` process:
//! hello, heartbeats with metrics, reports, goodbye; a server that is down
//! at first; a server killed with SIGKILL in the middle of a stream.

mod common;

use std::time::Duration;

use common::{Backend, Db, Server, project};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use loggerflow_layer::sink::Sink;
use tracing_subscriber::prelude::*;

/// Runs an app (a layer with `sink`) that logs `errors` errors, `pause` apart.
fn app(
    name: &str,
    sink: impl Sink,
    errors: usize,
    pause: Duration,
) -> loggerflow_layer::FlushGuard {
    let layer = LoggerFlowLayer::builder(name)
        .sink(sink)
        .capture_panics(false)
        .build();
    let guard = layer.flush_guard();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..errors {
            tracing::error!(i, "order {i} failed");
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
    });
    guard
}

async fn lifecycle_round_trip(backend: Backend, websocket: bool) {
    let db = Db::new(backend).await;
    let server = Server::start(&db.url, &[]);
    let name = if websocket { "RustWs" } else { "RustHook" };
    let guard = if websocket {
        let url = format!("ws://127.0.0.1:{}/loggerflow/", server.port());
        app(
            name,
            WebSocketLifecycle::new(url).heartbeat(Duration::from_secs(1)),
            3,
            Duration::ZERO,
        )
    } else {
        let url = format!("{}/loggerflow/", server.base);
        app(
            name,
            WebhookLifecycle::new(url).heartbeat(Duration::from_secs(1)),
            3,
            Duration::ZERO,
        )
    };
    let seen = server
        .wait_for("/api/v1/projects", Duration::from_secs(10), |v| {
            project(v, name).is_some_and(|p| {
                p["error_count"] == 3 && p["instances"][0]["memory_total_bytes"].as_i64() > Some(0)
            })
        })
        .await;
    let p = project(&seen, name).unwrap_or_else(|| panic!("{backend:?}: {seen}"));
    assert_eq!(p["status"], "online", "{backend:?} {name}: {p}");
    assert_eq!(p["error_count"], 3, "{backend:?} {name}");
    assert_eq!(p["group_count"], 1, "one error in a loop is one group");
    assert_eq!(p["heartbeat_s"], 1);
    assert_eq!(
        p["implementation"],
        if websocket { "websocket" } else { "webhook" }
    );
    let instance = &p["instances"][0];
    assert!(
        instance["process_memory_bytes"].as_i64() > Some(0),
        "{instance}"
    );
    assert_eq!(
        instance["pid"].as_i64(),
        Some(i64::from(std::process::id()))
    );
    let metrics = server
        .get(&format!("/api/v1/projects/{name}/metrics?window=1m"))
        .await;
    assert!(
        !metrics["points"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true),
        "{metrics}"
    );
    drop(guard); // goodbye
    let after = server
        .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
            project(v, name).is_some_and(|p| p["status"] == "stopped")
        })
        .await;
    assert_eq!(
        project(&after, name).map(|p| p["status"].clone()),
        Some("stopped".into()),
        "{backend:?} {name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_lifecycle_round_trip() {
    for backend in common::BACKENDS {
        lifecycle_round_trip(backend, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_lifecycle_round_trip() {
    for backend in common::BACKENDS {
        lifecycle_round_trip(backend, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_starts_while_the_server_is_down_and_delivers_later() {
    let db = Db::new(Backend::Sqlite).await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/loggerflow/");
    let sink = WebhookLifecycle::new(url).heartbeat(Duration::from_secs(1));
    let layer = LoggerFlowLayer::builder("Early")
        .sink(sink.clone())
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..5 {
            tracing::error!(i, "before the server {i}");
        }
    });
    assert!(
        !handle.flush(Duration::from_secs(1)),
        "nothing is acknowledged while the server is away"
    );
    // the worker hands them to the sink's buffer on its own time (a loaded
    // machine may take longer than the flush above)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sink.pending() < 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.pending(), 5, "buffered while the server is away");
    let server = common::Server::start_on_port(&db.url, &[], port);
    let seen = server
        .wait_for("/api/v1/projects", Duration::from_secs(15), |v| {
            project(v, "Early").is_some_and(|p| p["error_count"] == 5)
        })
        .await;
    assert_eq!(
        project(&seen, "Early").map(|p| p["error_count"].clone()),
        Some(5.into())
    );
    assert_eq!(sink.pending(), 0);
}

/// The server is killed with SIGKILL twice in the middle of a stream of
/// 1,000 reports from each lifecycle kind and restarted: afterwards exactly
/// 1,000 distinct reports of each are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_stores_nothing_twice() {
    for backend in common::BACKENDS {
        let db = Db::new(backend).await;
        let mut server = Server::start(&db.url, &[]);
        let hook = WebhookLifecycle::new(format!("{}/loggerflow/", server.base))
            .heartbeat(Duration::from_secs(1));
        let ws = WebSocketLifecycle::new(format!("ws://127.0.0.1:{}/loggerflow/", server.port()))
            .heartbeat(Duration::from_secs(1));
        let apps = std::thread::spawn(move || {
            let a = std::thread::spawn(move || {
                app("KillHook", hook, 1000, Duration::from_micros(1500))
            });
            let b =
                std::thread::spawn(move || app("KillWs", ws, 1000, Duration::from_micros(1500)));
            (a.join(), b.join())
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.kill_and_restart();
        tokio::time::sleep(Duration::from_millis(500)).await;
        server.kill_and_restart();
        let (a, b) = apps.join().expect("apps");
        let done = |v: &serde_json::Value| {
            ["KillHook", "KillWs"]
                .iter()
                .all(|n| project(v, n).is_some_and(|p| p["error_count"] == 1000))
        };
        let seen = server
            .wait_for("/api/v1/projects", Duration::from_secs(40), done)
            .await;
        for name in ["KillHook", "KillWs"] {
            let p = project(&seen, name).unwrap_or_else(|| panic!("{backend:?}: {seen}"));
            assert_eq!(
                p["error_count"], 1000,
                "{backend:?} {name}: exactly 1,000 distinct reports"
            );
        }
        drop((a, b));
    }
}
