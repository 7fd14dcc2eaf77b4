//! [`ObjectFs`]: one user's files on object storage for one request, and what the request
//! found out of reach (for the mount's 503). dav-server's calls are in [`super::filesystem`].

use dav_server::davpath::DavPath;
use dav_server::fs::{FsError, FsResult};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::blobs::{BlobError, BlobKey};
use super::meta::key_of;
use super::{GRACE, ObjectFiles};
use crate::store::{DeadProp, NewContent, NsRefusal, ObjectEntry, Store, UserName};
use crate::upload_context::UploadContext;

/// One user's files on object storage, for one request.
#[derive(Clone)]
pub struct ObjectFs {
    pub(super) shared: Arc<ObjectFiles>,
    pub(super) user: UserName,
    /// This request found the bucket out of reach: the mount answers 503 with `Retry-After`.
    bucket_down: Arc<AtomicBool>,
    /// This request found the store out of reach: likewise.
    store_down: Arc<AtomicBool>,
    /// A PUT's or COPY's terms (`X-OC-Mtime`, `OC-Checksum`, the credential asked again before
    /// the commit), and what became of them, read back by the mount.
    pub(super) upload: Option<Arc<UploadContext>>,
    /// The user's quota in bytes, if they have one (as read for this request).
    pub(super) quota: Option<u64>,
    /// Most names a path may have (below what the request sees as `/`) for anything created.
    max_depth: usize,
    /// A folder-scoped password's folder, as a key (`/Projects`): what the request sees as `/`.
    folder: Option<String>,
    /// Where this request reads dead properties (the mount's memory of the request), if not
    /// straight from the store.
    props: Option<Arc<dyn PropsReader>>,
}

/// Where a request reads dead properties: the mount's per-request memory, which reads a whole
/// listing's in one store read instead of one read per entry.
pub trait PropsReader: Send + Sync {
    /// `user`'s dead properties of `key`.
    fn dead_props<'a>(
        &'a self,
        store: &'a Store,
        user: &'a UserName,
        key: &'a str,
    ) -> BoxFuture<'a, crate::store::Result<Vec<DeadProp>>>;

    /// Forgets what was read (the request is about to change properties).
    fn forget(&self);
}

/// What a request's filesystem found out of reach, read by the mount after dav-server answered.
#[derive(Clone)]
pub struct Reachability {
    bucket_down: Arc<AtomicBool>,
    store_down: Arc<AtomicBool>,
}

impl Reachability {
    /// Whether the bucket or the store could not be reached during the request.
    pub fn unreachable(&self) -> bool {
        self.bucket_down.load(Ordering::Acquire) || self.store_down.load(Ordering::Acquire)
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
            upload: None,
            quota: None,
            max_depth: usize::MAX,
            folder: None,
            props: None,
        })
    }

    /// This filesystem reading dead properties through `props`.
    pub fn reading_props(mut self: Box<Self>, props: Arc<dyn PropsReader>) -> Box<Self> {
        self.props = Some(props);
        self
    }

    /// The dead properties of `key`, through the request's reader if it has one.
    pub(super) async fn dead_props(&self, key: &str) -> FsResult<Vec<DeadProp>> {
        let store = &self.shared.store;
        let props = match &self.props {
            Some(reader) => reader.dead_props(store, &self.user, key).await,
            None => store.dead_props(&self.user, key).await,
        };
        props.map_err(|e| self.store_failed(e))
    }

    /// Forgets the dead properties read so far (before a change of them).
    pub(super) fn forget_props(&self) {
        if let Some(reader) = &self.props {
            reader.forget();
        }
    }

    /// This filesystem for one upload (PUT or COPY) held to `context`.
    pub fn for_upload(mut self: Box<Self>, context: Arc<UploadContext>) -> Box<Self> {
        self.upload = Some(context);
        self
    }

    /// This filesystem creating nothing more than `max_depth` names deep, and writing no more
    /// than the user's `quota` allows.
    pub fn limited(mut self: Box<Self>, max_depth: usize, quota: Option<u64>) -> Box<Self> {
        (self.max_depth, self.quota) = (max_depth, quota);
        self
    }

    /// This filesystem seen from the folder whose key is `folder` (`/Projects`, which must
    /// exist): every path the request names is below it, whatever it names.
    pub fn within(mut self: Box<Self>, folder: String) -> Box<Self> {
        self.folder = Some(folder);
        self
    }

    /// The store key of a path the request names: below the password's folder, if it has one.
    pub(super) fn key(&self, path: &DavPath) -> String {
        let visible = key_of(path);
        match &self.folder {
            Some(folder) if visible == "/" => folder.clone(),
            Some(folder) => format!("{folder}{visible}"),
            None => visible,
        }
    }

    /// Whether `path` is what the request sees as `/` (the home, or the password's folder):
    /// never created, removed, moved or overwritten.
    pub(super) fn is_root(path: &DavPath) -> bool {
        key_of(path) == "/"
    }

    /// Refuses to create `path` deeper than the nesting limit (403), as the mount checked
    /// before (the tree may have changed since).
    pub(super) fn check_depth(&self, path: &DavPath) -> FsResult<()> {
        let visible = key_of(path);
        let depth = if visible == "/" { 0 } else { visible.matches('/').count() };
        if depth > self.max_depth {
            return Err(FsError::Forbidden);
        }
        Ok(())
    }

    /// Asks the credential once more before a commit (a refusal is kept for the mount).
    pub(super) async fn may_commit(&self) -> FsResult<()> {
        match &self.upload {
            Some(context) => context.reconfirm().await,
            None => Ok(()),
        }
    }

    /// The room left in the quota for a write replacing `replaced` bytes: None without a
    /// quota; a write that announced more than the room is refused at once (507).
    pub(super) async fn room(&self, replaced: u64, announced: u64) -> FsResult<Option<u64>> {
        let Some(limit) = self.quota else { return Ok(None) };
        let used = self.shared.store.object_usage(&self.user).await;
        let used = used.map_err(|e| self.store_failed(e))?;
        let room = limit.saturating_sub(used.saturating_sub(replaced));
        if announced > room {
            return Err(FsError::InsufficientStorage);
        }
        Ok(Some(room))
    }

    /// What the mount asks once dav-server answered: was anything out of reach?
    pub fn reachability(&self) -> Reachability {
        Reachability {
            bucket_down: Arc::clone(&self.bucket_down),
            store_down: Arc::clone(&self.store_down),
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
        let replaced = self.entry(to).await?.filter(|e| !e.is_dir).map_or(0, |e| e.size);
        self.room(replaced, source.size).await?;
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
        if Self::is_root(path) {
            return Err(FsError::Forbidden);
        }
        let key = self.key(path);
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
        NsRefusal::OverQuota => FsError::InsufficientStorage,
    }
}
