//! Ingest through a real server process, on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{BACKENDS, Db, Server, batch, heartbeat, hello, new_id, report};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn native_batches_are_stored_once_grouped_and_acknowledged() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let (a, b) = (new_id(), new_id());
        let body = batch(
            "inst-1",
            serde_json::json!([
                hello("Shop", "inst-1", 5, "webhook"),
                heartbeat(12.5),
                report("Shop", &a, 1),
                report("Shop", &b, 2)
            ]),
        );
        let (status, reply) = server.post("/loggerflow/v1/batch", &body).await;
        assert_eq!(status, 200, "{backend:?}: {reply}");
        assert_eq!(reply["type"], "ack");
        assert_eq!(reply["ids"], serde_json::json!([a, b]));
        // the same batch again: acknowledged again, stored once
        let (status, again) = server.post("/loggerflow/v1/batch", &body).await;
        assert_eq!((status, &again["ids"]), (200, &serde_json::json!([a, b])));

        let projects = server.get("/api/v1/projects").await;
        let shop = &projects["projects"][0];
        assert_eq!(shop["name"], "Shop", "{backend:?}");
        assert_eq!(shop["status"], "online");
        assert_eq!(shop["error_count"], 2, "{backend:?}: stored once: {shop}");
        assert_eq!(
            shop["group_count"], 1,
            "same error, numbers masked: one group"
        );
        assert_eq!(shop["instances"][0]["cpu_percent"], 12.5);
        let errors = server.get("/api/v1/projects/Shop/errors").await;
        let group = &errors["groups"][0];
        assert_eq!(group["count"], 2);
        assert_eq!(group["title"], "payment 1 failed");
        let reports = server.get("/api/v1/projects/Shop/reports?limit=1").await;
        assert_eq!(
            reports["reports"][0]["report"]["id"],
            b.as_str(),
            "newest first"
        );
        let next = reports["next"].as_str().expect("cursor").to_owned();
        let older = server
            .get(&format!(
                "/api/v1/projects/Shop/reports?limit=1&before={next}"
            ))
            .await;
        assert_eq!(older["reports"][0]["report"]["id"], a.as_str());
        let metrics = server.get("/api/v1/projects/Shop/metrics?window=5m").await;
        assert_eq!(
            metrics["points"][0]["cpu_percent"], 12.5,
            "{backend:?}: {metrics}"
        );
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let cases: Vec<(String, u16, &str)> = vec![
            (
                r#"{"protocol": 7, "instance": "x", "messages": []}"#.into(),
                400,
                "unsupported_protocol",
            ),
            (
                r#"{"instance": "x", "messages": []}"#.into(),
                400,
                "unsupported_protocol",
            ),
            (
                r#"{"protocol": 1, "instance": "x", "messages": [}"#.into(),
                400,
                "malformed_json",
            ),
            (
                r#"{"protocol": 1, "instance": "x", "messages": [{"type": "bogus"}]}"#.into(),
                400,
                "invalid_message",
            ),
            (
                batch("ghost", serde_json::json!([heartbeat(1.0)])),
                409,
                "unknown_instance",
            ),
            // not an object: no protocol named (an array is not read as one)
            ("[1]".into(), 400, "unsupported_protocol"),
            ("[]".into(), 400, "unsupported_protocol"),
            (r#""x""#.into(), 400, "unsupported_protocol"),
            (
                format!(
                    r#"{{"protocol": 1, "instance": "x", "messages": [], "pad": "{}"}}"#,
                    "x".repeat(1_100_000)
                ),
                413,
                "body_too_large",
            ),
        ];
        for (body, status, code) in cases {
            let (got, reply) = server.post("/loggerflow/v1/batch", &body).await;
            assert_eq!(
                (got, reply["error"].as_str()),
                (status, Some(code)),
                "{backend:?}: {reply}"
            );
            assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        // a key given twice: the last one counts, as it did through a `Value`
        let (got, reply) = server
            .post(
                "/loggerflow/v1/batch",
                r#"{"protocol": 2, "protocol": 1, "instance": "dup", "instance": "dup", "messages": []}"#,
            )
            .await;
        assert_eq!(got, 200, "{backend:?}: {reply}");
        // a refused message in a batch spoils the batch: nothing of it is stored
        let body = batch(
            "half",
            serde_json::json!([report("Half", &new_id(), 1), heartbeat(1.0)]),
        );
        let (status, _) = server.post("/loggerflow/v1/batch", &body).await;
        assert_eq!(status, 409);
        let projects = server.get("/api/v1/projects").await;
        assert_eq!(
            projects["projects"],
            serde_json::json!([]),
            "{backend:?}: no half-written rows"
        );
    }
}

#[tokio::test]
async fn ingest_key_and_basic_auth_are_enforced() {
    let db = Db::new(common::Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--ingest-key", "k3y", "--auth", "admin:pw"]);
    let body = batch("i", serde_json::json!([hello("P", "i", 5, "webhook")]));
    let (status, reply) = server.post("/loggerflow/v1/batch", &body).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("ingest_key_required"))
    );
    let client = reqwest::Client::new();
    let ok = client
        .post(server.url("/loggerflow/v1/batch"))
        .bearer_auth("k3y")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status().as_u16(), 200);
    let python = server
        .post(
            "/loggerflow/k/k3y/handshake",
            r#"{"project_name": "Py", "implementation": "webhook", "heartbeat": 60}"#,
        )
        .await;
    assert_eq!(
        python.0, 200,
        "the key may be a path segment for Python clients"
    );
    let api = client
        .get(server.url("/api/v1/projects"))
        .send()
        .await
        .expect("get");
    assert_eq!(api.status().as_u16(), 401);
    assert!(api.headers().contains_key("www-authenticate"));
    let api = client
        .get(server.url("/api/v1/projects"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .expect("get");
    assert_eq!(api.status().as_u16(), 200);
    let health = client
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status().as_u16(), 200, "health needs no credentials");
}

#[tokio::test]
async fn websocket_acks_reports_and_a_dropped_socket_goes_offline() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let url = format!("ws://127.0.0.1:{}/loggerflow/v1/ws", server.port());
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        let first = report("Ws", &new_id(), 1);
        ws.send(Message::text(first.to_string()))
            .await
            .expect("send");
        let refused = ws.next().await.expect("frame").expect("frame");
        assert!(
            refused
                .to_text()
                .unwrap_or_default()
                .contains("hello_first"),
            "{refused}"
        );

        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        ws.send(Message::text(
            hello("Ws", "ws-1", 5, "websocket").to_string(),
        ))
        .await
        .expect("hello");
        ws.send(Message::text(heartbeat(3.0).to_string()))
            .await
            .expect("heartbeat");
        let id = new_id();
        ws.send(Message::text(report("Ws", &id, 1).to_string()))
            .await
            .expect("report");
        let ack = ws.next().await.expect("ack").expect("ack");
        let ack: serde_json::Value =
            serde_json::from_str(ack.to_text().unwrap_or_default()).expect("json");
        assert_eq!(
            ack,
            serde_json::json!({ "type": "ack", "ids": [id] }),
            "{backend:?}"
        );
        let online = server.get("/api/v1/projects").await;
        assert_eq!(online["projects"][0]["status"], "online");
        drop(ws); // no goodbye
        let after = server
            .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
                v["projects"][0]["status"] == "offline"
            })
            .await;
        assert_eq!(after["projects"][0]["status"], "offline", "{backend:?}");
    }
}

#[tokio::test]
async fn silence_means_offline_and_goodbye_means_stopped() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let body = batch(
            "quiet",
            serde_json::json!([hello("Quiet", "quiet", 1, "webhook")]),
        );
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        let body = batch(
            "polite",
            serde_json::json!([hello("Polite", "polite", 1, "webhook")]),
        );
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        let body = batch("polite", serde_json::json!([{"type": "goodbye"}]));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        // heartbeat every 1 s: offline after 3 s of silence, decided by the sweeper
        let status = |v: &serde_json::Value, name: &str| {
            v["projects"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .map(|p| p["status"].clone())
        };
        let seen = server
            .wait_for("/api/v1/projects", Duration::from_secs(20), |v| {
                status(v, "Quiet") == Some(serde_json::json!("offline"))
            })
            .await;
        assert_eq!(
            status(&seen, "Quiet"),
            Some(serde_json::json!("offline")),
            "{backend:?}"
        );
        assert_eq!(
            status(&seen, "Polite"),
            Some(serde_json::json!("stopped")),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_resolved_group_reopens_as_a_regression() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let send = |id: String| batch("r", serde_json::json!([report("Reg", &id, 5)]));
        assert_eq!(
            server.post("/loggerflow/v1/batch", &send(new_id())).await.0,
            200
        );
        let group = server.get("/api/v1/projects/Reg/errors").await["groups"][0]["id"].clone();
        let (status, _) = server
            .post(
                &format!("/api/v1/projects/Reg/errors/{group}/state"),
                r#"{"state": "resolved"}"#,
            )
            .await;
        assert_eq!(status, 200);
        let resolved = server
            .get("/api/v1/projects/Reg/errors?state=resolved")
            .await;
        assert_eq!(resolved["groups"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            server.post("/loggerflow/v1/batch", &send(new_id())).await.0,
            200
        );
        let groups = server.get("/api/v1/projects/Reg/errors").await;
        let g = &groups["groups"][0];
        assert_eq!(
            (
                g["state"].as_str(),
                g["regressed"].as_bool(),
                g["count"].as_i64()
            ),
            (Some("open"), Some(true), Some(2)),
            "{backend:?}"
        );
        let (status, reply) = server
            .post(
                "/api/v1/projects/Reg/errors/999/state",
                r#"{"state": "resolved"}"#,
            )
            .await;
        assert_eq!((status, reply["error"].as_str()), (404, Some("not_found")));
        let (status, reply) = server
            .post(
                &format!("/api/v1/projects/Reg/errors/{group}/state"),
                r#"{"state": "done"}"#,
            )
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some("invalid_state"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hellos_of_one_project_make_one_project() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let mut posts = Vec::new();
        for i in 0..20 {
            let instance = format!("inst-{i}");
            let body = batch(
                &instance,
                serde_json::json!([
                    hello("Same", &instance, 5, "webhook"),
                    report("Same", &new_id(), i)
                ]),
            );
            let url = server.url("/loggerflow/v1/batch");
            posts.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }));
        }
        for post in posts {
            assert_eq!(post.await.ok().and_then(Result::ok), Some(200));
        }
        let projects = server.get("/api/v1/projects").await;
        let all = projects["projects"].as_array().cloned().unwrap_or_default();
        assert_eq!(all.len(), 1, "{backend:?}: {projects}");
        assert_eq!(all[0]["instances"].as_array().map(Vec::len), Some(20));
        assert_eq!(all[0]["error_count"], 20);
    }
}

#[tokio::test]
async fn ctrl_c_finishes_in_flight_ingest_and_loses_nothing_acknowledged() {
    let db = Db::new(common::Backend::Sqlite).await;
    let mut server = Server::start(&db.url, &[]);
    let mut acked = 0usize;
    for b in 0..20 {
        let messages: Vec<serde_json::Value> = (0..50)
            .map(|n| report("Graceful", &new_id(), b * 50 + n))
            .collect();
        let (status, reply) = server
            .post(
                "/loggerflow/v1/batch",
                &batch("g", serde_json::json!(messages)),
            )
            .await;
        assert_eq!(status, 200);
        acked += reply["ids"].as_array().map(Vec::len).unwrap_or(0);
    }
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let exit = server.child.wait().expect("wait");
    assert!(exit.success(), "a graceful stop exits 0: {exit}");
    server.kill_and_restart();
    let projects = server.get("/api/v1/projects").await;
    assert_eq!(
        projects["projects"][0]["error_count"].as_u64(),
        Some(acked as u64)
    );
}

#[tokio::test]
async fn metric_samples_and_instances_older_than_the_retention_are_pruned() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let conn = loggerflow_server::store::connect(&db.url)
            .await
            .expect("connect");
        use sea_orm::ConnectionTrait;
        let now = loggerflow_server::store::now_ms();
        for (i, age_days) in [0i64, 6, 8, 30].iter().enumerate() {
            conn.execute_unprepared(&format!(
                "INSERT INTO metric_samples (project_id, instance_id, ts_ms, cpu_percent, process_cpu_percent, \
                 process_memory_bytes, memory_used_bytes, memory_total_bytes) VALUES (1, 'i{i}', {}, 1, 1, 1, 1, 1)",
                now - age_days * 86_400_000
            ))
            .await
            .expect("insert");
        }
        let pruned = loggerflow_server::store::metrics::prune(&conn, now - 7 * 86_400_000)
            .await
            .expect("prune");
        assert_eq!(pruned, 2, "{backend:?}: the 8- and 30-day-old samples");
        // instances not seen for as long go too, unless online
        for (i, (age_days, status)) in [
            (0i64, "offline"),
            (8, "stopped"),
            (30, "offline"),
            (9, "online"),
        ]
        .iter()
        .enumerate()
        {
            let seen = now - age_days * 86_400_000;
            conn.execute_unprepared(&format!(
                "INSERT INTO instances (id, project_id, host, pid, client_version, transport, heartbeat_s, \
                 status, started_ms, last_seen_ms, status_since_ms) \
                 VALUES ('inst-{i}', 1, 'h', 1, 'v', 'webhook', 5, '{status}', {seen}, {seen}, {seen})"
            ))
            .await
            .expect("insert instance");
        }
        let pruned = loggerflow_server::store::instances::prune(&conn, now - 7 * 86_400_000)
            .await
            .expect("prune instances");
        assert_eq!(
            pruned, 2,
            "{backend:?}: the 8- and 30-day-old stopped/offline ones"
        );
    }
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = Db::new(common::Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--request-timeout", "2"]);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .expect("connect");
    stream
        .write_all(
            b"POST /loggerflow/v1/batch HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut answer = String::new();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(10), stream.read(&mut buf)).await
            {
                answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("cut off in time");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // the one refusal shape, with the security headers, like every answer
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        answer.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn nul_characters_are_stored_on_both_backends() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        // a name is printable text: a NUL in it is refused…
        let named = batch(
            "nul",
            serde_json::json!([report("Nul\u{0}Proj", &new_id(), 1)]),
        );
        let (status, reply) = server.post("/loggerflow/v1/batch", &named).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some("invalid_name")),
            "{backend:?}"
        );
        // …a message with one is stored (PostgreSQL refuses NUL in text)
        let mut message = report("NulProj", &new_id(), 1);
        message["report"]["message"] = serde_json::json!("bad\u{0}byte");
        let body = batch("nul", serde_json::json!([message]));
        let (status, reply) = server.post("/loggerflow/v1/batch", &body).await;
        assert_eq!(status, 200, "{backend:?}: {reply}");
        let projects = server.get("/api/v1/projects").await;
        assert_eq!(projects["projects"][0]["name"], "NulProj", "{backend:?}");
        let reports = server.get("/api/v1/projects/NulProj/reports").await;
        assert_eq!(
            reports["reports"].as_array().map(Vec::len),
            Some(1),
            "{backend:?}"
        );
    }
}

/// Windows of a day or more read five-minute rollups kept beside the
/// samples: the same averages, on both backends.
#[tokio::test]
async fn long_windows_read_rollups_with_the_same_averages() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let body = batch(
            "roll-1",
            serde_json::json!([
                hello("Rolled", "roll-1", 5, "webhook"),
                heartbeat(10.0),
                heartbeat(20.0),
                heartbeat(30.0)
            ]),
        );
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        let mut seen = Vec::new();
        for window in ["5m", "1d", "7d"] {
            let metrics = server
                .get(&format!("/api/v1/projects/Rolled/metrics?window={window}"))
                .await;
            let points = metrics["points"].as_array().cloned().unwrap_or_default();
            let samples: i64 = points.iter().filter_map(|p| p["samples"].as_i64()).sum();
            assert_eq!(samples, 3, "{backend:?} {window}: {metrics}");
            let cpu: f64 = points
                .iter()
                .filter_map(|p| Some(p["cpu_percent"].as_f64()? * p["samples"].as_f64()?))
                .sum::<f64>()
                / 3.0;
            assert!((cpu - 20.0).abs() < 1e-6, "{backend:?} {window}: {cpu}");
            seen.push(points.len());
        }
        assert!(seen.iter().all(|n| *n >= 1), "{seen:?}");
    }
}

/// A websocket client that sends reports and never reads its acks: once an
/// ack has waited 10 s to be sent, the server closes the socket (it does not
/// wait forever holding the connection), and keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_reads_is_cut_off() {
    let db = Db::new(common::Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // a small receive window, so unread acks back up on the server quickly
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let stream = socket
        .connect(([127, 0, 0, 1], server.port()).into())
        .await
        .expect("connect");
    let url = format!("ws://127.0.0.1:{}/loggerflow/v1/ws", server.port());
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("handshake");
    let (mut tx, rx) = ws.split();
    tx.send(Message::text(
        hello("Deaf", "deaf-1", 5, "websocket").to_string(),
    ))
    .await
    .expect("hello");
    let started = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let frame = report("Deaf", &new_id(), 1).to_string();
            if tx.send(Message::text(frame)).await.is_err() {
                return sent;
            }
            sent += 1;
        }
    });
    let sent = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the server closed the socket within a minute")
        .expect("writer");
    drop(rx);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10),
        "only after the send timeout: {took:?}"
    );
    assert!(sent > 0);
    // the server is fine
    let health = server.get("/api/v1/health").await;
    assert_eq!(health["status"], "ok", "{health}");
}
