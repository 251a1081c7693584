//! The dashboard in a real headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/test`):
//! the projects page updates itself, a report opens and switches Full →
//! Clean in place, login works with `--auth`, stored HTML runs nothing. Every
//! page is saved as a screenshot at 1400×900 and 390×844 into
//! `target/screenshots/`.

mod common;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, Db, Server, batch, heartbeat, hello, new_id, report};
use fantoccini::{Client, ClientBuilder, Locator};

const XSS: &str = "<img src=x onerror=document.title='pwned'>";

/// One chromedriver with one headless Chromium session.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let chromedriver = std::path::Path::new("/usr/bin/chromedriver");
        assert!(
            chromedriver.exists(),
            "Debian's chromium-driver is needed (scripts/test installs it)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(chromedriver)
            // its own process group, so that a test that fails takes its
            // Chromium down with it (Drop)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last_error:?}");
    }

    async fn size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }

    /// Waits until the bundle has hydrated the page's islands.
    async fn hydrated(&self) {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("html[data-hydrated=true]"))
            .await
            .expect("the page hydrated (is the wasm bundle built? scripts/bundle)");
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    /// Saves the page at both sizes as `target/screenshots/{name}-{w}x{h}.png`.
    async fn screenshots(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        for (w, h) in [(1400, 900), (390, 844)] {
            self.size(w, h).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-{w}x{h}.png")), png).expect("write png");
        }
        self.size(1400, 900).await;
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop ends the processes
    }
}

impl Drop for Browser {
    /// Kills chromedriver and the Chromium it started (its process group),
    /// also when a test panics before `close`.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A server with one app that reported twice, one report being stored HTML.
async fn seeded(extra: &[&str]) -> (Db, Server, String) {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, extra);
    let xss_id = new_id();
    let mut xss = report("Shop", &xss_id, 1);
    xss["report"]["message"] = serde_json::json!(XSS);
    xss["report"]["fields"] = serde_json::json!({ "note": XSS, "order": 1042 });
    xss["report"]["frames"] = serde_json::json!([
        {"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true},
        {"function": "tokio::runtime::park", "file": "/root/.cargo/registry/src/x/tokio-1/src/park.rs", "line": 5, "yours": false},
        {"function": "std::rt::lang_start", "file": "/rustc/abc/library/std/src/rt.rs", "line": 195, "yours": false},
        {"function": "shop::main", "file": "src/main.rs", "line": 3, "yours": true}
    ]);
    let body = batch(
        "shop-1",
        serde_json::json!([
            hello("Shop", "shop-1", 5, "webhook"),
            heartbeat(42.0),
            report("Shop", &new_id(), 2),
            xss
        ]),
    );
    let client = reqwest::Client::new();
    let mut request = client
        .post(server.url("/loggerflow/v1/batch"))
        .header("content-type", "application/json")
        .body(body);
    if extra.contains(&"--auth") {
        request = request.basic_auth("ops", Some("s3cret"));
    }
    assert_eq!(request.send().await.expect("POST").status().as_u16(), 200);
    (db, server, xss_id)
}

#[tokio::test]
async fn projects_update_live_and_a_report_switches_full_to_clean_in_place() {
    let (_db, server, xss_id) = seeded(&[]).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&server.url("/")).await.expect("open /");
    browser.hydrated().await;
    assert!(browser.text("table.projects").await.contains("Shop"));
    browser.screenshots("projects").await;

    // a second app says hello: its row appears without a reload
    c.execute("window.__no_reload = true", vec![])
        .await
        .expect("mark the page");
    let hello_body = batch(
        "late-1",
        serde_json::json!([hello("Latecomer", "late-1", 5, "websocket"), heartbeat(7.0)]),
    );
    assert_eq!(
        server.post("/loggerflow/v1/batch", &hello_body).await.0,
        200
    );
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(
            "//table[@class='projects']//a[text()='Latecomer']",
        ))
        .await
        .expect("the new project appeared live");
    let same_page = c
        .execute("return window.__no_reload === true", vec![])
        .await
        .expect("check");
    assert_eq!(
        same_page,
        serde_json::json!(true),
        "updated in place, not reloaded"
    );

    // errors of the project, then its newest report
    c.find(Locator::LinkText("Shop"))
        .await
        .expect("project link")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(Locator::Css("table.groups"))
        .await
        .expect("errors page");
    browser.screenshots("errors").await;
    c.goto(&server.url(&format!("/projects/Shop/reports/{xss_id}?mode=full")))
        .await
        .expect("open report");
    browser.hydrated().await;
    let full = browser.text("ol.trace").await;
    assert!(full.contains("tokio::runtime::park"), "{full}");
    browser.screenshots("report-full").await;
    c.execute("window.__no_reload = true", vec![])
        .await
        .expect("mark");
    c.find(Locator::LinkText("clean"))
        .await
        .expect("the clean switch")
        .click()
        .await
        .expect("click");
    let clean = browser.text("ol.trace").await;
    assert!(!clean.contains("tokio::runtime::park"), "{clean}");
    assert!(clean.contains("2 frame(s) hidden"), "{clean}");
    assert!(clean.contains("shop::pay::charge"));
    let url = c.current_url().await.expect("url");
    assert!(url.as_str().ends_with("?mode=clean"), "{url}");
    let same_page = c
        .execute("return window.__no_reload === true", vec![])
        .await
        .expect("check");
    assert_eq!(same_page, serde_json::json!(true), "switched in place");
    let yours = c
        .find(Locator::Css(".backlit ol.trace li.yours"))
        .await
        .expect("a backlit frame");
    let colour = yours.css_value("color").await.expect("colour");
    assert_ne!(colour, "rgb(230, 237, 243)", "your frames are coloured");
    browser.screenshots("report-clean").await;

    // the stored HTML is text and ran nothing, hydrated or not
    let title = c.title().await.expect("title");
    assert_ne!(title, "pwned", "the onerror handler ran");
    assert!(
        title.starts_with(XSS),
        "the title is the message, as text: {title}"
    );
    let images = c.find_all(Locator::Css("img")).await.expect("find");
    assert!(images.is_empty(), "no element was made from app text");
    assert!(browser.text("pre.message").await.contains(XSS));

    // hide a project with its button (a plain form with the CSRF token)
    c.goto(&server.url("/")).await.expect("open /");
    browser.hydrated().await;
    settled(c).await;
    mark(c).await;
    c.find(Locator::XPath(
        "//tr[td/a[text()='Latecomer']]//button[text()='hide']",
    ))
    .await
    .expect("the hide button")
    .click()
    .await
    .expect("click");
    // the form's answer is a new page (a redirect to the projects page):
    // wait for it, so that the next navigation does not cut the POST short
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reloaded_and_complete(c).await && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reloaded_and_complete(c).await,
        "the hide form's answer never loaded"
    );
    c.goto(&server.url("/hidden")).await.expect("open /hidden");
    assert!(browser.text("table.projects").await.contains("Latecomer"));
    for (name, path) in [
        ("metrics", "/projects/Shop/metrics?window=5m"),
        ("alarms", "/alarms"),
        ("settings", "/settings"),
        ("hidden", "/hidden"),
    ] {
        c.goto(&server.url(path)).await.expect("open");
        browser.hydrated().await;
        browser.screenshots(name).await;
    }
    browser.close().await;
}

#[tokio::test]
async fn with_auth_a_browser_logs_in_and_out() {
    let (_db, server, _) = seeded(&["--auth", "ops:s3cret"]).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&server.url("/projects/Shop")).await.expect("open");
    let url = c.current_url().await.expect("url");
    assert_eq!(url.path(), "/login", "sent to the login page");
    browser.screenshots("login").await;
    c.form(Locator::Css("form[action='/login']"))
        .await
        .expect("login form")
        .set_by_name("user", "ops")
        .await
        .expect("user")
        .set_by_name("password", "s3cret")
        .await
        .expect("password")
        .submit()
        .await
        .expect("submit");
    c.wait()
        .for_element(Locator::Css("table.groups"))
        .await
        .expect("back where it was going, logged in");
    assert_eq!(c.current_url().await.expect("url").path(), "/projects/Shop");
    assert!(browser.text("header.top").await.contains("ops"));
    c.find(Locator::Css("form.account button"))
        .await
        .expect("log out button")
        .click()
        .await
        .expect("click");
    c.wait()
        .for_element(Locator::Css("form[action='/login']"))
        .await
        .expect("logged out");
    c.goto(&server.url("/")).await.expect("open");
    assert_eq!(c.current_url().await.expect("url").path(), "/login");
    browser.close().await;
}

#[tokio::test]
async fn the_empty_state_shows_how_to_connect_an_app() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.expect("open");
    assert!(
        browser
            .text("section.empty")
            .await
            .contains("LoggerFlowLayer::builder")
    );
    browser.screenshots("empty").await;
    browser.close().await;
}

/// Run as a child process by `pages_update_by_push_…`: an app (a layer with
/// the websocket sink, `LF_LIVE_NAME` to `LF_LIVE_BASE`) that stays up
/// until it is killed.
#[test]
fn child_live_app() {
    use loggerflow_layer::LoggerFlowLayer;
    use loggerflow_layer::lifecycle::WebSocketLifecycle;
    use tracing_subscriber::prelude::*;
    let (Ok(base), Ok(name)) = (std::env::var("LF_LIVE_BASE"), std::env::var("LF_LIVE_NAME"))
    else {
        return; // not a child: nothing to do
    };
    let sink = WebSocketLifecycle::new(format!("{}/loggerflow/", base.replacen("http", "ws", 1)))
        .heartbeat(Duration::from_secs(1));
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder(&name)
        .capture_panics(false)
        .sink(sink)
        .build();
    let _ = tracing_subscriber::registry().with(layer).try_init();
    std::thread::sleep(Duration::from_secs(300));
}

/// Fetches the page made so far (the live islands fetch with `fetch`; the
/// event stream is not one).
async fn fetches(c: &Client) -> u64 {
    c.execute(
        "return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').length",
        vec![],
    )
    .await
    .expect("count fetches")
    .as_u64()
    .expect("a count")
}

/// The page's fetch count once it has held still for 1.5 s (at most 20 s).
async fn settled(c: &Client) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut count = fetches(c).await;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = fetches(c).await;
        if now == count || std::time::Instant::now() > deadline {
            return now;
        }
        count = now;
    }
}

/// Opens `path` and, once it settled, ingests `body`: what `xpath` finds
/// shows on the page `within`, without a reload (screenshots `name`).
async fn updates_in_place(
    browser: &Browser,
    server: &Server,
    path: &str,
    body: String,
    xpath: &str,
    within: Duration,
    name: &str,
) {
    let c = &browser.client;
    c.goto(&server.url(path)).await.expect("open");
    browser.hydrated().await;
    mark(c).await;
    settled(c).await;
    let (status, _) = server.post("/loggerflow/v1/batch", &body).await;
    assert_eq!(status, 200);
    c.wait()
        .at_most(within)
        .for_element(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|e| panic!("{path}: {xpath} did not appear without a reload: {e}"));
    assert!(
        not_reloaded(c).await,
        "{path}: updated in place, not reloaded"
    );
    browser.screenshots(name).await;
}

/// Whether a new page replaced the one marked by `mark`, and is loaded.
async fn reloaded_and_complete(c: &Client) -> bool {
    c.execute(
        "return window.__no_reload !== true && document.readyState === 'complete'",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_bool())
    .unwrap_or(false)
}

/// Whether the page is still the one marked by `mark`.
async fn not_reloaded(c: &Client) -> bool {
    c.execute("return window.__no_reload === true", vec![])
        .await
        .expect("check")
        == serde_json::json!(true)
}

async fn mark(c: &Client) {
    c.execute("window.__no_reload = true", vec![])
        .await
        .expect("mark the page");
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn pages_update_by_push_without_polling_and_catch_up_after_a_restart() {
    let (_db, mut server, _) = seeded(&[]).await;
    // an app that stays up, over a websocket
    let mut app = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "child_live_app",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LF_LIVE_BASE", &server.base)
        .env("LF_LIVE_NAME", "Live")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the app");
    let online = server
        .wait_for("/api/v1/projects", Duration::from_secs(20), |p| {
            common::project(p, "Live").is_some_and(|p| p["status"] == "online")
        })
        .await;
    assert_eq!(
        common::project(&online, "Live").map(|p| p["status"].clone()),
        Some(serde_json::json!("online")),
        "{online}"
    );

    let browser = Browser::start().await;
    let c = &browser.client;

    // the errors page: idle, it asks the server for nothing (no polling),
    // though the app's heartbeats change the projects every second
    c.goto(&server.url("/projects/Shop")).await.expect("open");
    browser.hydrated().await;
    mark(c).await;
    // the stream opened and the table caught up once: wait until that is
    // over (the count holds for 1.5 s), however slow the machine is
    let before = settled(c).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(fetches(c).await, before, "an idle page made requests");

    // an error sent now is in the table within 1 s, without a reload
    c.execute(
        "window.__seen = null; new MutationObserver(() => { \
            if (window.__seen === null && document.querySelector('table.groups')?.textContent.includes('Live boom')) \
                window.__seen = Date.now(); \
         }).observe(document.body, {subtree: true, childList: true, characterData: true});",
        vec![],
    )
    .await
    .expect("watch the table");
    let mut boom = report("Shop", &new_id(), 1);
    boom["report"]["message"] = serde_json::json!("Live boom");
    boom["report"]["target"] = serde_json::json!("shop::live");
    boom["report"]["frames"] = serde_json::json!([
        {"function": "shop::live::boom", "file": "src/live.rs", "line": 7, "yours": true}
    ]);
    let sent = now_ms();
    let (status, _) = server
        .post(
            "/loggerflow/v1/batch",
            &batch("shop-1", serde_json::json!([boom])),
        )
        .await;
    assert_eq!(status, 200);
    let acked = now_ms();
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::XPath(
            "//table[@class='groups']//a[contains(., 'Live boom')]",
        ))
        .await
        .expect("the new error appeared without a reload");
    let seen = c
        .execute("return window.__seen", vec![])
        .await
        .expect("seen")
        .as_i64()
        .expect("a time");
    println!(
        "push: the new error was in the table {} ms after it was sent ({} ms after the server acknowledged it)",
        seen - sent,
        seen - acked
    );
    assert!(
        seen - sent <= 1_000,
        "the new error took {} ms to appear",
        seen - sent
    );
    assert!(not_reloaded(c).await, "updated in place, not reloaded");
    // the table was drawn again in the browser: the stored HTML in it is
    // still text and ran nothing
    assert_ne!(c.title().await.expect("title"), "pwned");
    assert!(browser.text("table.groups").await.contains(XSS));
    assert!(
        c.find_all(Locator::Css("img"))
            .await
            .expect("find")
            .is_empty(),
        "no element was made from app text"
    );
    browser.screenshots("errors-live").await;

    // the Releases page: a report of a new release adds its row, in place
    let mut shipped = report("Shop", &new_id(), 2);
    shipped["report"]["release"] = serde_json::json!("9.9.9-live");
    shipped["report"]["environment"] = serde_json::json!("staging");
    updates_in_place(
        &browser,
        &server,
        "/projects/Shop/releases",
        batch("shop-1", serde_json::json!([shipped])),
        "//table[contains(@class, 'releases')]//tr[td[2][text()='staging']]//a[text()='9.9.9-live']",
        // at most one fetch per 10 s (the stream's opening asked for one)
        Duration::from_secs(25),
        "releases-live",
    )
    .await;

    // the metrics page: an app that starts shows in place, with its readings
    let mut started = hello("Shop", "shop-metrics", 30, "webhook");
    started["host"] = serde_json::json!("metrics-host");
    started["pid"] = serde_json::json!(7);
    updates_in_place(
        &browser,
        &server,
        "/projects/Shop/metrics",
        batch(
            "shop-metrics",
            serde_json::json!([started, heartbeat(42.0)]),
        ),
        "//table[@class='instances']//tr[td[contains(., 'metrics-host')]]//span[text()='online']",
        Duration::from_secs(10),
        "metrics-live",
    )
    .await;

    // the projects page: the app killed shows offline, in place
    c.goto(&server.url("/")).await.expect("open /");
    browser.hydrated().await;
    mark(c).await;
    let live_status = "//tr[td/a[text()='Live']]//span[contains(@class, 'status')]";
    assert_eq!(
        c.find(Locator::XPath(live_status))
            .await
            .expect("the app's row")
            .text()
            .await
            .expect("text"),
        "online"
    );
    let _ = app.kill();
    let _ = app.wait();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("{live_status}[text()='offline']")))
        .await
        .expect("the killed app shows offline without a reload");
    assert!(not_reloaded(c).await, "updated in place, not reloaded");

    // the server restarts: the tab reconnects by itself and catches up
    server.kill_and_restart();
    let (status, _) = server
        .post(
            "/loggerflow/v1/batch",
            &batch(
                "after-1",
                serde_json::json!([hello("AfterRestart", "after-1", 5, "webhook")]),
            ),
        )
        .await;
    assert_eq!(status, 200);
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(
            "//table[@class='projects']//a[text()='AfterRestart']",
        ))
        .await
        .expect("the tab caught up after the restart");
    assert!(not_reloaded(c).await, "caught up in place, not reloaded");
    browser.close().await;
}

/// Browsers open at most six HTTP/1.1 connections to a server, and a live
/// stream holds one: the tabs and windows of one browser share one stream
/// (the first holds it and passes its events on), so eight windows, all
/// shown, all load, the server holds one stream for them, and a window
/// updates with what happened while others were opened.
#[tokio::test]
async fn eight_windows_share_one_stream_all_load_and_update() {
    let (_db, server, _) = seeded(&[]).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&server.url("/")).await.expect("open /");
    browser.hydrated().await;
    mark(c).await;
    let first = c.window().await.expect("the first tab");
    for n in 2..=8 {
        // a window of its own: shown, not a background tab
        let window = c.new_window(false).await.expect("a new window");
        c.switch_to_window(window.handle).await.expect("switch");
        tokio::time::timeout(Duration::from_secs(10), c.goto(&server.url("/")))
            .await
            .unwrap_or_else(|_| panic!("window {n} did not load"))
            .expect("open /");
        browser.hydrated().await;
    }
    let visible = c
        .execute("return document.visibilityState", vec![])
        .await
        .expect("visibility");
    assert_eq!(visible, serde_json::json!("visible"));
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("loggerflow_event_streams 1\n"),
        "one stream for the eight windows: {}",
        metrics
            .lines()
            .find(|l| l.starts_with("loggerflow_event_streams "))
            .unwrap_or("no gauge")
    );
    // a project comes while the first window is not the current one
    let body = batch(
        "bg-1",
        serde_json::json!([hello("WhileHidden", "bg-1", 5, "webhook")]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);
    c.switch_to_window(first)
        .await
        .expect("back to the first tab");
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//table[@class='projects']//a[text()='WhileHidden']",
        ))
        .await
        .expect("the first window shows the new project");
    assert!(not_reloaded(c).await, "caught up in place, not reloaded");
    browser.close().await;
}
