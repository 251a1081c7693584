//! [`Ledger`]: where a sink's deliveries are counted; [`Losses`]: which
//! reports were lost, by their place in the order of captures.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which report a ledger entry is about: take it from
/// [`Delivery::receipt`](super::Delivery::receipt) when `send` buffers the
/// report, and hand it back to the [`Ledger`] when its fate is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    pub(crate) seq: u64,
}

/// The reports lost anywhere on the way (a full queue, a sink that gave
/// up, a report the server refused), by capture seq, so that a flush says
/// `false` exactly when one of the reports it is about was lost. The latest
/// [`Losses::REMEMBERED`] are kept one by one; older ones as a watermark
/// (a flush about them says `false`, conservatively).
#[derive(Debug, Default)]
pub(crate) struct Losses {
    log: Mutex<LossLog>,
}

#[derive(Debug, Default)]
struct LossLog {
    recent: VecDeque<u64>,
    forgotten: u64,
}

impl Losses {
    const REMEMBERED: usize = 4096;

    /// The report captured as `seq` was lost.
    pub(crate) fn record(&self, seq: u64) {
        if let Ok(mut log) = self.log.lock() {
            if log.recent.len() >= Self::REMEMBERED
                && let Some(old) = log.recent.pop_front()
            {
                log.forgotten = log.forgotten.max(old);
            }
            log.recent.push_back(seq);
        }
    }

    /// Whether a report captured after `after` and up to `upto` was lost.
    pub(crate) fn any_between(&self, after: u64, upto: u64) -> bool {
        let Ok(log) = self.log.lock() else {
            return true;
        };
        log.forgotten > after || log.recent.iter().any(|&s| after < s && s <= upto)
    }
}

/// Counters of one sink (read by `Handle::stats`).
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
///
/// A flush of the layer says `false` when a report it is about was entered
/// here as lost.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    counters: Arc<SinkCounters>,
    losses: Arc<Losses>,
}

impl Ledger {
    pub(crate) fn new(counters: Arc<SinkCounters>, losses: Arc<Losses>) -> Self {
        Self { counters, losses }
    }

    /// The report of `receipt` reached its destination.
    pub fn delivered(&self, receipt: Receipt) {
        let _ = receipt;
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// The report of `receipt` was given up on (dropped from a full buffer,
    /// or refused for good), because of `reason`.
    pub fn lost(&self, receipt: Receipt, reason: &dyn std::fmt::Display) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.losses.record(receipt.seq);
        self.counters.note_failure("gave up on a report", reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_told_apart_by_capture_order() {
        let losses = Losses::default();
        losses.record(5);
        assert!(losses.any_between(0, 5));
        assert!(losses.any_between(4, 10));
        assert!(!losses.any_between(5, 10), "after it");
        assert!(!losses.any_between(0, 4), "before it");
        for seq in 100..100 + Losses::REMEMBERED as u64 {
            losses.record(seq);
        }
        // 5 is no longer remembered one by one: a flush about it still says so
        assert!(losses.any_between(0, 4), "conservative");
        assert!(!losses.any_between(5, 99));
    }
}
