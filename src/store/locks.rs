//! WebDAV locks in the store: what several nodes on one PostgreSQL must share so that a lock
//! taken through one of them is honoured by all.
//!
//! The store keeps rows and answers range questions (a path's ancestors, a subtree); what
//! conflicts with what is the mount's rule (`crate::dav`), the same for its in-memory table and
//! for these rows. A LOCK therefore runs the mount's decision inside the store's transaction
//! ([`Store::grant_lock`]), one user at a time across the cluster. Time is the caller's (the
//! server's injected clock), passed in: a row past `timeout_at` is absent from every answer.
//!
//! The embedded store keeps no locks (one process: the mount's memory is enough) and answers
//! [`Error::NoSharedLocks`]; [`Store::keeps_locks`] says which.

use chrono::{DateTime, Utc};
use std::time::Duration;

use super::{Error, Result, Store, UserName};

/// One WebDAV lock as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLock {
    /// The locked resource as a key: `/` then its segments, percent-encoded and joined by `/`
    /// (so ASCII, and a subtree is a key range).
    pub path: String,
    /// The resource as the client named it (URL-encoded, with the mount prefix): the lock root
    /// answered in `lockdiscovery`.
    pub href: String,
    /// The lock token (`urn:uuid:…`), unique.
    pub token: String,
    /// Whether the lock covers the members of a collection too (Depth: infinity).
    pub deep: bool,
    /// Whether other shared locks may be granted beside it.
    pub shared: bool,
    /// Who took it, as dav-server names them.
    pub principal: Option<String>,
    /// The app password it was taken with (its id): revoking that password deletes the row.
    pub taker: Option<String>,
    /// The client's `<D:owner>` element as XML, returned in `lockdiscovery`.
    pub owner_xml: Option<String>,
    /// The timeout it was granted or last refreshed with.
    pub timeout: Duration,
    /// When it stops existing.
    pub timeout_at: DateTime<Utc>,
}

/// Which of a user's locks a question is about: those on `chain` (a path and its ancestors, as
/// keys) and, with `below`, every lock in that key's subtree.
#[derive(Debug, Clone, Copy)]
pub struct LockScope<'a> {
    /// The keys of the path and of each of its ancestors.
    pub chain: &'a [String],
    /// A key whose subtree (itself and everything below) is asked about too.
    pub below: Option<&'a str>,
}

/// What a LOCK decides on: the user's live locks in the scope it asked about, and how many
/// live locks the user holds in all (the per-user cap).
#[derive(Debug, Clone)]
pub struct LockView {
    /// The live locks in scope, by key then in the order they were granted.
    pub locks: Vec<StoredLock>,
    /// Every live lock of the user, in scope or not.
    pub total: usize,
}

impl Store {
    /// Whether this store keeps WebDAV locks (PostgreSQL, shared by the nodes); otherwise the
    /// mount keeps them in memory.
    pub fn keeps_locks(&self) -> bool {
        self.postgres().is_some()
    }

    fn lock_store(&self) -> Result<&super::pg::Pg> {
        self.postgres().ok_or(Error::NoSharedLocks)
    }

    /// Runs `decide` on `user`'s live locks in `scope` and stores the lock it returns, if any,
    /// in one transaction that holds `user`'s lock cluster-wide: two nodes never decide at the
    /// same time for one user, so they can never both grant conflicting locks.
    pub async fn grant_lock<T: Send>(
        &self,
        user: &UserName,
        scope: LockScope<'_>,
        now: DateTime<Utc>,
        decide: impl FnOnce(LockView) -> (Option<StoredLock>, T) + Send,
    ) -> Result<T> {
        self.lock_store()?.grant_lock(user, scope, now, decide).await
    }

    /// `user`'s live locks in `scope`, or all of them without one.
    pub async fn live_locks(
        &self,
        user: &UserName,
        scope: Option<LockScope<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredLock>> {
        self.lock_store()?.live_locks(user, scope, now).await
    }

    /// Gives the live lock `token` on one of `chain`'s keys a new timeout from `now`; None if
    /// there is no such lock.
    pub async fn refresh_lock(
        &self,
        user: &UserName,
        chain: &[String],
        token: &str,
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredLock>> {
        self.lock_store()?.refresh_lock(user, chain, token, timeout, now).await
    }

    /// Removes the live lock `token` on one of `chain`'s keys; false if there is none.
    pub async fn remove_lock(
        &self,
        user: &UserName,
        chain: &[String],
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.lock_store()?.remove_lock(user, chain, token, now).await
    }

    /// Removes every lock of `user` on `key` and below it: the resources are gone.
    pub async fn remove_locks_below(&self, user: &UserName, key: &str) -> Result<()> {
        self.lock_store()?.remove_locks_below(user, key).await
    }

    /// Deletes every user's locks that expired before `before`; returns how many. Expired rows
    /// are already absent from every answer: this only frees their space.
    pub async fn sweep_locks(&self, before: DateTime<Utc>) -> Result<u64> {
        self.lock_store()?.sweep_locks(before).await
    }
}
