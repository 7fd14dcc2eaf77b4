//! `davgate backup`: a consistent copy of the embedded store, made while the server runs.
//!
//! redb has no backup call of its own, but a read transaction is a snapshot that writers do
//! not disturb: the copy is one read transaction's every table written, record for record, into
//! a new redb file in one write transaction ([`super::tables::copy_all`]). Accounts created
//! while the copy runs are either wholly in it or not at all. The new file is written under a
//! temporary name beside the final one (mode 0600: it holds the password hashes), made durable
//! by its commit, and only then given its name, so a half-written backup never carries it.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::{Backend, Error, Redb, Store, tables};

/// Why no backup was written. Whatever the reason, no file carries the backup's name that did
/// not before (a replaced one under `--force` is replaced only by a whole backup).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The store is PostgreSQL: its own tools back it up, with everything the nodes share.
    #[error(
        "the store is PostgreSQL: back it up with pg_dump (see the README, Deploying → Backups); \
         davgate backup copies the embedded store only"
    )]
    Postgres,
    /// There is no store to back up (no server runs, and the data directory holds none).
    #[error("there is no davgate store at {0}")]
    NoStore(PathBuf),
    /// The backup's name is taken, and replacing it was not asked for.
    #[error("{0} already exists: choose another name, or pass --force to replace it")]
    Exists(PathBuf),
    /// The backup's path is the store itself: `--force` would put the copy in its place under
    /// the running server.
    #[error("{0} is the store itself: write the backup elsewhere")]
    IsTheStore(PathBuf),
    /// The backup's path names a folder, not a file.
    #[error("{0} is not a file name to write the backup to")]
    NotAFile(PathBuf),
    /// Writing, syncing or naming the backup failed.
    #[error("cannot write the backup {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Reading the store or writing the copy failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// What a backup holds, for its summary line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupSummary {
    /// Where it was written.
    pub file: PathBuf,
    /// Accounts.
    pub users: u64,
    /// App passwords, revoked and expired ones included.
    pub app_passwords: u64,
    /// Dead properties.
    pub dead_props: u64,
    /// The backup file's size.
    pub bytes: u64,
}

impl Store {
    /// Writes a consistent copy of the embedded store to `file` (which must not exist unless
    /// `replace`), while the store keeps serving; refused on PostgreSQL ([`BackupError::Postgres`]).
    /// The copy runs on the blocking pool.
    pub async fn backup_to(
        &self,
        file: &Path,
        replace: bool,
    ) -> Result<BackupSummary, BackupError> {
        let redb = match &self.backend {
            Backend::Redb(redb) => Arc::clone(redb),
            Backend::Postgres(_) => return Err(BackupError::Postgres),
        };
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || write(&redb, &file, replace))
            .await
            .map_err(Error::from)?
    }
}

/// The temporary file a backup is written to, removed unless it was given its name.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes the backup of `redb` to `file`. Blocking.
fn write(redb: &Redb, file: &Path, replace: bool) -> Result<BackupSummary, BackupError> {
    let io = |source| BackupError::Io { path: file.to_path_buf(), source };
    let Some(name) = file.file_name() else { return Err(BackupError::NotAFile(file.into())) };
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if file.is_dir() {
        return Err(BackupError::NotAFile(file.into()));
    }
    if let (Ok(target), Ok(store)) = (std::fs::metadata(file), std::fs::metadata(&redb.path))
        && (target.dev(), target.ino()) == (store.dev(), store.ino())
    {
        return Err(BackupError::IsTheStore(file.into()));
    }
    if !replace && file.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(file.into()));
    }
    let partial_path =
        dir.join(format!(".{}.{}.partial", name.to_string_lossy(), uuid::Uuid::new_v4().simple()));
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial_path).map_err(io)?;
    let partial = Partial(Some(partial_path.clone()));

    let copied = {
        let target = Database::create(&partial_path).map_err(Error::from)?;
        let snapshot = redb.db.begin_read().map_err(Error::from)?;
        let txn = target.begin_write().map_err(Error::from)?;
        let copied = tables::copy_all(&snapshot, &txn)?;
        // A durable commit: the copy is on disk before it gets its name.
        txn.commit().map_err(Error::from)?;
        copied
    };
    std::fs::File::open(&partial_path).and_then(|f| f.sync_all()).map_err(io)?;

    if replace {
        std::fs::rename(&partial_path, file).map_err(io)?;
    } else {
        // A hard link takes the name only if it is free, at the moment of taking it.
        match std::fs::hard_link(&partial_path, file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(file.into()));
            }
            Err(e) => return Err(io(e)),
        }
    }
    drop(partial);
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    let bytes = std::fs::metadata(file).map_err(io)?.len();
    Ok(BackupSummary {
        file: file.to_path_buf(),
        users: copied.users,
        app_passwords: copied.app_passwords,
        dead_props: copied.dead_props,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_backup_is_private_refuses_a_taken_name_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join(Store::FILE_NAME)).unwrap();
        let file = dir.path().join("copy.redb");
        let summary = store.backup_to(&file, false).await.unwrap();
        assert_eq!(summary.users, 0);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let e = store.backup_to(&file, false).await.unwrap_err();
        assert!(matches!(e, BackupError::Exists(_)), "{e}");
        store.backup_to(&file, true).await.unwrap();
        let itself = dir.path().join(".").join(Store::FILE_NAME);
        let e = store.backup_to(&itself, true).await.unwrap_err();
        assert!(matches!(e, BackupError::IsTheStore(_)), "{e}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
        Store::open_file(&file).unwrap();
    }

    /// Users and their app passwords written while backups are taken: each backup holds every
    /// app password with its owner and its index entry (one write transaction each), never
    /// part of one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_taken_during_writes_holds_each_write_whole_or_not_at_all() {
        use super::super::{NewAppPassword, Role, UserName};
        use redb::ReadableTableMetadata;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_file(&dir.path().join(Store::FILE_NAME)).unwrap();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    let name = UserName::parse(&format!("u{i}")).unwrap();
                    let now = chrono::Utc::now();
                    store.create_user(&name, Role::User, "hash".into(), now).await.unwrap();
                    let id = crate::auth::token::generate().unwrap().id;
                    let new = NewAppPassword {
                        id,
                        owner: name,
                        name: "laptop".into(),
                        secret_hash: "hash".into(),
                        expires_at: Some(now + chrono::TimeDelta::days(90)),
                        scope: crate::store::Scope::default(),
                    };
                    store.create_app_password(new, now).await.unwrap();
                }
            })
        };
        let mut seen = Vec::new();
        for n in 0..20 {
            let file = dir.path().join(format!("b{n}.redb"));
            let summary = store.backup_to(&file, false).await.unwrap();
            let db = redb::ReadOnlyDatabase::open(&file).unwrap();
            let txn = db.begin_read().unwrap();
            let by_owner = txn.open_table(tables::APP_PASSWORDS_BY_OWNER).unwrap().len().unwrap();
            assert_eq!(by_owner, summary.app_passwords, "backup {n}: index and records agree");
            assert!(summary.users >= summary.app_passwords, "backup {n}: {summary:?}");
            assert!(summary.users <= summary.app_passwords + 1, "backup {n}: {summary:?}");
            seen.push(summary.users);
        }
        writer.await.unwrap();
        assert!(
            seen.windows(2).any(|w| w[0] != w[1]),
            "the writes ran during the backups: {seen:?}"
        );
    }
}
