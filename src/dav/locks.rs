//! WebDAV locks: davgate's own lock table, in memory, with expiry and caps.
//!
//! dav-server's `MemLs` kept every lock until the server restarted (it stored `timeout_at` and
//! never read it) and took any number of them, each with up to 64 KiB of owner XML. Here a lock
//! past its timeout is absent for every operation (check, discover, lock, refresh, unlock) and
//! is purged: the touched user's locks on each LOCK, and everyone's at least every
//! [`SWEEP_EVERY`] on any lock operation, so expired locks on paths nobody visits again are
//! freed too. A lock never lives longer than the `lock_timeout` in force when it was granted or
//! refreshed, whatever dav-server passes down.
//!
//! Locks are keyed by user: one user's `/a.txt` is never another's. The server's [`Clock`] is
//! injected so that expiry is tested without sleeping (lock timeouts are wall-clock, as
//! dav-server's `timeout_at` is a `SystemTime`). Semantics otherwise follow `MemLs` (which passes
//! litmus), except that a collection's depth-0 lock is not listed in its members' lockdiscovery.

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use http::StatusCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};
use xmltree::{Element, EmitterConfig};

use crate::clock::Clock;
use crate::store::UserName;

/// How often, at most, every user's expired locks are purged.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// What the lock table can hold.
#[derive(Debug, Clone, Copy)]
pub struct LockLimits {
    /// Live locks per user, all paths together.
    pub per_user: usize,
    /// Live locks on one path (only shared locks can pile up).
    pub per_path: usize,
    /// Size of the `<D:owner>` element, as XML (Office, Explorer and Finder send under 200 B).
    pub owner_bytes: usize,
}

impl Default for LockLimits {
    fn default() -> Self {
        Self { per_user: 1_000, per_path: 32, owner_bytes: 4 * 1024 }
    }
}

/// Why a LOCK was refused when no other lock conflicts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `<D:owner>` element is larger than [`LockLimits::owner_bytes`].
    OwnerTooLarge,
    /// The path already has [`LockLimits::per_path`] locks.
    TooManyOnPath,
    /// The user already holds [`LockLimits::per_user`] locks.
    TooManyForUser,
}

impl Refusal {
    /// The status answered instead of dav-server's 423.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::OwnerTooLarge => StatusCode::BAD_REQUEST,
            Refusal::TooManyOnPath | Refusal::TooManyForUser => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// The one-line explanation sent with it.
    pub fn explanation(self) -> &'static str {
        match self {
            Refusal::OwnerTooLarge => "The lock's owner element is larger than 4 KiB.\n",
            Refusal::TooManyOnPath => "This resource already has 32 locks; unlock one first.\n",
            Refusal::TooManyForUser => "You already hold 1000 locks; unlock some first.\n",
        }
    }
}

/// Every user's locks. Cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct Locks {
    table: Arc<Mutex<Table>>,
    clock: Clock,
    limits: LockLimits,
}

#[derive(Debug, Default)]
struct Table {
    users: HashMap<UserName, UserTable>,
    last_sweep: Option<SystemTime>,
}

/// One user's locks by path key (segments joined by `/`, no leading or trailing slash; the
/// root is empty), so that a subtree is one contiguous key range.
#[derive(Debug, Default)]
struct UserTable {
    by_path: BTreeMap<Vec<u8>, Vec<DavLock>>,
}

impl Locks {
    /// An empty table on `clock` with `limits`.
    pub fn new(clock: Clock, limits: LockLimits) -> Self {
        Self { table: Arc::default(), clock, limits }
    }

    /// The lock system dav-server gets for one request of `user`: no lock it grants or
    /// refreshes lives longer than `max_timeout`.
    pub fn for_request(&self, user: &UserName, max_timeout: Duration) -> Box<RequestLocks> {
        Box::new(RequestLocks {
            locks: self.clone(),
            user: user.clone(),
            max_timeout,
            refusal: Arc::new(OnceLock::new()),
        })
    }

    /// Drops every lock of `user`: their account was removed, and a new account of the same
    /// name must not find the old one's locks.
    pub fn forget(&self, user: &UserName) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).users.remove(user);
    }

    /// The table, with everyone's expired locks purged if the last sweep is old enough.
    fn lock_table(&self, now: SystemTime) -> MutexGuard<'_, Table> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let due = table
            .last_sweep
            .is_none_or(|last| now.duration_since(last).map_or(true, |age| age >= SWEEP_EVERY));
        if due {
            table.users.retain(|_, user| {
                user.sweep(now);
                !user.by_path.is_empty()
            });
            table.last_sweep = Some(now);
        }
        table
    }
}

/// A user's locks as one request sees them; dav-server's `DavLockSystem`.
#[derive(Debug, Clone)]
pub struct RequestLocks {
    locks: Locks,
    user: UserName,
    max_timeout: Duration,
    refusal: Arc<OnceLock<Refusal>>,
}

impl RequestLocks {
    /// Why this request's LOCK was refused, if a cap (not a conflict) refused it: dav-server
    /// answers any refusal with an empty 423, the mount replaces it with this.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal.get().copied()
    }

    fn with_user<T>(&self, op: impl FnOnce(&mut UserTable, SystemTime) -> T) -> T {
        let now = self.locks.clock.system_time();
        let mut table = self.locks.lock_table(now);
        op(table.users.entry(self.user.clone()).or_default(), now)
    }

    fn refuse(&self, why: Refusal, path: &DavPath) -> Result<DavLock, DavLock> {
        let _ = self.refusal.set(why);
        Err(DavLock {
            token: String::new(),
            path: Box::new(path.clone()),
            principal: None,
            owner: None,
            timeout_at: None,
            timeout: None,
            shared: false,
            deep: false,
        })
    }

    fn capped(&self, asked: Option<Duration>) -> Duration {
        asked.map_or(self.max_timeout, |asked| asked.min(self.max_timeout))
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> LsFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl DavLockSystem for RequestLocks {
    fn lock(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        if owner.is_some_and(|o| xml_size(o) > self.locks.limits.owner_bytes) {
            return ready(self.refuse(Refusal::OwnerTooLarge, path));
        }
        let key = path_key(path);
        let limits = self.locks.limits;
        let timeout = self.capped(timeout);
        let outcome = self.with_user(|user, now| {
            user.sweep(now);
            let nobody = Conditions { principal: None, ignore_principal: true, tokens: &[] };
            user.conflict_on_path(&key, &nobody, shared)?;
            if deep {
                user.conflict_below(&key, &nobody, shared)?;
            }
            if user.by_path.get(&key).map_or(0, Vec::len) >= limits.per_path {
                return Ok(Err(Refusal::TooManyOnPath));
            }
            if user.by_path.values().map(Vec::len).sum::<usize>() >= limits.per_user {
                return Ok(Err(Refusal::TooManyForUser));
            }
            let lock = DavLock {
                token: uuid::Uuid::new_v4().urn().to_string(),
                path: Box::new(path.clone()),
                principal: principal.map(str::to_string),
                owner: owner.map(|o| Box::new(o.clone())),
                timeout_at: now.checked_add(timeout),
                timeout: Some(timeout),
                shared,
                deep,
            };
            user.by_path.entry(key).or_default().push(lock.clone());
            Ok(Ok(lock))
        });
        ready(match outcome {
            Ok(Ok(lock)) => Ok(lock),
            Ok(Err(why)) => self.refuse(why, path),
            Err(conflict) => Err(conflict),
        })
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let key = path_key(path);
        ready(self.with_user(|user, now| {
            let holder = user.holder_of(&key, token, now).ok_or(())?;
            if let Some(locks) = user.by_path.get_mut(&holder) {
                locks.retain(|l| l.token != token);
                if locks.is_empty() {
                    user.by_path.remove(&holder);
                }
            }
            Ok(())
        }))
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let key = path_key(path);
        let timeout = self.capped(timeout);
        ready(self.with_user(|user, now| {
            let holder = user.holder_of(&key, token, now).ok_or(())?;
            let lock = user
                .by_path
                .get_mut(&holder)
                .and_then(|locks| locks.iter_mut().find(|l| l.token == token))
                .ok_or(())?;
            lock.timeout = Some(timeout);
            lock.timeout_at = now.checked_add(timeout);
            Ok(lock.clone())
        }))
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let key = path_key(path);
        let who = Conditions { principal, ignore_principal, tokens: submitted_tokens };
        ready(self.with_user(|user, now| {
            user.sweep_path(&key, now);
            user.conflict_on_path(&key, &who, false)?;
            if deep {
                user.sweep(now);
                user.conflict_below(&key, &who, false)?;
            }
            Ok(())
        }))
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let key = path_key(path);
        ready(self.with_user(|user, now| {
            user.sweep_path(&key, now);
            let mut found = Vec::new();
            for (ancestor, is_self) in chain(&key) {
                if let Some(locks) = user.by_path.get(ancestor) {
                    found.extend(locks.iter().filter(|l| is_self || l.deep).cloned());
                }
            }
            found
        }))
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let key = path_key(path);
        ready(self.with_user(|user, _| {
            let doomed: Vec<Vec<u8>> = user.subtree(&key).map(|(k, _)| k.clone()).collect();
            for k in doomed {
                user.by_path.remove(&k);
            }
            Ok(())
        }))
    }
}

/// Who asks, and with which lock tokens.
struct Conditions<'a> {
    principal: Option<&'a str>,
    ignore_principal: bool,
    tokens: &'a [String],
}

impl Conditions<'_> {
    fn holds(&self, lock: &DavLock) -> bool {
        self.tokens.contains(&lock.token)
            && (self.ignore_principal || self.principal == lock.principal.as_deref())
    }
}

impl UserTable {
    /// Drops every expired lock.
    fn sweep(&mut self, now: SystemTime) {
        self.by_path.retain(|_, locks| {
            locks.retain(|l| is_live(l, now));
            !locks.is_empty()
        });
    }

    /// Drops the expired locks on `key` and its ancestors.
    fn sweep_path(&mut self, key: &[u8], now: SystemTime) {
        for (ancestor, _) in chain(key) {
            if let Some(locks) = self.by_path.get_mut(ancestor) {
                locks.retain(|l| is_live(l, now));
                if locks.is_empty() {
                    self.by_path.remove(ancestor);
                }
            }
        }
    }

    /// The first lock on `key` or a deep lock above it that `who` does not hold (as `MemLs`:
    /// an exclusive one at once; a shared one only if `who` holds none and `shared_ok` is
    /// false). Expired locks must have been swept.
    fn conflict_on_path(
        &self,
        key: &[u8],
        who: &Conditions,
        shared_ok: bool,
    ) -> Result<(), DavLock> {
        let mut holds_one = false;
        let mut first_shared: Option<&DavLock> = None;
        for (ancestor, is_self) in chain(key) {
            let Some(locks) = self.by_path.get(ancestor) else { continue };
            for lock in locks.iter().filter(|l| is_self || l.deep) {
                if who.holds(lock) {
                    holds_one = true;
                } else if !lock.shared {
                    return Err(lock.clone());
                } else if !shared_ok {
                    first_shared.get_or_insert(lock);
                }
            }
        }
        match first_shared {
            Some(lock) if !holds_one => Err(lock.clone()),
            _ => Ok(()),
        }
    }

    /// The first lock on `key` or below it that conflicts (exclusive, or any with `shared_ok`
    /// false) and that `who` does not hold. Expired locks must have been swept.
    fn conflict_below(&self, key: &[u8], who: &Conditions, shared_ok: bool) -> Result<(), DavLock> {
        for (_, locks) in self.subtree(key) {
            if let Some(lock) = locks.iter().find(|l| (!l.shared || !shared_ok) && !who.holds(l)) {
                return Err(lock.clone());
            }
        }
        Ok(())
    }

    /// The key of the live lock `token` on `key` or above it (as `MemLs`: any depth).
    fn holder_of(&self, key: &[u8], token: &str, now: SystemTime) -> Option<Vec<u8>> {
        chain(key)
            .map(|(ancestor, _)| ancestor)
            .find(|ancestor| {
                self.by_path
                    .get(*ancestor)
                    .is_some_and(|locks| locks.iter().any(|l| l.token == token && is_live(l, now)))
            })
            .map(<[u8]>::to_vec)
    }

    /// The entries of `key` and of everything below it.
    fn subtree<'a>(
        &'a self,
        key: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<DavLock>)> {
        self.by_path.range(key.to_vec()..).take_while(move |(k, _)| k.starts_with(key)).filter(
            move |(k, _)| key.is_empty() || k.get(key.len()) == Some(&b'/') || k.len() == key.len(),
        )
    }
}

fn is_live(lock: &DavLock, now: SystemTime) -> bool {
    lock.timeout_at.is_none_or(|at| at > now)
}

/// `path` as a key: its segments joined by `/` (so `/a/b/` and `/a/b` are the same resource).
fn path_key(path: &DavPath) -> Vec<u8> {
    let segments: Vec<&[u8]> =
        path.as_bytes().split(|&b| b == b'/').filter(|s| !s.is_empty()).collect();
    segments.join(&b'/')
}

/// The keys from the root down to `key` itself, each with whether it is `key`.
fn chain(key: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let ends = key.iter().enumerate().filter(|&(_, &b)| b == b'/').map(|(i, _)| i);
    let ancestors = (!key.is_empty()).then_some(0).into_iter().chain(ends);
    ancestors
        .map(move |end| (key.get(..end).unwrap_or(key), false))
        .chain(std::iter::once((key, true)))
}

/// The size of an element written as XML.
fn xml_size(element: &Element) -> usize {
    let mut out = Vec::new();
    let config = EmitterConfig::new().write_document_declaration(false);
    match element.write_with_config(&mut out, config) {
        Ok(()) => out.len(),
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// A clock that moves only when told, by whole seconds.
    struct Seconds(ManualClock);

    impl Seconds {
        fn advance(&self, seconds: u64) {
            self.0.advance(Duration::from_secs(seconds));
        }
    }

    fn setup(limits: LockLimits) -> (Seconds, Locks) {
        let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        let locks = Locks::new(clock.clock(), limits);
        (Seconds(clock), locks)
    }

    fn alice(locks: &Locks) -> Box<RequestLocks> {
        locks.for_request(&UserName::parse("alice").unwrap(), Duration::from_secs(60))
    }

    fn path(p: &str) -> DavPath {
        DavPath::new(p).unwrap()
    }

    fn now<T>(f: LsFuture<'_, T>) -> T {
        futures_util::FutureExt::now_or_never(f).expect("ready")
    }

    fn lock(ls: &RequestLocks, p: &str, shared: bool, deep: bool) -> Result<DavLock, DavLock> {
        now(ls.lock(&path(p), Some("alice"), None, Some(Duration::from_secs(3600)), shared, deep))
    }

    fn unlocked(ls: &RequestLocks, p: &str) -> bool {
        now(ls.check(&path(p), Some("alice"), false, false, &[])).is_ok()
    }

    #[test]
    fn a_lock_is_absent_once_its_timeout_has_passed() {
        let (clock, locks) = setup(LockLimits::default());
        let ls = alice(&locks);
        let granted = lock(&ls, "/f.txt", false, false).unwrap();
        assert_eq!(granted.timeout, Some(Duration::from_secs(60)), "capped at max_timeout");
        assert!(!unlocked(&ls, "/f.txt"));
        assert!(lock(&ls, "/f.txt", false, false).is_err());
        clock.advance(59);
        assert!(!unlocked(&ls, "/f.txt"));
        clock.advance(1);
        assert!(unlocked(&ls, "/f.txt"));
        assert!(now(ls.discover(&path("/f.txt"))).is_empty());
        assert!(now(ls.refresh(&path("/f.txt"), &granted.token, None)).is_err());
        assert!(lock(&ls, "/f.txt", false, false).is_ok(), "a new lock after expiry");
    }

    #[test]
    fn a_refresh_extends_the_lock_by_at_most_max_timeout() {
        let (clock, locks) = setup(LockLimits::default());
        let ls = alice(&locks);
        let granted = lock(&ls, "/f.txt", false, false).unwrap();
        clock.advance(50);
        let refreshed = now(ls.refresh(&path("/f.txt"), &granted.token, None)).unwrap();
        assert_eq!(refreshed.timeout, Some(Duration::from_secs(60)));
        clock.advance(50);
        assert!(!unlocked(&ls, "/f.txt"), "refreshed at 50 s, still held at 100 s");
        clock.advance(10);
        assert!(unlocked(&ls, "/f.txt"));
    }

    #[test]
    fn expired_locks_are_purged_even_on_paths_never_touched_again() {
        let (clock, locks) = setup(LockLimits::default());
        let ls = alice(&locks);
        for i in 0..10 {
            lock(&ls, &format!("/f{i}.txt"), false, false).unwrap();
        }
        clock.advance(61 + SWEEP_EVERY.as_secs());
        let bob = locks.for_request(&UserName::parse("bob").unwrap(), Duration::from_secs(60));
        assert!(unlocked(&bob, "/other.txt"));
        assert!(locks.table.lock().unwrap().users.values().all(|u| u.by_path.is_empty()));
    }

    #[test]
    fn locks_are_capped_per_path_and_per_user() {
        let limits = LockLimits { per_user: 5, per_path: 3, owner_bytes: 100 };
        let (clock, locks) = setup(limits);
        let ls = alice(&locks);
        for _ in 0..3 {
            lock(&ls, "/shared.txt", true, false).unwrap();
        }
        let ls = alice(&locks);
        assert!(lock(&ls, "/shared.txt", true, false).is_err());
        assert_eq!(ls.refusal(), Some(Refusal::TooManyOnPath));
        let ls = alice(&locks);
        lock(&ls, "/a.txt", false, false).unwrap();
        lock(&ls, "/b.txt", false, false).unwrap();
        assert!(lock(&ls, "/c.txt", false, false).is_err());
        assert_eq!(ls.refusal(), Some(Refusal::TooManyForUser));
        let bob = locks.for_request(&UserName::parse("bob").unwrap(), Duration::from_secs(60));
        assert!(lock(&bob, "/c.txt", false, false).is_ok(), "the cap is per user");
        clock.advance(60);
        let ls = alice(&locks);
        assert!(lock(&ls, "/c.txt", false, false).is_ok(), "expired locks do not count");
        assert_eq!(ls.refusal(), None);
    }

    #[test]
    fn an_owner_larger_than_the_limit_is_refused() {
        let limits = LockLimits { owner_bytes: 100, ..LockLimits::default() };
        let (_, locks) = setup(limits);
        let ls = alice(&locks);
        let mut owner = Element::new("owner");
        owner.children.push(xmltree::XMLNode::Text("x".repeat(200)));
        let asked = ls.lock(&path("/f.txt"), None, Some(&owner), None, false, false);
        assert!(now(asked).is_err());
        assert_eq!(ls.refusal(), Some(Refusal::OwnerTooLarge));
        assert!(unlocked(&ls, "/f.txt"));
    }

    #[test]
    fn deep_locks_cover_members_and_shallow_ones_do_not() {
        let (_, locks) = setup(LockLimits::default());
        let ls = alice(&locks);
        let deep = lock(&ls, "/dir/", false, true).unwrap();
        assert!(!unlocked(&ls, "/dir/sub/f.txt"));
        assert_eq!(now(ls.discover(&path("/dir/sub/f.txt"))).len(), 1);
        let token = [deep.token.clone()];
        assert!(now(ls.check(&path("/dir/f"), Some("alice"), false, false, &token)).is_ok());
        assert!(lock(&ls, "/dir/f", true, false).is_err(), "inside an exclusive deep lock");
        now(ls.unlock(&path("/dir"), &deep.token)).unwrap();
        lock(&ls, "/top/", false, false).unwrap();
        assert!(unlocked(&ls, "/top/f.txt"));
        assert!(now(ls.discover(&path("/top/f.txt"))).is_empty());
        assert!(lock(&ls, "/top/f.txt", false, false).is_ok());
        assert!(lock(&ls, "/", false, true).is_err(), "a deep lock over a locked member");
    }

    #[test]
    fn delete_drops_the_locks_of_a_subtree_only() {
        let (_, locks) = setup(LockLimits::default());
        let ls = alice(&locks);
        lock(&ls, "/a/x", false, false).unwrap();
        lock(&ls, "/a-b", false, false).unwrap();
        lock(&ls, "/ab", false, false).unwrap();
        now(ls.delete(&path("/a/"))).unwrap();
        assert!(unlocked(&ls, "/a/x"));
        assert!(!unlocked(&ls, "/a-b"));
        assert!(!unlocked(&ls, "/ab"));
    }

    #[test]
    fn path_keys_and_chains_walk_from_the_root() {
        assert_eq!(path_key(&path("/a/b/")), b"a/b");
        assert_eq!(path_key(&path("/")), b"");
        let keys: Vec<(&[u8], bool)> = chain(b"a/b").collect();
        assert_eq!(keys, [(&b""[..], false), (&b"a"[..], false), (&b"a/b"[..], true)]);
        assert_eq!(chain(b"").collect::<Vec<_>>(), [(&b""[..], true)]);
    }
}
