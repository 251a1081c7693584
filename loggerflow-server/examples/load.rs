//! The load tool: starts `loggerflow run` (the release binary) on loopback and
//! measures it, printing one summary table. Client and server share this
//! machine's cores, as they would in CI; every figure says so.
//!
//! ```sh
//! cargo build --release -p loggerflow-server --bins --examples
//! ulimit -n 65536    # for the 10,000 websockets
//! target/release/examples/load                 # everything but `two`
//! target/release/examples/load ingest idle     # some sections: idle, ingest, connections, two
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
//! - **two** (only when asked for: about a minute, and it repeats the
//!   PostgreSQL ingest): one server, then two servers on one PostgreSQL
//!   database (a fresh database for each), the same 8 webhook clients split
//!   between them (client i posts to server i % 2), then the 8 websocket
//!   clients split the same way, then the open-loop latency at half the
//!   measured maximum with the batches sent alternately to each server:
//!   reports/s in all, each server's CPU, p50 / p99. Then the rows in
//!   `reports` against the acknowledged reports (no loss, no duplicate). The
//!   servers, PostgreSQL and this tool share this machine's cores, so two
//!   servers measure contention for one database and the same cores, not
//!   scale-out onto separate machines; the printed note says so.

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

fn print(notes: &[String], rows: &[Row]) {
    println!();
    for note in notes {
        println!("{note}");
    }
    println!("\n| measurement | figure | target |\n|---|---|---|");
    for Row(a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}

/// This run's scratch database on the PostgreSQL server of [`PG`].
fn pg_name() -> String {
    format!("lf_load_{}", std::process::id())
}

/// Drops this run's scratch database (servers still connected or not).
async fn drop_pg(admin: &sea_orm::DatabaseConnection) {
    let _ = admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            pg_name()
        ))
        .await;
}

/// This run's scratch database, dropped and created anew: its URL.
async fn fresh_pg() -> String {
    let name = pg_name();
    let admin = sea_orm::Database::connect(PG).await.expect("PostgreSQL");
    drop_pg(&admin).await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// The rows in `reports`.
async fn stored_reports(url: &str) -> u64 {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM reports".to_owned(),
        ))
        .await
        .expect("count reports")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count") as u64
}

/// Runs `load` and returns its output with each server's CPU over it, in %
/// of a core.
async fn with_cpu<T>(servers: &[&Server], load: impl Future<Output = T>) -> (T, Vec<f64>) {
    let before: Vec<f64> = servers.iter().map(|s| s.usage().0).collect();
    let started = Instant::now();
    let out = load.await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = servers
        .iter()
        .zip(before)
        .map(|(s, b)| (s.usage().0 - b) / seconds * 100.0)
        .collect();
    (out, cpu)
}

/// "server CPU 60 % of a core", or each server's and their sum.
fn cpu_text(cpu: &[f64]) -> String {
    match cpu {
        [one] => format!("server CPU {one:.0} % of a core"),
        _ => format!(
            "servers' CPU {} % of a core ({:.0} % in all)",
            cpu.iter()
                .map(|c| format!("{c:.0}"))
                .collect::<Vec<_>>()
                .join(" % + "),
            cpu.iter().sum::<f64>()
        ),
    }
}

/// `clients` posting batches of `per_batch` as fast as acks come, client `c`
/// to `servers[c % len]`: (acknowledged reports, reports/s).
async fn webhook_max(servers: &[&Server], clients: usize, per_batch: usize) -> (u64, f64) {
    let http = reqwest::Client::new();
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, acked) = (http.clone(), acked.clone());
        let url = format!("{}/loggerflow/v1/batch", servers[c % servers.len()].base);
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

/// `clients` websockets with `window` reports in flight each, client `c` to
/// `servers[c % len]`: (acknowledged reports, reports/s).
async fn websocket_max(servers: &[&Server], clients: usize, window: usize) -> (u64, f64) {
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let acked = acked.clone();
        let url = format!(
            "ws://127.0.0.1:{}/loggerflow/v1/ws",
            servers[c % servers.len()].port
        );
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

/// Acknowledgement latency of batches sent open loop.
struct Latency {
    p50: Duration,
    p99: Duration,
    /// Batches answered with a success.
    batches: usize,
    /// Report ids in those answers.
    acked: u64,
}

/// Open loop: a batch of `per_batch` every `1/rate` s regardless of answers,
/// batch `k` to `servers[k % len]` (one instance per server).
async fn latency(servers: &[&Server], reports_per_s: f64, per_batch: usize) -> Latency {
    let http = reqwest::Client::new();
    let targets: Vec<(String, String)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                format!("{}/loggerflow/v1/batch", s.base),
                format!("latency-{}", i + 1),
            )
        })
        .collect();
    for (url, instance) in &targets {
        let body = serde_json::json!({"protocol": 1, "instance": instance,
            "messages": [hello("LoadLatency", instance, "webhook", 60)]});
        let _ = http.post(url).json(&body).send().await;
    }
    let every = Duration::from_secs_f64(per_batch as f64 / reports_per_s.max(1.0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline {
        tick.tick().await;
        let (url, instance) = targets[tasks.len() % targets.len()].clone();
        let messages: Vec<_> = (0..per_batch)
            .map(|_| {
                n += 1;
                serde_json::json!({"type": "report", "report": report("LoadLatency", n)})
            })
            .collect();
        let body = serde_json::json!({"protocol": 1, "instance": instance, "messages": messages});
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = http.post(&url).json(&body).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            // the ack's headers are in: timed; its ids are only counted
            let took = started.elapsed();
            let reply: serde_json::Value = r.json().await.unwrap_or_default();
            Some((
                took,
                reply["ids"].as_array().map(Vec::len).unwrap_or(0) as u64,
            ))
        }));
    }
    let mut times = Vec::new();
    let mut acked = 0;
    for t in tasks {
        if let Ok(Some((d, ids))) = t.await {
            times.push(d);
            acked += ids;
        }
    }
    times.sort();
    let at = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Latency {
        p50: at(0.5),
        p99: at(0.99),
        batches: times.len(),
        acked,
    }
}

/// "p50 8.5 ms, p99 14.0 ms".
fn percentiles(l: &Latency) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        l.p50.as_secs_f64() * 1e3,
        l.p99.as_secs_f64() * 1e3
    )
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
    let servers = [&server];
    let ((hook_n, hook_rate), hook_cpu) = with_cpu(&servers, webhook_max(&servers, 8, 100)).await;
    let ((ws_n, ws_rate), ws_cpu) = with_cpu(&servers, websocket_max(&servers, 8, 100)).await;
    let (_, _, peak) = server.usage();
    let lat = latency(&servers, hook_rate / 2.0, 100).await;
    drop(server);
    let raw = raw_insert(url, 20_000).await;
    rows.push(Row(
        format!(
            "{name}: webhook ingest, 8 clients × batches of 100 ({hook_n} reports in {SECONDS} s)"
        ),
        format!("{hook_rate:.0} reports/s, {}", cpu_text(&hook_cpu)),
        if name == "SQLite" {
            "≥ 20,000/s".into()
        } else {
            "—".into()
        },
    ));
    rows.push(Row(
        format!("{name}: websocket ingest, 8 clients × 100 in flight ({ws_n} reports)"),
        format!("{ws_rate:.0} reports/s, {}", cpu_text(&ws_cpu)),
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
            "{name}: ack latency of a batch of 100, open loop at half the maximum ({:.0} reports/s, {} batches)",
            hook_rate / 2.0,
            lat.batches
        ),
        percentiles(&lat),
        "p99 ≤ 25 ms".into(),
    ));
    rows.push(Row(
        format!("{name}: server peak RSS under ingest"),
        mb(peak),
        "—".into(),
    ));
}

/// One server, then two on one PostgreSQL database: see the module's comment.
async fn two(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    notes.push(format!(
        "two: this machine has {cores} cores, shared by the load tool, both servers and PostgreSQL; \
         two servers here measure the contention for one database and the same cores, \
         not scale-out onto separate machines."
    ));
    // reports/s of one server (webhook, websocket), for the two-server rows
    let mut one = (0.0, 0.0);
    for count in [1, 2] {
        // a fresh database for each, as ingest has
        let url = fresh_pg().await;
        // start() returns once the banner is printed: the second server
        // starts after the first has migrated the database
        let started: Vec<Server> = (0..count).map(|_| Server::start(&url)).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let servers: Vec<&Server> = started.iter().collect();
        let (name, split) = if count == 1 {
            ("PostgreSQL, one server".to_owned(), "8 clients")
        } else {
            (
                format!("PostgreSQL, {count} servers on one database"),
                "8 clients split 4 + 4",
            )
        };
        let ((hook_n, hook_rate), hook_cpu) =
            with_cpu(&servers, webhook_max(&servers, 8, 100)).await;
        let hook_stored = stored_reports(&url).await;
        let ((ws_n, ws_rate), ws_cpu) = with_cpu(&servers, websocket_max(&servers, 8, 100)).await;
        let lat = latency(&servers, hook_rate / 2.0, 100).await;
        drop(servers);
        drop(started);
        let stored = stored_reports(&url).await;
        let versus = |rate: f64, of_one: f64| {
            if count == 1 {
                String::new()
            } else {
                format!(" (×{:.2} one server)", rate / of_one)
            }
        };
        if count == 1 {
            one = (hook_rate, ws_rate);
        }
        rows.push(Row(
            format!(
                "{name}: webhook ingest, {split} × batches of 100 ({hook_n} reports in {SECONDS} s)"
            ),
            format!(
                "{hook_rate:.0} reports/s{}, {}",
                versus(hook_rate, one.0),
                cpu_text(&hook_cpu)
            ),
            "—".into(),
        ));
        rows.push(Row(
            format!("{name}: rows in `reports` after the webhook ingest / reports acknowledged"),
            format!(
                "{hook_stored} / {hook_n}: {}",
                if hook_stored == hook_n {
                    "equal"
                } else {
                    "**DIFFERENT**"
                }
            ),
            "equal".into(),
        ));
        rows.push(Row(
            format!("{name}: websocket ingest, {split} × 100 in flight ({ws_n} reports)"),
            format!(
                "{ws_rate:.0} reports/s{}, {}",
                versus(ws_rate, one.1),
                cpu_text(&ws_cpu)
            ),
            "—".into(),
        ));
        rows.push(Row(
            format!(
                "{name}: ack latency of a batch of 100, open loop at half the maximum ({:.0} reports/s{}, {} batches)",
                hook_rate / 2.0,
                if count == 1 { "" } else { ", alternately to each server" },
                lat.batches
            ),
            percentiles(&lat),
            "p99 ≤ 25 ms".into(),
        ));
        let acked = hook_n + ws_n + lat.acked;
        rows.push(Row(
            format!("{name}: rows in `reports` at the end / reports acknowledged (webhook, websocket, latency)"),
            format!(
                "{stored} / {acked}: {}",
                if stored == acked { "equal" } else { "**DIFFERENT**" }
            ),
            "equal".into(),
        ));
    }
    let admin = sea_orm::Database::connect(PG).await.expect("PostgreSQL");
    drop_pg(&admin).await;
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
    // `two` (a minute, and the PostgreSQL ingest again) only when asked for
    let wants = |s: &str| (args.is_empty() && s != "two") || args.iter().any(|a| a == s);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if wants("idle") {
        idle(&mut rows);
    }
    if wants("ingest") {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("load.db").display());
        ingest("SQLite", &sqlite, &mut rows).await;
        print(&notes, &rows);
        let pg = fresh_pg().await;
        ingest("PostgreSQL", &pg, &mut rows).await;
        // its servers have stopped: the scratch database goes too
        let admin = sea_orm::Database::connect(PG).await.expect("PostgreSQL");
        drop_pg(&admin).await;
    }
    if wants("two") {
        two(&mut rows, &mut notes).await;
    }
    if wants("connections") {
        connections(10_000, &mut rows).await;
    }
    print(&notes, &rows);
}
