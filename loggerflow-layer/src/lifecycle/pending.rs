//! Reports waiting for the server's acknowledgement.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;

use crate::protocol::{Report, ReportId};
use crate::sink::{Ledger, Receipt, SinkError};

/// A report, what it weighs serialised, its place in the order of pushes,
/// and its receipt for the ledger.
#[derive(Debug)]
struct Waiting {
    report: Report,
    bytes: usize,
    seq: u64,
    receipt: Receipt,
}

#[derive(Debug, Default)]
struct Queue {
    reports: VecDeque<Waiting>,
    bytes: usize,
    /// The seq of the last report pushed (the first is 1).
    last_seq: u64,
}

/// A buffer of unacknowledged reports, oldest first, bounded by count and by
/// bytes.
///
/// Each report's fate is entered in the sink's [`Ledger`] (once the sink
/// started): delivered when acknowledged, lost when dropped or refused. A
/// flush waits on [`resolved`](Self::resolved) for what was pushed before it.
#[derive(Debug)]
pub(crate) struct Pending {
    queue: Mutex<Queue>,
    capacity: usize,
    capacity_bytes: usize,
    overflowed: AtomicU64,
    ledger: OnceLock<Ledger>,
    /// Woken whenever reports leave (acknowledged, dropped, refused).
    left: Notify,
}

impl Pending {
    pub(crate) fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            capacity_bytes: capacity_bytes.max(1),
            overflowed: AtomicU64::new(0),
            ledger: OnceLock::new(),
            left: Notify::new(),
        }
    }

    /// Where acknowledgements and losses are entered from now on.
    pub(crate) fn count_in(&self, ledger: Ledger) {
        let _ = self.ledger.set(ledger);
    }

    fn delivered(&self, receipts: &[Receipt]) {
        if let Some(ledger) = self.ledger.get() {
            for receipt in receipts {
                ledger.delivered(*receipt);
            }
        }
        self.left.notify_waiters();
    }

    fn lost(&self, receipts: &[Receipt], reason: &str) {
        self.overflowed
            .fetch_add(receipts.len() as u64, Ordering::Relaxed);
        if let Some(ledger) = self.ledger.get() {
            for receipt in receipts {
                ledger.lost(*receipt, &reason);
            }
        }
        self.left.notify_waiters();
    }

    /// Adds a report; while over the count or the bytes, the oldest are
    /// dropped and counted.
    pub(crate) fn push(&self, report: Report, receipt: Receipt) {
        let bytes = report.serialized_len();
        let mut dropped = Vec::new();
        if let Ok(mut queue) = self.queue.lock() {
            queue.bytes += bytes;
            queue.last_seq += 1;
            let seq = queue.last_seq;
            queue.reports.push_back(Waiting {
                report,
                bytes,
                seq,
                receipt,
            });
            while queue.reports.len() > self.capacity
                || (queue.bytes > self.capacity_bytes && queue.reports.len() > 1)
            {
                if let Some(gone) = queue.reports.pop_front() {
                    queue.bytes -= gone.bytes;
                    dropped.push(gone.receipt);
                }
            }
        }
        if !dropped.is_empty() {
            self.lost(&dropped, "the buffer of unacknowledged reports is full");
        }
    }

    /// The seq of the last report pushed (0 before the first).
    pub(crate) fn last_seq(&self) -> u64 {
        self.queue.lock().map(|q| q.last_seq).unwrap_or(0)
    }

    /// Whether no report pushed up to `seq` is waiting any more.
    fn is_resolved(&self, seq: u64) -> bool {
        self.queue
            .lock()
            .map(|q| q.reports.front().is_none_or(|w| w.seq > seq))
            .unwrap_or(true)
    }

    /// Waits until every report pushed up to `seq` was acknowledged,
    /// dropped or refused.
    pub(crate) async fn resolved(&self, seq: u64) {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            // registered before the check, so no wake-up is missed
            left.as_mut().enable();
            if self.is_resolved(seq) {
                return;
            }
            left.await;
        }
    }

    /// A flush: waits (when `wait`; a stopped sink sends nothing more)
    /// until every report pushed before it left the buffer. Whether one of
    /// them was lost is in the ledger, for the layer's flush to read.
    pub(crate) async fn flush(&self, wait: bool) -> Result<(), SinkError> {
        let upto = self.last_seq();
        if wait {
            self.resolved(upto).await;
        } else if !self.is_resolved(upto) {
            return Err(SinkError::retryable(
                "the sink stopped with reports unacknowledged",
            ));
        }
        Ok(())
    }

    /// Up to `max` reports and about `max_bytes` (the first one whatever it
    /// weighs), oldest first, that `skip` does not exclude, with their
    /// serialised size. Only what is taken is copied.
    pub(crate) fn take_copy(
        &self,
        max: usize,
        max_bytes: usize,
        skip: impl Fn(&ReportId) -> bool,
    ) -> Vec<(Report, usize)> {
        let Ok(queue) = self.queue.lock() else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        let mut bytes = 0usize;
        for waiting in queue.reports.iter().filter(|w| !skip(&w.report.id)) {
            if taken.len() >= max || (!taken.is_empty() && bytes + waiting.bytes > max_bytes) {
                break;
            }
            bytes += waiting.bytes;
            taken.push((waiting.report.clone(), waiting.bytes));
        }
        taken
    }

    /// Takes the reports in `ids` out; their receipts.
    fn remove(&self, ids: &HashSet<ReportId>) -> Vec<Receipt> {
        let mut removed = Vec::new();
        if ids.is_empty() {
            return removed;
        }
        if let Ok(mut queue) = self.queue.lock() {
            let mut freed = 0;
            queue.reports.retain(|w| {
                let keep = !ids.contains(&w.report.id);
                if !keep {
                    freed += w.bytes;
                    removed.push(w.receipt);
                }
                keep
            });
            queue.bytes -= freed;
        }
        removed
    }

    /// Forgets acknowledged reports (entered as delivered once each). The
    /// caller passes only ids it sent: an ack for anything else is no
    /// delivery.
    pub(crate) fn ack(&self, ids: &HashSet<ReportId>) {
        let acked = self.remove(ids);
        if !acked.is_empty() {
            self.delivered(&acked);
        }
    }

    /// Drops a report the server refused for good, and counts it.
    pub(crate) fn refuse(&self, id: ReportId) {
        let removed = self.remove(&HashSet::from([id]));
        if !removed.is_empty() {
            self.lost(&removed, "the server refused a report for good");
        }
    }

    /// Drops (and counts) every report heavier than `limit` bytes: the
    /// server said it accepts nothing larger. Returns how many.
    pub(crate) fn refuse_larger_than(&self, limit: usize) -> usize {
        let heavy: Vec<ReportId> = match self.queue.lock() {
            Ok(queue) => queue
                .reports
                .iter()
                .filter(|w| w.bytes > limit)
                .map(|w| w.report.id)
                .collect(),
            Err(_) => Vec::new(),
        };
        for id in &heavy {
            self.refuse(*id);
        }
        heavy.len()
    }

    /// The server accepts nothing over `limit` bytes, of which `envelope`
    /// go around a report: every report that cannot fit is dropped,
    /// counted, and said on stderr.
    pub(crate) fn refuse_over_limit(&self, limit: usize, envelope: usize) {
        let dropped = self.refuse_larger_than(limit.saturating_sub(envelope));
        if dropped > 0 {
            crate::diag::warn(format_args!(
                "lifecycle: {dropped} report(s) larger than the server accepts ({limit} bytes) were dropped"
            ));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().map(|q| q.reports.len()).unwrap_or(0)
    }

    /// Reports dropped because the buffer was full or the server refused them.
    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(message: &str) -> Report {
        Report::sample(message)
    }

    fn receipt(seq: u64) -> Receipt {
        Receipt { seq }
    }

    #[test]
    fn the_buffer_is_bounded_by_count_and_by_bytes() {
        let pending = Pending::new(3, usize::MAX);
        for i in 0..5 {
            pending.push(report(&i.to_string()), receipt(i));
        }
        assert_eq!((pending.len(), pending.overflowed()), (3, 2));
        let one = report("").serialized_len();
        let pending = Pending::new(1000, one * 2 + 10_000);
        pending.push(report(&"x".repeat(10_000)), receipt(1));
        pending.push(report(""), receipt(2));
        pending.push(report(""), receipt(3));
        // the heavy oldest one went to make room
        assert_eq!((pending.len(), pending.overflowed()), (2, 1));
    }

    #[test]
    fn refused_reports_are_dropped_and_counted() {
        let pending = Pending::new(100, usize::MAX);
        let small = report("small");
        let big = report(&"x".repeat(5_000));
        let id = small.id;
        pending.push(small, receipt(1));
        pending.push(big, receipt(2));
        assert_eq!(pending.refuse_larger_than(4_000), 1);
        assert_eq!(pending.len(), 1);
        pending.refuse(id);
        assert_eq!((pending.len(), pending.overflowed()), (0, 2));
        // a report already gone is not counted twice
        pending.refuse(id);
        assert_eq!(pending.overflowed(), 2);
    }

    /// Acks and losses reach the ledger once per report, with the report's
    /// receipt (so the layer's flush can tell which capture was lost).
    #[test]
    fn fates_are_entered_in_the_ledger() {
        use std::sync::Arc;
        let counters = Arc::new(crate::sink::SinkCounters::default());
        let losses = Arc::new(crate::sink::Losses::default());
        let pending = Pending::new(2, usize::MAX);
        pending.count_in(Ledger::new(Arc::clone(&counters), Arc::clone(&losses)));
        let acked = report("acked");
        let acked_id = acked.id;
        pending.push(acked, receipt(10));
        pending.push(report("pushed out"), receipt(11));
        pending.ack(&HashSet::from([acked_id]));
        pending.ack(&HashSet::from([acked_id]));
        pending.push(report("3"), receipt(12));
        pending.push(report("4"), receipt(13));
        assert_eq!(counters.delivered.load(Ordering::Relaxed), 1, "once");
        assert_eq!(counters.failed.load(Ordering::Relaxed), 1);
        assert!(losses.any_between(10, 11), "receipt 11 was lost");
        assert!(!losses.any_between(11, 13), "12 and 13 wait");
    }

    #[tokio::test]
    async fn a_flush_waits_until_what_came_before_it_left() {
        let pending = std::sync::Arc::new(Pending::new(100, usize::MAX));
        let early = report("early");
        let early_id = early.id;
        pending.push(early, receipt(1));
        let upto = pending.last_seq();
        pending.push(report("later"), receipt(2));
        let waiting = {
            let pending = std::sync::Arc::clone(&pending);
            tokio::spawn(async move { pending.resolved(upto).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        pending.ack(&HashSet::from([early_id]));
        tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
            .await
            .expect("resolved once the early report was acknowledged")
            .expect("no panic");
    }
}
