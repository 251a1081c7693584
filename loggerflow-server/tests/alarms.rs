//! Alarms through real server processes: offline and online once each,
//! rate limits with a digest, two servers on one PostgreSQL sending each
//! event once, the API's validation, and a custom alarm.

mod common;

use std::time::Duration;

use common::recorder::{Recorder, telegram_alarm};
use common::{Backend, Db, Server, batch, heartbeat, hello, new_id, report};

/// A server on `backend` whose Telegram alarm (a recorder) tells when
/// `project` goes offline and comes back online.
async fn status_alarms(backend: Backend, project: &str) -> (Db, Server, Recorder) {
    let db = Db::new(backend).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    telegram_alarm(
        &server,
        &recorder,
        project,
        serde_json::json!(["offline", "online"]),
        0,
    )
    .await;
    (db, server, recorder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_stops_heartbeating_alarms_once_and_once_again_when_back() {
    for backend in common::BACKENDS {
        let (_db, server, recorder) = status_alarms(backend, "Pay").await;
        let body = batch(
            "pay-1",
            serde_json::json!([hello("Pay", "pay-1", 1, "webhook"), heartbeat(1.0)]),
        );
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        // silent: offline after 3 × 1 s, one sweep, one dispatch round
        let texts = recorder.wait_for(1, Duration::from_secs(20)).await;
        assert_eq!(texts.len(), 1, "{backend:?}: {texts:?}");
        assert!(
            texts[0].starts_with("[Pay] offline: test-host (pid 42) is offline"),
            "{texts:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            recorder.texts().len(),
            1,
            "{backend:?}: offline is sent once"
        );
        let body = batch("pay-1", serde_json::json!([heartbeat(1.0)]));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        let texts = recorder.wait_for(2, Duration::from_secs(15)).await;
        assert_eq!(texts.len(), 2, "{backend:?}: {texts:?}");
        assert!(texts[1].starts_with("[Pay] online:"), "{texts:?}");
        let history = server.get("/api/v1/alarm-events?project=Pay").await;
        let statuses: Vec<&str> = history["events"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["status"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["sent", "sent"], "{history}");
    }
}

/// A Python app sends no host and no pid: its status alarms name it by its
/// instance (which names its project), whichever way it comes back (a
/// heartbeat, or its handshake again after a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_apps_status_alarms_name_the_app() {
    let (_db, server, recorder) = status_alarms(Backend::Sqlite, "PyPay").await;
    let handshake = serde_json::json!({
        "project_name": "PyPay", "implementation": "webhook", "heartbeat": 1,
        "connected_backends": "", "traceback": "full", "authors": "",
        "last_readings": { "cpu": "4.8", "used_memory": "0.65", "total_memory": "23.54", "process_memory": "0.04" }
    })
    .to_string();
    let beat = serde_json::json!({ "project_name": "PyPay", "last_readings": {} }).to_string();
    let offline = "[PyPay] offline: py-webhook:PyPay is offline: no heartbeat for 3 s";
    let online = "[PyPay] online: py-webhook:PyPay is back online";
    assert_eq!(
        server.post("/loggerflow/handshake", &handshake).await.0,
        200
    );
    let texts = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(texts, [offline]);
    // back by a heartbeat (the webhook client never says hello again)
    assert_eq!(server.post("/loggerflow/heartbeat", &beat).await.0, 200);
    let texts = recorder.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(texts[1..], [online]);
    // silent again, then back by a new handshake (the app restarted)
    let texts = recorder.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(texts[2..], [offline]);
    assert_eq!(
        server.post("/loggerflow/handshake", &handshake).await.0,
        200
    );
    let texts = recorder.wait_for(4, Duration::from_secs(15)).await;
    assert_eq!(texts[3..], [online], "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_errors_is_rate_limited_and_summed_up_in_a_digest() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--alarm-rate", "3/3", "--allow-private-targets"]);
    let recorder = Recorder::start().await;
    telegram_alarm(
        &server,
        &recorder,
        "Burst",
        serde_json::json!(["new_error", "every_nth"]),
        1,
    )
    .await;
    let messages: Vec<serde_json::Value> =
        (0..500).map(|n| report("Burst", &new_id(), n)).collect();
    assert_eq!(
        server
            .post(
                "/loggerflow/v1/batch",
                &batch("b", serde_json::json!(messages))
            )
            .await
            .0,
        200
    );
    // the first alarm, then a moment for any more the limit let through
    // (the window is 3 s: the digest cannot come yet)
    recorder.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = recorder.texts();
    assert!(
        texts.len() <= 3,
        "at most the configured 3 messages in the window: {}",
        texts.len()
    );
    assert!(
        texts.iter().any(|t| t.contains("new error: payment")),
        "{texts:?}"
    );
    // once the window has room again, one digest sums up the rest
    let texts = recorder.wait_for(4, Duration::from_secs(15)).await;
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(
        texts[3].contains("more alarm(s) were held back by the rate limit"),
        "{texts:?}"
    );
    assert!(texts[3].contains("every_nth ×"), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgresql_send_each_event_once() {
    let db = Db::new(Backend::Postgres).await;
    let a = Server::start(&db.url, &["--allow-private-targets"]);
    let b = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    telegram_alarm(
        &a,
        &recorder,
        "Twin",
        serde_json::json!(["offline", "new_error"]),
        0,
    )
    .await;
    let body = batch(
        "twin-1",
        serde_json::json!([
            hello("Twin", "twin-1", 1, "webhook"),
            report("Twin", &new_id(), 1)
        ]),
    );
    assert_eq!(b.post("/loggerflow/v1/batch", &body).await.0, 200);
    let texts = recorder.wait_for(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let texts = if texts.len() < 2 {
        texts
    } else {
        recorder.texts()
    };
    assert_eq!(
        texts.len(),
        2,
        "new error and offline, each once: {texts:?}"
    );
    // alarms are stored: a restarted server still has them
    let mut a = a;
    a.kill_and_restart();
    let alarms = a.get("/api/v1/alarms").await;
    assert_eq!(alarms["alarms"][0]["name"], "ops");
    assert_eq!(
        alarms["alarms"][0]["fields"]["token"], "********",
        "secrets are masked"
    );
}

#[tokio::test]
async fn the_alarm_api_checks_what_it_is_given_and_the_webhook_alarm_posts_json() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    let kinds = server.get("/api/v1/alarm-kinds").await;
    let names: Vec<&str> = kinds["kinds"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["kind"].as_str()).collect())
        .unwrap_or_default();
    for kind in ["telegram", "discord", "file", "webhook"] {
        assert!(names.contains(&kind), "{kinds}");
    }
    let cases = [
        (
            r#"{"kind": "pigeon", "name": "x", "fields": {}}"#,
            400,
            "unknown_kind",
        ),
        (
            r#"{"kind": "telegram", "name": "x", "fields": {"chat_id": "1"}}"#,
            400,
            "invalid_alarm",
        ),
        (
            r#"{"kind": "webhook", "name": "x", "fields": {"url": "ftp://x"}}"#,
            400,
            "invalid_alarm",
        ),
    ];
    for (body, status, code) in cases {
        let (got, reply) = server.post("/api/v1/alarms", body).await;
        assert_eq!(
            (got, reply["error"].as_str()),
            (status, Some(code)),
            "{reply}"
        );
    }
    let hook = serde_json::json!({ "kind": "webhook", "name": "hook", "fields": { "url": format!("http://{}/alarm", recorder.addr), "headers": "{\"X-Team\": \"pay\"}" } });
    assert_eq!(
        server.post("/api/v1/alarms", &hook.to_string()).await.0,
        201
    );
    assert_eq!(
        server.post("/api/v1/alarms", &hook.to_string()).await.0,
        409
    );
    let (status, reply) = server.post("/api/v1/alarms/hook/check", "").await;
    assert_eq!(
        (status, &reply["ok"]),
        (200, &serde_json::json!(true)),
        "{reply}"
    );
    let body = recorder.bodies.lock().expect("lock")[0].clone();
    for key in ["project", "trigger", "message", "time"] {
        assert!(body.get(key).is_some(), "{body}");
    }
    let (status, reply) = server
        .post(
            "/api/v1/projects/Any/alarms",
            r#"{"alarm": "hook", "triggers": ["sometimes"]}"#,
        )
        .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("invalid_trigger"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_alarm_from_the_example_fires() {
    let db = Db::new(Backend::Sqlite).await;
    let exe = std::env::current_exe().expect("exe");
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|debug| debug.join("examples/custom_alarm"))
        .expect("path");
    assert!(
        example.exists(),
        "cargo test builds the examples: {}",
        example.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let alarm_dir = dir.path().display().to_string();
    let server = Server::start_binary(&example, &db.url, &["--alarm-dir", &alarm_dir]);
    let path = dir.path().join("alarms.jsonl");
    let alarm = serde_json::json!({ "kind": "jsonl", "name": "audit", "fields": { "path": "alarms.jsonl", "api_key": "s3cret" } });
    assert_eq!(
        server.post("/api/v1/alarms", &alarm.to_string()).await.0,
        201
    );
    let connect = r#"{"alarm": "audit", "triggers": ["new_error"]}"#;
    assert_eq!(
        server
            .post("/api/v1/projects/Custom/alarms", connect)
            .await
            .0,
        200
    );
    let body = batch("c", serde_json::json!([report("Custom", &new_id(), 1)]));
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut text = String::new();
    while text.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = std::fs::read_to_string(&path).unwrap_or_default();
    }
    assert!(text.contains("\"trigger\":\"new_error\""), "{text}");
    assert!(text.contains("\"key\":\"s3\""), "{text}");
    let listed = server.get("/api/v1/alarms").await;
    assert_eq!(listed["alarms"][0]["fields"]["api_key"], "********");
}

/// A heartbeat whose process CPU is `cpu` %.
fn hot(cpu: f32) -> serde_json::Value {
    serde_json::json!({ "type": "heartbeat", "metrics": {
        "cpu_percent": 50.0, "process_cpu_percent": cpu, "process_memory_bytes": 10_000_000u64,
        "memory_used_bytes": 2_000_000_000u64, "memory_total_bytes": 8_000_000_000u64 } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_threshold_held_for_the_window_alarms_once_then_recovers_once() {
    for backend in common::BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &["--allow-private-targets"]);
        let recorder = Recorder::start().await;
        let alarm = serde_json::json!({ "kind": "telegram", "name": "ops", "fields": {
            "token": "1:T", "chat_id": "1", "api_url": format!("http://{}", recorder.addr) } });
        assert_eq!(
            server.post("/api/v1/alarms", &alarm.to_string()).await.0,
            201
        );
        let connect =
            r#"{"alarm": "ops", "triggers": ["cpu_high"], "cpu_above": 80, "for_seconds": 2}"#;
        let (status, reply) = server.post("/api/v1/projects/Hot/alarms", connect).await;
        assert_eq!(status, 200, "{reply}");
        let (status, _) = server
            .post(
                "/api/v1/projects/Hot/alarms",
                r#"{"alarm": "ops", "triggers": ["cpu_high"]}"#,
            )
            .await;
        assert_eq!(status, 400, "cpu_high needs cpu_above");
        let first = batch(
            "hot-1",
            serde_json::json!([hello("Hot", "hot-1", 1, "webhook"), hot(95.0)]),
        );
        assert_eq!(server.post("/loggerflow/v1/batch", &first).await.0, 200);
        // a short spike is not enough: held above 80 % for 2 s, then one alarm
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let beat = batch("hot-1", serde_json::json!([hot(92.0)]));
            assert_eq!(server.post("/loggerflow/v1/batch", &beat).await.0, 200);
        }
        let texts = recorder.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(texts.len(), 1, "{backend:?}: {texts:?}");
        assert!(
            texts[0].contains("cpu_high: process CPU % above 80 for 2 s"),
            "{texts:?}"
        );
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let beat = batch("hot-1", serde_json::json!([hot(93.0)]));
            assert_eq!(server.post("/loggerflow/v1/batch", &beat).await.0, 200);
        }
        assert_eq!(
            recorder.texts().len(),
            1,
            "{backend:?}: still hot, no repeat"
        );
        let cool = batch("hot-1", serde_json::json!([hot(10.0)]));
        assert_eq!(server.post("/loggerflow/v1/batch", &cool).await.0, 200);
        let texts = recorder.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(texts.len(), 2, "{backend:?}: {texts:?}");
        assert!(texts[1].contains("back below 80 (recovered)"), "{texts:?}");
    }
}

/// Reports arrive in batches; `every_nth` fires at each multiple of N the
/// batch passes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nth_fires_at_each_multiple_inside_one_batch() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let recorder = Recorder::start().await;
    telegram_alarm(
        &server,
        &recorder,
        "Nth",
        serde_json::json!(["every_nth"]),
        3,
    )
    .await;
    for size in [7, 2] {
        let messages: Vec<serde_json::Value> =
            (0..size).map(|n| report("Nth", &new_id(), n)).collect();
        let body = batch("nth", serde_json::json!(messages));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    }
    let events = server.get("/api/v1/alarm-events?project=Nth").await;
    let mut counts: Vec<String> = events["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["trigger"] == "every_nth")
        .filter_map(|e| {
            e["message"]
                .as_str()
                .map(|m| m.split(' ').next().unwrap_or_default().to_owned())
        })
        .collect();
    counts.sort();
    assert_eq!(counts, ["3", "6", "9"], "{events}");
}
