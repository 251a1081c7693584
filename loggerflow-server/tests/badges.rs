//! Status badges: valid SVG for each status and the errors of the last day,
//! behind the login unless `--public-badges`, cacheable, the project's name
//! escaped (a real server on a real SQLite file).

mod common;

use common::{Backend, Db, Server, batch, hello, new_id, report};

/// The badge at `path`: status, `Cache-Control`, and its text (`None` unless
/// it is SVG that parses).
async fn badge(server: &Server, path: &str) -> (u16, String, Option<String>) {
    let response = reqwest::get(server.url(path)).await.expect("GET");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_svg = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "image/svg+xml");
    let body = response.text().await.unwrap_or_default();
    let text = is_svg
        .then(|| roxmltree::Document::parse(&body).ok())
        .flatten()
        .map(|doc| {
            assert_eq!(doc.root_element().tag_name().name(), "svg");
            doc.descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .collect::<Vec<_>>()
                .join(" ")
        });
    (status, cache, text)
}

#[tokio::test]
async fn badges_show_each_status_and_the_errors_of_the_day() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "ops:s3cret", "--public-badges"]);
    let name = "Shop <&\"'>";
    let path = |which: &str| format!("/badge/{}/{which}.svg", loggerflow_ui::pages::segment(name));
    // no project yet: 404
    assert_eq!(badge(&server, &path("status")).await.0, 404);
    // online, with 3 reports today
    let mut messages = vec![hello(name, "shop-1", 1, "webhook")];
    messages.extend((0..3).map(|n| report(name, &new_id(), n)));
    let (status, body) = server
        .post("/loggerflow/v1/batch", &batch("shop-1", messages.into()))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, cache, text) = badge(&server, &path("status")).await;
    assert_eq!((status, cache.as_str()), (200, "max-age=10"));
    let text = text.expect("valid SVG");
    assert!(text.starts_with("status online "), "{text}");
    let (_, _, errors) = badge(&server, &path("errors")).await;
    assert_eq!(errors.as_deref(), Some("errors 24h 3"));
    // the escaped name is in its title, and nothing of it unescaped
    let raw = reqwest::get(server.url(&path("status")))
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(
        raw.contains("Shop &lt;&amp;&quot;&#39;&gt;") && !raw.contains("<&"),
        "{raw}"
    );
    // silent past 3 heartbeats of 1 s: offline
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, _, text) = badge(&server, &path("status")).await;
        if text
            .as_deref()
            .is_some_and(|t| t.starts_with("status offline "))
        {
            break;
        }
        assert!(std::time::Instant::now() < until, "never offline: {text:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // a goodbye: stopped
    let (status, _) = server
        .post(
            "/loggerflow/v1/batch",
            &batch(
                "shop-1",
                serde_json::json!([hello(name, "shop-1", 1, "webhook"), {"type": "goodbye"}]),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, text) = badge(&server, &path("status")).await;
    assert!(
        text.as_deref()
            .is_some_and(|t| t.starts_with("status stopped ")),
        "{text:?}"
    );
}

#[tokio::test]
async fn badges_need_the_login_unless_made_public() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "ops:s3cret"]);
    let (status, body) = server
        .post(
            "/loggerflow/v1/batch",
            &batch("a", serde_json::json!([hello("shop", "a", 30, "webhook")])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(badge(&server, "/badge/shop/status.svg").await.0, 401);
    let response = reqwest::Client::new()
        .get(server.url("/badge/shop/status.svg"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
}
