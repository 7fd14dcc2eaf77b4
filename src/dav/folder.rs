//! A folder-scoped app password's `/dav/`: one folder of the home, served as if it were the home.
//!
//! The files are reached through a [`super::ConfinedFs`] rooted at that folder, so every path a
//! request names (its URI, its `Destination`) is confined below it by the same rules as a home
//! (normalised by dav-server, `..` refused, symlinks absent); the folder and each folder above it
//! are checked here to be real folders, not links, on every request. Dead properties and locks
//! keep their real paths, relative to the home: this module translates a path the password sees
//! (`/x`) to the one stored (`/Projects/x`) and back, so the whole-home password finds them at
//! `/dav/Projects/x`. The quota stays the user's: the folder's filesystem shares the home's count.

use dav_server::davpath::DavPath;
use dav_server::ls::DavLock;
use std::path::{Path, PathBuf};

use crate::store::ScopeFolder;

/// A password's folder, in the forms the mount needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRoot {
    folder: ScopeFolder,
    /// The dead-property key prefix (`/Projects`, escaped as property keys are).
    props: String,
    /// The lock key prefix (`Projects`: segments joined by `/`).
    lock_key: Vec<u8>,
    /// The folder URL-encoded (`/Projects`), to build real paths from.
    url: String,
}

/// Why a folder cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A file, a link or something else than a folder is where the folder (or a folder above
    /// it) should be.
    #[error("'{0}' is not a folder of the home (a file or a link is in its place)")]
    InTheWay(String),
    /// The folder could not be created or looked at.
    #[error("cannot prepare the folder '{folder}': {source}")]
    Io {
        /// The folder.
        folder: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl FolderRoot {
    /// The forms of `folder`.
    pub fn new(folder: &ScopeFolder) -> Self {
        let props = super::escape_key(folder.as_str().as_bytes());
        let lock_key = folder.segments().collect::<Vec<_>>().join("/").into_bytes();
        let url = encode(folder.as_str().as_bytes());
        Self { folder: folder.clone(), props, lock_key, url }
    }

    /// Makes sure the folder exists below `home` as a real folder: each missing one is created
    /// (private), a link or a file anywhere along it is refused. Blocking.
    pub fn prepare(&self, home: &Path) -> Result<PathBuf, FolderError> {
        let mut path = home.to_path_buf();
        for name in self.folder.segments() {
            path.push(name);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => return Err(FolderError::InTheWay(self.folder.to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(self.io(source)),
            }
            use std::os::unix::fs::DirBuilderExt;
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                // Made by a racing request: checked again on the next round.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let meta = std::fs::symlink_metadata(&path).map_err(|e| self.io(e))?;
                    if !meta.is_dir() {
                        return Err(FolderError::InTheWay(self.folder.to_string()));
                    }
                }
                Err(source) => return Err(self.io(source)),
            }
        }
        Ok(path)
    }

    fn io(&self, source: std::io::Error) -> FolderError {
        FolderError::Io { folder: self.folder.to_string(), source }
    }

    /// The dead-property key of a path the password sees (`/x` → `/Projects/x`), from its own
    /// key ([`super::props_path`]).
    pub fn props_key(&self, visible: &str) -> String {
        if visible == "/" { self.props.clone() } else { format!("{}{visible}", self.props) }
    }

    /// The lock key of a path the password sees (`x` → `Projects/x`), from its own key.
    pub fn lock_key(&self, visible: &[u8]) -> Vec<u8> {
        let mut key = self.lock_key.clone();
        if !visible.is_empty() {
            key.push(b'/');
            key.extend_from_slice(visible);
        }
        key
    }

    /// The real path (`/dav/Projects/x`) of a path the password sees (`/dav/x`), keeping its
    /// prefix; None if it cannot be built (it always can: the folder is a clean path).
    pub fn real_path(&self, visible: &DavPath) -> Option<DavPath> {
        let prefix = visible.prefix().to_string();
        let rest = visible.as_url_string();
        let mut real =
            DavPath::new(&format!("{}{}{rest}", encode(prefix.as_bytes()), self.url)).ok()?;
        real.set_prefix(&prefix).ok()?;
        Some(real)
    }

    /// A lock as the password sees it: its root below the folder made relative to it; a lock
    /// rooted above the folder (a deep lock on a parent) shows at the password's root.
    pub fn visible_lock(&self, mut lock: DavLock) -> DavLock {
        if let Some(path) = self.visible_path(&lock.path) {
            lock.path = Box::new(path);
        }
        lock
    }

    fn visible_path(&self, real: &DavPath) -> Option<DavPath> {
        let full = real.with_prefix().as_bytes();
        let prefix = real.prefix().as_bytes();
        // Paths rebuilt from the shared store carry no prefix: the mount's is found by the folder.
        let folder = self.folder.as_str().as_bytes();
        let at = if prefix.is_empty() {
            find(full, folder)?
        } else {
            full.starts_with(prefix).then_some(prefix.len())?
        };
        let (mount, below) = full.split_at(at);
        let rest = match below.strip_prefix(folder) {
            Some(rest) if rest.is_empty() || rest.starts_with(b"/") => rest,
            _ => b"/",
        };
        let rest = if rest.is_empty() { b"/" } else { rest };
        let mut visible = DavPath::new(&format!("{}{}", encode(mount), encode(rest))).ok()?;
        if !prefix.is_empty() {
            visible.set_prefix(real.prefix()).ok()?;
        }
        Some(visible)
    }
}

/// Where `needle` starts in `hay` as a whole segment run, if it does.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..hay.len()).find(|&i| {
        hay.get(i..).is_some_and(|rest| rest.starts_with(needle))
            && matches!(hay.get(i + needle.len()), None | Some(b'/'))
    })
}

/// Percent-encodes a raw path: unreserved characters and `/` stay, every other byte is escaped.
fn encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(folder: &str) -> FolderRoot {
        FolderRoot::new(&ScopeFolder::parse(folder).unwrap().unwrap())
    }

    fn dav(path: &str) -> DavPath {
        let mut p = DavPath::new(path).unwrap();
        p.set_prefix("/dav").unwrap();
        p
    }

    #[test]
    fn paths_the_password_sees_are_stored_at_their_real_place() {
        let r = root("/Büro/2026");
        assert_eq!(r.props_key("/"), "/B%C3%BCro/2026");
        assert_eq!(r.props_key("/a%20b"), "/B%C3%BCro/2026/a%20b");
        assert_eq!(r.lock_key(b""), "Büro/2026".as_bytes());
        assert_eq!(r.lock_key(b"x/y"), "Büro/2026/x/y".as_bytes());
        let real = r.real_path(&dav("/dav/a%20b/")).unwrap();
        assert_eq!(real.with_prefix().as_bytes(), "/dav/Büro/2026/a b/".as_bytes());
        assert_eq!(real.as_bytes(), "/Büro/2026/a b/".as_bytes());
        assert_eq!(r.visible_path(&real).unwrap().with_prefix().as_bytes(), b"/dav/a b/");
    }

    #[test]
    fn a_lock_above_the_folder_shows_at_the_passwords_root() {
        let r = root("/Projects");
        let above = r.visible_path(&dav("/dav/")).unwrap();
        assert_eq!(above.with_prefix().as_bytes(), b"/dav/");
        let unprefixed = DavPath::new("/dav/Projects/x").unwrap();
        assert_eq!(r.visible_path(&unprefixed).unwrap().as_bytes(), b"/dav/x");
    }

    #[test]
    fn the_folder_is_made_once_and_nothing_may_stand_in_its_way() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let made = root("/a/b").prepare(home).unwrap();
        assert!(made.is_dir() && made == home.join("a/b"));
        assert_eq!(root("/a/b").prepare(home).unwrap(), made);
        std::fs::write(home.join("file"), b"x").unwrap();
        assert!(matches!(root("/file/x").prepare(home), Err(FolderError::InTheWay(_))));
        std::os::unix::fs::symlink("/etc", home.join("link")).unwrap();
        assert!(matches!(root("/link").prepare(home), Err(FolderError::InTheWay(_))));
    }
}
