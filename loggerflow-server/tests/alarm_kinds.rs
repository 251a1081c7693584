//! The alarm kinds that reach where teams are (Slack, e-mail, Microsoft
//! Teams, ntfy), each against a local stand-in started here: the exact
//! request or message, the link back to the dashboard (`--public-url`), and
//! hostile text escaped for each markup. One server for the file.

mod common;

use std::time::Duration;

use common::recorder::Recorder;
use common::smtp::SmtpSink;
use common::{Backend, Db, FormClient, Server, batch, hello};
use serde_json::{Value, json};

const PROJECT: &str = "Shop <b>&";
const HOSTILE: &str =
    "<!channel> *bold* <http://evil.example|click> & </pre><script>alert(1)</script>";
const PUBLIC: &str = "http://lf.example.test:8000/lf";

/// The project's path segment as a URL holds it.
fn encoded(project: &str) -> String {
    let mut url = url::Url::parse("http://x/").expect("url");
    url.path_segments_mut().expect("base").push(project);
    url.path().trim_start_matches('/').to_owned()
}

async fn create(server: &Server, kind: &str, name: &str, fields: Value) {
    let body = json!({ "kind": kind, "name": name, "fields": fields });
    let (status, reply) = server.post("/api/v1/alarms", &body.to_string()).await;
    assert_eq!(status, 201, "{kind}: {reply}");
}

async fn connect(server: &Server, alarm: &str, triggers: Value) {
    let body = json!({ "alarm": alarm, "triggers": triggers });
    let (status, reply) = server
        .post(
            &format!("/api/v1/projects/{}/alarms", encoded(PROJECT)),
            &body.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}

/// The report the app sends: the hostile message, one frame of its own.
fn hostile_report(id: &str) -> Value {
    json!({
        "id": id, "project": PROJECT, "timestamp": chrono::Utc::now().to_rfc3339(),
        "level": "ERROR", "kind": "event", "message": HOSTILE, "target": "shop::pay",
        "thread": "main", "host": "h",
        "frames": [
            {"function": "std::rt::lang_start", "file": "/rustc/library/std/src/rt.rs", "line": 1, "yours": false},
            {"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_email_teams_and_ntfy_send_what_they_should_with_a_link_back() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(
        &db.url,
        &["--allow-private-targets", "--public-url", PUBLIC],
    );
    let hooks = Recorder::start().await;
    let smtp = SmtpSink::start().await;

    // the form is built from the kinds' fields, secrets marked
    let kinds = server.get("/api/v1/alarm-kinds").await;
    let field = |kind: &str, name: &str| {
        kinds["kinds"]
            .as_array()
            .and_then(|k| k.iter().find(|k| k["kind"] == kind))
            .and_then(|k| k["fields"].as_array())
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(field("slack", "webhook_url")["secret"], true, "{kinds}");
    assert_eq!(field("teams", "webhook_url")["secret"], true, "{kinds}");
    assert_eq!(field("ntfy", "token")["secret"], true, "{kinds}");
    assert_eq!(field("ntfy", "topic")["required"], true, "{kinds}");
    assert_eq!(field("email", "password")["secret"], true, "{kinds}");
    assert_eq!(field("email", "to")["required"], true, "{kinds}");
    assert_eq!(
        field("email", "security")["choices"],
        json!(["starttls", "tls", "none"]),
        "{kinds}"
    );
    assert_eq!(field("email", "ca_cert")["multiline"], true, "{kinds}");

    // what each kind refuses, as a 400 that says why
    let refused = [
        json!({ "kind": "slack", "name": "x", "fields": { "webhook_url": "ftp://hooks" } }),
        json!({ "kind": "ntfy", "name": "x", "fields": { "topic": "a/b" } }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "127.0.0.1", "security": "none",
            "username": "u", "password": "p", "from": "a@example.com", "to": "b@example.com" } }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "127.0.0.1",
            "from": "a@example.com", "to": "not an address" } }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "mail.example.com\r\nRCPT TO:<x@y>",
            "from": "a@example.com", "to": "b@example.com" } }),
        json!({ "kind": "teams", "name": "x", "fields": {} }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "127.0.0.1", "security": "ssl",
            "from": "a@example.com", "to": "b@example.com" } }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "127.0.0.1",
            "from": "a@example.com", "to": "b@example.com",
            "ca_cert": "-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----" } }),
        json!({ "kind": "email", "name": "x", "fields": { "host": "127.1",
            "from": "a@example.com", "to": "b@example.com" } }),
    ];
    for body in refused {
        let (status, reply) = server.post("/api/v1/alarms", &body.to_string()).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some("invalid_alarm")),
            "{body}: {reply}"
        );
    }

    let base = format!("http://{}", hooks.addr);
    create(
        &server,
        "slack",
        "team-slack",
        json!({ "webhook_url": format!("{base}/services/T0/B0/XYZ") }),
    )
    .await;
    create(
        &server,
        "teams",
        "team-teams",
        json!({ "webhook_url": format!("{base}/workflows/abc/triggers/manual/paths/invoke?sig=SECRET") }),
    )
    .await;
    create(
        &server,
        "ntfy",
        "team-ntfy",
        json!({ "server": format!("{base}/"), "topic": "ops-alerts", "token": "tk_secret" }),
    )
    .await;
    create(
        &server,
        "email",
        "team-mail",
        json!({
            "host": "127.0.0.1", "port": smtp.addr.port().to_string(), "security": "starttls",
            "username": "lf", "password": "p@ss word",
            "from": "LoggerFlow <alerts@example.com>", "to": "a@example.com, Bea <b@example.com>",
            // pasted into a one-line form field: its line breaks are gone
            "ca_cert": smtp.ca_pem.replace('\n', " "),
        }),
    )
    .await;
    connect(&server, "team-slack", json!(["new_error", "offline"])).await;
    for alarm in ["team-teams", "team-ntfy", "team-mail"] {
        connect(&server, alarm, json!(["new_error"])).await;
    }

    let id = common::new_id();
    let report = hostile_report(&id);
    let body = batch(
        "shop-1",
        json!([hello(PROJECT, "shop-1", 1, "webhook"), { "type": "report", "report": report }]),
    );
    assert_eq!(server.post("/loggerflow/v1/batch", &body).await.0, 200);

    let report_link = format!("{PUBLIC}/projects/{}/reports/{id}", encoded(PROJECT));
    let parsed: loggerflow_layer::Report =
        serde_json::from_value(report.clone()).expect("a report");
    let trace =
        loggerflow_layer::trace::render::render(&parsed, loggerflow_layer::TraceMode::Clean);
    assert!(trace.contains("shop::pay::charge"), "{trace}");
    let message = format!("new error: {HOSTILE}");

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while hooks.requests.lock().expect("lock").len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = hooks.requests.lock().expect("lock").clone();
    let find = |prefix: &str| {
        requests
            .iter()
            .find(|r| r.uri.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no request to {prefix}: {requests:?}"))
    };

    // Slack: Block Kit, Slack's control characters escaped, the text plain
    let slack = find("/services/T0/B0/XYZ");
    assert_eq!(slack.method, "POST");
    assert_eq!(slack.headers["content-type"], "application/json");
    let time = slack.body["blocks"][3]["elements"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let when = chrono::DateTime::parse_from_rfc3339(&time).expect("an RFC 3339 time");
    assert!((chrono::Utc::now() - when.to_utc()).num_seconds().abs() < 60);
    let escaped = "new error: &lt;!channel&gt; *bold* &lt;http://evil.example|click&gt; &amp; &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;";
    assert_eq!(
        slack.body,
        json!({
            "text": format!("[Shop &lt;b&gt;&amp;] new_error: {escaped}"),
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "New error: Shop &lt;b&gt;&amp;", "emoji": false } },
                { "type": "section", "text": { "type": "plain_text", "text": escaped, "emoji": false } },
                { "type": "section", "fields": [
                    { "type": "plain_text", "text": "Project: Shop &lt;b&gt;&amp;", "emoji": false },
                    { "type": "plain_text", "text": "Trigger: new_error", "emoji": false },
                ] },
                { "type": "context", "elements": [ { "type": "plain_text", "text": time, "emoji": false } ] },
                { "type": "actions", "elements": [ {
                    "type": "button", "text": { "type": "plain_text", "text": "Open in LoggerFlow" },
                    "url": report_link,
                } ] },
            ]
        })
    );

    // Teams: an Adaptive Card; app text only in TextRuns (never markdown)
    let teams = find("/workflows/abc/");
    assert_eq!(teams.method, "POST");
    assert_eq!(
        teams.uri,
        "/workflows/abc/triggers/manual/paths/invoke?sig=SECRET"
    );
    assert_eq!(
        teams.body,
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": { "width": "Full" },
                    "body": [
                        { "type": "TextBlock", "text": "New error", "weight": "Bolder", "size": "Medium", "color": "Attention", "wrap": true },
                        { "type": "RichTextBlock", "inlines": [ { "type": "TextRun", "text": message } ] },
                        { "type": "RichTextBlock", "inlines": [
                            { "type": "TextRun", "text": "Project: ", "weight": "Bolder" },
                            { "type": "TextRun", "text": PROJECT },
                        ] },
                        { "type": "RichTextBlock", "inlines": [
                            { "type": "TextRun", "text": "Trigger: ", "weight": "Bolder" },
                            { "type": "TextRun", "text": "new_error" },
                            { "type": "TextRun", "text": format!(" · {time}") },
                        ] },
                        { "type": "RichTextBlock", "inlines": [
                            { "type": "TextRun", "text": trace, "fontType": "Monospace", "size": "Small" },
                        ] },
                    ],
                    "actions": [ { "type": "Action.OpenUrl", "title": "Open in LoggerFlow", "url": report_link } ],
                },
            }]
        })
    );

    // ntfy: a JSON publish to the server's root, the token as a bearer
    let ntfy = requests
        .iter()
        .find(|r| r.uri == "/")
        .cloned()
        .unwrap_or_else(|| panic!("no request to ntfy's root: {requests:?}"));
    assert_eq!(ntfy.method, "POST");
    assert_eq!(ntfy.headers["authorization"], "Bearer tk_secret");
    assert_eq!(
        ntfy.body,
        json!({
            "topic": "ops-alerts",
            "title": format!("New error: {PROJECT}"),
            "message": message,
            "priority": 4,
            "tags": ["boom", "loggerflow"],
            "click": report_link,
        })
    );

    // e-mail: STARTTLS with the private CA, the login, both recipients, a
    // text and an HTML part, the trace in a <pre>, everything escaped
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(mail.encrypted, "the login went over STARTTLS");
    assert_eq!(mail.login, Some(("lf".to_owned(), "p@ss word".to_owned())));
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["a@example.com", "b@example.com"]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message");
    assert_eq!(
        parsed.subject(),
        Some(format!("[LoggerFlow] {PROJECT}: {message}").as_str())
    );
    let text = parsed.body_text(0).expect("a text part").into_owned();
    assert_eq!(
        text.replace("\r\n", "\n"),
        format!(
            "New error: {PROJECT}\n\n{message}\n\nProject: {PROJECT}\nTrigger: new_error\nWhen:    {time}\nOpen:    {report_link}\n\n{trace}\n"
        )
    );
    let html = parsed
        .body_html(0)
        .expect("an HTML part")
        .replace("\r\n", "\n");
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>&"), "{html}");
    assert!(
        html.contains("<h2 style=\"margin:0 0 8px\">New error: Shop &lt;b&gt;&amp;</h2>"),
        "{html}"
    );
    assert!(
        html.contains("new error: &lt;!channel&gt; *bold* &lt;http://evil.example|click&gt; &amp; &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<a href=\"{}\">Open in LoggerFlow</a>",
            report_link.replace('&', "&amp;")
        )),
        "{html}"
    );
    let escaped_trace = trace
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let pre = format!(">{escaped_trace}</pre>");
    assert!(html.contains(&pre), "{html}");

    // the app stops heartbeating: the offline message links to the project
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let offline = loop {
        let found = hooks
            .requests
            .lock()
            .expect("lock")
            .iter()
            .find(|r| {
                r.uri.starts_with("/services/")
                    && r.body["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("offline"))
            })
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(std::time::Instant::now() < deadline, "no offline message");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        offline.body["blocks"][4]["elements"][0]["url"],
        format!("{PUBLIC}/projects/{}", encoded(PROJECT))
    );
    assert_eq!(
        offline.body["blocks"][0]["text"]["text"],
        "App offline: Shop &lt;b&gt;&amp;"
    );

    // the Check button's message links to the alarms page
    let before = hooks.requests.lock().expect("lock").len();
    let (status, reply) = server.post("/api/v1/alarms/team-slack/check", "").await;
    assert_eq!((status, &reply["ok"]), (200, &json!(true)), "{reply}");
    let check = hooks.requests.lock().expect("lock")[before].clone();
    assert_eq!(
        check.body["blocks"][4]["elements"][0]["url"],
        format!("{PUBLIC}/alarms")
    );
    let (status, reply) = server.post("/api/v1/alarms/team-mail/check", "").await;
    assert_eq!((status, &reply["ok"]), (200, &json!(true)), "{reply}");
    let mails = smtp.wait_for(2, Duration::from_secs(5)).await;
    let check = String::from_utf8_lossy(&mails[1].data).into_owned();
    assert!(check.contains(&format!("{PUBLIC}/alarms")), "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_add_alarm_form_offers_the_new_kinds_and_adds_one() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    let browser = FormClient::new(&server).await;
    let (status, html) = browser.get("/alarms?kind=email").await;
    assert_eq!(status, 200);
    for kind in ["slack", "email", "teams", "ntfy"] {
        assert!(
            html.contains(&format!("href=\"/alarms?kind={kind}\"")),
            "{kind} is offered"
        );
    }
    assert!(
        html.contains(r#"<select name="field.security"><option value="starttls">starttls</option><option value="tls">tls</option><option value="none">none</option>"#),
        "security is a menu"
    );
    assert!(
        html.contains(r#"<textarea name="field.ca_cert""#),
        "a text area"
    );
    assert!(
        html.contains(r#"type="password" name="field.password""#),
        "the password is a password input"
    );
    let added = browser
        .post(
            "/alarms/new",
            "kind=ntfy&name=phone&field.server=&field.topic=ops-alerts&field.token=tk_x",
        )
        .await;
    assert_eq!(added.status().as_u16(), 303);
    let listed = server.get("/api/v1/alarms").await;
    assert_eq!(listed["alarms"][0]["kind"], "ntfy", "{listed}");
    assert_eq!(
        listed["alarms"][0]["fields"]["token"], "********",
        "{listed}"
    );
    assert_eq!(
        listed["alarms"][0]["fields"]["topic"], "ops-alerts",
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_smtp_peer_says_never_reaches_the_history() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &["--allow-private-targets"]);
    // greets like a mail server, then answers everything with its secrets
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut io = BufReader::new(tcp);
                let _ = io.write_all(b"220 mail ESMTP\r\n").await;
                let mut line = String::new();
                while io.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let secret = "554-AWS_SECRET_ACCESS_KEY=abc123\r\n".repeat(100);
                    let _ = io
                        .write_all(
                            format!("{secret}554 internal-host db-primary.corp\r\n").as_bytes(),
                        )
                        .await;
                    line.clear();
                }
            });
        }
    });
    create(
        &server,
        "email",
        "leaky",
        json!({ "host": "127.0.0.1", "port": port.to_string(), "security": "none",
            "from": "a@example.com", "to": "b@example.com" }),
    )
    .await;
    let (status, reply) = server.post("/api/v1/alarms/leaky/check", "").await;
    assert_eq!((status, &reply["ok"]), (200, &json!(false)), "{reply}");
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(
        !error.contains("SECRET") && !error.contains("db-primary") && error.contains("554"),
        "{error}"
    );
}
