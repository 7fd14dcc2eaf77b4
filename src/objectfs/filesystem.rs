//! dav-server's calls on an [`ObjectFs`]: listings, metadata, MKCOL, MOVE, DELETE (of a whole
//! folder at once) and properties touch only the store; GET checks the blob (one HEAD, so that an unreachable
//! bucket is a 503 before any byte, not a cut-off 200) and streams it; PUT and COPY write new
//! blobs ([`super::file`]).

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsStream,
    OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;
use http::StatusCode;

use super::file::{ObjectReader, ObjectWriter};
use super::fs::{ObjectFs, refusal};
use super::meta::{Entry, Meta};
use crate::store::{DeadProp, PatchOutcome};

impl DavFileSystem for ObjectFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            let key = self.key(path);
            let found = self.entry(&key).await?;
            if found.as_ref().is_some_and(|e| e.is_dir) {
                return Err(FsError::Forbidden);
            }
            if options.write && !options.truncate {
                // A write that keeps the content: LOCK on an unmapped URL. As on disk, the empty
                // file exists once this returns (committed now), and cannot be written through.
                if found.is_none() {
                    let parent = crate::store::parent_of(&key);
                    if !self.entry(parent).await?.is_some_and(|p| p.is_dir) {
                        return Err(FsError::NotFound);
                    }
                    self.check_depth(path)?;
                    let mut empty =
                        ObjectWriter::start(self.clone(), key.clone(), None, &options).await?;
                    empty.flush().await?;
                }
                let reader = ObjectReader::open(self.clone(), self.existing(&key).await?).await?;
                return Ok(Box::new(reader) as Box<dyn DavFile>);
            }
            if options.write {
                if found.is_some() && options.create_new {
                    return Err(FsError::Exists);
                }
                if found.is_none() && !options.create && !options.create_new {
                    return Err(FsError::NotFound);
                }
                self.check_depth(path)?;
                let parent = crate::store::parent_of(&key);
                if !self.entry(parent).await?.is_some_and(|p| p.is_dir) {
                    return Err(FsError::NotFound);
                }
                let replaced = found.as_ref().map(|e| e.size);
                let writer = ObjectWriter::start(self.clone(), key, replaced, &options).await?;
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
            let key = self.key(path);
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
            let entry = self.existing(&self.key(path)).await?;
            Ok(Box::new(Meta::of(&entry)) as Box<dyn DavMetaData>)
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            if Self::is_root(path) {
                return Err(FsError::Exists);
            }
            self.check_depth(path)?;
            let key = self.key(path);
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

    /// A folder DELETE: the whole subtree in one store transaction, no bucket request (its
    /// blobs are collected after the grace period).
    fn remove_tree<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.remove(path, true).boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            if Self::is_root(from) || Self::is_root(to) {
                return Err(FsError::Forbidden);
            }
            self.check_depth(to)?;
            let (from, to) = (self.key(from), self.key(to));
            let renamed = self.shared.store.object_rename(&self.user, &from, &to).await;
            renamed.map_err(|e| self.store_failed(e))?.map_err(refusal)
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            if Self::is_root(to) {
                return Err(FsError::Forbidden);
            }
            self.check_depth(to)?;
            self.copy_file(&self.key(from), &self.key(to)).await
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
            let key = self.key(path);
            self.existing(&key).await?;
            let dead: Vec<(bool, DeadProp)> =
                patch.iter().map(|(set, p)| (*set, to_dead(p))).collect();
            self.forget_props();
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
            let props = self.dead_props(&self.key(path)).await?;
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
            let found = self
                .dead_props(&self.key(path))
                .await?
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
