//! Brute-force throttling: wrong guesses get slower, then refused, without punishing anyone else.
//!
//! Attempts are counted per (client network, user name): an IPv4 address, or an IPv6 /64 (one
//! customer's whole prefix). An attempt is charged *before* it is verified ([`Throttle::admit`]),
//! so parallel connections cannot each slip a guess past the count; a success clears the key,
//! and an attempt that turns out not to be a guess (a stale revoked password) is refunded. Each
//! failed answer is delayed 0.1 s × 2ⁿ⁻¹ (capped at 25 s, as Nextcloud does); after
//! `max_failures` the key is locked out for [`LOCKOUT`]: its uncached attempts get 429 with
//! `Retry-After` before any argon2 runs, except one per [`TRICKLE`], so that a new device of the
//! user behind the same address gets in within a minute of retrying (app-password secrets are
//! 140 random bits: one guess a minute is no risk, and neither is its argon2 cost).
//!
//! What it never does: slow a credential that is already verified (the cache answers before the
//! throttle is asked), count a stale client sending a revoked or expired app password (refused
//! from its record for free, so it cannot lock out the same user's other apps behind the same
//! NAT: Nextcloud #51533), or count requests without credentials. Memory is bounded: at most
//! [`MAX_KEYS`] keys. When full, what is past the window goes first, then a tenth of the rest,
//! the least telling first: unlocked keys with the fewest failures, stalest first. A locked-out
//! key goes only once nothing but locked-out keys is left, so a flood of made-up user names (one
//! failure each) can never erase a lockout.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a locked-out key stays refused after its last failure.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(60 * 60);
/// During a lockout, one attempt per this long is still verified.
pub const TRICKLE: Duration = Duration::from_secs(60);
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
    /// Let one attempt a minute through a lockout. Right for app passwords (140 random bits:
    /// a user's new device gets in, an attacker gains nothing); wrong for the web login, where
    /// it would be a guess a minute at a password a person chose.
    pub trickle: bool,
}

impl Policy {
    /// The policy the settings ask for (both surfaces share the settings, not the counts).
    pub fn from_settings(s: &crate::store::Settings) -> Self {
        Self {
            enabled: s.login_throttle,
            max_failures: s.login_max_failures,
            trusted: s.login_trusted_networks.clone(),
            trickle: true,
        }
    }
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
    /// Attempts charged (failures, and attempts still being verified).
    failures: u32,
    /// The last charge.
    last: Instant,
    /// The last attempt let through during a lockout.
    trickled: Option<Instant>,
}

/// One surface's throttle (WebDAV has one, the web login will have its own).
#[derive(Debug)]
pub struct Throttle {
    buckets: Mutex<HashMap<Key, Bucket>>,
    capacity: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::with_capacity(MAX_KEYS)
    }
}

impl Throttle {
    /// A throttle tracking at most `capacity` keys (default [`MAX_KEYS`]; small in tests).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// Charges an attempt of this (address, user), or refuses it during a lockout. Call before
    /// verifying; then [`Throttle::failed`], [`Throttle::refund`] or [`Throttle::record_success`].
    pub fn admit(&self, policy: &Policy, ip: IpAddr, user: &str) -> Verdict {
        let Some(key) = key(policy, ip, user) else { return Verdict::Allow };
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() >= self.capacity && !buckets.contains_key(&key) {
            evict(&mut buckets, now, policy.max_failures, self.capacity);
        }
        let bucket =
            buckets.entry(key).or_insert(Bucket { failures: 0, last: now, trickled: None });
        if now - bucket.last > WINDOW {
            bucket.failures = 0;
        }
        if bucket.failures >= policy.max_failures && now - bucket.last < LOCKOUT {
            let due = policy.trickle && bucket.trickled.is_none_or(|t| now - t >= TRICKLE);
            if !due {
                return Verdict::Refuse { retry_after: LOCKOUT - (now - bucket.last) };
            }
            bucket.trickled = Some(now);
        }
        bucket.failures = bucket.failures.saturating_add(1);
        bucket.last = now;
        Verdict::Allow
    }

    /// The admitted attempt failed as a guess: how long to hold the answer back.
    pub fn failed(&self, policy: &Policy, ip: IpAddr, user: &str) -> Duration {
        let Some(key) = key(policy, ip, user) else { return Duration::ZERO };
        self.lock().get(&key).map_or(Duration::ZERO, |b| delay(b.failures))
    }

    /// The admitted attempt was no guess (a stale client, a disabled account): take it back.
    pub fn refund(&self, policy: &Policy, ip: IpAddr, user: &str) {
        if let Some(key) = key(policy, ip, user)
            && let Some(bucket) = self.lock().get_mut(&key)
        {
            bucket.failures = bucket.failures.saturating_sub(1);
        }
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
    let network = network(policy, ip)?;
    let user = user.chars().take(64).collect::<String>().to_lowercase();
    Some(Key { network, user })
}

/// The client network of `ip` as the throttle and the address budget count it (an IPv4
/// address, an IPv6 /64), or None when it is not throttled (off, or a trusted network).
pub fn network(policy: &Policy, ip: IpAddr) -> Option<IpAddr> {
    let ip = canonical(ip);
    if !policy.enabled || policy.trusted.iter().any(|n| n.contains(&ip)) {
        return None;
    }
    Some(match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    })
}

/// IPv4 clients reaching an IPv6 socket appear as `::ffff:a.b.c.d`: count them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True while `bucket` is locked out.
fn is_locked(bucket: &Bucket, max_failures: u32, now: Instant) -> bool {
    bucket.failures >= max_failures && now - bucket.last < LOCKOUT
}

/// Makes room: forget what is past the window, and if that is not enough, a tenth of the
/// capacity, least telling first. Ranked by (locked, failures, last charge): every unlocked key
/// goes before any locked one, few failures before many, stale before recent.
fn evict(buckets: &mut HashMap<Key, Bucket>, now: Instant, max_failures: u32, capacity: usize) {
    buckets.retain(|_, b| now - b.last <= WINDOW);
    if buckets.len() < capacity {
        return;
    }
    let rank = |b: &Bucket| (is_locked(b, max_failures, now), b.failures, b.last);
    let mut ranks: Vec<_> = buckets.values().map(rank).collect();
    let nth = (capacity / 10).clamp(1, ranks.len() - 1);
    let (_, cutoff, _) = ranks.select_nth_unstable(nth);
    let cutoff = *cutoff;
    buckets.retain(|_, b| rank(b) > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One failed guess, as the gate records it.
    fn fail(t: &Throttle, p: &Policy, ip: IpAddr, user: &str) -> Duration {
        assert_eq!(t.admit(p, ip, user), Verdict::Allow);
        t.failed(p, ip, user)
    }

    fn policy() -> Policy {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        Policy { enabled: true, max_failures: 3, trusted, trickle: true }
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
    fn without_the_trickle_a_lockout_refuses_everything() {
        let (t, p) = (Throttle::default(), Policy { trickle: false, ..policy() });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            fail(&t, &p, ip, "alice");
        }
        assert!(matches!(t.admit(&p, ip, "alice"), Verdict::Refuse { .. }));
    }

    #[test]
    fn parallel_attempts_are_charged_before_verification() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        // Ten connections ask at once, before any answer: only three get through, plus the
        // one-a-minute trickle of a lockout.
        let admitted = (0..10).filter(|_| t.admit(&p, ip, "alice") == Verdict::Allow).count();
        assert_eq!(admitted, 3 + 1);
    }

    #[test]
    fn failures_lock_out_that_user_on_that_network_only() {
        let (t, p) = (Throttle::default(), policy());
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            fail(&t, &p, attacker, "Alice");
        }
        // One attempt a minute still goes through (a new device of alice's), then refusals.
        assert_eq!(t.admit(&p, attacker, "alice"), Verdict::Allow);
        assert!(matches!(t.admit(&p, attacker, "alice"), Verdict::Refuse { .. }));
        assert_eq!(t.admit(&p, attacker, "bob"), Verdict::Allow);
        assert_eq!(t.admit(&p, "198.51.100.1".parse().unwrap(), "alice"), Verdict::Allow);
        t.record_success(&p, attacker, "alice");
        assert_eq!(t.admit(&p, attacker, "alice"), Verdict::Allow);
    }

    #[test]
    fn refunds_take_back_what_was_no_guess() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..20 {
            assert_eq!(t.admit(&p, ip, "alice"), Verdict::Allow);
            t.refund(&p, ip, "alice");
        }
        assert_eq!(fail(&t, &p, ip, "alice"), Duration::from_millis(100));
    }

    #[test]
    fn an_ipv6_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let (t, p) = (Throttle::default(), policy());
        for i in 1..=4 {
            fail(&t, &p, format!("2001:db8:1:2::{i}").parse().unwrap(), "alice");
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(matches!(t.admit(&p, neighbour, "alice"), Verdict::Refuse { .. }));
        assert_eq!(t.admit(&p, "2001:db8:1:3::1".parse().unwrap(), "alice"), Verdict::Allow);
        for _ in 0..4 {
            fail(&t, &p, "::ffff:203.0.113.9".parse().unwrap(), "bob");
        }
        let same: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(matches!(t.admit(&p, same, "bob"), Verdict::Refuse { .. }));
    }

    #[test]
    fn trusted_networks_and_a_disabled_policy_are_never_throttled() {
        let t = Throttle::default();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(fail(&t, &policy(), lan, "alice"), Duration::ZERO);
        }
        let off = Policy { enabled: false, ..policy() };
        let wan: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..10 {
            fail(&t, &off, wan, "alice");
        }
        assert!(t.is_empty());
    }

    #[test]
    fn a_flood_of_user_names_never_evicts_a_lockout() {
        let (t, p) = (Throttle::with_capacity(1_000), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            fail(&t, &p, ip, "bob");
        }
        assert_eq!(t.admit(&p, ip, "bob"), Verdict::Allow, "the trickle");
        // Names that failed twice rank above those that failed once, but below the lockout.
        for i in 0..200 {
            fail(&t, &p, ip, &format!("twice{i}"));
            fail(&t, &p, ip, &format!("twice{i}"));
        }
        for i in 0..50_000 {
            fail(&t, &p, ip, &format!("spray{i}"));
            assert!(t.len() <= 1_000);
        }
        assert!(matches!(t.admit(&p, ip, "bob"), Verdict::Refuse { .. }), "still locked out");
        let kept = t.lock().keys().filter(|k| k.user.starts_with("twice")).count();
        assert_eq!(kept, 200, "two failures outlast one");
    }

    #[test]
    fn a_table_of_lockouts_only_still_stays_bounded() {
        let (t, p) = (Throttle::with_capacity(100), Policy { trickle: false, ..policy() });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..1_000 {
            for _ in 0..3 {
                fail(&t, &p, ip, &format!("locked{i}"));
            }
        }
        assert!(t.len() <= 100);
        assert!(matches!(t.admit(&p, ip, "locked999"), Verdict::Refuse { .. }), "newest kept");
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_user_names() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..(MAX_KEYS + 5_000) {
            fail(&t, &p, ip, &format!("user{i}"));
        }
        assert!(t.len() <= MAX_KEYS);
    }
}
