//! Several servers, one PostgreSQL: a change made through one server is
//! seen by the others on their next request (issue 15; this file grows
//! with it).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::proxy::Proxy;
use common::recorder::{Recorder, telegram_alarm};
use common::{Backend, Db, FormClient, Server, batch, heartbeat, hello, new_id, project};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use tracing_subscriber::prelude::*;

/// A project deleted through server A while an app sends through server B:
/// B's next reports create it anew, every one of them stored (B's writer
/// had kept the deleted project's id and stored them under it, invisible).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_deleted_through_one_server_comes_back_through_the_other() {
    let db = Db::new(Backend::Postgres).await;
    let a = Server::start(&db.url, &[]);
    let b = Server::start(&db.url, &[]);
    let name = "Gone";
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder(name)
        .sink(
            WebhookLifecycle::new(format!("{}/loggerflow/", b.base))
                .heartbeat(Duration::from_secs(1)),
        )
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("before the deletion"));
    assert!(handle.flush_async(Duration::from_secs(10)).await);
    let seen = a.get("/api/v1/projects").await;
    assert_eq!(
        project(&seen, name).map(|p| p["error_count"].clone()),
        Some(1.into()),
        "A sees what B stored: {seen}"
    );

    let browser = FormClient::new(&a).await;
    let deleted = browser
        .post(&format!("/projects/{name}/delete"), "confirm=yes")
        .await;
    assert_eq!(deleted.status().as_u16(), 303);
    assert!(project(&a.get("/api/v1/projects").await, name).is_none());

    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3 {
            tracing::error!(i, "after the deletion {i}");
        }
    });
    assert!(
        handle.flush_async(Duration::from_secs(10)).await,
        "every report after the deletion acknowledged"
    );
    for server in [&a, &b] {
        let projects = server.get("/api/v1/projects").await;
        assert_eq!(
            project(&projects, name).map(|p| p["error_count"].clone()),
            Some(3.into()),
            "the project is back with the 3 reports: {projects}"
        );
    }
}

/// Two servers on `db` behind a round-robin proxy, with `extra` flags.
async fn two_behind_a_proxy(db: &Db, extra: &[&str]) -> ([Server; 2], Proxy) {
    let mut flags = vec!["--allow-private-targets"];
    flags.extend_from_slice(extra);
    let servers = [
        Server::start(&db.url, &flags),
        Server::start(&db.url, &flags),
    ];
    let backends = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port()).parse().expect("address"))
        .collect();
    let proxy = Proxy::start(backends).await;
    (servers, proxy)
}

/// A new error group in `project` (each call a title of its own).
fn new_error(project: &str, n: u32) -> serde_json::Value {
    serde_json::json!({ "type": "report", "report": {
        "id": new_id(), "project": project, "timestamp": chrono::Utc::now().to_rfc3339(),
        "level": "ERROR", "kind": "event", "message": format!("failure number {n}"),
        "target": "shop::pay", "module": "shop::pay", "file": "src/pay.rs", "line": n,
        "thread": "main", "host": "h",
        "frames": [{"function": format!("shop::pay::step_{n}"), "file": "src/pay.rs", "line": n, "yours": true}]
    } })
}

/// Servers started together on a fresh database both come up: the
/// migrations of one wait for the other's instead of failing halfway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_started_together_on_a_fresh_database_both_start() {
    for _ in 0..3 {
        let db = Db::new(Backend::Postgres).await;
        let url = db.url.clone();
        let other = std::thread::spawn(move || Server::start(&url, &[]));
        let a = Server::start(&db.url, &[]);
        let b = other.join().expect("the second server started");
        for server in [&a, &b] {
            let health = server.get("/api/v1/health").await;
            assert_eq!(health["status"], "ok", "{health}");
        }
    }
}

/// Hide, settings, alarms added and removed, and "Clear apps", each made
/// through server A, are what server B does and shows on its next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_server_are_seen_by_the_other_at_once() {
    let db = Db::new(Backend::Postgres).await;
    let a = Server::start(&db.url, &["--allow-private-targets"]);
    let b = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    let name = "Seen";
    let send = |messages: serde_json::Value| {
        let body = batch("seen-1", messages);
        let b = &b;
        async move { b.post("/loggerflow/v1/batch", &body).await }
    };
    let (status, reply) = send(serde_json::json!([
        hello(name, "seen-1", 30, "webhook"),
        heartbeat(1.0)
    ]))
    .await;
    assert_eq!(status, 200, "{reply}");

    // hidden through A: B's API and pages say so
    let form_a = FormClient::new(&a).await;
    assert_eq!(
        form_a
            .post(&format!("/projects/{name}/hide"), "")
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        project(&b.get("/api/v1/projects").await, name).map(|p| p["hidden"].clone()),
        Some(true.into())
    );
    let form_b = FormClient::new(&b).await;
    let (_, hidden_page) = form_b.get("/hidden").await;
    assert!(hidden_page.contains(name), "B's hidden page lists it");
    assert_eq!(
        form_b
            .post(&format!("/projects/{name}/unhide"), "")
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        project(&a.get("/api/v1/projects").await, name).map(|p| p["hidden"].clone()),
        Some(false.into()),
        "and back through B, seen by A"
    );

    // settings saved through A are B's
    assert_eq!(
        form_a
            .post("/settings", "trace_mode=minimal&retention_days=12")
            .await
            .status()
            .as_u16(),
        303
    );
    let (_, settings_page) = form_b.get("/settings").await;
    assert!(
        settings_page.contains(r#"value="12""#),
        "B shows the retention saved through A"
    );
    let minimal = settings_page
        .split('<')
        .find(|tag| tag.contains(r#"value="minimal""#))
        .unwrap_or_default();
    assert!(
        minimal.contains("checked"),
        "B shows the trace mode saved through A: {minimal}"
    );

    // an alarm added through A fires for an error sent to B
    telegram_alarm(&a, &recorder, name, serde_json::json!(["new_error"]), 0).await;
    assert_eq!(send(serde_json::json!([new_error(name, 1)])).await.0, 200);
    let texts = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("failure number 1"), "{texts:?}");
    // removed through A: B's next new error sends nothing
    let deleted = reqwest::Client::new()
        .delete(a.url("/api/v1/alarms/ops"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(send(serde_json::json!([new_error(name, 2)])).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.texts().len(), 1, "{:?}", recorder.texts());

    // apps cleared through A (the app stopped on B): B shows none; the app
    // started again through B is on both
    let (status, _) = send(serde_json::json!([{ "type": "goodbye" }])).await;
    assert_eq!(status, 200);
    let cleared = form_a
        .post(&format!("/projects/{name}/instances/clear"), "")
        .await;
    assert_eq!(cleared.status().as_u16(), 303);
    assert!(
        project(&b.get("/api/v1/projects").await, name)
            .is_some_and(|p| p["instances"].as_array().is_some_and(Vec::is_empty)),
        "B shows no app right after the clear"
    );
    let (status, _) = send(serde_json::json!([
        hello(name, "seen-1", 30, "webhook"),
        heartbeat(1.0)
    ]))
    .await;
    assert_eq!(status, 200);
    for server in [&a, &b] {
        let projects = server.get("/api/v1/projects").await;
        let seen = project(&projects, name).expect("the project");
        assert_eq!(seen["status"], "online", "{seen}");
        assert_eq!(seen["instances"].as_array().map(Vec::len), Some(1));
    }
}

/// `SELECT COUNT(*), COUNT(DISTINCT id) FROM reports` of the project `name`.
async fn stored_reports(url: &str, name: &str) -> (i64, i64) {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n, COUNT(DISTINCT r.id) AS d FROM reports r \
             JOIN projects p ON p.id = r.project_id WHERE p.name = $1",
            [name.into()],
        ),
    )
    .await
    .expect("query")
    .expect("a row");
    (
        row.try_get("", "n").expect("n"),
        row.try_get("", "d").expect("d"),
    )
}

/// An alarm event claimed by a server that is killed while sending it is
/// sent by another server once the claim's lease has passed; the history
/// says so, and "Clear" then leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_claimed_by_a_killed_server_is_sent_by_another_after_the_lease() {
    let db = Db::new(Backend::Postgres).await;
    // a lease longer than B takes to start on a loaded machine, so that B
    // sees the claim still held
    let flags = ["--allow-private-targets", "--alarm-claim-lease", "6"];
    let mut a = Server::start(&db.url, &flags);
    let recorder = Recorder::start_with(Duration::ZERO, true).await;
    let name = "Lease";
    let body = batch(
        "lease-1",
        serde_json::json!([hello(name, "lease-1", 30, "webhook")]),
    );
    assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
    telegram_alarm(&a, &recorder, name, serde_json::json!(["new_error"]), 0).await;
    let body = batch("lease-1", serde_json::json!([new_error(name, 7)]));
    assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
    // A claimed it and is sending it (the channel hangs): A dies now
    assert_eq!(recorder.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    let _ = a.child.kill();
    let _ = a.child.wait();

    let b = Server::start(&db.url, &flags);
    let events = b.get(&format!("/api/v1/alarm-events?project={name}")).await;
    assert_eq!(events["events"][0]["status"], "sending", "{events}");
    let texts = recorder.wait_for(2, Duration::from_secs(25)).await;
    assert_eq!(texts.len(), 2, "B sent it after the lease: {texts:?}");
    assert_eq!(texts[0], texts[1]);
    let events = b
        .wait_for(
            &format!("/api/v1/alarm-events?project={name}"),
            Duration::from_secs(5),
            |e| e["events"][0]["status"] == "sent",
        )
        .await;
    let event = &events["events"][0];
    assert_eq!(event["status"], "sent", "{events}");
    assert!(
        event["taken_over_from"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "the history shows the takeover: {event}"
    );
    assert_ne!(event["claimed_by"], event["taken_over_from"], "{event}");
    let form = FormClient::new(&b).await;
    let (_, page) = form.get("/alarms").await;
    assert!(page.contains("taken over"), "the alarms page shows it");

    let cleared = reqwest::Client::new()
        .delete(b.url("/api/v1/alarm-events"))
        .send()
        .await
        .expect("DELETE");
    assert!(cleared.status().is_success());
    let events = b.get(&format!("/api/v1/alarm-events?project={name}")).await;
    assert_eq!(events["events"], serde_json::json!([]), "nothing stuck");
}

/// The rate limit of an alarm and project holds for two servers together:
/// errors arriving through both while slow messages are in flight still
/// send at most the configured number in the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_together_keep_the_rate_limit() {
    let db = Db::new(Backend::Postgres).await;
    let flags = ["--allow-private-targets", "--alarm-rate", "3/600"];
    let a = Server::start(&db.url, &flags);
    let b = Server::start(&db.url, &flags);
    // each message takes 400 ms to deliver: both servers' rounds overlap
    let recorder = Recorder::start_with(Duration::from_millis(400), false).await;
    let name = "Rated";
    let body = batch(
        "rated-1",
        serde_json::json!([hello(name, "rated-1", 30, "webhook")]),
    );
    assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
    telegram_alarm(&a, &recorder, name, serde_json::json!(["new_error"]), 0).await;
    for n in 0..24u32 {
        let server = if n % 2 == 0 { &a } else { &b };
        let body = batch("rated-1", serde_json::json!([new_error(name, n)]));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let texts = recorder.texts();
    assert_eq!(
        texts.len(),
        3,
        "3 messages in the window from both servers together: {texts:?}"
    );
    let events = a
        .get(&format!("/api/v1/alarm-events?project={name}&limit=100"))
        .await;
    let statuses: Vec<&str> = events["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses.iter().filter(|s| **s == "sent").count(), 3);
    assert_eq!(
        statuses.iter().filter(|s| **s == "digested").count(),
        21,
        "the rest wait for the digest: {statuses:?}"
    );
}

/// A server killed (SIGKILL) while holding websockets: its apps are marked
/// offline once by the other server's sweeper, come back online once when
/// they reconnect through the balancer, and every report they sent is
/// stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_servers_websocket_apps_go_offline_once_and_come_back_on_the_other() {
    let db = Db::new(Backend::Postgres).await;
    let (mut servers, proxy) = two_behind_a_proxy(&db, &[]).await;
    let recorder = Recorder::start().await;
    const APPS: usize = 4;
    let mut apps = Vec::new();
    for i in 0..APPS {
        let name = format!("Fleet{i}");
        let layer: LoggerFlowLayer = LoggerFlowLayer::builder(&name)
            .sink(
                WebSocketLifecycle::new(format!("ws://{}/loggerflow/", proxy.addr))
                    .heartbeat(Duration::from_secs(1)),
            )
            .capture_panics(false)
            .queue_capacity(10_000)
            .build();
        let handle = layer.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        apps.push((name, handle, dispatch));
    }
    for (name, _, _) in &apps {
        servers[0]
            .wait_for("/api/v1/projects", Duration::from_secs(10), |p| {
                project(p, name).is_some_and(|p| p["status"] == "online")
            })
            .await;
        telegram_alarm(
            &servers[0],
            &recorder,
            name,
            serde_json::json!(["offline", "online"]),
            0,
        )
        .await;
    }
    // the server holding more of them is the one killed
    let victim = proxy.busiest();
    assert!(
        proxy.open_to(victim) > 0,
        "apps on both: {}",
        proxy.open_to(victim)
    );
    let survivor = 1 - victim;

    // every app sends all along; the victim dies in the middle
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let senders: Vec<_> = apps
        .iter()
        .map(|(_, _, dispatch)| {
            let dispatch = dispatch.clone();
            let go = sending.clone();
            std::thread::spawn(move || {
                let mut n = 0u32;
                while go.load(std::sync::atomic::Ordering::SeqCst) {
                    tracing::dispatcher::with_default(&dispatch, || {
                        tracing::error!(n, "order {n} failed")
                    });
                    n += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.pause();
    let on_victim = proxy.open_to(victim);
    let _ = servers[victim].child.kill();
    let _ = servers[victim].child.wait();
    // the apps cannot reconnect yet: the survivor's sweeper marks the
    // victim's apps offline (3 missed heartbeats), once
    let offline = recorder.wait_for(on_victim, Duration::from_secs(20)).await;
    assert_eq!(offline.len(), on_victim, "{offline:?}");
    assert!(offline.iter().all(|t| t.contains("offline")), "{offline:?}");
    proxy.resume();
    let all = recorder
        .wait_for(2 * on_victim, Duration::from_secs(30))
        .await;
    sending.store(false, std::sync::atomic::Ordering::SeqCst);
    let counts: Vec<u32> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();
    for (_, handle, _) in &apps {
        assert!(
            handle.flush_async(Duration::from_secs(20)).await,
            "every report acknowledged: {:?}",
            handle.stats()
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = if all.len() == 2 * on_victim {
        recorder.texts()
    } else {
        all
    };
    assert_eq!(
        all.len(),
        2 * on_victim,
        "one offline, one online each: {all:?}"
    );
    for (i, (name, _, _)) in apps.iter().enumerate() {
        let mine: Vec<&String> = all
            .iter()
            .filter(|t| t.contains(&format!("[{name}]")))
            .collect();
        assert!(
            mine.is_empty()
                || (mine.len() == 2 && mine[0].contains("offline") && mine[1].contains("online")),
            "{name}: {mine:?}"
        );
        let (stored, distinct) = stored_reports(&db.url, name).await;
        assert_eq!(
            (stored, distinct),
            (i64::from(counts[i]), i64::from(counts[i])),
            "{name}: every report stored once"
        );
    }
    let projects = servers[survivor].get("/api/v1/projects").await;
    for (name, _, _) in &apps {
        assert_eq!(
            project(&projects, name).map(|p| p["status"].clone()),
            Some("online".into()),
            "{projects}"
        );
    }
}

/// A Python 0.0.6 websocket client: handshake, a heartbeat a second, and a
/// reconnect 200 ms after its connection ends, until `stop`.
fn python_websocket_app(
    url: String,
    project: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    python_websocket_app_from(url, project, stop, None)
}

/// The same, from the address `from` (an `X-Forwarded-For` a balancer
/// would add; the servers trust it with `--trust-forwarded-for`).
fn python_websocket_app_from(
    url: String,
    project: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    from: Option<&'static str>,
) -> tokio::task::JoinHandle<u32> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    tokio::spawn(async move {
        let mut connections = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let mut request = url.as_str().into_client_request().expect("request");
            if let Some(from) = from {
                request
                    .headers_mut()
                    .insert("x-forwarded-for", from.parse().expect("header"));
            }
            if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await {
                connections += 1;
                let handshake = serde_json::json!({
                    "project_name": project, "implementation": "websocket", "heartbeat": 1 });
                let mut alive = socket
                    .send(Message::Text(handshake.to_string().into()))
                    .await
                    .is_ok();
                let mut beat = tokio::time::interval(Duration::from_secs(1));
                beat.tick().await;
                while alive && !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::select! {
                        _ = beat.tick() => {
                            let frame = serde_json::json!({
                                "request_path": "heartbeat", "project_name": project });
                            alive = socket
                                .send(Message::Text(frame.to_string().into()))
                                .await
                                .is_ok();
                        }
                        // a close, or the connection broke: as the Python
                        // client, it notices and reconnects
                        read = socket.next() => alive = matches!(read, Some(Ok(_))),
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        connections
    })
}

/// Python websocket processes (a new instance on every connection) whose
/// server is killed reconnect through the balancer at once: their old
/// connections are forgotten without an `offline` alarm, and each project
/// shows one app, online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websocket_apps_moved_by_a_killed_server_raise_no_alarm() {
    let db = Db::new(Backend::Postgres).await;
    let (mut servers, proxy) = two_behind_a_proxy(&db, &[]).await;
    let recorder = Recorder::start().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let names = ["Py0", "Py1", "Py2"];
    let apps: Vec<_> = names
        .iter()
        .map(|name| {
            python_websocket_app(
                format!("ws://{}/loggerflow/", proxy.addr),
                (*name).to_owned(),
                stop.clone(),
            )
        })
        .collect();
    for name in names {
        servers[0]
            .wait_for("/api/v1/projects", Duration::from_secs(10), |p| {
                project(p, name).is_some_and(|p| p["status"] == "online")
            })
            .await;
        telegram_alarm(
            &servers[0],
            &recorder,
            name,
            serde_json::json!(["offline", "online"]),
            0,
        )
        .await;
    }
    let victim = proxy.busiest();
    assert!(proxy.open_to(victim) > 0);
    let survivor = 1 - victim;
    let _ = servers[victim].child.kill();
    let _ = servers[victim].child.wait();
    // the victim is gone after 5 s without its beat; then its connections
    // are paired with their reconnections and forgotten
    let projects = servers[survivor]
        .wait_for("/api/v1/projects", Duration::from_secs(15), |p| {
            names.iter().all(|name| {
                project(p, name)
                    .and_then(|p| p["instances"].as_array().map(Vec::len))
                    .is_some_and(|n| n == 1)
            })
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.texts(), Vec::<String>::new(), "no alarm");
    for name in names {
        let seen = project(&projects, name).expect("the project");
        assert_eq!(seen["status"], "online", "{seen}");
        let online = seen["instances"]
            .as_array()
            .map(|i| i.iter().filter(|i| i["status"] == "online").count());
        assert_eq!(online, Some(1), "{name}: one app, online: {seen}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for app in apps {
        let connections = app.await.expect("app");
        assert!(connections >= 1);
    }
}

/// A Python websocket process that hangs (its socket open, no heartbeat)
/// while another process of its project connects is still an app gone:
/// `offline` once (its server is alive, so the new connection is not its
/// reconnection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_python_websocket_process_alarms_although_another_connects() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let db = Db::new(Backend::Postgres).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    let url = format!("ws://127.0.0.1:{}/loggerflow/", server.port());
    let (mut hung, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    let handshake = serde_json::json!({ "project_name": "Hung", "implementation": "websocket", "heartbeat": 1 });
    hung.send(Message::Text(handshake.to_string().into()))
        .await
        .expect("handshake");
    server
        .wait_for("/api/v1/projects", Duration::from_secs(10), |p| {
            project(p, "Hung").is_some_and(|p| p["status"] == "online")
        })
        .await;
    telegram_alarm(
        &server,
        &recorder,
        "Hung",
        serde_json::json!(["offline"]),
        0,
    )
    .await;
    // it says nothing more; another process connects a moment later
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other = python_websocket_app(url.clone(), "Hung".into(), stop.clone());
    let texts = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("offline"), "{texts:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.texts().len(), 1, "once: {:?}", recorder.texts());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = other.await;
    drop(hung);
}

/// A claim made by a server of an older version (no claim time) is not
/// taken over at once, while that server may still be sending its batch:
/// it is left to it for 15 minutes from when a newer server first sees it,
/// then sent by the newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_without_a_time_is_left_to_its_older_server_for_a_while() {
    let db = Db::new(Backend::Postgres).await;
    let server = Server::start(
        &db.url,
        &["--allow-private-targets", "--alarm-claim-lease", "4"],
    );
    let recorder = Recorder::start().await;
    let body = batch(
        "old-1",
        serde_json::json!([hello("Old", "old-1", 30, "webhook")]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    telegram_alarm(
        &server,
        &recorder,
        "Old",
        serde_json::json!(["new_error"]),
        0,
    )
    .await;
    let conn = sea_orm::Database::connect(&db.url).await.expect("connect");
    sea_orm::ConnectionTrait::execute_unprepared(
        &conn,
        "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, status, claimed_by) \
         SELECT p.id, a.id, 'new_error', 'claimed by an older server', 0, 'sending', 'older-server' \
         FROM projects p, alarms a WHERE p.name = 'Old' AND a.name = 'ops'",
    )
    .await
    .expect("insert");
    // many leases of 4 s pass: it is not taken over
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(recorder.texts(), Vec::<String>::new());
    let events = server.get("/api/v1/alarm-events?project=Old").await;
    assert_eq!(events["events"][0]["status"], "sending", "{events}");
    // 15 minutes later (moved back in the database): the newer server sends it
    sea_orm::ConnectionTrait::execute_unprepared(
        &conn,
        "UPDATE alarm_events SET claimed_ms = claimed_ms - 900000 WHERE claimed_by = 'older-server'",
    )
    .await
    .expect("update");
    let texts = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    let events = server
        .wait_for(
            "/api/v1/alarm-events?project=Old",
            Duration::from_secs(5),
            |e| e["events"][0]["status"] == "sent",
        )
        .await;
    assert_eq!(events["events"][0]["taken_over_from"], "older-server");
}

/// A server stopped (SIGTERM) in the middle of a burst of alarms sends no
/// new message, finishes the one in flight and gives back what it claimed:
/// another server sends the rest at once, not after the lease, and nothing
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_gives_back_its_alarm_claims() {
    let db = Db::new(Backend::Postgres).await;
    let flags = [
        "--allow-private-targets",
        "--alarm-claim-lease",
        "60",
        "--alarm-rate",
        "100/600",
    ];
    let mut a = Server::start(&db.url, &flags);
    // each message takes 700 ms: A is in the middle of its batch
    let recorder = Recorder::start_with(Duration::from_millis(700), false).await;
    let body = batch(
        "stop-1",
        serde_json::json!([hello("Stop", "stop-1", 30, "webhook")]),
    );
    assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
    telegram_alarm(&a, &recorder, "Stop", serde_json::json!(["new_error"]), 0).await;
    let errors: Vec<serde_json::Value> = (0..6).map(|n| new_error("Stop", n)).collect();
    let body = batch("stop-1", serde_json::json!(errors));
    assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
    assert_eq!(recorder.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    let b = Server::start(&db.url, &flags);
    let pid = a.child.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let _ = a.child.wait();
    let texts = recorder.wait_for(6, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let texts = if texts.len() == 6 {
        recorder.texts()
    } else {
        texts
    };
    let mut distinct = texts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        (texts.len(), distinct.len()),
        (6, 6),
        "each of the 6 once, well before the 60 s lease: {texts:?}"
    );
    let events = b.get("/api/v1/alarm-events?project=Stop").await;
    let sent = events["events"]
        .as_array()
        .map_or(0, |e| e.iter().filter(|e| e["status"] == "sent").count());
    assert_eq!(sent, 6, "{events}");
}

/// A Python process that dies with its server's host while another process
/// of its project, from another address, connects at that moment: the new
/// one is not taken for its reconnection, and the dead one alarms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_process_gone_with_its_server_is_not_masked_by_another_address() {
    let db = Db::new(Backend::Postgres).await;
    let (mut servers, proxy) = two_behind_a_proxy(&db, &["--trust-forwarded-for"]).await;
    let recorder = Recorder::start().await;
    let url = format!("ws://{}/loggerflow/", proxy.addr);
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first =
        python_websocket_app_from(url.clone(), "Mask".into(), gone.clone(), Some("10.0.0.1"));
    servers[0]
        .wait_for("/api/v1/projects", Duration::from_secs(10), |p| {
            project(p, "Mask").is_some_and(|p| p["status"] == "online")
        })
        .await;
    telegram_alarm(
        &servers[0],
        &recorder,
        "Mask",
        serde_json::json!(["offline"]),
        0,
    )
    .await;
    let victim = proxy.busiest();
    let survivor = 1 - victim;
    // the host dies: its server and its process
    gone.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = servers[victim].child.kill();
    let _ = servers[victim].child.wait();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = python_websocket_app_from(url, "Mask".into(), stop.clone(), Some("10.0.0.3"));
    let texts = recorder.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(texts.len(), 1, "the dead process alarms: {texts:?}");
    assert!(texts[0].contains("offline"), "{texts:?}");
    let projects = servers[survivor].get("/api/v1/projects").await;
    let mask = project(&projects, "Mask").expect("the project");
    let online = mask["instances"]
        .as_array()
        .map_or(0, |i| i.iter().filter(|i| i["status"] == "online").count());
    assert_eq!(online, 1, "the other process is online: {mask}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = other.await;
    let _ = first.await;
}

/// An open `GET /api/v1/events` stream, read as text.
struct Events {
    response: reqwest::Response,
    text: String,
}

impl Events {
    async fn open(server: &Server, query: &str) -> Self {
        Self::open_as(server, query, "").await
    }

    /// Opens a stream with `cookie` (a login session's, or none).
    async fn open_as(server: &Server, query: &str, cookie: &str) -> Self {
        let response = reqwest::Client::new()
            .get(server.url(&format!("/api/v1/events{query}")))
            .header("cookie", cookie)
            .send()
            .await
            .expect("open the stream");
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/event-stream"))
        );
        Self {
            response,
            text: String::new(),
        }
    }

    /// Whether the server ended the stream within `within` (what it says
    /// meanwhile is kept).
    async fn ended(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None) | Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Reads until the stream has said `needle` (everything read so far is
    /// kept), or `within` passes.
    async fn until(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.text.contains(needle) {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return false,
            }
        }
        true
    }
}

/// A tab's stream ends with its login session: at once when it logs out
/// through the server the stream is on, and at the stream's next session
/// check (every 15 s) when it logs out through another server. A new
/// stream with the old cookie is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_with_its_login_session_on_every_server() {
    let db = Db::new(Backend::Postgres).await;
    let flags = ["--auth", "admin:pw"];
    let a = Server::start(&db.url, &flags);
    let b = Server::start(&db.url, &flags);
    let here = FormClient::login(&a, "admin", "pw").await;
    let there = FormClient::login(&a, "admin", "pw").await;
    let mut on_a = Events::open_as(&a, "", &here.cookie).await;
    let mut on_b = Events::open_as(&b, "", &there.cookie).await;
    assert!(on_a.until("retry: 1000", Duration::from_secs(5)).await);
    assert!(on_b.until("retry: 1000", Duration::from_secs(5)).await);

    // logged out through A: A's stream of that session ends at once
    assert_eq!(here.post("/logout", "").await.status().as_u16(), 303);
    let started = std::time::Instant::now();
    assert!(
        on_a.ended(Duration::from_secs(3)).await,
        "the stream outlived its logout"
    );
    eprintln!(
        "the stream on A ended {:?} after the logout",
        started.elapsed()
    );
    let again = reqwest::Client::new()
        .get(a.url("/api/v1/events"))
        .header("cookie", &here.cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        again.status().as_u16(),
        401,
        "a stream for a logged-out session"
    );

    // the other session's stream on B is not touched by that logout; its
    // own logout, through A, reaches B by B's look-up of the sessions of its
    // streams (every 15 s), while reports keep its stream busy
    assert!(
        !on_b.ended(Duration::from_secs(1)).await,
        "another session's stream ended"
    );
    let feeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let feed = {
        let feeding = Arc::clone(&feeding);
        let url = a.url("/loggerflow/v1/batch");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while feeding.load(std::sync::atomic::Ordering::Relaxed) {
                let body = batch(
                    "busy-1",
                    serde_json::json!([
                        hello("Busy", "busy-1", 30, "webhook"),
                        common::report("Busy", &new_id(), n),
                    ]),
                );
                let _ = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    assert!(
        on_b.until("event: errors", Duration::from_secs(10)).await,
        "B's stream hears of the reports: {:?}",
        on_b.text
    );
    assert_eq!(there.post("/logout", "").await.status().as_u16(), 303);
    let started = std::time::Instant::now();
    // a look-up every 15 s (one that timed out would be looked up again)
    let ended = on_b.ended(Duration::from_secs(25)).await;
    feeding.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = feed.await;
    assert!(ended, "the stream on B outlived a logout through A by 25 s");
    eprintln!(
        "the stream on B ended {:?} after the logout through A",
        started.elapsed()
    );
    // B ended it, not itself: it serves a live session's stream
    let third = FormClient::login(&a, "admin", "pw").await;
    let mut again = Events::open_as(&b, "", &third.cookie).await;
    assert!(again.until("retry: 1000", Duration::from_secs(5)).await);
}

/// A dashboard tab open on server B hears of a report stored through server
/// A (PostgreSQL NOTIFY/LISTEN), only about the project it asked for, and
/// of an app that went offline there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_on_one_server_hears_of_changes_made_through_the_other() {
    let db = Db::new(Backend::Postgres).await;
    let a = Server::start(&db.url, &[]);
    let b = Server::start(&db.url, &[]);
    let mut shop = Events::open(&b, "?project=Shop").await;
    let mut all = Events::open(&b, "").await;
    assert!(shop.until("retry: 1000", Duration::from_secs(5)).await);
    // B listens from its start; a moment for A's first NOTIFY to find it
    let mut heard = false;
    for n in 0..20 {
        let body = batch(
            "other-1",
            serde_json::json!([
                hello("Other", "other-1", 5, "webhook"),
                common::report("Other", &new_id(), n),
            ]),
        );
        assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
        let body = batch(
            "shop-2",
            serde_json::json!([
                hello("Shop", "shop-2", 1, "webhook"),
                heartbeat(3.0),
                common::report("Shop", &new_id(), n),
            ]),
        );
        assert_eq!(a.post("/loggerflow/v1/batch", &body).await.0, 200);
        if shop
            .until(
                "event: errors\ndata: {\"project\":\"Shop\"}",
                Duration::from_millis(500),
            )
            .await
        {
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "B's stream said nothing of A's report: {:?}",
        shop.text
    );
    assert!(
        !shop.text.contains("\"Other\""),
        "a stream about Shop heard of Other: {:?}",
        shop.text
    );
    assert!(shop.text.contains("event: projects"), "{:?}", shop.text);
    assert!(
        all.until("{\"project\":\"Other\"}", Duration::from_secs(5))
            .await,
        "a stream about every project hears of Other: {:?}",
        all.text
    );
    // Shop's app (heartbeat every 1 s) falls silent: the sweep marks it
    // offline (on either server) and B's stream says so
    shop.text.clear();
    let offline = b
        .wait_for("/api/v1/projects", Duration::from_secs(15), |p| {
            project(p, "Shop").is_some_and(|p| p["status"] == "offline")
        })
        .await;
    assert_eq!(
        project(&offline, "Shop").map(|p| p["status"].clone()),
        Some("offline".into())
    );
    assert!(
        shop.until("event: projects", Duration::from_secs(5)).await,
        "{:?}",
        shop.text
    );
}
