//! The sign-in throttle's counts in the store, so that every node sees the same failures (10
//! spread over 3 nodes lock out like 10 on one). PostgreSQL only: on the embedded store there is
//! one node, and the throttle keeps its counts in memory ([`crate::auth::throttle`]), as it
//! always did. What a count means (windows, lockouts, delays) is the throttle's; the store keeps
//! rows and changes each one atomically.

use chrono::{DateTime, Utc};
use std::net::IpAddr;

use super::{Error, Result, Store};

/// Whose failures a row counts: one surface (WebDAV's or the web sign-in's), one client network,
/// one user name as typed (lower case, at most 64 characters).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKey<'a> {
    /// `"dav"` or `"web"`: the surfaces count apart.
    pub surface: &'a str,
    /// The client network (an IPv4 address, an IPv6 /64).
    pub network: IpAddr,
    /// The user name tried.
    pub user: &'a str,
}

/// One key's count, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRow {
    /// Attempts charged.
    pub failures: u32,
    /// The last charge.
    pub last: DateTime<Utc>,
    /// The last attempt let through during a lockout.
    pub trickled: Option<DateTime<Utc>>,
}

impl Store {
    /// True for the shared store (PostgreSQL): state that must hold across nodes lives there.
    pub fn is_shared(&self) -> bool {
        self.postgres().is_some()
    }

    /// Runs `charge` on `key`'s row (a new row has no failures and `now` as its last charge)
    /// with the row locked, stores what it returns and hands back its answer: however many
    /// nodes charge one key at once, each sees the others' charges.
    pub async fn throttle_charge<T: Send + 'static>(
        &self,
        key: ThrottleKey<'_>,
        now: DateTime<Utc>,
        charge: impl FnOnce(ThrottleRow) -> (ThrottleRow, T) + Send + 'static,
    ) -> Result<T> {
        let pg = self.postgres().ok_or(Error::WrongBackend)?;
        pg.throttle_charge(key, now, charge).await
    }

    /// The failures charged to `key` (0 when it has no row).
    pub async fn throttle_failures(&self, key: ThrottleKey<'_>) -> Result<u32> {
        self.postgres().ok_or(Error::WrongBackend)?.throttle_failures(key).await
    }

    /// Takes one charge back from `key` (an attempt that was no guess).
    pub async fn throttle_refund(&self, key: ThrottleKey<'_>) -> Result<()> {
        self.postgres().ok_or(Error::WrongBackend)?.throttle_refund(key).await
    }

    /// Forgets `key` (a success: it starts over).
    pub async fn throttle_clear(&self, key: ThrottleKey<'_>) -> Result<()> {
        self.postgres().ok_or(Error::WrongBackend)?.throttle_clear(key).await
    }

    /// Drops rows last charged before `before` (past the window: they count for nothing), then,
    /// beyond `max_rows`, the least telling ones (fewest failures, then stalest) as the
    /// in-memory throttle does, so a lockout goes last. Returns the rows dropped.
    pub async fn throttle_sweep(
        &self,
        before: DateTime<Utc>,
        max_rows: u64,
        max_failures: u32,
    ) -> Result<u64> {
        let pg = self.postgres().ok_or(Error::WrongBackend)?;
        pg.throttle_sweep(before, max_rows, max_failures).await
    }

    /// Rows stored (what the sweep bounds).
    pub async fn throttle_rows(&self) -> Result<u64> {
        self.postgres().ok_or(Error::WrongBackend)?.throttle_rows().await
    }
}
