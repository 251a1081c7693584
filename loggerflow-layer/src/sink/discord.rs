//! [`DiscordSink`]: reports as Discord messages (webhook execute).

use std::borrow::Cow;
use std::time::Duration;

use super::chat::{Chat, ChatStats, Dialect, Http, Summary, mask};
use super::{Delivery, Sink, SinkError};
use crate::protocol::Report;
use crate::trace::TraceMode;

/// Sends each report to a Discord channel through a webhook (the model's
/// `DiscordBackend(webhook_url, authors)`).
///
/// A message is the project, the level and the authors in the first line,
/// then the trace in a code block. Backticks in the trace are followed by a
/// zero-width space, so no run of three can close the block early. A report
/// longer than Discord's 2000 characters becomes several messages, each its
/// own code block. HTTP 429 is honoured (`retry_after`, `Retry-After`); 5xx
/// and network errors are retried with backoff by the layer's worker.
/// Mentions are limited to users (`@everyone` in a trace pings nobody).
/// Identical reports within the fold window (60 s by default) become one
/// summary message.
///
/// ```no_run
/// use loggerflow_layer::{LoggerFlowLayer, sink::DiscordSink};
///
/// let url = std::env::var("DISCORD_WEBHOOK_URL").unwrap_or_default();
/// let layer: LoggerFlowLayer = LoggerFlowLayer::builder("Test")
///     .sink(DiscordSink::new(url).authors(["<@123456789012345678>"]))
///     .build();
/// ```
#[derive(Clone)]
pub struct DiscordSink {
    chat: Chat<Discord>,
}

#[derive(Clone)]
pub(crate) struct Discord {
    webhook_url: String,
    authors: Vec<String>,
}

impl std::fmt::Debug for DiscordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordSink")
            .field("webhook_url", &mask(&self.chat.dialect.webhook_url))
            .finish_non_exhaustive()
    }
}

impl DiscordSink {
    /// A sink posting to the webhook at `webhook_url` (a secret: it is never
    /// printed whole).
    pub fn new(webhook_url: impl Into<String>) -> Self {
        Self {
            chat: Chat::new(Discord {
                webhook_url: webhook_url.into(),
                authors: Vec::new(),
            }),
        }
    }

    /// People to mention in the first line of every report (`<@user id>`
    /// pings; a plain `@name` is text).
    #[must_use]
    pub fn authors<I, S>(mut self, authors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.chat.dialect.authors = authors.into_iter().map(Into::into).collect();
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

    /// The messages (markdown text) a delivery becomes, for previews and tests.
    pub fn messages(&self, delivery: &Delivery) -> Vec<String> {
        self.chat.messages(delivery)
    }
}

/// Markdown-escapes text shown outside a code block.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '_' | '~' | '|' | '`' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Dialect for Discord {
    const LIMIT: usize = 2000;

    fn escape_char(c: char, out: &mut String) {
        out.push(c);
        if c == '`' {
            out.push('\u{200b}');
        }
    }

    /// Discord counts characters.
    fn measure(text: &str) -> usize {
        text.chars().count()
    }

    fn head(&self, report: &Report, part: usize, parts: usize) -> String {
        let project = format!("**{}**", escape_markdown(&report.project));
        if part > 1 {
            return format!("{project} ({part}/{parts})");
        }
        let mut head = format!("{project} | {}", report.level);
        if report.kind == crate::protocol::ReportKind::Panic {
            head.push_str(" | panic");
        }
        if !self.authors.is_empty() {
            head.push_str(" | ");
            head.push_str(&self.authors.join(" "));
        }
        if parts > 1 {
            head.push_str(&format!(" (1/{parts})"));
        }
        head
    }

    fn wrap(&self, head: &str, body: &str) -> String {
        format!("{head}\n```text\n{body}\n```")
    }

    fn summary(&self, summary: &Summary) -> String {
        let mut line = String::new();
        for c in summary.line.chars() {
            Self::escape_char(c, &mut line);
        }
        format!(
            "**{}** | {}\n```text\n{line}\n```",
            escape_markdown(&summary.project),
            summary.count_text()
        )
    }

    async fn post(&self, http: &Http, message: String) -> Result<(), SinkError> {
        let body = serde_json::json!({
            "content": message,
            "allowed_mentions": { "parse": ["users"] },
        });
        http.post_json(&self.webhook_url, &body, &self.webhook_url)
            .await
    }
}

#[async_trait::async_trait]
impl Sink for DiscordSink {
    fn name(&self) -> Cow<'static, str> {
        "discord".into()
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.chat.send(delivery).await
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        self.chat.shutdown().await;
        Ok(())
    }
}
