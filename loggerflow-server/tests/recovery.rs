//! Never lose, never stall (issue 13): Rust apps against a real `loggerflow`
//! process that forgets them (its database replaced, their project deleted),
//! refuses their reports as too large, restarts under them, or stops with
//! their websockets open; an old socket closing after a reconnect; a search
//! for a non-ASCII title.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Db, FormClient, Server, project};
use futures_util::{SinkExt, StreamExt};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use loggerflow_layer::sink::Sink;
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::prelude::*;

/// A running app: a layer with one lifecycle sink, and its subscriber to log
/// through at any time.
struct App {
    dispatch: tracing::Dispatch,
    guard: Option<loggerflow_layer::FlushGuard>,
}

impl App {
    fn start(name: &str, sink: impl Sink) -> Self {
        let layer = LoggerFlowLayer::builder(name)
            .sink(sink)
            .capture_panics(false)
            .build();
        let guard = layer.flush_guard();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        Self {
            dispatch,
            guard: Some(guard),
        }
    }

    /// Logs `n` errors numbered from `from`.
    fn errors(&self, from: usize, n: usize) {
        tracing::dispatcher::with_default(&self.dispatch, || {
            for i in from..from + n {
                tracing::error!(i, "order {i} failed");
            }
        });
    }

    /// Logs one error inside a span whose field weighs `bytes`.
    fn heavy_error(&self, bytes: usize) {
        tracing::dispatcher::with_default(&self.dispatch, || {
            let payload = "x".repeat(bytes);
            let span = tracing::error_span!("import", payload = %payload);
            let _entered = span.enter();
            tracing::error!(blob = %payload, "{}", "y".repeat(70 * 1024));
        });
    }

    /// Says goodbye (flushes what is pending).
    fn stop(&mut self) {
        drop(self.guard.take());
    }
}

/// Waits until `name` is online with `errors` errors (or `within` passes).
async fn online_with(server: &Server, name: &str, errors: i64, within: Duration) -> bool {
    let seen = server
        .wait_for("/api/v1/projects", within, |v| {
            project(v, name).is_some_and(|p| p["status"] == "online" && p["error_count"] == errors)
        })
        .await;
    project(&seen, name).is_some_and(|p| p["status"] == "online" && p["error_count"] == errors)
}

fn sinks(port: u16) -> (WebhookLifecycle, WebSocketLifecycle) {
    (
        WebhookLifecycle::new(format!("http://127.0.0.1:{port}/loggerflow/"))
            .heartbeat(Duration::from_secs(1)),
        WebSocketLifecycle::new(format!("ws://127.0.0.1:{port}/loggerflow/"))
            .heartbeat(Duration::from_secs(1)),
    )
}

/// The server's database is replaced (a new, empty one behind the same
/// address): a webhook app and a websocket app are online again within two
/// heartbeats of it being up, and what they log afterwards (and what was
/// pending while it was away) is stored there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_come_back_when_the_database_is_replaced() {
    let first = Db::new(Backend::Sqlite).await;
    let mut server = Server::start(&first.url, &[]);
    let port = server.port();
    let (hook, ws) = sinks(port);
    let mut apps = [App::start("Hook", hook), App::start("Socket", ws)];
    for app in &apps {
        app.errors(0, 3);
    }
    for name in ["Hook", "Socket"] {
        assert!(
            online_with(&server, name, 3, Duration::from_secs(10)).await,
            "{name} on the first database"
        );
    }
    // a new database behind the same port
    let second = Db::new(Backend::Sqlite).await;
    let _ = server.child.kill();
    let _ = server.child.wait();
    for app in &apps {
        app.errors(3, 2); // logged while the server is away
    }
    for _ in 0..50 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server = Server::start_on_port(&second.url, &[], port);
    let up = Instant::now();
    for name in ["Hook", "Socket"] {
        assert!(
            online_with(&server, name, 2, Duration::from_secs(15)).await,
            "{name} never came back on the new database: {}",
            server.get("/api/v1/projects").await
        );
    }
    // heartbeats every second; the websocket's backoff grew while the
    // server was away (0.5–1 s, then 1–2 s, 2–4 s…), so on a slow machine
    // its next try may come 4 s after the server is up, and then a hello
    let took = up.elapsed();
    eprintln!("both apps back online {took:?} after the new server was up");
    assert!(took < Duration::from_secs(10), "back online after {took:?}");
    for app in &apps {
        app.errors(5, 1);
    }
    for name in ["Hook", "Socket"] {
        assert!(
            online_with(&server, name, 3, Duration::from_secs(10)).await,
            "{name}: the report after the restart"
        );
    }
    for app in &mut apps {
        app.stop();
    }
}

/// The project of two live apps is deleted (and "Clear apps" pressed):
/// both say hello again, the project comes back online with what they log
/// next, and nothing they log is dropped without a trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_come_back_when_their_project_is_deleted() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let (hook, ws) = sinks(server.port());
    let mut apps = [App::start("Gone", hook), App::start("Gone", ws)];
    apps[0].errors(0, 1);
    apps[1].errors(1, 1);
    assert!(online_with(&server, "Gone", 2, Duration::from_secs(10)).await);
    let browser = FormClient::new(&server).await;
    // "Clear apps": live apps are not cleared
    let cleared = browser.post("/projects/Gone/instances/clear", "").await;
    assert_eq!(cleared.status().as_u16(), 303);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(online_with(&server, "Gone", 2, Duration::from_secs(1)).await);
    // hide, then delete with everything it stored
    assert_eq!(
        browser
            .post("/projects/Gone/hide", "")
            .await
            .status()
            .as_u16(),
        303
    );
    let deleted = browser.post("/projects/Gone/delete", "confirm=yes").await;
    assert!(
        FormClient::location(&deleted).contains("deleted"),
        "{}",
        FormClient::location(&deleted)
    );
    // both apps introduce themselves again at their next heartbeat
    let seen = server
        .wait_for("/api/v1/projects", Duration::from_secs(10), |v| {
            project(v, "Gone").is_some_and(|p| {
                p["status"] == "online" && p["instances"].as_array().map(Vec::len) == Some(2)
            })
        })
        .await;
    let gone = project(&seen, "Gone").unwrap_or_else(|| panic!("not back: {seen}"));
    assert_eq!(
        gone["instances"].as_array().map(Vec::len),
        Some(2),
        "{gone}"
    );
    apps[0].errors(2, 1);
    apps[1].errors(3, 1);
    assert!(
        online_with(&server, "Gone", 2, Duration::from_secs(10)).await,
        "the reports after the deletion: {}",
        server.get("/api/v1/projects").await
    );
    for app in &mut apps {
        app.stop();
    }
}

/// A report with a 2 MiB span field (cut to 1 KiB when recorded) and a
/// 2 MiB event field is bounded (256 KiB at most) and stored, cut with
/// markers; the reports after it flow, on both transports.
/// Under a body limit smaller than a report, the server refuses it as too
/// large, the client drops it (counted) and never sends it again, and the
/// reports after it are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_report_never_blocks_the_ones_after_it() {
    for (limit, refused) in [(None, false), (Some("65536"), true)] {
        let db = Db::new(Backend::Sqlite).await;
        let extra: Vec<&str> = limit.map(|l| vec!["--body-limit", l]).unwrap_or_default();
        let server = Server::start(&db.url, &extra);
        let (hook, ws) = sinks(server.port());
        let counters = (hook.clone(), ws.clone());
        let mut apps = [App::start("HeavyHook", hook), App::start("HeavySocket", ws)];
        for app in &apps {
            app.heavy_error(2 * 1024 * 1024);
            app.errors(0, 3);
        }
        let stored = if refused { 3 } else { 4 };
        for name in ["HeavyHook", "HeavySocket"] {
            assert!(
                online_with(&server, name, stored, Duration::from_secs(15)).await,
                "{name} (limit {limit:?}): {}",
                server.get("/api/v1/projects").await
            );
        }
        if refused {
            assert_eq!(
                counters.0.overflowed(),
                1,
                "webhook: the refused one is counted"
            );
            assert_eq!(
                counters.1.overflowed(),
                1,
                "websocket: the refused one is counted"
            );
            assert_eq!((counters.0.pending(), counters.1.pending()), (0, 0));
        } else {
            let reports = server
                .get("/api/v1/projects/HeavyHook/reports?limit=10")
                .await
                .to_string();
            assert!(
                reports.contains("[truncated: 2097152 bytes in all]"), // the event field
                "the cut is marked: {}",
                &reports[..reports.len().min(2000)]
            );
            let span_cut = format!("payload={}…", "x".repeat(1024));
            assert!(
                reports.contains(&span_cut),
                "the span field is cut when recorded"
            );
        }
        for app in &mut apps {
            app.stop();
        }
    }
}

/// A websocket app with a backlog of thousands of reports delivers all of
/// it over one socket: the client reads the server's acks while it sends
/// and keeps at most a thousand reports in flight, so neither side waits on
/// the other for ever (a smoke test: the deadlock needed smaller socket
/// buffers than a test can set on the server's side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_drains_over_one_websocket() {
    const BACKLOG: usize = 5_000;
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let port = server.port();
    let sink = WebSocketLifecycle::new(format!("ws://127.0.0.1:{port}/loggerflow/"))
        .heartbeat(Duration::from_secs(1))
        .buffer(BACKLOG);
    let counters = sink.clone();
    let layer = LoggerFlowLayer::builder("Backlog")
        .sink(sink)
        .queue_capacity(BACKLOG)
        .capture_panics(false)
        .build();
    let guard = layer.flush_guard();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..BACKLOG {
            tracing::error!(i, "order {i} failed");
        }
    });
    let started = Instant::now();
    let done = online_with(&server, "Backlog", BACKLOG as i64, Duration::from_secs(90)).await;
    eprintln!(
        "{BACKLOG} reports over one websocket in {:?} (pending {}, dropped {})",
        started.elapsed(),
        counters.pending(),
        counters.overflowed()
    );
    assert!(done, "{}", server.get("/api/v1/projects").await);
    assert_eq!(counters.overflowed(), 0);
    drop(guard);
}

/// A raw websocket that said hello as `instance`.
async fn raw_socket(
    port: u16,
    instance: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/loggerflow/v1/ws"))
            .await
            .expect("a websocket");
    ws.send(Message::text(
        common::hello("Reconnect", instance, 5, "websocket").to_string(),
    ))
    .await
    .expect("hello");
    ws
}

fn status_of(projects: &serde_json::Value, name: &str) -> String {
    project(projects, name)
        .and_then(|p| p["status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// An app reconnects (a new socket says hello) and its old socket closes
/// only afterwards: the instance stays online; when the new one closes it
/// goes offline. Python websocket apps of one project are instances of their
/// own: one closing leaves the other online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_socket_closing_late_leaves_the_app_online() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let port = server.port();
    let mut old = raw_socket(port, "app-1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut new = raw_socket(port, "app-1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    old.close(None).await.expect("close the old socket");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let projects = server.get("/api/v1/projects").await;
    assert_eq!(status_of(&projects, "Reconnect"), "online", "{projects}");
    new.close(None).await.expect("close the new socket");
    let projects = server
        .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
            status_of(v, "Reconnect") == "offline"
        })
        .await;
    assert_eq!(status_of(&projects, "Reconnect"), "offline", "{projects}");

    // two Python websocket processes of one project
    let handshake = serde_json::json!({ "project_name": "PyPair", "implementation": "websocket",
        "heartbeat": 5, "last_readings": {} });
    let mut pythons = Vec::new();
    for _ in 0..2 {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/loggerflow/"))
                .await
                .expect("a websocket");
        ws.send(Message::text(handshake.to_string()))
            .await
            .expect("handshake");
        pythons.push(ws);
    }
    let projects = server
        .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
            project(v, "PyPair").and_then(|p| p["instances"].as_array().map(Vec::len)) == Some(2)
        })
        .await;
    let pair = project(&projects, "PyPair").unwrap_or_else(|| panic!("{projects}"));
    assert_eq!(
        pair["instances"].as_array().map(Vec::len),
        Some(2),
        "{pair}"
    );
    let mut first = pythons.remove(0);
    first.close(None).await.expect("close one");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let projects = server.get("/api/v1/projects").await;
    assert_eq!(status_of(&projects, "PyPair"), "online", "{projects}");
    drop(pythons);
}

/// Raises this process's open-file limit (the test opens many sockets).
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: the structs are ours; nothing is kept
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// SIGINT and SIGTERM with 1,000 websockets connected and an app streaming
/// reports: every socket gets a close frame, the process exits within 5 s,
/// and after a restart every report the app logged is stored exactly once
/// (the acknowledged ones were committed, the rest are sent again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_stop_within_five_seconds_losing_nothing() {
    raise_open_files();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let db = Db::new(Backend::Sqlite).await;
        let mut server = Server::start(&db.url, &[]);
        let port = server.port();
        let mut sockets = Vec::new();
        for i in 0..1000 {
            sockets.push(raw_socket(port, &format!("idle-{i}")).await);
        }
        // a Python websocket process: its instance lives as long as its
        // connection, so a stopping server forgets it (no offline alarm)
        let (mut python, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/loggerflow/"))
                .await
                .expect("a websocket");
        let handshake = serde_json::json!({ "project_name": "PySig", "implementation": "websocket",
            "heartbeat": 5, "last_readings": {} });
        python
            .send(Message::text(handshake.to_string()))
            .await
            .expect("handshake");
        let (_, ws) = sinks(port);
        let mut app = App::start("Streaming", ws);
        let streaming = std::thread::spawn({
            let dispatch = app.dispatch.clone();
            move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..400 {
                        tracing::error!(i, "order {i} failed");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                });
            }
        });
        tokio::time::sleep(Duration::from_millis(800)).await;
        let asked = Instant::now();
        let pid = i32::try_from(server.child.id()).expect("pid");
        // SAFETY: a signal to our own child process
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let exited = loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                break Some(status);
            }
            if asked.elapsed() > Duration::from_secs(10) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = asked.elapsed();
        let status = exited.unwrap_or_else(|| panic!("signal {signal}: still running after 10 s"));
        assert!(status.success(), "signal {signal}: {status:?}");
        assert!(
            took < Duration::from_secs(5),
            "signal {signal}: exited after {took:?}"
        );
        // the idle sockets were told (a close frame) or cut
        let mut told = 0;
        for ws in &mut sockets {
            if let Ok(Some(Ok(Message::Close(_)))) =
                tokio::time::timeout(Duration::from_millis(50), ws.next()).await
            {
                told += 1;
            }
        }
        assert!(
            told > 900,
            "signal {signal}: {told} of 1000 sockets got a close frame"
        );
        eprintln!(
            "signal {signal}: exited after {took:?}, {told} of 1000 sockets got a close frame"
        );
        drop(sockets);
        drop(python);
        streaming.join().expect("the app's thread");
        // the same database again: everything the app logged, once
        server.kill_and_restart();
        assert!(
            online_with(&server, "Streaming", 400, Duration::from_secs(20)).await,
            "signal {signal}: {}",
            server.get("/api/v1/projects").await
        );
        let projects = server.get("/api/v1/projects").await;
        let python = project(&projects, "PySig").unwrap_or_else(|| panic!("{projects}"));
        assert_eq!(
            python["instances"].as_array().map(Vec::len),
            Some(0),
            "signal {signal}: the Python connection's instance is forgotten: {python}"
        );
        app.stop();
    }
}

/// A search for a title with non-ASCII letters finds it on both backends,
/// in any case ("échec" finds "Échec", which SQLite's LOWER alone would not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_title_is_found_on_both_backends() {
    for backend in common::BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let mut report = common::report("Unicode", &common::new_id(), 1);
        report["report"]["message"] = serde_json::json!("Échec du paiement");
        let body = common::batch("u-1", serde_json::json!([report]));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        for needle in ["Échec", "chec du", "ÉCHEC DU", "échec du"] {
            let mut url = reqwest::Url::parse(&server.url("/projects/Unicode")).expect("url");
            url.query_pairs_mut().append_pair("q", needle);
            let html = reqwest::get(url)
                .await
                .expect("page")
                .text()
                .await
                .expect("body");
            let found = html.contains("Échec du paiement");
            assert!(found, "{backend:?}: search {needle:?}");
        }
    }
}
