//! Reports waiting for the server's acknowledgement.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::{Report, ReportId};

/// A bounded buffer of unacknowledged reports, oldest first.
#[derive(Debug)]
pub(crate) struct Pending {
    reports: Mutex<VecDeque<Report>>,
    capacity: usize,
    overflowed: AtomicU64,
}

impl Pending {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            reports: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Adds a report; when full, the oldest is dropped and counted.
    pub(crate) fn push(&self, report: Report) {
        if let Ok(mut reports) = self.reports.lock() {
            if reports.len() >= self.capacity {
                reports.pop_front();
                self.overflowed.fetch_add(1, Ordering::Relaxed);
            }
            reports.push_back(report);
        }
    }

    /// Up to `max` reports, oldest first, that `skip` does not exclude.
    pub(crate) fn take_copy(&self, max: usize, skip: impl Fn(&ReportId) -> bool) -> Vec<Report> {
        match self.reports.lock() {
            Ok(reports) => reports
                .iter()
                .filter(|r| !skip(&r.id))
                .take(max)
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Forgets acknowledged reports.
    pub(crate) fn ack(&self, ids: &[ReportId]) {
        if ids.is_empty() {
            return;
        }
        if let Ok(mut reports) = self.reports.lock() {
            reports.retain(|r| !ids.contains(&r.id));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.reports.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Counts a report the server refused for good (it is dropped).
    pub(crate) fn count_refused(&self) {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports dropped because the buffer was full or the server refused them.
    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }
}
