//! A filesystem that cannot be walked out of: dav-server's `LocalFs`, minus symlinks, plus
//! atomic uploads and dead properties.
//!
//! `LocalFs` follows symbolic links, so a link placed in a home folder (by an admin, a sync
//! tool, an unpacked archive) would serve whatever it points to, another user's files included.
//! `hide_symlinks` only hides links from listings. This wrapper checks every path an operation
//! names, source and destination alike, and treats any symlink along it as absent. Clients
//! cannot create symlinks over WebDAV, so the check cannot be raced from the outside.
//!
//! Whole-file writes (PUT) and file copies go through a temporary file renamed into place
//! ([`super::upload`]); temporary names are invisible and refused as paths. Dead properties live
//! in the store, keyed by user and path.

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use dav_server::localfs::LocalFs;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use http::StatusCode;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::folder::FolderRoot;
use super::paths::{Access, Listed, Verified, check_path};
use super::props_path;
use super::quota::Usage;
use super::request::RequestState;
use super::shared_room::SharedRoom;
use super::temp::{TempNames, is_hidden_name};
use super::upload::{Checksum, OnCommit, Upload, UploadContext};
use crate::store::{DeadProp, Durability, PatchOutcome, Store, UserName};
use crate::upload_context::record_properties;

/// A user's home folder served through `LocalFs`, confined, with atomic uploads and dead
/// properties kept in the store.
#[derive(Clone)]
pub struct ConfinedFs {
    inner: LocalFs,
    home: Arc<PathBuf>,
    store: Store,
    user: UserName,
    /// The current request's upload options (`X-OC-Mtime`, durability), if it is a PUT/COPY.
    upload: Option<Arc<UploadContext>>,
    /// The user's usage and quota, shared by all their requests.
    usage: Arc<Usage>,
    /// Folders (relative to the home) this request already found to be real folders, not
    /// symlinks: a tree walk checks each new name once instead of re-walking its whole path.
    verified: Verified,
    /// The entry this request's listing yielded last (a read of it needs no path walk).
    listed: Listed,
    /// The dead properties this request read, and whether the store was out of reach.
    request: RequestState,
    /// Most names a path may have below the home for anything created.
    max_depth: usize,
    /// How this node names its upload temporary files.
    temps: TempNames,
    /// A folder-scoped password's folder: `home` is that folder then, and dead properties are
    /// keyed by their real path below the user's home.
    folder: Option<Arc<FolderRoot>>,
}

impl ConfinedFs {
    /// Serves `user`'s `home` (which must exist); files are created private (0600/0700), at
    /// most `max_depth` names below the home, uploads through temporary files named by `temps`;
    /// the quota's count of the home ages by `clock`.
    pub fn new(
        home: PathBuf,
        store: Store,
        user: UserName,
        max_depth: usize,
        temps: TempNames,
        clock: crate::clock::Clock,
    ) -> Box<Self> {
        let inner = *LocalFs::new(&home, false, false, false);
        let usage = Arc::new(Usage::new(home.clone(), clock));
        Box::new(Self {
            inner,
            home: Arc::new(home),
            store,
            user,
            upload: None,
            usage,
            verified: Verified::default(),
            listed: Listed::default(),
            request: RequestState::default(),
            max_depth,
            temps,
            folder: None,
        })
    }

    /// This filesystem rooted at `root`, the user's `folder` (made ready by
    /// [`FolderRoot::prepare`]): the same confinement below it, the same quota count (the
    /// user's), dead properties at their real paths.
    pub fn for_folder(&self, root: PathBuf, folder: Arc<FolderRoot>) -> Box<Self> {
        let inner = *LocalFs::new(&root, false, false, false);
        let home = Arc::new(root);
        Box::new(Self { inner, home, folder: Some(folder), ..self.clone() })
    }

    /// The key `path`'s dead properties are stored under: its real path below the home.
    fn props_key(&self, path: &DavPath) -> String {
        match &self.folder {
            Some(folder) => folder.props_key(&props_path(path)),
            None => props_path(path),
        }
    }

    /// This filesystem for one request (with its upload options if it is a PUT or COPY), with
    /// nothing verified or read yet: what another request saw may have changed since.
    pub fn for_request(&self, context: Option<Arc<UploadContext>>) -> Box<Self> {
        let (verified, request) = (Verified::default(), RequestState::default());
        let listed = Listed::default();
        Box::new(Self { upload: context, verified, listed, request, ..self.clone() })
    }

    /// What this request's calls remember (the mount asks it whether the store was reached).
    pub fn request_state(&self) -> RequestState {
        self.request.clone()
    }

    /// A store failure, answered 500 by dav-server; one that is the store out of reach is
    /// noted, so that the mount answers 503 instead.
    fn store_failed(&self, e: crate::store::Error) -> FsError {
        if e.is_unavailable() {
            self.request.mark_unreachable();
        }
        tracing::error!("dead property store: {e}");
        FsError::GeneralFailure
    }

    /// Refuses to create `path` deeper than the nesting limit (403).
    fn check_depth(&self, path: &DavPath) -> FsResult<()> {
        if super::limits::depth(path.as_rel_ospath()) > self.max_depth {
            return Err(FsError::Forbidden);
        }
        Ok(())
    }

    /// The user's quota in bytes, if any (a store failure is a 500, or 503 when it is the
    /// store out of reach).
    async fn quota_limit(&self) -> FsResult<Option<u64>> {
        self.usage.limit(&self.store, &self.user).await.map_err(|e| {
            if e.is_unavailable() {
                self.request.mark_unreachable();
            }
            tracing::error!("cannot read the quota of {}: {e}", self.user);
            FsError::GeneralFailure
        })
    }

    /// On a shared store, the room a write of `size` over `target` needs, reserved where every
    /// node sees it, against a fresh count of the home (another node may have written into it);
    /// none needed without a limit or on the embedded store. No room is a 507.
    async fn shared_room(
        &self,
        limit: Option<u64>,
        target: &Path,
        size: Size,
    ) -> FsResult<Option<SharedRoom>> {
        let Some(limit) = limit.filter(|_| self.store.shares_quota()) else { return Ok(None) };
        let (usage, target) = (Arc::clone(&self.usage), target.to_path_buf());
        let (used, size) = self
            .inner
            .blocking(move || {
                usage.forget();
                let used = usage.used()?;
                let replaced = std::fs::symlink_metadata(&target).map_or(0, |m| m.len());
                let size = match size {
                    Size::Announced(size) => size.unwrap_or(0),
                    Size::Of(source) => std::fs::symlink_metadata(source)?.len(),
                };
                Ok::<_, FsError>((used.saturating_sub(replaced), size))
            })
            .await?;
        let clock = self.usage.clock();
        match SharedRoom::reserve(&self.store, &self.user, used, size, limit, clock).await {
            Ok(Some(room)) => Ok(Some(room)),
            Ok(None) => Err(FsError::InsufficientStorage),
            Err(e) => Err(self.store_failed(e)),
        }
    }

    /// Fails if a component of `path` is a symlink (NotFound) or a temporary name. A read of
    /// the entry a listing just yielded passes without a walk (see [`Listed`]).
    async fn check(&self, path: &DavPath, access: Access) -> FsResult<()> {
        if access == Access::Read && self.listed.is(path.as_rel_ospath()) {
            return Ok(());
        }
        let home = Arc::clone(&self.home);
        let relative = path.as_rel_ospath().to_path_buf();
        let verified = self.verified.clone();
        self.inner.blocking(move || check_path(&home, &relative, access, &verified)).await
    }

    fn fspath(&self, path: &DavPath) -> PathBuf {
        self.home.join(path.as_rel_ospath())
    }

    /// The request's upload context, or one with the settings in force.
    fn upload_context(&self) -> Arc<UploadContext> {
        self.upload
            .clone()
            .unwrap_or_else(|| Arc::new(UploadContext::new(None, self.store.settings().durability)))
    }

    /// A PUT of a whole file: into a temporary file, renamed into place on success.
    async fn open_upload(
        &self,
        path: &DavPath,
        options: OpenOptions,
    ) -> FsResult<Box<dyn DavFile>> {
        let target = self.fspath(path);
        let context = self.upload_context();
        let checksum = options.checksum.as_deref().and_then(Checksum::parse);
        let record_properties = self.record_properties(path);
        let runner = self.inner.clone();
        let usage = Arc::clone(&self.usage);
        let limit = self.quota_limit().await?;
        let shared = self.shared_room(limit, &target, Size::Announced(options.size)).await?;
        let temp = self.temps.path_for(&target);
        self.inner
            .blocking(move || {
                let (replaced, created) = match std::fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => return Err(FsError::Forbidden),
                    Ok(_) if options.create_new => return Err(FsError::Exists),
                    Ok(m) => (m.len(), false),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !options.create => {
                        return Err(FsError::NotFound);
                    }
                    Err(_) => (0, true),
                };
                let reservation =
                    usage.reserve(limit, replaced, options.size.unwrap_or(0), shared)?;
                let on_commit: OnCommit =
                    Box::new(move |checksum, _written| record_properties(checksum, created));
                let upload = Upload::create(
                    target,
                    temp,
                    checksum,
                    context,
                    Some(on_commit),
                    reservation,
                    runner,
                )?;
                Ok(Box::new(upload) as Box<dyn DavFile>)
            })
            .await
    }

    /// After an upload: a file it created starts without properties (stale ones, left when a
    /// file was deleted outside davgate, are dropped); then its verified checksum is remembered
    /// for `oc:checksums` (rclone compares it), or a stale one forgotten. A failure is logged,
    /// the upload itself already succeeded.
    fn record_properties(
        &self,
        path: &DavPath,
    ) -> impl FnOnce(Option<String>, bool) -> BoxFuture<'static, ()> + Send + Sync + 'static {
        let (store, user, key) = (self.store.clone(), self.user.clone(), self.props_key(path));
        move |checksum: Option<String>, created: bool| {
            async move { record_properties(&store, &user, &key, checksum, created).await }.boxed()
        }
    }

    /// COPY of one file, through a temporary file renamed into place.
    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> FsResult<()> {
        let (source, target) = (self.fspath(from), self.fspath(to));
        let fsync = self.upload_context().durability == Durability::Fsync;
        let usage = Arc::clone(&self.usage);
        let limit = self.quota_limit().await?;
        let shared = self.shared_room(limit, &target, Size::Of(source.clone())).await?;
        let temps = self.temps.clone();
        self.inner
            .blocking(move || {
                let source_meta = std::fs::symlink_metadata(&source)?;
                if !source_meta.is_file() {
                    return Err(FsError::Forbidden);
                }
                let replaced = std::fs::symlink_metadata(&target).map_or(0, |m| m.len());
                let mut reservation = usage.reserve(limit, replaced, source_meta.len(), shared)?;
                let temp = temps.path_for(&target);
                let copied = copy_via(&source, &temp, &target, fsync);
                if copied.is_err() {
                    let _ = std::fs::remove_file(&temp);
                }
                copied?;
                reservation.commit(source_meta.len());
                Ok(())
            })
            .await
    }
}

/// How big a write will be: what the request announced, or the size of the file it copies.
enum Size {
    Announced(Option<u64>),
    Of(PathBuf),
}

fn copy_via(source: &Path, temp: &Path, target: &Path, fsync: bool) -> std::io::Result<()> {
    std::fs::copy(source, temp)?;
    if fsync {
        std::fs::File::open(temp)?.sync_all()?;
    }
    std::fs::rename(temp, target)?;
    if fsync && let Some(parent) = target.parent() {
        super::folder_sync::sync_folder(parent)?;
    }
    Ok(())
}

impl DavFileSystem for ConfinedFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            let whole_file = options.write && options.truncate && !options.append;
            let access = if options.write { Access::Write } else { Access::Read };
            self.check(path, access).await?;
            if whole_file {
                self.check_depth(path)?;
                return self.open_upload(path, options).await;
            }
            if !options.write {
                return self.inner.open(path, options).await;
            }
            // A write that keeps the content (LOCK creating an empty file; partial PUT and PATCH
            // are refused before dav-server sees them): the file is opened, or created empty,
            // but can never be written in place, outside the quota and the atomic uploads.
            self.check_depth(path)?;
            let file = self.inner.open(path, options).await?;
            Ok(Box::new(NoWrites(file)) as Box<dyn DavFile>)
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            self.check(path, Access::Read).await?;
            // Symlinks are absent here too (listings, COPY/DELETE walks, the HTML index), and so
            // are davgate's temporary files and NFS silly renames.
            let entries = self.inner.read_dir(path, meta).await?;
            let (folder, listed) = (path.as_rel_ospath().to_path_buf(), self.listed.clone());
            let visible = entries.filter_map(move |entry| {
                let (folder, listed) = (folder.clone(), listed.clone());
                async move {
                    let Ok(e) = entry else { return Some(entry) };
                    let name = e.name();
                    let hidden = is_hidden_name(&name) || e.is_symlink().await.unwrap_or(true);
                    if hidden {
                        return None;
                    }
                    listed.set(folder.join(std::ffi::OsStr::from_bytes(&name)));
                    Some(Ok(e))
                }
            });
            Ok(Box::pin(visible) as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.check(path, Access::Read).await?;
            self.inner.metadata(path).await
        }
        .boxed()
    }

    fn symlink_metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.check(path, Access::Read).await?;
            self.inner.symlink_metadata(path).await
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check_depth(path)?;
            self.check(path, Access::Write).await?;
            self.inner.create_dir(path).await?;
            // Its ancestors were just checked, and it is a real folder: a COPY creating a tree
            // then checks each new entry's last name only.
            self.verified.insert(path.as_rel_ospath());
            Ok(())
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(path, Access::Write).await?;
            self.inner.remove_dir(path).await?;
            self.usage.forget();
            Ok(())
        }
        .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(path, Access::Write).await?;
            self.inner.remove_file(path).await?;
            self.usage.forget();
            Ok(())
        }
        .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check_depth(to)?;
            self.check(from, Access::Write).await?;
            self.check(to, Access::Write).await?;
            self.inner.rename(from, to).await
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check_depth(to)?;
            self.check(from, Access::Read).await?;
            self.check(to, Access::Write).await?;
            self.copy_file(from, to).await
        }
        .boxed()
    }

    fn set_accessed<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.check(path, Access::Write).await?;
            self.inner.set_accessed(path, tm).await
        }
        .boxed()
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.check(path, Access::Write).await?;
            self.inner.set_modified(path, tm).await
        }
        .boxed()
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
            self.check(path, Access::Write).await?;
            self.inner.metadata(path).await?;
            let key = self.props_key(path);
            let dead: Vec<(bool, DeadProp)> =
                patch.iter().map(|(set, p)| (*set, to_dead(p))).collect();
            self.request.forget();
            let outcome = self.store.patch_dead_props(&self.user, &key, dead).await;
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
            Ok(statuses.map(|(i, (_, p))| (status(i), without_value(p))).collect())
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            self.check(path, Access::Read).await?;
            let key = self.props_key(path);
            let props = self.request.dead_props(&self.store, &self.user, &key).await;
            let props = props.map_err(|e| self.store_failed(e))?;
            Ok(props
                .into_iter()
                .map(from_dead)
                .map(|p| if do_content { p } else { without_value(p) })
                .collect())
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            self.check(path, Access::Read).await?;
            let (key, name) =
                (self.props_key(path), DeadProp::key(prop.namespace.as_deref(), &prop.name));
            let props = self.request.dead_props(&self.store, &self.user, &key).await;
            let found = props
                .map_err(|e| self.store_failed(e))?
                .into_iter()
                .find(|p| DeadProp::key(p.namespace.as_deref(), &p.name) == name);
            found.and_then(|p| p.xml).ok_or(FsError::NotFound)
        }
        .boxed()
    }

    /// (bytes used in the home, total it may hold): the quota, or else what the disk allows.
    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        async move {
            let limit = self.quota_limit().await?;
            let usage = Arc::clone(&self.usage);
            let used = self.inner.blocking(move || usage.used()).await?;
            if let Some(limit) = limit {
                return Ok((used, Some(limit)));
            }
            let (disk_used, disk_total) = self.inner.get_quota().await?;
            let free = disk_total.map(|total| total.saturating_sub(disk_used));
            Ok((used, free.map(|free| used.saturating_add(free))))
        }
        .boxed()
    }
}

/// A file opened for writing that must not be written: every write is refused (501).
#[derive(Debug)]
struct NoWrites(Box<dyn DavFile>);

impl DavFile for NoWrites {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        self.0.metadata()
    }
    fn write_buf(&mut self, _buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }
    fn write_bytes(&mut self, _buf: bytes::Bytes) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }
    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, bytes::Bytes> {
        self.0.read_bytes(count)
    }
    fn seek(&mut self, _pos: std::io::SeekFrom) -> FsFuture<'_, u64> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
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

fn without_value(p: DavProp) -> DavProp {
    DavProp { xml: None, ..p }
}
