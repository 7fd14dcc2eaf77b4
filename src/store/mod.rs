//! The credential store: users, app passwords, settings and dead properties, in one redb file
//! (the embedded default) or in PostgreSQL (several nodes sharing one store, [`pg`]), which
//! also keeps the WebDAV locks the nodes share ([`locks`]).
//!
//! [`Store`] is the one type callers see, whichever backend is behind it: an enum of the two
//! (not a trait object: async methods are not dyn-safe, and two arms need no boxing). Each
//! public method answers from the PostgreSQL arm first when that is the backend, then runs the
//! redb code below, unchanged.
//!
//! This module and its redb files are the only ones that know redb. Every change is one write transaction, so the file
//! is consistent after a crash at any point (redb commits are atomic and durable). The schema
//! version is checked at open so that a later davgate can migrate an older file and an older
//! davgate refuses a newer one instead of misreading it.
//!
//! Methods are `async`: each runs its transaction on the blocking pool (redb blocks on I/O).
//! Each file writes only its own tables, through functions that take the transaction;
//! `accounts.rs` composes the operations that span tables (removing a user with their app
//! passwords and properties, the login record that joins an app password and its owner).
//! Changes that can take a credential away are published on the change feed ([`Snapshot`]).

mod accounts;
mod app_passwords;
mod audit;
mod audit_queue;
mod backup;
mod changes;
mod copy;
mod email;
mod expiry;
pub(crate) mod flows;
mod identities;
mod identity;
mod listing;
mod location;
mod locks;
mod model;
mod networks;
mod object_gc;
mod objects;
mod pg;
mod props;
mod providers;
mod quota;
mod restore;
mod scope;
mod sessions;
mod settings;
mod tables;
pub mod test_database;
#[cfg(test)]
pub(crate) mod testing;
mod throttle;
mod users;

pub use accounts::LoginRecord;
pub use app_passwords::NewAppPassword;
pub use audit::{ActorKind, AuditEvent, AuditQuery, EventKind, MAX_AUDIT_PAGE, Outcome};
pub use backup::{BackupError, BackupSummary};
pub use changes::{Generation, Snapshot};
pub use copy::{CopyCounts, CopyError, CopyProgress, copy_store};
pub use email::{EmailAddress, EmailError, MailLang, MailPrefs};
pub use identities::SsoSignIn;
pub use identity::{ExternalIdentity, LoginMethod, NO_PASSWORD, OidcProvider, ProviderId};
pub use location::{Location, LocationError, PgTarget};
pub use locks::{LockScope, LockView, StoredLock};

pub use flows::FlowRow;
pub use model::{
    ALPHABET, AppPassword, AppPasswordId, AppPasswordName, AppPasswordStatus, NameError, Role,
    TotpFactor, UsePolicy, User, UserName,
};
pub use networks::{
    MAX_NETWORK_USER_AGENT, MAX_NETWORKS, NetworkUse, NoticedUse, UsedNetwork, clean_user_agent,
    network_of,
};
pub use object_gc::GarbageBlob;
pub use objects::{NewContent, NsRefusal, ObjectEntry, parent_of};
pub use pg::tls::TlsSetupError;
pub use props::{DeadProp, PatchOutcome, PropLimits};
pub use quota::Room;
pub use restore::{RestoreError, RestoreSummary, restore};
pub use scope::{Access, Scope, ScopeError, ScopeFolder};
pub use sessions::{CodeClaim, SessionRecord, SessionRules, TokenDigest};
pub use settings::{Durability, Lifetime, LifetimeError, SettingError, SettingKey, Settings};
pub use throttle::{ThrottleKey, ThrottleRow};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

use changes::Feed;

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
    /// A stored value this build cannot read (a column written by hand, say): refused rather
    /// than read as something wider.
    #[error("a stored record is unreadable: {0}")]
    BadValue(String),
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
    /// The user holds as many live app passwords as `app_credentials_max_per_user` allows.
    #[error(
        "user '{user}' already has {live} app passwords that are not revoked or expired, the most \
         allowed here (app_credentials_max_per_user = {max}): revoke one first"
    )]
    TooManyAppPasswords {
        /// The owner.
        user: String,
        /// How many live ones exist.
        live: usize,
        /// The cap.
        max: u32,
    },
    /// A freshly drawn id collided with an existing one (the caller draws another).
    #[error("app password id already taken")]
    IdTaken,
    /// The identity (issuer, subject) is already linked to another account: never relinked
    /// silently.
    #[error("this identity is already linked to the user '{0}'")]
    IdentityTaken(String),
    /// No identity provider with this id is configured.
    #[error("no identity provider with the id '{0}'")]
    UnknownProvider(String),
    /// The change would leave no enabled admin.
    #[error("'{0}' is the last enabled admin; create or enable another admin first")]
    LastAdmin(String),
    /// The blocking task running a transaction panicked or was cancelled (runtime shutdown).
    #[error("the store's worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The store's location cannot be used.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// PostgreSQL refused a statement or the connection failed (shown with its causes, on one
    /// line: tokio-postgres' own message is only the kind, e.g. "error performing TLS
    /// handshake").
    #[error("PostgreSQL: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool (the database is down or busy).
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),
    /// The PostgreSQL database was set up by a newer davgate.
    #[error(
        "the PostgreSQL store was set up by a newer davgate (schema {found}; this one reads up to {supported})"
    )]
    NewerPgSchema {
        /// Version found in the database.
        found: i64,
        /// Newest version this build understands.
        supported: i64,
    },
    /// A redb transaction was asked of the PostgreSQL backend (a dispatch bug, never a user's).
    #[error("internal error: a redb operation reached the PostgreSQL store")]
    WrongBackend,
    /// Shared WebDAV locks were asked of the embedded store, which keeps none (the mount keeps
    /// them in memory): a dispatch bug, never a user's.
    #[error("internal error: shared locks were asked of the embedded store")]
    NoSharedLocks,
    /// Files on object storage were asked of the embedded store, which has no namespace for
    /// them yet (`serve` refuses that combination before this can happen).
    #[error("files on object storage need the PostgreSQL store")]
    NoObjectNamespace,
    /// An upload's commit found its pending mark gone: the collector took it for the upload
    /// of a dead node (pending too long, or left by this node before a restart) and removes its
    /// blob, so the file is not pointed at it.
    #[error("the upload of blob {0} was taken for abandoned by the garbage collector")]
    UploadAbandoned(String),
    /// TLS to PostgreSQL could not be set up (the roots the URL names).
    #[error("PostgreSQL: {0}")]
    PgTls(#[from] TlsSetupError),
    /// The file holds a table this davgate does not know (a newer one wrote it): a backup of
    /// it would leave that table out, so none is made.
    #[error("the store holds a table '{0}' this davgate does not know")]
    UnknownTable(String),
    /// A stored value is out of the range davgate writes (a hand-edited row).
    #[error("a stored value is out of range: {0}")]
    OutOfRange(&'static str),
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Postgres(e),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl Error {
    /// Whether the database could not be reached (down, restarting, refusing connections, the
    /// connection lost mid-statement): a passing state the caller answers 503 with
    /// `Retry-After`, not a fault in what was asked. A statement PostgreSQL refused (a constraint,
    /// a type) is not this.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Postgres(e) => postgres_unreachable(e),
            _ => false,
        }
    }
}

/// `e` and each of its causes, joined with ": ", on one line (a server's DETAIL and HINT come
/// on lines of their own).
fn with_causes(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    let mut shown = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !shown.ends_with(&said) {
            shown = format!("{shown}: {said}");
        }
        cause = c.source();
    }
    shown.replace(['\n', '\r'], "; ")
}

/// A PostgreSQL error that says the server is out of reach: the connection is closed or failed
/// on I/O (refused, reset, timed out), or the server said it is shutting down or starting
/// (SQLSTATE class 08, 57P01–57P03).
fn postgres_unreachable(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    e.source().is_some_and(|cause| cause.is::<std::io::Error>())
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

/// The credential store: the one type callers see.
///
/// A cheap handle (one `Arc`): clone it into whatever needs it. Its methods are `async`: the
/// redb arm runs its work off the async runtime's duties itself (that work must own what it
/// works on), the PostgreSQL arm awaits its connection pool; callers see one type either way.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The audit log's writer queue, shared by every clone ([`audit_queue`]).
    audit: Arc<audit_queue::AuditQueue>,
}

/// Which implementation a [`Store`] is.
#[derive(Clone)]
enum Backend {
    /// The embedded file.
    Redb(Arc<Redb>),
    /// The shared database.
    Postgres(Arc<pg::Pg>),
}

/// The most of the store file redb keeps in memory (its read cache and write buffer). redb's
/// default is 1 GiB, which the server's RSS grew towards with the store: 170 MiB while 100,000
/// app passwords were created in bulk (bench/scale.sh). The hot paths do not need it: every
/// credential a request checks is cached in the server's own maps, and the pages of a listing's
/// dead properties stay in the kernel's page cache.
pub const CACHE_BYTES: usize = 8 << 20;

/// The redb side of the store: what the blocking pool works on.
struct Redb {
    db: Database,
    path: PathBuf,
    /// The generation and the settings, published after each commit that needs it.
    feed: Feed,
    /// What each user's dead properties may take.
    prop_limits: PropLimits,
}

/// Whether a write can take a credential away, and so must move the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Adds or records only (first use, last used, a new app password): no cache goes stale.
    Harmless,
    /// Revokes, disables, removes, changes a password or a quota: published after commit.
    TakesCredentials,
}

impl Store {
    /// File name of the store inside the data directory.
    pub const FILE_NAME: &'static str = "davgate.redb";

    /// Opens (or creates) the store at `location`, creating its tables and checking the schema,
    /// as the CLI does (on PostgreSQL: connections named `davgate cli`, no node row).
    /// redb's file is opened on the blocking pool; PostgreSQL is connected to, migrated, and
    /// followed by a listener task (so call it inside a tokio runtime).
    pub async fn open(location: &Location) -> Result<Self> {
        Self::open_as(location, None, crate::clock::Clock::system()).await
    }

    /// [`Store::open`] for the serving node `node`: on PostgreSQL it heartbeats and
    /// acknowledges generations under that id, names its connections after it, and measures
    /// its staleness ([`Store::cache_trusted`]) on `clock`. The same as `open` on redb.
    pub async fn open_node(
        location: &Location,
        node: &crate::node::NodeId,
        clock: crate::clock::Clock,
    ) -> Result<Self> {
        Self::open_as(location, Some(node.clone()), clock).await
    }

    async fn open_as(
        location: &Location,
        node: Option<crate::node::NodeId>,
        clock: crate::clock::Clock,
    ) -> Result<Self> {
        match location {
            Location::Redb(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Self::open_file(&path)).await?
            }
            Location::Postgres(target) => {
                let pg = pg::Pg::open(target, PropLimits::default(), node, clock).await?;
                Ok(Self { backend: Backend::Postgres(pg), audit: Arc::default() })
            }
        }
    }

    /// [`Store::open`] with other property limits (the tests' small budgets).
    #[cfg(test)]
    pub(crate) async fn open_limited(location: &Location, limits: PropLimits) -> Result<Self> {
        match location {
            Location::Redb(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Self::open_with(&path, limits)).await?
            }
            Location::Postgres(target) => {
                let clock = crate::clock::Clock::system();
                let pg = pg::Pg::open(target, limits, None, clock).await?;
                Ok(Self { backend: Backend::Postgres(pg), audit: Arc::default() })
            }
        }
    }

    /// Opens (or creates) the redb file at `path`, with at most [`CACHE_BYTES`] of it cached.
    /// Blocking: call it off the async runtime.
    pub fn open_file(path: &Path) -> Result<Self> {
        Self::open_with(path, PropLimits::default())
    }

    fn open_with(path: &Path, prop_limits: PropLimits) -> Result<Self> {
        let db =
            Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse(path.to_path_buf()),
                other => other.into(),
            })?;
        // The store holds password hashes: readable by the server's user only.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Database(redb::StorageError::Io(e).into()))?;
        let txn = db.begin_write()?;
        match tables::initialise(&txn)? {
            tables::Migration::None => {}
            tables::Migration::PropsUsage => props::rebuild_usage(&txn)?,
        }
        txn.commit()?;
        let settings = {
            let txn = db.begin_read()?;
            settings::load(&txn)?
        };
        let feed = Feed::new(settings);
        let inner = Redb { db, path: path.to_path_buf(), feed, prop_limits };
        Ok(Self { backend: Backend::Redb(Arc::new(inner)), audit: Arc::default() })
    }

    /// Where the store lives on disk; None for PostgreSQL (it has no file here).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Redb(redb) => Some(&redb.path),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL backend, when that is what this store is: each public method answers
    /// from it first.
    fn postgres(&self) -> Option<&pg::Pg> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Redb(_) => None,
        }
    }

    fn feed(&self) -> &Feed {
        match &self.backend {
            Backend::Redb(redb) => &redb.feed,
            Backend::Postgres(pg) => pg.feed(),
        }
    }

    fn prop_limits(&self) -> PropLimits {
        match &self.backend {
            Backend::Redb(redb) => redb.prop_limits,
            Backend::Postgres(pg) => pg.prop_limits(),
        }
    }

    /// The change feed: the generation and the settings, moving after every change that can
    /// take a credential away (see [`Snapshot`] for the contract).
    pub fn changes(&self) -> watch::Receiver<Snapshot> {
        self.feed().subscribe()
    }

    /// The current generation, for readers that compare it on every request.
    pub fn generation(&self) -> Generation {
        self.feed().generation()
    }

    /// Whether credentials checked at the current [`Store::generation`] may be trusted without
    /// asking the store: always on redb (one process sees every change at once); on
    /// PostgreSQL while this node confirmed the cluster's generation less than the staleness
    /// bound ago (2 s). An atomic load and a clock read.
    pub fn cache_trusted(&self) -> bool {
        match &self.backend {
            Backend::Redb(_) => true,
            Backend::Postgres(pg) => pg.is_fresh(),
        }
    }

    /// The settings in force: the current snapshot's, no database read.
    pub fn settings(&self) -> Arc<Settings> {
        self.feed().settings()
    }

    /// Runs `work` off the async runtime's own duties: the one place redb work does so, and the
    /// one place a failed worker becomes a store error.
    ///
    /// On the multi-threaded runtime (the server) the work runs in place, after the worker hands
    /// its other tasks to the rest of the pool (`block_in_place`), as dav-server's own file calls
    /// do: a redb read takes microseconds, and a hop to the blocking pool per call made a
    /// PROPFIND of 1,000 files (one properties read each) three times slower. Elsewhere (the
    /// CLI's current-thread runtime) it goes to the blocking pool. Either way it runs to the end
    /// once started, so a caller giving up cannot leave a commit unpublished.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Redb) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = match &self.backend {
            Backend::Redb(redb) => Arc::clone(redb),
            Backend::Postgres(_) => return Err(Error::WrongBackend),
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(move || work(&inner))
            }
            Ok(_) => tokio::task::spawn_blocking(move || work(&inner)).await?,
            Err(_) => work(&inner),
        }
    }

    /// Runs `f` in one read transaction, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.blocking(move |redb| redb.read(f)).await
    }

    /// Runs `f` in one write transaction and commits it, on the blocking pool; a change that
    /// takes credentials is published from there too, so that a caller giving up on the answer
    /// cannot leave a commit unpublished.
    async fn write<T: Send + 'static>(
        &self,
        change: Change,
        f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.blocking(move |redb| redb.write(change, f)).await
    }
}

impl Redb {
    fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }

    fn write<T>(
        &self,
        change: Change,
        f: impl FnOnce(&WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let commit = || {
            let txn = self.db.begin_write()?;
            let value = f(&txn)?;
            txn.commit()?;
            Ok(value)
        };
        match change {
            Change::Harmless => commit(),
            Change::TakesCredentials => self.feed.publish(|_| Ok((commit()?, None))),
        }
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}
