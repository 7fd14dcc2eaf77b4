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
//! [`MAX_KEYS`] keys, in three [`Bounded`] tiers by how telling a key is: one failure or none,
//! repeated failures, locked out (at least `max_failures`). Each charge moves its key to the
//! most recent end of its tier. When full, one key goes per new one, in O(1): a key past the
//! window first (the stalest of any tier), else the stalest of the lowest non-empty tier. So a
//! locked-out key goes only once nothing but locked-out keys is left, and a flood of made-up
//! user names (one failure each) only ever pushes out its own kind: it can never erase a
//! lockout, nor a key with repeated failures.
//!
//! Both surfaces have their own counts (WebDAV's in the gate, the web sign-in's in the portal),
//! sharing the settings' [`Policy`] but not the counts. This file keeps them in memory: the
//! embedded store's one node. On the shared store the same decisions ([`charge_row`]) run on
//! rows every node sees ([`super::shared_throttle`]). The time is passed in (`now`, from the
//! owner's [`crate::clock::Clock`]), so the windows are tested without waiting.

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bounded::Bounded;

/// How long a locked-out key stays refused after its last failure.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
pub const WINDOW: Duration = Duration::from_secs(60 * 60);
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
    /// Verify it (the attempt is charged).
    Allow,
    /// Refuse without verifying; the client may retry after this long.
    Refuse {
        /// Time until the lockout ends.
        retry_after: Duration,
    },
}

/// What one failed guess led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// How long to hold the answer back.
    pub delay: Duration,
    /// This failure brought the count to the limit: the key is locked out from now on. Exactly
    /// one failure per lockout says so (the count only grows past the limit during it), which
    /// is what lets the audit log record a lockout once, not once per refused attempt.
    pub locked: bool,
}

impl Failure {
    /// Nothing counted (the throttle is off, or the network trusted).
    pub const NONE: Failure = Failure { delay: Duration::ZERO, locked: false };

    /// The failure that left `failures` charged.
    pub(super) fn after(failures: u32, policy: &Policy) -> Failure {
        Failure { delay: delay(failures), locked: failures == policy.max_failures }
    }
}

/// What is counted: one user name (lower case, at most 64 characters) from one client network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    network: IpAddr,
    user: String,
}

/// One key's count, at monotonic times in memory, wall times in the store.
#[derive(Debug, Clone, Copy)]
struct Bucket<T = Instant> {
    /// Attempts charged (failures, and attempts still being verified).
    failures: u32,
    /// The last charge: the lockout and the window run from it.
    last: T,
    /// The last attempt let through during a lockout.
    trickled: Option<T>,
}

/// A point in time the throttle can measure from: an `Instant` in memory, a wall time in the
/// store (which outlives a process, so a monotonic reading cannot be kept there).
trait Moment: Copy {
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    fn since(self, earlier: Self) -> Duration;
}

impl Moment for Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Moment for DateTime<Utc> {
    fn since(self, earlier: Self) -> Duration {
        (self - earlier).to_std().unwrap_or_default()
    }
}

/// [`Throttle::admit`]'s decision on a stored row at wall time `now`: the row to store and the
/// verdict (the shared throttle's one step inside the store's transaction).
pub(super) fn charge_row(
    row: crate::store::ThrottleRow,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (crate::store::ThrottleRow, Verdict) {
    let mut bucket = Bucket { failures: row.failures, last: row.last, trickled: row.trickled };
    let verdict = charge(&mut bucket, policy, now);
    let row = crate::store::ThrottleRow {
        failures: bucket.failures,
        last: bucket.last,
        trickled: bucket.trickled,
    };
    (row, verdict)
}

/// One surface's counts of failed sign-ins (see the module doc for what it remembers, and for
/// how long).
#[derive(Debug)]
pub struct Throttle {
    tiers: Mutex<Tiers>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::with_capacity(MAX_KEYS)
    }
}

impl Throttle {
    /// A throttle tracking at most `capacity` keys (default [`MAX_KEYS`]; small in tests).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { tiers: Mutex::new(Tiers::new(capacity.max(1))) }
    }

    /// Charges an attempt of this (address, user) at `now`, or refuses it during a lockout.
    /// Call before verifying; then [`Throttle::failed`], [`Throttle::refund`] or
    /// [`Throttle::record_success`].
    pub fn admit(&self, policy: &Policy, ip: IpAddr, user: &str, now: Instant) -> Verdict {
        let Some(key) = key(policy, ip, user) else { return Verdict::Allow };
        let mut tiers = self.lock();
        let mut bucket = match tiers.take(&key) {
            Some(bucket) => bucket,
            None => {
                if tiers.is_full() {
                    tiers.make_room(now);
                }
                Bucket { failures: 0, last: now, trickled: None }
            }
        };
        let verdict = charge(&mut bucket, policy, now);
        tiers.put(key, bucket, policy.max_failures);
        verdict
    }

    /// The admitted attempt failed as a guess: how long to hold the answer back (the tests'
    /// shorthand for [`Throttle::failure`]).
    #[cfg(test)]
    pub fn failed(&self, policy: &Policy, ip: IpAddr, user: &str) -> Duration {
        self.failure(policy, ip, user).delay
    }

    /// The admitted attempt failed as a guess: its delay, and whether it locked the key out.
    pub fn failure(&self, policy: &Policy, ip: IpAddr, user: &str) -> Failure {
        let Some(key) = key(policy, ip, user) else { return Failure::NONE };
        self.lock().peek(&key).map_or(Failure::NONE, |b| Failure::after(b.failures, policy))
    }

    /// The admitted attempt was no guess (a stale client, a disabled account): take it back.
    pub fn refund(&self, policy: &Policy, ip: IpAddr, user: &str) {
        let Some(key) = key(policy, ip, user) else { return };
        let mut tiers = self.lock();
        if let Some(mut bucket) = tiers.take(&key) {
            bucket.failures = bucket.failures.saturating_sub(1);
            tiers.put(key, bucket, policy.max_failures);
        }
    }

    /// A success: the key starts over.
    pub fn record_success(&self, policy: &Policy, ip: IpAddr, user: &str) {
        if let Some(key) = key(policy, ip, user) {
            self.lock().take(&key);
        }
    }

    /// Keys currently tracked (for tests and stats).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tiers> {
        self.tiers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Charges one attempt to `bucket` at `now`, unless a lockout refuses it.
fn charge<T: Moment>(bucket: &mut Bucket<T>, policy: &Policy, now: T) -> Verdict {
    let since = now.since(bucket.last);
    if since > WINDOW {
        bucket.failures = 0;
    }
    if bucket.failures >= policy.max_failures && since < LOCKOUT {
        let due = policy.trickle && bucket.trickled.is_none_or(|t| now.since(t) >= TRICKLE);
        if !due {
            return Verdict::Refuse { retry_after: LOCKOUT - since };
        }
        bucket.trickled = Some(now);
    }
    bucket.failures = bucket.failures.saturating_add(1);
    bucket.last = now;
    Verdict::Allow
}

/// The keys in three tiers, lowest first: at most one failure, repeated failures, locked out.
/// Each tier is ordered by last charge; together they hold at most `capacity` keys.
#[derive(Debug)]
struct Tiers {
    tiers: [Bounded<Key, Bucket>; 3],
    capacity: usize,
}

impl Tiers {
    fn new(capacity: usize) -> Self {
        // Each tier could hold every key; the sum is what [`Tiers::make_room`] keeps bounded.
        let tiers = std::array::from_fn(|_| Bounded::new(capacity));
        Self { tiers, capacity }
    }

    fn len(&self) -> usize {
        self.tiers.iter().map(Bounded::len).sum()
    }

    fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    fn peek(&self, key: &Key) -> Option<&Bucket> {
        self.tiers.iter().find_map(|tier| tier.peek(key))
    }

    /// Removes `key` from whichever tier holds it.
    fn take(&mut self, key: &Key) -> Option<Bucket> {
        self.tiers.iter_mut().find_map(|tier| tier.remove(key))
    }

    /// Puts `key` at the most recent end of the tier its failures rank it in.
    fn put(&mut self, key: Key, bucket: Bucket, max_failures: u32) {
        let tier = if bucket.failures >= max_failures {
            2
        } else if bucket.failures >= 2 {
            1
        } else {
            0
        };
        if let Some(tier) = self.tiers.get_mut(tier) {
            tier.insert(key, bucket);
        }
    }

    /// Forgets one key: a key past the window if a tier's stalest is, else the stalest of the
    /// lowest non-empty tier.
    fn make_room(&mut self, now: Instant) {
        let past_window = |tier: &Bounded<Key, Bucket>| {
            tier.stalest().is_some_and(|(_, b)| now.saturating_duration_since(b.last) > WINDOW)
        };
        if let Some(tier) = self.tiers.iter_mut().find(|tier| past_window(tier)) {
            tier.pop_stalest();
        } else if let Some(tier) = self.tiers.iter_mut().find(|tier| !tier.is_empty()) {
            tier.pop_stalest();
        }
    }

    /// Every tracked user name (tests only).
    #[cfg(test)]
    fn users(&self) -> Vec<String> {
        self.tiers.iter().flat_map(|tier| tier.iter().map(|(k, _)| k.user.clone())).collect()
    }
}

/// The delay of the `n`th failure in a row: 0.1 s × 2ⁿ⁻¹, at most 25 s.
pub(super) fn delay(n: u32) -> Duration {
    let factor = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_millis(100u64.saturating_mul(factor)).min(MAX_DELAY)
}

/// The key of an attempt, or None when it is not throttled (off, or a trusted network).
fn key(policy: &Policy, ip: IpAddr, user: &str) -> Option<Key> {
    let (network, user) = key_parts(policy, ip, user)?;
    Some(Key { network, user })
}

/// The (network, user name) an attempt is counted under, or None when it is not throttled.
pub(super) fn key_parts(policy: &Policy, ip: IpAddr, user: &str) -> Option<(IpAddr, String)> {
    let network = network(policy, ip)?;
    Some((network, user.chars().take(64).collect::<String>().to_lowercase()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The instant every test starts at (only differences matter).
    fn t0() -> Instant {
        static T0: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
        *T0
    }

    fn at(seconds: u64) -> Instant {
        t0() + Duration::from_secs(seconds)
    }

    /// One failed guess, as the gate records it.
    fn fail(t: &Throttle, p: &Policy, ip: IpAddr, user: &str) -> Duration {
        assert_eq!(t.admit(p, ip, user, t0()), Verdict::Allow);
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
        assert!(matches!(t.admit(&p, ip, "alice", t0()), Verdict::Refuse { .. }));
    }

    #[test]
    fn parallel_attempts_are_charged_before_verification() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        // Ten connections ask at once, before any answer: only three get through, plus the
        // one-a-minute trickle of a lockout.
        let admitted = (0..10).filter(|_| t.admit(&p, ip, "alice", t0()) == Verdict::Allow).count();
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
        assert_eq!(t.admit(&p, attacker, "alice", t0()), Verdict::Allow);
        assert!(matches!(t.admit(&p, attacker, "alice", t0()), Verdict::Refuse { .. }));
        assert_eq!(t.admit(&p, attacker, "bob", t0()), Verdict::Allow);
        assert_eq!(t.admit(&p, "198.51.100.1".parse().unwrap(), "alice", t0()), Verdict::Allow);
        t.record_success(&p, attacker, "alice");
        assert_eq!(t.admit(&p, attacker, "alice", t0()), Verdict::Allow);
    }

    /// `n` failed guesses at `now`.
    fn fail_at(t: &Throttle, p: &Policy, ip: IpAddr, user: &str, n: u32, now: Instant) {
        for _ in 0..n {
            assert_eq!(t.admit(p, ip, user, now), Verdict::Allow);
            t.failed(p, ip, user);
        }
    }

    #[test]
    fn a_lockout_ends_the_moment_its_window_has_passed_since_the_last_failure() {
        let (t, p) = (Throttle::default(), Policy { trickle: false, ..policy() });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        fail_at(&t, &p, ip, "alice", 3, at(100));
        let just_before = at(100) + LOCKOUT - Duration::from_secs(1);
        let refused = t.admit(&p, ip, "alice", just_before);
        assert_eq!(refused, Verdict::Refuse { retry_after: Duration::from_secs(1) });
        assert_eq!(t.admit(&p, ip, "alice", at(100) + LOCKOUT), Verdict::Allow);
        // Within the hour the failures still count: the next wrong guess locks it again.
        t.failed(&p, ip, "alice");
        let again = at(101) + LOCKOUT;
        assert!(matches!(t.admit(&p, ip, "alice", again), Verdict::Refuse { .. }));
    }

    #[test]
    fn during_a_lockout_one_attempt_per_trickle_period_is_let_through() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        fail_at(&t, &p, ip, "alice", 3, at(0));
        assert_eq!(t.admit(&p, ip, "alice", at(1)), Verdict::Allow, "the first trickle");
        let next = at(1) + TRICKLE;
        let early = t.admit(&p, ip, "alice", next - Duration::from_secs(1));
        assert!(matches!(early, Verdict::Refuse { .. }));
        assert_eq!(t.admit(&p, ip, "alice", next), Verdict::Allow);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let (t, p) = (Throttle::default(), Policy { trickle: false, ..policy() });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        fail_at(&t, &p, ip, "alice", 2, at(0));
        let later = at(0) + WINDOW + Duration::from_secs(1);
        fail_at(&t, &p, ip, "alice", 2, later);
        assert_eq!(t.admit(&p, ip, "alice", later), Verdict::Allow, "2 fresh failures, not 4");
    }

    #[test]
    fn when_full_a_key_past_the_window_goes_before_any_recent_one() {
        let (t, p) = (Throttle::with_capacity(3), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        fail_at(&t, &p, ip, "old-lockout", 3, at(0));
        let now = at(0) + WINDOW + Duration::from_secs(1);
        fail_at(&t, &p, ip, "recent1", 1, now);
        fail_at(&t, &p, ip, "recent2", 1, now);
        fail_at(&t, &p, ip, "new", 1, now);
        let mut users = t.lock().users();
        users.sort();
        assert_eq!(users, ["new", "recent1", "recent2"]);
    }

    #[test]
    fn refunds_take_back_what_was_no_guess() {
        let (t, p) = (Throttle::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..20 {
            assert_eq!(t.admit(&p, ip, "alice", t0()), Verdict::Allow);
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
        assert!(matches!(t.admit(&p, neighbour, "alice", t0()), Verdict::Refuse { .. }));
        assert_eq!(t.admit(&p, "2001:db8:1:3::1".parse().unwrap(), "alice", t0()), Verdict::Allow);
        for _ in 0..4 {
            fail(&t, &p, "::ffff:203.0.113.9".parse().unwrap(), "bob");
        }
        let same: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(matches!(t.admit(&p, same, "bob", t0()), Verdict::Refuse { .. }));
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
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_flood_of_user_names_never_evicts_a_lockout() {
        let (t, p) = (Throttle::with_capacity(1_000), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            fail(&t, &p, ip, "bob");
        }
        assert_eq!(t.admit(&p, ip, "bob", t0()), Verdict::Allow, "the trickle");
        // Names that failed twice rank above those that failed once, but below the lockout.
        for i in 0..200 {
            fail(&t, &p, ip, &format!("twice{i}"));
            fail(&t, &p, ip, &format!("twice{i}"));
        }
        for i in 0..50_000 {
            fail(&t, &p, ip, &format!("spray{i}"));
            assert!(t.len() <= 1_000);
        }
        assert!(matches!(t.admit(&p, ip, "bob", t0()), Verdict::Refuse { .. }), "still locked out");
        let kept = t.lock().users().iter().filter(|u| u.starts_with("twice")).count();
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
        assert!(
            matches!(t.admit(&p, ip, "locked999", t0()), Verdict::Refuse { .. }),
            "newest kept"
        );
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
