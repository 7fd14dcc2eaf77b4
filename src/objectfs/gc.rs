//! The garbage collector: removes from the bucket the blobs nothing points at any more.
//!
//! Garbage is what the store queued ([`crate::store::GarbageBlob`]): the old content of a file
//! replaced or deleted (due after [`GRACE`](super::GRACE), so that a download that began before
//! the change reads a consistent file to its end), and uploads that never finished (due at once:
//! no reader ever saw them). An upload left pending by a node that died becomes garbage when it
//! is older than [`PENDING_LIFETIME`](super::PENDING_LIFETIME), or at once when this node finds
//! it started the upload before its own last start (a node SIGKILLed mid-PUT and started again
//! cleans up after itself). Before removing an unfinished blob the collector aborts the
//! multipart uploads still open on its key ([`super::multipart`]), which S3 would bill forever.
//!
//! Every node runs the collector every [`COLLECT_EVERY`] on the server's [`Clock`] (a test's
//! `ManualClock` moves it), and `davgate files gc` runs one pass at once; a PostgreSQL advisory
//! lock lets one node of the cluster collect at a time, the others skip their turn.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::blobs::{BlobError, BlobKey};
use super::{ObjectFiles, PENDING_LIFETIME};
use crate::clock::Clock;

/// How often, on the server's clock, a node collects.
pub const COLLECT_EVERY: Duration = Duration::from_secs(60);

/// How often (real time) the collector looks at the clock: a test's clock moved past the next
/// pass is noticed within this.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The most blobs one pass removes (the rest wait for the next).
const BATCH: u32 = 1000;

/// What one collection did: for the log and `davgate files gc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// False when another node held the collector's lock (and this one did nothing).
    pub ran: bool,
    /// Uploads found pending that no node will finish, now handed to the garbage.
    pub abandoned_uploads: u64,
    /// Multipart uploads aborted on the keys of unfinished blobs.
    pub aborted_multipart_uploads: usize,
    /// The blobs removed from the bucket (keys below the location's prefix), or already gone.
    pub removed: Vec<String>,
    /// Blobs due that the bucket did not let go this time (tried again next pass).
    pub left: usize,
}

impl ObjectFiles {
    /// One collection now (after the one in progress on this node, if any), unless another node
    /// holds the collector's lock.
    pub async fn collect_garbage(&self) -> Result<Collected, crate::store::Error> {
        let _turn = self.collecting.lock().await;
        let pass = self.store.object_gc_exclusive(|| self.collect_now()).await?;
        Ok(pass.transpose()?.unwrap_or_default())
    }

    async fn collect_now(&self) -> Result<Collected, crate::store::Error> {
        let now = self.clock.now();
        let restarted_at = chrono::DateTime::<chrono::Utc>::from(self.started);
        let abandoned = self
            .store
            .object_stale_pending(&self.node, restarted_at, now - PENDING_LIFETIME, now)
            .await?;
        let mut done =
            Collected { ran: true, abandoned_uploads: abandoned, ..Collected::default() };
        let due = self.store.object_garbage_due(now, BATCH).await?;
        let total = due.len();
        for (i, garbage) in due.into_iter().enumerate() {
            let key = BlobKey::from_stored(garbage.blob);
            match self.remove(&key, garbage.unfinished).await {
                Ok(aborted) => {
                    self.store.object_collected(key.as_str()).await?;
                    done.aborted_multipart_uploads += aborted;
                    done.removed.push(key.as_str().to_string());
                }
                Err(e @ BlobError::Unavailable(_)) => {
                    tracing::warn!("garbage collection paused, the bucket is unreachable: {e}");
                    done.left += total - i;
                    break;
                }
                Err(e) => {
                    tracing::warn!("garbage blob {} not removed yet: {e}", key.as_str());
                    done.left += 1;
                }
            }
        }
        Ok(done)
    }

    /// Aborts what may still be uploading to `key` (if `unfinished`), then removes the blob; a
    /// blob the bucket does not hold counts as removed. Returns the uploads aborted.
    async fn remove(&self, key: &BlobKey, unfinished: bool) -> Result<usize, BlobError> {
        let aborted = if unfinished { self.blobs.abort_uploads(key).await? } else { 0 };
        match self.blobs.delete(key).await {
            Ok(()) | Err(BlobError::NotFound(_)) => Ok(aborted),
            Err(e) => Err(e),
        }
    }
}

/// Runs the collector every [`COLLECT_EVERY`] on `clock` while `objects` is in use.
pub(super) fn spawn(objects: Weak<ObjectFiles>, clock: Clock) {
    tokio::spawn(async move {
        let mut next = clock.instant() + COLLECT_EVERY;
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let Some(objects) = objects.upgrade() else { return };
            if clock.instant() < next {
                continue;
            }
            log(&objects).await;
            next = clock.instant() + COLLECT_EVERY;
        }
    });
}

async fn log(objects: &Arc<ObjectFiles>) {
    match objects.collect_garbage().await {
        Ok(c) if c.abandoned_uploads > 0 || !c.removed.is_empty() => tracing::info!(
            "garbage collected: {} blobs removed, {} abandoned uploads taken, {} multipart \
             uploads aborted, {} left for later",
            c.removed.len(),
            c.abandoned_uploads,
            c.aborted_multipart_uploads,
            c.left
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("garbage blobs not collected: {e}"),
    }
}
