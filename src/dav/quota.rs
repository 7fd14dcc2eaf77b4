//! Per-user quota: how much a home holds, and how much more it may take.
//!
//! The usage is counted by walking the home (symlinks not followed, davgate's temporary files
//! not counted) and kept for a minute; a delete makes the next check count again. The limit
//! comes from the user record and is re-read whenever the store's generation moved (a quota
//! change moves it), so `davgate user quota` applies at once. The limit is read on the async
//! side ([`Usage::limit`]); everything else blocks (it may walk the home): call it from the
//! blocking side.
//!
//! Writes in flight hold a [`Reservation`]: an upload or a copy reserves the size it announced
//! (or the bytes as they are written, when it announced none) under the same lock that reads
//! the usage, so parallel writes cannot all pass one stale check. A reservation is released
//! when it is dropped and turned into usage when it is committed.

use dav_server::fs::{FsError, FsResult};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::shared_room::SharedRoom;
use super::temp::is_temporary;
use crate::clock::Clock;
use crate::store::{Generation, Store, UserName};

/// How long a count stays trusted when nothing was deleted.
const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// One user's usage and limit.
#[derive(Debug)]
pub struct Usage {
    home: PathBuf,
    /// When a count goes stale is read from it.
    clock: Clock,
    count: Mutex<Count>,
    /// The limit, and the store generation it was read at.
    limit: Mutex<Option<(Generation, Option<u64>)>>,
}

/// What the usage lock guards: the last count of the home and the bytes reserved by writes in
/// flight.
#[derive(Debug, Default)]
struct Count {
    counted: Option<(u64, Instant)>,
    reserved: u64,
}

impl Usage {
    /// The usage of the home folder `home`, its counts aged by `clock`.
    pub fn new(home: PathBuf, clock: Clock) -> Self {
        Self { home, clock, count: Mutex::default(), limit: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Count> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes in the home now (counts again if the last count is stale or was forgotten).
    pub fn used(&self) -> std::io::Result<u64> {
        let mut count = self.lock();
        self.used_locked(&mut count)
    }

    fn used_locked(&self, count: &mut Count) -> std::io::Result<u64> {
        let now = self.clock.instant();
        if let Some((bytes, at)) = count.counted
            && now.saturating_duration_since(at) < RECOUNT_AFTER
        {
            return Ok(bytes);
        }
        let bytes = self::count(&self.home)?;
        count.counted = Some((bytes, now));
        Ok(bytes)
    }

    /// The user's limit in bytes, if any: read again only when the store's generation moved
    /// since the last read.
    pub async fn limit(&self, store: &Store, user: &UserName) -> crate::store::Result<Option<u64>> {
        let generation = store.generation();
        if let Some((seen, limit)) = *self.lock_limit()
            && seen == generation
        {
            return Ok(limit);
        }
        let limit = store.user(user).await?.and_then(|u| u.quota_bytes);
        let mut cached = self.lock_limit();
        // A read that started at an older generation never replaces a newer one.
        if cached.is_none_or(|(seen, _)| seen <= generation) {
            *cached = Some((generation, limit));
        }
        Ok(limit)
    }

    fn lock_limit(&self) -> MutexGuard<'_, Option<(Generation, Option<u64>)>> {
        self.limit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `size` bytes for a write that will replace a file of `replaced` bytes; refused
    /// (507) if the home, with every other write in flight, has no room for them under `limit`
    /// (from [`Usage::limit`]). Reserve 0 when the size is unknown and grow the reservation as
    /// the bytes arrive. `shared` is the room other nodes see held (a shared store), released
    /// with this reservation.
    pub fn reserve(
        self: &Arc<Self>,
        limit: Option<u64>,
        replaced: u64,
        size: u64,
        shared: Option<SharedRoom>,
    ) -> FsResult<Reservation> {
        let usage = Arc::clone(self);
        let mut reservation =
            Reservation { usage, limit, replaced, held: 0, committed: false, _shared: shared };
        reservation.grow_to(size)?;
        Ok(reservation)
    }

    /// The clock counts age by (a shared reservation expires by it too).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Forgets the count (after a delete): the next check counts again.
    pub fn forget(&self) {
        self.lock().counted = None;
    }
}

/// Bytes reserved by one write in flight: released on drop, turned into usage by
/// [`Reservation::commit`].
#[derive(Debug)]
pub struct Reservation {
    usage: Arc<Usage>,
    limit: Option<u64>,
    replaced: u64,
    held: u64,
    committed: bool,
    /// The room held in the store for other nodes to see; released when this is dropped.
    _shared: Option<SharedRoom>,
}

impl Reservation {
    /// Makes sure `total` bytes are reserved, reserving more if needed; refused (507) when the
    /// quota has no room for them.
    pub fn grow_to(&mut self, total: u64) -> FsResult<()> {
        let Some(limit) = self.limit else { return Ok(()) };
        if total <= self.held {
            return Ok(());
        }
        let mut count = self.usage.lock();
        let used = self.usage.used_locked(&mut count)?;
        let taken = used.saturating_sub(self.replaced).saturating_add(count.reserved);
        let extra = total - self.held;
        if taken.saturating_add(extra) > limit {
            return Err(FsError::InsufficientStorage);
        }
        count.reserved = count.reserved.saturating_add(extra);
        self.held = total;
        Ok(())
    }

    /// The write succeeded with `written` bytes in place of the `replaced` ones: they are now
    /// usage, and the reservation is released.
    pub fn commit(&mut self, written: u64) {
        let mut count = self.usage.lock();
        if let Some((bytes, _)) = count.counted.as_mut() {
            *bytes = bytes.saturating_sub(self.replaced).saturating_add(written);
        }
        count.reserved = count.reserved.saturating_sub(self.held);
        self.held = 0;
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed && self.held > 0 {
            let mut count = self.usage.lock();
            count.reserved = count.reserved.saturating_sub(self.held);
        }
    }
}

/// Total size of the regular files under `dir`, without following symlinks or counting
/// temporary files.
pub fn count(dir: &std::path::Path) -> std::io::Result<u64> {
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
    use super::{Count, Usage, count};
    use crate::clock::Clock;
    use std::sync::Arc;

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

    fn reservation(usage: &Arc<Usage>, limit: u64, replaced: u64) -> super::Reservation {
        super::Reservation {
            usage: Arc::clone(usage),
            limit: Some(limit),
            replaced,
            held: 0,
            committed: false,
            _shared: None,
        }
    }

    #[test]
    fn reservations_share_the_room_and_are_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        let usage = Arc::new(Usage::new(dir.path().to_path_buf(), Clock::system()));
        let mut first = reservation(&usage, 1000, 0);
        assert_eq!(first.grow_to(600), Ok(()));
        let mut second = reservation(&usage, 1000, 0);
        assert_eq!(second.grow_to(400), Err(dav_server::fs::FsError::InsufficientStorage));
        assert_eq!(second.grow_to(300), Ok(()));
        drop(first);
        assert_eq!(second.grow_to(900), Ok(()));
        second.commit(900);
        let Count { counted, reserved } = &*usage.lock();
        assert_eq!((counted.map(|c| c.0), *reserved), (Some(1000), 0));
    }

    #[test]
    fn a_replaced_file_frees_its_room() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 800]).unwrap();
        let usage = Arc::new(Usage::new(dir.path().to_path_buf(), Clock::system()));
        assert_eq!(reservation(&usage, 1000, 800).grow_to(1000), Ok(()));
        assert!(reservation(&usage, 1000, 0).grow_to(201).is_err());
    }
}
