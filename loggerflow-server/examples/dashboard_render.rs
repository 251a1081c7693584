//! Render times of the dashboard with a large data set: 100 projects,
//! 1,000,000 stored reports (~2 KB, 20 frames each, spread over 7 days in
//! 20,000 groups) and 7 days of 5-second samples for 10 apps (1.2 million
//! samples). Seeds the database once (straight SQL, in batches; the seed is
//! reused when the file already holds it), starts the server in this process
//! on loopback, and prints p50 / p95 / max of each page over N requests.
//!
//! Run with (release, as the figures in BENCHMARKS.md):
//! `cargo run --release -p loggerflow-server --example dashboard_render -- sqlite:///tmp/lf-big.db?mode=rwc 50`
//! (database URL, requests per page). A PostgreSQL URL works too.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

const PROJECTS: i64 = 100;
const REPORTS: i64 = 1_000_000;
const GROUPS_PER_PROJECT: i64 = 200;
const APPS: i64 = 10;
const DAY_MS: i64 = 86_400_000;
const SAMPLE_MS: i64 = 5_000;

fn payload(template: &str, id: &str, n: i64) -> String {
    template
        .replace("REPORT-ID", id)
        .replace("NUMBER", &n.to_string())
}

fn template() -> String {
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
        "id": "REPORT-ID", "project": "P", "timestamp": "2026-11-25T00:00:00Z", "level": "ERROR",
        "kind": "event", "message": "payment NUMBER failed: card declined by issuer",
        "target": "shop::pay", "module": "shop::pay", "file": "src/pay.rs", "line": 10,
        "thread": "tokio-runtime-worker", "host": "web-1", "frames": frames
    })
    .to_string()
}

/// A time-ordered id (like the UUID v7 reports carry).
fn report_id(ts_ms: i64, n: i64) -> uuid::Uuid {
    let value = (u128::from(ts_ms as u64) << 80) | (0x7000u128 << 64) | n as u128;
    uuid::Uuid::from_u128(value)
}

async fn exec(db: &DatabaseConnection, sql: String, values: Vec<Value>) {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("seed statement");
}

/// Inserts `rows` (each `columns` values) as multi-row INSERTs.
async fn insert(db: &DatabaseConnection, head: &str, columns: usize, rows: Vec<Vec<Value>>) {
    let per = 30_000 / columns;
    for chunk in rows.chunks(per) {
        let mut sql = String::from(head);
        let mut values = Vec::with_capacity(chunk.len() * columns);
        for (r, row) in chunk.iter().enumerate() {
            sql.push_str(if r == 0 { " VALUES (" } else { ", (" });
            for c in 0..columns {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", r * columns + c + 1));
            }
            sql.push(')');
            values.extend(row.iter().cloned());
        }
        exec(db, sql, values).await;
    }
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_string(
        backend,
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ))
    .await
    .expect("count")
    .and_then(|r| r.try_get::<i64>("", "n").ok())
    .unwrap_or(0)
}

async fn seed(db: &DatabaseConnection, now: i64) {
    if count(db, "reports").await >= REPORTS {
        println!("seed: reusing the data already in the database");
        if count(db, "metric_rollups").await == 0 {
            loggerflow_server::store::metrics::rebuild_rollups(db)
                .await
                .expect("rollups");
        }
        return;
    }
    let started = Instant::now();
    for table in [
        "reports",
        "error_groups",
        "metric_samples",
        "instances",
        "projects",
    ] {
        exec(db, format!("DELETE FROM {table}"), vec![]).await;
    }
    let since = now - 7 * DAY_MS;
    let projects: Vec<Vec<Value>> = (1..=PROJECTS)
        .map(|p| {
            vec![
                p.into(),
                format!("service-{p:03}").into(),
                since.into(),
                false.into(),
            ]
        })
        .collect();
    insert(
        db,
        "INSERT INTO projects (id, name, created_ms, hidden)",
        4,
        projects,
    )
    .await;
    let per_project = REPORTS / PROJECTS;
    let per_group = per_project / GROUPS_PER_PROJECT;
    let step = 7 * DAY_MS / per_project;
    let mut groups = Vec::new();
    for p in 1..=PROJECTS {
        for g in 0..GROUPS_PER_PROJECT {
            let id = (p - 1) * GROUPS_PER_PROJECT + g + 1;
            groups.push(vec![
                id.into(),
                p.into(),
                format!("fp-{id}").into(),
                format!("payment failed: card declined by issuer #{g}").into(),
                per_group.into(),
                since.into(),
                (since + (per_project - GROUPS_PER_PROJECT + g) * step).into(),
                if g % 5 == 0 { "resolved" } else { "open" }.into(),
                false.into(),
            ]);
        }
    }
    insert(
        db,
        "INSERT INTO error_groups (id, project_id, fingerprint, title, count, first_seen_ms, last_seen_ms, state, regressed)",
        9,
        groups,
    )
    .await;
    let template = template();
    // in time order, as apps send them
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..per_project {
        let ts = since + i * step;
        for p in 1..=PROJECTS {
            let n = i * PROJECTS + p;
            let group = (p - 1) * GROUPS_PER_PROJECT + i % GROUPS_PER_PROJECT + 1;
            let id = report_id(ts, n);
            // stored as the server stores it: zstd-compressed JSON
            let body = zstd::bulk::compress(payload(&template, &id.to_string(), n).as_bytes(), 1)
                .expect("compress");
            batch.push(vec![
                id.into(),
                p.into(),
                group.into(),
                Value::String(None),
                ts.into(),
                body.into(),
            ]);
        }
        if batch.len() >= 10_000 {
            insert(
                db,
                "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, body)",
                6,
                std::mem::take(&mut batch),
            )
            .await;
        }
    }
    insert(
        db,
        "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, body)",
        6,
        batch,
    )
    .await;
    println!(
        "seed: {REPORTS} reports in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let instances: Vec<Vec<Value>> = (1..=APPS)
        .map(|a| {
            vec![
                format!("app-{a}").into(),
                a.into(),
                "web-1".into(),
                a.into(),
                "loggerflow-rs/0.1".into(),
                "websocket".into(),
                5i32.into(),
                "online".into(),
                since.into(),
                now.into(),
                since.into(),
            ]
        })
        .collect();
    insert(
        db,
        "INSERT INTO instances (id, project_id, host, pid, client_version, transport, heartbeat_s, status, started_ms, last_seen_ms, status_since_ms)",
        11,
        instances,
    )
    .await;
    let mut samples = Vec::with_capacity(10_000);
    for t in 0..(7 * DAY_MS / SAMPLE_MS) {
        let ts = since + t * SAMPLE_MS;
        for a in 1..=APPS {
            let wave = ((t as f64) / 720.0).sin();
            samples.push(vec![
                a.into(),
                format!("app-{a}").into(),
                ts.into(),
                (40.0 + 30.0 * wave).into(),
                (10.0 + 5.0 * wave).into(),
                (300_000_000 + (wave * 50_000_000.0) as i64).into(),
                8_000_000_000i64.into(),
                16_000_000_000i64.into(),
            ]);
        }
        if samples.len() >= 10_000 {
            insert(
                db,
                "INSERT INTO metric_samples (project_id, instance_id, ts_ms, cpu_percent, process_cpu_percent, process_memory_bytes, memory_used_bytes, memory_total_bytes)",
                8,
                std::mem::take(&mut samples),
            )
            .await;
        }
    }
    insert(
        db,
        "INSERT INTO metric_samples (project_id, instance_id, ts_ms, cpu_percent, process_cpu_percent, process_memory_bytes, memory_used_bytes, memory_total_bytes)",
        8,
        samples,
    )
    .await;
    loggerflow_server::store::metrics::rebuild_rollups(db)
        .await
        .expect("rollups");
    exec(db, "ANALYZE".into(), vec![]).await;
    println!(
        "seed: done in {:.0} s (reports, groups, 10 apps × 7 days of 5 s samples)",
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "sqlite:///tmp/lf-big.db?mode=rwc".into());
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let db = loggerflow_server::store::connect(&url)
        .await
        .expect("connect and migrate");
    let now = loggerflow_server::store::now_ms();
    seed(&db, now).await;
    // the newest report of the busiest group, for the report page
    let newest: String = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM reports WHERE project_id = 1 ORDER BY ts_ms DESC LIMIT 1".to_owned(),
        ))
        .await
        .expect("newest")
        .and_then(|r| r.try_get::<uuid::Uuid>("", "id").ok())
        .map(|id| id.to_string())
        .unwrap_or_default();
    drop(db);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let config = loggerflow_server::Config::new(url.clone());
    tokio::spawn(loggerflow_server::serve(
        listener,
        config,
        std::future::pending(),
    ));
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    for _ in 0..50 {
        if http
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pages = [
        ("projects page", "/".to_owned()),
        ("errors page (first)", "/projects/service-001".to_owned()),
        (
            "errors page (search)",
            "/projects/service-001?q=%2317".to_owned(),
        ),
        (
            "errors page (3rd, by cursor)",
            String::new(), // filled below
        ),
        (
            "report page",
            format!("/projects/service-001/reports/{newest}"),
        ),
        (
            "metrics page (7d)",
            "/projects/service-001/metrics?window=7d".to_owned(),
        ),
        (
            "metrics query (7d, JSON)",
            "/api/v1/projects/service-001/metrics?window=7d".to_owned(),
        ),
        (
            "metrics page (1h)",
            "/projects/service-001/metrics?window=1h".to_owned(),
        ),
    ];
    // the third page's cursor, as the "older →" links give it
    let mut third = "/projects/service-001".to_owned();
    for _ in 0..2 {
        let html = http
            .get(format!("{base}{third}"))
            .send()
            .await
            .expect("errors page")
            .text()
            .await
            .expect("body");
        if let Some(at) = html.find("after=") {
            let rest = &html[at..];
            let end = rest.find('"').unwrap_or(rest.len());
            third = format!("/projects/service-001?{}", &rest[..end]);
        }
    }
    println!(
        "\n{:<30} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms", "KB"
    );
    for (name, path) in pages {
        let path = if path.is_empty() { third.clone() } else { path };
        let mut times = Vec::with_capacity(n);
        let mut size = 0;
        for _ in 0..n {
            let started = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("request");
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            size = response.bytes().await.expect("body").len();
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<30} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            name,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().expect("a request")),
            size as f64 / 1024.0
        );
    }
}
