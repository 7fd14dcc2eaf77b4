//! The admin socket's wire format: one JSON [`Request`] line in, one [`Answer`] line out.
//!
//! Nothing but the socket speaks it. The CLI's [`super::Client`] turns a typed call into a
//! `Request` and the `Reply` back into that call's typed result; the server turns a `Request`
//! into one typed call of [`Admin`] in [`answer`], its one `match`. Errors travel as
//! `{code, message}` and come back as the same [`OpError`].

use serde::{Deserialize, Serialize};

use super::OpError;
use super::operations::{Admin, Include, NewPassword};
use super::sso::{IdentityHint, ProviderInput, ProviderView};
use super::views::{
    AppPasswordSpec, AppPasswordView, CreatedAppPassword, PasswordChanged, ServerStatus,
    SettingValues, UserCreated, UserRemoved, UserView,
};
use crate::auth::token::Secret;
use crate::store::{
    AppPasswordId, AppPasswordName, BackupSummary, LoginMethod, ProviderId, Role, SettingKey,
    UserName,
};

/// One admin operation and its arguments, already validated by the sender (the names are
/// parsed again on arrival).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub(crate) enum Request {
    /// [`Admin::add_user`]; no password: davgate draws one.
    UserAdd { name: UserName, role: Role, password: Option<Secret> },
    /// [`Admin::users`].
    UserList,
    /// [`Admin::set_user_disabled`].
    UserSetDisabled { name: UserName, disabled: bool },
    /// [`Admin::remove_user`].
    UserRemove { name: UserName },
    /// [`Admin::set_quota`].
    UserQuota { name: UserName, quota_bytes: Option<u64> },
    /// [`Admin::set_email`].
    UserEmail { name: UserName, email: Option<crate::store::EmailAddress> },
    /// [`Admin::reset_totp`].
    UserResetTotp { name: UserName },
    /// [`Admin::set_password`]; no password: davgate draws one.
    UserPasswd { name: UserName, password: Option<Secret> },
    /// [`Admin::create_app_password`].
    AppPasswordCreate { user: UserName, spec: AppPasswordSpec },
    /// [`Admin::app_passwords`]; `all` includes revoked and expired ones.
    AppPasswordList { user: Option<UserName>, all: bool },
    /// [`Admin::revoke_app_password`].
    AppPasswordRevoke { user: UserName, id: AppPasswordId },
    /// [`Admin::revoke_all_app_passwords`].
    AppPasswordRevokeAll { user: UserName },
    /// [`Admin::inventory`].
    AppPasswordInventory { filter: super::InventoryFilter, offset: usize, limit: usize },
    /// [`Admin::bulk_revoke`].
    AppPasswordBulkRevoke { filter: super::InventoryFilter, expected_count: usize },
    /// [`Admin::rename_app_password`].
    AppPasswordRename { user: UserName, id: AppPasswordId, name: AppPasswordName },
    /// [`Admin::status`].
    Status,
    /// [`Admin::audit_events`].
    Audit { query: crate::store::AuditQuery },
    /// [`Admin::settings`].
    SettingsGet,
    /// [`Admin::set_setting`].
    SettingsSet { key: SettingKey, value: String },
    /// [`Admin::backup`]; `file` is absolute (the server's working directory is not the CLI's).
    Backup { file: std::path::PathBuf, replace: bool },
    /// [`Admin::add_provider`] (the secret travels once, as a password does).
    OidcAdd { provider: Box<ProviderInput> },
    /// [`Admin::providers`].
    OidcList,
    /// [`Admin::remove_provider`].
    OidcRemove { id: ProviderId },
    /// [`Admin::add_sso_user`].
    UserAddSso { name: UserName, role: Role, provider: ProviderId, hint: IdentityHint },
    /// [`Admin::link_user`].
    UserLink { name: UserName, provider: ProviderId, subject: String },
    /// [`Admin::unlink_user`].
    UserUnlink { name: UserName },
    /// [`Admin::set_login_method`].
    UserLoginMethod { name: UserName, login: LoginMethod },
    /// [`Admin::recheck_sso`].
    OidcRecheck,
    /// [`Admin::collect_garbage`].
    FilesGc,
}

/// A successful operation's result, tagged by what it answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub(crate) enum Reply {
    /// From [`Request::UserAdd`].
    UserCreated(UserCreated),
    /// From [`Request::UserList`].
    Users { users: Vec<UserView> },
    /// From the requests that change one account and answer it.
    User { user: UserView },
    /// From [`Request::UserRemove`].
    UserRemoved(UserRemoved),
    /// From [`Request::UserPasswd`].
    PasswordChanged(PasswordChanged),
    /// From [`Request::AppPasswordCreate`].
    AppPasswordCreated(CreatedAppPassword),
    /// From [`Request::AppPasswordList`].
    AppPasswords { app_passwords: Vec<AppPasswordView> },
    /// From [`Request::AppPasswordRename`]: the password as it is now.
    AppPassword { app_password: AppPasswordView },
    /// From the revocations: how many.
    Revoked { count: usize },
    /// From [`Request::AppPasswordInventory`].
    Inventory(super::Inventory),
    /// From [`Request::AppPasswordBulkRevoke`].
    BulkRevoke(super::BulkRevoke),
    /// From [`Request::Status`].
    Status(ServerStatus),
    /// From [`Request::Audit`]: newest first.
    AuditEvents { events: Vec<crate::store::AuditEvent> },
    /// From [`Request::SettingsGet`] and [`Request::SettingsSet`].
    Settings { settings: SettingValues },
    /// From [`Request::Backup`].
    BackupWritten(BackupSummary),
    /// From [`Request::OidcList`].
    Providers { providers: Vec<ProviderView> },
    /// From [`Request::OidcAdd`].
    Provider { provider: Box<ProviderView> },
    /// From [`Request::OidcRemove`].
    ProviderRemoved,
    /// From [`Request::OidcRecheck`].
    Rechecked(crate::oidc::recheck::Rechecked),
    /// From [`Request::FilesGc`].
    GarbageCollected(crate::objectfs::Collected),
}

impl Reply {
    /// The reply's tag, for saying what came instead of the expected one.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Reply::UserCreated(_) => "user_created",
            Reply::Users { .. } => "users",
            Reply::User { .. } => "user",
            Reply::UserRemoved(_) => "user_removed",
            Reply::PasswordChanged(_) => "password_changed",
            Reply::AppPasswordCreated(_) => "app_password_created",
            Reply::AppPasswords { .. } => "app_passwords",
            Reply::AppPassword { .. } => "app_password",
            Reply::Revoked { .. } => "revoked",
            Reply::Inventory(_) => "inventory",
            Reply::BulkRevoke(_) => "bulk_revoke",
            Reply::Status(_) => "status",
            Reply::AuditEvents { .. } => "audit_events",
            Reply::Settings { .. } => "settings",
            Reply::BackupWritten(_) => "backup_written",
            Reply::Providers { .. } => "providers",
            Reply::Provider { .. } => "provider",
            Reply::ProviderRemoved => "provider_removed",
            Reply::Rechecked(_) => "rechecked",
            Reply::GarbageCollected(_) => "garbage_collected",
        }
    }
}

/// One line from the server: the reply, or the error as `{code, message}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "one answer per admin call, moved once: boxing the reply would buy nothing"
)]
pub(crate) enum Answer {
    /// The operation succeeded.
    Ok(Reply),
    /// It was refused or failed: [`OpError::code`] and its message.
    Error { code: String, message: String },
}

impl From<Result<Reply, OpError>> for Answer {
    fn from(result: Result<Reply, OpError>) -> Self {
        match result {
            Ok(reply) => Answer::Ok(reply),
            Err(e) => Answer::Error { code: e.code().to_string(), message: e.to_string() },
        }
    }
}

impl From<Answer> for Result<Reply, OpError> {
    fn from(answer: Answer) -> Self {
        match answer {
            Answer::Ok(reply) => Ok(reply),
            Answer::Error { code, message } => Err(OpError::from_wire(&code, message)),
        }
    }
}

/// Runs `request` as the one typed operation it names.
pub(crate) async fn answer(admin: &Admin, request: Request) -> Result<Reply, OpError> {
    let new_password = |p: Option<Secret>| p.map_or(NewPassword::Generate, NewPassword::Given);
    Ok(match request {
        Request::UserAdd { name, role, password } => {
            Reply::UserCreated(admin.add_user(&name, role, new_password(password)).await?)
        }
        Request::UserList => Reply::Users { users: admin.users().await? },
        Request::UserSetDisabled { name, disabled } => {
            Reply::User { user: admin.set_user_disabled(&name, disabled).await? }
        }
        Request::UserRemove { name } => Reply::UserRemoved(admin.remove_user(&name).await?),
        Request::UserEmail { name, email } => {
            Reply::User { user: admin.set_email(&name, email).await? }
        }
        Request::UserQuota { name, quota_bytes } => {
            Reply::User { user: admin.set_quota(&name, quota_bytes).await? }
        }
        Request::UserResetTotp { name } => Reply::User { user: admin.reset_totp(&name).await? },
        Request::UserPasswd { name, password } => {
            Reply::PasswordChanged(admin.set_password(&name, new_password(password)).await?)
        }
        Request::AppPasswordCreate { user, spec } => {
            Reply::AppPasswordCreated(admin.create_app_password(&user, &spec).await?)
        }
        Request::AppPasswordList { user, all } => {
            let include = if all { Include::All } else { Include::Active };
            Reply::AppPasswords {
                app_passwords: admin.app_passwords(user.as_ref(), include).await?,
            }
        }
        Request::AppPasswordRevoke { user, id } => {
            admin.revoke_app_password(&user, &id).await?;
            Reply::Revoked { count: 1 }
        }
        Request::AppPasswordRevokeAll { user } => {
            Reply::Revoked { count: admin.revoke_all_app_passwords(&user).await? }
        }
        Request::AppPasswordInventory { filter, offset, limit } => {
            Reply::Inventory(admin.inventory(&filter, offset, limit).await?)
        }
        Request::AppPasswordBulkRevoke { filter, expected_count } => {
            Reply::BulkRevoke(admin.bulk_revoke(&filter, expected_count).await?)
        }
        Request::AppPasswordRename { user, id, name } => {
            Reply::AppPassword { app_password: admin.rename_app_password(&user, &id, &name).await? }
        }
        Request::Status => Reply::Status(admin.status().await?),
        Request::Audit { query } => Reply::AuditEvents { events: admin.audit_events(query).await? },
        Request::SettingsGet => Reply::Settings { settings: admin.settings().await? },
        Request::SettingsSet { key, value } => {
            Reply::Settings { settings: admin.set_setting(key, &value).await? }
        }
        Request::Backup { file, replace } => {
            Reply::BackupWritten(admin.backup(&file, replace).await?)
        }
        Request::OidcAdd { provider } => {
            Reply::Provider { provider: Box::new(admin.add_provider(*provider).await?) }
        }
        Request::OidcList => Reply::Providers { providers: admin.providers().await? },
        Request::OidcRemove { id } => {
            admin.remove_provider(&id).await?;
            Reply::ProviderRemoved
        }
        Request::UserAddSso { name, role, provider, hint } => {
            Reply::User { user: admin.add_sso_user(&name, role, &provider, hint).await? }
        }
        Request::UserLink { name, provider, subject } => {
            Reply::User { user: admin.link_user(&name, &provider, subject).await? }
        }
        Request::OidcRecheck => Reply::Rechecked(admin.recheck_sso().await?),
        Request::UserUnlink { name } => Reply::User { user: admin.unlink_user(&name).await? },
        Request::UserLoginMethod { name, login } => {
            Reply::User { user: admin.set_login_method(&name, login).await? }
        }
        Request::FilesGc => Reply::GarbageCollected(admin.collect_garbage().await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_passwords_over_the_socket_but_never_into_debug() {
        let name = UserName::parse("alice").unwrap();
        let password = Some(Secret::new("typed-by-a-person".into()));
        let add =
            Request::UserAdd { name: name.clone(), role: Role::User, password: password.clone() };
        let passwd = Request::UserPasswd { name, password };
        for request in [add, passwd] {
            assert!(!format!("{request:?}").contains("typed-by-a-person"), "{request:?}");
            let line = serde_json::to_string(&request).unwrap();
            assert!(line.contains("typed-by-a-person"), "{line}");
            let back: Request = serde_json::from_str(&line).unwrap();
            assert!(!format!("{back:?}").contains("typed-by-a-person"));
        }
    }

    #[test]
    fn an_error_answer_comes_back_as_the_same_error() {
        let refused = OpError::UnknownUser("no user named 'ghost'".into());
        let line = serde_json::to_string(&Answer::from(Err(refused.clone()))).unwrap();
        assert!(line.contains(r#""code":"unknown_user""#), "{line}");
        let answer: Answer = serde_json::from_str(&line).unwrap();
        assert_eq!(Result::<Reply, OpError>::from(answer).unwrap_err(), refused);
    }
}
