//! The per-address argon2 budget: how many password verifications one client network may cost,
//! across every user name, on WebDAV and the web sign-in together.
//!
//! The [`super::throttle`] counts guesses per (network, user name), so it cannot see a client
//! that tries a new name each time; without this budget such a client keeps every argon2 thread
//! busy (everyone else's sign-ins slowed to seconds) and may try a password on every account.
//! Each network (an IPv4 address, an IPv6 /64) holds a bucket of [`BURST`] tokens, refilled by
//! one every [`REFILL`]; a verification takes one before it starts (so parallel connections
//! cannot outrun it), and a refused attempt gets 429 with `Retry-After` without any argon2.
//!
//! Why these numbers never bother an office behind one NAT address: a verified app password is
//! cached, so only a device's first use costs a token, and a successful WebDAV verification
//! gives its token back (it can be earned only once per credential, since the next use is a
//! cache hit). 200 people mounting their drive at nine o'clock therefore spend nothing in the
//! end; at worst 30 of them are verified at the same instant and the 31st retries a second
//! later. Web sign-ins keep their token (a right password is not cached, so a refund would let
//! one account loop on it): 30 at once and then one a second is far more than people sign in.
//! An attacker from one address gets one verification a second: under 3 % of one argon2
//! thread, and 3,600 guesses an hour spread over every account (each account still locked
//! after `login_max_failures`).
//!
//! Networks in `login_trusted_networks` and a disabled `login_throttle` are exempt. Memory is
//! bounded: a full bucket is forgotten, and at most [`MAX_NETWORKS`] are tracked (the fullest
//! dropped first). The bucket is a GCRA (one instant per network); it is written here rather
//! than taken from a rate-limiting crate because it must give tokens back. The time is passed in
//! (`now`, from the owner's [`crate::clock::Clock`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::throttle::{Policy, Verdict, network};

/// Verifications a network may start at once.
pub const BURST: u32 = 30;
/// One more verification per this long.
pub const REFILL: Duration = Duration::from_secs(1);
/// Most networks tracked at once.
pub const MAX_NETWORKS: usize = 100_000;

/// The budget of every client network. One per server, shared by WebDAV and the web sign-in.
#[derive(Debug, Default)]
pub struct AddressBudget {
    /// Per network, the instant its bucket is full again (GCRA's "theoretical arrival time").
    full_at: Mutex<HashMap<IpAddr, Instant>>,
}

impl AddressBudget {
    /// Takes one token at `now` for a verification from `ip`, or refuses with the wait until
    /// one is back.
    pub fn charge(&self, policy: &Policy, ip: IpAddr, now: Instant) -> Verdict {
        let Some(net) = network(policy, ip) else { return Verdict::Allow };
        let span = REFILL * (BURST - 1);
        let mut map = self.lock();
        if map.len() >= MAX_NETWORKS && !map.contains_key(&net) {
            make_room(&mut map, now);
        }
        let full_at = map.entry(net).or_insert(now);
        let start = (*full_at).max(now);
        if start - now > span {
            return Verdict::Refuse { retry_after: start - now - span };
        }
        *full_at = start + REFILL;
        Verdict::Allow
    }

    /// Gives back the token of a verification that turned out to cost nothing worth counting
    /// (a successful WebDAV first use, or one the store could not serve).
    pub fn refund(&self, policy: &Policy, ip: IpAddr, now: Instant) {
        let Some(net) = network(policy, ip) else { return };
        let mut map = self.lock();
        if let Some(full_at) = map.get_mut(&net) {
            *full_at = full_at.checked_sub(REFILL).unwrap_or(now).max(now);
            if *full_at <= now {
                map.remove(&net);
            }
        }
    }

    /// Networks whose bucket is not full (for tests and stats).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.full_at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Forgets full buckets; if every tracked network is draining, the tenth closest to full.
fn make_room(map: &mut HashMap<IpAddr, Instant>, now: Instant) {
    map.retain(|_, full_at| *full_at > now);
    if map.len() >= MAX_NETWORKS {
        let mut times: Vec<Instant> = map.values().copied().collect();
        let (_, cutoff, _) = times.select_nth_unstable(MAX_NETWORKS / 10);
        let cutoff = *cutoff;
        map.retain(|_, full_at| *full_at > cutoff);
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

    fn policy() -> Policy {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        Policy { enabled: true, max_failures: 10, trusted, trickle: true }
    }

    #[test]
    fn a_burst_then_refusals_with_the_wait_until_the_next_token() {
        let (b, p) = (AddressBudget::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..BURST {
            assert_eq!(b.charge(&p, ip, t0()), Verdict::Allow);
        }
        let Verdict::Refuse { retry_after } = b.charge(&p, ip, t0()) else { panic!("over budget") };
        assert!(retry_after <= REFILL && retry_after > Duration::ZERO, "{retry_after:?}");
        assert_eq!(
            b.charge(&p, "203.0.113.8".parse().unwrap(), t0()),
            Verdict::Allow,
            "a neighbour"
        );
    }

    #[test]
    fn refunds_give_tokens_back_and_a_full_bucket_is_forgotten() {
        let (b, p) = (AddressBudget::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..BURST * 10 {
            assert_eq!(b.charge(&p, ip, t0()), Verdict::Allow);
            b.refund(&p, ip, t0());
        }
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn an_ipv6_64_shares_one_budget_and_trusted_networks_have_none() {
        let (b, p) = (AddressBudget::default(), policy());
        for i in 0..BURST {
            assert_eq!(
                b.charge(&p, format!("2001:db8:1:2::{i}").parse().unwrap(), t0()),
                Verdict::Allow
            );
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(matches!(b.charge(&p, neighbour, t0()), Verdict::Refuse { .. }));
        assert_eq!(b.charge(&p, "2001:db8:1:3::1".parse().unwrap(), t0()), Verdict::Allow);
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..BURST * 3 {
            assert_eq!(b.charge(&p, lan, t0()), Verdict::Allow);
        }
        let off = Policy { enabled: false, ..policy() };
        for _ in 0..BURST * 3 {
            assert_eq!(b.charge(&off, neighbour, t0()), Verdict::Allow);
        }
    }

    #[test]
    fn memory_stays_bounded_under_many_networks() {
        let (b, p) = (AddressBudget::default(), policy());
        for i in 0..(MAX_NETWORKS as u32 + 5_000) {
            b.charge(&p, IpAddr::V4(i.into()), t0());
        }
        assert!(b.len() <= MAX_NETWORKS);
    }

    #[test]
    fn a_spent_budget_earns_one_verification_back_per_refill() {
        let (b, p) = (AddressBudget::default(), policy());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..BURST {
            assert_eq!(b.charge(&p, ip, t0()), Verdict::Allow);
        }
        let almost = t0() + REFILL - Duration::from_millis(1);
        assert_eq!(
            b.charge(&p, ip, almost),
            Verdict::Refuse { retry_after: Duration::from_millis(1) }
        );
        assert_eq!(b.charge(&p, ip, t0() + REFILL), Verdict::Allow);
        assert!(matches!(b.charge(&p, ip, t0() + REFILL), Verdict::Refuse { .. }));
        let refilled = t0() + REFILL * (BURST + 1);
        assert_eq!(b.charge(&p, ip, refilled), Verdict::Allow);
        b.refund(&p, ip, refilled);
        assert_eq!(b.len(), 0, "full again: forgotten");
    }
}
