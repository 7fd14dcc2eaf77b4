//! The change feed: what the rest of the server must follow of the store without asking it.
//!
//! Two things are cached outside the store and must not outlive a change: verified credentials
//! (the gate's cache, the cached mounts, the quota limits) and the settings (auth policy, lock
//! timeout, depth, durability). The store publishes both as one [`Snapshot`] on a
//! `tokio::sync::watch`: readers on the hot path take the current value (no database round
//! trip), and a task that wants to act on a change awaits `changed()` on [`super::Store::changes`].
//!
//! The redb store publishes from the thread that committed, in commit order. A store shared by
//! several nodes (PostgreSQL, next) feeds the same channel from `LISTEN/NOTIFY`: the generation
//! is a row bumped in the same transaction as the change and sent with `pg_notify` (delivered
//! only at commit), and the settings are re-read when it moves. The contract on [`Snapshot`] is
//! what both must keep.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

use super::{Result, Settings};

/// How many changes that can take a credential away the store has seen.
///
/// It only grows, and it grows *after* such a change is committed, never before: whoever read
/// generation `g` and then checked a credential knows that any change newer than that check
/// shows as a generation above `g`. Values are comparable only with values of the same store
/// handle (each process starts its redb feed at 0; a shared store would start from its row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(u64);

impl Generation {
    /// The generation as a number, for readers that keep it in an atomic.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The generation a number read back from [`Generation::get`] stands for.
    pub fn from_number(n: u64) -> Self {
        Self(n)
    }

    fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

/// One published state of the store, as every backend must feed it:
///
/// - `generation` never decreases from one value to the next, and it moves after (never
///   before) the commit of every change that can take a credential away: revoking one or all
///   app passwords, disabling (or enabling) an account, removing it, changing its primary
///   password or quota, and every settings change. Writes that only add or record (creating an
///   account or an app password, first use, last used, TOTP steps and enrolment, dead
///   properties) do not move it, so they do not empty any cache.
/// - `settings` is the whole set of settings in force once that commit is visible: a reader
///   never sees a newer generation with older settings.
/// - Readers may miss intermediate values (a watch keeps only the newest): they compare, they
///   do not count.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Compare with the generation a cached verification was made at.
    pub generation: Generation,
    /// The settings in force, shared: reading them costs a reference count, not a copy.
    pub settings: Arc<Settings>,
}

/// The publishing side, owned by the store.
pub(super) struct Feed {
    sender: watch::Sender<Snapshot>,
    /// Held from the start of a publishing transaction to its publication, so that the feed's
    /// order is the commit order (redb serialises writers, but two could publish out of order).
    order: Mutex<()>,
}

impl Feed {
    /// A feed at generation 0 with the settings read at open.
    pub(super) fn new(settings: Settings) -> Self {
        let first = Snapshot { generation: Generation::default(), settings: Arc::new(settings) };
        Self { sender: watch::Sender::new(first), order: Mutex::new(()) }
    }

    /// The newest snapshot (a lock-protected copy of a number and a reference count).
    pub(super) fn current(&self) -> Snapshot {
        self.sender.borrow().clone()
    }

    /// A receiver that starts at the current snapshot.
    pub(super) fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.sender.subscribe()
    }

    /// Runs `commit` (a whole write transaction, committed) and, if it succeeded, publishes the
    /// next generation with the settings it returns (or the current ones). Nothing is
    /// published for a change that failed or was refused. Blocking: call it where the
    /// transaction runs.
    pub(super) fn publish<T>(
        &self,
        commit: impl FnOnce(&Snapshot) -> Result<(T, Option<Settings>)>,
    ) -> Result<T> {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let (value, settings) = commit(&self.current())?;
        self.sender.send_modify(|snapshot| {
            snapshot.generation = snapshot.generation.next();
            if let Some(settings) = settings {
                snapshot.settings = Arc::new(settings);
            }
        });
        Ok(value)
    }
}
