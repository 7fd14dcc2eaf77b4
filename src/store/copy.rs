//! Moving up: an embedded store copied into an empty PostgreSQL store (`davgate store copy`),
//! so that a user who outgrows one machine keeps every account and app password.
//!
//! The redb file is read in one read transaction (a consistent snapshot) and written to
//! PostgreSQL in one transaction that first locks the accounts tables and checks they are
//! empty: a failure at any point leaves the target as it was. Records are copied as stored
//! (password and secret hashes, TOTP secrets and their last accepted step, first use, last
//! used, access method), so every app password made on the file opens the shared store.

use redb::{ReadTransaction, ReadableTable};
use std::path::{Path, PathBuf};

use super::audit::AuditEvent;
use super::tables::{
    APP_PASSWORDS, AUDIT_EVENTS, DEAD_PROPS, DEAD_PROPS_USAGE, OIDC_PROVIDERS, OIDC_REFRESH,
    SETTINGS, USERS,
};
use super::{AppPassword, Backend, Error, Location, OidcProvider, PropLimits, Store, User};
use super::{decode, pg};
use crate::clock::Clock;

/// Why a copy was refused or failed. Nothing was written to the target in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// `--from` names no store file.
    #[error("there is no davgate store at {0}")]
    SourceMissing(PathBuf),
    /// A running server holds the file (redb allows one opener).
    #[error("the store {0} is open by a running davgate: stop the server first, then copy")]
    SourceInUse(PathBuf),
    /// `--to` is not a PostgreSQL store.
    #[error("the target must be a postgres:// store")]
    TargetNotPostgres,
    /// The target already holds accounts: copying would mix two stores.
    #[error(
        "the target PostgreSQL store is not empty (it has users or app passwords); \
         store copy fills only an empty store, nothing was copied"
    )]
    TargetNotEmpty,
    /// Reading the file or writing the database failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// How many records of each kind a copy moved (or, in progress reports, has read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyCounts {
    /// Accounts.
    pub users: u64,
    /// App passwords, revoked ones included (their history is part of the account).
    pub app_passwords: u64,
    /// Server settings.
    pub settings: u64,
    /// Dead properties, every user's.
    pub dead_props: u64,
    /// Identity providers (their secrets with them).
    pub providers: u64,
    /// Kept refresh tokens of single sign-on accounts.
    pub refresh_tokens: u64,
    /// Audit log events (the history moves with the accounts).
    pub audit_events: u64,
}

/// One step of a copy, for a progress line: `done` of `total` records of `table` written.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress {
    /// The kind of record: "users", "app passwords", "settings", "dead properties".
    pub table: &'static str,
    /// Written so far.
    pub done: u64,
    /// To write in all.
    pub total: u64,
}

/// Everything the redb file holds, read in one snapshot.
pub(super) struct Dump {
    pub(super) users: Vec<User>,
    pub(super) app_passwords: Vec<AppPassword>,
    pub(super) settings: Vec<(String, String)>,
    /// (owner, path, property key, stored record).
    pub(super) dead_props: Vec<(String, String, String, Vec<u8>)>,
    /// (owner, count, bytes) of each user's counted properties.
    pub(super) usage: Vec<(String, u64, u64)>,
    /// The identity providers, as stored (a stored client secret included).
    pub(super) providers: Vec<OidcProvider>,
    /// (account, refresh token): the refresh check's tokens, as readable as the TOTP secrets.
    pub(super) refresh_tokens: Vec<(String, String)>,
    /// The audit log, oldest first (the target numbers them anew, in the same order).
    pub(super) audit: Vec<AuditEvent>,
}

impl Dump {
    fn counts(&self) -> CopyCounts {
        let n = |len: usize| u64::try_from(len).unwrap_or(u64::MAX);
        CopyCounts {
            users: n(self.users.len()),
            app_passwords: n(self.app_passwords.len()),
            settings: n(self.settings.len()),
            dead_props: n(self.dead_props.len()),
            providers: n(self.providers.len()),
            refresh_tokens: n(self.refresh_tokens.len()),
            audit_events: n(self.audit.len()),
        }
    }
}

/// Copies the redb store at `from` (the file, or the data directory holding it) into the
/// empty PostgreSQL store at `to`, whose schema is created or migrated as a normal open does.
/// `progress` hears of each batch written.
pub async fn copy_store(
    from: &Path,
    to: &Location,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<CopyCounts, CopyError> {
    let Location::Postgres(config) = to else { return Err(CopyError::TargetNotPostgres) };
    let from = from.to_path_buf();
    let dump = tokio::task::spawn_blocking(move || read(&from)).await.map_err(Error::from)??;
    let target = pg::Pg::open(config, PropLimits::default(), None, Clock::system()).await?;
    let counts = dump.counts();
    if !target.import(&dump, progress).await? {
        return Err(CopyError::TargetNotEmpty);
    }
    Ok(counts)
}

/// Opens the file at `from` (or in the directory `from`) as a server would (migrating an
/// older schema) and reads it whole. Blocking.
fn read(from: &Path) -> Result<Dump, CopyError> {
    let file = if from.is_dir() { from.join(Store::FILE_NAME) } else { from.to_path_buf() };
    if !file.is_file() {
        return Err(CopyError::SourceMissing(file));
    }
    let store = Store::open_file(&file).map_err(|e| match e {
        Error::InUse(path) => CopyError::SourceInUse(path),
        other => other.into(),
    })?;
    let Backend::Redb(redb) = &store.backend else { return Err(Error::WrongBackend.into()) };
    Ok(redb.read(dump)?)
}

fn dump(txn: &ReadTransaction) -> super::Result<Dump> {
    let users: super::Result<Vec<User>> =
        txn.open_table(USERS)?.iter()?.map(|e| decode(e?.1.value())).collect();
    let app_passwords: super::Result<Vec<AppPassword>> =
        txn.open_table(APP_PASSWORDS)?.iter()?.map(|e| decode(e?.1.value())).collect();
    let mut settings = Vec::new();
    for entry in txn.open_table(SETTINGS)?.iter()? {
        let (k, v) = entry?;
        settings.push((k.value().to_string(), v.value().to_string()));
    }
    let mut dead_props = Vec::new();
    for entry in txn.open_table(DEAD_PROPS)?.iter()? {
        let (k, v) = entry?;
        let (owner, path, key) = k.value();
        dead_props.push((owner.to_string(), path.to_string(), key.to_string(), v.value().to_vec()));
    }
    let mut usage = Vec::new();
    for entry in txn.open_table(DEAD_PROPS_USAGE)?.iter()? {
        let (k, v) = entry?;
        let (count, bytes) = v.value();
        usage.push((k.value().to_string(), count, bytes));
    }
    let providers: super::Result<Vec<OidcProvider>> =
        txn.open_table(OIDC_PROVIDERS)?.iter()?.map(|e| decode(e?.1.value())).collect();
    let mut refresh_tokens = Vec::new();
    for entry in txn.open_table(OIDC_REFRESH)?.iter()? {
        let (k, v) = entry?;
        refresh_tokens.push((k.value().to_string(), v.value().to_string()));
    }
    let audit: super::Result<Vec<AuditEvent>> =
        txn.open_table(AUDIT_EVENTS)?.iter()?.map(|e| decode(e?.1.value())).collect();
    Ok(Dump {
        audit: audit?,
        users: users?,
        app_passwords: app_passwords?,
        settings,
        dead_props,
        usage,
        providers: providers?,
        refresh_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::{ExternalIdentity, LoginMethod, ProviderId, Role, UserName};

    /// A provider with a stored secret, an account linked to it and its refresh token, made
    /// on a redb file and copied to PostgreSQL, come along whole: sign-in through the provider
    /// and the refresh check keep working on the shared store, and her e-mail choices hold.
    #[tokio::test]
    async fn identity_providers_and_refresh_tokens_are_copied_to_postgres() {
        let Some(db) = crate::store::test_database::TestDatabase::create().await else { return };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(Store::FILE_NAME);
        let opened = file.clone();
        let store =
            tokio::task::spawn_blocking(move || Store::open_file(&opened)).await.unwrap().unwrap();
        let provider = OidcProvider {
            id: ProviderId::parse("corp").unwrap(),
            display_name: "Contoso".into(),
            issuer: "https://idp.contoso.example".into(),
            client_id: "davgate".into(),
            client_secret: Some(Secret::new("client-secret-1".into())),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            allowed_domains: vec!["contoso.example".into()],
            allowed_groups: Vec::new(),
            admin_groups: vec!["admins".into()],
            auto_provision: true,
            trust_xms_edov: false,
            refresh_check: true,
            enabled: true,
        };
        store.put_provider(provider.clone()).await.unwrap();
        let carol = UserName::parse("carol").unwrap();
        let identity = ExternalIdentity {
            provider: provider.id.clone(),
            issuer: provider.issuer.clone(),
            subject: Some("carol-sub".into()),
            email: None,
            linked_at: Some(chrono::Utc::now()),
            last_sso_at: None,
        };
        let now = chrono::Utc::now();
        store
            .create_linked_user(&carol, Role::User, LoginMethod::Sso, identity, now)
            .await
            .unwrap();
        store.set_refresh_token(&carol, Some(Secret::new("refresh-1".into()))).await.unwrap();
        let address = crate::store::EmailAddress::parse("carol@contoso.example").unwrap();
        store.set_user_email(&carol, Some(address.clone())).await.unwrap();
        let prefs =
            crate::store::MailPrefs { informational: false, lang: crate::store::MailLang::Fr };
        store.set_mail_prefs(&carol, prefs).await.unwrap();
        drop(store);

        let to = Location::parse(Some(db.url()), dir.path()).unwrap();
        let mut reports = Vec::new();
        let counts = copy_store(&file, &to, &mut |p| reports.push(p.table)).await.unwrap();
        assert_eq!((counts.providers, counts.refresh_tokens), (1, 1));
        assert!(reports.contains(&"identity providers") && reports.contains(&"refresh tokens"));

        let shared = Store::open(&to).await.unwrap();
        assert_eq!(shared.providers().await.unwrap(), vec![provider]);
        let tokens = shared.refresh_tokens().await.unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!((&tokens[0].0, tokens[0].1.expose()), (&carol, "refresh-1"));
        let linked = shared.user_by_identity("https://idp.contoso.example", "carol-sub").await;
        let linked = linked.unwrap().unwrap();
        assert_eq!(linked.name, carol);
        assert_eq!((linked.email, linked.mail), (Some(address), prefs), "her e-mail choices too");
    }
}
