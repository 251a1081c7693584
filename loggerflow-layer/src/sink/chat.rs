//! What the chat sinks (Telegram, Discord) share: posting with rate limits
//! read from responses, secrets kept out of messages, long reports split
//! into several messages, and bursts of identical reports folded into one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Delivery, SinkError};
use crate::protocol::{Report, ReportId};
use crate::trace::TraceMode;

/// Counters of a chat sink, as read by `TelegramSink::stats` / `DiscordSink::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatStats {
    /// Messages the service accepted (a long report is several).
    pub messages: u64,
    /// Reports folded into a burst summary instead of being sent.
    pub folded: u64,
    /// Burst summaries sent.
    pub summaries: u64,
    /// Burst summaries given up after their retries.
    pub summaries_failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    messages: AtomicU64,
    folded: AtomicU64,
    summaries: AtomicU64,
    summaries_failed: AtomicU64,
}

/// How one chat service formats and receives messages.
pub(crate) trait Dialect: Clone + Send + Sync + 'static {
    /// Longest message, as counted by [`Dialect::measure`].
    const LIMIT: usize;
    /// Appends `c`, escaped for the message body, to `out`.
    fn escape_char(c: char, out: &mut String);
    /// The length of `text` as the service counts it.
    fn measure(text: &str) -> usize;
    /// The first line of part `part` (1-based) of `parts`.
    fn head(&self, report: &Report, part: usize, parts: usize) -> String;
    /// A whole message: its head and an escaped body.
    fn wrap(&self, head: &str, body: &str) -> String;
    /// The message that tells how many reports a burst folded.
    fn summary(&self, summary: &Summary) -> String;
    /// Posts one message.
    fn post(
        &self,
        http: &Http,
        message: String,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// The HTTP client of a chat sink.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("loggerflow-layer/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client }
    }

    /// POSTs `body` as JSON and reads the outcome: 2xx is delivered, 429 is
    /// rate limited (for as long as the service says), 5xx and network
    /// errors are retryable, other statuses are permanent.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        secret: &str,
    ) -> Result<(), SinkError> {
        let response = self.client.post(url).json(body).send().await.map_err(|e| {
            SinkError::retryable(scrub(
                &format!("request failed: {}", e.without_url()),
                secret,
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let header_wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let text = response.text().await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let description = json["description"]
            .as_str()
            .or_else(|| json["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(200).collect());
        let message = scrub(&format!("HTTP {}: {description}", status.as_u16()), secret);
        match status.as_u16() {
            429 => {
                let wait = json["parameters"]["retry_after"]
                    .as_f64()
                    .or_else(|| json["retry_after"].as_f64())
                    .or(header_wait)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .unwrap_or(1.0);
                Err(SinkError::rate_limited(
                    message,
                    Duration::from_secs_f64(wait.min(86_400.0)),
                ))
            }
            500..=599 => Err(SinkError::retryable(message)),
            _ => Err(SinkError::permanent(message)),
        }
    }
}

/// `secret` replaced by a masked form everywhere in `text`.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, &mask(secret))
}

/// The first few characters of a secret, then `***`.
pub(crate) fn mask(secret: &str) -> String {
    let keep: String = secret.chars().take(4).collect();
    format!("{keep}***")
}

/// Splits `text` into escaped parts of at most `budget` (as `D` measures),
/// cutting between lines, and only cutting a line (between two characters,
/// never inside an escape) when it alone is longer than `budget`.
pub(crate) fn split<D: Dialect>(text: &str, budget: usize) -> Vec<String> {
    let budget = budget.max(16);
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let mut escaped = String::with_capacity(line.len() + 8);
        for c in line.chars() {
            D::escape_char(c, &mut escaped);
        }
        let sep = usize::from(!current.is_empty());
        if D::measure(&current) + sep + D::measure(&escaped) <= budget {
            if sep == 1 {
                current.push('\n');
            }
            current.push_str(&escaped);
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if D::measure(&escaped) <= budget {
            current = escaped;
            continue;
        }
        // one line longer than a message: cut it between characters
        let mut unit = String::new();
        for c in line.chars() {
            unit.clear();
            D::escape_char(c, &mut unit);
            if D::measure(&current) + D::measure(&unit) > budget {
                parts.push(std::mem::take(&mut current));
            }
            current.push_str(&unit);
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// A burst of identical reports folded into one message.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) project: String,
    pub(crate) count: u64,
    pub(crate) window: Duration,
    /// The report's one-line form.
    pub(crate) line: String,
}

impl Summary {
    /// `×37 in the last 60 s`
    pub(crate) fn count_text(&self) -> String {
        let window = if self.window < Duration::from_secs(1) {
            format!("{} ms", self.window.as_millis())
        } else {
            format!("{} s", self.window.as_secs())
        };
        format!("×{} in the last {window}", self.count)
    }
}

struct FoldState {
    since: Instant,
    folded: u64,
    summary: Summary,
}

enum Admit {
    /// Send it, after the summary of an expired burst of the same report.
    Send(Option<Summary>),
    /// Folded; `Some(since)` when this is the first fold of its burst (start the timer).
    Folded(Option<Instant>),
}

/// Folds identical reports within a window.
struct Folder {
    window: Duration,
    states: Mutex<HashMap<String, FoldState>>,
}

impl Folder {
    /// Reports are identical when their kind, title (digits masked) and
    /// location are.
    fn key(report: &Report) -> String {
        // digit runs masked: "after 7 ms" and "after 10 ms" are the same report
        let mut title = String::new();
        for c in report.title().chars() {
            if !c.is_ascii_digit() {
                title.push(c);
            } else if !title.ends_with('#') {
                title.push('#');
            }
        }
        let (file, line) = match report.innermost_yours() {
            Some(frame) => (frame.file.as_deref(), frame.line),
            None => (report.file.as_deref(), report.line),
        };
        format!(
            "{:?}|{title}|{}:{}",
            report.kind,
            file.unwrap_or(""),
            line.unwrap_or(0)
        )
    }

    fn admit(&self, report: &Report, now: Instant) -> Admit {
        if self.window.is_zero() {
            return Admit::Send(None);
        }
        let key = Self::key(report);
        let Ok(mut states) = self.states.lock() else {
            return Admit::Send(None);
        };
        let window = self.window;
        states.retain(|_, s| now.duration_since(s.since) < window || s.folded > 0);
        if let Some(state) = states
            .get_mut(&key)
            .filter(|s| now.duration_since(s.since) < window)
        {
            state.folded += 1;
            return Admit::Folded((state.folded == 1).then_some(state.since));
        }
        let fresh = FoldState {
            since: now,
            folded: 0,
            summary: Summary {
                project: report.project.clone(),
                count: 0,
                window,
                line: crate::trace::render::render(report, TraceMode::Minimal),
            },
        };
        let expired = states.insert(key, fresh);
        Admit::Send(expired.and_then(Self::into_summary))
    }

    fn into_summary(state: FoldState) -> Option<Summary> {
        (state.folded > 0).then_some(Summary {
            count: state.folded,
            ..state.summary
        })
    }

    /// The burst that started at `since`, when its window is over.
    fn take(&self, key: &str, since: Instant) -> Option<Summary> {
        let mut states = self.states.lock().ok()?;
        if states.get(key).is_some_and(|s| s.since == since) {
            states.remove(key).and_then(Self::into_summary)
        } else {
            None
        }
    }

    /// Every pending burst (at shutdown).
    fn take_all(&self) -> Vec<Summary> {
        match self.states.lock() {
            Ok(mut states) => states
                .drain()
                .filter_map(|(_, s)| Self::into_summary(s))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

struct State {
    http: Http,
    folder: Folder,
    /// The delivery being sent and how many of its parts went out, so a
    /// retry does not send them again (a sink's deliveries are sequential).
    progress: Mutex<Option<(ReportId, usize)>>,
    counters: Counters,
}

/// A chat sink over a [`Dialect`]: the part `TelegramSink` and `DiscordSink` share.
#[derive(Clone)]
pub(crate) struct Chat<D> {
    pub(crate) dialect: D,
    pub(crate) trace_mode: Option<TraceMode>,
    state: Arc<State>,
}

impl<D: Dialect> Chat<D> {
    pub(crate) fn new(dialect: D) -> Self {
        Self {
            dialect,
            trace_mode: None,
            state: Arc::new(State {
                http: Http::new(),
                folder: Folder {
                    window: Duration::from_secs(60),
                    states: Mutex::new(HashMap::new()),
                },
                progress: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// Sets the burst window. Must be called before the sink is cloned.
    pub(crate) fn set_fold_window(&mut self, window: Duration) {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.folder.window = window;
        }
    }

    pub(crate) fn stats(&self) -> ChatStats {
        let c = &self.state.counters;
        ChatStats {
            messages: c.messages.load(Ordering::Relaxed),
            folded: c.folded.load(Ordering::Relaxed),
            summaries: c.summaries.load(Ordering::Relaxed),
            summaries_failed: c.summaries_failed.load(Ordering::Relaxed),
        }
    }

    /// The messages one report becomes.
    pub(crate) fn messages(&self, delivery: &Delivery) -> Vec<String> {
        let report = delivery.report();
        let text = match self.trace_mode {
            Some(mode) => delivery.render(mode),
            None => delivery.text().to_owned(),
        };
        let mut text = text;
        if delivery.dropped_before() > 0 {
            text.push_str(&format!(
                "\n({} earlier report(s) were dropped: the queue was full)",
                delivery.dropped_before()
            ));
        }
        // room for the longest head and the wrapper around the body
        let overhead = D::measure(&self.dialect.wrap(&self.dialect.head(report, 99, 99), "")).max(
            D::measure(&self.dialect.wrap(&self.dialect.head(report, 1, 99), "")),
        );
        let bodies = split::<D>(&text, D::LIMIT.saturating_sub(overhead));
        let parts = bodies.len();
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                self.dialect
                    .wrap(&self.dialect.head(report, i + 1, parts), body)
            })
            .collect()
    }

    pub(crate) async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        let report = delivery.report();
        // a retry of this report (after an error or a timeout) goes on where
        // the previous attempt stopped, and is never folded
        let resume = self
            .state
            .progress
            .lock()
            .ok()
            .and_then(|p| p.filter(|(id, _)| *id == report.id).map(|(_, sent)| sent));
        if resume.is_none() {
            match self.state.folder.admit(report, Instant::now()) {
                Admit::Send(pending) => {
                    if let Some(summary) = pending {
                        let chat = self.clone();
                        tokio::spawn(async move { chat.send_summary(summary).await });
                    }
                }
                Admit::Folded(first) => {
                    self.state.counters.folded.fetch_add(1, Ordering::Relaxed);
                    if let Some(since) = first {
                        self.summarise_later(Folder::key(report), since);
                    }
                    return Ok(());
                }
            }
            self.set_progress(Some((report.id, 0)));
        }
        let messages = self.messages(delivery);
        for (index, message) in messages.into_iter().enumerate().skip(resume.unwrap_or(0)) {
            self.dialect.post(&self.state.http, message).await?;
            self.state.counters.messages.fetch_add(1, Ordering::Relaxed);
            self.set_progress(Some((report.id, index + 1)));
        }
        self.set_progress(None);
        Ok(())
    }

    fn set_progress(&self, value: Option<(ReportId, usize)>) {
        if let Ok(mut progress) = self.state.progress.lock() {
            *progress = value;
        }
    }

    /// Sends the burst's summary when its window is over.
    fn summarise_later(&self, key: String, since: Instant) {
        let chat = self.clone();
        let due = since + self.state.folder.window;
        tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            if let Some(summary) = chat.state.folder.take(&key, since) {
                chat.send_summary(summary).await;
            }
        });
    }

    /// Sends a summary, retrying a few times (its own, bounded, budget).
    async fn send_summary(&self, summary: Summary) {
        let message = self.dialect.summary(&summary);
        for attempt in 0..4u32 {
            match self.dialect.post(&self.state.http, message.clone()).await {
                Ok(()) => {
                    self.state
                        .counters
                        .summaries
                        .fetch_add(1, Ordering::Relaxed);
                    self.state.counters.messages.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(error) if error.is_retryable() && attempt < 3 => {
                    let wait = error
                        .retry_after()
                        .unwrap_or(Duration::from_millis(500 << attempt))
                        .min(Duration::from_secs(60));
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    crate::diag::warn(format_args!("a burst summary was given up: {error}"));
                    break;
                }
            }
        }
        self.state
            .counters
            .summaries_failed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Sends every pending burst summary now.
    pub(crate) async fn shutdown(&self) {
        for summary in self.state.folder.take_all() {
            self.send_summary(summary).await;
        }
    }
}
