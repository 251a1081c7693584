//! How many new projects and instances one client may bring per hour.
//!
//! Ingest is open by default (and with `--ingest-key` open to every app
//! holding the key), and a new project or instance is a row that stays: a
//! loop over random names would fill the disk and the dashboard. So each
//! client (its IP address, see [`crate::connections::client_ip`]) may
//! create at most `per_hour` of each per hour, all at once if it likes (the
//! burst is the hourly number); then it gets 429 until the allowance
//! refills. Projects and instances that exist are never limited. `0` turns
//! a limit off. A keyed GCRA limiter from `governor`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as Allowance, RateLimiter};

/// What is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum New {
    /// A project.
    Project,
    /// An instance (one run of an app).
    Instance,
}

/// The allowances of every client.
pub struct Quota {
    projects: Option<DefaultKeyedRateLimiter<IpAddr>>,
    instances: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    calls: AtomicU32,
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quota")
            .field("projects", &self.projects.is_some())
            .field("instances", &self.instances.is_some())
            .finish_non_exhaustive()
    }
}

fn limiter(per_hour: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    NonZeroU32::new(per_hour).map(|n| RateLimiter::keyed(Allowance::per_hour(n)))
}

impl Quota {
    /// At most `projects` new projects and `instances` new instances per
    /// client and hour (`0`: no limit).
    pub fn new(projects: u32, instances: u32) -> Self {
        Self {
            projects: limiter(projects),
            instances: limiter(instances),
            clock: DefaultClock::default(),
            calls: AtomicU32::new(0),
        }
    }

    /// No limits (for jobs that come from no client).
    pub fn unlimited() -> Self {
        Self::new(0, 0)
    }

    /// Spends one of `client`'s allowance for `what`; how long to wait when
    /// none is left.
    pub fn take(&self, client: IpAddr, what: New) -> Result<(), Duration> {
        let limiter = match what {
            New::Project => &self.projects,
            New::Instance => &self.instances,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        // clients whose allowance is full again are forgotten now and then,
        // so the table holds only recent creators
        if self.calls.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            for limiter in [&self.projects, &self.instances].into_iter().flatten() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_hourly_burst_then_waits_others_are_not_affected() {
        let quota = Quota::new(3, 0);
        let a: IpAddr = "203.0.113.1".parse().expect("ip");
        let b: IpAddr = "203.0.113.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(quota.take(a, New::Project).is_ok());
        }
        let wait = quota.take(a, New::Project).expect_err("over the allowance");
        assert!(
            wait > Duration::from_secs(60) && wait <= Duration::from_secs(1200),
            "{wait:?}"
        );
        assert!(quota.take(b, New::Project).is_ok());
        // instances are not limited here (0)
        for _ in 0..1000 {
            assert!(quota.take(a, New::Instance).is_ok());
        }
    }
}
