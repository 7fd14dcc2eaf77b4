//! The sign-in throttle of a surface, wherever its counts live: in memory on the embedded store
//! (one node: [`Throttle`], as it always was), in the store on PostgreSQL, so that every node
//! counts the same failures (10 spread over 3 nodes lock out like 10 on one, with the same
//! delays, and a success on any node starts the key over).
//!
//! Only attempts that are not answered from the credential cache reach a throttle, so the
//! shared one costs the cached hot path nothing; an uncached attempt pays one transaction (an
//! upsert that locks the key's row, the decision, the write) beside its argon2. Rows past the
//! window are swept (at most once a minute per node) and the rows are capped like the memory
//! tiers, so a flood of made-up names cannot grow the table without bound. If the database
//! cannot be reached, [`LoginThrottle::admit`] fails and the attempt is answered 503, never let
//! through uncounted; the later steps (refund, success, delay) log a failure and go on.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::throttle::{Failure, Policy, Throttle, Verdict, WINDOW, charge_row, key_parts};
use crate::clock::Clock;
use crate::store::{self, Store, ThrottleKey};

/// How often one node sweeps the shared rows.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// One surface's throttle: its counts in memory or in the shared store.
#[derive(Debug)]
pub enum LoginThrottle {
    /// The embedded store's one node: counts in memory.
    Local(Throttle),
    /// PostgreSQL: counts every node shares.
    Shared(Shared),
}

/// The counts of one surface in the shared store.
pub struct Shared {
    store: Store,
    /// `"dav"` or `"web"`: the surfaces count apart.
    surface: &'static str,
    /// Most rows kept (as the memory throttle's capacity).
    capacity: usize,
    /// When this node last swept.
    swept: Mutex<Option<Instant>>,
}

impl LoginThrottle {
    /// The throttle of `surface` (`"dav"`, `"web"`) for `store`: shared on PostgreSQL, in
    /// memory (at most `capacity` keys) on the embedded store.
    pub fn new(store: &Store, surface: &'static str, capacity: usize) -> Self {
        if store.is_shared() {
            let swept = Mutex::new(None);
            LoginThrottle::Shared(Shared { store: store.clone(), surface, capacity, swept })
        } else {
            LoginThrottle::Local(Throttle::with_capacity(capacity))
        }
    }

    /// Charges an attempt, or refuses it during a lockout ([`Throttle::admit`]); fails only
    /// when the shared store cannot be reached.
    pub async fn admit(
        &self,
        policy: &Policy,
        ip: IpAddr,
        user: &str,
        clock: &Clock,
    ) -> Result<Verdict, store::Error> {
        let shared = match self {
            LoginThrottle::Local(t) => return Ok(t.admit(policy, ip, user, clock.instant())),
            LoginThrottle::Shared(shared) => shared,
        };
        let Some((network, user)) = key_parts(policy, ip, user) else { return Ok(Verdict::Allow) };
        shared.sweep_if_due(policy, clock).await;
        let key = ThrottleKey { surface: shared.surface, network, user: &user };
        let (policy, now) = (policy.clone(), clock.now());
        shared.store.throttle_charge(key, now, move |row| charge_row(row, &policy, now)).await
    }

    /// The admitted attempt failed as a guess: how long to hold the answer back (the tests'
    /// shorthand for [`LoginThrottle::failure`]).
    #[cfg(test)]
    pub async fn failed(&self, policy: &Policy, ip: IpAddr, user: &str) -> Duration {
        self.failure(policy, ip, user).await.delay
    }

    /// The admitted attempt failed as a guess: how long to hold the answer back, and whether
    /// this failure is the one that locked the key out (for the audit log's one event per
    /// lockout; the same rule on every node, since the count is the shared one).
    pub async fn failure(&self, policy: &Policy, ip: IpAddr, user: &str) -> Failure {
        let shared = match self {
            LoginThrottle::Local(t) => return t.failure(policy, ip, user),
            LoginThrottle::Shared(shared) => shared,
        };
        let Some((network, user)) = key_parts(policy, ip, user) else { return Failure::NONE };
        let key = ThrottleKey { surface: shared.surface, network, user: &user };
        match shared.store.throttle_failures(key).await {
            Ok(failures) => Failure::after(failures, policy),
            Err(e) => {
                log_failure("read a failure count", &e);
                Failure::NONE
            }
        }
    }

    /// The admitted attempt was no guess: take it back.
    pub async fn refund(&self, policy: &Policy, ip: IpAddr, user: &str) {
        let shared = match self {
            LoginThrottle::Local(t) => return t.refund(policy, ip, user),
            LoginThrottle::Shared(shared) => shared,
        };
        let Some((network, user)) = key_parts(policy, ip, user) else { return };
        let key = ThrottleKey { surface: shared.surface, network, user: &user };
        if let Err(e) = shared.store.throttle_refund(key).await {
            log_failure("refund an attempt", &e);
        }
    }

    /// A success: the key starts over, on every node.
    pub async fn record_success(&self, policy: &Policy, ip: IpAddr, user: &str) {
        let shared = match self {
            LoginThrottle::Local(t) => return t.record_success(policy, ip, user),
            LoginThrottle::Shared(shared) => shared,
        };
        let Some((network, user)) = key_parts(policy, ip, user) else { return };
        let key = ThrottleKey { surface: shared.surface, network, user: &user };
        if let Err(e) = shared.store.throttle_clear(key).await {
            log_failure("clear a key after a success", &e);
        }
    }

    /// Keys tracked in memory (0 when they are in the shared store: `davgate status` shows this
    /// node's memory).
    pub fn len(&self) -> usize {
        match self {
            LoginThrottle::Local(t) => t.len(),
            LoginThrottle::Shared(_) => 0,
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("surface", &self.surface).finish_non_exhaustive()
    }
}

impl Shared {
    /// Drops rows past the window and beyond the cap, at most once per [`SWEEP_EVERY`] on this
    /// node (every node sweeps: whichever comes first does the work).
    async fn sweep_if_due(&self, policy: &Policy, clock: &Clock) {
        let now = clock.instant();
        {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if swept.is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY) {
                return;
            }
            *swept = Some(now);
        }
        let before = clock.now() - chrono::Duration::from_std(WINDOW).unwrap_or_default();
        let cap = u64::try_from(self.capacity).unwrap_or(u64::MAX);
        if let Err(e) = self.store.throttle_sweep(before, cap, policy.max_failures).await {
            log_failure("sweep old rows", &e);
        }
    }
}

fn log_failure(what: &str, e: &store::Error) {
    tracing::warn!(target: "davgate::auth", "the shared sign-in throttle could not {what}: {e}");
}

#[cfg(test)]
mod tests {
    use super::super::throttle::delay;
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::testing::{TestStore, conformance};
    use std::sync::Arc;

    fn policy() -> Policy {
        Policy { enabled: true, max_failures: 10, trusted: Vec::new(), trickle: false }
    }

    const IP: &str = "203.0.113.7";

    /// The throttles of two nodes on the store (on redb, one node: the same throttle twice).
    async fn two_nodes(t: &TestStore) -> (Arc<LoginThrottle>, Arc<LoginThrottle>) {
        let one = Arc::new(LoginThrottle::new(&t.store, "dav", 1_000));
        let two = if t.is_shared() {
            Arc::new(LoginThrottle::new(&t.second_node().await, "dav", 1_000))
        } else {
            Arc::clone(&one)
        };
        (one, two)
    }

    /// One failed guess through `throttle`, as the gate records it; the delay it was held.
    async fn fail(throttle: &LoginThrottle, clock: &Clock, user: &str) -> Duration {
        let verdict = throttle.admit(&policy(), IP.parse().unwrap(), user, clock).await.unwrap();
        assert_eq!(verdict, Verdict::Allow);
        throttle.failed(&policy(), IP.parse().unwrap(), user).await
    }

    async fn admitted(throttle: &LoginThrottle, clock: &Clock, user: &str) -> Verdict {
        throttle.admit(&policy(), IP.parse().unwrap(), user, clock).await.unwrap()
    }

    async fn ten_failures_spread_over_two_nodes_lock_out_on_both_with_the_same_delays(
        t: TestStore,
    ) {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let (one, two) = two_nodes(&t).await;
        let mut delays = Vec::new();
        for i in 0..10 {
            let node = if i % 2 == 0 { &one } else { &two };
            delays.push(fail(node, &clock, "alice").await);
        }
        let expected: Vec<Duration> = (1..=10).map(delay).collect();
        assert_eq!(delays, expected, "the delays of ten failures on one node");
        for node in [&one, &two] {
            assert!(matches!(admitted(node, &clock, "alice").await, Verdict::Refuse { .. }));
        }
        assert_eq!(admitted(&two, &clock, "bob").await, Verdict::Allow, "another user");
        manual.advance(super::super::throttle::LOCKOUT);
        assert_eq!(admitted(&one, &clock, "alice").await, Verdict::Allow, "the lockout ended");
    }
    conformance!(ten_failures_spread_over_two_nodes_lock_out_on_both_with_the_same_delays);

    /// Of ten failures spread over two nodes, exactly the tenth says it locked the key out.
    async fn only_the_failure_that_reaches_the_limit_says_it_locked_out(t: TestStore) {
        let clock = ManualClock::new().clock();
        let (one, two) = two_nodes(&t).await;
        let mut locked = Vec::new();
        for i in 0..12 {
            let node = if i % 2 == 0 { &one } else { &two };
            if admitted(node, &clock, "alice").await == Verdict::Allow {
                locked.push(node.failure(&policy(), IP.parse().unwrap(), "alice").await.locked);
            }
        }
        assert_eq!(locked.len(), 10, "the two after the lockout are refused");
        assert_eq!(locked.iter().filter(|l| **l).count(), 1);
        assert!(locked[9], "the tenth failure locks out");
    }
    conformance!(only_the_failure_that_reaches_the_limit_says_it_locked_out);

    async fn a_success_on_one_node_starts_the_key_over_on_both(t: TestStore) {
        let clock = ManualClock::new().clock();
        let (one, two) = two_nodes(&t).await;
        for _ in 0..9 {
            fail(&one, &clock, "alice").await;
        }
        assert_eq!(admitted(&two, &clock, "alice").await, Verdict::Allow);
        two.record_success(&policy(), IP.parse().unwrap(), "alice").await;
        assert_eq!(fail(&one, &clock, "alice").await, delay(1), "counted from one again");
        // A refund takes one charge back, on both.
        assert_eq!(admitted(&two, &clock, "alice").await, Verdict::Allow);
        one.refund(&policy(), IP.parse().unwrap(), "alice").await;
        assert_eq!(two.failed(&policy(), IP.parse().unwrap(), "alice").await, delay(1));
    }
    conformance!(a_success_on_one_node_starts_the_key_over_on_both);

    /// The shared rows stay bounded: rows past the window are swept, and beyond the cap the
    /// least telling go first, never a lockout.
    async fn shared_rows_are_swept_and_capped_without_losing_a_lockout(t: TestStore) {
        if !t.is_shared() {
            return; // The memory throttle's bounds are tested in throttle.rs.
        }
        let manual = ManualClock::new();
        let clock = manual.clock();
        let throttle = LoginThrottle::new(&t.store, "web", 20);
        for i in 0..30 {
            fail(&throttle, &clock, &format!("old{i}")).await;
        }
        manual.advance(WINDOW + SWEEP_EVERY);
        for _ in 0..10 {
            fail(&throttle, &clock, "locked").await;
        }
        assert_eq!(t.store.throttle_rows().await.unwrap(), 1, "rows past the window went");
        for i in 0..40 {
            fail(&throttle, &clock, &format!("spray{i}")).await;
        }
        manual.advance(SWEEP_EVERY);
        assert!(matches!(admitted(&throttle, &clock, "locked").await, Verdict::Refuse { .. }));
        let rows = t.store.throttle_rows().await.unwrap();
        assert!(rows <= 21, "{rows} rows: the cap, and the one charged after the sweep");
        assert!(matches!(admitted(&throttle, &clock, "locked").await, Verdict::Refuse { .. }));
    }
    conformance!(shared_rows_are_swept_and_capped_without_losing_a_lockout);
}
