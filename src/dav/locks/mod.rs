//! WebDAV locks: davgate's own lock system, with expiry and caps, in memory (the embedded
//! store: one process) or in the shared store (PostgreSQL: every node sees every lock).
//!
//! dav-server's `MemLs` kept every lock until the server restarted (it stored `timeout_at` and
//! never read it) and took any number of them, each with up to 64 KiB of owner XML. Here a lock
//! past its timeout is absent for every operation (check, discover, lock, refresh, unlock) and
//! is purged ([`memory`], [`shared`]). A lock never lives longer than the `lock_timeout` in
//! force when it was granted or refreshed, whatever dav-server passes down.
//!
//! Locks are keyed by user: one user's `/a.txt` is never another's. The server's [`Clock`] is
//! injected so that expiry is tested without sleeping (lock timeouts are wall-clock, as
//! dav-server's `timeout_at` is a `SystemTime`); both backends compare with it, the shared one
//! passing its time to the store. What conflicts with what is one set of rules ([`table`]).
//!
//! dav-server's trait cannot say "try again later": when the store fails, the lock system
//! answers dav-server with a refusal and records why ([`RequestLocks::refusal`]); the mount
//! then answers 503 with `Retry-After` (store out of reach) or 500 instead of dav-server's
//! response.

mod memory;
mod shared;
mod table;
#[cfg(test)]
mod tests;

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use http::StatusCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use xmltree::Element;

use crate::clock::Clock;
use crate::store::{Store, UserName};
use memory::Memory;
use shared::{Failure, Shared};
use table::{Conditions, Denied, UserTable, Wanted, path_key, xml_size};

/// How often, at most, expired locks are purged (every user's in memory; long-expired rows in
/// the store, per node).
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

/// Why a request's lock operation failed when no other lock conflicts with it: dav-server
/// answers any failure with its own status, the mount replaces it with this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `<D:owner>` element is larger than [`LockLimits::owner_bytes`].
    OwnerTooLarge,
    /// The path already has [`LockLimits::per_path`] locks.
    TooManyOnPath,
    /// The user already holds [`LockLimits::per_user`] locks.
    TooManyForUser,
    /// The shared store could not be reached: a passing state, answered 503 with
    /// `Retry-After`.
    Unavailable,
    /// The shared store failed otherwise (logged).
    Failed,
}

impl Refusal {
    /// The status answered instead of dav-server's.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::OwnerTooLarge => StatusCode::BAD_REQUEST,
            Refusal::TooManyOnPath | Refusal::TooManyForUser => StatusCode::INSUFFICIENT_STORAGE,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one-line explanation sent with it.
    pub fn explanation(self) -> &'static str {
        match self {
            Refusal::OwnerTooLarge => "The lock's owner element is larger than 4 KiB.\n",
            Refusal::TooManyOnPath => "This resource already has 32 locks; unlock one first.\n",
            Refusal::TooManyForUser => "You already hold 1000 locks; unlock some first.\n",
            Refusal::Unavailable => "The lock store is unavailable; try again in a few seconds.\n",
            Refusal::Failed => "The lock store failed; the server log says why.\n",
        }
    }
}

/// Every user's locks. Cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct Locks {
    backend: Backend,
    clock: Clock,
    limits: LockLimits,
}

/// Where the locks live.
#[derive(Debug, Clone)]
enum Backend {
    /// In this process (the embedded store).
    Memory(Arc<Memory>),
    /// In the shared store, seen by every node.
    Shared(Arc<Shared>),
}

impl Locks {
    /// The lock system for `store`: in the store when it keeps locks (PostgreSQL), else in
    /// memory; timeouts on `clock`, capped by `limits`.
    pub fn new(store: &Store, clock: Clock, limits: LockLimits) -> Self {
        let backend = if store.keeps_locks() {
            Backend::Shared(Arc::new(Shared::new(store.clone())))
        } else {
            Backend::Memory(Arc::default())
        };
        Self { backend, clock, limits }
    }

    /// The lock system dav-server gets for one request of `user`: no lock it grants or
    /// refreshes lives longer than `max_timeout`.
    pub fn for_request(&self, user: &UserName, max_timeout: Duration) -> Box<RequestLocks> {
        Box::new(RequestLocks {
            locks: self.clone(),
            user: user.clone(),
            max_timeout,
            refusal: Arc::new(OnceLock::new()),
            snapshot: Arc::new(Mutex::new(None)),
        })
    }

    /// Drops every lock of `user`: their account was removed, and a new account of the same
    /// name must not find the old one's locks. (The shared store removes them with the account,
    /// in the same transaction.)
    pub fn forget(&self, user: &UserName) {
        if let Backend::Memory(memory) = &self.backend {
            memory.forget(user);
        }
    }
}

/// A user's locks as one request sees them; dav-server's `DavLockSystem`.
///
/// With the shared store, `discover` (which PROPFIND asks once per entry for lockdiscovery)
/// answers from a snapshot of the user's live locks read once per request, so a listing of
/// 1,000 files costs one query; every other operation reads the store, and any change made
/// through this request drops the snapshot.
#[derive(Debug, Clone)]
pub struct RequestLocks {
    locks: Locks,
    user: UserName,
    max_timeout: Duration,
    refusal: Arc<OnceLock<Refusal>>,
    snapshot: Arc<Mutex<Option<Arc<UserTable>>>>,
}

/// The value dav-server gets for a failed lock: never shown, the mount answers instead.
fn placeholder(path: &DavPath) -> DavLock {
    DavLock {
        token: String::new(),
        path: Box::new(path.clone()),
        principal: None,
        owner: None,
        timeout_at: None,
        timeout: None,
        shared: false,
        deep: false,
    }
}

impl RequestLocks {
    /// Why this request's lock operation failed, if a cap or the store (not a conflict) made it
    /// fail: dav-server answers with its own status, the mount replaces it with this.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal.get().copied()
    }

    /// Reads the snapshot `discover` answers from before a PROPFIND starts: dav-server streams
    /// the multistatus, so a store failure met while listing could no longer change the
    /// status, and lockdiscovery would silently show no locks. Nothing to do in memory.
    pub async fn prepare_listing(&self) -> Result<(), Refusal> {
        let Backend::Shared(shared) = &self.locks.backend else { return Ok(()) };
        match self.snapshot(shared).await {
            Ok(_) => Ok(()),
            Err(failure) => {
                self.failed(failure);
                Err(self.refusal().unwrap_or(Refusal::Failed))
            }
        }
    }

    fn refuse(&self, why: Refusal, path: &DavPath) -> Result<DavLock, DavLock> {
        let _ = self.refusal.set(why);
        Err(placeholder(path))
    }

    /// Records a store failure; the request will be answered from it.
    fn failed(&self, failure: Failure) {
        let why = match &failure {
            Failure::Store(e) if e.is_unavailable() => {
                tracing::warn!("lock operation refused: {e}");
                Refusal::Unavailable
            }
            other => {
                tracing::error!("lock operation failed: {other}");
                Refusal::Failed
            }
        };
        let _ = self.refusal.set(why);
    }

    fn capped(&self, asked: Option<Duration>) -> Duration {
        asked.map_or(self.max_timeout, |asked| asked.min(self.max_timeout))
    }

    fn now(&self) -> SystemTime {
        self.locks.clock.system_time()
    }

    fn drop_snapshot(&self) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The user's live locks, read once per request.
    async fn snapshot(&self, shared: &Shared) -> Result<Arc<UserTable>, Failure> {
        if let Some(table) = self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(table);
        }
        let table = Arc::new(shared.snapshot(&self.user, self.now()).await?);
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&table));
        Ok(table)
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
        let timeout = self.capped(timeout);
        let now = self.now();
        let answer = |this: &Self, outcome: Result<DavLock, Denied>, path: &DavPath| match outcome {
            Ok(lock) => Ok(lock),
            Err(Denied::Conflict(lock)) => Err(lock),
            Err(Denied::Refused(why)) => this.refuse(why, path),
        };
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let wanted = Wanted { path, principal, owner, timeout, shared, deep };
                let outcome = memory.lock(&self.user, now, key, &wanted, &self.locks.limits);
                ready(answer(self, outcome, path))
            }
            Backend::Shared(store) => {
                let (path, principal, owner) =
                    (path.clone(), principal.map(str::to_string), owner.cloned());
                Box::pin(async move {
                    self.drop_snapshot();
                    let wanted = Wanted {
                        path: &path,
                        principal: principal.as_deref(),
                        owner: owner.as_ref(),
                        timeout,
                        shared,
                        deep,
                    };
                    match store.lock(&self.user, now, key, &wanted, &self.locks.limits).await {
                        Ok(outcome) => answer(self, outcome, &path),
                        Err(failure) => {
                            self.failed(failure);
                            Err(placeholder(&path))
                        }
                    }
                })
            }
        }
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let key = path_key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                ready(memory.unlock(&self.user, now, &key, token).then_some(()).ok_or(()))
            }
            Backend::Shared(store) => {
                let token = token.to_string();
                Box::pin(async move {
                    self.drop_snapshot();
                    match store.unlock(&self.user, now, &key, &token).await {
                        Ok(found) => found.then_some(()).ok_or(()),
                        Err(failure) => {
                            self.failed(failure);
                            Err(())
                        }
                    }
                })
            }
        }
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let key = path_key(path);
        let timeout = self.capped(timeout);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                ready(memory.refresh(&self.user, now, &key, token, timeout).ok_or(()))
            }
            Backend::Shared(store) => {
                let token = token.to_string();
                Box::pin(async move {
                    self.drop_snapshot();
                    match store.refresh(&self.user, now, &key, &token, timeout).await {
                        Ok(found) => found.ok_or(()),
                        Err(failure) => {
                            self.failed(failure);
                            Err(())
                        }
                    }
                })
            }
        }
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
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                let who = Conditions { principal, ignore_principal, tokens: submitted_tokens };
                ready(memory.check(&self.user, now, &key, &who, deep))
            }
            Backend::Shared(store) => {
                let (path, principal) = (path.clone(), principal.map(str::to_string));
                let tokens = submitted_tokens.to_vec();
                Box::pin(async move {
                    let who = Conditions {
                        principal: principal.as_deref(),
                        ignore_principal,
                        tokens: &tokens,
                    };
                    match store.check(&self.user, now, &key, &who, deep).await {
                        Ok(outcome) => outcome,
                        Err(failure) => {
                            self.failed(failure);
                            Err(placeholder(&path))
                        }
                    }
                })
            }
        }
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let key = path_key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => ready(memory.discover(&self.user, now, &key)),
            Backend::Shared(store) => Box::pin(async move {
                match self.snapshot(store).await {
                    Ok(table) => table.discover(&key),
                    Err(failure) => {
                        self.failed(failure);
                        Vec::new()
                    }
                }
            }),
        }
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let key = path_key(path);
        let now = self.now();
        match &self.locks.backend {
            Backend::Memory(memory) => {
                memory.delete(&self.user, now, &key);
                ready(Ok(()))
            }
            Backend::Shared(store) => Box::pin(async move {
                self.drop_snapshot();
                store.delete(&self.user, &key).await.map_err(|failure| {
                    self.failed(failure);
                })
            }),
        }
    }
}
