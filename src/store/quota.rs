//! Quota room held by writes in flight, for every node sharing the store.
//!
//! On PostgreSQL the reservations are rows, so that parallel uploads through different nodes
//! cannot together pass a user's limit; each expires (with the caller's clock) so that a node
//! that died mid-upload does not hold room forever. The embedded store is used by one process,
//! whose own reservations (`dav::quota`) already see every write: there these are no-ops.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Result, Store, UserName};

/// What a write asks room for.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    /// Bytes the home holds now, without the file the write replaces.
    pub used: u64,
    /// Bytes the write announced.
    pub bytes: u64,
    /// The user's limit.
    pub limit: u64,
    /// How long the reservation is honoured if nobody releases it.
    pub lifetime: TimeDelta,
}

impl Store {
    /// Whether reservations must be kept in the store (several nodes may write one home).
    pub fn shares_quota(&self) -> bool {
        self.postgres().is_some()
    }

    /// Reserves `room` under `id` if `used` plus every node's reservations plus `bytes` stay
    /// within the limit (false: no room, nothing reserved). Always true on the embedded store.
    pub async fn reserve_room(
        &self,
        user: &UserName,
        id: &str,
        room: Room,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        match self.postgres() {
            Some(pg) => pg.reserve_room(user, id, room, now + room.lifetime).await,
            None => Ok(true),
        }
    }

    /// Releases the reservation `id` (done, failed or abandoned).
    pub async fn release_room(&self, id: &str) -> Result<()> {
        match self.postgres() {
            Some(pg) => pg.release_room(id).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestStore, conformance};
    use super::Room;
    use crate::store::{Role, UserName};
    use chrono::{TimeDelta, Utc};

    conformance!(reservations_share_the_room_and_a_dead_nodes_one_expires);
    async fn reservations_share_the_room_and_a_dead_nodes_one_expires(t: TestStore) {
        let alice = UserName::parse("alice").unwrap();
        let start = Utc::now();
        t.store.create_user(&alice, Role::User, "x".into(), start).await.unwrap();
        let room = |bytes| Room { used: 100, bytes, limit: 1000, lifetime: TimeDelta::hours(1) };
        let store = &t.store;
        assert!(store.reserve_room(&alice, "dead", room(600), start).await.unwrap());
        let later = start + TimeDelta::minutes(30);
        // 100 used + 600 held by a node that never comes back + 400 > 1000.
        let held = store.reserve_room(&alice, "b", room(400), later).await.unwrap();
        assert_eq!(held, !store.shares_quota(), "another node's reservation counts");
        assert!(store.reserve_room(&alice, "c", room(300), later).await.unwrap());
        store.release_room("c").await.unwrap();
        let expired = start + TimeDelta::minutes(61);
        assert!(store.reserve_room(&alice, "d", room(800), expired).await.unwrap());
    }
}
