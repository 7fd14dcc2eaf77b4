//! The embedded mode's lock table: every user's locks in this process's memory (one process
//! serves a redb store, so nothing else needs to see them).
//!
//! A lock past its timeout is absent for every operation and is purged: the touched user's
//! locks on each LOCK, and everyone's at least every [`SWEEP_EVERY`] on any lock operation, so
//! expired locks on paths nobody visits again are freed too.

use dav_server::ls::DavLock;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::table::{Conditions, Denied, UserTable, Wanted};
use super::{LockLimits, SWEEP_EVERY};
use crate::store::{AppPasswordId, UserName};

/// Every user's locks.
#[derive(Debug, Default)]
pub(super) struct Memory {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    users: HashMap<UserName, UserTable>,
    /// The app password that took each lock (by token), to release them when it is revoked;
    /// tokens of locks gone by other ways are dropped at the next sweep.
    takers: HashMap<String, AppPasswordId>,
    last_sweep: Option<SystemTime>,
}

impl Memory {
    /// Removes every lock of `user` whose taker is one of `revoked`.
    pub fn release_taken_by(&self, user: &UserName, revoked: &[AppPasswordId]) {
        let mut guard = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let table = &mut *guard;
        let tokens: Vec<String> = (table.takers.iter())
            .filter(|(_, taker)| revoked.contains(taker))
            .map(|(token, _)| token.clone())
            .collect();
        if let Some(locks) = table.users.get_mut(user) {
            for token in &tokens {
                locks.remove_token(token);
            }
        }
        for token in &tokens {
            table.takers.remove(token);
        }
    }

    /// Drops every lock of `user`.
    pub fn forget(&self, user: &UserName) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).users.remove(user);
    }

    /// True if no user holds a lock, expired or not (the sweep's test).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).users.values().all(UserTable::is_empty)
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
                !user.is_empty()
            });
            let Table { users, takers, .. } = &mut *table;
            takers.retain(|token, _| users.values().any(|u| u.holds_token(token)));
            table.last_sweep = Some(now);
        }
        table
    }

    fn with_user<T>(
        &self,
        user: &UserName,
        now: SystemTime,
        op: impl FnOnce(&mut UserTable) -> T,
    ) -> T {
        let mut table = self.lock_table(now);
        op(table.users.entry(user.clone()).or_default())
    }

    /// Grants `wanted` on `key` unless a lock conflicts or a cap refuses it.
    pub fn lock(
        &self,
        user: &UserName,
        now: SystemTime,
        key: Vec<u8>,
        wanted: &Wanted,
        limits: &LockLimits,
    ) -> Result<DavLock, Denied> {
        let mut guard = self.lock_table(now);
        let table = &mut *guard;
        let locks = table.users.entry(user.clone()).or_default();
        locks.sweep(now);
        locks.may_grant(&key, wanted, locks.count(), limits)?;
        let lock = wanted.granted(now);
        locks.insert(key, lock.clone());
        if let Some(taker) = wanted.taker {
            table.takers.insert(lock.token.clone(), taker.clone());
        }
        Ok(lock)
    }

    /// Removes the live lock `token` on `key` or above it; false if there is none.
    pub fn unlock(&self, user: &UserName, now: SystemTime, key: &[u8], token: &str) -> bool {
        self.with_user(user, now, |table| table.remove(key, token, now))
    }

    /// Gives the live lock `token` on `key` or above it `timeout` from `now`.
    pub fn refresh(
        &self,
        user: &UserName,
        now: SystemTime,
        key: &[u8],
        token: &str,
        timeout: std::time::Duration,
    ) -> Option<DavLock> {
        self.with_user(user, now, |table| {
            let lock = table.live_mut(key, token, now)?;
            lock.timeout = Some(timeout);
            lock.timeout_at = now.checked_add(timeout);
            Some(lock.clone())
        })
    }

    /// Whether `who` may change `key` (and below it, with `deep`).
    pub fn check(
        &self,
        user: &UserName,
        now: SystemTime,
        key: &[u8],
        who: &Conditions,
        deep: bool,
    ) -> Result<(), DavLock> {
        self.with_user(user, now, |table| {
            table.sweep_path(key, now);
            if deep {
                table.sweep(now);
            }
            table.check(key, who, deep)
        })
    }

    /// The locks covering `key`, for lockdiscovery.
    pub fn discover(&self, user: &UserName, now: SystemTime, key: &[u8]) -> Vec<DavLock> {
        self.with_user(user, now, |table| {
            table.sweep_path(key, now);
            table.discover(key)
        })
    }

    /// Drops the locks of `key`'s subtree: the resources are gone.
    pub fn delete(&self, user: &UserName, now: SystemTime, key: &[u8]) {
        self.with_user(user, now, |table| table.remove_subtree(key));
    }
}
