//! A write's room in the quota as every node sees it (see `store::quota`): reserved before the
//! write starts, released when it ends, whichever way.
//!
//! Only on a shared store, and only for what a write announces (Content-Length, a copy's source
//! size); a body that grows past what it announced is checked by this node's own reservations
//! as it arrives. The count it is checked against is taken afresh (another node may have just
//! written into the same home on the shared files root).

use chrono::TimeDelta;
use tokio::runtime::Handle;

use crate::clock::Clock;
use crate::store::{Result, Room, Store, UserName};

/// How long a reservation is honoured if its node never releases it (it died): long enough
/// for a large upload, short enough that the room comes back the same day.
pub const LIFETIME: TimeDelta = TimeDelta::hours(1);

/// A reservation held in the store; released when dropped.
pub struct SharedRoom {
    store: Store,
    id: String,
    runtime: Handle,
}

impl SharedRoom {
    /// Reserves `bytes` for `user`, whose home holds `used` bytes besides the file replaced;
    /// None when the limit leaves no room for them beside every node's writes in flight.
    pub async fn reserve(
        store: &Store,
        user: &UserName,
        used: u64,
        bytes: u64,
        limit: u64,
        clock: &Clock,
    ) -> Result<Option<Self>> {
        let id = uuid::Uuid::new_v4().to_string();
        let room = Room { used, bytes, limit, lifetime: LIFETIME };
        if !store.reserve_room(user, &id, room, clock.now()).await? {
            return Ok(None);
        }
        Ok(Some(Self { store: store.clone(), id, runtime: Handle::current() }))
    }
}

impl std::fmt::Debug for SharedRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRoom").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Drop for SharedRoom {
    fn drop(&mut self) {
        let (store, id) = (self.store.clone(), std::mem::take(&mut self.id));
        self.runtime.spawn(async move {
            if let Err(e) = store.release_room(&id).await {
                tracing::warn!("a quota reservation stays until it expires: {e}");
            }
        });
    }
}
