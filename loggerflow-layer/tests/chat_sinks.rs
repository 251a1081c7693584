//! The Telegram and Discord sinks against a local server that records the
//! exact requests: bodies, escaping, splitting, rate limits, errors, folding.

mod common;

use std::time::{Duration, Instant};

use common::http::{Answer, Server};
use loggerflow_layer::sink::{DiscordSink, Sink, TelegramSink};
use loggerflow_layer::{Handle, LoggerFlowLayer, RetryPolicy, TraceMode};
use tracing_subscriber::prelude::*;

const TOKEN: &str = "123456:SECRET-TOKEN-abcdef";
const TELEGRAM_OK: &str = r#"{"ok":true,"result":{}}"#;

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .retries(3)
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(100))
        .attempt_timeout(Duration::from_secs(10))
        .max_retry_after(Duration::from_secs(5))
}

/// Runs `emit` with a layer whose only sink is `sink`, then flushes.
fn with_sink(sink: impl Sink, mode: TraceMode, emit: impl FnOnce()) -> Handle {
    let layer = LoggerFlowLayer::builder("Chat <Proj> & Co")
        .sink(sink)
        .trace_mode(mode)
        .with_backtrace(false)
        .retry(fast_retries())
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    // some of these sinks fail on purpose (then the flush says `false`):
    // what matters here is that it finished
    let started = std::time::Instant::now();
    let _ = handle.flush(common::WAIT);
    assert!(started.elapsed() < common::WAIT, "flush timed out");
    handle
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `<pre>` body of a Telegram message.
fn pre_body(text: &str) -> &str {
    let start = text.find("<pre>").expect("<pre>") + "<pre>".len();
    let end = text.rfind("</pre>").expect("</pre>");
    &text[start..end]
}

#[test]
fn telegram_sends_the_exact_request_with_html_escaped_text() {
    let server = Server::start(TELEGRAM_OK);
    let sink = TelegramSink::new(TOKEN, -100_123_456_789)
        .authors(["@denrudi", "@ops"])
        .api_url(server.url())
        .fold_window(Duration::ZERO);
    let handle = with_sink(sink, TraceMode::Minimal, || {
        tracing::error!("bad tag <script>alert('x') && 1 > 0</script>");
    });
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(request.content_type, "application/json");
    let body = request.json();
    assert_eq!(body["chat_id"], serde_json::json!(-100_123_456_789_i64));
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["disable_web_page_preview"], true);
    let text = body["text"].as_str().expect("text");
    let line = format!(
        "{}:{} - bad tag <script>alert('x') && 1 > 0</script>",
        file!(),
        line_of("bad tag <script>")
    );
    assert_eq!(
        text,
        format!(
            "<b>Chat &lt;Proj&gt; &amp; Co</b> | ERROR | @denrudi @ops\n<pre>{}</pre>",
            line.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        )
    );
    assert_eq!(unescape_html(pre_body(text)), line, "arrives intact");
    assert_eq!(handle.stats().sinks[0].delivered, 1);
}

/// The line of this file that contains `needle` (for Minimal renderings).
fn line_of(needle: &str) -> usize {
    include_str!("chat_sinks.rs")
        .lines()
        .position(|l| l.contains(needle) && l.contains("tracing::error!"))
        .map(|i| i + 1)
        .unwrap_or_default()
}

#[test]
fn telegram_splits_long_reports_between_lines_and_never_inside_an_escape() {
    let server = Server::start(TELEGRAM_OK);
    let sink = TelegramSink::new(TOKEN, "@alerts")
        .api_url(server.url())
        .fold_window(Duration::ZERO);
    let many_lines: String = (0..400)
        .map(|i| format!("line {i:03}: <tag attr=\"x&y\"> Ünïcödé 🚀"))
        .collect::<Vec<_>>()
        .join("\n");
    let one_long_line = "<&>".repeat(3000);
    with_sink(sink, TraceMode::Full, || {
        tracing::error!("{many_lines}");
        tracing::error!("{one_long_line}");
    });
    let requests = server.requests();
    let texts: Vec<String> = requests
        .iter()
        .map(|r| r.json()["text"].as_str().expect("text").to_owned())
        .collect();
    assert!(texts.len() >= 6, "both reports were split: {}", texts.len());
    for text in &texts {
        assert!(
            text.encode_utf16().count() <= 4096,
            "within Telegram's limit"
        );
        let body = pre_body(text);
        let without_entities = body
            .replace("&lt;", "")
            .replace("&gt;", "")
            .replace("&amp;", "");
        assert!(
            !without_entities.contains(['&', '<', '>']),
            "no escape is cut in half: {body}"
        );
    }
    assert_eq!(requests[0].json()["chat_id"], "@alerts");
    // the first report's parts, joined at their line breaks, are its text
    let first: Vec<&String> = texts
        .iter()
        .take_while(|t| !t.contains("&lt;&amp;&gt;&lt;&amp;"))
        .collect();
    let n = first.len();
    assert!(first[0].starts_with(&format!(
        "<b>Chat &lt;Proj&gt; &amp; Co</b> | ERROR (1/{n})\n"
    )));
    assert!(first[1].starts_with(&format!("<b>Chat &lt;Proj&gt; &amp; Co</b> (2/{n})\n")));
    let joined = first
        .iter()
        .map(|t| unescape_html(pre_body(t)))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        joined.starts_with(&many_lines),
        "every line arrives whole and in order"
    );
    // the long line was cut between characters, and arrives whole
    let rest = &texts[n..];
    let line: String = rest.iter().map(|t| unescape_html(pre_body(t))).collect();
    assert!(
        line.contains(&one_long_line),
        "the long line arrives whole, in order"
    );
}

#[test]
fn telegram_honours_429_and_resends_only_the_parts_not_sent() {
    let server = Server::start(TELEGRAM_OK);
    server.script([
        Answer::ok(TELEGRAM_OK),
        Answer::status(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#,
        ),
    ]);
    let sink = TelegramSink::new(TOKEN, 42)
        .api_url(server.url())
        .fold_window(Duration::ZERO);
    let long: String = (0..300)
        .map(|i| format!("row {i} failed"))
        .collect::<Vec<_>>()
        .join("\n");
    let handle = with_sink(sink, TraceMode::Full, || tracing::error!("{long}"));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "part 1, part 2 refused, part 2 again");
    assert_ne!(requests[0].body, requests[1].body);
    assert_eq!(
        requests[1].body, requests[2].body,
        "only the refused part is resent"
    );
    let waited = requests[2].at.duration_since(requests[1].at);
    assert!(
        waited >= Duration::from_millis(950),
        "waited {waited:?}, as asked"
    );
    assert_eq!(handle.stats().sinks[0].delivered, 1);
}

#[test]
fn errors_are_retried_or_given_up_and_never_show_the_token() {
    let server = Server::start(TELEGRAM_OK);
    server.script([
        Answer::status(502, "bad gateway"),
        Answer::ok(TELEGRAM_OK),
        Answer::status(
            401,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
        ),
    ]);
    let sink = TelegramSink::new(TOKEN, 42)
        .api_url(server.url())
        .fold_window(Duration::ZERO);
    let handle = with_sink(sink, TraceMode::Minimal, || {
        tracing::error!("first: retried after a 502");
        tracing::error!("second: refused for good");
    });
    let stats = handle.stats();
    assert_eq!(
        server.requests().len(),
        3,
        "502 retried once, 401 not retried"
    );
    assert_eq!(stats.sinks[0].delivered, 1);
    assert_eq!(stats.sinks[0].failed, 1);
    let error = stats.sinks[0].last_error.clone().unwrap_or_default();
    assert_eq!(error, "HTTP 401: Unauthorized");

    // nothing listens here: network errors are retried, then given up, masked
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let sink = TelegramSink::new(TOKEN, 42)
        .api_url(url)
        .fold_window(Duration::ZERO);
    let debug = format!("{sink:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let handle = with_sink(sink, TraceMode::Minimal, || tracing::error!("unreachable"));
    let stats = handle.stats();
    assert_eq!(stats.sinks[0].failed, 1);
    let error = stats.sinks[0].last_error.clone().unwrap_or_default();
    assert!(error.starts_with("request failed"), "{error}");
    assert!(!error.contains("SECRET"), "{error}");
}

#[test]
fn a_burst_of_identical_errors_becomes_one_message_and_a_count() {
    let server = Server::start(TELEGRAM_OK);
    let sink = TelegramSink::new(TOKEN, 42)
        .api_url(server.url())
        .fold_window(Duration::from_secs(1));
    let stats = sink.clone();
    let mut emitting = Duration::ZERO;
    let handle = with_sink(sink, TraceMode::Minimal, || {
        let started = Instant::now();
        for attempt in 0..50 {
            tracing::error!("database timeout after {attempt} ms");
        }
        emitting = started.elapsed();
    });
    assert!(
        emitting < Duration::from_millis(500),
        "the burst fits the window: {emitting:?}"
    );
    // the summary is due a second after the first report
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one report, then one summary");
    let summary = requests[1].json()["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(summary.contains("×49 in the last 1 s"), "{summary}");
    assert!(summary.contains("database timeout after"), "{summary}");
    let chat = stats.stats();
    assert_eq!((chat.folded, chat.summaries), (49, 1));
    assert_eq!(
        handle.stats().sinks[0].delivered,
        50,
        "folded reports count as handled"
    );
}

#[test]
fn discord_sends_code_blocks_that_survive_backticks_and_splits_at_2000() {
    let server = Server::start("");
    server.script([Answer::status(204, "")]);
    let url = format!("{}/api/webhooks/1234/webhook-secret-token", server.url());
    let sink = DiscordSink::new(&url)
        .authors(["<@42>"])
        .fold_window(Duration::ZERO);
    assert!(!format!("{sink:?}").contains("webhook-secret-token"));
    let long: String = (0..200)
        .map(|i| format!("frame {i}: ```code``` @everyone"))
        .collect::<Vec<_>>()
        .join("\n");
    with_sink(sink, TraceMode::Full, || {
        tracing::error!("template `{{x}}` failed: ``` is not allowed");
        tracing::error!("{long}");
    });
    let requests = server.requests();
    assert!(requests.len() >= 4, "{}", requests.len());
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/api/webhooks/1234/webhook-secret-token");
    let body = first.json();
    assert_eq!(
        body["allowed_mentions"],
        serde_json::json!({ "parse": ["users"] })
    );
    let content = body["content"].as_str().expect("content");
    assert!(
        content.starts_with("**Chat <Proj> & Co** | ERROR | <@42>\n```text\n"),
        "{content}"
    );
    assert_eq!(
        content.matches("```").count(),
        2,
        "only the block's own fences: {content}"
    );
    assert!(
        content
            .replace('\u{200b}', "")
            .contains("template `{x}` failed: ``` is not allowed")
    );
    for request in &requests {
        let content = request.json()["content"]
            .as_str()
            .expect("content")
            .to_owned();
        assert!(content.chars().count() <= 2000);
        assert_eq!(
            content.matches("```").count(),
            2,
            "each part is its own block"
        );
    }
}

#[test]
fn discord_honours_retry_after() {
    let server = Server::start("");
    server.script([Answer::status(
        429,
        r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#,
    )
    .header("retry-after", "1")]);
    let sink =
        DiscordSink::new(format!("{}/api/webhooks/1/t", server.url())).fold_window(Duration::ZERO);
    let handle = with_sink(sink, TraceMode::Minimal, || {
        tracing::error!("rate limited once")
    });
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert_eq!(handle.stats().sinks[0].delivered, 1);
}
