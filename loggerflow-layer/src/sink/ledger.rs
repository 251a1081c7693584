//! [`Ledger`]: where a sink's deliveries are counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters of one sink (read by [`Handle::stats`](crate::Handle::stats)).
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    pub(crate) name: String,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl SinkCounters {
    /// Reports this sink lost so far: given up on, or dropped because its
    /// queue was full.
    pub(crate) fn lost(&self) -> u64 {
        self.failed.load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed)
    }

    /// Records a failure; says so on stderr for the 1st, 2nd, 4th, 8th…
    /// failure, so a dead sink is visible without flooding the terminal.
    pub(crate) fn note_failure(&self, what: &str, error: &dyn std::fmt::Display) {
        let failures = self.failed.load(Ordering::Relaxed).max(1);
        if failures.is_power_of_two() {
            crate::diag::warn(format_args!(
                "sink {}: {what} ({failures} so far): {error}",
                self.name
            ));
        }
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_string());
        }
    }
}

/// Where a sink that confirms its deliveries later
/// ([`Confirmation::Later`](super::Confirmation::Later)) counts them: the
/// lifecycle sinks count a report delivered when the server acknowledged
/// it, not when it was buffered.
///
/// Each sink gets its own in its [`SinkContext`](super::SinkContext).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    counters: Arc<SinkCounters>,
}

impl Ledger {
    pub(crate) fn new(counters: Arc<SinkCounters>) -> Self {
        Self { counters }
    }

    /// `count` reports reached their destination.
    pub fn delivered(&self, count: u64) {
        self.counters.delivered.fetch_add(count, Ordering::Relaxed);
    }

    /// `count` reports were given up on (dropped from a full buffer, or
    /// refused for good), because of `reason`.
    pub fn lost(&self, count: u64, reason: &dyn std::fmt::Display) {
        if count == 0 {
            return;
        }
        self.counters.failed.fetch_add(count, Ordering::Relaxed);
        self.counters.note_failure("gave up on reports", reason);
    }
}
