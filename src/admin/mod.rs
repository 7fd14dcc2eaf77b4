//! Admin operations: the one place that changes users, app passwords and settings.
//!
//! A [`Request`] is executed against the store by [`execute`], either in the CLI's own process
//! (no server running) or inside the server, reached through the private admin socket
//! ([`socket`]). Either way the same code runs, so the CLI behaves the same whether or not a
//! server holds the store, and a revoke through the socket takes effect in the server at once.

pub mod homes;
pub mod socket;
mod views;

pub use views::{AppPasswordView, CreatedAppPassword, ServerStatus, UserView};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

use crate::auth::token::{self, Secret};
use crate::auth::verify::{HashError, Hasher};
use crate::store::{self, NameError, NewAppPassword, Role, SettingKey, Store, UserName};

/// What an admin can ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Create an account; without a password one is generated and returned once.
    UserAdd {
        /// Account name.
        name: String,
        /// Admin role.
        admin: bool,
        /// Primary password, or None to generate one.
        password: Option<String>,
    },
    /// List accounts.
    UserList,
    /// Disable or enable an account.
    UserSetDisabled {
        /// Account name.
        name: String,
        /// New state.
        disabled: bool,
    },
    /// Remove an account and its app passwords (files stay on disk).
    UserRemove {
        /// Account name.
        name: String,
    },
    /// Set or clear a user's quota.
    UserQuota {
        /// Account name.
        name: String,
        /// Most bytes the home may hold, or None for no limit.
        quota_bytes: Option<u64>,
    },
    /// Remove a user's second factor (a lost phone): the web login asks for the password alone
    /// until they enrol again.
    UserResetTotp {
        /// Account name.
        name: String,
    },
    /// Set (or generate) the primary password.
    UserPasswd {
        /// Account name.
        name: String,
        /// New password, or None to generate one.
        password: Option<String>,
    },
    /// Create an app password; the reply carries the password, once.
    AppPasswordCreate {
        /// Owner.
        user: String,
        /// Display name.
        name: String,
    },
    /// List app passwords of one user or of everyone.
    AppPasswordList {
        /// Owner, or None for all users.
        user: Option<String>,
        /// Include revoked and expired ones.
        all: bool,
    },
    /// Revoke one app password of a user.
    AppPasswordRevoke {
        /// Owner.
        user: String,
        /// Its id.
        id: String,
    },
    /// Revoke every active app password of a user.
    AppPasswordRevokeAll {
        /// Owner.
        user: String,
    },
    /// The running server's state (only through the admin socket).
    Status,
    /// Show the settings.
    SettingsGet,
    /// Change a setting.
    SettingsSet {
        /// Setting name.
        key: String,
        /// New value.
        value: String,
    },
}

/// What an operation answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// An account was created (with its generated password, if one was generated).
    UserCreated {
        /// The account.
        user: UserView,
        /// Shown once, when davgate generated it.
        generated_password: Option<String>,
    },
    /// Accounts.
    Users {
        /// Sorted by name.
        users: Vec<UserView>,
    },
    /// An account after a change.
    User {
        /// The account.
        user: UserView,
    },
    /// An account was removed.
    UserRemoved {
        /// Its name.
        name: String,
        /// How many app passwords went with it.
        app_passwords_removed: usize,
        /// Where its files were moved (None: it had no home folder).
        #[serde(default)]
        files_moved_to: Option<String>,
    },
    /// A primary password was changed.
    PasswordChanged {
        /// The account.
        name: String,
        /// Shown once, when davgate generated it.
        generated_password: Option<String>,
    },
    /// An app password was created.
    AppPasswordCreated(CreatedAppPassword),
    /// App passwords.
    AppPasswords {
        /// Oldest first, grouped by user.
        app_passwords: Vec<AppPasswordView>,
    },
    /// App passwords were revoked.
    Revoked {
        /// How many.
        count: usize,
    },
    /// The running server's state.
    Status(ServerStatus),
    /// Settings as (name, value) pairs.
    Settings {
        /// In listing order.
        settings: Vec<(String, String)>,
    },
}

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Refused or failed by the store (unknown user, duplicate name, I/O...).
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A malformed name or id.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A setting name or value is wrong.
    #[error(transparent)]
    Setting(#[from] store::SettingError),
    /// Hashing a password failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The OS random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(#[from] rand::rngs::SysError),
    /// A size (quota) is malformed.
    #[error(transparent)]
    Size(#[from] crate::size::SizeError),
    /// A given primary password is too short.
    #[error("the password is too short: use at least {min} characters", min = MIN_PASSWORD_LEN)]
    WeakPassword,
    /// The account was removed but its home folder could not be moved aside.
    #[error(
        "removed user '{name}', but their files could not be moved aside from {home}: {reason}; \
         move or delete that folder before creating an account named '{name}' again"
    )]
    HomeNotMoved {
        /// The account.
        name: String,
        /// Its home folder.
        home: String,
        /// What went wrong.
        reason: String,
    },
    /// The running server refused the operation; its message.
    #[error("{0}")]
    Remote(String),
    /// The admin socket failed mid-conversation.
    #[error("admin channel {path}: {reason}")]
    Channel {
        /// The socket.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// `status` asked while no server runs.
    #[error("no davgate server is running on {0}")]
    NoServer(String),
    /// Another process holds the store and no admin channel answers.
    #[error(
        "the store in {0} is held by another process, and no davgate server answers on its admin socket"
    )]
    Busy(String),
}

/// Shortest primary password accepted from a person.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Runs an admin request for the data directory `data_dir`: through the running server's admin
/// socket if there is one, else on the store directly.
pub fn run(data_dir: &Path, request: Request) -> Result<Reply, Error> {
    let socket_path = socket::path(data_dir);
    let store_path = data_dir.join(Store::FILE_NAME);
    // A server starting up holds the store a moment before its socket answers: retry briefly.
    for _ in 0..50 {
        if let Some(reply) = socket::call(&socket_path, &request)? {
            return Ok(reply);
        }
        if matches!(request, Request::Status) {
            return Err(Error::NoServer(data_dir.display().to_string()));
        }
        crate::fs_private::create_private_dir(data_dir).map_err(|e| Error::Channel {
            path: data_dir.display().to_string(),
            reason: format!("cannot create the data directory: {e}"),
        })?;
        match Store::open(&store_path) {
            Ok(store) => return run_locally(&store, request),
            Err(store::Error::InUse(_)) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Busy(data_dir.display().to_string()))
}

/// The CLI working on the store itself: a small runtime for the store's async methods.
fn run_locally(store: &Store, request: Request) -> Result<Reply, Error> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
            Error::Channel {
                path: store.path().display().to_string(),
                reason: format!("cannot start the runtime: {e}"),
            }
        })?;
    runtime.block_on(execute(store, &Hasher::Direct, request))
}

/// Hashes `secret` with `hasher` on the blocking pool (argon2 must not run on the runtime).
async fn hash(hasher: &Hasher, secret: &Secret) -> Result<String, Error> {
    let (hasher, secret) = (hasher.clone(), secret.clone());
    let hashed = tokio::task::spawn_blocking(move || hasher.hash(secret.expose()));
    Ok(hashed.await.map_err(store::Error::from)??)
}

/// Executes `request` on `store`, hashing new passwords with `hasher` (off the runtime).
pub async fn execute(store: &Store, hasher: &Hasher, request: Request) -> Result<Reply, Error> {
    let now = Utc::now();
    match request {
        Request::UserAdd { name, admin, password } => {
            let name = UserName::parse(&name)?;
            let (password, generated) = choose_password(password)?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = store.create_user(&name, role, hash(hasher, &password).await?, now).await?;
            Ok(Reply::UserCreated { user: UserView::from(&user), generated_password: generated })
        }
        Request::UserList => {
            let users = store.users().await?.iter().map(UserView::from).collect();
            Ok(Reply::Users { users })
        }
        Request::UserSetDisabled { name, disabled } => {
            let user = store.set_user_disabled(&UserName::parse(&name)?, disabled).await?;
            Ok(Reply::User { user: UserView::from(&user) })
        }
        Request::UserRemove { name } => {
            let name = UserName::parse(&name)?;
            let app_passwords_removed = store.remove_user(&name).await?;
            // The account is gone: its files must not go to the next account of that name.
            let files = homes::files_root(store).ok_or_else(|| Error::HomeNotMoved {
                name: name.to_string(),
                home: name.to_string(),
                reason: "the data directory is unknown".to_string(),
            })?;
            let (root, gone) = (files.clone(), name.clone());
            let moving = tokio::task::spawn_blocking(move || homes::move_aside(&root, &gone, now));
            let moved =
                moving.await.map_err(store::Error::from)?.map_err(|e| Error::HomeNotMoved {
                    name: name.to_string(),
                    home: files.join(name.as_str()).display().to_string(),
                    reason: e.to_string(),
                })?;
            Ok(Reply::UserRemoved {
                name: name.to_string(),
                app_passwords_removed,
                files_moved_to: moved.map(|p| p.display().to_string()),
            })
        }
        Request::UserQuota { name, quota_bytes } => {
            let user = store.set_user_quota(&UserName::parse(&name)?, quota_bytes).await?;
            Ok(Reply::User { user: UserView::from(&user) })
        }
        Request::UserResetTotp { name } => {
            let user = store.set_user_totp(&UserName::parse(&name)?, None).await?;
            Ok(Reply::User { user: UserView::from(&user) })
        }
        Request::UserPasswd { name, password } => {
            let name = UserName::parse(&name)?;
            let (password, generated) = choose_password(password)?;
            store.set_user_password(&name, hash(hasher, &password).await?).await?;
            Ok(Reply::PasswordChanged { name: name.to_string(), generated_password: generated })
        }
        Request::AppPasswordCreate { user, name } => {
            let owner = UserName::parse(&user)?;
            let name = store::validate_app_password_name(&name)?;
            // Ids are 50 random bits; a collision is astronomically rare, but handled.
            loop {
                let generated = token::generate()?;
                let new = NewAppPassword {
                    id: generated.id.clone(),
                    owner: owner.clone(),
                    name: name.clone(),
                    secret_hash: hash(hasher, &generated.secret).await?,
                };
                match store.create_app_password(new, now).await {
                    Ok(record) => {
                        return Ok(Reply::AppPasswordCreated(CreatedAppPassword::new(
                            &record,
                            generated.password,
                        )));
                    }
                    Err(store::Error::IdTaken) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Request::AppPasswordList { user, all } => {
            let owner = user.as_deref().map(UserName::parse).transpose()?;
            let app_passwords = store
                .app_passwords(owner.as_ref())
                .await?
                .iter()
                .filter(|p| all || p.status(now) == store::AppPasswordStatus::Active)
                .map(|p| AppPasswordView::new(p, now))
                .collect();
            Ok(Reply::AppPasswords { app_passwords })
        }
        Request::AppPasswordRevoke { user, id } => {
            let owner = UserName::parse(&user)?;
            let id = store::AppPasswordId::parse(&id)?;
            store.revoke_app_password(&owner, &id, now).await?;
            Ok(Reply::Revoked { count: 1 })
        }
        Request::AppPasswordRevokeAll { user } => {
            let count = store.revoke_all_app_passwords(&UserName::parse(&user)?, now).await?;
            Ok(Reply::Revoked { count })
        }
        Request::Status => Err(Error::NoServer(store.path().display().to_string())),
        Request::SettingsGet => Ok(settings_reply(&store.settings())),
        Request::SettingsSet { key, value } => {
            let key: SettingKey = key.parse()?;
            Ok(settings_reply(&store.set_setting(key, &value).await?))
        }
    }
}

/// The admin operations of a running server: [`execute`] plus its live status.
pub struct Operations {
    /// The server's store.
    pub store: Store,
    /// Its bounded argon2 pool.
    pub hasher: Hasher,
    /// Reads its live status.
    pub status: Box<dyn Fn() -> ServerStatus + Send + Sync>,
}

impl Operations {
    /// Runs one request.
    pub async fn run(&self, request: Request) -> Result<Reply, Error> {
        match request {
            Request::Status => Ok(Reply::Status((self.status)())),
            other => execute(&self.store, &self.hasher, other).await,
        }
    }
}

fn settings_reply(settings: &store::Settings) -> Reply {
    let settings =
        SettingKey::ALL.iter().map(|k| (k.name().to_string(), settings.get(*k))).collect();
    Reply::Settings { settings }
}

/// The given password (checked), or a generated one returned for showing once.
fn choose_password(given: Option<String>) -> Result<(Secret, Option<String>), Error> {
    match given {
        Some(p) if p.chars().count() < MIN_PASSWORD_LEN => Err(Error::WeakPassword),
        Some(p) => Ok((Secret::new(p), None)),
        None => {
            let generated = token::primary_password()?;
            let shown = generated.expose().to_string();
            Ok((generated, Some(shown)))
        }
    }
}
