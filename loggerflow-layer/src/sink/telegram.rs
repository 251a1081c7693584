//! [`TelegramSink`]: reports as Telegram messages (Bot API `sendMessage`).

use std::borrow::Cow;
use std::time::Duration;

use super::chat::{Chat, ChatStats, Dialect, Http, Summary, mask};
use super::{Delivery, Sink, SinkError};
use crate::protocol::Report;
use crate::trace::TraceMode;

/// Sends each report to a Telegram chat through a bot (the model's
/// `TelegramBackend(token, chat_id, authors)`).
///
/// A message is HTML: the project, the level and the authors in the first
/// line, then the trace in a `<pre>` block, escaped so that `<`, `>` and `&`
/// arrive intact. A report longer than Telegram's 4096 characters becomes
/// several messages, cut between lines (a single longer line between two
/// characters, never inside an escape). HTTP 429 is honoured
/// (`parameters.retry_after`); 5xx and network errors are retried with
/// backoff by the layer's worker. Identical reports within the fold window
/// (60 s by default) become one summary message (`×37 in the last 60 s`).
///
/// ```no_run
/// use loggerflow_layer::{LoggerFlowLayer, sink::TelegramSink};
///
/// let token = std::env::var("TELEGRAM_TOKEN").unwrap_or_default();
/// let layer: LoggerFlowLayer = LoggerFlowLayer::builder("Test")
///     .sink(TelegramSink::new(token, -123_456_789).authors(["@DeNRuDi"]))
///     .build();
/// ```
#[derive(Clone)]
pub struct TelegramSink {
    chat: Chat<Telegram>,
}

#[derive(Clone)]
pub(crate) struct Telegram {
    token: String,
    chat_id: serde_json::Value,
    authors: Vec<String>,
    api_url: String,
}

impl std::fmt::Debug for TelegramSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSink")
            .field("token", &mask(&self.chat.dialect.token))
            .field("chat_id", &self.chat.dialect.chat_id)
            .field("api_url", &self.chat.dialect.api_url)
            .finish_non_exhaustive()
    }
}

/// A Telegram chat id: a number (`-1001234567890`) or a channel name (`"@my_channel"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatId(serde_json::Value);

impl From<i64> for ChatId {
    fn from(id: i64) -> Self {
        Self(id.into())
    }
}

impl From<&str> for ChatId {
    fn from(id: &str) -> Self {
        match id.parse::<i64>() {
            Ok(n) => Self(n.into()),
            Err(_) => Self(id.into()),
        }
    }
}

impl From<String> for ChatId {
    fn from(id: String) -> Self {
        Self::from(id.as_str())
    }
}

impl TelegramSink {
    /// A sink posting as the bot with `token` to `chat_id`.
    pub fn new(token: impl Into<String>, chat_id: impl Into<ChatId>) -> Self {
        Self {
            chat: Chat::new(Telegram {
                token: token.into(),
                chat_id: chat_id.into().0,
                authors: Vec::new(),
                api_url: "https://api.telegram.org".into(),
            }),
        }
    }

    /// People to mention in the first line of every report (`@name`).
    #[must_use]
    pub fn authors<I, S>(mut self, authors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.chat.dialect.authors = authors.into_iter().map(Into::into).collect();
        self
    }

    /// The Bot API's base URL (default `https://api.telegram.org`), for a
    /// local Bot API server or a test.
    #[must_use]
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.chat.dialect.api_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Identical reports within `window` are folded into one summary (60 s
    /// by default; zero turns folding off). Set it before cloning the sink.
    #[must_use]
    pub fn fold_window(mut self, window: Duration) -> Self {
        self.chat.set_fold_window(window);
        self
    }

    /// Renders reports in `mode` instead of the layer's trace mode.
    #[must_use]
    pub fn trace_mode(mut self, mode: TraceMode) -> Self {
        self.chat.trace_mode = Some(mode);
        self
    }

    /// The sink's counters.
    pub fn stats(&self) -> ChatStats {
        self.chat.stats()
    }

    /// The messages (HTML text) a delivery becomes, for previews and tests.
    pub fn messages(&self, delivery: &Delivery) -> Vec<String> {
        self.chat.messages(delivery)
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        Telegram::escape_char(c, &mut out);
    }
    out
}

impl Dialect for Telegram {
    const LIMIT: usize = 4096;

    fn escape_char(c: char, out: &mut String) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }

    /// Telegram counts UTF-16 code units.
    fn measure(text: &str) -> usize {
        text.encode_utf16().count()
    }

    fn head(&self, report: &Report, part: usize, parts: usize) -> String {
        let project = format!("<b>{}</b>", escape_html(&report.project));
        if part > 1 {
            return format!("{project} ({part}/{parts})");
        }
        let mut head = format!("{project} | {}", report.level);
        if report.kind == crate::protocol::ReportKind::Panic {
            head.push_str(" | panic");
        }
        if !self.authors.is_empty() {
            head.push_str(" | ");
            head.push_str(&escape_html(&self.authors.join(" ")));
        }
        if parts > 1 {
            head.push_str(&format!(" (1/{parts})"));
        }
        head
    }

    fn wrap(&self, head: &str, body: &str) -> String {
        format!("{head}\n<pre>{body}</pre>")
    }

    fn summary(&self, summary: &Summary) -> String {
        format!(
            "<b>{}</b> | {}\n<pre>{}</pre>",
            escape_html(&summary.project),
            summary.count_text(),
            escape_html(&summary.line)
        )
    }

    async fn post(&self, http: &Http, message: String) -> Result<(), SinkError> {
        let url = format!("{}/bot{}/sendMessage", self.api_url, self.token);
        let body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": message,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        // post_json scrubs the token from every error it makes
        http.post_json(&url, &body, &self.token).await
    }
}

#[async_trait::async_trait]
impl Sink for TelegramSink {
    fn name(&self) -> Cow<'static, str> {
        "telegram".into()
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.chat.send(delivery).await
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        self.chat.shutdown().await;
        Ok(())
    }
}
