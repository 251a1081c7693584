//! `GET /metrics`: the server's own metrics, parsed by a Prometheus text
//! parser, after a known load (a real server on a real SQLite file).

mod common;

use common::{Backend, Db, Server, batch, heartbeat, hello, new_id, report};

/// The value of `name` with `labels` (all of them) in `metrics`.
fn value(metrics: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .next()
        .unwrap_or_else(|| panic!("no {name} {labels:?} in {:?}", metrics.samples))
}

async fn scrape(server: &Server, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(server.url("/metrics"));
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("GET /metrics");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

#[tokio::test]
async fn counters_follow_a_known_load_and_metrics_need_the_login() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "ops:s3cret"]);
    let (status, _) = scrape(&server, None).await;
    assert_eq!(status, 401, "/metrics is behind --auth like the API");
    let (status, text) = scrape(&server, Some(("ops", "s3cret"))).await;
    assert_eq!(status, 200, "{text}");
    let before = parse(&text);
    assert_eq!(value(&before, "loggerflow_reports_stored_total", &[]), 0.0);

    // 2 apps online, 30 reports (one re-sent: acknowledged, stored once), 3
    // refusals
    let client = reqwest::Client::new();
    let post = |body: String| {
        let client = client.clone();
        let url = server.url("/loggerflow/v1/batch");
        async move {
            client
                .post(url)
                .basic_auth("ops", Some("s3cret"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        }
    };
    for app in ["a", "b"] {
        let status = post(batch(
            app,
            serde_json::json!([hello("shop", app, 30, "webhook"), heartbeat(5.0)]),
        ))
        .await;
        assert_eq!(status, 200);
    }
    let id = new_id();
    let mut reports: Vec<serde_json::Value> =
        (0..29).map(|n| report("shop", &new_id(), n)).collect();
    reports.push(report("shop", &id, 99));
    assert_eq!(post(batch("a", reports.into())).await, 200);
    assert_eq!(
        post(batch("a", serde_json::json!([report("shop", &id, 99)]))).await,
        200
    );
    assert_eq!(
        post(r#"{"protocol": 7, "instance": "a", "messages": []}"#.into()).await,
        400
    );
    assert_eq!(
        post(r#"{"protocol": 1, "instance": "a", "messages": [}"#.into()).await,
        400
    );
    assert_eq!(
        post(batch("ghost", serde_json::json!([heartbeat(1.0)]))).await,
        409
    );

    let (_, text) = scrape(&server, Some(("ops", "s3cret"))).await;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text: {text}");
    let after = parse(&text);
    assert_eq!(
        value(&after, "loggerflow_reports_received_total", &[]),
        31.0
    );
    assert_eq!(value(&after, "loggerflow_reports_stored_total", &[]), 31.0);
    assert_eq!(
        value(
            &after,
            "loggerflow_refused_total",
            &[("code", "unsupported_protocol")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loggerflow_refused_total",
            &[("code", "malformed_json")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loggerflow_refused_total",
            &[("code", "unknown_instance")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "loggerflow_apps", &[("status", "online")]),
        2.0
    );
    assert_eq!(value(&after, "loggerflow_websockets", &[]), 0.0);
    assert_eq!(value(&after, "loggerflow_writer_queue", &[]), 0.0);
    assert_eq!(value(&after, "loggerflow_event_streams", &[]), 0.0);
    // a dashboard tab's event stream is counted while it is open
    let stream = reqwest::Client::new()
        .get(server.url("/api/v1/events"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .expect("open a stream");
    assert_eq!(stream.status().as_u16(), 200);
    let (_, text) = scrape(&server, Some(("ops", "s3cret"))).await;
    assert_eq!(value(&parse(&text), "loggerflow_event_streams", &[]), 1.0);
    drop(stream);
    // every write transaction is in the histograms: at least the two with reports
    let batches = after
        .samples
        .iter()
        .find(|s| s.metric == "loggerflow_write_batch_reports")
        .expect("the batch histogram");
    match &batches.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let count = buckets.last().map_or(0.0, |b| b.count);
            assert!(count >= 2.0, "{buckets:?}");
        }
        other => panic!("a histogram, not {other:?}"),
    }
}

#[tokio::test]
async fn a_scraper_token_opens_metrics_and_nothing_else() {
    let token = "scrape-0123456789abcdef";
    let get = |server: &Server, path: &str, bearer: Option<&str>| {
        let mut request = reqwest::Client::new().get(server.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.send().await.expect("GET");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    // with a login: the token or the login
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--auth", "ops:s3cret", "--metrics-token", token]);
    let (status, text) = get(&server, "/metrics", Some(token)).await;
    assert_eq!(status, 200, "{text}");
    parse(&text);
    assert_eq!(
        get(&server, "/metrics", Some("scrape-wrong-token!"))
            .await
            .0,
        401
    );
    assert_eq!(get(&server, "/metrics", None).await.0, 401);
    assert_eq!(scrape(&server, Some(("ops", "s3cret"))).await.0, 200);
    let (status, text) = get(&server, "/api/v1/projects", Some(token)).await;
    assert_eq!(status, 401, "the token is for /metrics only: {text}");
    drop(server);

    // without a login: the token is still needed
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--metrics-token", token]);
    let (status, text) = get(&server, "/metrics", None).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("metrics_token_required"), "{text}");
    assert_eq!(get(&server, "/metrics", Some(token)).await.0, 200);
    assert_eq!(get(&server, "/api/v1/projects", None).await.0, 200);
}
