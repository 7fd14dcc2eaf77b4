//! Brute-force throttling: wrong guesses get slower, then refused, without punishing anyone else.
//!
//! Failures are counted per (client network, user name): an IPv4 address, or an IPv6 /64 (one
//! customer's whole prefix). Each failed answer is delayed 0.1 s × 2ⁿ⁻¹ (capped at 25 s, as
//! Nextcloud does); after `max_failures` the key is locked out for [`LOCKOUT`]: its uncached
//! attempts get 429 with `Retry-After` before any argon2 runs. A success resets the key.
//!
//! What it never does: slow a credential that is already verified (the cache answers before the
//! throttle is asked), count a stale client sending a revoked or expired app password (refused
//! from its record for free, so it cannot lock out the same user's other apps behind the same
//! NAT: Nextcloud #51533), or count requests without credentials. Memory is bounded: at most
//! [`MAX_KEYS`] keys, the stalest dropped first.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a locked-out key stays refused after its last failure.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(60 * 60);
/// The longest delay of one failed answer.
const MAX_DELAY: Duration = Duration::from_secs(25);
/// Most keys kept; beyond, the stalest go.
pub const MAX_KEYS: usize = 100_000;

/// The throttle's tuning, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Off: nothing is delayed or refused.
    pub enabled: bool,
    /// Failures before the lockout.
    pub max_failures: u32,
    /// Networks never throttled (a company's own LAN, a monitoring host).
    pub trusted: Vec<IpNet>,
}

/// What to do with an attempt before verifying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse without verifying; the client may retry after this long.
    Refuse {
        /// Time until the lockout ends.
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    network: IpAddr,
    user: String,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    failures: u32,
    last: Instant,
}

/// One surface's throttle (WebDAV has one, the web login will have its own).
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl Throttle {
    /// May this (address, user) try now?
    pub fn check(&self, policy: &Policy, ip: IpAddr, user: &str) -> Verdict {
        let Some(key) = key(policy, ip, user) else { return Verdict::Allow };
        let now = Instant::now();
        let buckets = self.lock();
        match buckets.get(&key) {
            Some(b) if b.failures >= policy.max_failures && now - b.last < LOCKOUT => {
                Verdict::Refuse { retry_after: LOCKOUT - (now - b.last) }
            }
            _ => Verdict::Allow,
        }
    }

    /// Counts a failure; returns how long to hold the answer back.
    pub fn record_failure(&self, policy: &Policy, ip: IpAddr, user: &str) -> Duration {
        let Some(key) = key(policy, ip, user) else { return Duration::ZERO };
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            evict(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { failures: 0, last: now });
        if now - bucket.last > WINDOW {
            bucket.failures = 0;
        }
        bucket.failures = bucket.failures.saturating_add(1);
        bucket.last = now;
        delay(bucket.failures)
    }

    /// A success: the key starts over.
    pub fn record_success(&self, policy: &Policy, ip: IpAddr, user: &str) {
        if let Some(key) = key(policy, ip, user) {
            self.lock().remove(&key);
        }
    }

    /// Keys currently tracked (for tests and stats).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The delay of the `n`th failure in a row: 0.1 s × 2ⁿ⁻¹, at most 25 s.
fn delay(n: u32) -> Duration {
    let factor = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_millis(100u64.saturating_mul(factor)).min(MAX_DELAY)
}

/// The key of an attempt, or None when it is not throttled (off, or a trusted network).
fn key(policy: &Policy, ip: IpAddr, user: &str) -> Option<Key> {
    let ip = canonical(ip);
    if !policy.enabled || policy.trusted.iter().any(|n| n.contains(&ip)) {
        return None;
    }
    let network = match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    };
    let user = user.chars().take(64).collect::<String>().to_lowercase();
    Some(Key { network, user })
}

/// IPv4 clients reaching an IPv6 socket appear as `::ffff:a.b.c.d`: count them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Makes room: forget what is past the window, and if that is not enough, the stalest tenth.
fn evict(buckets: &mut HashMap<Key, Bucket>, now: Instant) {
    buckets.retain(|_, b| now - b.last <= WINDOW);
    if buckets.len() >= MAX_KEYS {
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.last).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 10];
        buckets.retain(|_, b| b.last > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy { enabled: true, max_failures: 3, trusted: vec!["10.0.0.0/8".parse().unwrap()] }
    }

    #[test]
    fn delays_double_and_are_capped() {
        assert_eq!(delay(1), Duration::from_millis(100));
        assert_eq!(delay(2), Duration::from_millis(200));
        assert_eq!(delay(5), Duration::from_millis(1600));
        assert_eq!(delay(9), MAX_DELAY);
        assert_eq!(delay(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn failures_lock_out_that_user_on_that_network_only() {
        let (t, p) = (Throttle::default(), policy());
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.check(&p, attacker, "alice"), Verdict::Allow);
            t.record_failure(&p, attacker, "Alice");
        }
        assert!(matches!(t.check(&p, attacker, "alice"), Verdict::Refuse { .. }));
        assert_eq!(t.check(&p, attacker, "bob"), Verdict::Allow);
        assert_eq!(t.check(&p, "198.51.100.1".parse().unwrap(), "alice"), Verdict::Allow);
        t.record_success(&p, attacker, "alice");
        assert_eq!(t.check(&p, attacker, "alice"), Verdict::Allow);
    }

    #[test]
    fn an_ipv6_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let (t, p) = (Throttle::default(), policy());
        for i in 1..=3 {
            t.record_failure(&p, format!("2001:db8:1:2::{i}").parse().unwrap(), "alice");
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(matches!(t.check(&p, neighbour, "alice"), Verdict::Refuse { .. }));
        assert_eq!(t.check(&p, "2001:db8:1:3::1".parse().unwrap(), "alice"), Verdict::Allow);
        for _ in 0..3 {
            t.record_failure(&p, "::ffff:203.0.113.9".parse().unwrap(), "bob");
        }
        assert!(matches!(
            t.check(&p, "203.0.113.9".parse().unwrap(), "bob"),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn trusted_networks_and_a_disabled_policy_are_never_throttled() {
        let t = Throttle::default();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(t.record_failure(&policy(), lan, "alice"), Duration::ZERO);
        }
        assert_eq!(t.check(&policy(), lan, "alice"), Verdict::Allow);
        let off = Policy { enabled: false, ..policy() };
        let wan: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..10 {
            t.record_failure(&off, wan, "alice");
        }
        assert_eq!(t.check(&off, wan, "alice"), Verdict::Allow);
        assert!(t.is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_user_names() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..(MAX_KEYS + 5_000) {
            t.record_failure(&p, ip, &format!("user{i}"));
        }
        assert!(t.len() <= MAX_KEYS);
    }
}
