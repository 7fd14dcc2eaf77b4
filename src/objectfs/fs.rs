//! [`ObjectFs`]: one user's files on object storage for one request, and what the request
//! found out of reach (for the mount's 503). dav-server's calls are in [`super::filesystem`].

use dav_server::davpath::DavPath;
use dav_server::fs::{FsError, FsResult};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::blobs::{BlobError, BlobKey};
use super::meta::key_of;
use super::{GRACE, ObjectFiles};
use crate::auth::Denied;
use crate::store::{NewContent, NsRefusal, ObjectEntry, UserName};

/// One user's files on object storage, for one request.
#[derive(Clone)]
pub struct ObjectFs {
    pub(super) shared: Arc<ObjectFiles>,
    pub(super) user: UserName,
    /// This request found the bucket out of reach: the mount answers 503 with `Retry-After`.
    bucket_down: Arc<AtomicBool>,
    /// This request found the store out of reach: likewise.
    store_down: Arc<AtomicBool>,
    /// Asked before an upload commits: does the request's credential still stand?
    commit_check: Option<CommitCheck>,
    /// What that check refused, if it did.
    refused: Arc<OnceLock<Denied>>,
}

/// Whether the credential of an upload still stands when its body has arrived (an app password
/// revoked meanwhile stores nothing).
pub type CommitCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Denied>> + Send + Sync>;

/// What a request's filesystem found out of reach, read by the mount after dav-server answered.
#[derive(Clone)]
pub struct Reachability {
    bucket_down: Arc<AtomicBool>,
    store_down: Arc<AtomicBool>,
    refused: Arc<OnceLock<Denied>>,
}

impl Reachability {
    /// Whether the bucket or the store could not be reached during the request.
    pub fn unreachable(&self) -> bool {
        self.bucket_down.load(Ordering::Acquire) || self.store_down.load(Ordering::Acquire)
    }

    /// Why an upload's credential was refused at commit, if it was.
    pub fn refused(&self) -> Option<Denied> {
        self.refused.get().copied()
    }
}

impl ObjectFs {
    pub(super) fn new(shared: Arc<ObjectFiles>, user: UserName) -> Box<Self> {
        let (bucket_down, store_down) = (Arc::default(), Arc::default());
        Box::new(Self {
            shared,
            user,
            bucket_down,
            store_down,
            commit_check: None,
            refused: Arc::default(),
        })
    }

    /// This filesystem for one upload whose credential `check` asks again before committing.
    pub fn checking_commits(mut self: Box<Self>, check: CommitCheck) -> Box<Self> {
        self.commit_check = Some(check);
        self
    }

    /// Asks the credential once more before a commit; a refusal is kept for the mount.
    pub(super) async fn may_commit(&self) -> FsResult<()> {
        let Some(check) = &self.commit_check else { return Ok(()) };
        check().await.map_err(|denied| {
            let _ = self.refused.set(denied);
            FsError::Forbidden
        })
    }

    /// What the mount asks once dav-server answered: was anything out of reach?
    pub fn reachability(&self) -> Reachability {
        Reachability {
            bucket_down: Arc::clone(&self.bucket_down),
            store_down: Arc::clone(&self.store_down),
            refused: Arc::clone(&self.refused),
        }
    }

    /// A store failure as dav-server's 500; one that is the store out of reach is noted.
    pub(super) fn store_failed(&self, e: crate::store::Error) -> FsError {
        if e.is_unavailable() {
            self.store_down.store(true, Ordering::Release);
        }
        tracing::error!("object namespace: {e}");
        FsError::GeneralFailure
    }

    /// A bucket failure as dav-server's answer; one that is the bucket out of reach is noted.
    pub(super) fn blob_failed(&self, e: BlobError) -> FsError {
        if matches!(e, BlobError::Unavailable(_)) {
            self.bucket_down.store(true, Ordering::Release);
        }
        tracing::error!("object storage: {e}");
        FsError::GeneralFailure
    }

    pub(super) fn shared(&self) -> &ObjectFiles {
        &self.shared
    }

    pub(super) fn shared_arc(&self) -> Arc<ObjectFiles> {
        Arc::clone(&self.shared)
    }

    pub(super) async fn entry(&self, key: &str) -> FsResult<Option<ObjectEntry>> {
        if key == "/" {
            return Ok(Some(ObjectEntry {
                path: "/".into(),
                is_dir: true,
                size: 0,
                modified: self.shared.started.into(),
                blob: None,
            }));
        }
        self.shared.store.object_entry(&self.user, key).await.map_err(|e| self.store_failed(e))
    }

    pub(super) async fn existing(&self, key: &str) -> FsResult<ObjectEntry> {
        self.entry(key).await?.ok_or(FsError::NotFound)
    }

    /// The commit of new content at `key`, refusals as dav-server's answers.
    pub(super) async fn commit(&self, key: &str, content: &NewContent) -> FsResult<()> {
        let after = self.shared.clock.now() + GRACE;
        let store = &self.shared.store;
        match store.object_commit(&self.user, key, content, after).await {
            Ok(outcome) => outcome.map_err(refusal),
            Err(e) => Err(self.store_failed(e)),
        }
    }

    pub(super) async fn copy_file(&self, from: &str, to: &str) -> FsResult<()> {
        let source = self.existing(from).await?;
        let Some(blob) = source.blob.filter(|_| !source.is_dir) else {
            return Err(FsError::Forbidden);
        };
        let shared = &self.shared;
        let fresh = BlobKey::fresh();
        let now = shared.clock.now();
        shared
            .store
            .object_pending(fresh.as_str(), &shared.node, now)
            .await
            .map_err(|e| self.store_failed(e))?;
        let copied = shared.blobs.copy(&BlobKey::from_stored(blob), &fresh).await;
        if let Err(e) = copied {
            let _ = shared.store.object_abandon(fresh.as_str(), now).await;
            return Err(self.blob_failed(e));
        }
        let content = NewContent {
            blob: fresh.as_str().to_string(),
            size: source.size,
            modified: now,
            create_new: false,
        };
        let committed = match self.may_commit().await {
            Ok(()) => self.commit(to, &content).await,
            Err(e) => Err(e),
        };
        if committed.is_err() {
            let _ = shared.store.object_abandon(fresh.as_str(), now).await;
        }
        committed
    }

    pub(super) async fn remove(&self, path: &DavPath, folder: bool) -> FsResult<()> {
        let after = self.shared.clock.now() + GRACE;
        let key = key_of(path);
        if key == "/" {
            return Err(FsError::Forbidden);
        }
        match self.shared.store.object_remove(&self.user, &key, folder, after).await {
            Ok(outcome) => outcome.map_err(refusal),
            Err(e) => Err(self.store_failed(e)),
        }
    }
}

/// A refused namespace change as dav-server reads it (NotFound on a missing parent is its 409).
pub(super) fn refusal(r: NsRefusal) -> FsError {
    match r {
        NsRefusal::NotFound | NsRefusal::NoParent => FsError::NotFound,
        NsRefusal::Exists => FsError::Exists,
        NsRefusal::NotAFolder | NsRefusal::IsAFolder => FsError::Forbidden,
    }
}
