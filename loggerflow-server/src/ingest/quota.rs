//! How many new projects and instances one client may bring per hour.
//!
//! Ingest is open by default (and with `--ingest-key` open to every app
//! holding the key), and a new project or instance is a row that stays: a
//! loop over random names would fill the disk and the dashboard. So each
//! client (its IP address, an IPv6 client its /64; see
//! [`crate::connections::client_key`]) may create at most `per_hour` of each
//! per hour, all at once if it likes (the bucket holds the hourly number);
//! then it gets 429 until the bucket refills. Projects and instances that
//! exist are never limited. `0` turns a limit off.
//!
//! A job's needs (a new project *and* a new instance, say) are taken
//! together or not at all, so a refused job costs its client nothing; this
//! is why these are two small token buckets here rather than `governor`
//! limiters, which can neither take from two at once nor give back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum New {
    /// A project.
    Project,
    /// An instance (one run of an app).
    Instance,
}

/// Clients tracked at most; full buckets are forgotten first.
const MAX_CLIENTS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Buckets {
    projects: f64,
    instances: f64,
    at: Instant,
}

/// The allowances of every client.
#[derive(Debug)]
pub struct Quota {
    projects_per_hour: u32,
    instances_per_hour: u32,
    clients: Mutex<HashMap<IpAddr, Buckets>>,
}

impl Quota {
    /// At most `projects` new projects and `instances` new instances per
    /// client and hour (`0`: no limit).
    pub fn new(projects: u32, instances: u32) -> Self {
        Self {
            projects_per_hour: projects,
            instances_per_hour: instances,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// No limits (for jobs that come from no client).
    pub fn unlimited() -> Self {
        Self::new(0, 0)
    }

    /// Takes `projects` and `instances` of `client`'s allowance at `now`,
    /// both or neither; when there is not enough, what ran out and how long
    /// until there is.
    pub fn take(
        &self,
        client: IpAddr,
        projects: u32,
        instances: u32,
        now: Instant,
    ) -> Result<(), (New, Duration)> {
        let limits = [
            (New::Project, self.projects_per_hour, projects),
            (New::Instance, self.instances_per_hour, instances),
        ];
        if limits
            .iter()
            .all(|(_, per_hour, want)| *per_hour == 0 || *want == 0)
        {
            return Ok(());
        }
        let client = crate::connections::client_key(client);
        let mut clients = match self.clients.lock() {
            Ok(clients) => clients,
            Err(poisoned) => poisoned.into_inner(),
        };
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            self.forget_full(&mut clients, now);
        }
        let buckets = clients.entry(client).or_insert(Buckets {
            projects: f64::from(self.projects_per_hour),
            instances: f64::from(self.instances_per_hour),
            at: now,
        });
        let hours = now.saturating_duration_since(buckets.at).as_secs_f64() / 3600.0;
        buckets.at = now;
        let refill = |level: f64, per_hour: u32| {
            (level + hours * f64::from(per_hour)).min(f64::from(per_hour))
        };
        buckets.projects = refill(buckets.projects, self.projects_per_hour);
        buckets.instances = refill(buckets.instances, self.instances_per_hour);
        for (what, per_hour, want) in limits {
            let level = match what {
                New::Project => buckets.projects,
                New::Instance => buckets.instances,
            };
            if per_hour > 0 && level < f64::from(want) {
                let missing = f64::from(want) - level;
                let wait = Duration::from_secs_f64(missing / f64::from(per_hour) * 3600.0);
                return Err((what, wait.max(Duration::from_secs(1))));
            }
        }
        if self.projects_per_hour > 0 {
            buckets.projects -= f64::from(projects);
        }
        if self.instances_per_hour > 0 {
            buckets.instances -= f64::from(instances);
        }
        Ok(())
    }

    /// Forgets clients whose buckets are full again (they are as if new),
    /// then, if still full, every client.
    fn forget_full(&self, clients: &mut HashMap<IpAddr, Buckets>, now: Instant) {
        let hour = Duration::from_secs(3600);
        clients.retain(|_, b| now.saturating_duration_since(b.at) < hour);
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_hourly_burst_then_waits_others_are_not_affected() {
        let quota = Quota::new(3, 0);
        let now = Instant::now();
        let a: IpAddr = "203.0.113.1".parse().expect("ip");
        let b: IpAddr = "203.0.113.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(quota.take(a, 1, 0, now).is_ok());
        }
        let (what, wait) = quota.take(a, 1, 0, now).expect_err("over the allowance");
        assert_eq!(what, New::Project);
        assert_eq!(wait, Duration::from_secs(1200));
        assert!(quota.take(b, 1, 0, now).is_ok());
        // instances are not limited here (0)
        assert!(quota.take(a, 0, 1000, now).is_ok());
        // twenty minutes later, one more
        let later = now + Duration::from_secs(1200);
        assert!(quota.take(a, 1, 0, later).is_ok());
        assert!(quota.take(a, 1, 0, later).is_err());
    }

    #[test]
    fn a_job_takes_all_it_needs_or_nothing() {
        let quota = Quota::new(2, 1);
        let now = Instant::now();
        let a: IpAddr = "203.0.113.1".parse().expect("ip");
        assert!(quota.take(a, 1, 1, now).is_ok());
        // a new project with a new instance: no instance left, so the
        // project is not taken either
        assert_eq!(
            quota.take(a, 1, 1, now).map_err(|(what, _)| what),
            Err(New::Instance)
        );
        assert!(quota.take(a, 1, 0, now).is_ok());
        assert!(quota.take(a, 1, 0, now).is_err());
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let quota = Quota::new(2, 0);
        let now = Instant::now();
        for i in 1..=2 {
            let ip: IpAddr = format!("2001:db8:1:2::{i}").parse().expect("ip");
            assert!(quota.take(ip, 1, 0, now).is_ok());
        }
        let ip: IpAddr = "2001:db8:1:2::99".parse().expect("ip");
        assert!(quota.take(ip, 1, 0, now).is_err());
    }
}
