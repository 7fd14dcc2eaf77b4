//! A filesystem that cannot be walked out of: dav-server's `LocalFs`, minus symlinks.
//!
//! `LocalFs` follows symbolic links, so a link placed in a home folder (by an admin, a sync
//! tool, an unpacked archive) would serve whatever it points to, another user's files included.
//! `hide_symlinks` only hides links from listings. This wrapper checks every path an operation
//! names, source and destination alike, and treats any symlink along it as absent. Clients
//! cannot create symlinks over WebDAV, so the check cannot be raced from the outside.

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use dav_server::localfs::LocalFs;
use futures_util::FutureExt;
use http::StatusCode;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::props_path;
use crate::store::{DeadProp, Store, UserName};

/// A user's home folder served through `LocalFs`, with every path checked for symlinks and
/// dead properties kept in the store.
#[derive(Clone)]
pub struct ConfinedFs {
    inner: LocalFs,
    home: Arc<PathBuf>,
    store: Arc<Store>,
    user: UserName,
}

impl ConfinedFs {
    /// Serves `user`'s `home` (which must exist); files are created private (0600/0700).
    pub fn new(home: PathBuf, store: Arc<Store>, user: UserName) -> Box<Self> {
        let inner = *LocalFs::new(&home, false, false, false);
        Box::new(Self {
            inner,
            home: Arc::new(home),
            store,
            user,
        })
    }

    /// Runs a store operation on the blocking side, mapping its failure to a 500.
    async fn with_store<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Store, &UserName) -> crate::store::Result<T> + Send + 'static,
    ) -> FsResult<T> {
        let (store, user) = (Arc::clone(&self.store), self.user.clone());
        self.inner
            .blocking(move || {
                op(&store, &user).map_err(|e| {
                    tracing::error!("dead property store: {e}");
                    FsError::GeneralFailure
                })
            })
            .await
    }

    /// Fails with NotFound if any existing component of `path` below the home is a symlink.
    async fn check(&self, path: &DavPath) -> FsResult<()> {
        let home = Arc::clone(&self.home);
        let relative = path.as_rel_ospath().to_path_buf();
        self.inner
            .blocking(move || check_no_symlink(&home, &relative))
            .await
    }
}

/// Walks `relative` from `home`, one `lstat` per component, stopping at the first that does not
/// exist (nothing beyond it can be a link). `..` and absolute parts are refused outright.
fn check_no_symlink(home: &Path, relative: &Path) -> FsResult<()> {
    let mut current = home.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(FsError::Forbidden);
        };
        current.push(name);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(FsError::NotFound),
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
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
            self.check(path).await?;
            self.inner.open(path, options).await
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            self.check(path).await?;
            self.inner.read_dir(path, meta).await
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.check(path).await?;
            self.inner.metadata(path).await
        }
        .boxed()
    }

    fn symlink_metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.check(path).await?;
            self.inner.symlink_metadata(path).await
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(path).await?;
            self.inner.create_dir(path).await
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(path).await?;
            self.inner.remove_dir(path).await
        }
        .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(path).await?;
            self.inner.remove_file(path).await
        }
        .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(from).await?;
            self.check(to).await?;
            self.inner.rename(from, to).await
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.check(from).await?;
            self.check(to).await?;
            self.inner.copy(from, to).await
        }
        .boxed()
    }

    fn set_accessed<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.check(path).await?;
            self.inner.set_accessed(path, tm).await
        }
        .boxed()
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.check(path).await?;
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
            self.check(path).await?;
            self.inner.metadata(path).await?;
            let key = props_path(path);
            let dead: Vec<(bool, DeadProp)> =
                patch.iter().map(|(set, p)| (*set, to_dead(p))).collect();
            self.with_store(move |s, u| s.patch_dead_props(u, &key, &dead))
                .await?;
            Ok(patch
                .into_iter()
                .map(|(_, p)| (StatusCode::OK, without_value(p)))
                .collect())
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            self.check(path).await?;
            let key = props_path(path);
            let props = self.with_store(move |s, u| s.dead_props(u, &key)).await?;
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
            self.check(path).await?;
            let (key, name) = (
                props_path(path),
                DeadProp::key(prop.namespace.as_deref(), &prop.name),
            );
            let found = self
                .with_store(move |s, u| s.dead_prop(u, &key, &name))
                .await?;
            found.and_then(|p| p.xml).ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        self.inner.get_quota()
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
    DavProp {
        name: p.name,
        prefix: p.prefix,
        namespace: p.namespace,
        xml: p.xml,
    }
}

fn without_value(p: DavProp) -> DavProp {
    DavProp { xml: None, ..p }
}

#[cfg(test)]
mod tests {
    use super::check_no_symlink;
    use dav_server::fs::FsError;
    use std::path::Path;

    #[test]
    fn symlinks_anywhere_on_the_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", home.join("sub/escape")).unwrap();
        assert_eq!(check_no_symlink(&home, Path::new("sub")), Ok(()));
        assert_eq!(check_no_symlink(&home, Path::new("sub/new-file")), Ok(()));
        assert_eq!(
            check_no_symlink(&home, Path::new("sub/escape")),
            Err(FsError::NotFound)
        );
        assert_eq!(
            check_no_symlink(&home, Path::new("sub/escape/hostname")),
            Err(FsError::NotFound)
        );
        assert_eq!(
            check_no_symlink(&home, Path::new("../x")),
            Err(FsError::Forbidden)
        );
    }
}
