//! The dashboard's pages, rendered by a real server with seeded data, and
//! the stored-XSS case proven in a real (headless) Chromium.

mod common;

use std::process::Command;

use common::{Backend, Db, Server, batch, heartbeat, hello, new_id, report};

const XSS: &str = "<img src=x onerror=document.title='pwned'>";

async fn seeded() -> (Db, Server, String) {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let xss_id = new_id();
    let mut xss = report("Shop <&>", &xss_id, 1);
    xss["report"]["message"] = serde_json::json!(XSS);
    xss["report"]["fields"] = serde_json::json!({ "note": XSS });
    xss["report"]["frames"] = serde_json::json!([
        {"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true},
        {"function": "tokio::runtime::park", "file": "/root/.cargo/registry/src/x/tokio-1/src/park.rs", "line": 5, "yours": false},
        {"function": "shop::main", "file": "src/main.rs", "line": 3, "yours": true}
    ]);
    let body = batch(
        "shop-1",
        serde_json::json!([
            hello("Shop <&>", "shop-1", 5, "webhook"),
            heartbeat(42.0),
            report("Shop <&>", &new_id(), 2),
            xss
        ]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    (db, server, xss_id)
}

async fn page(server: &Server, path: &str) -> String {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn every_page_renders_with_seeded_data_and_escapes_app_text() {
    let (_db, server, xss_id) = seeded().await;
    let project = "Shop%20%3C%26%3E";
    let home = page(&server, "/").await;
    assert!(home.starts_with("<!DOCTYPE html>"));
    assert!(
        home.contains("Shop &lt;&amp;&gt;"),
        "project names are escaped"
    );
    assert!(home.contains(r#"<span class="status online">online</span>"#));
    assert!(
        home.contains(r#"http-equiv="refresh""#),
        "live without JavaScript"
    );
    let errors = page(&server, &format!("/projects/{project}")).await;
    assert!(
        errors.contains("&lt;img src=x onerror=document.title=&#39;pwned&#39;&gt;")
            || errors.contains("&lt;img src=x onerror"),
        "{errors}"
    );
    assert!(!errors.contains(XSS), "never raw");
    let report = page(
        &server,
        &format!("/projects/{project}/reports/{xss_id}?mode=full"),
    )
    .await;
    assert!(!report.contains(XSS));
    assert!(
        report.contains("tokio::runtime::park"),
        "full shows every frame"
    );
    assert!(
        report.contains(r#"<li class="yours">"#),
        "your frames are backlit"
    );
    let clean = page(
        &server,
        &format!("/projects/{project}/reports/{xss_id}?mode=clean"),
    )
    .await;
    assert!(!clean.contains("tokio::runtime::park"));
    assert!(clean.contains("1 frame(s) hidden"));
    let minimal = page(
        &server,
        &format!("/projects/{project}/reports/{xss_id}?mode=minimal"),
    )
    .await;
    assert!(
        minimal.contains("src/pay.rs:10 - panic") || minimal.contains("src/pay.rs:10 - "),
        "{minimal}"
    );
    let metrics = page(&server, &format!("/projects/{project}/metrics?window=1m")).await;
    assert!(
        metrics.contains("<svg"),
        "charts are SVG drawn on the server"
    );
    assert!(metrics.contains("42.0 %"), "tooltips carry readable values");
    let alarms = page(&server, "/alarms").await;
    assert!(alarms.contains("History"));
    let css = reqwest::get(server.url("/assets/style.css"))
        .await
        .expect("css");
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn resolve_is_a_plain_form_that_redirects_back() {
    let (_db, server, _) = seeded().await;
    let groups = server.get("/api/v1/projects/Shop%20%3C%26%3E/errors").await;
    let group = groups["groups"][0]["id"].clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .post(server.url(&format!("/projects/Shop%20%3C%26%3E/errors/{group}/state")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("state=resolved")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/projects/Shop%20%3C%26%3E");
    let resolved = server
        .get("/api/v1/projects/Shop%20%3C%26%3E/errors?state=resolved")
        .await;
    assert_eq!(resolved["groups"].as_array().map(Vec::len), Some(1));
}

/// In a real browser, the stored `<img onerror=…>` is text and runs nothing.
#[tokio::test]
async fn stored_html_runs_nothing_in_a_real_browser() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "Debian's chromium is needed (scripts/test installs it)"
    );
    let (_db, server, xss_id) = seeded().await;
    let profile = tempfile::tempdir().expect("profile");
    for path in [
        "/projects/Shop%20%3C%26%3E".to_owned(),
        format!("/projects/Shop%20%3C%26%3E/reports/{xss_id}"),
    ] {
        let output = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--virtual-time-budget=2000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(server.url(&path))
            .output()
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&output.stdout);
        assert!(
            dom.contains("LoggerFlow</title>"),
            "{path}: the page loaded: {dom}"
        );
        assert!(
            !dom.contains("<title>pwned</title>"),
            "{path}: the onerror handler ran"
        );
        assert!(
            !dom.contains("<img"),
            "{path}: no element was created from app text"
        );
        assert!(
            dom.contains("&lt;img src=x onerror"),
            "{path}: it is shown as text"
        );
    }
}

#[tokio::test]
async fn alarms_are_added_connected_and_checked_through_plain_forms() {
    let (_db, server, _) = seeded().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = |path: &str, body: &str| {
        client
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
    };
    let html = page(&server, "/alarms?kind=telegram").await;
    assert!(
        html.contains(r#"name="field.token""#) && html.contains(r#"type="password""#),
        "the form is built from the kind's fields, secrets as passwords"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alarms.log").display().to_string();
    let added = form(
        "/alarms/new",
        &format!(
            "kind=file&name=disk&field.path={}",
            path.replace('/', "%2F")
        ),
    )
    .await
    .expect("post");
    assert_eq!(added.status().as_u16(), 303);
    assert!(
        added.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("notice=alarm%20%60disk%60%20added")
    );
    let missing = form("/alarms/new", "kind=telegram&name=tg&field.chat_id=1")
        .await
        .expect("post");
    let location = missing.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.contains("needs%20the%20field%20%60token%60"),
        "{location}"
    );
    let connected = form(
        "/alarms/connect",
        "project=Shop+%3C%26%3E&alarm=disk&trigger=offline&trigger=new_error&every_nth=0",
    )
    .await
    .expect("post");
    assert!(
        connected.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("connected")
    );
    let checked = form("/alarms/disk/check", "").await.expect("post");
    assert!(
        checked.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("sent")
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("[LoggerFlow] check: a test message from alarm `disk`")
    );
    let listed = page(&server, "/alarms").await;
    assert!(
        listed.contains("Shop &lt;&amp;&gt;: offline,new_error"),
        "{listed}"
    );
    // a form posted from another site's page is refused (CSRF)
    let forged = client
        .post(server.url("/alarms/disk/delete"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    let deleted = form("/alarms/disk/delete", "").await.expect("post");
    assert_eq!(deleted.status().as_u16(), 303);
}
