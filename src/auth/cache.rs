//! The verified-credential cache: a client that sends the same `Authorization` header on every
//! request pays argon2 once.
//!
//! Keyed by HMAC-SHA256 of the credential in its canonical form (user name in lower case, the
//! app password's id and secret as parsed, whatever dashes, spaces or case the client typed)
//! under a key drawn at start, so the secret is never held in clear, the keys are useless
//! outside this process, and spelling one password a thousand ways is still one credential
//! (one argon2). Only successful verifications are inserted, so wrong guesses cannot fill it.
//! Each entry remembers the store generation it was checked at; the gate re-reads the record
//! (no argon2) whenever the store has changed since, which makes a revoke, a disable or an
//! expiry effective on the very next request.
//!
//! Beside it, a bounded set of *stale* credentials: right secrets of revoked or expired app
//! passwords (proven by a verification, or by a cached entry that went stale). Revocation and
//! expiry are final, so such a client retrying is refused at once, at no cost; and since only
//! the holder of the right secret can land in it, a quick refusal tells a guesser nothing.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use sha2::Sha256;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::token::Presented;
use crate::bounded::Bounded;
use crate::store::{AppPasswordId, Generation, MAX_NETWORKS, Scope, UserName};
use ipnet::IpNet;

/// HMAC of an `Authorization` header value.
pub type CacheKey = [u8; 32];

/// What a successful verification established.
#[derive(Debug)]
pub struct CacheEntry {
    /// The app password that matched.
    pub id: AppPasswordId,
    /// Its owner, who is the authenticated user.
    pub user: UserName,
    /// Its expiry (None: never); checked on every hit.
    pub expires_at: Option<DateTime<Utc>>,
    /// The hash it matched, to recognise the very same record on a re-check.
    pub secret_hash: String,
    /// What the password may reach and do (fixed at creation, so it never needs re-reading):
    /// its allowed networks are checked on every hit.
    pub scope: Arc<Scope>,
    generation: AtomicU64,
    last_used_written: AtomicI64,
    /// This node's last successful use (seconds): the idle limit is judged on it without a
    /// store read, and the store's own record (written once a minute) only when it is due.
    last_seen: AtomicI64,
    /// For an `sso` owner, since when (Unix seconds) the re-authentication rule counts;
    /// [`NOT_SSO`] otherwise. Checked on every hit, refreshed on every re-read of the record.
    sso_since: AtomicI64,
    /// The networks this node has seen the credential used from, each with when its use was
    /// last queued for the store (seconds): a hit from a known network whose write is not due
    /// costs a lock of this small set and a comparison, nothing more.
    networks: Mutex<Vec<(IpNet, i64)>>,
}

/// `sso_since` of an owner the re-authentication rule does not apply to.
const NOT_SSO: i64 = i64::MIN;

impl CacheEntry {
    /// A new entry checked at store generation `generation`, last-used written at `now`.
    pub fn new(
        id: AppPasswordId,
        user: UserName,
        expires_at: Option<DateTime<Utc>>,
        secret_hash: String,
        scope: Arc<Scope>,
        generation: Generation,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            user,
            expires_at,
            secret_hash,
            scope,
            generation: AtomicU64::new(generation.get()),
            last_used_written: AtomicI64::new(now.timestamp()),
            last_seen: AtomicI64::new(now.timestamp()),
            sso_since: AtomicI64::new(NOT_SSO),
            networks: Mutex::new(Vec::new()),
        }
    }

    /// True when a use from `network` at `now` should be written: the network is new to this
    /// entry, or its last write is `interval_secs` old. Remembers the write as queued; keeps
    /// as many networks as the store does, forgetting the one written longest ago.
    pub fn network_due(&self, network: IpNet, now: DateTime<Utc>, interval_secs: i64) -> bool {
        let now = now.timestamp();
        let mut known = self.networks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, written)) = known.iter_mut().find(|(n, _)| *n == network) {
            if now - *written < interval_secs {
                return false;
            }
            *written = now;
            return true;
        }
        if known.len() >= MAX_NETWORKS
            && let Some(oldest) =
                known.iter().enumerate().min_by_key(|(_, (_, w))| *w).map(|(i, _)| i)
        {
            known.swap_remove(oldest);
        }
        known.push((network, now));
        true
    }

    /// Records since when the re-authentication rule counts for the owner (None: not `sso`).
    pub fn set_sso_since(&self, since: Option<DateTime<Utc>>) {
        self.sso_since.store(since.map_or(NOT_SSO, |t| t.timestamp()), Ordering::Release);
    }

    /// Whether the owner is `sso` and last signed in through the provider more than
    /// `interval` before `now` (two loads and a comparison: the cached path checks it always).
    pub fn needs_reauth(&self, now: DateTime<Utc>, interval: Option<chrono::TimeDelta>) -> bool {
        let since = self.sso_since.load(Ordering::Acquire);
        match interval {
            Some(interval) if since != NOT_SSO => now.timestamp() - since > interval.num_seconds(),
            _ => false,
        }
    }

    /// The store generation this entry was last confirmed at.
    pub fn generation(&self) -> Generation {
        Generation::from_number(self.generation.load(Ordering::Acquire))
    }

    /// Marks the entry as confirmed at `generation`.
    pub fn confirm(&self, generation: Generation) {
        self.generation.store(generation.get(), Ordering::Release);
    }

    /// This node's last successful use of the credential.
    pub fn last_seen(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.last_seen.load(Ordering::Relaxed), 0).unwrap_or_default()
    }

    /// Records a successful use at `now` (never moves back).
    pub fn seen(&self, now: DateTime<Utc>) {
        self.last_seen.fetch_max(now.timestamp(), Ordering::Relaxed);
    }

    /// True (once per `interval_secs`) when "last used" is due to be written again.
    pub fn last_used_due(&self, now: DateTime<Utc>, interval_secs: i64) -> bool {
        let prev = self.last_used_written.load(Ordering::Relaxed);
        now.timestamp() - prev >= interval_secs
            && self
                .last_used_written
                .compare_exchange(prev, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The verified credentials and the stale ones, each a [`Bounded`] map: when full, the least
/// recently *used* credential goes (every hit counts as a use), so the devices syncing all day
/// keep their entries while one that stopped (or an expired password nobody sends any more)
/// drifts to the end and is the next to go.
pub struct CredentialCache {
    key: [u8; 32],
    entries: Mutex<Bounded<CacheKey, Arc<CacheEntry>>>,
    stale: Mutex<Bounded<CacheKey, ()>>,
}

impl CredentialCache {
    /// A cache holding at most `capacity` credentials, and as many stale ones (0 disables both).
    pub fn new(capacity: usize) -> Result<Self, rand::rngs::SysError> {
        let mut key = [0u8; 32];
        SysRng.try_fill_bytes(&mut key)?;
        let entries = Mutex::new(Bounded::new(capacity));
        let stale = Mutex::new(Bounded::new(capacity));
        Ok(Self { key, entries, stale })
    }

    /// The cache key of a credential: `user` as sent, and the app password as parsed (id and
    /// secret have fixed lengths, so the concatenation is unambiguous).
    pub fn key(&self, user: &str, presented: &Presented) -> CacheKey {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(presented.id.as_str().as_bytes());
        mac.update(presented.secret.expose().as_bytes());
        mac.update(user.to_ascii_lowercase().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Remembers that `key` is the right secret of a revoked or expired app password.
    pub fn mark_stale(&self, key: CacheKey) {
        self.remove(&key);
        self.lock_stale().insert(key, ());
    }

    /// True if `key` is known to be revoked or expired (a retry counts as a use: a client that
    /// keeps retrying keeps being refused for free).
    pub fn is_stale(&self, key: &CacheKey) -> bool {
        self.lock_stale().get(key).is_some()
    }

    /// The entry for `key`, if cached; the hit counts as a use.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CacheEntry>> {
        self.lock().get(key).cloned()
    }

    /// Caches a successful verification; when full, the least recently used credential goes.
    pub fn insert(&self, key: CacheKey, entry: CacheEntry) {
        self.lock().insert(key, Arc::new(entry));
    }

    /// Forgets a credential (its record refused it for another reason than revoked or expired).
    pub fn remove(&self, key: &CacheKey) {
        self.lock().remove(key);
    }

    /// How many credentials are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is cached.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bounded<CacheKey, Arc<CacheEntry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_stale(&self) -> std::sync::MutexGuard<'_, Bounded<CacheKey, ()>> {
        self.stale.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, now: DateTime<Utc>) -> CacheEntry {
        let (id, user) = (AppPasswordId::parse(id).unwrap(), UserName::parse("alice").unwrap());
        CacheEntry::new(
            id,
            user,
            Some(now + chrono::Duration::days(1)),
            "hash".into(),
            Arc::default(),
            Generation::default(),
            now,
        )
    }

    #[test]
    fn a_full_cache_forgets_the_credential_used_least_recently() {
        let (cache, now) = (CredentialCache::new(2).unwrap(), Utc::now());
        let (syncing, idle, new) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        cache.insert(syncing, entry("aaaaaaaaaa", now));
        cache.insert(idle, entry("bbbbbbbbbb", now));
        assert!(cache.get(&syncing).is_some(), "the syncing device is used again");
        cache.insert(new, entry("cccccccccc", now));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&idle).is_none(), "inserted after, but never used since");
        assert!(cache.get(&syncing).is_some() && cache.get(&new).is_some());
    }

    #[test]
    fn a_stale_credential_leaves_the_cache_and_the_stale_set_stays_bounded() {
        let (cache, now) = (CredentialCache::new(3).unwrap(), Utc::now());
        cache.insert([9u8; 32], entry("aaaaaaaaaa", now));
        cache.mark_stale([9u8; 32]);
        assert!(cache.is_empty() && cache.is_stale(&[9u8; 32]));
        for i in 0..100u8 {
            cache.mark_stale([i; 32]);
        }
        assert_eq!(cache.lock_stale().len(), 3);
        assert!(cache.is_stale(&[99u8; 32]) && !cache.is_stale(&[0u8; 32]));
    }

    #[test]
    fn a_cache_of_capacity_zero_keeps_nothing() {
        let (cache, now) = (CredentialCache::new(0).unwrap(), Utc::now());
        cache.insert([1u8; 32], entry("aaaaaaaaaa", now));
        cache.mark_stale([2u8; 32]);
        assert!(cache.is_empty() && !cache.is_stale(&[2u8; 32]));
    }

    #[test]
    fn last_used_is_due_once_per_interval_by_the_given_clock() {
        let now = Utc::now();
        let entry = entry("aaaaaaaaaa", now);
        assert!(!entry.last_used_due(now + chrono::Duration::seconds(59), 60));
        assert!(entry.last_used_due(now + chrono::Duration::seconds(60), 60));
        assert!(!entry.last_used_due(now + chrono::Duration::seconds(61), 60), "written once");
    }

    #[test]
    fn a_network_is_due_when_new_or_once_per_interval() {
        let now = Utc::now();
        let entry = entry("aaaaaaaaaa", now);
        let (home, office): (IpNet, IpNet) =
            ("10.0.0.0/24".parse().unwrap(), "10.0.1.0/24".parse().unwrap());
        assert!(entry.network_due(home, now, 60), "new");
        assert!(!entry.network_due(home, now + chrono::Duration::seconds(59), 60));
        assert!(entry.network_due(office, now + chrono::Duration::seconds(59), 60), "new");
        assert!(entry.network_due(home, now + chrono::Duration::seconds(60), 60), "due");
        for i in 2..10u8 {
            assert!(entry.network_due(format!("10.0.{i}.0/24").parse().unwrap(), now, 60));
        }
        assert!(entry.networks.lock().unwrap().len() <= MAX_NETWORKS);
    }
}
