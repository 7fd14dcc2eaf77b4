//! [`OpError`]: why an admin operation was refused or failed, the same on every path.
//!
//! Each variant names a situation and carries the sentence a person reads. The admin socket sends
//! both, as `{code, message}` ([`OpError::code`]), and the CLI turns them back into the same
//! variant ([`OpError::from_wire`]): a refusal reads the same and is told apart the same way
//! whether the CLI ran the operation itself or a server ran it. The pages, the API and the CLI
//! each map these variants to their answer in one place.

use std::path::Path;

use super::MIN_PASSWORD_LEN;
use crate::auth::verify::HashError;
use crate::store::{self, NameError, SettingError};

/// Why an admin operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// A user name breaks the rules (1 to 64 of `a-z 0-9 . _ -`, not starting with a dot).
    #[error("{0}")]
    InvalidUserName(String),
    /// An app-password name is empty, longer than 100 characters or holds control or invisible
    /// formatting characters.
    #[error("{0}")]
    InvalidAppPasswordName(String),
    /// An app-password id is not 10 characters of the davgate alphabet.
    #[error("{0}")]
    InvalidAppPasswordId(String),
    /// A primary password typed by a person is shorter than [`MIN_PASSWORD_LEN`].
    #[error("the password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
    /// A setting name davgate does not know.
    #[error("{0}")]
    UnknownSetting(String),
    /// A setting value that does not parse for its setting (a duration, a choice, networks).
    #[error("{0}")]
    InvalidSetting(String),
    /// No account of that name.
    #[error("{0}")]
    UnknownUser(String),
    /// An account of that name already exists.
    #[error("{0}")]
    UserExists(String),
    /// The user has no app password of that id.
    #[error("{0}")]
    UnknownAppPassword(String),
    /// The user already has an active app password of that name.
    #[error("{0}")]
    DuplicateAppPasswordName(String),
    /// The asked lifetime is over `app_credentials_max_ttl`, or `never` where a maximum is set.
    #[error("{0}")]
    InvalidLifetime(String),
    /// A scope that does not parse (a folder with `..`, a network that is not one).
    #[error("{0}")]
    InvalidScope(String),
    /// The user already holds `app_credentials_max_per_user` live app passwords.
    #[error("{0}")]
    TooManyAppPasswords(String),
    /// An e-mail address that is not one (`name@example.org`).
    #[error("{0}")]
    InvalidEmail(String),
    /// Removing or disabling the account would leave no enabled admin.
    #[error("{0}")]
    LastAdmin(String),
    /// The account was removed, but its home folder could not be moved aside: a new account of
    /// the same name would find those files.
    #[error("{0}")]
    HomeNotMoved(String),
    /// The running server's status was asked, but no server runs on that data directory.
    #[error("{0}")]
    NoServer(String),
    /// Another process holds the store, and no admin socket answers in its data directory.
    #[error("{0}")]
    Busy(String),
    /// The admin socket failed: it could not be reached, the conversation broke off, or one side
    /// sent something the other could not read.
    #[error("{0}")]
    Channel(String),
    /// The server answered with the reply of another operation (a server of another version).
    #[error("{0}")]
    UnexpectedReply(String),
    /// A backup was refused: its name is taken, the store is PostgreSQL (pg_dump backs it up),
    /// or there is no store.
    #[error("{0}")]
    BackupRefused(String),
    /// Writing a backup failed (the disk, the folder's permissions): no file has its name.
    #[error("{0}")]
    BackupFailed(String),
    /// An identity-provider setting is refused (its id, an issuer that is not https, Entra's
    /// shared `/common` issuer, a missing secret).
    #[error("{0}")]
    InvalidProvider(String),
    /// No identity provider of that id is configured.
    #[error("{0}")]
    UnknownProvider(String),
    /// The identity is already linked to another account (never relinked silently).
    #[error("{0}")]
    IdentityTaken(String),
    /// The store, the random source or the hashing failed: nothing the caller typed is wrong.
    #[error("{0}")]
    Internal(String),
    /// `files gc` on a server whose files are not on object storage.
    #[error("{0}")]
    NoObjectStorage(String),
}

impl OpError {
    /// A stable name for the situation, for programs (and the admin socket's wire format).
    pub fn code(&self) -> &'static str {
        match self {
            OpError::InvalidUserName(_) => "invalid_user_name",
            OpError::InvalidAppPasswordName(_) => "invalid_app_password_name",
            OpError::InvalidAppPasswordId(_) => "invalid_app_password_id",
            OpError::WeakPassword => "weak_password",
            OpError::UnknownSetting(_) => "unknown_setting",
            OpError::InvalidSetting(_) => "invalid_setting",
            OpError::UnknownUser(_) => "unknown_user",
            OpError::UserExists(_) => "user_exists",
            OpError::UnknownAppPassword(_) => "unknown_app_password",
            OpError::DuplicateAppPasswordName(_) => "duplicate_app_password_name",
            OpError::InvalidLifetime(_) => "invalid_lifetime",
            OpError::InvalidScope(_) => "invalid_scope",
            OpError::InvalidEmail(_) => "invalid_email",
            OpError::TooManyAppPasswords(_) => "too_many_app_passwords",
            OpError::LastAdmin(_) => "last_admin",
            OpError::HomeNotMoved(_) => "home_not_moved",
            OpError::NoServer(_) => "no_server",
            OpError::Busy(_) => "busy",
            OpError::Channel(_) => "channel",
            OpError::UnexpectedReply(_) => "unexpected_reply",
            OpError::BackupRefused(_) => "backup_refused",
            OpError::BackupFailed(_) => "backup_failed",
            OpError::InvalidProvider(_) => "invalid_provider",
            OpError::UnknownProvider(_) => "unknown_provider",
            OpError::IdentityTaken(_) => "identity_taken",
            OpError::Internal(_) => "internal",
            OpError::NoObjectStorage(_) => "no_object_storage",
        }
    }

    /// The error a `{code, message}` pair from the admin socket stands for. A code this build
    /// does not know (a newer server) becomes [`OpError::Internal`] with the server's message.
    pub fn from_wire(code: &str, message: String) -> Self {
        match code {
            "invalid_user_name" => OpError::InvalidUserName(message),
            "invalid_app_password_name" => OpError::InvalidAppPasswordName(message),
            "invalid_app_password_id" => OpError::InvalidAppPasswordId(message),
            "weak_password" => OpError::WeakPassword,
            "unknown_setting" => OpError::UnknownSetting(message),
            "invalid_setting" => OpError::InvalidSetting(message),
            "unknown_user" => OpError::UnknownUser(message),
            "user_exists" => OpError::UserExists(message),
            "unknown_app_password" => OpError::UnknownAppPassword(message),
            "duplicate_app_password_name" => OpError::DuplicateAppPasswordName(message),
            "invalid_lifetime" => OpError::InvalidLifetime(message),
            "invalid_scope" => OpError::InvalidScope(message),
            "invalid_email" => OpError::InvalidEmail(message),
            "too_many_app_passwords" => OpError::TooManyAppPasswords(message),
            "last_admin" => OpError::LastAdmin(message),
            "home_not_moved" => OpError::HomeNotMoved(message),
            "no_server" => OpError::NoServer(message),
            "busy" => OpError::Busy(message),
            "channel" => OpError::Channel(message),
            "unexpected_reply" => OpError::UnexpectedReply(message),
            "backup_refused" => OpError::BackupRefused(message),
            "backup_failed" => OpError::BackupFailed(message),
            "invalid_provider" => OpError::InvalidProvider(message),
            "unknown_provider" => OpError::UnknownProvider(message),
            "identity_taken" => OpError::IdentityTaken(message),
            "no_object_storage" => OpError::NoObjectStorage(message),
            _ => OpError::Internal(message),
        }
    }

    /// `status` found no server on `data_dir`.
    pub(crate) fn no_server(data_dir: &Path) -> Self {
        OpError::NoServer(format!("no davgate server is running on {}", data_dir.display()))
    }

    /// The store in `data_dir` stayed held by a process that does not answer on the socket.
    pub(crate) fn busy(data_dir: &Path) -> Self {
        OpError::Busy(format!(
            "the store in {} is held by another process, and no davgate server answers on its \
             admin socket",
            data_dir.display()
        ))
    }

    /// The admin socket at `path` failed for `reason`.
    pub(crate) fn channel(path: &Path, reason: impl std::fmt::Display) -> Self {
        OpError::Channel(format!("admin channel {}: {reason}", path.display()))
    }
}

impl From<NameError> for OpError {
    fn from(e: NameError) -> Self {
        let message = e.to_string();
        match e {
            NameError::UserName(_) => OpError::InvalidUserName(message),
            NameError::AppPasswordName(_) => OpError::InvalidAppPasswordName(message),
            NameError::AppPasswordId(_) => OpError::InvalidAppPasswordId(message),
            NameError::ProviderId(_) => OpError::InvalidProvider(message),
        }
    }
}

impl From<store::LifetimeError> for OpError {
    fn from(e: store::LifetimeError) -> Self {
        OpError::InvalidLifetime(e.to_string())
    }
}

impl From<store::EmailError> for OpError {
    fn from(e: store::EmailError) -> Self {
        OpError::InvalidEmail(e.to_string())
    }
}

impl From<store::ScopeError> for OpError {
    fn from(e: store::ScopeError) -> Self {
        OpError::InvalidScope(e.to_string())
    }
}

impl From<SettingError> for OpError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::UnknownKey(_) => OpError::UnknownSetting(e.to_string()),
            other => OpError::InvalidSetting(other.to_string()),
        }
    }
}

impl From<store::Error> for OpError {
    fn from(e: store::Error) -> Self {
        use store::Error as S;
        let message = e.to_string();
        match e {
            S::Name(name) => name.into(),
            S::Setting(setting) => setting.into(),
            S::UnknownUser(_) => OpError::UnknownUser(message),
            S::UserExists(_) => OpError::UserExists(message),
            S::UnknownAppPassword { .. } => OpError::UnknownAppPassword(message),
            S::DuplicateName { .. } => OpError::DuplicateAppPasswordName(message),
            S::TooManyAppPasswords { .. } => OpError::TooManyAppPasswords(message),
            S::LastAdmin(_) => OpError::LastAdmin(message),
            S::UnknownProvider(_) => OpError::UnknownProvider(message),
            S::IdentityTaken(_) => OpError::IdentityTaken(message),
            _ => OpError::Internal(message),
        }
    }
}

impl From<store::BackupError> for OpError {
    fn from(e: store::BackupError) -> Self {
        use store::BackupError as B;
        let message = e.to_string();
        match e {
            B::Postgres | B::NoStore(_) | B::Exists(_) | B::IsTheStore(_) | B::NotAFile(_) => {
                OpError::BackupRefused(message)
            }
            _ => OpError::BackupFailed(message),
        }
    }
}

impl From<HashError> for OpError {
    fn from(e: HashError) -> Self {
        OpError::Internal(e.to_string())
    }
}

impl From<rand::rngs::SysError> for OpError {
    fn from(e: rand::rngs::SysError) -> Self {
        OpError::Internal(format!("the operating system's random source failed: {e}"))
    }
}

impl From<tokio::task::JoinError> for OpError {
    fn from(e: tokio::task::JoinError) -> Self {
        OpError::Internal(format!("the operation stopped: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<OpError> {
        let m = || "a message".to_string();
        vec![
            OpError::InvalidUserName(m()),
            OpError::InvalidAppPasswordName(m()),
            OpError::InvalidAppPasswordId(m()),
            OpError::WeakPassword,
            OpError::UnknownSetting(m()),
            OpError::InvalidSetting(m()),
            OpError::UnknownUser(m()),
            OpError::UserExists(m()),
            OpError::UnknownAppPassword(m()),
            OpError::DuplicateAppPasswordName(m()),
            OpError::InvalidLifetime(m()),
            OpError::InvalidScope(m()),
            OpError::InvalidEmail(m()),
            OpError::TooManyAppPasswords(m()),
            OpError::LastAdmin(m()),
            OpError::HomeNotMoved(m()),
            OpError::NoServer(m()),
            OpError::Busy(m()),
            OpError::Channel(m()),
            OpError::UnexpectedReply(m()),
            OpError::BackupRefused(m()),
            OpError::BackupFailed(m()),
            OpError::InvalidProvider(m()),
            OpError::UnknownProvider(m()),
            OpError::IdentityTaken(m()),
            OpError::Internal(m()),
            OpError::NoObjectStorage(m()),
        ]
    }

    #[test]
    fn every_error_comes_back_from_the_wire_as_itself() {
        let all = every_variant();
        let codes: std::collections::HashSet<&str> = all.iter().map(OpError::code).collect();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        for e in all {
            assert_eq!(OpError::from_wire(e.code(), e.to_string()), e);
        }
    }

    #[test]
    fn an_unknown_code_keeps_the_servers_message() {
        let e = OpError::from_wire("from_a_newer_server", "it went wrong".into());
        assert_eq!(e, OpError::Internal("it went wrong".into()));
    }

    #[test]
    fn store_refusals_keep_their_words_and_their_kind() {
        let e = OpError::from(store::Error::UnknownUser("ghost".into()));
        assert_eq!(e, OpError::UnknownUser("no user named 'ghost'".into()));
        let e = OpError::from(store::Error::from(NameError::UserName("a/b".into())));
        assert_eq!(e.code(), "invalid_user_name");
        let e = OpError::from("nope".parse::<store::SettingKey>().unwrap_err());
        assert!(e.to_string().starts_with("unknown setting 'nope'"), "{e}");
        assert_eq!(e.code(), "unknown_setting");
    }
}
