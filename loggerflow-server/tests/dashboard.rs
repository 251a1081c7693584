//! The dashboard's pages, rendered by a real server with seeded data, and
//! the stored-XSS case proven in a real (headless) Chromium.

mod common;

use std::process::Command;

use common::{BACKENDS, Backend, Db, FormClient, Server, batch, heartbeat, hello, new_id, report};

const XSS: &str = "<img src=x onerror=document.title='pwned'>";

async fn seeded() -> (Db, Server, String) {
    seeded_with(&[]).await
}

/// [`seeded`] on a server started with `extra` flags.
async fn seeded_with(extra: &[&str]) -> (Db, Server, String) {
    seeded_on(Backend::Sqlite, extra).await
}

/// [`seeded_with`] on `backend`.
async fn seeded_on(backend: Backend, extra: &[&str]) -> (Db, Server, String) {
    let db = Db::new(backend).await;
    let server = Server::start(&db.url, extra);
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
    // the pages' queries on both backends
    for backend in BACKENDS {
        let (_db, server, xss_id) = seeded_on(backend, &[]).await;
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
        assert!(
            home.contains(r#"<leptos-island data-component="LiveProjects"#),
            "the table is a live island"
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
        assert!(
            !clean.contains(r#"<span class="function">tokio::runtime::park</span>"#),
            "clean shows your frames only"
        );
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
        assert!(
            metrics.contains("test-host (pid 42)") && metrics.contains("Connected apps"),
            "the connected apps are listed"
        );
        let alarms = page(&server, "/alarms").await;
        assert!(alarms.contains("History"));
        let css = reqwest::get(server.url("/assets/style.css"))
            .await
            .expect("css");
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    }
}

#[tokio::test]
async fn resolve_is_a_plain_form_that_redirects_back() {
    let (_db, server, _) = seeded().await;
    let groups = server.get("/api/v1/projects/Shop%20%3C%26%3E/errors").await;
    let group = groups["groups"][0]["id"].clone();
    let browser = FormClient::new(&server).await;
    let path = format!("/projects/Shop%20%3C%26%3E/errors/{group}/state");
    // without this browser's CSRF token the form is refused
    let forged = reqwest::Client::new()
        .post(server.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &browser.cookie)
        .body("state=resolved&csrf=0000")
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    let response = browser.post(&path, "state=resolved").await;
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
                // not `--virtual-time-budget`: a live page keeps its event
                // stream open, and virtual time waits for every request to
                // end. This checks the HTML as served; tests/browser.rs checks
                // it hydrated and redrawn by the live islands
                "--timeout=5000",
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
    let dir = tempfile::tempdir().expect("tempdir");
    let alarm_dir = dir.path().display().to_string();
    let (_db, server, _) = seeded_with(&["--alarm-dir", &alarm_dir]).await;
    let browser = FormClient::new(&server).await;
    let client = &browser.client;
    let html = page(&server, "/alarms?kind=telegram").await;
    assert!(
        html.contains(r#"name="field.token""#) && html.contains(r#"type="password""#),
        "the form is built from the kind's fields, secrets as passwords"
    );
    let path = dir.path().join("alarms.log");
    let added = browser
        .post("/alarms/new", "kind=file&name=disk&field.path=alarms.log")
        .await;
    assert_eq!(added.status().as_u16(), 303);
    assert!(
        added.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("notice=alarm%20%60disk%60%20added")
    );
    let missing = browser
        .post("/alarms/new", "kind=telegram&name=tg&field.chat_id=1")
        .await;
    let location = missing.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.contains("needs%20the%20field%20%60token%60"),
        "{location}"
    );
    let connected = browser
        .post(
            "/alarms/connect",
            "project=Shop+%3C%26%3E&alarm=disk&trigger=offline&trigger=new_error&every_nth=0",
        )
        .await;
    assert!(
        connected.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("connected")
    );
    let checked = browser.post("/alarms/disk/check", "").await;
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
        listed.contains("Shop &lt;&amp;&gt;: offline, new_error"),
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
    let deleted = browser.post("/alarms/disk/delete", "").await;
    assert_eq!(deleted.status().as_u16(), 303);
}

/// A report of its own group: group `n` fails in function `step_n`.
fn grouped(project: &str, n: u32) -> serde_json::Value {
    let mut r = report(project, &new_id(), n);
    r["report"]["message"] = serde_json::json!(format!("step {n} failed: timeout"));
    r["report"]["frames"][0]["function"] = serde_json::json!(format!("shop::step_{n}"));
    r
}

#[tokio::test]
async fn the_errors_page_pages_by_cursor_and_searches() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        let reports: Vec<_> = (0..120).map(|n| grouped("Paged", n)).collect();
        let body = batch("paged-1", serde_json::json!(reports));
        assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
        let rows = |html: &str| html.matches("<td class=\"title\">").count();
        let first = page(&server, "/projects/Paged").await;
        assert_eq!(rows(&first), 50);
        assert!(
            !first.contains("← newest"),
            "the first page links no newer one"
        );
        let mut seen = std::collections::HashSet::new();
        let mut next = Some("/projects/Paged".to_owned());
        let mut pages = 0;
        while let Some(path) = next.take() {
            let html = page(&server, &path).await;
            pages += 1;
            for title in html.split("<td class=\"title\"><a href=").skip(1) {
                let text = title.split('>').nth(1).unwrap_or_default();
                assert!(seen.insert(text.to_owned()), "{text} shown twice");
            }
            next = html
                .split("href=\"")
                .filter_map(|h| h.split('"').next())
                .find(|h| h.contains("after="))
                .map(|h| h.replace("&amp;", "&"));
        }
        assert_eq!(pages, 3, "50 + 50 + 20");
        assert_eq!(seen.len(), 120, "every group exactly once");
        let found = page(&server, "/projects/Paged?q=STEP+7+").await;
        assert_eq!(rows(&found), 1, "search is case-insensitive");
        let none = page(&server, "/projects/Paged?q=%25").await;
        assert_eq!(rows(&none), 0, "`%` is a character, not a wildcard");
        let bad = reqwest::get(server.url("/projects/Paged?after=nonsense"))
            .await
            .expect("GET");
        assert_eq!(bad.status().as_u16(), 400);
    }
}

#[tokio::test]
async fn a_hidden_project_can_be_returned_or_deleted_with_its_data() {
    let (_db, server, _) = seeded().await;
    let other = batch(
        "other-1",
        serde_json::json!([
            hello("Other", "other-1", 5, "webhook"),
            heartbeat(5.0),
            report("Other", &new_id(), 1)
        ]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &other).await.0, 200);
    let browser = FormClient::new(&server).await;
    let hidden = browser.post("/projects/Other/hide", "").await;
    assert_eq!(hidden.status().as_u16(), 303);
    let (_, home) = browser.get("/").await;
    assert!(!home.contains(">Other<"), "hidden from the projects page");
    assert!(home.contains("1 hidden project(s)"));
    let (_, list) = browser.get("/hidden").await;
    assert!(list.contains(">Other<") && list.contains("Return"));
    // it keeps receiving reports while hidden
    let more = batch(
        "other-1",
        serde_json::json!([report("Other", &new_id(), 2)]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &more).await.0, 200);
    let back = browser.post("/projects/Other/unhide", "").await;
    assert!(FormClient::location(&back).starts_with("/hidden?notice="));
    let (_, home) = browser.get("/").await;
    assert!(home.contains(">Other<"));
    browser.post("/projects/Other/hide", "").await;
    let unconfirmed = browser.post("/projects/Other/delete", "").await;
    assert!(FormClient::location(&unconfirmed).contains("sure"));
    assert!(
        server
            .get("/api/v1/projects")
            .await
            .to_string()
            .contains("\"Other\"")
    );
    let deleted = browser.post("/projects/Other/delete", "confirm=yes").await;
    assert_eq!(deleted.status().as_u16(), 303);
    let projects = server.get("/api/v1/projects").await;
    assert!(!projects.to_string().contains("\"Other\""), "{projects}");
    let gone = reqwest::get(server.url("/api/v1/projects/Other/reports"))
        .await
        .expect("GET");
    assert_eq!(gone.status().as_u16(), 404);
    // the app reports again: the project comes back, new and empty but for it
    let again = batch(
        "other-2",
        serde_json::json!([
            hello("Other", "other-2", 5, "webhook"),
            report("Other", &new_id(), 3)
        ]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &again).await.0, 200);
    let reports = server.get("/api/v1/projects/Other/reports").await;
    assert_eq!(
        reports["reports"].as_array().map(Vec::len),
        Some(1),
        "{reports}"
    );
}

#[tokio::test]
async fn settings_change_what_pages_show() {
    let (_db, server, xss_id) = seeded().await;
    let browser = FormClient::new(&server).await;
    let report_path = format!("/projects/Shop%20%3C%26%3E/reports/{xss_id}");
    let (_, before) = browser.get(&report_path).await;
    assert!(before.contains("1 frame(s) hidden"), "clean by default");
    assert!(before.contains(r#"class="backlit""#));
    let (_, home) = browser.get("/").await;
    assert!(home.contains(">proc<"), "process memory shown by default");
    let saved = browser
        .post("/settings", "trace_mode=full&retention_days=3")
        .await;
    assert_eq!(FormClient::location(&saved), "/settings?notice=saved");
    let (_, settings) = browser.get("/settings").await;
    assert!(settings.contains(r#"value="3""#), "{settings}");
    let (_, after) = browser.get(&report_path).await;
    assert!(!after.contains("frame(s) hidden"), "full by default now");
    assert!(!after.contains(r#"class="backlit""#), "backlight off");
    let (_, home) = browser.get("/").await;
    assert!(!home.contains(">proc<"), "process memory hidden");
    let bad = browser
        .post("/settings", "trace_mode=full&retention_days=9999")
        .await;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(
        bad.text()
            .await
            .unwrap_or_default()
            .contains("invalid_retention")
    );
}

#[tokio::test]
async fn with_auth_pages_need_a_login_session_and_forms_its_token() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "ops:s3cret"]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let home = client
        .get(server.url("/projects/x?y=1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(home.status().as_u16(), 303);
    assert_eq!(
        home.headers()["location"],
        "/login?next=%2Fprojects%2Fx%3Fy%3D1"
    );
    let api = client
        .get(server.url("/api/v1/projects"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        api.status().as_u16(),
        401,
        "the API answers 401, not a redirect"
    );
    let login = client.get(server.url("/login")).send().await.expect("GET");
    assert!(
        login
            .text()
            .await
            .unwrap_or_default()
            .contains(r#"type="password""#)
    );
    let wrong = client
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ops&password=guess&next=%2F")
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap_or_default()
            .contains("wrong user or password")
    );
    let browser = FormClient::login(&server, "ops", "s3cret").await;
    assert!(browser.cookie.starts_with("lf_session="));
    let (status, settings) = browser.get("/settings").await;
    assert_eq!(status, 200);
    assert!(settings.contains("Log out") && settings.contains(">ops<"));
    let saved = browser.post("/settings", "trace_mode=minimal").await;
    assert_eq!(saved.status().as_u16(), 303);
    // the session's token, not any token
    let forged = client
        .post(server.url("/settings"))
        .header("cookie", &browser.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("trace_mode=full&csrf=00")
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status().as_u16(), 403);
    // scripts keep using HTTP Basic
    let basic = client
        .get(server.url("/api/v1/projects"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .expect("GET");
    assert_eq!(basic.status().as_u16(), 200);
    // login never sends you to another site
    let away = client
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ops&password=s3cret&next=%2F%2Fevil.example")
        .send()
        .await
        .expect("POST");
    assert_eq!(away.headers()["location"], "/");
    let out = browser.post("/logout", "").await;
    assert_eq!(FormClient::location(&out), "/login");
    let (status, _) = browser.get("/settings").await;
    assert_eq!(status, 303, "the session ended");
}

#[tokio::test]
async fn pages_carry_a_content_security_policy() {
    let (_db, server, _) = seeded().await;
    let response = reqwest::get(server.url("/")).await.expect("GET");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let scripts = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap_or_default();
    assert!(
        !scripts.contains("unsafe-inline"),
        "no inline scripts: {csp}"
    );
    let html = response.text().await.expect("body");
    assert!(!html.contains("<script>"), "no inline script in pages");
}

#[tokio::test]
async fn clear_forgets_the_apps_that_are_not_online() {
    let (_db, server, _) = seeded().await;
    let gone = batch(
        "shop-2",
        serde_json::json!([hello("Shop <&>", "shop-2", 5, "webhook"), {"type": "goodbye"}]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &gone).await.0, 200);
    let browser = FormClient::new(&server).await;
    let metrics = "/projects/Shop%20%3C%26%3E/metrics";
    let (_, before) = browser.get(metrics).await;
    // in the table (the live island's data holds the names too)
    let rows = |html: &str| html.matches(">test-host (pid 42)<").count();
    assert_eq!(rows(&before), 2, "two apps");
    let cleared = browser
        .post("/projects/Shop%20%3C%26%3E/instances/clear", "")
        .await;
    assert!(FormClient::location(&cleared).contains("1%20app%28s%29%20cleared"));
    let (_, after) = browser.get(metrics).await;
    assert_eq!(rows(&after), 1, "the online one stays");
    assert!(after.contains(r#"<span class="status online">online</span>"#));
}

/// Each project's "last error" is the title of its most recently seen
/// error, on both backends (read for every project in one query).
#[tokio::test]
async fn each_project_shows_its_most_recent_error() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let server = Server::start(&db.url, &[]);
        for (project, messages) in [
            ("north", ["disk full", "socket closed", "disk full"]),
            ("south", ["cache miss", "cache miss", "timeout"]),
        ] {
            let app = format!("{project}-app");
            let mut batch_messages = vec![hello(project, &app, 30, "webhook")];
            for (n, message) in messages.iter().enumerate() {
                let mut r = report(project, &new_id(), 1);
                r["report"]["message"] = serde_json::json!(message);
                r["report"]["target"] = serde_json::json!(format!("{project}::{message}"));
                r["report"]["timestamp"] = serde_json::json!(
                    (chrono::Utc::now() - chrono::Duration::seconds(10 - n as i64)).to_rfc3339()
                );
                batch_messages.push(r);
            }
            let (status, body) = server
                .post("/loggerflow/v1/batch", &batch(&app, batch_messages.into()))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let projects = server.get("/api/v1/projects").await;
        let last = |name: &str| {
            common::project(&projects, name).expect("the project")["last_error"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            last("north").contains("disk full"),
            "{backend:?}: {projects}"
        );
        assert!(last("south").contains("timeout"), "{backend:?}: {projects}");
    }
}

/// The cells of a `<table class="fields">` row named `name`, as served.
fn field_cell<'a>(html: &'a str, name: &str) -> &'a str {
    html.split(&format!("<th>{name}</th><td>"))
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .unwrap_or_else(|| panic!("no field {name}: {html}"))
}

/// A Python app's traceback (a multi-line field) keeps its lines on the
/// report page: it is preformatted text; a one-line field stays plain.
#[tokio::test]
async fn a_python_traceback_keeps_its_lines_on_the_report_page() {
    let (_db, server, xss_id) = seeded().await;
    let traceback = "Traceback (most recent call last):\n  File \"/app/shop.py\", line 7, in charge\n    return 100 / 0\nZeroDivisionError: division by zero";
    let body = serde_json::json!({ "project_name": "PyShop", "traceback": traceback });
    let (status, _) = server
        .post("/loggerflow/project_error", &body.to_string())
        .await;
    assert_eq!(status, 200);
    let reports = server.get("/api/v1/projects/PyShop/reports?limit=1").await;
    let id = reports["reports"][0]["report"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a report: {reports}"))
        .to_owned();
    let html = page(&server, &format!("/projects/PyShop/reports/{id}")).await;
    let cell = field_cell(&html, "traceback");
    assert!(cell.starts_with("<pre"), "preformatted: {cell}");
    assert!(
        cell.contains("Traceback (most recent call last):\n  File ")
            && cell.contains("\nZeroDivisionError: division by zero</pre>"),
        "its line breaks are kept: {cell}"
    );
    let html = page(
        &server,
        &format!("/projects/Shop%20%3C%26%3E/reports/{xss_id}"),
    )
    .await;
    let note = field_cell(&html, "note");
    assert!(
        note.starts_with("&lt;img"),
        "one line is plain text: {note}"
    );
}

/// Process memory has a chart of its own, scaled to itself: its line is
/// not flat at the bottom of the host's gigabytes.
#[tokio::test]
async fn process_memory_has_its_own_chart() {
    let (_db, server, _) = seeded().await;
    let html = page(&server, "/projects/Shop%20%3C%26%3E/metrics?window=1m").await;
    // each chart, without Leptos's `<!>` markers
    let charts: Vec<String> = html
        .split(r#"<figure class="chart">"#)
        .skip(1)
        .map(|c| c.split("</figure>").next().unwrap_or_default())
        .map(|c| c.replace("<!>", ""))
        .collect();
    let process = charts
        .iter()
        .find(|c| c.contains("Process memory"))
        .unwrap_or_else(|| panic!("a process memory chart: {charts:?}"));
    // the seeded heartbeat: 10,000,000 B of the process, 8 GB on the host
    assert!(process.contains("max 9.5 MiB"), "{process}");
    assert!(
        process.contains(r#"cy="8.0""#),
        "its one reading is at the top of its chart: {process}"
    );
    assert!(!process.contains("host"), "the host has its own: {process}");
    let host = charts
        .iter()
        .find(|c| c.contains("Host memory"))
        .unwrap_or_else(|| panic!("a host memory chart: {charts:?}"));
    assert!(host.contains("max 7.5 GiB"), "{host}");
    assert!(!host.contains("process"), "{host}");
}

/// The empty projects page's snippet names the address the page was
/// served from, or the public URL when the server has one.
#[tokio::test]
async fn the_connect_snippet_names_this_servers_address() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let home = page(&server, "/").await;
    assert!(
        home.contains(&format!(
            "WebhookLifecycle::new(\"http://127.0.0.1:{}/loggerflow/\")",
            server.port()
        )),
        "{home}"
    );
    let by_name = reqwest::Client::new()
        .get(server.url("/"))
        .header("host", "localhost:9911")
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(
        by_name.contains("http://localhost:9911/loggerflow/"),
        "{by_name}"
    );
    drop(server);
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--public-url", "https://lf.example.com/tools/"]);
    let home = page(&server, "/").await;
    assert!(
        home.contains("https://lf.example.com/tools/loggerflow/"),
        "{home}"
    );
    assert!(!home.contains("127.0.0.1"), "{home}");
}
