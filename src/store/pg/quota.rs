//! Quota room reserved by writes in flight, shared by every node (`quota_reservations`).
//!
//! A reservation takes the owner's row lock first, so that two nodes checking the same user's
//! room take turns; expired rows (of a node that died mid-upload) are dropped on the way.

use chrono::{DateTime, Utc};

use super::users::unknown;
use super::{Pg, from_bigint, to_bigint};
use crate::store::{Result, UserName};

impl Pg {
    /// [`crate::store::Store::reserve_room`].
    pub(in crate::store) async fn reserve_room(
        &self,
        user: &UserName,
        id: &str,
        room: crate::store::Room,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let now = expires_at - room.lifetime;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let lock = "SELECT 1 FROM users WHERE name = $1 FOR UPDATE";
        txn.query_opt(lock, &[&user.as_str()]).await?.ok_or_else(|| unknown(user))?;
        txn.execute(
            "DELETE FROM quota_reservations WHERE owner = $1 AND expires_at <= $2",
            &[&user.as_str(), &now],
        )
        .await?;
        let row = txn
            .query_one(
                "SELECT COALESCE(SUM(bytes), 0)::bigint FROM quota_reservations WHERE owner = $1",
                &[&user.as_str()],
            )
            .await?;
        let others = from_bigint(row.get(0), "quota_reservations.bytes")?;
        let fits = room.used.saturating_add(others).saturating_add(room.bytes) <= room.limit;
        if fits {
            let bytes = to_bigint(room.bytes, "reservation")?;
            txn.execute(
                "INSERT INTO quota_reservations (id, owner, bytes, expires_at) VALUES ($1, $2, $3, $4)",
                &[&id, &user.as_str(), &bytes, &expires_at],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(fits)
    }

    /// [`crate::store::Store::release_room`].
    pub(in crate::store) async fn release_room(&self, id: &str) -> Result<()> {
        let client = self.client().await?;
        client.execute("DELETE FROM quota_reservations WHERE id = $1", &[&id]).await?;
        Ok(())
    }
}
