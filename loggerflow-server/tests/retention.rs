//! Report retention by count and by age, through a real server on a real
//! SQLite file and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, Db, FormClient, Server, batch, hello};
use sea_orm::{ConnectionTrait, Statement};

/// A report of the group `kind` (one fingerprint per kind), `days_ago` old
/// and `n` ms (reports sent together are in order, none at the same time).
fn report_of(project: &str, kind: &str, id: &str, days_ago: i64, n: usize) -> serde_json::Value {
    let at = chrono::Utc::now() - chrono::Duration::days(days_ago)
        + chrono::Duration::milliseconds(i64::try_from(n).unwrap_or(0));
    serde_json::json!({ "type": "report", "report": {
        "id": id, "project": project, "timestamp": at.to_rfc3339(), "level": "ERROR",
        "kind": "event", "message": format!("{kind} failed"), "target": format!("shop::{kind}"),
        "module": format!("shop::{kind}"), "file": format!("src/{kind}.rs"), "line": 10,
        "thread": "main", "host": "h",
        "frames": [{"function": format!("shop::{kind}::run"), "file": format!("src/{kind}.rs"), "line": 10, "yours": true}]
    } })
}

/// Sends `reports` of one instance in batches of 100; returns their ids.
async fn send(server: &Server, project: &str, reports: &[(&str, i64)]) -> Vec<String> {
    let instance = format!("{project}-app");
    let (status, _) = server
        .post(
            "/loggerflow/v1/batch",
            &batch(
                &instance,
                serde_json::json!([hello(project, &instance, 30, "webhook")]),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for chunk in reports.chunks(100) {
        let messages: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(kind, days_ago)| {
                let id = common::new_id();
                ids.push(id.clone());
                report_of(project, kind, &id, *days_ago, ids.len())
            })
            .collect();
        let (status, body) = server
            .post("/loggerflow/v1/batch", &batch(&instance, messages.into()))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    ids
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

/// The groups of `project` from the API: (title, count, pruned).
async fn groups(server: &Server, project: &str) -> Vec<(String, i64, i64)> {
    let body = server
        .get(&format!("/api/v1/projects/{project}/errors"))
        .await;
    let mut groups: Vec<(String, i64, i64)> = body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["title"].as_str().unwrap_or_default().to_owned(),
                g["count"].as_i64().unwrap_or(-1),
                g["pruned"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    groups.sort();
    groups
}

async fn wait_until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A project over its count is pruned back under it within seconds, oldest
/// first, on both backends; every group keeps its true count, its first
/// report, and says how many were pruned (API and errors page).
#[tokio::test]
async fn a_project_over_its_count_is_pruned_to_it_and_groups_keep_their_counts() {
    for backend in common::BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(
            &db.url,
            &[
                "--max-reports-per-project",
                "50",
                "--prune-every",
                "1",
                "--report-retention-days",
                "0",
            ],
        );
        // 30 "alpha" (days 30..=1 ago, oldest first), then 40 "beta", 30 "gamma"
        let mut plan: Vec<(&str, i64)> = Vec::new();
        plan.extend((0..30).map(|i| ("alpha", 30 - i)));
        plan.extend((0..40).map(|_| ("beta", 0)));
        plan.extend((0..30).map(|_| ("gamma", 0)));
        let ids = send(&server, "shop", &plan).await;
        // another project under its count is left alone
        send(&server, "tiny", &[("alpha", 40), ("alpha", 1)]).await;
        // 60 errors of one report each: over the count, but every report is
        // its error's first: none goes
        let kinds: Vec<String> = (0..60).map(|k| format!("kind{k}")).collect();
        let many: Vec<(&str, i64)> = kinds.iter().map(|k| (k.as_str(), 0)).collect();
        send(&server, "many", &many).await;
        let store = sea_orm::Database::connect(&db.url).await.expect("connect");
        let shop = "SELECT COUNT(*) FROM reports r JOIN projects p ON p.id = r.project_id WHERE p.name = 'shop'";
        wait_until("shop is back at 50 reports", 20, async || {
            count(&store, shop).await <= 50
        })
        .await;
        // exactly down to the count: the oldest went
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(count(&store, shop).await, 50, "{backend:?}");
        let stored = common::stored_ids(&store).await;
        let kept = |id: &str| stored.contains(id);
        // alpha's first report stays (its group's first), its next 29 went
        // with beta's first 21 but not beta's first report
        assert!(kept(&ids[0]), "the first report of alpha is kept");
        for id in &ids[1..30] {
            assert!(!kept(id), "an old alpha report was not pruned");
        }
        assert!(kept(&ids[30]), "the first report of beta is kept");
        assert!(!kept(&ids[31]), "beta's oldest but first was not pruned");
        assert!(kept(&ids[99]), "the newest report is kept");
        let shop_groups = groups(&server, "shop").await;
        assert_eq!(
            shop_groups,
            vec![
                ("alpha failed".into(), 30, 29),
                ("beta failed".into(), 40, 21),
                ("gamma failed".into(), 30, 0),
            ],
            "{backend:?}: true counts, and how many were pruned"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM reports r JOIN projects p ON p.id = r.project_id WHERE p.name = 'tiny'").await, 2);
        let many = "SELECT COUNT(*) FROM reports r JOIN projects p ON p.id = r.project_id WHERE p.name = 'many'";
        assert_eq!(
            count(&store, many).await,
            60,
            "{backend:?}: first reports are kept"
        );
        let pruned: i64 = groups(&server, "many").await.iter().map(|g| g.2).sum();
        assert_eq!(pruned, 0);
        let page = FormClient::new(&server).await;
        let (status, html) = page.get("/projects/shop").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("29 pruned") && html.contains("21 pruned"),
            "{html}"
        );
        store.close().await.ok();
    }
}

/// Reports older than the retention go (the flag's, then the settings
/// page's, which overrides it); an error keeps its first report.
#[tokio::test]
async fn reports_older_than_the_retention_are_pruned_and_the_settings_page_sets_it() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--prune-every", "1"]);
    // the default: 30 days
    let ids = send(
        &server,
        "shop",
        &[
            ("alpha", 45),
            ("alpha", 40),
            ("alpha", 20),
            ("alpha", 10),
            ("alpha", 0),
        ],
    )
    .await;
    let store = sea_orm::Database::connect(&db.url).await.expect("connect");
    wait_until("the 40-day-old report goes", 15, async || {
        count(&store, "SELECT COUNT(*) FROM reports").await == 4
    })
    .await;
    let stored = common::stored_ids(&store).await;
    assert!(stored.contains(&ids[0]), "the group's first report is kept");
    assert!(!stored.contains(&ids[1]));
    // the settings page: keep 15 days
    let page = FormClient::new(&server).await;
    let (_, html) = page.get("/settings").await;
    assert!(
        html.contains("report_retention_days")
            && html.contains("30 (from --report-retention-days)"),
        "{html}"
    );
    let response = page
        .post(
            "/settings",
            "trace_mode=clean&backlight=on&retention_days=&report_retention_days=15",
        )
        .await;
    assert_eq!(response.status(), 303);
    wait_until("the 20-day-old report goes", 15, async || {
        count(&store, "SELECT COUNT(*) FROM reports").await == 3
    })
    .await;
    let stored = common::stored_ids(&store).await;
    assert!(!stored.contains(&ids[2]));
    assert!(stored.contains(&ids[3]) && stored.contains(&ids[4]));
    assert_eq!(
        groups(&server, "shop").await,
        vec![("alpha failed".into(), 5, 2)]
    );
    let (_, html) = page.get("/settings").await;
    assert!(html.contains("value=\"15\""), "{html}");
    // out of range is refused with a clear 400, nothing saved
    let response = page
        .post("/settings", "trace_mode=clean&report_retention_days=3661")
        .await;
    assert_eq!(response.status(), 400);
    store.close().await.ok();
}

/// A project whose oldest reports are thousands of errors seen once (each
/// its error's first report, which stays) is still pruned to its count: the
/// pass goes on past them (a chunk that only looked at a few thousand
/// reports stopped there for good).
#[tokio::test]
async fn a_count_is_reached_past_thousands_of_errors_seen_once() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(
        &db.url,
        &[
            "--max-reports-per-project",
            "100",
            "--prune-every",
            "1",
            "--report-retention-days",
            "0",
        ],
    );
    // 4,700 errors seen once (letters only: numbers are masked in grouping),
    // then 300 reports of one error
    let letters = |mut k: usize| {
        let mut name = String::new();
        for _ in 0..3 {
            name.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
        }
        name
    };
    let kinds: Vec<String> = (0..4_700).map(|k| format!("once{}", letters(k))).collect();
    let mut plan: Vec<(&str, i64)> = kinds.iter().map(|k| (k.as_str(), 1)).collect();
    plan.extend((0..300).map(|_| ("flood", 0)));
    send(&server, "crowd", &plan).await;
    let store = sea_orm::Database::connect(&db.url).await.expect("connect");
    // every error keeps its first report: 4,701 stay, the flood's other 299 go
    wait_until("the flood is pruned", 30, async || {
        count(&store, "SELECT COUNT(*) FROM reports").await == 4_701
    })
    .await;
    let flood = groups(&server, "crowd").await;
    let flood = flood
        .iter()
        .find(|g| g.0 == "flood failed")
        .expect("the flood");
    assert_eq!((flood.1, flood.2), (300, 299));
    store.close().await.ok();
}
