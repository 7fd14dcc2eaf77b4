//! Which paths an operation may name in a home: no `..`, no davgate temporary name, no symlink
//! anywhere along the path (`LocalFs` would follow it, out of the home).
//!
//! Every path an operation names is walked from the home, one `lstat` per name. A tree walk
//! (COPY, DELETE, PROPFIND) names every entry below a folder, so each request remembers the
//! folders it already found to be real folders ([`Verified`]) and, when a path's parent is
//! among them, looks at the last name only: one lookup and one `lstat` per entry, instead of a
//! walk of its whole path (deep trees were O(depth³)).

use dav_server::fs::{FsError, FsResult};
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::temp::is_hidden_name;

/// Whether an operation reads a path or creates/changes/removes something there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads: a temporary name is absent (404).
    Read,
    /// Creates, changes or removes: a temporary name is forbidden (403).
    Write,
}

/// Folders (relative to the home) that one request found to be real folders, every ancestor
/// checked too. Per request, never shared: what another request saw may have changed since.
/// Clients cannot create symlinks, so a folder stays a folder for the rest of the request.
/// Bounded: past [`VERIFIED_MAX`] entries nothing more is remembered (paths are then walked in
/// full, which is slower, never wrong).
#[derive(Clone, Default)]
pub struct Verified(Arc<Mutex<HashSet<PathBuf>>>);

/// Most folders one request remembers as verified.
pub const VERIFIED_MAX: usize = 10_000;

impl Verified {
    /// True if `relative` was found to be a real folder, with all its ancestors.
    pub fn contains(&self, relative: &Path) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).contains(relative)
    }

    /// Remembers `relative` as a real folder whose ancestors were all checked.
    pub fn insert(&self, relative: &Path) {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() < VERIFIED_MAX {
            set.insert(relative.to_path_buf());
        }
    }
}

/// The entry this request's last listing yielded, just seen by that listing's own `lstat` to be
/// no symlink, in a folder that was checked before it was read. dav-server asks for each
/// listed entry's properties right after the entry comes out of `read_dir`: a read of exactly
/// that path needs no walk of its own. One slot, so it holds nothing per entry; anything a
/// client names is still checked in full.
#[derive(Clone, Default)]
pub struct Listed(Arc<Mutex<Option<PathBuf>>>);

impl Listed {
    /// Notes `relative` as the entry just listed.
    pub fn set(&self, relative: PathBuf) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(relative);
    }

    /// True if `relative` is the entry just listed.
    pub fn is(&self, relative: &Path) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(relative)
    }
}

/// Checks `relative` below `home`: `..` and absolute parts are refused (403), and so are
/// davgate's temporary names and NFS silly renames (absent to a reader, forbidden to a writer); a symlink anywhere is
/// absent (404). Walks one `lstat` per name, stopping at the first that does not exist (nothing
/// beyond it can be a link), or only the last name when the parent is in `verified`. The
/// deepest folder found goes into `verified`.
pub fn check_path(
    home: &Path,
    relative: &Path,
    access: Access,
    verified: &Verified,
) -> FsResult<()> {
    let mut names = Vec::new();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(FsError::Forbidden);
        };
        if is_hidden_name(name.as_encoded_bytes()) {
            return Err(if access == Access::Write {
                FsError::Forbidden
            } else {
                FsError::NotFound
            });
        }
        names.push(name);
    }
    let parent_verified =
        names.len() > 1 && relative.parent().is_some_and(|parent| verified.contains(parent));
    let skip = if parent_verified { names.len() - 1 } else { 0 };
    let mut current = home.to_path_buf();
    let mut deepest_folder = None;
    for (i, name) in names.iter().enumerate() {
        current.push(name);
        if i < skip {
            continue;
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(FsError::NotFound),
            Ok(meta) if meta.is_dir() => deepest_folder = Some(i + 1),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    // Only the deepest: remembering every prefix would hash O(depth²) bytes per path.
    if let Some(n) = deepest_folder {
        verified.insert(&names.iter().take(n).collect::<PathBuf>());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(home: &Path, path: &str) -> FsResult<()> {
        check_path(home, Path::new(path), Access::Read, &Verified::default())
    }

    #[test]
    fn symlinks_anywhere_on_the_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", home.join("sub/escape")).unwrap();
        assert_eq!(check(&home, "sub"), Ok(()));
        assert_eq!(check(&home, "sub/new-file"), Ok(()));
        assert_eq!(check(&home, "sub/escape"), Err(FsError::NotFound));
        assert_eq!(check(&home, "sub/escape/hostname"), Err(FsError::NotFound));
        assert_eq!(check(&home, "../x"), Err(FsError::Forbidden));
        assert_eq!(check(&home, "sub/.davgate-upload-0123"), Err(FsError::NotFound));
        let write = check_path(
            &home,
            Path::new("sub/.davgate-upload-0"),
            Access::Write,
            &Verified::default(),
        );
        assert_eq!(write, Err(FsError::Forbidden));
    }

    #[test]
    fn folders_seen_once_in_a_request_still_never_let_a_link_through() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", home.join("a/b/escape")).unwrap();
        let verified = Verified::default();
        let through = |p: &str| check_path(&home, Path::new(p), Access::Read, &verified);
        assert_eq!(through("a/b"), Ok(()));
        assert!(verified.contains(Path::new("a/b")));
        assert_eq!(through("a/b/escape"), Err(FsError::NotFound));
        assert_eq!(through("a/b/escape/hostname"), Err(FsError::NotFound));
        assert!(!verified.contains(Path::new("a/b/escape")));
        assert_eq!(through("a/b/.davgate-upload-0123"), Err(FsError::NotFound));
    }
}
