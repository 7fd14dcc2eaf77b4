//! Group commit of folder fsyncs: uploads that finish together in one folder share its fsync.
//!
//! With `durability = fsync`, an upload is renamed into place and then its folder is fsynced, so
//! that the new name survives a power cut. Each fsync is a flush of the device's cache, which
//! takes milliseconds on a disk. But a rename is durable as soon as *any* fsync of its folder
//! that started after it has succeeded. So when an fsync of the folder is already running, an
//! upload that renamed meanwhile waits for it to end and then joins the next one, started by
//! whichever of the waiting uploads comes first: N uploads finishing together into one folder
//! (rclone's parallel transfers, Explorer copying a folder) cost about two fsyncs, not N.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};

/// Makes the entries of `folder` durable, for a change the caller made before calling
/// (blocking: call from a blocking thread).
pub fn sync_folder(folder: &Path) -> io::Result<()> {
    FOLDERS.with(folder, |f| f.sync(|| std::fs::File::open(folder)?.sync_all()))
}

/// One registry for the process: the folders are the machine's, and two servers of one
/// process (as in tests) that share a folder may share its fsyncs too.
static FOLDERS: LazyLock<Folders> = LazyLock::new(Folders::default);

/// The folders being fsynced right now, or waited for; an entry lives while someone uses it.
#[derive(Default)]
struct Folders {
    busy: Mutex<HashMap<PathBuf, Arc<Folder>>>,
}

impl Folders {
    fn with<T>(&self, path: &Path, work: impl FnOnce(&Folder) -> T) -> T {
        let folder = Arc::clone(lock(&self.busy).entry(path.to_path_buf()).or_default());
        let result = work(&folder);
        let mut busy = lock(&self.busy);
        // Ours and the map's: nobody else holds it, and nobody can take it without this lock.
        if Arc::strong_count(&folder) == 2 {
            busy.remove(path);
        }
        result
    }
}

/// The fsyncs of one folder, numbered in the order they start.
#[derive(Default)]
struct Folder {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    started: u64,
    finished: u64,
    running: bool,
    /// Callers waiting for the running fsync to end.
    waiting: usize,
    /// How the latest finished fsync failed, if it did.
    failure: Option<io::ErrorKind>,
}

impl Folder {
    /// Returns once an fsync that started after this call began has ended: the caller's own
    /// `fsync`, or another caller's.
    fn sync(&self, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = lock(&self.state);
        // Any fsync numbered from here on starts after the caller's change.
        let covering = state.started + 1;
        while state.running && state.finished < covering {
            state.waiting += 1;
            state = self.finished.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
        if state.finished >= covering {
            // Started after the change: its outcome is the caller's.
            return match state.failure {
                None => Ok(()),
                Some(kind) => Err(io::Error::new(kind, "the folder's fsync failed")),
            };
        }
        state.running = true;
        state.started += 1;
        let number = state.started;
        drop(state);
        let result = fsync();
        let mut state = lock(&self.state);
        state.running = false;
        state.finished = number;
        state.failure = result.as_ref().err().map(io::Error::kind);
        self.finished.notify_all();
        result
    }
}

/// The state stays consistent when a holder panics: every update is a few plain assignments.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, mpsc};

    #[test]
    fn callers_that_arrive_during_an_fsync_share_the_next_one() {
        let folder = Arc::new(Folder::default());
        let fsyncs = Arc::new(AtomicUsize::new(0));
        let (release, held) = mpsc::channel::<()>();
        let (entered, first_running) = mpsc::channel::<()>();
        let first = {
            let (folder, fsyncs) = (Arc::clone(&folder), Arc::clone(&fsyncs));
            std::thread::spawn(move || {
                folder.sync(|| {
                    fsyncs.fetch_add(1, Ordering::SeqCst);
                    entered.send(()).unwrap();
                    held.recv().unwrap();
                    Ok(())
                })
            })
        };
        first_running.recv().unwrap();
        // Four callers whose change came after the running fsync began: it does not cover them.
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (folder, fsyncs) = (Arc::clone(&folder), Arc::clone(&fsyncs));
                std::thread::spawn(move || {
                    folder.sync(|| {
                        fsyncs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        while lock(&folder.state).waiting < 4 {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        assert!(first.join().unwrap().is_ok());
        for waiter in waiters {
            assert!(waiter.join().unwrap().is_ok());
        }
        assert_eq!(fsyncs.load(Ordering::SeqCst), 2, "one for the first caller, one for the four");
    }

    #[test]
    fn a_failed_fsync_fails_every_caller_it_covered() {
        let folders = Folders::default();
        let path = Path::new("/nonexistent/folder");
        let failing = || Err(io::Error::from(io::ErrorKind::PermissionDenied));
        let err = folders.with(path, |f| f.sync(failing));
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert!(lock(&folders.busy).is_empty(), "the folder is forgotten once nobody waits");
        assert!(folders.with(path, |f| f.sync(|| Ok(()))).is_ok(), "the next fsync starts afresh");
    }

    #[test]
    fn concurrent_uploads_into_one_real_folder_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (dir, barrier) = (dir.path().to_path_buf(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let temp = dir.join(format!(".temp-{i}"));
                    std::fs::write(&temp, b"x").unwrap();
                    barrier.wait();
                    std::fs::rename(&temp, dir.join(format!("file-{i}"))).unwrap();
                    sync_folder(&dir)
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap().is_ok());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 8);
    }
}
