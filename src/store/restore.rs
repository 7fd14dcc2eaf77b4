//! `davgate restore`: a backup put back as a stopped server's store.
//!
//! The backup is first copied beside the store under a temporary name, and that copy is what
//! is checked (the backup itself is never written to): it must open as a redb file holding a
//! davgate schema this build reads, every account and app password must decode, and an older
//! schema is migrated as a server's start would. Only then does it take the store's name; the
//! store it replaces is kept beside it as `davgate.redb.before-restore-<time>`. The store is
//! held open while it is replaced, so a server starting meanwhile waits for the file.

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableError};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::tables::{APP_PASSWORDS, META, SCHEMA_VERSION, USERS};
use super::{AppPassword, Backend, Error, Store, User, decode};

/// Why nothing was restored. In every case the store in the data directory is as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The store is PostgreSQL: its own tools restore it.
    #[error(
        "the store is PostgreSQL: restore it with pg_restore or psql (see the README, \
         Deploying → Backups); davgate restore puts back the embedded store only"
    )]
    Postgres,
    /// There is no file to restore.
    #[error("there is no backup file at {0}")]
    Missing(PathBuf),
    /// A server answers on the data directory's admin socket.
    #[error("a davgate server is running on {0}: stop it first, then restore")]
    ServerRunning(PathBuf),
    /// Another process holds the store.
    #[error("the store {0} is held by another process (a running davgate?): stop it first")]
    InUse(PathBuf),
    /// The file is not a davgate store.
    #[error("{path} is not a davgate store backup ({reason}); nothing was restored")]
    NotAStore {
        /// The file given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The backup was written by a newer davgate.
    #[error(
        "{path} was written by a newer davgate (schema {found}; this one reads up to \
         {SCHEMA_VERSION}); nothing was restored"
    )]
    NewerSchema {
        /// The file given.
        path: PathBuf,
        /// Its schema.
        found: u64,
    },
    /// Copying, syncing or renaming failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The checked copy could not be opened or read as a store.
    #[error(transparent)]
    Store(#[from] Error),
}

/// What was restored, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreSummary {
    /// Accounts in the restored store.
    pub users: u64,
    /// App passwords in it, revoked and expired ones included.
    pub app_passwords: u64,
    /// Where the replaced store was kept; `None` when the data directory held none.
    pub kept: Option<PathBuf>,
}

/// Puts the backup `backup` back as the store of the data directory `data_dir` (created if
/// missing), keeping the store it replaces; `now` dates the kept one's name. Blocking.
pub fn restore(
    backup: &Path,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> Result<RestoreSummary, RestoreError> {
    let io = |context, path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { context, path, source }
    };
    if !backup.is_file() {
        return Err(RestoreError::Missing(backup.into()));
    }
    crate::fs_private::create_private_dir(data_dir)
        .map_err(io("cannot create the data directory", data_dir))?;
    let store = data_dir.join(Store::FILE_NAME);
    let existed = store.exists();
    // Held until the end: no server opens the store while it is being replaced. A store too
    // damaged to open (the reason to restore, often) is held by no one, and is kept aside too.
    let held = match Database::create(&store) {
        Ok(db) => Some(db),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(RestoreError::InUse(store)),
        Err(_) if existed => None,
        Err(e) => return Err(Error::from(e).into()),
    };
    // Where there was no store, the empty one just made to hold the name goes if this fails.
    let mut placeholder = Candidate((!existed).then(|| store.clone()));

    let candidate =
        data_dir.join(format!(".{}.{}.restoring", Store::FILE_NAME, uuid::Uuid::new_v4().simple()));
    let mut cleanup = Candidate(Some(candidate.clone()));
    {
        let mut from = std::fs::File::open(backup).map_err(io("cannot read", backup))?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)
            .map_err(io("cannot write", &candidate))?;
        std::io::copy(&mut from, &mut to).map_err(io("cannot copy the backup to", &candidate))?;
        to.sync_all().map_err(io("cannot sync", &candidate))?;
    }
    check_schema(&candidate, backup)?;
    let (users, app_passwords) = count(&candidate)?;

    let kept = if existed {
        let kept = data_dir.join(format!(
            "{}.before-restore-{}",
            Store::FILE_NAME,
            now.format("%Y%m%dT%H%M%SZ")
        ));
        if kept.symlink_metadata().is_ok() {
            let taken = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
            return Err(RestoreError::Io {
                context: "cannot keep the store as",
                path: kept,
                source: taken,
            });
        }
        std::fs::rename(&store, &kept).map_err(io("cannot keep the store as", &kept))?;
        Some(kept)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(&candidate, &store) {
        if let Some(kept) = &kept {
            let _ = std::fs::rename(kept, &store);
        }
        return Err(io("cannot put the backup in place as", &store)(e));
    }
    cleanup.0 = None;
    placeholder.0 = None;
    // Where the data directory held no store, `held` is the empty one made to hold the name,
    // now replaced: nothing to keep.
    drop(held);
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", data_dir))?;
    Ok(RestoreSummary { users, app_passwords, kept })
}

/// A file made for the restore (the copy being checked, the placeholder holding the store's
/// name), removed unless the restore succeeded.
struct Candidate(Option<PathBuf>);

impl Drop for Candidate {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Refuses `copy` (of `backup`) unless it is a redb file that records a davgate schema this
/// build reads. Read-only: nothing is created in a file that is not a store.
fn check_schema(copy: &Path, backup: &Path) -> Result<(), RestoreError> {
    let not_a_store = |reason: String| RestoreError::NotAStore { path: backup.into(), reason };
    let db = redb::ReadOnlyDatabase::open(copy).map_err(|e| not_a_store(e.to_string()))?;
    let txn = db.begin_read().map_err(|e| not_a_store(e.to_string()))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(not_a_store("a redb file without davgate's tables".into()));
        }
        Err(e) => return Err(not_a_store(e.to_string())),
    };
    match meta.get("schema_version").map_err(|e| not_a_store(e.to_string()))? {
        None => Err(not_a_store("no schema version".into())),
        Some(v) if v.value() > SCHEMA_VERSION => {
            Err(RestoreError::NewerSchema { path: backup.into(), found: v.value() })
        }
        Some(_) => Ok(()),
    }
}

/// Opens `copy` as a server would (migrating an older schema) and decodes every account and
/// app password; answers how many of each.
fn count(copy: &Path) -> Result<(u64, u64), RestoreError> {
    let store = Store::open_file(copy)?;
    let Backend::Redb(redb) = &store.backend else { return Err(Error::WrongBackend.into()) };
    Ok(redb.read(|txn| {
        let users = txn.open_table(USERS)?;
        for entry in users.iter()? {
            decode::<User>(entry?.1.value())?;
        }
        let app_passwords = txn.open_table(APP_PASSWORDS)?;
        for entry in app_passwords.iter()? {
            decode::<AppPassword>(entry?.1.value())?;
        }
        Ok((users.len()?, app_passwords.len()?))
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_that_is_not_a_store_is_refused_and_the_store_stays() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let store = Store::open_file(&data.join(Store::FILE_NAME)).unwrap();
        let alice = super::super::UserName::parse("alice").unwrap();
        store
            .create_user(&alice, super::super::Role::User, "hash".into(), Utc::now())
            .await
            .unwrap();
        drop(store);
        let junk = dir.path().join("notes.txt");
        std::fs::write(&junk, "not a database at all, just some words").unwrap();
        let e = restore(&junk, &data, Utc::now()).unwrap_err();
        assert!(matches!(e, RestoreError::NotAStore { .. }), "{e}");
        let names: Vec<_> =
            std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [Store::FILE_NAME], "{names:?}");
        let store = Store::open_file(&data.join(Store::FILE_NAME)).unwrap();
        assert_eq!(store.users().await.unwrap().len(), 1);
    }

    #[test]
    fn a_plain_redb_file_without_davgate_tables_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.redb");
        drop(Database::create(&other).unwrap());
        let e = restore(&other, &dir.path().join("data"), Utc::now()).unwrap_err();
        assert!(e.to_string().contains("without davgate's tables"), "{e}");
    }

    #[tokio::test]
    async fn a_backup_restored_into_a_fresh_data_directory_counts_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join("live.redb")).unwrap();
        let alice = super::super::UserName::parse("alice").unwrap();
        store
            .create_user(&alice, super::super::Role::User, "hash".into(), Utc::now())
            .await
            .unwrap();
        let file = dir.path().join("backup.redb");
        store.backup_to(&file, false).await.unwrap();
        let fresh = dir.path().join("fresh");
        let summary = restore(&file, &fresh, Utc::now()).unwrap();
        assert_eq!((summary.users, summary.app_passwords, summary.kept), (1, 0, None));
        let restored = Store::open_file(&fresh.join(Store::FILE_NAME)).unwrap();
        assert_eq!(restored.users().await.unwrap()[0].name, alice);
    }

    #[test]
    fn a_backup_from_a_newer_davgate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.redb");
        let db = Database::create(&newer).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("schema_version", SCHEMA_VERSION + 1).unwrap();
        txn.commit().unwrap();
        drop(db);
        let data = dir.path().join("data");
        let e = restore(&newer, &data, Utc::now()).unwrap_err();
        assert!(matches!(e, RestoreError::NewerSchema { .. }), "{e}");
        assert!(e.to_string().contains("newer davgate"), "{e}");
        assert_eq!(
            std::fs::read_dir(&data).unwrap().count(),
            0,
            "a refused restore leaves nothing"
        );
    }

    #[tokio::test]
    async fn a_damaged_store_is_replaced_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.redb");
        Store::open_file(&dir.path().join("live.redb"))
            .unwrap()
            .backup_to(&file, false)
            .await
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join(Store::FILE_NAME), "a disk error wrote this").unwrap();
        let summary = restore(&file, &data, Utc::now()).unwrap();
        let kept = summary.kept.unwrap();
        assert_eq!(std::fs::read_to_string(kept).unwrap(), "a disk error wrote this");
        Store::open_file(&data.join(Store::FILE_NAME)).unwrap();
    }
}
