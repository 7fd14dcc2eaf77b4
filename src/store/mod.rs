//! The credential store: users, app passwords and settings in one redb file.
//!
//! This is the only module that knows redb. Every change is one write transaction, so the file
//! is consistent after a crash at any point (redb commits are atomic and durable). The schema
//! version is checked at open so that a later davgate can migrate an older file and an older
//! davgate refuses a newer one instead of misreading it.
//!
//! Methods are synchronous (redb blocks on I/O); async callers run them on the blocking pool.

mod app_passwords;
mod model;
mod props;
mod settings;
mod tables;
mod users;

pub use app_passwords::{LoginRecord, NewAppPassword};
pub use model::{
    ALPHABET, AppPassword, AppPasswordId, AppPasswordName, AppPasswordStatus, NameError, Role,
    TotpFactor, User, UserName,
};
pub use props::{DeadProp, PatchOutcome, PropLimits};
pub use settings::{Durability, SettingError, SettingKey, Settings};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The store's errors. Client mistakes (unknown user, bad name) are distinct variants so that
/// callers can answer them as such.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process holds the database (redb allows one).
    #[error("the store {0} is in use by another davgate process")]
    InUse(PathBuf),
    /// The file was written by a newer davgate.
    #[error(
        "the store was written by a newer davgate (schema {found}; this one reads up to {supported})"
    )]
    NewerSchema {
        /// Version found in the file.
        found: u64,
        /// Newest version this build understands.
        supported: u64,
    },
    /// redb failed (I/O, corruption).
    #[error("database error: {0}")]
    Database(#[from] redb::Error),
    /// A record could not be decoded.
    #[error("a stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A name or id is malformed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A setting's value is invalid.
    #[error(transparent)]
    Setting(#[from] settings::SettingError),
    /// No such user.
    #[error("no user named '{0}'")]
    UnknownUser(String),
    /// The user name is taken.
    #[error("a user named '{0}' already exists")]
    UserExists(String),
    /// No such app password for that user.
    #[error("user '{user}' has no app password with id '{id}'")]
    UnknownAppPassword {
        /// Whose passwords were searched.
        user: String,
        /// The id asked for.
        id: String,
    },
    /// The user already has an active app password with this name.
    #[error("user '{user}' already has an active app password named '{name}'")]
    DuplicateName {
        /// The owner.
        user: String,
        /// The name.
        name: String,
    },
    /// A freshly drawn id collided with an existing one (the caller draws another).
    #[error("app password id already taken")]
    IdTaken,
    /// The change would leave no enabled admin.
    #[error("'{0}' is the last enabled admin; create or enable another admin first")]
    LastAdmin(String),
}

/// Shorthand for store results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Database(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The open credential store. Share it behind an `Arc`.
pub struct Store {
    db: Database,
    path: PathBuf,
    /// Bumped by every change that can take a credential away (revoke, disable, remove, settings),
    /// so cached verifications know to look again.
    generation: AtomicU64,
    /// The settings, read once at open and kept current by `set_setting`.
    settings: RwLock<Settings>,
    /// What each user's dead properties may take.
    prop_limits: PropLimits,
}

impl Store {
    /// File name of the store inside the data directory.
    pub const FILE_NAME: &'static str = "davgate.redb";

    /// Opens (or creates) the store at `path`, creating its tables and checking the schema.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_path_buf()),
            other => other.into(),
        })?;
        // The store holds password hashes: readable by the server's user only.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Database(redb::StorageError::Io(e).into()))?;
        tables::initialise(&db)?;
        let settings = {
            let txn = db.begin_read()?;
            settings::load(&txn)?
        };
        Ok(Self {
            db,
            path: path.to_path_buf(),
            generation: AtomicU64::new(0),
            settings: RwLock::new(settings),
            prop_limits: PropLimits::default(),
        })
    }

    /// Where the store lives on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes whenever a credential may have been taken away; see [`Store::generation`]'s use in
    /// the auth cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }

    /// Runs `f` in one write transaction and commits it. `revokes` marks changes that can take a
    /// credential away: they bump the generation after the commit.
    fn write<T>(&self, revokes: bool, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_write()?;
        let value = f(&txn)?;
        txn.commit()?;
        if revokes {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(value)
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}
