//! What one request's filesystem remembers between dav-server's calls: the dead properties it
//! already read, and whether the store was out of reach.
//!
//! dav-server asks for dead properties entry by entry (`get_props` for each resource a PROPFIND
//! lists, `get_prop` for each one named). The first ask reads the resource and its direct
//! children in one store read ([`Store::dead_props_listing`]); a later ask for something not yet
//! read reads its parent folder's entries, so a `Depth: infinity` walk costs one read per folder.
//! The memory lives as long as the request: a PROPPATCH forgets it, and another request starts
//! afresh.
//!
//! A store that cannot be reached becomes dav-server's `GeneralFailure` (it has no 503); the flag
//! lets the mount answer 503 with `Retry-After` instead of the 500 dav-server wrote.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::{DeadProp, Result, Store, UserName};

/// One request's memory (cheap to clone: the clones of a request's filesystem share it).
#[derive(Clone, Default)]
pub struct RequestState {
    read: Arc<Mutex<Read>>,
    unreachable: Arc<AtomicBool>,
}

/// The dead properties read so far.
#[derive(Default)]
struct Read {
    /// Folders (or files) whose own properties and whose direct children's were read.
    folders: HashSet<String>,
    /// Properties by path; a path that was read and has none is absent.
    props: HashMap<String, Vec<DeadProp>>,
}

impl Read {
    fn covers(&self, key: &str) -> bool {
        self.folders.contains(key) || parent(key).is_some_and(|p| self.folders.contains(p))
    }
}

impl RequestState {
    fn lock(&self) -> MutexGuard<'_, Read> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The dead properties of `key`, from what this request read or from one listing read.
    pub async fn dead_props(
        &self,
        store: &Store,
        user: &UserName,
        key: &str,
    ) -> Result<Vec<DeadProp>> {
        let folder = {
            let read = self.lock();
            if read.covers(key) {
                return Ok(read.props.get(key).cloned().unwrap_or_default());
            }
            match read.folders.is_empty() {
                true => key,
                false => parent(key).unwrap_or(key),
            }
            .to_string()
        };
        let rows = store.dead_props_listing(user, &folder).await?;
        let mut grouped = HashMap::<String, Vec<DeadProp>>::new();
        for (path, prop) in rows {
            grouped.entry(path).or_default().push(prop);
        }
        let mut read = self.lock();
        for (path, props) in grouped {
            // A path read twice (a folder is its parent's entry and its own listing's head)
            // keeps its first, identical, answer.
            read.props.entry(path).or_insert(props);
        }
        read.folders.insert(folder);
        Ok(read.props.get(key).cloned().unwrap_or_default())
    }

    /// Forgets what was read (after this request changed properties).
    pub fn forget(&self) {
        *self.lock() = Read::default();
    }

    /// Notes that the store could not be reached.
    pub fn mark_unreachable(&self) {
        self.unreachable.store(true, Ordering::Relaxed);
    }

    /// Whether the store could not be reached during this request.
    pub fn store_unreachable(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }
}

/// The key of the folder holding `key` ("/a/b" → "/a", "/a" → "/"), None for the root.
fn parent(key: &str) -> Option<&str> {
    if key == "/" {
        return None;
    }
    key.rfind('/').map(|i| if i == 0 { "/" } else { &key[..i] })
}

#[cfg(test)]
mod tests {
    use super::{Read, parent};

    #[test]
    fn a_read_folder_covers_itself_and_its_entries_only() {
        assert_eq!((parent("/a/b"), parent("/a"), parent("/")), (Some("/a"), Some("/"), None));
        let mut read = Read::default();
        read.folders.insert("/a".into());
        assert!(read.covers("/a") && read.covers("/a/b"));
        assert!(!read.covers("/a/b/c") && !read.covers("/") && !read.covers("/ab"));
    }
}
