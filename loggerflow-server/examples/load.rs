//! The load tool: starts `loggerflow run` (the release binary) on loopback and
//! measures it, printing one summary table. Client and server share this
//! machine's cores, as they would in CI; every figure says so.
//!
//! ```sh
//! cargo build --release -p loggerflow-server --bins --examples
//! ulimit -n 65536    # for the 10,000 websockets
//! target/release/examples/load                 # everything but `two`
//! target/release/examples/load ingest idle     # some sections: idle, ingest, connections, two, compat
//! target/release/examples/load compat          # ours against the Python original, in one run
//! target/release/examples/load tabs            # 1,000 live dashboard tabs: memory, push latency, ingest
//! target/release/examples/load compat http://127.0.0.1:8000 [loggerflow.db]   # any such server
//! ```
//!
//! - **idle**: server RSS a second after start with an empty SQLite database.
//! - **ingest** (SQLite, then PostgreSQL at 127.0.0.1:5432): 8 clients posting
//!   native batches of 100 reports (~2.3 KB, 20 frames) as fast as acks come,
//!   then 8 websocket clients with 100 reports in flight each; reports/s, server
//!   CPU and peak RSS. Then the same rows inserted straight into the same
//!   database (multi-row INSERTs of 500, 1,000 a transaction, no server) and our
//!   ratio to it (the rows as the server stores them: 16-byte ids, zstd
//!   bodies). Then webhook batches of 100 sent open loop at half the
//!   measured maximum: p50 / p99 acknowledgement latency of a batch; the bytes
//!   on disk per stored report; and the same open loop again on a server
//!   that prunes every second, every project capped at half of what the
//!   webhook phase stored (the latency while retention runs).
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
//! - **tabs** (only when asked for: about a minute): 1,000 open dashboard
//!   tabs, each a `GET /api/v1/events` stream read as it comes, as a tab on
//!   the errors page of the project the ingest writes to (told of every
//!   change to it), on a server with an SQLite database. The server's RSS before and after they open;
//!   the push latency (one report posted every 1.2 s, 30 times, to a project
//!   one more stream listens to: from the POST to its `errors` event, and
//!   from the acknowledgement); and the webhook ingest maximum (8 clients,
//!   batches of 100) without tabs, with the 1,000 tabs (each told of every
//!   change), and without them again, so the noise between the two runs
//!   without tabs shows beside the difference. With `LOAD_TABS_FETCH=1` each
//!   tab also fetches its view (`/api/v1/dashboard/projects/LoadHook/errors`)
//!   after an event, at most once a second, as the dashboard does.
//! - **compat** (only when asked for: about a minute): the Python
//!   LoggerFlow 0.0.6 protocol (`POST {base}handshake`, `heartbeat`,
//!   `project_error`; websocket `{base}`: the handshake as the first frame,
//!   then frames with `request_path` `heartbeat` or `project_error`), so that
//!   ours and the original are measured by one tool. Without a URL it starts
//!   ours on a fresh SQLite file and the original `loggerflow==0.0.6`
//!   (through `scripts/python-original`, on a free port, its SQLite file in a
//!   temporary directory; killed at the end with its process group) and
//!   loads one at a time, the same way: 8 webhook apps (handshake, a
//!   heartbeat) and 16 clients POSTing `project_error` as fast as answers come
//!   for 10 s (errors/s answered 200, p50 / p99 under that saturation); 8
//!   websocket apps sending `project_error` frames as fast as the socket
//!   takes them for 5 s, then a close. That protocol acknowledges nothing:
//!   both servers handle a socket's frames in order and answer its close once
//!   they read it, so the tool waits until every socket is closed by its
//!   server, counts the rows until they stop growing, and the figure is the
//!   rows stored over the time from the first frame to the last row. Then 5 s
//!   open loop at one rate for both (half the lower webhook maximum): p50 /
//!   p99 of the acks. The error is a Python traceback of 20 frames (~2.5 KB). After each phase it counts the
//!   rows each server stored (ours: `reports`; the original:
//!   `project_exception`) against the errors acked or sent, so a server that
//!   acks and drops shows; and prints the ratio ours / original. With a URL
//!   (`http://HOST:PORT`, or the clients' `…/loggerflow/` base) it drives that
//!   server only, and counts its rows when given its SQLite file.

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
        Self::start_with(database, &[])
    }

    /// A server with `extra` flags besides.
    fn start_with(database: &str, extra: &[&str]) -> Self {
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
            .args(extra)
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
        usage_of(self.pid())
    }
}

/// Process `pid`'s (user + system CPU seconds, RSS bytes, peak RSS bytes).
fn usage_of(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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

/// The bytes the database holds for its tables and indexes: SQLite's pages
/// in use, PostgreSQL's `pg_total_relation_size` of `reports` (the other
/// tables are a few pages).
async fn bytes_on_disk(url: &str) -> u64 {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let backend = db.get_database_backend();
    let query = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let value = |sql: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(query(sql))
                .await
                .ok()
                .flatten()
                .and_then(|r| r.try_get_by_index::<i64>(0).ok())
                .unwrap_or(0)
        }
    };
    let bytes = if backend == sea_orm::DbBackend::Postgres {
        value("SELECT pg_total_relation_size('reports')").await
    } else {
        (value("PRAGMA page_count").await - value("PRAGMA freelist_count").await)
            * value("PRAGMA page_size").await
    };
    db.close().await.ok();
    u64::try_from(bytes).unwrap_or(0)
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
    // the rows are built first, as the server stores them (a 16-byte id
    // and the zstd-compressed JSON, which the server's handlers prepare in
    // parallel): only the inserts are timed
    let now = chrono::Utc::now().timestamp_millis();
    let built: Vec<[Value; 6]> = (0..rows as u64)
        .map(|n| {
            let value = report("RawInsert", n);
            let id = uuid::Uuid::parse_str(value["id"].as_str().unwrap_or_default())
                .unwrap_or_else(|_| uuid::Uuid::now_v7());
            let body = zstd::bulk::compress(value.to_string().as_bytes(), 1).expect("compress");
            [
                id.into(),
                project.into(),
                0i64.into(),
                Value::String(None),
                now.into(),
                body.into(),
            ]
        })
        .collect();
    let started = Instant::now();
    let mut n = 0u64;
    for transaction in built.chunks(1000) {
        let txn = sea_orm::TransactionTrait::begin(&db).await.expect("begin");
        for statement in transaction.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, body) VALUES ",
            );
            let mut values: Vec<Value> = Vec::with_capacity(500 * 6);
            for (r, row) in statement.iter().enumerate() {
                n += 1;
                if r > 0 {
                    sql.push_str(", ");
                }
                let b = r * 6;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
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
    let stored = stored_reports(url).await;
    let bytes = bytes_on_disk(url).await;
    // the same open loop while retention prunes: every project capped at
    // half of what the webhook phase stored, pruned every second
    let cap = (hook_n / 2).max(1).to_string();
    let pruning = Server::start_with(
        url,
        &["--max-reports-per-project", &cap, "--prune-every", "1"],
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lat_pruning = latency(&[&pruning], hook_rate / 2.0, 100).await;
    drop(pruning);
    let after = stored_reports(url).await;
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
        format!(
            "{name}: the same while retention prunes ({cap} reports per project kept; {stored} stored before, {after} after)"
        ),
        percentiles(&lat_pruning),
        "p99 ≤ 25 ms".into(),
    ));
    rows.push(Row(
        format!("{name}: bytes on disk per stored report (tables and indexes, {stored} reports)"),
        format!("{:.0} B", bytes as f64 / stored.max(1) as f64),
        "≤ 1 KB".into(),
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

/// Opens a `GET /api/v1/events` stream (`query`: `?project=…` or empty) and
/// reads it until the end; `seen` is told the time of each `errors` event
/// about `project` (when given); `events` counts every event read. With
/// `view`, it fetches that URL after an event as the dashboard does (at
/// most once a second), counted in `fetched`.
#[allow(clippy::too_many_arguments)]
async fn tab(
    http: reqwest::Client,
    url: String,
    project: Option<String>,
    events: Arc<AtomicU64>,
    opened: Arc<AtomicU64>,
    seen: Option<tokio::sync::mpsc::UnboundedSender<Instant>>,
    view: Option<String>,
    fetched: Arc<AtomicU64>,
) {
    let Ok(mut response) = http.get(&url).send().await else {
        return;
    };
    if !response.status().is_success() {
        return;
    }
    opened.fetch_add(1, Ordering::Relaxed);
    let needle = project.map(|p| format!("data: {{\"project\":\"{p}\"}}"));
    let mut pending = String::new();
    let mut last_fetch: Option<Instant> = None;
    while let Ok(Some(chunk)) = response.chunk().await {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        // whole events end with a blank line
        let mut fetch = false;
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if event.contains("event: ") {
                events.fetch_add(1, Ordering::Relaxed);
                fetch = true;
            }
            if let (Some(needle), Some(seen)) = (&needle, &seen)
                && event.contains(needle.as_str())
            {
                let _ = seen.send(Instant::now());
            }
        }
        if let Some(view) = &view
            && fetch
            && last_fetch.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            last_fetch = Some(Instant::now());
            if let Ok(answer) = http.get(view).send().await
                && answer.bytes().await.is_ok()
            {
                fetched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `count` live dashboard tabs on one server: their memory, the push
/// latency, and the ingest maximum without and with them.
async fn tabs(count: usize, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tabs.db").display());
    let server = Server::start(&url);
    // the first run warms the server up (caches, the database's pages)
    // the server's CPU seconds per 1,000 reports stored: what the tabs cost
    // the server itself, apart from this tool's share of the cores
    let measured = |server: &Server| {
        let (cpu, _, _) = server.usage();
        cpu
    };
    let cpu = measured(&server);
    let (acked, without_1) = webhook_max(&[&server], 8, 100).await;
    let per_k_1 = (measured(&server) - cpu) / acked.max(1) as f64 * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss_before, _) = server.usage();

    // connections kept for reuse, as a browser keeps them for a tab's fetches
    let http = reqwest::Client::new();
    let events = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let fetched = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    // the tabs fetch their view after an event, as the dashboard does
    let fetching = std::env::var("LOAD_TABS_FETCH").is_ok_and(|v| v == "1");
    let view = format!("{}/api/v1/dashboard/projects/LoadHook/errors", server.base);
    for _ in 0..count {
        tasks.push(tokio::spawn(tab(
            http.clone(),
            // a tab on the busy project's errors page: told of every batch
            format!(
                "{}/api/v1/events?topics=errors&project=LoadHook",
                server.base
            ),
            None,
            events.clone(),
            opened.clone(),
            None,
            fetching.then(|| view.clone()),
            fetched.clone(),
        )));
    }
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tasks.push(tokio::spawn(tab(
        http.clone(),
        format!(
            "{}/api/v1/events?topics=errors&project=Latency",
            server.base
        ),
        Some("Latency".into()),
        events.clone(),
        opened.clone(),
        Some(seen_tx),
        None,
        fetched.clone(),
    )));
    while opened.load(Ordering::Relaxed) < count as u64 + 1
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open = opened.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, rss_after, _) = server.usage();
    rows.push(Row(
        format!("{open} open dashboard tabs (event streams), idle, SQLite"),
        format!(
            "server RSS {} → {} (+{})",
            mb(rss_before),
            mb(rss_after),
            mb(rss_after.saturating_sub(rss_before))
        ),
        "≤ 50 MB for 1,000 tabs".into(),
    ));

    // push latency: one report every 1.2 s (beyond the coalescing window
    // of one change, 1 s: each is a first change, passed on at once)
    let mut from_post = Vec::new();
    let mut from_ack = Vec::new();
    let post = format!("{}/loggerflow/v1/batch", server.base);
    for n in 0..30u64 {
        while seen.try_recv().is_ok() {}
        let mut messages = Vec::new();
        if n == 0 {
            messages.push(hello("Latency", "latency-1", "webhook", 60));
        }
        messages.push(serde_json::json!({"type": "report", "report": report("Latency", n)}));
        let body =
            serde_json::json!({"protocol": 1, "instance": "latency-1", "messages": messages});
        let sent = Instant::now();
        let Ok(reply) = http.post(&post).json(&body).send().await else {
            continue;
        };
        let acked = Instant::now();
        let ok = reply.status().is_success();
        if let (true, Ok(Some(at))) = (
            ok,
            tokio::time::timeout(Duration::from_secs(5), seen.recv()).await,
        ) {
            from_post.push(at.duration_since(sent));
            from_ack.push(at.saturating_duration_since(acked));
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let heard = from_post.len();
    let (p50, p99) = percentiles_of(&mut from_post);
    let (a50, a99) = percentiles_of(&mut from_ack);
    rows.push(Row(
        format!("push latency with {open} tabs open: {heard} of 30 reports heard on a stream"),
        format!(
            "POST → event p50 {} / max {}; ack → event p50 {} / max {}",
            ms(p50),
            ms(p99),
            ms(a50),
            ms(a99)
        ),
        "a change on the page within 1 s".into(),
    ));

    let told = events.load(Ordering::Relaxed);
    let views = fetched.load(Ordering::Relaxed);
    let cpu = measured(&server);
    let (acked, with_tabs) = webhook_max(&[&server], 8, 100).await;
    let per_k_tabs = (measured(&server) - cpu) / acked.max(1) as f64 * 1000.0;
    let told = events.load(Ordering::Relaxed) - told;
    let views = fetched.load(Ordering::Relaxed) - views;
    for task in &tasks {
        task.abort();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = measured(&server);
    let (acked, without_2) = webhook_max(&[&server], 8, 100).await;
    let per_k_2 = (measured(&server) - cpu) / acked.max(1) as f64 * 1000.0;
    rows.push(Row(
        format!(
            "webhook ingest max (8 clients × 100), SQLite, with {open} tabs open{}",
            if fetching {
                ", each fetching its view after an event (≤ 1/s)"
            } else {
                ""
            }
        ),
        format!(
            "{with_tabs:.0} reports/s with the tabs ({told} events sent to them, {views} views fetched by them in {SECONDS} s); \
             {without_1:.0} before and {without_2:.0} after without them; server CPU per 1,000 reports {per_k_tabs:.3} s with the tabs, \
             {per_k_1:.3} s and {per_k_2:.3} s without"
        ),
        "no measurable cost".into(),
    ));
    notes.push(format!(
        "tabs: the server, the {open} streams' reader (this tool) and the ingest clients share \
         this machine's cores."
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

// ---- compat: the Python LoggerFlow 0.0.6 protocol, ours against the original

/// Python-protocol webhook apps (one project each) and the clients posting
/// their errors (client `c` posts for app `c % COMPAT_APPS`).
const COMPAT_APPS: usize = 8;
const COMPAT_CLIENTS: usize = 16;
/// Python-protocol websocket apps, one connection (and project) each.
const COMPAT_SOCKETS: usize = 8;
/// The open-loop latency phase.
const COMPAT_LATENCY_SECONDS: u64 = 5;
/// The websocket phase's sending: short, as what a slow server has not read
/// yet (the kernel's buffers take megabytes) must be handled after it.
const COMPAT_WS_SECONDS: u64 = 5;
/// How long the websocket phase may wait for the frames sent to be handled.
const COMPAT_DRAIN: Duration = Duration::from_secs(30);
/// The websocket clients' send buffer: small, so that what waits unread in
/// the kernel at the end of the phase (sent, not yet stored) stays small.
const COMPAT_SNDBUF: u32 = 64 * 1024;

/// A realistic Python traceback: 20 frames (FastAPI → the app → requests →
/// urllib3), about 2 KB, the order number in its last line.
fn python_traceback(n: u64) -> String {
    const FRAMES: &str = r#"Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 73, in app
    response = await f(request)
  File "/venv/lib/python3.11/site-packages/fastapi/routing.py", line 301, in app
    raw_response = await run_endpoint_function(
  File "/venv/lib/python3.11/site-packages/fastapi/routing.py", line 212, in run_endpoint_function
    return await dependant.call(**values)
  File "/srv/shop/api/orders.py", line 57, in create_order
    order = await checkout.place_order(cart, user)
  File "/srv/shop/checkout/service.py", line 112, in place_order
    payment = await self._charge(order)
  File "/srv/shop/checkout/service.py", line 164, in _charge
    return await run_in_threadpool(self.gw.charge, order)
  File "/venv/lib/python3.11/site-packages/starlette/concurrency.py", line 42, in run_in_threadpool
    return await anyio.to_thread.run_sync(func)
  File "/venv/lib/python3.11/site-packages/anyio/to_thread.py", line 56, in run_sync
    return await get_async_backend().run_sync_in_worker_thread(
  File "/venv/lib/python3.11/site-packages/anyio/_backends/_asyncio.py", line 962, in run
    result = context.run(func, *args)
  File "/srv/shop/payments/gateway.py", line 48, in charge
    response = self._post("/v1/charges", payload)
  File "/srv/shop/payments/gateway.py", line 91, in _post
    return self.session.post(url, json=payload)
  File "/venv/lib/python3.11/site-packages/requests/sessions.py", line 637, in post
    return self.request("POST", url, json=json, **kwargs)
  File "/venv/lib/python3.11/site-packages/requests/sessions.py", line 589, in request
    resp = self.send(prep, **send_kwargs)
  File "/venv/lib/python3.11/site-packages/requests/sessions.py", line 703, in send
    r = adapter.send(request, **kwargs)
  File "/venv/lib/python3.11/site-packages/requests/adapters.py", line 667, in send
    resp = conn.urlopen(
  File "/venv/lib/python3.11/site-packages/urllib3/connectionpool.py", line 843, in urlopen
    retries = retries.increment(
  File "/venv/lib/python3.11/site-packages/urllib3/util/retry.py", line 519, in increment
    raise MaxRetryError(_pool, url, reason)
  File "/venv/lib/python3.11/site-packages/requests/adapters.py", line 700, in send
    raise ConnectionError(e, request=request)
  File "/srv/shop/payments/gateway.py", line 95, in _post
    raise GatewayUnavailable(self.host) from None
  File "/srv/shop/payments/errors.py", line 12, in __init__
    super().__init__(f"{host} unavailable")
"#;
    format!("{FRAMES}payments.errors.GatewayUnavailable: pay.example.net unavailable (order {n})")
}

/// The first readings of a Python client: strings, memory in GiB.
fn python_readings() -> serde_json::Value {
    serde_json::json!({"cpu": "12.5", "used_memory": "3.21", "total_memory": "15.53",
        "process_memory": "0.08"})
}

/// The handshake of a 0.0.6 client, as `LoggerFlow._get_backend_info` makes it.
fn python_handshake(project: &str, implementation: &str, heartbeat: u32) -> serde_json::Value {
    serde_json::json!({"project_name": project, "connected_backends": "", "traceback": "full",
        "implementation": implementation, "heartbeat": heartbeat,
        "last_readings": python_readings(), "authors": ""})
}

/// An error as `async_write_flow` sends it (POSTed, or as a websocket frame).
fn python_error(project: &str, n: u64) -> serde_json::Value {
    serde_json::json!({"project_name": project, "traceback": python_traceback(n),
        "request_path": "project_error"})
}

/// Where a server under `compat` stores errors: a SQLite file and the table
/// that holds one row per error.
#[derive(Clone)]
struct ErrorTable {
    url: String,
    table: &'static str,
}

impl ErrorTable {
    /// Rows in the table; `None` when it cannot be read.
    async fn count(&self) -> Option<u64> {
        let db = sea_orm::Database::connect(self.url.as_str()).await.ok()?;
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {}", self.table),
            ))
            .await;
        // closed whatever the answer: a pool left open keeps a task of its
        // own that spins once the runtime shuts down
        let _ = db.close().await;
        let n = row.ok()??.try_get::<i64>("", "n").ok()?;
        Some(n as u64)
    }

    /// A SQLite file of either server: ours (`reports`) or the original
    /// (`project_exception`), opened read-only.
    async fn detect(path: &str) -> Option<Self> {
        let url = format!("sqlite://{path}?mode=ro");
        for table in ["reports", "project_exception"] {
            let candidate = Self {
                url: url.clone(),
                table,
            };
            if candidate.count().await.is_some() {
                return Some(candidate);
            }
        }
        None
    }
}

/// A server speaking the Python 0.0.6 protocol.
struct Target {
    name: String,
    /// `http://HOST:PORT/loggerflow/` (the clients' `webhook_url`).
    base: String,
    /// Its process, for CPU and memory, when it runs on this machine.
    pid: Option<u32>,
    errors: Option<ErrorTable>,
}

impl Target {
    /// The clients' `websocket_url`.
    fn ws(&self) -> String {
        self.base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    }

    fn cpu(&self) -> Option<f64> {
        self.pid.map(|p| usage_of(p).0)
    }

    async fn stored(&self) -> Option<u64> {
        match &self.errors {
            Some(t) => t.count().await,
            None => None,
        }
    }
}

/// `http://host:port` or `http://host:port/loggerflow/` (or a keyed
/// `…/loggerflow/k/KEY/`): the Python clients' base URL, with its slash.
fn compat_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
        .unwrap_or("");
    if path.is_empty() {
        format!("{url}/loggerflow/")
    } else {
        format!("{url}/")
    }
}

/// The original Python server, run by `scripts/python-original` in a
/// process group of its own, its SQLite file in a temporary directory.
struct PythonOriginal {
    child: Child,
    port: u16,
    database: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PythonOriginal {
    fn script() -> String {
        std::env::var("LOGGERFLOW_PYTHON_ORIGINAL").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/python-original").to_owned()
        })
    }

    /// Starts it and waits until its page answers (the first start installs
    /// its venv: minutes).
    async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let database = dir.path().join("loggerflow.db").display().to_string();
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let script = Self::script();
        eprintln!(
            "compat: starting the Python original ({script} {port}); its first start installs its venv"
        );
        let child = Command::new(&script)
            .arg(port.to_string())
            .arg(&database)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut original = Self {
            child,
            port,
            database,
            log,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if http
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Ok(Some(status)) = original.child.try_wait() {
                panic!(
                    "the Python original exited ({status}):\n{}",
                    original.log_tail()
                );
            }
            if started.elapsed() > Duration::from_secs(600) {
                panic!(
                    "the Python original did not answer in 10 minutes:\n{}",
                    original.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        original
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The requests its log says failed (uvicorn's "Exception in ASGI
    /// application"), by the last exception line of each: "… ×N".
    fn logged_exceptions(&self) -> (usize, String) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        let mut count = 0;
        for block in text.split("Exception in ASGI application").skip(1) {
            count += 1;
            // the last unindented `module.Error: message` line of the block
            let last = block
                .lines()
                .take_while(|l| !l.starts_with("INFO:") && !l.starts_with("ERROR:"))
                .filter(|l| {
                    !l.starts_with(char::is_whitespace)
                        && l.split_once(": ").is_some_and(|(name, _)| {
                            !name.is_empty()
                                && name
                                    .chars()
                                    .all(|c| c.is_alphanumeric() || "._".contains(c))
                        })
                })
                .last()
                .unwrap_or("?");
            *kinds.entry(last.chars().take(120).collect()).or_default() += 1;
        }
        let kinds = kinds
            .iter()
            .map(|(k, n)| format!("`{k}` ×{n}"))
            .collect::<Vec<_>>()
            .join("; ");
        (count, kinds)
    }
}

impl Drop for PythonOriginal {
    fn drop(&mut self) {
        // the whole group: the script execs the server, but whatever it
        // started goes too
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it touches no memory of ours
        unsafe { libc::kill(group, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// p-th percentile of sorted `times`.
fn percentile(times: &[Duration], p: f64) -> Duration {
    times
        .get(((times.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// "p50 8.5 ms, p99 14.0 ms" of unsorted `times`.
fn percentiles_of(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (percentile(times, 0.5), percentile(times, 0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Handshake, then one heartbeat, of each webhook app (as the Python client
/// does on start): the apps' project names.
async fn compat_hello(http: &reqwest::Client, target: &Target, prefix: &str) -> Vec<String> {
    let mut projects = Vec::new();
    for a in 0..COMPAT_APPS {
        let project = format!("{prefix}{a}");
        let hand = http
            .post(format!("{}handshake", target.base))
            .json(&python_handshake(&project, "webhook", 60))
            .send()
            .await;
        if !hand.as_ref().is_ok_and(|r| r.status().is_success()) {
            eprintln!(
                "compat: {}: handshake of {project} refused: {:?}",
                target.name,
                hand.map(|r| r.status())
            );
        }
        let _ = http
            .post(format!("{}heartbeat", target.base))
            .json(&serde_json::json!({"project_name": project, "last_readings": python_readings()}))
            .send()
            .await;
        projects.push(project);
    }
    projects
}

/// One webhook phase's figures.
struct HookRun {
    /// Errors answered 200.
    acked: u64,
    /// Errors answered otherwise, or not at all.
    failed: u64,
    rate: f64,
    p50: Duration,
    p99: Duration,
    cpu: Option<f64>,
}

/// `COMPAT_CLIENTS` clients POSTing `project_error`s as fast as answers come.
async fn compat_webhook_max(target: &Target) -> HookRun {
    let http = reqwest::Client::new();
    let projects = compat_hello(&http, target, "CompatHook").await;
    let cpu0 = target.cpu();
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..COMPAT_CLIENTS {
        let (http, failed) = (http.clone(), failed.clone());
        let project = projects[c % projects.len()].clone();
        let url = format!("{}project_error", target.base);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut n = c as u64 * 1_000_000;
            while Instant::now() < deadline {
                n += 1;
                let sent = Instant::now();
                match http
                    .post(&url)
                    .json(&python_error(&project, n))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        times.push(sent.elapsed());
                    }
                    Ok(r) => {
                        let _ = r.bytes().await;
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            times
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu0
        .zip(target.cpu())
        .map(|(a, b)| (b - a) / seconds * 100.0);
    let (p50, p99) = percentiles_of(&mut times);
    HookRun {
        acked: times.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        rate: times.len() as f64 / seconds,
        p50,
        p99,
        cpu,
    }
}

/// Open loop: `rate` errors/s POSTed regardless of answers, round robin over
/// the apps: (answered 200, failed, p50, p99).
async fn compat_open_loop(target: &Target, rate: f64) -> (u64, u64, Duration, Duration) {
    let http = reqwest::Client::new();
    let projects = compat_hello(&http, target, "CompatLatency").await;
    let url = format!("{}project_error", target.base);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(COMPAT_LATENCY_SECONDS);
    let mut tasks = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        tick.tick().await;
        n += 1;
        let body = python_error(&projects[n as usize % projects.len()], n);
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = http.post(&url).json(&body).send().await.ok()?;
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok.then(|| sent.elapsed())
        }));
    }
    let mut times = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Some(d)) => times.push(d),
            _ => failed += 1,
        }
    }
    let (p50, p99) = percentiles_of(&mut times);
    (times.len() as u64, failed, p50, p99)
}

/// One websocket phase's figures.
struct WsRun {
    connected: usize,
    /// `project_error` frames written to the sockets.
    sent: u64,
    /// Rows added, counted once the servers closed every socket (or at the
    /// drain's end).
    stored: Option<u64>,
    /// From the first frame to the last socket closed by the server (every
    /// frame handled).
    storing: Duration,
    /// Whether sockets were still open when the drain ran out.
    still_storing: bool,
    cpu: Option<f64>,
}

/// A websocket to `url` whose send buffer is `COMPAT_SNDBUF` (a `ws://`
/// URL; others get the defaults).
async fn compat_connect(
    url: &str,
) -> Option<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "ws" {
        return tokio_tungstenite::connect_async(url)
            .await
            .ok()
            .map(|(s, _)| s);
    }
    let host = parsed.host_str()?.trim_matches(['[', ']']).to_owned();
    let port = parsed.port_or_known_default()?;
    let address = tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()?
        .next()?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .ok()?;
    socket.set_send_buffer_size(COMPAT_SNDBUF).ok()?;
    let stream = socket.connect(address).await.ok()?;
    let _ = stream.set_nodelay(true);
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    tokio_tungstenite::client_async(url, stream)
        .await
        .ok()
        .map(|(s, _)| s)
}

/// `COMPAT_SOCKETS` websocket apps: handshake, then `project_error` frames
/// as fast as the socket takes them for `COMPAT_WS_SECONDS` (a heartbeat
/// first and every 5 s, as the client sends), then a close. The protocol acknowledges nothing; but
/// both servers handle a socket's frames in order, each stored before the
/// next is read, and answer the close once they read it: so when the last
/// socket is closed by its server every frame sent was read (the original
/// may still have up to 32 a socket queued for its handler: the rows are
/// counted until they stop growing), and the rows counted then are what was
/// stored.
async fn compat_websocket(target: &Target) -> WsRun {
    let before = target.stored().await;
    let cpu0 = target.cpu();
    let connected = Arc::new(AtomicU64::new(0));
    let sent_total = Arc::new(AtomicU64::new(0));
    let sending = Arc::new(AtomicU64::new(COMPAT_SOCKETS as u64));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(COMPAT_WS_SECONDS);
    let mut tasks = Vec::new();
    for c in 0..COMPAT_SOCKETS {
        let url = target.ws();
        let (connected, sent_total, sending) =
            (connected.clone(), sent_total.clone(), sending.clone());
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let Some(socket) = compat_connect(&url).await else {
                sending.fetch_sub(1, Ordering::Relaxed);
                return;
            };
            let (mut tx, mut rx) = socket.split();
            let project = format!("CompatWs{c}");
            let hand = python_handshake(&project, "websocket", 5).to_string();
            if tx.send(WsMessage::text(hand)).await.is_err() {
                sending.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            connected.fetch_add(1, Ordering::Relaxed);
            // the servers send nothing but control frames: read them
            let mut reader =
                tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
            let beat = serde_json::json!({"project_name": project,
                "last_readings": python_readings(), "request_path": "heartbeat"})
            .to_string();
            // the first right after the handshake, as the client sends it
            let mut last_beat: Option<Instant> = None;
            let mut n = c as u64 * 1_000_000;
            while Instant::now() < deadline {
                if last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                    last_beat = Some(Instant::now());
                    if tx.send(WsMessage::text(beat.clone())).await.is_err() {
                        break;
                    }
                }
                n += 1;
                let frame = python_error(&project, n).to_string();
                if tx.send(WsMessage::text(frame)).await.is_err() {
                    break;
                }
                sent_total.fetch_add(1, Ordering::Relaxed);
            }
            sending.fetch_sub(1, Ordering::Relaxed);
            // open until the server closes it (it read all before the close)
            // or the tool stops waiting: dropping a socket with frames unread
            // would lose them (a reset)
            tokio::select! {
                _ = async {
                    let _ = tx.close().await;
                    let _ = (&mut reader).await;
                } => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            reader.abort();
        }));
    }
    while sending.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = sent_total.load(Ordering::Relaxed);
    let drain_end = Instant::now() + COMPAT_DRAIN;
    while tasks.iter().any(|t| !t.is_finished()) && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still_storing = tasks.iter().any(|t| !t.is_finished());
    let mut storing = started.elapsed();
    let mut stored = before
        .zip(target.stored().await)
        .map(|(a, b)| b.saturating_sub(a));
    // the original answers a close as soon as it reads it, with up to 32
    // frames before it still queued for its handler: counted until the rows
    // reach the frames sent or stop growing for a second
    if let Some(before) = before {
        let mut last_change = Instant::now();
        while stored < Some(sent)
            && last_change.elapsed() < Duration::from_secs(1)
            && Instant::now() < drain_end
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = target.stored().await.map(|n| n.saturating_sub(before));
            if now > stored {
                stored = now;
                storing = started.elapsed();
                last_change = Instant::now();
            }
        }
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu0
        .zip(target.cpu())
        .map(|(a, b)| (b - a) / seconds * 100.0);
    WsRun {
        connected: connected.load(Ordering::Relaxed) as usize,
        sent,
        stored,
        storing,
        still_storing,
        cpu,
    }
}

/// All the figures of one server.
struct CompatRun {
    hook: HookRun,
    hook_stored: Option<u64>,
    ws: WsRun,
    /// Open loop: (rate, answered, failed, p50, p99, rows added).
    open: Option<(f64, u64, u64, Duration, Duration, Option<u64>)>,
    peak: Option<u64>,
}

async fn compat_max(target: &Target) -> CompatRun {
    eprintln!("compat: {}: webhook, then websocket", target.name);
    let before = target.stored().await;
    let hook = compat_webhook_max(target).await;
    let hook_stored = before
        .zip(target.stored().await)
        .map(|(a, b)| b.saturating_sub(a));
    let ws = compat_websocket(target).await;
    CompatRun {
        hook,
        hook_stored,
        ws,
        open: None,
        peak: None,
    }
}

async fn compat_latency(target: &Target, rate: f64, run: &mut CompatRun) {
    eprintln!("compat: {}: open-loop latency at {rate:.0}/s", target.name);
    let before = target.stored().await;
    let (answered, failed, p50, p99) = compat_open_loop(target, rate).await;
    // answers come after the rows are written, or never: a moment for stragglers
    tokio::time::sleep(Duration::from_millis(500)).await;
    let added = before
        .zip(target.stored().await)
        .map(|(a, b)| b.saturating_sub(a));
    run.open = Some((rate, answered, failed, p50, p99, added));
    run.peak = target.pid.map(|p| usage_of(p).2);
}

fn stored_text(stored: Option<u64>, expected: u64, what: &str) -> String {
    match stored {
        None => format!("— / {expected} {what} (the table was not counted)"),
        Some(s) if s == expected => format!("{s} / {expected} {what}: equal"),
        Some(s) => format!(
            "{s} / {expected} {what}: **DIFFERENT** ({} {})",
            s.abs_diff(expected),
            if s < expected { "missing" } else { "extra" }
        ),
    }
}

fn compat_rows(target: &Target, run: &CompatRun, rows: &mut Vec<Row>) {
    let name = &target.name;
    let h = &run.hook;
    let cpu = |c: Option<f64>| {
        c.map_or(String::new(), |c| {
            format!(", server CPU {c:.0} % of a core")
        })
    };
    rows.push(Row(
        format!(
            "compat, {name}: webhook `project_error`, {COMPAT_APPS} apps, {COMPAT_CLIENTS} clients as fast as answers come ({SECONDS} s)"
        ),
        format!(
            "{:.0} errors/s acknowledged ({} acked, {} failed), p50 {}, p99 {}{}",
            h.rate,
            h.acked,
            h.failed,
            ms(h.p50),
            ms(h.p99),
            cpu(h.cpu)
        ),
        "—".into(),
    ));
    rows.push(Row(
        format!("compat, {name}: error rows stored by the webhook phase / acknowledged"),
        stored_text(run.hook_stored, h.acked, "acked"),
        "equal".into(),
    ));
    let w = &run.ws;
    let ws_rate = w
        .stored
        .map(|s| s as f64 / w.storing.as_secs_f64().max(1e-3));
    rows.push(Row(
        format!(
            "compat, {name}: websocket `project_error` frames, {} of {COMPAT_SOCKETS} apps connected, sent as fast as the socket takes them ({COMPAT_WS_SECONDS} s); no acks: rows stored / time from the first frame to the last row",
            w.connected
        ),
        match ws_rate {
            Some(r) => format!(
                "{r:.0} errors/s stored ({} rows in {:.1} s{}; {:.0} frames/s sent){}",
                w.stored.unwrap_or(0),
                w.storing.as_secs_f64(),
                if w.still_storing {
                    ", **sockets still open** (frames not yet handled) when the tool stopped waiting"
                } else {
                    ""
                },
                w.sent as f64 / COMPAT_WS_SECONDS as f64,
                cpu(w.cpu)
            ),
            None if !w.still_storing => format!(
                "{:.0} errors/s read by the server ({} frames, the last socket closed by it after {:.1} s; \
                 rows not counted: no database given){}",
                w.sent as f64 / w.storing.as_secs_f64().max(1e-3),
                w.sent,
                w.storing.as_secs_f64(),
                cpu(w.cpu)
            ),
            None => format!(
                "{:.0} frames/s sent, **sockets still open** after {:.1} s (rows not counted: no database given){}",
                w.sent as f64 / COMPAT_WS_SECONDS as f64,
                w.storing.as_secs_f64(),
                cpu(w.cpu)
            ),
        },
        "—".into(),
    ));
    rows.push(Row(
        format!("compat, {name}: error rows stored by the websocket phase / frames sent"),
        stored_text(w.stored, w.sent, "sent"),
        "equal".into(),
    ));
    if let Some((rate, answered, failed, p50, p99, added)) = run.open {
        rows.push(Row(
            format!(
                "compat, {name}: webhook ack latency, open loop at {rate:.0} errors/s ({COMPAT_LATENCY_SECONDS} s, {answered} acked, {failed} failed)"
            ),
            format!("p50 {}, p99 {}; rows stored {}", ms(p50), ms(p99), added.map_or("—".into(), |a| a.to_string())),
            "—".into(),
        ));
    }
    if let Some(peak) = run.peak {
        rows.push(Row(
            format!("compat, {name}: server peak RSS"),
            mb(peak),
            "—".into(),
        ));
    }
}

/// `load compat [URL [SQLITE_FILE]]`: see the module's comment.
async fn compat(
    url: Option<&str>,
    database: Option<&str>,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let sample = python_traceback(1);
    notes.push(format!(
        "compat: the Python LoggerFlow 0.0.6 protocol. Webhook: {COMPAT_APPS} apps (handshake, a heartbeat), \
         {COMPAT_CLIENTS} clients POSTing `project_error` as fast as answers come for {SECONDS} s (latency under \
         that saturation), then {COMPAT_LATENCY_SECONDS} s open loop at one rate for every server (half the lowest \
         maximum). Websocket: {COMPAT_SOCKETS} apps (handshake frame, then `project_error` frames as fast as the \
         socket takes them for {COMPAT_WS_SECONDS} s, a send buffer of {} KB, a heartbeat frame first and every 5 s, then a close); the \
         protocol acknowledges nothing, so its figure is the rows stored over the time from the first frame to the \
         last row: both servers handle a socket's frames in order and answer its close once they read it, so the \
         tool waits until its server closed every socket (at most {} s), then counts the rows until they stop \
         growing (the original still has up to 32 frames a socket queued when it answers). Error text: \
         a Python traceback of 20 frames, {} bytes. \
         Stored rows are counted in each server's SQLite file (ours: `reports`; the original: `project_exception`).",
        COMPAT_SNDBUF / 1024,
        COMPAT_DRAIN.as_secs(),
        sample.len()
    ));
    let mut targets = Vec::new();
    // kept alive to the end: dropping them stops the servers
    let mut ours = None;
    let mut original = None;
    if let Some(url) = url {
        let errors = match database {
            Some(path) => {
                let table = ErrorTable::detect(path).await;
                if table.is_none() {
                    eprintln!("compat: {path}: no `reports` or `project_exception` table to count");
                }
                table
            }
            None => None,
        };
        targets.push(Target {
            name: url.to_owned(),
            base: compat_base(url),
            pid: None,
            errors,
        });
    } else {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("compat.db").display().to_string();
        let server = Server::start(&format!("sqlite://{path}?mode=rwc"));
        targets.push(Target {
            name: format!("ours ({})", env!("CARGO_PKG_VERSION")),
            base: format!("{}/loggerflow/", server.base),
            pid: Some(server.pid()),
            errors: Some(ErrorTable {
                url: format!("sqlite://{path}?mode=ro"),
                table: "reports",
            }),
        });
        ours = Some((server, dir));
        let python = PythonOriginal::start().await;
        targets.push(Target {
            name: "original (Python 0.0.6)".into(),
            base: format!("http://127.0.0.1:{}/loggerflow/", python.port),
            pid: Some(python.child.id()),
            errors: Some(ErrorTable {
                url: format!("sqlite://{}?mode=ro", python.database),
                table: "project_exception",
            }),
        });
        original = Some(python);
        // the versions the original runs on, from its venv
        let versions = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/py-loggerflow-server/bin/python"
        ))
        .args([
            "-c",
            "import sys, fastapi, uvicorn, sqlalchemy, aiosqlite; \
             print(f'Python {sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, \
             SQLAlchemy {sqlalchemy.__version__} + aiosqlite {aiosqlite.__version__}')",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
        notes.push(format!(
            "compat: ours is this release build ({}) on SQLite; the original is `loggerflow==0.0.6` \
             ({versions}) on SQLite, started by scripts/python-original. This machine has {cores} cores, \
             shared by this tool and both servers (one server is loaded at a time; the other idles).",
            env!("CARGO_PKG_VERSION"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut runs = Vec::new();
    for target in &targets {
        runs.push(compat_max(target).await);
    }
    // one offered rate for every server: half the lowest maximum
    let rate = runs
        .iter()
        .map(|r| r.hook.rate)
        .fold(f64::INFINITY, f64::min)
        / 2.0;
    for (target, run) in targets.iter().zip(runs.iter_mut()) {
        compat_latency(target, rate.max(1.0), run).await;
    }
    if let Some(python) = &original {
        let (exceptions, kinds) = python.logged_exceptions();
        if exceptions > 0 {
            notes.push(format!(
                "compat: the original's log has {exceptions} failed requests (exceptions in its handlers): {kinds}"
            ));
        }
    }
    for (target, run) in targets.iter().zip(&runs) {
        compat_rows(target, run, rows);
    }
    if let [a, b] = &runs[..] {
        let ratio = |x: f64, y: f64| {
            if x <= 0.0 || y <= 0.0 {
                "—".into()
            } else if x >= y {
                format!("×{:.1}", x / y)
            } else {
                format!("×{:.3} (1/{:.1})", x / y, y / x)
            }
        };
        let ws_rate = |r: &CompatRun| {
            r.ws.stored
                .map(|s| s as f64 / r.ws.storing.as_secs_f64().max(1e-3))
                .unwrap_or(0.0)
        };
        let open = |r: &CompatRun| r.open.map(|o| (o.3, o.4)).unwrap_or_default();
        let (a50, a99) = open(a);
        let (b50, b99) = open(b);
        rows.push(Row(
            "compat: ratio ours / original".into(),
            format!(
                "webhook errors/s {}; websocket errors stored/s {}; open-loop ack latency (lower is better) p50 {}, p99 {}; saturated p99 {}",
                ratio(a.hook.rate, b.hook.rate),
                ratio(ws_rate(a), ws_rate(b)),
                ratio(a50.as_secs_f64(), b50.as_secs_f64()),
                ratio(a99.as_secs_f64(), b99.as_secs_f64()),
                ratio(a.hook.p99.as_secs_f64(), b.hook.p99.as_secs_f64()),
            ),
            "—".into(),
        ));
    }
    drop(original);
    drop(ours);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `two` (a minute, and the PostgreSQL ingest again) and `compat` (the
    // Python original) only when asked for
    let wants = |s: &str| {
        (args.is_empty() && !["two", "compat", "tabs"].contains(&s)) || args.iter().any(|a| a == s)
    };
    // `compat [URL [SQLITE_FILE]]`
    let sections = ["idle", "ingest", "connections", "two", "compat", "tabs"];
    let compat_args: Vec<&str> = args
        .iter()
        .skip_while(|a| *a != "compat")
        .skip(1)
        .take_while(|a| !sections.contains(&a.as_str()))
        .map(String::as_str)
        .collect();
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
    if wants("tabs") {
        tabs(1_000, &mut rows, &mut notes).await;
    }
    if wants("compat") {
        compat(
            compat_args.first().copied(),
            compat_args.get(1).copied(),
            &mut rows,
            &mut notes,
        )
        .await;
    }
    print(&notes, &rows);
}
