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
mod request;
mod shared;
mod table;
#[cfg(test)]
mod tests;

use http::StatusCode;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{AppPasswordId, Store, UserName};
use memory::Memory;
pub use request::RequestLocks;
use shared::Shared;

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

    /// The lock system dav-server gets for one request of `user` opened by the app password
    /// `taker` (the locks it grants remember it): no lock it grants or refreshes lives longer
    /// than `max_timeout`.
    pub fn for_request(
        &self,
        user: &UserName,
        taker: Option<&AppPasswordId>,
        max_timeout: Duration,
    ) -> Box<RequestLocks> {
        Box::new(RequestLocks::new(self.clone(), user.clone(), taker.cloned(), max_timeout))
    }

    /// Releases every lock of `user` taken through one of the app passwords `revoked`: a
    /// revoked laptop must not keep a file locked for the user's other clients. (The shared
    /// store deletes those rows in the revoking transaction itself.)
    pub fn release_taken_by(&self, user: &UserName, revoked: &[AppPasswordId]) {
        if let Backend::Memory(memory) = &self.backend {
            memory.release_taken_by(user, revoked);
        }
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
