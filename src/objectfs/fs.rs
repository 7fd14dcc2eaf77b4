//! [`ObjectFs`]: dav-server's filesystem over the store's namespace and the bucket's blobs.
//!
//! Listings, metadata, MKCOL, MOVE, DELETE and properties touch only the store. GET checks the
//! blob (one HEAD, so that an unreachable bucket is a 503 before any byte, not a cut-off 200)
//! and streams it; PUT and COPY write new blobs ([`super::file`]).

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::StatusCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::blobs::{BlobError, BlobKey};
use super::file::{ObjectReader, ObjectWriter};
use super::{GRACE, ObjectFiles};
use crate::auth::Denied;
use crate::store::{DeadProp, NewContent, NsRefusal, ObjectEntry, PatchOutcome, UserName};

/// One user's files on object storage, for one request.
#[derive(Clone)]
pub struct ObjectFs {
    shared: Arc<ObjectFiles>,
    user: UserName,
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

    async fn entry(&self, key: &str) -> FsResult<Option<ObjectEntry>> {
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

    async fn existing(&self, key: &str) -> FsResult<ObjectEntry> {
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

    async fn copy_file(&self, from: &str, to: &str) -> FsResult<()> {
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

    async fn remove(&self, path: &DavPath, folder: bool) -> FsResult<()> {
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
fn refusal(r: NsRefusal) -> FsError {
    match r {
        NsRefusal::NotFound | NsRefusal::NoParent => FsError::NotFound,
        NsRefusal::Exists => FsError::Exists,
        NsRefusal::NotAFolder | NsRefusal::IsAFolder => FsError::Forbidden,
    }
}

/// The store key of a path: its decoded bytes, no trailing slash, bytes outside printable
/// ASCII (and `%`) percent-escaped: the same key its dead properties are stored under.
pub fn key_of(path: &DavPath) -> String {
    let bytes = path.as_bytes();
    let trimmed = match bytes {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => bytes,
    };
    let mut key = String::with_capacity(trimmed.len());
    for &b in trimmed {
        if b.is_ascii_graphic() && b != b'%' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    if key.is_empty() { "/".to_string() } else { key }
}

/// The raw name (last segment) of a key, escapes undone.
fn name_of(key: &str) -> Vec<u8> {
    let last = key.rsplit('/').next().unwrap_or("");
    let bytes = last.as_bytes();
    let mut name = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                name.push(decoded);
                i += 3;
            }
            _ => {
                name.push(b);
                i += 1;
            }
        }
    }
    name
}

/// An entry's metadata as dav-server reads it. The ETag of a file is its blob's id: new with
/// every write, the same on every node.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    is_dir: bool,
    size: u64,
    modified: SystemTime,
    blob: Option<String>,
}

impl Meta {
    pub(super) fn of(entry: &ObjectEntry) -> Self {
        Self {
            is_dir: entry.is_dir,
            size: entry.size,
            modified: entry.modified.into(),
            blob: entry.blob.clone(),
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.size
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }
    fn is_dir(&self) -> bool {
        self.is_dir
    }
    fn etag(&self) -> Option<String> {
        match &self.blob {
            Some(blob) => Some(blob.rsplit('/').next().unwrap_or(blob).to_string()),
            None => {
                let t = self.modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                Some(format!("{:x}", t.as_micros()))
            }
        }
    }
}

struct Entry(ObjectEntry);

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        name_of(&self.0.path)
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(Meta::of(&self.0));
        Box::pin(std::future::ready(Ok(meta)))
    }
}

impl DavFileSystem for ObjectFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            let key = key_of(path);
            let found = self.entry(&key).await?;
            if found.as_ref().is_some_and(|e| e.is_dir) {
                return Err(FsError::Forbidden);
            }
            if options.write {
                if found.is_some() && options.create_new {
                    return Err(FsError::Exists);
                }
                if found.is_none() && !options.create && !options.create_new {
                    return Err(FsError::NotFound);
                }
                let parent = crate::store::parent_of(&key);
                if !self.entry(parent).await?.is_some_and(|p| p.is_dir) {
                    return Err(FsError::NotFound);
                }
                let writer = ObjectWriter::start(self.clone(), key, options.create_new).await?;
                return Ok(Box::new(writer) as Box<dyn DavFile>);
            }
            let entry = found.ok_or(FsError::NotFound)?;
            let reader = ObjectReader::open(self.clone(), entry).await?;
            Ok(Box::new(reader) as Box<dyn DavFile>)
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let key = key_of(path);
            if !self.existing(&key).await?.is_dir {
                return Err(FsError::Forbidden);
            }
            let children = self.shared.store.object_children(&self.user, &key).await;
            let children = children.map_err(|e| self.store_failed(e))?;
            let entries =
                children.into_iter().map(|e| Ok(Box::new(Entry(e)) as Box<dyn DavDirEntry>));
            let stream: FsStream<Box<dyn DavDirEntry>> =
                Box::pin(futures_util::stream::iter(entries));
            Ok(stream)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let entry = self.existing(&key_of(path)).await?;
            Ok(Box::new(Meta::of(&entry)) as Box<dyn DavMetaData>)
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let key = key_of(path);
            if key == "/" {
                return Err(FsError::Exists);
            }
            let made =
                self.shared.store.object_mkdir(&self.user, &key, self.shared.clock.now()).await;
            made.map_err(|e| self.store_failed(e))?.map_err(refusal)
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.remove(path, true).boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.remove(path, false).boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            let (from, to) = (key_of(from), key_of(to));
            if from == "/" || to == "/" {
                return Err(FsError::Forbidden);
            }
            let renamed = self.shared.store.object_rename(&self.user, &from, &to).await;
            renamed.map_err(|e| self.store_failed(e))?.map_err(refusal)
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move { self.copy_file(&key_of(from), &key_of(to)).await }.boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move {
            let key = key_of(path);
            self.existing(&key).await?;
            let dead: Vec<(bool, DeadProp)> =
                patch.iter().map(|(set, p)| (*set, to_dead(p))).collect();
            let outcome = self.shared.store.patch_dead_props(&self.user, &key, dead).await;
            let outcome = outcome.map_err(|e| self.store_failed(e))?;
            // RFC 4918 §9.2: what cannot be stored is 507, the rest 424 (nothing was changed).
            let status = |i| match &outcome {
                PatchOutcome::Stored => StatusCode::OK,
                PatchOutcome::Refused(refused) if refused.contains(&i) => {
                    StatusCode::INSUFFICIENT_STORAGE
                }
                PatchOutcome::Refused(_) => StatusCode::FAILED_DEPENDENCY,
            };
            let statuses = patch.into_iter().enumerate();
            Ok(statuses.map(|(i, (_, p))| (status(i), DavProp { xml: None, ..p })).collect())
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            let props = self.shared.store.dead_props(&self.user, &key_of(path)).await;
            let props = props.map_err(|e| self.store_failed(e))?;
            Ok(props
                .into_iter()
                .map(from_dead)
                .map(|p| if do_content { p } else { DavProp { xml: None, ..p } })
                .collect())
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            let name = DeadProp::key(prop.namespace.as_deref(), &prop.name);
            let props = self.shared.store.dead_props(&self.user, &key_of(path)).await;
            let found = props
                .map_err(|e| self.store_failed(e))?
                .into_iter()
                .find(|p| DeadProp::key(p.namespace.as_deref(), &p.name) == name);
            found.and_then(|p| p.xml).ok_or(FsError::NotFound)
        }
        .boxed()
    }

    /// (bytes the user's files take, their quota if they have one).
    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        async move {
            let store = &self.shared.store;
            let used = store.object_usage(&self.user).await.map_err(|e| self.store_failed(e))?;
            let account = store.user(&self.user).await.map_err(|e| self.store_failed(e))?;
            Ok((used, account.and_then(|a| a.quota_bytes)))
        }
        .boxed()
    }
}

fn to_dead(p: &DavProp) -> DeadProp {
    DeadProp {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        prefix: p.prefix.clone(),
        xml: p.xml.clone(),
    }
}

fn from_dead(p: DeadProp) -> DavProp {
    DavProp { name: p.name, prefix: p.prefix, namespace: p.namespace, xml: p.xml }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_read_back_from_its_escaped_key() {
        assert_eq!(name_of("/a/b%20c"), b"b c");
        assert_eq!(name_of("/x%25y"), b"x%y");
        assert_eq!(name_of("/%C3%A9t%C3%A9"), "été".as_bytes());
    }

    #[test]
    fn keys_are_escaped_paths_without_a_trailing_slash() {
        let path = DavPath::new("/a%20b/c/").unwrap();
        assert_eq!(key_of(&path), "/a%20b/c");
        assert_eq!(key_of(&DavPath::new("/").unwrap()), "/");
    }
}
