//! The load tool: starts `loggerflow run` (the release binary) on loopback and
//! measures it, printing one summary table. Client and server share this
//! machine's cores, as they would in CI; every figure says so.
//!
//! ```sh
//! cargo build --release -p loggerflow-server --bins --examples
//! ulimit -n 65536    # for the 10,000 websockets
//! target/release/examples/load                 # everything
//! target/release/examples/load ingest idle     # some sections: idle, ingest, connections
//! ```
//!
//! - **idle**: server RSS a second after start with an empty SQLite database.
//! - **ingest** (SQLite, then PostgreSQL at 127.0.0.1:5432): 8 clients posting
//!   native batches of 100 reports (~2.3 KB, 20 frames) as fast as acks come,
//!   then 8 websocket clients with 100 reports in flight each; reports/s, server
//!   CPU and peak RSS. Then the same rows inserted straight into the same
//!   database (multi-row INSERTs of 500, 1,000 a transaction, no server) and our
//!   ratio to it. Then webhook batches of 100 sent open loop at half the
//!   measured maximum: p50 / p99 acknowledgement latency of a batch.
//! - **connections**: 10,000 websocket apps (hello, then a heartbeat every 5 s):
//!   server RSS and CPU over 30 s once all are connected.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Statement, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const SECONDS: u64 = 10;

fn report(project: &str, n: u64) -> serde_json::Value {
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
    serde_json::json!({
        "id": loggerflow_layer::ReportId::new().to_string(), "project": project,
        "timestamp": chrono::Utc::now().to_rfc3339(), "level": "ERROR", "kind": "event",
        "message": format!("payment {n} failed: card declined by issuer"), "target": "shop::pay",
        "module": "shop::pay", "file": "src/pay.rs", "line": 10, "thread": "tokio-runtime-worker",
        "host": "web-1", "frames": frames
    })
}

fn hello(project: &str, instance: &str, transport: &str, heartbeat_s: u32) -> serde_json::Value {
    serde_json::json!({"type": "hello", "protocol": 1, "project": project, "instance": instance,
        "host": "load", "pid": 1, "client_version": "load/1", "heartbeat_s": heartbeat_s,
        "trace_mode": "full", "transport": transport})
}

/// A `loggerflow run` child process.
struct Server {
    child: Child,
    base: String,
    port: u16,
}

impl Server {
    fn start(database: &str) -> Self {
        let binary = std::env::var("LOGGERFLOW_BIN").unwrap_or_else(|_| {
            let exe = std::env::current_exe().expect("own path");
            // target/release/examples/load → target/release/loggerflow
            exe.parent()
                .and_then(|p| p.parent())
                .map(|p| p.join("loggerflow").display().to_string())
                .unwrap_or_else(|| "loggerflow".into())
        });
        let mut child = Command::new(&binary)
            .args([
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--disable-log",
                "-d",
                database,
            ])
            // one address drives thousands of apps here: no creation quota
            // (a fleet behind one NAT needs the same); as environment
            // variables, which an older server (LOGGERFLOW_BIN) ignores
            .env("LOGGERFLOW_MAX_NEW_PROJECTS_PER_HOUR", "0")
            .env("LOGGERFLOW_MAX_NEW_INSTANCES_PER_HOUR", "0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary} (build it with --bins): {e}"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("banner");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .expect("address in the banner")
            .to_owned();
        let port = address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Self {
            child,
            base: format!("http://{address}"),
            port,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (user + system CPU seconds, RSS bytes, peak RSS bytes).
    fn usage(&self) -> (f64, u64, u64) {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // fields after the name: state is 0, utime 11, stime 12 (clock ticks of 1/100 s)
        let cpu = (ticks(11) + ticks(12)) / 100.0;
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (cpu, kb("VmRSS:"), kb("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

struct Row(String, String, String);

fn print(rows: &[Row]) {
    println!("\n| measurement | figure | target |\n|---|---|---|");
    for Row(a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}

async fn fresh_pg() -> String {
    let name = format!("lf_load_{}", std::process::id());
    let admin = sea_orm::Database::connect(PG).await.expect("PostgreSQL");
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

async fn webhook_max(server: &Server, clients: usize, per_batch: usize) -> (u64, f64) {
    let http = reqwest::Client::new();
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, acked) = (http.clone(), acked.clone());
        let url = format!("{}/loggerflow/v1/batch", server.base);
        tasks.push(tokio::spawn(async move {
            let instance = format!("hook-{c}");
            let mut first = true;
            let mut n = 0;
            while Instant::now() < deadline {
                let mut messages = Vec::with_capacity(per_batch + 1);
                if first {
                    messages.push(hello("LoadHook", &instance, "webhook", 60));
                    first = false;
                }
                for _ in 0..per_batch {
                    n += 1;
                    messages.push(
                        serde_json::json!({"type": "report", "report": report("LoadHook", n)}),
                    );
                }
                let body =
                    serde_json::json!({"protocol": 1, "instance": instance, "messages": messages});
                if let Ok(r) = http.post(&url).json(&body).send().await {
                    let reply: serde_json::Value = r.json().await.unwrap_or_default();
                    let ids = reply["ids"].as_array().map(Vec::len).unwrap_or(0);
                    acked.fetch_add(ids as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let total = acked.load(Ordering::Relaxed);
    (total, total as f64 / started.elapsed().as_secs_f64())
}

async fn websocket_max(server: &Server, clients: usize, window: usize) -> (u64, f64) {
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let acked = acked.clone();
        let url = format!("ws://127.0.0.1:{}/loggerflow/v1/ws", server.port);
        tasks.push(tokio::spawn(async move {
            let Ok((socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
                return;
            };
            let (mut tx, mut rx) = socket.split();
            let instance = format!("ws-{c}");
            let _ = tx
                .send(WsMessage::text(
                    hello("LoadWs", &instance, "websocket", 60).to_string(),
                ))
                .await;
            let mut in_flight = 0usize;
            let mut n = 0;
            loop {
                while in_flight < window && Instant::now() < deadline {
                    n += 1;
                    let frame =
                        serde_json::json!({"type": "report", "report": report("LoadWs", n)});
                    if tx.send(WsMessage::text(frame.to_string())).await.is_err() {
                        return;
                    }
                    in_flight += 1;
                }
                if in_flight == 0 {
                    break;
                }
                match rx.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        let reply: serde_json::Value =
                            serde_json::from_str(text.as_str()).unwrap_or_default();
                        let ids = reply["ids"].as_array().map(Vec::len).unwrap_or(0);
                        in_flight = in_flight
                            .saturating_sub(ids.max(usize::from(reply["error"].is_string())));
                        acked.fetch_add(ids as u64, Ordering::Relaxed);
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
            let _ = tx.close().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let total = acked.load(Ordering::Relaxed);
    (total, total as f64 / started.elapsed().as_secs_f64())
}

/// Open loop: a batch of `per_batch` every `1/rate` s regardless of answers.
async fn latency(
    server: &Server,
    reports_per_s: f64,
    per_batch: usize,
) -> (Duration, Duration, usize) {
    let http = reqwest::Client::new();
    let url = format!("{}/loggerflow/v1/batch", server.base);
    let instance = "latency-1";
    let body = serde_json::json!({"protocol": 1, "instance": instance,
        "messages": [hello("LoadLatency", instance, "webhook", 60)]});
    let _ = http.post(&url).json(&body).send().await;
    let every = Duration::from_secs_f64(per_batch as f64 / reports_per_s.max(1.0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline {
        tick.tick().await;
        let messages: Vec<_> = (0..per_batch)
            .map(|_| {
                n += 1;
                serde_json::json!({"type": "report", "report": report("LoadLatency", n)})
            })
            .collect();
        let body = serde_json::json!({"protocol": 1, "instance": instance, "messages": messages});
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let ok = matches!(http.post(&url).json(&body).send().await, Ok(r) if r.status().is_success());
            ok.then(|| started.elapsed())
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        if let Ok(Some(d)) = t.await {
            times.push(d);
        }
    }
    times.sort();
    let at = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    (at(0.5), at(0.99), times.len())
}

/// The same rows straight into the database: reports/s.
async fn raw_insert(url: &str, rows: usize) -> f64 {
    let db = loggerflow_server::store::connect(url)
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "INSERT INTO projects (name, created_ms, hidden) VALUES ('RawInsert', 0, FALSE) ON CONFLICT (name) DO NOTHING".to_owned(),
    ))
    .await
    .expect("project");
    let project: i64 = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM projects WHERE name = 'RawInsert'".to_owned(),
        ))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get("", "id").ok())
        .unwrap_or(1);
    // the rows are built first: only the inserts are timed
    let now = chrono::Utc::now().timestamp_millis();
    let built: Vec<[Value; 9]> = (0..rows as u64)
        .map(|n| {
            let value = report("RawInsert", n);
            [
                value["id"].as_str().unwrap_or_default().to_owned().into(),
                project.into(),
                0i64.into(),
                Value::String(None),
                now.into(),
                "ERROR".into(),
                "event".into(),
                "payment failed: card declined by issuer".into(),
                value.to_string().into(),
            ]
        })
        .collect();
    let started = Instant::now();
    let mut n = 0u64;
    for transaction in built.chunks(1000) {
        let txn = sea_orm::TransactionTrait::begin(&db).await.expect("begin");
        for statement in transaction.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, level, kind, title, payload) VALUES ",
            );
            let mut values: Vec<Value> = Vec::with_capacity(500 * 9);
            for (r, row) in statement.iter().enumerate() {
                n += 1;
                if r > 0 {
                    sql.push_str(", ");
                }
                let b = r * 9;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                ));
                values.extend(row.iter().cloned());
            }
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .expect("insert");
        }
        txn.commit().await.expect("commit");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn ingest(name: &str, url: &str, rows: &mut Vec<Row>) {
    let server = Server::start(url);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, _, _) = server.usage();
    let t0 = Instant::now();
    let (hook_n, hook_rate) = webhook_max(&server, 8, 100).await;
    let (cpu1, _, _) = server.usage();
    let hook_cpu = (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let t1 = Instant::now();
    let (ws_n, ws_rate) = websocket_max(&server, 8, 100).await;
    let (cpu2, _, peak) = server.usage();
    let ws_cpu = (cpu2 - cpu1) / t1.elapsed().as_secs_f64() * 100.0;
    let (p50, p99, batches) = latency(&server, hook_rate / 2.0, 100).await;
    drop(server);
    let raw = raw_insert(url, 20_000).await;
    rows.push(Row(
        format!(
            "{name}: webhook ingest, 8 clients × batches of 100 ({hook_n} reports in {SECONDS} s)"
        ),
        format!("{hook_rate:.0} reports/s, server CPU {hook_cpu:.0} % of a core"),
        if name == "SQLite" {
            "≥ 20,000/s".into()
        } else {
            "—".into()
        },
    ));
    rows.push(Row(
        format!("{name}: websocket ingest, 8 clients × 100 in flight ({ws_n} reports)"),
        format!("{ws_rate:.0} reports/s, server CPU {ws_cpu:.0} % of a core"),
        "—".into(),
    ));
    rows.push(Row(
        format!("{name}: raw multi-row INSERT of the same rows (no server)"),
        format!(
            "{raw:.0} rows/s; ratio webhook / raw = {:.2}",
            hook_rate / raw
        ),
        "ratio ≥ 0.3".into(),
    ));
    rows.push(Row(
        format!(
            "{name}: ack latency of a batch of 100, open loop at half the maximum ({:.0} reports/s, {batches} batches)",
            hook_rate / 2.0
        ),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        ),
        "p99 ≤ 25 ms".into(),
    ));
    rows.push(Row(
        format!("{name}: server peak RSS under ingest"),
        mb(peak),
        "—".into(),
    ));
}

async fn connections(count: usize, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("conn.db").display());
    let server = Server::start(&url);
    let connected = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    for c in 0..count {
        let (connected, stop) = (connected.clone(), stop.clone());
        let url = format!("ws://127.0.0.1:{}/loggerflow/v1/ws", server.port);
        tasks.push(tokio::spawn(async move {
            let mut socket = None;
            for _ in 0..20 {
                if let Ok((s, _)) = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false).await {
                    socket = Some(s);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let Some(socket) = socket else { return };
            let (mut tx, mut rx) = socket.split();
            let instance = format!("conn-{c}");
            if tx.send(WsMessage::text(hello("Connections", &instance, "websocket", 5).to_string())).await.is_err() {
                return;
            }
            connected.fetch_add(1, Ordering::Relaxed);
            // spread the heartbeats over the 5 s
            tokio::time::sleep(Duration::from_millis((c as u64 * 5000) / count as u64)).await;
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            let beat = serde_json::json!({"type": "heartbeat", "metrics": {"cpu_percent": 10.0,
                "process_cpu_percent": 1.0, "process_memory_bytes": 1000000, "memory_used_bytes": 2000000,
                "memory_total_bytes": 8000000}}).to_string();
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if tx.send(WsMessage::text(beat.clone())).await.is_err() { return; }
                    }
                    frame = rx.next() => if frame.is_none() { return },
                    _ = stop.notified() => { let _ = tx.close().await; return; }
                }
            }
        }));
        if c % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    while connected.load(Ordering::Relaxed) < count as u64
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = connected.load(Ordering::Relaxed);
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, _, _) = server.usage();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (cpu1, rss, peak) = server.usage();
    let cpu = (cpu1 - cpu0) / t.elapsed().as_secs_f64() * 100.0;
    stop.notify_waiters();
    for t in tasks {
        t.abort();
    }
    rows.push(Row(
        format!(
            "{up} of {count} websocket apps connected in {:.1} s, heartbeating every 5 s",
            took.as_secs_f64()
        ),
        format!(
            "server RSS {} (peak {}), CPU {cpu:.0} % of a core over 30 s",
            mb(rss),
            mb(peak)
        ),
        "RSS ≤ 300 MB, CPU ≤ 50 %".into(),
    ));
}

fn idle(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("idle.db").display());
    let server = Server::start(&url);
    std::thread::sleep(Duration::from_secs(1));
    let (_, rss, _) = server.usage();
    rows.push(Row(
        "idle: server RSS 1 s after start, empty SQLite database".into(),
        mb(rss),
        "≤ 30 MB".into(),
    ));
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let mut rows = Vec::new();
    if wants("idle") {
        idle(&mut rows);
    }
    if wants("ingest") {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("load.db").display());
        ingest("SQLite", &sqlite, &mut rows).await;
        print(&rows);
        let pg = fresh_pg().await;
        ingest("PostgreSQL", &pg, &mut rows).await;
    }
    if wants("connections") {
        connections(10_000, &mut rows).await;
    }
    print(&rows);
}
