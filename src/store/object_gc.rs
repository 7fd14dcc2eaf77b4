//! What the object-storage collector ([`crate::objectfs::gc`]) asks of the store: one collector
//! in the cluster at a time, the uploads no node will finish, and the garbage that is due.
//!
//! A blob leaves the bucket only once the store says nothing points at it: it is garbage (a
//! replaced or deleted content, after its grace period), or an upload that will never commit.
//! An upload counts as one when it stayed pending longer than any upload takes, or when it was
//! started by this very node before its last start (a node killed mid-PUT and started again:
//! the process that was uploading is gone). PostgreSQL only, like the namespace.

use super::{Result, Store};

/// A blob due for removal from the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarbageBlob {
    /// Its key below the location's prefix.
    pub blob: String,
    /// It came from an upload that never finished: a multipart upload may still be open on its
    /// key, to abort before the blob goes.
    pub unfinished: bool,
}

impl Store {
    /// Runs `collect` while this process holds the cluster's collector lock; `None` (and
    /// `collect` not run) while another node holds it. The lock is a transaction-scoped
    /// advisory lock on a connection of its own, so it goes with the transaction even if the
    /// collection is cancelled or the node dies.
    pub async fn object_gc_exclusive<T, F>(&self, collect: impl FnOnce() -> F) -> Result<Option<T>>
    where
        F: Future<Output = T>,
    {
        self.objects_pg()?.object_gc_exclusive(collect).await
    }

    /// Hands to the garbage (due at `now`, marked unfinished) every upload still pending that
    /// started before `started_before` (on any node), or that `node` started before
    /// `restarted_at` (its previous life). Returns how many.
    pub async fn object_stale_pending(
        &self,
        node: &str,
        restarted_at: chrono::DateTime<chrono::Utc>,
        started_before: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        self.objects_pg()?.object_stale_pending(node, restarted_at, started_before, now).await
    }

    /// Up to `limit` garbage blobs due at `now`, the longest due first.
    pub async fn object_garbage_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<GarbageBlob>> {
        self.objects_pg()?.object_garbage_due(now, limit).await
    }

    fn objects_pg(&self) -> Result<&super::pg::Pg> {
        self.postgres().ok_or(super::Error::NoObjectNamespace)
    }
}
