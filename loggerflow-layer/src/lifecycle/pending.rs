//! Reports waiting for the server's acknowledgement.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::{Report, ReportId};

/// A report and what it weighs serialised.
#[derive(Debug)]
struct Waiting {
    report: Report,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Queue {
    reports: VecDeque<Waiting>,
    bytes: usize,
}

/// A buffer of unacknowledged reports, oldest first, bounded by count and by
/// bytes.
#[derive(Debug)]
pub(crate) struct Pending {
    queue: Mutex<Queue>,
    capacity: usize,
    capacity_bytes: usize,
    overflowed: AtomicU64,
}

impl Pending {
    pub(crate) fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            capacity_bytes: capacity_bytes.max(1),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Adds a report; while over the count or the bytes, the oldest are
    /// dropped and counted.
    pub(crate) fn push(&self, report: Report) {
        let bytes = report.serialized_len();
        if let Ok(mut queue) = self.queue.lock() {
            queue.bytes += bytes;
            queue.reports.push_back(Waiting { report, bytes });
            while queue.reports.len() > self.capacity
                || (queue.bytes > self.capacity_bytes && queue.reports.len() > 1)
            {
                if let Some(dropped) = queue.reports.pop_front() {
                    queue.bytes -= dropped.bytes;
                    self.overflowed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
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

    /// Forgets acknowledged reports.
    pub(crate) fn ack(&self, ids: &[ReportId]) {
        if ids.is_empty() {
            return;
        }
        if let Ok(mut queue) = self.queue.lock() {
            let mut freed = 0;
            queue.reports.retain(|w| {
                let keep = !ids.contains(&w.report.id);
                if !keep {
                    freed += w.bytes;
                }
                keep
            });
            queue.bytes -= freed;
        }
    }

    /// Drops a report the server refused for good, and counts it.
    pub(crate) fn refuse(&self, id: ReportId) {
        let before = self.len();
        self.ack(&[id]);
        if self.len() < before {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
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

    #[test]
    fn the_buffer_is_bounded_by_count_and_by_bytes() {
        let pending = Pending::new(3, usize::MAX);
        for i in 0..5 {
            pending.push(report(&i.to_string()));
        }
        assert_eq!((pending.len(), pending.overflowed()), (3, 2));
        let one = report("").serialized_len();
        let pending = Pending::new(1000, one * 2 + 10_000);
        pending.push(report(&"x".repeat(10_000)));
        pending.push(report(""));
        pending.push(report(""));
        // the heavy oldest one went to make room
        assert_eq!((pending.len(), pending.overflowed()), (2, 1));
    }

    #[test]
    fn refused_reports_are_dropped_and_counted() {
        let pending = Pending::new(100, usize::MAX);
        let small = report("small");
        let big = report(&"x".repeat(5_000));
        let id = small.id;
        pending.push(small);
        pending.push(big);
        assert_eq!(pending.refuse_larger_than(4_000), 1);
        assert_eq!(pending.len(), 1);
        pending.refuse(id);
        assert_eq!((pending.len(), pending.overflowed()), (0, 2));
        // a report already gone is not counted twice
        pending.refuse(id);
        assert_eq!(pending.overflowed(), 2);
    }
}
