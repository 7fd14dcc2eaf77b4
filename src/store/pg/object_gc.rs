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

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use crate::store::testing::TestStore;
    use crate::store::{Error, GarbageBlob, NewContent, PropLimits, UserName};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_one_node_collects_another_is_told_to_skip_its_turn() {
        let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
        let other = t.second_node().await;
        let inner = t.store.object_gc_exclusive(|| async {
            // Inside the first node's collection, the second finds the lock taken.
            let skipped = other.object_gc_exclusive(|| async { "ran" }).await.unwrap();
            assert_eq!(skipped, None);
            "first"
        });
        assert_eq!(inner.await.unwrap(), Some("first"));
        // Once the first is done, the lock is free again.
        let after = other.object_gc_exclusive(|| async { "second" }).await.unwrap();
        assert_eq!(after, Some("second"));
    }

    #[tokio::test]
    async fn only_a_dead_upload_is_handed_to_the_collector_marked_unfinished() {
        let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
        let store = &t.store;
        let now = Utc::now();
        let hour = TimeDelta::hours(1);
        // This node before its restart, this node after it, another node, and an ancient one.
        store.object_pending("blobs/before-restart", "me", now - hour).await.unwrap();
        store.object_pending("blobs/after-restart", "me", now).await.unwrap();
        store.object_pending("blobs/other-node", "you", now - hour).await.unwrap();
        store.object_pending("blobs/ancient", "you", now - TimeDelta::hours(30)).await.unwrap();
        let restarted = now - TimeDelta::minutes(1);
        let stale =
            store.object_stale_pending("me", restarted, now - TimeDelta::hours(24), now).await;
        assert_eq!(stale.unwrap(), 2);
        let mut due = store.object_garbage_due(now, 10).await.unwrap();
        due.sort_by(|a, b| a.blob.cmp(&b.blob));
        let unfinished = |blob: &str| GarbageBlob { blob: blob.into(), unfinished: true };
        assert_eq!(due, [unfinished("blobs/ancient"), unfinished("blobs/before-restart")]);
        // Nothing is due before its time.
        assert!(store.object_garbage_due(now - hour, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_upload_the_collector_took_for_dead_is_never_committed() {
        let Some(t) = TestStore::postgres(PropLimits::default()).await else { return };
        let (store, now) = (&t.store, Utc::now());
        let alice = UserName::parse("alice").unwrap();
        store.object_pending("blobs/slow", "me", now - TimeDelta::hours(25)).await.unwrap();
        let stale = store.object_stale_pending("me", now - TimeDelta::hours(30), now, now).await;
        assert_eq!(stale.unwrap(), 1);
        let content =
            NewContent { blob: "blobs/slow".into(), size: 4, modified: now, create_new: false };
        let committed = store.object_commit(&alice, "/late.txt", &content, now).await;
        assert!(matches!(committed, Err(Error::UploadAbandoned(_))), "{committed:?}");
        assert_eq!(store.object_entry(&alice, "/late.txt").await.unwrap(), None);
    }
}
