//! [`Admin`]: the admin operations, one typed method each.
//!
//! Every change to users, app passwords and settings is made here, whoever asks: the CLI on the
//! store directly, the admin socket for the CLI while a server runs, the pages and the API (after
//! [`crate::web::portal`] decided the person may), and programs embedding davgate. argon2 runs
//! on the given [`Hasher`] (the server's bounded pool) and the store's own work on its blocking
//! pool, never on the async runtime. Time comes from the given [`Clock`].

use std::sync::Arc;

use super::views::{
    AppPasswordSpec, AppPasswordView, CreatedAppPassword, PasswordChanged, ServerStatus,
    SettingValues, UserCreated, UserRemoved, UserView,
};
use super::{MIN_PASSWORD_LEN, OpError, homes};
use crate::auth::token::{self, Secret};
use crate::auth::verify::Hasher;
use crate::clock::Clock;
use crate::log_safe::escaped;
use crate::store::{
    self, ActorKind, AppPasswordId, AppPasswordName, AppPasswordStatus, AuditEvent, BackupSummary,
    EmailAddress, EventKind, NewAppPassword, Role, SettingKey, Store, UserName,
};

/// The password a new account or a password change gets.
#[derive(Debug, Clone)]
pub enum NewPassword {
    /// davgate draws one (100 bits) and answers it, once.
    Generate,
    /// This one, typed by a person: at least [`MIN_PASSWORD_LEN`] characters.
    Given(Secret),
}

/// Which app passwords a listing holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Only those that still open WebDAV.
    Active,
    /// Revoked and expired ones too.
    All,
}

/// What the server log records of the operations, and in whose name.
#[derive(Debug, Clone, Default)]
pub enum Audit {
    /// Nothing: the CLI working on the store itself has no server log, and a program embedding
    /// davgate logs what it wants.
    #[default]
    Off,
    /// Every operation, reads included: the admin socket, whose caller the log cannot name.
    Socket,
    /// Changes only, after `web: <who>`: a person on the pages or the API.
    Web(UserName),
}

/// Whether an operation changes something (always audited) or only reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Read,
    Change,
}

/// Reads a running server's live status for [`Admin::status`].
type StatusSource = Arc<dyn Fn() -> ServerStatus + Send + Sync>;

/// Told which app passwords of a user were just revoked: a running server's WebDAV mount,
/// which releases the locks they took (in memory; the shared store deletes them itself).
type RevocationSink = Arc<dyn Fn(&UserName, &[AppPasswordId]) + Send + Sync>;

/// The admin operations over one store. Cheap to clone (its parts are shared).
#[derive(Clone)]
pub struct Admin {
    store: Store,
    hasher: Hasher,
    clock: Clock,
    /// Where the homes are, to move a removed account's aside.
    files_root: Arc<std::path::PathBuf>,
    status: Option<StatusSource>,
    revoked: Option<RevocationSink>,
    audit: Audit,
    /// A running server's files on object storage, for `files gc` (weak: the server's mount
    /// owns them, and the sweeps holding an `Admin` must not keep their collector running).
    objects: Option<std::sync::Weak<crate::objectfs::ObjectFiles>>,
}

impl Admin {
    /// The operations on `store`, hashing with `hasher`, dating with `clock`, the homes under
    /// `files_root`; nothing audited and no status (there is no server) until
    /// [`Admin::with_status`] and [`Admin::audited`].
    pub fn new(
        store: Store,
        hasher: Hasher,
        clock: Clock,
        files_root: impl Into<std::path::PathBuf>,
    ) -> Self {
        let files_root = Arc::new(files_root.into());
        Self {
            store,
            hasher,
            clock,
            files_root,
            status: None,
            revoked: None,
            audit: Audit::Off,
            objects: None,
        }
    }

    /// The same operations, telling `revoked` which app passwords each revocation ended (a
    /// running server's mount, to release their locks).
    pub fn on_revocation(
        self,
        revoked: impl Fn(&UserName, &[AppPasswordId]) + Send + Sync + 'static,
    ) -> Self {
        Self { revoked: Some(Arc::new(revoked)), ..self }
    }

    fn ended(&self, owner: &UserName, ids: &[AppPasswordId]) {
        if let Some(revoked) = &self.revoked
            && !ids.is_empty()
        {
            revoked(owner, ids);
        }
    }

    /// The same operations, answering [`Admin::status`] from `status` (a running server's).
    pub fn with_status(self, status: impl Fn() -> ServerStatus + Send + Sync + 'static) -> Self {
        Self { status: Some(Arc::new(status)), ..self }
    }

    /// The same operations, collecting the garbage of `objects` (a running server's files on
    /// object storage) on [`Admin::collect_garbage`].
    pub fn with_objects(self, objects: &Arc<crate::objectfs::ObjectFiles>) -> Self {
        Self { objects: Some(Arc::downgrade(objects)), ..self }
    }

    pub(super) fn objects(&self) -> Option<Arc<crate::objectfs::ObjectFiles>> {
        self.objects.as_ref()?.upgrade()
    }

    /// The same operations, recording them in the server log as `audit` says.
    pub fn audited(&self, audit: Audit) -> Self {
        Self { audit, ..self.clone() }
    }

    /// Creates an account.
    pub async fn add_user(
        &self,
        name: &UserName,
        role: Role,
        password: NewPassword,
    ) -> Result<UserCreated, OpError> {
        let (password, generated) = choose(password)?;
        let hash = self.hash(password).await?;
        let user = self.store.create_user(name, role, hash, self.clock.now()).await?;
        self.record(Kind::Change, || format!("user add {name} admin={}", role == Role::Admin));
        let role_word = if role == Role::Admin { "admin" } else { "user" };
        self.event(
            EventKind::AccountCreated,
            Some(name),
            None,
            serde_json::json!({ "role": role_word }),
        )
        .await;
        Ok(UserCreated { user: UserView::from(&user), generated_password: generated })
    }

    /// Creates the admin account `name` with a generated password if the store has no account
    /// at all (a server's first start); `None` when there already is one.
    pub async fn add_first_admin(&self, name: &UserName) -> Result<Option<UserCreated>, OpError> {
        if self.store.has_users().await? {
            return Ok(None);
        }
        // Another node sharing the store may create it between the check and the insert:
        // then it exists, which is all this asks.
        match self.add_user(name, Role::Admin, NewPassword::Generate).await {
            Err(OpError::UserExists(_)) => Ok(None),
            created => created.map(Some),
        }
    }

    /// Every account, sorted by name.
    pub async fn users(&self) -> Result<Vec<UserView>, OpError> {
        let users = self.store.users().await?;
        self.record(Kind::Read, || "user list".into());
        Ok(users.iter().map(UserView::from).collect())
    }

    /// Disables or enables an account; a disabled account's app passwords stop at once.
    pub async fn set_user_disabled(
        &self,
        name: &UserName,
        disabled: bool,
    ) -> Result<UserView, OpError> {
        self.set_user_disabled_because(name, disabled, serde_json::Value::Null).await
    }

    /// [`Admin::set_user_disabled`], its audit event saying why (`detail`: the refresh check's
    /// refusal, for one).
    pub(super) async fn set_user_disabled_because(
        &self,
        name: &UserName,
        disabled: bool,
        detail: serde_json::Value,
    ) -> Result<UserView, OpError> {
        let user = self.store.set_user_disabled(name, disabled).await?;
        self.record(Kind::Change, || format!("user {name} disabled={disabled}"));
        let kind = if disabled { EventKind::AccountDisabled } else { EventKind::AccountEnabled };
        self.event(kind, Some(name), None, detail).await;
        Ok(UserView::from(&user))
    }

    /// Removes an account and its app passwords, and moves its home folder aside so that a new
    /// account of the same name starts empty.
    pub async fn remove_user(&self, name: &UserName) -> Result<UserRemoved, OpError> {
        let app_passwords_removed = self.store.remove_user(name).await?;
        self.record(Kind::Change, || format!("user remove {name}"));
        let detail = serde_json::json!({ "app_passwords_removed": app_passwords_removed });
        self.event(EventKind::AccountRemoved, Some(name), None, detail).await;
        let not_moved = |home: &str, reason: &dyn std::fmt::Display| {
            OpError::HomeNotMoved(format!(
                "removed user '{name}', but their files could not be moved aside from {home}: \
                 {reason}; move or delete that folder before creating an account named '{name}' \
                 again"
            ))
        };
        let files = Arc::clone(&self.files_root);
        let (root, owned, now) = (Arc::clone(&files), name.clone(), self.clock.now());
        let moved = tokio::task::spawn_blocking(move || homes::move_aside(&root, &owned, now))
            .await?
            .map_err(|e| not_moved(&files.join(name.as_str()).display().to_string(), &e))?;
        Ok(UserRemoved {
            name: name.clone(),
            app_passwords_removed,
            files_moved_to: moved.map(|p| p.display().to_string()),
        })
    }

    /// Sets (`Some`) or clears (`None`) where a user's security e-mails go.
    pub async fn set_email(
        &self,
        name: &UserName,
        email: Option<EmailAddress>,
    ) -> Result<UserView, OpError> {
        let user = self.store.set_user_email(name, email.clone()).await?;
        self.record(Kind::Change, || format!("user email {name} {email:?}"));
        Ok(UserView::from(&user))
    }

    /// Sets a user's e-mail choices (informational e-mails on or off, language).
    pub async fn set_mail_prefs(
        &self,
        name: &UserName,
        prefs: crate::store::MailPrefs,
    ) -> Result<UserView, OpError> {
        let user = self.store.set_mail_prefs(name, prefs).await?;
        self.record(Kind::Change, || format!("user mail-prefs {name} {prefs:?}"));
        Ok(UserView::from(&user))
    }

    /// Sets (`Some(bytes)`) or lifts (`None`) the most a user's home may hold.
    pub async fn set_quota(
        &self,
        name: &UserName,
        quota_bytes: Option<u64>,
    ) -> Result<UserView, OpError> {
        let user = self.store.set_user_quota(name, quota_bytes).await?;
        self.record(Kind::Change, || format!("user quota {name} {quota_bytes:?}"));
        let detail = serde_json::json!({ "quota_bytes": quota_bytes });
        self.event(EventKind::QuotaChanged, Some(name), None, detail).await;
        Ok(UserView::from(&user))
    }

    /// Removes a user's second factor (a lost phone): the web login asks for the password alone
    /// until they enrol again.
    pub async fn reset_totp(&self, name: &UserName) -> Result<UserView, OpError> {
        let user = self.store.set_user_totp(name, None).await?;
        self.record(Kind::Change, || format!("user reset-2fa {name}"));
        self.event(EventKind::SecondFactorReset, Some(name), None, serde_json::Value::Null).await;
        Ok(UserView::from(&user))
    }

    /// Sets a new primary password (an admin's reset): every web session opened with the old
    /// one ends, and every live app password of the user is revoked (their locks released),
    /// since whoever knew the old password could have made them.
    pub async fn set_password(
        &self,
        name: &UserName,
        password: NewPassword,
    ) -> Result<PasswordChanged, OpError> {
        self.replace_password(name, password, true, "user passwd").await
    }

    /// The user's own change of their primary password (the profile's "Change password"):
    /// their app passwords are revoked too (locks released) when `revoke_app_passwords`, the
    /// default offered, since the change is often made because the old one leaked; unticked,
    /// a person who merely rotates keeps their applications connected.
    pub async fn change_own_password(
        &self,
        name: &UserName,
        password: Secret,
        revoke_app_passwords: bool,
    ) -> Result<PasswordChanged, OpError> {
        let given = NewPassword::Given(password);
        self.replace_password(name, given, revoke_app_passwords, "password change").await
    }

    async fn replace_password(
        &self,
        name: &UserName,
        password: NewPassword,
        revoke_app_passwords: bool,
        audited_as: &str,
    ) -> Result<PasswordChanged, OpError> {
        let (password, generated) = choose(password)?;
        let hash = self.hash(password).await?;
        self.store.set_user_password(name, hash).await?;
        let revoked = match revoke_app_passwords {
            true => self.store.revoke_all_app_passwords(name, self.clock.now()).await?,
            false => Vec::new(),
        };
        self.ended(name, &revoked);
        let count = revoked.len();
        self.record(Kind::Change, || {
            format!("{audited_as} {name} ({count} app passwords revoked)")
        });
        let detail = serde_json::json!({ "app_passwords_revoked": count });
        self.event(EventKind::PasswordReset, Some(name), None, detail).await;
        Ok(PasswordChanged {
            name: name.clone(),
            generated_password: generated,
            app_passwords_revoked: count,
        })
    }

    /// Creates an app password for `owner` as `spec` asks, its lifetime checked against
    /// `app_credentials_max_ttl`: the only answer that ever holds its secret.
    pub async fn create_app_password(
        &self,
        owner: &UserName,
        spec: &AppPasswordSpec,
    ) -> Result<CreatedAppPassword, OpError> {
        let now = self.clock.now();
        let expires_at = self.store.settings().expiry_for(spec.lifetime, now)?;
        // Ids are 50 random bits; a collision is astronomically rare, but handled.
        let record = loop {
            let generated = token::generate()?;
            let secret_hash = self.hash(generated.secret).await?;
            let new = NewAppPassword {
                id: generated.id,
                owner: owner.clone(),
                name: spec.name.to_string(),
                secret_hash,
                expires_at,
                scope: spec.scope.clone(),
            };
            match self.store.create_app_password(new, now).await {
                Ok(record) => break CreatedAppPassword::new(&record, generated.password),
                Err(store::Error::IdTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.record(Kind::Change, || format!("app-password create for {owner}"));
        let detail = serde_json::json!({ "name": record.name });
        self.event(EventKind::AppPasswordCreated, Some(owner), Some(record.id.clone()), detail)
            .await;
        Ok(record)
    }

    /// The app passwords of `owner` (everyone's for `None`), oldest first, grouped by user.
    pub async fn app_passwords(
        &self,
        owner: Option<&UserName>,
        include: Include,
    ) -> Result<Vec<AppPasswordView>, OpError> {
        let list = self.store.app_passwords(owner).await?;
        self.record(Kind::Read, || "app-password list".into());
        let now = self.clock.now();
        let policy = self.store.settings().use_policy();
        Ok(list
            .iter()
            .filter(|p| {
                include == Include::All || p.status(now, &policy) == AppPasswordStatus::Active
            })
            .map(|p| AppPasswordView::new(p, now, &policy))
            .collect())
    }

    /// Revokes one app password of `owner`.
    pub async fn revoke_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
    ) -> Result<(), OpError> {
        self.store.revoke_app_password(owner, id, self.clock.now()).await?;
        self.ended(owner, std::slice::from_ref(id));
        self.record(Kind::Change, || format!("app-password revoke {owner} {id}"));
        self.event(
            EventKind::AppPasswordRevoked,
            Some(owner),
            Some(id.to_string()),
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// Revokes every active app password of `owner`; answers how many.
    pub async fn revoke_all_app_passwords(&self, owner: &UserName) -> Result<usize, OpError> {
        let revoked = self.store.revoke_all_app_passwords(owner, self.clock.now()).await?;
        self.ended(owner, &revoked);
        self.record(Kind::Change, || format!("app-password revoke {owner} --all"));
        for id in &revoked {
            self.event(
                EventKind::AppPasswordRevoked,
                Some(owner),
                Some(id.to_string()),
                serde_json::Value::Null,
            )
            .await;
        }
        Ok(revoked.len())
    }

    /// Renames one app password of `owner` (its name only: a scope never changes); refused if
    /// another live one of theirs has that name.
    pub async fn rename_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        name: &AppPasswordName,
    ) -> Result<AppPasswordView, OpError> {
        let now = self.clock.now();
        let record = self.store.rename_app_password(owner, id, name.as_str(), now).await?;
        self.record(Kind::Change, || format!("app-password rename {owner} {id}"));
        let detail = serde_json::json!({ "name": name.as_str() });
        self.event(EventKind::AppPasswordRenamed, Some(owner), Some(id.to_string()), detail).await;
        Ok(AppPasswordView::new(&record, now, &self.store.settings().use_policy()))
    }

    /// The settings in force.
    pub async fn settings(&self) -> Result<SettingValues, OpError> {
        let settings = self.store.settings();
        self.record(Kind::Read, || "settings get".into());
        Ok(SettingValues::of(&settings))
    }

    /// Validates and stores one setting; answers the settings now in force.
    pub async fn set_setting(
        &self,
        key: SettingKey,
        value: &str,
    ) -> Result<SettingValues, OpError> {
        let old = self.store.settings().get(key);
        let settings = self.store.set_setting(key, value).await?;
        // A write-only setting's value never reaches the log line either.
        self.record(Kind::Change, || format!("settings set {key} {}", masked(key, escaped(value))));
        let (old, new) = (masked(key, old), masked(key, settings.get(key)));
        let detail = serde_json::json!({ "setting": key.name(), "old": old, "new": new });
        self.event(EventKind::SettingChanged, None, None, detail).await;
        Ok(SettingValues::of(&settings))
    }

    /// Writes a consistent copy of the embedded store to `file` while it keeps serving (refused
    /// if `file` exists, unless `replace`; refused on PostgreSQL, which pg_dump backs up). The
    /// file is written by whoever holds the store: the server, when asked through its socket.
    pub async fn backup(
        &self,
        file: &std::path::Path,
        replace: bool,
    ) -> Result<BackupSummary, OpError> {
        let summary = self.store.backup_to(file, replace).await?;
        self.record(Kind::Read, || format!("backup {}", escaped(&file.display().to_string())));
        Ok(summary)
    }

    /// The running server's state; [`OpError::NoServer`] where there is no server.
    pub async fn status(&self) -> Result<ServerStatus, OpError> {
        let Some(status) = &self.status else {
            let file = self.store.path().unwrap_or(std::path::Path::new("."));
            return Err(OpError::no_server(file.parent().unwrap_or(file)));
        };
        self.record(Kind::Read, || "status".into());
        Ok(status())
    }

    /// Writes the audit line of a successful operation, as [`Audit`] says. Every value a person
    /// typed is escaped ([`escaped`]): a newline in a setting cannot forge a second log line.
    pub(super) fn record(&self, kind: Kind, what: impl FnOnce() -> String) {
        match &self.audit {
            Audit::Off => {}
            Audit::Socket => tracing::info!(target: "davgate::admin", "{}", what()),
            Audit::Web(who) if kind == Kind::Change => {
                tracing::info!(target: "davgate::admin", "web: {who} {}", what());
            }
            Audit::Web(_) => {}
        }
    }

    /// Records `kind` about `subject` (and `app_password`) in the audit log, in the name
    /// [`Audit`] says: a person on the pages acting on their own account is its user, on
    /// another's an admin; the admin socket and the CLI are an admin they cannot name.
    pub(super) async fn event(
        &self,
        kind: EventKind,
        subject: Option<&UserName>,
        app_password: Option<String>,
        detail: serde_json::Value,
    ) {
        let (actor_kind, actor) = match &self.audit {
            Audit::Web(who) if Some(who) == subject => (ActorKind::User, Some(who.as_str())),
            Audit::Web(who) => (ActorKind::Admin, Some(who.as_str())),
            Audit::Socket | Audit::Off => (ActorKind::Admin, None),
        };
        let mut event = AuditEvent::new(self.clock.now(), kind, actor_kind, actor);
        event.subject = subject.cloned();
        event.app_password = app_password;
        event.detail = detail;
        self.store.audit(crate::audit::from_current_client(event));
        // The CLI on the store exits when the command is done: its events are written first.
        if matches!(self.audit, Audit::Off) {
            self.store.audit_flush().await;
        }
    }

    /// The store the operations work on (for the single sign-on operations' file).
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The clock the operations date with.
    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The argon2id PHC string of `secret`, computed off the async runtime.
    async fn hash(&self, secret: Secret) -> Result<String, OpError> {
        let hasher = self.hasher.clone();
        Ok(tokio::task::spawn_blocking(move || hasher.hash(secret.expose())).await??)
    }
}

/// A setting's value as the audit log keeps it: a secret one (a password, a key) as stars.
fn masked(key: SettingKey, value: String) -> String {
    let name = key.name();
    if ["password", "secret", "token", "key"].iter().any(|w| name.contains(w)) {
        "********".into()
    } else {
        value
    }
}

/// The password to set, and the one to answer (only when davgate drew it).
fn choose(password: NewPassword) -> Result<(Secret, Option<Secret>), OpError> {
    match password {
        NewPassword::Given(p) if p.expose().chars().count() < MIN_PASSWORD_LEN => {
            Err(OpError::WeakPassword)
        }
        NewPassword::Given(p) => Ok((p, None)),
        NewPassword::Generate => {
            let generated = token::primary_password()?;
            Ok((generated.clone(), Some(generated)))
        }
    }
}
