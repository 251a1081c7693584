//! Releases and environments through a real server, on SQLite and
//! PostgreSQL: what reports and hellos name is kept, filtered by, and named
//! in alarms (a regression says the release it came back in), and alarm
//! connections can listen to some environments only.

mod common;

use std::time::Duration;

use common::recorder::Recorder;
use common::{Db, Server, batch, new_id};
use serde_json::{Value, json};

/// A report of `project` with `message` (its group), from `release` in
/// `environment` (absent when `None`, as older clients send them).
/// `ago_s` seconds before now.
fn report(
    project: &str,
    message: &str,
    release: Option<&str>,
    environment: Option<&str>,
    ago_s: i64,
) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    let mut report = json!({
        "id": new_id(), "project": project, "timestamp": at.to_rfc3339(),
        "level": "ERROR", "kind": "event", "message": message, "target": "shop::pay",
        "thread": "main", "host": "h",
        "frames": [{"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true}]
    });
    if let Some(release) = release {
        report["release"] = json!(release);
    }
    if let Some(environment) = environment {
        report["environment"] = json!(environment);
    }
    json!({ "type": "report", "report": report })
}

fn hello(project: &str, instance: &str, release: &str, environment: &str) -> Value {
    json!({
        "type": "hello", "protocol": 1, "project": project, "instance": instance, "host": "web-1",
        "pid": 7, "client_version": "test/1", "heartbeat_s": 30, "trace_mode": "full",
        "transport": "webhook", "release": release, "environment": environment
    })
}

async fn send(server: &Server, instance: &str, messages: Value) {
    let (status, reply) = server
        .post("/loggerflow/v1/batch", &batch(instance, messages))
        .await;
    assert_eq!(status, 200, "{reply}");
}

fn titles(answer: &Value) -> Vec<String> {
    let mut titles: Vec<String> = answer["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    titles.sort();
    titles
}

fn group<'a>(answer: &'a Value, title: &str) -> &'a Value {
    answer["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["title"] == title))
        .unwrap_or_else(|| panic!("no group `{title}` in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_environments_are_kept_filtered_and_named_in_alarms() {
    for backend in common::BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(
            &db.url,
            &["--allow-private-targets", "--alarm-rate", "100/600"],
        );
        let chat = Recorder::start().await;
        let alarm = json!({ "kind": "webhook", "name": "hook", "fields": {
            "url": format!("http://{}/all", chat.addr) } });
        assert_eq!(
            server.post("/api/v1/alarms", &alarm.to_string()).await.0,
            201
        );
        let alarm = json!({ "kind": "webhook", "name": "prod-only", "fields": {
            "url": format!("http://{}/prod", chat.addr) } });
        assert_eq!(
            server.post("/api/v1/alarms", &alarm.to_string()).await.0,
            201
        );
        // limited to names that contain "staging" in their JSON text, or
        // differ only by case: never told about staging
        let alarm = json!({ "kind": "webhook", "name": "tricky", "fields": {
            "url": format!("http://{}/tricky", chat.addr) } });
        assert_eq!(
            server.post("/api/v1/alarms", &alarm.to_string()).await.0,
            201
        );
        for (alarm, environments) in [
            ("hook", json!([])),
            ("prod-only", json!(["production"])),
            ("tricky", json!(["x\"staging", "STAGING", "Production"])),
        ] {
            let body = json!({ "alarm": alarm, "triggers": ["new_error", "regression"],
                "environments": environments });
            let (status, reply) = server
                .post("/api/v1/projects/Shop/alarms", &body.to_string())
                .await;
            assert_eq!(status, 200, "{reply}");
        }
        let bad =
            json!({ "alarm": "hook", "triggers": ["new_error"], "environments": ["a\u{202e}b"] });
        let (status, reply) = server
            .post("/api/v1/projects/Shop/alarms", &bad.to_string())
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some("invalid_environment"))
        );

        send(
            &server,
            "shop-1",
            json!([
                hello("Shop", "shop-1", "1.1.0", "staging"),
                report("Shop", "timeout", Some("1.0.0"), Some("staging"), 50),
                report("Shop", "timeout", Some("1.1.0"), Some("staging"), 40),
                report("Shop", "card declined", Some("1.1.0"), Some("staging"), 30),
                report("Shop", "timeout", Some("1.0.0"), Some("production"), 20),
                // an older client: no release, no environment
                report("Shop", "legacy", None, None, 10),
            ]),
        )
        .await;

        let all = server.get("/api/v1/projects/Shop/errors").await;
        assert_eq!(
            titles(&all),
            ["card declined", "legacy", "timeout"],
            "{backend:?}"
        );
        let timeout = group(&all, "timeout");
        assert_eq!(
            timeout["first_release"],
            json!({ "environment": "staging", "release": "1.0.0" }),
            "{all}"
        );
        assert_eq!(
            timeout["last_release"],
            json!({ "environment": "production", "release": "1.0.0" }),
            "{all}"
        );
        let legacy = group(&all, "legacy");
        assert_eq!(
            legacy["first_release"],
            json!({ "environment": "production", "release": "" }),
            "{all}"
        );
        let staging = server
            .get("/api/v1/projects/Shop/errors?environment=staging")
            .await;
        assert_eq!(titles(&staging), ["card declined", "timeout"], "{staging}");
        assert_eq!(
            group(&staging, "timeout")["last_release"],
            json!({ "environment": "staging", "release": "1.1.0" }),
            "within the environment asked for"
        );
        let production = server
            .get("/api/v1/projects/Shop/errors?environment=production")
            .await;
        assert_eq!(titles(&production), ["legacy", "timeout"], "{production}");
        assert_eq!(
            group(&production, "timeout")["last_release"],
            json!({ "environment": "production", "release": "1.0.0" })
        );
        let in_release = server
            .get("/api/v1/projects/Shop/errors?release=1.1.0")
            .await;
        assert_eq!(titles(&in_release), ["card declined", "timeout"]);
        let none = server
            .get("/api/v1/projects/Shop/errors?environment=production&release=1.1.0")
            .await;
        assert_eq!(titles(&none), Vec::<String>::new());

        let reports = server
            .get("/api/v1/projects/Shop/reports?environment=staging&release=1.0.0")
            .await;
        let listed = reports["reports"].as_array().cloned().unwrap_or_default();
        assert_eq!(listed.len(), 1, "{reports}");
        assert_eq!(listed[0]["release"], "1.0.0");
        assert_eq!(listed[0]["environment"], "staging");
        let every = server.get("/api/v1/projects/Shop/reports").await;
        let legacy_report = every["reports"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["report"]["message"] == "legacy"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(legacy_report["release"], Value::Null, "{every}");
        assert_eq!(legacy_report["environment"], "production");

        let projects = server.get("/api/v1/projects").await;
        let instance = &common::project(&projects, "Shop").expect("Shop")["instances"][0];
        assert_eq!(instance["release"], "1.1.0", "{projects}");
        assert_eq!(instance["environment"], "staging", "{projects}");

        // the new errors' alarms: "hook" hears all, "prod-only" production only
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while chat.requests.lock().expect("lock").len() < 6 && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let messages = |path: &str| {
            let mut texts: Vec<String> = chat
                .requests
                .lock()
                .expect("lock")
                .iter()
                .filter(|r| r.uri == path)
                .filter_map(|r| r.body["message"].as_str().map(str::to_owned))
                .collect();
            texts.sort();
            texts
        };
        // a new error per environment it came from
        assert_eq!(
            messages("/all"),
            [
                "new error in 1.0.0 (staging): timeout",
                "new error in 1.0.0: timeout",
                "new error in 1.1.0 (staging): card declined",
                "new error: legacy",
            ],
            "{backend:?}"
        );
        assert_eq!(
            messages("/prod"),
            ["new error in 1.0.0: timeout", "new error: legacy"],
            "{backend:?}"
        );
        assert_eq!(messages("/tricky"), Vec::<String>::new(), "{backend:?}");
        // an error of staging reaching production later is new there
        send(
            &server,
            "shop-1",
            json!([report(
                "Shop",
                "card declined",
                Some("1.1.0"),
                Some("production"),
                5
            )]),
        )
        .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while messages("/prod").len() < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            messages("/prod"),
            [
                "new error in 1.0.0: timeout",
                "new error in 1.1.0: card declined",
                "new error: legacy",
            ],
            "{backend:?}"
        );

        // resolved, then back in 1.2.0 on staging: the regression names it
        let id = group(&all, "timeout")["id"].as_i64().expect("an id");
        let (status, _) = server
            .post(
                &format!("/api/v1/projects/Shop/errors/{id}/state"),
                r#"{"state": "resolved"}"#,
            )
            .await;
        assert_eq!(status, 200);
        send(
            &server,
            "shop-1",
            json!([report("Shop", "timeout", Some("1.2.0"), Some("staging"), 0)]),
        )
        .await;
        let after = server.get("/api/v1/projects/Shop/errors").await;
        assert_eq!(
            group(&after, "timeout")["regressed_in"],
            json!({ "environment": "staging", "release": "1.2.0" }),
            "{after}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while messages("/all").len() < 6 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            messages("/all")
                .contains(&"a resolved error is back in 1.2.0 (staging): timeout".to_owned()),
            "{:?}",
            messages("/all")
        );
        assert_eq!(messages("/prod").len(), 3, "staging stays out");
    }
}

/// The text of each `<tr>` of `html`'s first table body, tags removed.
fn rows(html: &str) -> Vec<String> {
    let body = html
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map(|(body, _)| body)
        .unwrap_or_default();
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in row.chars() {
                match c {
                    '<' => {
                        in_tag = true;
                        text.push(' ');
                    }
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

async fn page(server: &Server, path: &str) -> String {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().await.expect("HTML")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_releases_page_and_the_errors_filters_show_what_was_seeded() {
    let db = Db::new(common::Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    send(
        &server,
        "shop-1",
        json!([
            hello("Shop", "shop-1", "1.1.0", "staging"),
            report("Shop", "timeout", Some("1.0.0"), Some("staging"), 50),
            report("Shop", "timeout", Some("1.1.0"), Some("staging"), 40),
            report("Shop", "card declined", Some("1.1.0"), Some("staging"), 30),
            report("Shop", "disk full", Some("1.0.0"), Some("production"), 20),
        ]),
    )
    .await;
    // "disk full" resolved, then back in production 1.0.0: a regression
    let all = server.get("/api/v1/projects/Shop/errors").await;
    let id = group(&all, "disk full")["id"].as_i64().expect("an id");
    let state = format!("/api/v1/projects/Shop/errors/{id}/state");
    assert_eq!(server.post(&state, r#"{"state": "resolved"}"#).await.0, 200);
    send(
        &server,
        "shop-1",
        json!([report(
            "Shop",
            "disk full",
            Some("1.0.0"),
            Some("production"),
            0
        )]),
    )
    .await;

    let html = page(&server, "/projects/Shop/releases").await;
    let listed = rows(&html);
    // release, environment, first seen, last seen, apps, new, regressions, resolved since
    let row = |version: &str, environment: &str| {
        listed
            .iter()
            .find(|r| r.starts_with(&format!("{version} {environment} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no {version} {environment} in {listed:?}"))
    };
    let tail = |row: String| {
        row.split(' ')
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(tail(row("1.1.0", "staging")), "1 1 0 0", "{listed:?}");
    assert_eq!(tail(row("1.0.0", "staging")), "0 1 0 0", "{listed:?}");
    assert_eq!(tail(row("1.0.0", "production")), "0 1 1 0", "{listed:?}");
    assert_eq!(listed.len(), 3);

    let html = page(&server, "/projects/Shop?environment=staging").await;
    let titles: Vec<String> = rows(&html)
        .iter()
        .map(|r| r.split(" 1.").next().unwrap_or_default().to_owned())
        .collect();
    assert!(
        titles.iter().any(|t| t.starts_with("card declined"))
            && titles.iter().any(|t| t.starts_with("timeout"))
            && !titles.iter().any(|t| t.starts_with("disk full")),
        "{titles:?}"
    );
    assert!(
        html.contains("1.0.0 (staging) → 1.1.0 (staging)"),
        "where it was seen"
    );
    assert!(html.contains(r#"href="/projects/Shop?environment=production""#));
    assert!(
        html.contains(r#"<option value="1.1.0""#),
        "the release filter"
    );
    let html = page(&server, "/projects/Shop?environment=staging&release=1.0.0").await;
    assert_eq!(
        rows(&html).len(),
        1,
        "only timeout was seen in staging 1.0.0"
    );
    let html = page(&server, "/").await;
    assert!(html.contains("1.1.0 (staging)"), "the release its app runs");
}

/// A CI that names a release per commit: 20 errors seen in 2,000 releases
/// each (40,000 pairs). The pages and the API answer, and bind no list of
/// that size (SQLite refused it; PostgreSQL answered 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_releases_keep_the_pages_answering() {
    let db = Db::new(common::Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    for chunk in 0..40 {
        let messages: Vec<Value> = (0..1000)
            .map(|n| {
                let release = format!("1.0.{}", chunk * 50 + n / 20);
                // words: numbers would be grouped as one error
                let names = [
                    "ka", "ki", "ku", "ke", "ko", "sa", "si", "su", "se", "so", "ta", "ti", "tu",
                    "te", "to", "na", "ni", "nu", "ne", "no",
                ];
                let name = names[n % 20];
                report(
                    "Big",
                    &format!("error {name}"),
                    Some(&release),
                    Some("ci"),
                    1,
                )
            })
            .collect();
        send(&server, "big-1", json!(messages)).await;
    }
    for path in [
        "/api/v1/projects/Big/errors",
        "/api/v1/projects/Big/errors?environment=ci",
        "/api/v1/projects/Big/reports?environment=ci&limit=5",
    ] {
        let answer = server.get(path).await;
        assert!(answer.is_object(), "{path}");
    }
    for path in [
        "/projects/Big",
        "/projects/Big?environment=ci",
        "/projects/Big/releases",
    ] {
        page(&server, path).await;
    }
    let errors = server.get("/api/v1/projects/Big/errors").await;
    assert_eq!(
        errors["groups"].as_array().map(Vec::len),
        Some(20),
        "{}",
        titles(&errors).join("|")
    );
    // its last reports, of the last batch (same millisecond: any of them)
    let last = group(&errors, "error ka")["last_release"]["release"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(last.starts_with("1.0.19"), "{last}");
}
