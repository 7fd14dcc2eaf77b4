//! Per-user quota: how much a home holds, and how much more it may take.
//!
//! The usage is counted by walking the home (symlinks not followed, davgate's temporary files
//! not counted) and kept for a minute; an upload adds what it wrote, a delete makes the next
//! check count again. The limit comes from the user record and is re-read whenever the store
//! changed, so `davgate user quota` applies at once. All methods block: call them from the
//! blocking side.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::upload::is_temporary;
use crate::store::{Store, UserName};

/// How long a count stays trusted when nothing was deleted.
const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// One user's usage and limit.
#[derive(Debug, Default)]
pub struct Usage {
    counted: Mutex<Option<(u64, Instant)>>,
    limit: Mutex<Option<(u64, Option<u64>)>>,
}

impl Usage {
    /// Bytes in `home` now (counts again if the last count is stale or was forgotten).
    pub fn used(&self, home: &Path) -> std::io::Result<u64> {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bytes, at)) = *counted
            && at.elapsed() < RECOUNT_AFTER
        {
            return Ok(bytes);
        }
        let bytes = count(home)?;
        *counted = Some((bytes, Instant::now()));
        Ok(bytes)
    }

    /// The user's limit in bytes, if any.
    pub fn limit(&self, store: &Store, user: &UserName) -> crate::store::Result<Option<u64>> {
        let generation = store.generation();
        let mut cached = self.limit.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, limit)) = *cached
            && seen == generation
        {
            return Ok(limit);
        }
        let limit = store.user(user)?.and_then(|u| u.quota_bytes);
        *cached = Some((generation, limit));
        Ok(limit)
    }

    /// How many more bytes may be written to replace a file of `replaced` bytes; None: no limit.
    pub fn budget(
        &self,
        store: &Store,
        user: &UserName,
        home: &Path,
        replaced: u64,
    ) -> std::io::Result<Option<u64>> {
        let Some(limit) = self.limit(store, user).map_err(std::io::Error::other)? else {
            return Ok(None);
        };
        let others = self.used(home)?.saturating_sub(replaced);
        Ok(Some(limit.saturating_sub(others)))
    }

    /// Accounts for a write that replaced `replaced` bytes with `written`.
    pub fn record_write(&self, replaced: u64, written: u64) {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bytes, _)) = counted.as_mut() {
            *bytes = bytes.saturating_sub(replaced).saturating_add(written);
        }
    }

    /// Forgets the count (after a delete): the next check counts again.
    pub fn forget(&self) {
        *self.counted.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Total size of the regular files under `dir`, without following symlinks or counting
/// temporary files.
pub fn count(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    super::walk::for_each_file(dir, |entry, meta| {
        if !is_temporary(entry) {
            total = total.saturating_add(meta.len());
        }
        Ok(())
    })?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counting_skips_links_and_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 20]).unwrap();
        std::fs::write(dir.path().join("sub/.davgate-upload-00"), [0u8; 999]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
        assert_eq!(count(dir.path()).unwrap(), 120);
    }
}
