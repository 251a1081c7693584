//! The layer's configuration, frozen when its worker starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::Report;
use crate::sink::{Sink, SinkError};
use crate::trace::TraceMode;
use crate::trace::classify::Classifier;

/// Targets whose events are never captured: this crate's own. What the
/// worker's HTTP and TLS stacks log is kept out by the worker's threads
/// having no subscriber, not by target, so the app's own reqwest, hyper or
/// rustls errors are captured like any other.
pub(crate) const NEVER_CAPTURED_TARGETS: &[&str] = &["loggerflow_layer"];

/// The hook that edits, drops or samples reports before they are sent.
pub(crate) type BeforeSend = Arc<dyn Fn(&mut Report) -> bool + Send + Sync>;

/// How a sink's failed deliveries are retried.
///
/// `#[non_exhaustive]`: start from [`RetryPolicy::default`] and change what
/// you need with its setters.
///
/// ```
/// use std::time::Duration;
/// use loggerflow_layer::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .retries(2)
///     .initial_backoff(Duration::from_millis(100));
/// assert_eq!(policy.retries, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    /// Delay before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Longest delay between two attempts.
    pub max_backoff: Duration,
    /// Longest time one attempt may take before it counts as failed.
    pub attempt_timeout: Duration,
    /// Longest wait a rate-limited service (HTTP 429) may ask for; a longer
    /// one gives the report up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(15),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Sets [`retries`](Self::retries).
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`initial_backoff`](Self::initial_backoff).
    #[must_use]
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    #[must_use]
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Sets [`attempt_timeout`](Self::attempt_timeout).
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets [`max_retry_after`](Self::max_retry_after).
    #[must_use]
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// The delay before retry number `retry` (0-based) after `error`: the
    /// backoff, or longer when the service asked for longer; `None` when
    /// the report should be given up.
    pub fn delay(&self, retry: u32, error: &SinkError) -> Option<Duration> {
        if !error.is_retryable() || retry >= self.retries {
            return None;
        }
        let backoff = self.backoff_for(retry);
        match error.retry_after() {
            Some(asked) if asked > self.max_retry_after => None,
            Some(asked) => Some(asked.max(backoff)),
            None => Some(backoff),
        }
    }

    /// The delay before retry number `retry` (0-based).
    pub fn backoff_for(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

use crate::protocol::DEFAULT_ENVIRONMENT;

/// A non-empty environment variable, trimmed.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) project: String,
    pub(crate) release: Option<String>,
    pub(crate) environment: String,
    pub(crate) host: String,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) event_level: tracing::Level,
    pub(crate) span_level: tracing::Level,
    pub(crate) trace_mode: TraceMode,
    pub(crate) exclude_text: Vec<String>,
    pub(crate) exclude_types: Vec<String>,
    pub(crate) exclude_targets: Vec<String>,
    pub(crate) classifier: Classifier,
    pub(crate) backtrace: bool,
    pub(crate) capture_panics: bool,
    pub(crate) queue_capacity: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) flush_timeout: Duration,
    pub(crate) panic_flush_timeout: Duration,
    pub(crate) sinks: Vec<Arc<dyn Sink>>,
    pub(crate) before_send: Option<BeforeSend>,
}

impl Config {
    pub(crate) fn new(project: String) -> Self {
        Self {
            project,
            // the deployment says which release and where, unless the code does
            release: env_value("LOGGERFLOW_RELEASE"),
            environment: env_value("LOGGERFLOW_ENVIRONMENT")
                .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned()),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            cwd: std::env::current_dir().ok(),
            event_level: tracing::Level::ERROR,
            span_level: tracing::Level::INFO,
            trace_mode: TraceMode::Full,
            exclude_text: Vec::new(),
            exclude_types: Vec::new(),
            exclude_targets: Vec::new(),
            classifier: Classifier::new(),
            backtrace: backtrace_from_env(),
            capture_panics: true,
            queue_capacity: 1024,
            retry: RetryPolicy::default(),
            flush_timeout: Duration::from_secs(5),
            panic_flush_timeout: Duration::from_secs(2),
            sinks: Vec::new(),
            before_send: None,
        }
    }

    /// Whether an error of type `type_name` is left out by an exclude
    /// (`Wrap` matches `Wrap<T>` too).
    pub(crate) fn excluded_type(&self, type_name: &str) -> bool {
        self.exclude_types.iter().any(|t| {
            type_name == t
                || type_name
                    .strip_prefix(t.as_str())
                    .is_some_and(|generics| generics.starts_with('<'))
        })
    }
}

/// Whether events of `target` are never captured: ours and the HTTP stack's,
/// and the user's `extra` excludes.
pub(crate) fn target_excluded(extra: &[String], target: &str) -> bool {
    NEVER_CAPTURED_TARGETS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|prefix| target_matches(target, prefix))
}

/// `hyper::proto` matches `hyper`, `hyper_util` does not.
fn target_matches(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Backtraces for events follow `RUST_LIB_BACKTRACE`, then `RUST_BACKTRACE`,
/// as `std::backtrace::Backtrace::capture` does.
fn backtrace_from_env() -> bool {
    let var = std::env::var("RUST_LIB_BACKTRACE").or_else(|_| std::env::var("RUST_BACKTRACE"));
    matches!(var.as_deref(), Ok(v) if v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_by_path_segment() {
        assert!(target_matches("hyper", "hyper"));
        assert!(target_matches("hyper::proto::h1", "hyper"));
        assert!(!target_matches("hyper_util::client", "hyper"));
        assert!(!target_matches("my_hyper", "hyper"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(1),
        };
        assert_eq!(p.backoff_for(0), Duration::from_millis(100));
        assert_eq!(p.backoff_for(1), Duration::from_millis(200));
        assert_eq!(p.backoff_for(3), Duration::from_millis(800));
        assert_eq!(p.backoff_for(4), Duration::from_secs(1));
        assert_eq!(p.backoff_for(40), Duration::from_secs(1));
    }

    #[test]
    fn rate_limits_are_honoured_within_bounds() {
        let p = RetryPolicy {
            retries: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
        };
        let limited = SinkError::rate_limited("429", Duration::from_secs(5));
        assert_eq!(p.delay(0, &limited), Some(Duration::from_secs(5)));
        let short = SinkError::rate_limited("429", Duration::from_millis(10));
        assert_eq!(
            p.delay(1, &short),
            Some(Duration::from_millis(200)),
            "never below the backoff"
        );
        assert_eq!(p.delay(2, &limited), None, "retries are bounded");
        let forever = SinkError::rate_limited("429", Duration::from_secs(3600));
        assert_eq!(p.delay(0, &forever), None, "an hour is longer than we wait");
        assert_eq!(p.delay(0, &SinkError::permanent("401")), None);
    }
}
