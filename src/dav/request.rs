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
//! What all requests of the process hold this way is capped at [`HELD_CAP`]: a listing that
//! would pass it is not kept, and that request reads each entry's properties on its own
//! instead (slower, as before batching). So a flood of PROPFINDs on large folders costs time,
//! never unbounded memory.
//!
//! A store that cannot be reached becomes dav-server's `GeneralFailure` (it has no 503); the flag
//! lets the mount answer 503 with `Retry-After` instead of the 500 dav-server wrote.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::{DeadProp, Result, Store, UserName};

/// One request's memory (cheap to clone: the clones of a request's filesystem share it).
#[derive(Clone, Default)]
pub struct RequestState {
    read: Arc<Mutex<Read>>,
    unreachable: Arc<AtomicBool>,
}

/// The most, in bytes (roughly), that the listings kept by every request of this process may
/// hold at once. 32 PROPFINDs at once of 1,000 files carrying 3 properties each fit.
pub const HELD_CAP: usize = 16 << 20;

/// What every request's [`Read`] holds now, against [`HELD_CAP`].
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Takes `bytes` from the process-wide allowance, if it has them.
fn reserve(bytes: usize) -> bool {
    reserve_in(&HELD, HELD_CAP, bytes)
}

/// Takes `bytes` from what `held` counts, if that stays within `cap`.
fn reserve_in(held: &AtomicUsize, cap: usize, bytes: usize) -> bool {
    let grown = |now: usize| now.checked_add(bytes).filter(|total| *total <= cap);
    held.fetch_update(Ordering::AcqRel, Ordering::Acquire, grown).is_ok()
}

/// About what one property read for a listing occupies (its strings and their bookkeeping).
fn approximate_size(path: &str, prop: &DeadProp) -> usize {
    let strings = [prop.namespace.as_ref().map_or(0, String::len), prop.name.len()];
    let more = prop.prefix.as_ref().map_or(0, String::len) + prop.xml.as_ref().map_or(0, Vec::len);
    128 + path.len() + strings.iter().sum::<usize>() + more
}

/// The dead properties read so far.
#[derive(Default)]
struct Read {
    /// Folders (or files) whose own properties and whose direct children's were read.
    folders: HashSet<String>,
    /// Properties by path; a path that was read and has none is absent.
    props: HashMap<String, Vec<DeadProp>>,
    /// What `props` holds of the process-wide allowance.
    held: usize,
    /// A listing did not fit the allowance: each entry is read on its own from then on.
    one_by_one: bool,
}

impl Drop for Read {
    fn drop(&mut self) {
        HELD.fetch_sub(self.held, Ordering::AcqRel);
    }
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
            match (read.one_by_one, read.folders.is_empty()) {
                (true, _) => None,
                (false, true) => Some(key),
                (false, false) => Some(parent(key).unwrap_or(key)),
            }
            .map(str::to_string)
        };
        let Some(folder) = folder else { return store.dead_props(user, key).await };
        let rows = store.dead_props_listing(user, &folder).await?;
        let bytes = rows.iter().map(|(path, prop)| approximate_size(path, prop)).sum();
        if !reserve(bytes) {
            self.lock().one_by_one = true;
            let own = rows.into_iter().filter(|(path, _)| path == key);
            return Ok(own.map(|(_, prop)| prop).collect());
        }
        let mut grouped = HashMap::<String, Vec<DeadProp>>::new();
        for (path, prop) in rows {
            grouped.entry(path).or_default().push(prop);
        }
        let mut read = self.lock();
        read.held += bytes;
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
    use super::{Read, parent, reserve_in};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn listings_are_kept_only_within_the_allowance() {
        let held = AtomicUsize::new(0);
        assert!(reserve_in(&held, 100, 60));
        assert!(!reserve_in(&held, 100, 50), "60 + 50 passes the cap");
        assert_eq!(held.load(Ordering::Acquire), 60, "a refusal takes nothing");
        assert!(reserve_in(&held, 100, 40));
        assert!(!reserve_in(&held, 100, usize::MAX), "no overflow");
    }

    #[test]
    fn a_read_folder_covers_itself_and_its_entries_only() {
        assert_eq!((parent("/a/b"), parent("/a"), parent("/")), (Some("/a"), Some("/"), None));
        let mut read = Read::default();
        read.folders.insert("/a".into());
        assert!(read.covers("/a") && read.covers("/a/b"));
        assert!(!read.covers("/a/b/c") && !read.covers("/") && !read.covers("/ab"));
    }
}
