//! The collector's statements in PostgreSQL ([`crate::store::object_gc`]).

use chrono::{DateTime, Utc};

use super::{Pg, stored_time};
use crate::store::{GarbageBlob, Result};

/// The collector's advisory lock: one node collects at a time ("objgc" in ASCII).
const COLLECTOR_LOCK: i64 = 0x006f_626a_6763;

impl Pg {
    pub(in crate::store) async fn object_gc_exclusive<T, F>(
        &self,
        collect: impl FnOnce() -> F,
    ) -> Result<Option<T>>
    where
        F: Future<Output = T>,
    {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let row = txn.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&COLLECTOR_LOCK]).await?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        let collected = collect().await;
        // Releases the lock; a failure here only ends it with the connection.
        let _ = txn.commit().await;
        Ok(Some(collected))
    }

    pub(in crate::store) async fn object_stale_pending(
        &self,
        node: &str,
        restarted_at: DateTime<Utc>,
        started_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let client = self.client().await?;
        let moved = client
            .execute(
                "WITH stale AS (
                     DELETE FROM object_pending
                     WHERE started_at < $1 OR (node = $2 AND started_at < $3)
                     RETURNING blob
                 )
                 INSERT INTO object_garbage (blob, collect_after, unfinished)
                 SELECT blob, $4, true FROM stale
                 ON CONFLICT (blob) DO UPDATE SET unfinished = true",
                &[&stored_time(started_before), &node, &stored_time(restarted_at), &now],
            )
            .await?;
        Ok(moved)
    }

    pub(in crate::store) async fn object_garbage_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<GarbageBlob>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT blob, unfinished FROM object_garbage WHERE collect_after <= $1
                 ORDER BY collect_after LIMIT $2",
                &[&now, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|r| GarbageBlob { blob: r.get(0), unfinished: r.get(1) }).collect())
    }
}
