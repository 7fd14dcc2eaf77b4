//! The change feed: what the rest of the server must follow of the store without asking it.
//!
//! Two things are cached outside the store and must not outlive a change: verified credentials
//! (the gate's cache, the cached mounts, the quota limits) and the settings (auth policy, lock
//! timeout, depth, durability). The store publishes both as one [`Snapshot`] on a
//! `tokio::sync::watch`: readers on the hot path take the current value (no database round
//! trip), and a task that wants to act on a change awaits `changed()` on [`super::Store::changes`].
//!
//! The redb store publishes from the thread that committed, in commit order. The PostgreSQL
//! store (shared by several nodes) feeds the same channel: the generation is a row bumped in
//! the same transaction as the change and sent with `pg_notify` (delivered only at commit); the
//! committing node publishes it after commit, the others from `LISTEN` or, when notifications
//! are lost, from a poll every 500 ms (`pg/listener.rs`), re-reading the settings with it. The
//! contract on [`Snapshot`] is what both must keep.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

use super::{Result, Settings};

/// How many changes that can take a credential away the store has seen.
///
/// It only grows, and it grows *after* such a change is committed, never before: whoever read
/// generation `g` and then checked a credential knows that any change newer than that check
/// shows as a generation above `g`. Values are comparable only with values of the same store
/// handle (each process starts its redb feed at 0; the PostgreSQL feed starts from the database's row,
/// so every node counts the same generations).
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

    /// A feed starting at a shared store's `generation` (the database's row, not 0).
    pub(super) fn starting_at(generation: Generation, settings: Settings) -> Self {
        let first = Snapshot { generation, settings: Arc::new(settings) };
        Self { sender: watch::Sender::new(first), order: Mutex::new(()) }
    }

    /// Publishes `generation` with the settings read in the same snapshot of the shared store,
    /// if it is newer than what the feed holds: the database's order, whichever of the
    /// committing call, the listener or the poll sees it first. Older or equal values are
    /// dropped, so the feed never goes back.
    pub(super) fn advance(&self, generation: Generation, settings: Settings) {
        self.sender.send_if_modified(|snapshot| {
            if generation <= snapshot.generation {
                return false;
            }
            *snapshot = Snapshot { generation, settings: Arc::new(settings) };
            true
        });
    }

    /// The newest generation: a read lock and a copy, no reference count touched (the gate
    /// reads it on every request).
    pub(super) fn generation(&self) -> Generation {
        self.sender.borrow().generation
    }

    /// The newest settings, shared.
    pub(super) fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.sender.borrow().settings)
    }

    /// A receiver that starts at the current snapshot.
    pub(super) fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.sender.subscribe()
    }

    /// Runs `commit` (a whole write transaction, committed) on the settings in force and, if it
    /// succeeded, publishes the next generation with the settings it returns (or the current
    /// ones). Nothing is
    /// published for a change that failed or was refused. Blocking: call it where the
    /// transaction runs.
    pub(super) fn publish<T>(
        &self,
        commit: impl FnOnce(&Settings) -> Result<(T, Option<Settings>)>,
    ) -> Result<T> {
        let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let (value, settings) = commit(&self.settings())?;
        self.sender.send_modify(|snapshot| {
            snapshot.generation = snapshot.generation.next();
            if let Some(settings) = settings {
                snapshot.settings = Arc::new(settings);
            }
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::testing::{TestStore, conformance};
    use super::super::*;

    struct Fixture {
        _dir: TestStore,
        store: Store,
        alice: UserName,
        laptop: AppPasswordId,
    }

    /// A store with an admin, alice, and one app password of hers.
    async fn fixture(t: TestStore) -> Fixture {
        let (store, dir) = (t.store.clone(), t);
        let (admin, alice) = (UserName::parse("admin").unwrap(), UserName::parse("alice").unwrap());
        store.create_user(&admin, Role::Admin, "hash".into(), Utc::now()).await.unwrap();
        store.create_user(&alice, Role::User, "hash".into(), Utc::now()).await.unwrap();
        let laptop = new_password(&store, &alice, "0000000001", "laptop").await;
        Fixture { _dir: dir, store, alice, laptop }
    }

    async fn new_password(store: &Store, owner: &UserName, id: &str, name: &str) -> AppPasswordId {
        let id = AppPasswordId::parse(id).unwrap();
        let new = NewAppPassword {
            id: id.clone(),
            owner: owner.clone(),
            name: name.into(),
            secret_hash: "hash".into(),
            expires_at: Some(Utc::now() + chrono::TimeDelta::days(90)),
            scope: crate::store::Scope::default(),
        };
        store.create_app_password(new, Utc::now()).await.unwrap();
        id
    }

    conformance!(every_change_that_can_take_a_credential_away_moves_the_feed);
    async fn every_change_that_can_take_a_credential_away_moves_the_feed(t: TestStore) {
        let Fixture { store, alice, laptop, _dir } = fixture(t).await;
        let mut seen = store.generation();
        let mut moved = |what: &str| {
            let now = store.generation();
            assert!(now > seen, "{what} did not move the feed");
            seen = now;
        };
        store.revoke_app_password(&alice, &laptop, Utc::now()).await.unwrap();
        moved("revoke");
        new_password(&store, &alice, "0000000002", "phone").await;
        store.revoke_all_app_passwords(&alice, Utc::now()).await.unwrap();
        moved("revoke-all");
        store.set_user_disabled(&alice, true).await.unwrap();
        moved("disable");
        store.set_user_disabled(&alice, false).await.unwrap();
        moved("enable");
        store.set_user_password(&alice, "other hash".into()).await.unwrap();
        moved("password change");
        store.set_user_quota(&alice, Some(1 << 20)).await.unwrap();
        moved("quota");
        store.set_setting(SettingKey::LoginMaxFailures, "5").await.unwrap();
        moved("setting");
        store.remove_user(&alice).await.unwrap();
        moved("remove");
    }

    conformance!(reads_and_harmless_writes_leave_the_feed_where_it_was);
    async fn reads_and_harmless_writes_leave_the_feed_where_it_was(t: TestStore) {
        let Fixture { store, alice, laptop, _dir } = fixture(t).await;
        let before = store.generation();
        let factor = TotpFactor { secret: vec![7; 20], enrolled_at: Utc::now(), last_step: 0 };
        store.user(&alice).await.unwrap();
        store.users().await.unwrap();
        store.has_users().await.unwrap();
        store.login_record(&laptop).await.unwrap();
        store.app_passwords(Some(&alice)).await.unwrap();
        store.record_first_use(&laptop, "rclone", "rclone/v1.60", Utc::now()).await.unwrap();
        store.record_last_used(vec![(laptop.clone(), Utc::now())]).await.unwrap();
        new_password(&store, &alice, "0000000002", "phone").await;
        let bob = UserName::parse("bob").unwrap();
        store.create_user(&bob, Role::User, "hash".into(), Utc::now()).await.unwrap();
        store.set_user_totp(&alice, Some(factor)).await.unwrap();
        assert!(store.accept_totp_step(&alice, 1).await.unwrap());
        let prop = DeadProp { namespace: None, name: "x".into(), prefix: None, xml: None };
        store.patch_dead_props(&alice, "/f", vec![(true, prop)]).await.unwrap();
        store.copy_dead_props(&alice, "/f", "/g").await.unwrap();
        store.delete_dead_props(&alice, "/g").await.unwrap();
        store.settings();
        assert_eq!(store.generation(), before);
    }

    conformance!(a_refused_change_publishes_nothing);
    async fn a_refused_change_publishes_nothing(t: TestStore) {
        let Fixture { store, alice, _dir, .. } = fixture(t).await;
        let before = store.generation();
        let unknown = AppPasswordId::parse("zzzzzzzzzz").unwrap();
        assert!(store.revoke_app_password(&alice, &unknown, Utc::now()).await.is_err());
        assert!(store.set_setting(SettingKey::Durability, "sometimes").await.is_err());
        let admin = UserName::parse("admin").unwrap();
        assert!(matches!(store.remove_user(&admin).await, Err(Error::LastAdmin(_))));
        assert_eq!(store.generation(), before);
    }

    conformance!(a_subscriber_sees_the_new_settings_with_the_new_generation);
    async fn a_subscriber_sees_the_new_settings_with_the_new_generation(t: TestStore) {
        let Fixture { store, _dir, .. } = fixture(t).await;
        let mut changes = store.changes();
        let before = changes.borrow_and_update().clone();
        assert_eq!(before.settings.lock_timeout.as_seconds(), 600);
        let waiting = tokio::spawn(async move {
            changes.changed().await.unwrap();
            changes.borrow_and_update().clone()
        });
        store.set_setting(SettingKey::LockTimeout, "5m").await.unwrap();
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.settings.lock_timeout.as_seconds(), 300);
        assert!(seen.generation > before.generation);
        assert_eq!(store.settings().lock_timeout.as_seconds(), 300, "the per-request read too");
    }

    conformance!(settings_changed_at_once_are_all_in_the_last_snapshot);
    async fn settings_changed_at_once_are_all_in_the_last_snapshot(t: TestStore) {
        let Fixture { store, _dir, .. } = fixture(t).await;
        let changes = [
            (SettingKey::LockTimeout, "5m"),
            (SettingKey::LoginMaxFailures, "3"),
            (SettingKey::Durability, "fast"),
            (SettingKey::PropfindDepthInfinity, "true"),
            (SettingKey::LoginThrottle, "false"),
            (SettingKey::AppCredentialsTtl, "30d"),
        ];
        let tasks = changes.map(|(key, value)| {
            let store = store.clone();
            tokio::spawn(async move { store.set_setting(key, value).await.unwrap() })
        });
        for task in tasks {
            task.await.unwrap();
        }
        let snapshot = store.changes().borrow().clone();
        assert_eq!(snapshot.generation.get(), changes.len() as u64);
        for (key, value) in changes {
            assert_eq!(snapshot.settings.get(key), value, "{key} lost");
        }
    }
}
