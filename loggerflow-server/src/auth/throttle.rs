//! The failure throttle of logins: HTTP Basic and the login form alike.
//!
//! Per client, the first [`FREE`] failures cost nothing; after the n-th
//! failure the client is blocked for 2^(n − FREE) seconds, at most
//! [`MAX_BLOCK`]. While blocked, every attempt is answered 429 *before* its
//! credentials count, so guessing on in parallel gains nothing. A success
//! clears the client; failures are forgotten after [`FORGET`] without one.
//! So a real user who mistyped five times waits a second, and an attacker
//! gets a handful of guesses a minute instead of thousands a second.
//!
//! A client is its IP address (an IPv6 client is its /64: one host commonly
//! holds a whole /64). Written here rather than with `governor`: the check
//! must look at a client's state without spending a guess, which a
//! rate limiter's `check` does not offer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures that cost nothing.
pub const FREE: u32 = 5;
/// The longest block.
pub const MAX_BLOCK: Duration = Duration::from_secs(60);
/// Failures are forgotten after this long without one.
pub const FORGET: Duration = Duration::from_secs(15 * 60);
/// Clients tracked at most (the oldest harmless entries are dropped first).
const MAX_CLIENTS: usize = 65_536;

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right: let it in.
    Allowed,
    /// The credentials are wrong (recorded).
    Refused,
    /// The client is blocked for this much longer; its credentials were
    /// not looked at.
    Blocked(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    fn blocked_until(&self) -> Option<Instant> {
        let over = self.count.checked_sub(FREE)?;
        let block = Duration::from_secs(1u64 << over.min(6)).min(MAX_BLOCK);
        Some(self.last + block)
    }
}

/// Failures per client.
#[derive(Debug, Default)]
pub struct Throttle {
    clients: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    /// Judges an attempt of `client` whose credentials are `right` (worked
    /// out before, in constant time), at `now`.
    pub fn attempt(&self, client: IpAddr, right: bool, now: Instant) -> Verdict {
        let client = crate::connections::client_key(client);
        let mut clients = match self.clients.lock() {
            Ok(clients) => clients,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(failures) = clients.get(&client).copied() {
            if now.duration_since(failures.last) > FORGET {
                clients.remove(&client);
            } else if let Some(until) = failures.blocked_until().filter(|u| *u > now) {
                return Verdict::Blocked(until - now);
            }
        }
        if right {
            clients.remove(&client);
            return Verdict::Allowed;
        }
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            prune(&mut clients, now);
        }
        let failures = clients.entry(client).or_insert(Failures {
            count: 0,
            last: now,
        });
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        Verdict::Refused
    }
}

/// Makes room: forgets stale clients, then the ones with the fewest failures.
fn prune(clients: &mut HashMap<IpAddr, Failures>, now: Instant) {
    clients.retain(|_, f| now.duration_since(f.last) <= FORGET);
    if clients.len() >= MAX_CLIENTS {
        clients.retain(|_, f| f.count >= FREE);
    }
    if clients.len() >= MAX_CLIENTS {
        // all blocked: keep the half blocked longest
        let mut counts: Vec<u32> = clients.values().map(|f| f.count).collect();
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        clients.retain(|_, f| f.count > median);
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 8));

    #[test]
    fn five_failures_are_free_then_blocks_double_up_to_a_minute() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..FREE {
            assert_eq!(throttle.attempt(A, false, t0), Verdict::Refused);
        }
        // blocked for 1 s, even with the right password
        assert_eq!(
            throttle.attempt(A, true, t0),
            Verdict::Blocked(Duration::from_secs(1))
        );
        // another client is not affected
        assert_eq!(throttle.attempt(B, true, t0), Verdict::Allowed);
        let t1 = t0 + Duration::from_millis(1001);
        assert_eq!(throttle.attempt(A, false, t1), Verdict::Refused);
        assert_eq!(
            throttle.attempt(A, false, t1),
            Verdict::Blocked(Duration::from_secs(2))
        );
        let mut t = t1;
        for _ in 0..20 {
            t += MAX_BLOCK;
            assert_eq!(throttle.attempt(A, false, t), Verdict::Refused);
        }
        assert_eq!(throttle.attempt(A, true, t), Verdict::Blocked(MAX_BLOCK));
        // the right password after the block clears everything
        t += MAX_BLOCK;
        assert_eq!(throttle.attempt(A, true, t), Verdict::Allowed);
        assert_eq!(throttle.attempt(A, false, t), Verdict::Refused);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_quarter_hour() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..FREE {
            throttle.attempt(A, false, t0);
        }
        let later = t0 + FORGET + Duration::from_secs(1);
        for _ in 0..FREE {
            assert_eq!(throttle.attempt(A, false, later), Verdict::Refused);
        }
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..FREE {
            let ip: IpAddr = format!("2001:db8:1:2::{i}").parse().expect("ip");
            throttle.attempt(ip, false, t0);
        }
        let other: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        assert!(matches!(
            throttle.attempt(other, true, t0),
            Verdict::Blocked(_)
        ));
    }

    #[test]
    fn the_table_stays_bounded() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            throttle.attempt(IpAddr::V4(i.into()), false, t0);
        }
        let len = throttle.clients.lock().map(|c| c.len()).unwrap_or_default();
        assert!(len <= MAX_CLIENTS, "{len}");
    }
}
