//! [`Client`]: the CLI's way to the admin operations, with [`Admin`]'s typed methods whether a
//! server answers on the data directory's admin socket or the CLI opens the store itself.
//!
//! Through the socket, each method sends its one [`Request`] and accepts only the [`Reply`] of
//! that operation: any other reply becomes [`OpError::UnexpectedReply`], an error with a clear
//! message, never a silent success.

use std::path::Path;
use std::time::Duration;

use super::OpError;
use super::operations::{Admin, Include, NewPassword};
use super::socket::{self, Connection};
use super::sso::{IdentityHint, ProviderInput, ProviderView};
use super::views::{
    AppPasswordSpec, AppPasswordView, CreatedAppPassword, PasswordChanged, ServerStatus,
    SettingValues, UserCreated, UserRemoved, UserView,
};
use super::wire::{Reply, Request};
use crate::auth::token::Secret;
use crate::auth::verify::Hasher;
use crate::clock::Clock;
use crate::store::{
    self, AppPasswordId, AppPasswordName, BackupSummary, LoginMethod, ProviderId, Role, SettingKey,
    Store, UserName,
};

/// The admin operations as the CLI reaches them.
pub struct Client(Link);

enum Link {
    /// A running server, through its admin socket.
    Server(Connection),
    /// The store itself, opened by this process (no server runs).
    Store(Admin),
}

/// How often, at most, to look again for a server that holds the store but does not answer
/// yet (it binds its socket a moment after opening the store).
const ATTEMPTS: u32 = 50;
const PAUSE: Duration = Duration::from_millis(100);

impl Client {
    /// Reaches the operations of the data directory `data_dir` and the store at `location`,
    /// the homes in the default files root `<data>/files` ([`Client::connect_with_files`]).
    pub async fn connect(data_dir: &Path, location: &store::Location) -> Result<Self, OpError> {
        let files_root = super::homes::default_files_root(data_dir);
        Self::connect_with_files(data_dir, location, &files_root).await
    }

    /// Reaches the operations of the data directory `data_dir`: through the running server's
    /// admin socket if one answers (the server then works on its own files root), else on the
    /// store directly (creating the data directory and the store if needed), the homes under
    /// `files_root` (for `user remove`, which moves a home aside). A shared store (PostgreSQL)
    /// is opened directly when no server answers here (the database takes any number of
    /// clients); a server that does answer is still asked, so that its clock dates the change
    /// and its own caches follow it at once.
    pub async fn connect_with_files(
        data_dir: &Path,
        location: &store::Location,
        files_root: &Path,
    ) -> Result<Self, OpError> {
        if location.is_shared() {
            if let Some(connection) = Connection::open(&socket::path(data_dir)).await? {
                return Ok(Self(Link::Server(connection)));
            }
            let store = Store::open(location).await?;
            let admin = Admin::new(store, Hasher::Direct, Clock::system(), files_root);
            return Ok(Self(Link::Store(admin)));
        }
        let socket_path = socket::path(data_dir);
        let store_path = data_dir.join(Store::FILE_NAME);
        for _ in 0..ATTEMPTS {
            if let Some(connection) = Connection::open(&socket_path).await? {
                return Ok(Self(Link::Server(connection)));
            }
            let (dir, file) = (data_dir.to_path_buf(), store_path.clone());
            let opened = tokio::task::spawn_blocking(move || {
                crate::fs_private::create_private_dir(&dir).map_err(|e| {
                    OpError::channel(&dir, format_args!("cannot create the data directory: {e}"))
                })?;
                Ok::<_, OpError>(Store::open_file(&file))
            })
            .await??;
            match opened {
                Ok(store) => {
                    let admin = Admin::new(store, Hasher::Direct, Clock::system(), files_root);
                    return Ok(Self(Link::Store(admin)));
                }
                Err(store::Error::InUse(_)) => tokio::time::sleep(PAUSE).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OpError::busy(data_dir))
    }

    /// Reaches a running server only ([`OpError::NoServer`] if none answers): for what only a
    /// server knows. Creates and opens nothing.
    pub async fn running(data_dir: &Path) -> Result<Self, OpError> {
        match Connection::open(&socket::path(data_dir)).await? {
            Some(connection) => Ok(Self(Link::Server(connection))),
            None => Err(OpError::no_server(data_dir)),
        }
    }

    /// [`Admin::add_user`].
    pub async fn add_user(
        &self,
        name: &UserName,
        role: Role,
        password: NewPassword,
    ) -> Result<UserCreated, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.add_user(name, role, password).await,
            Link::Server(server) => server,
        };
        let request = Request::UserAdd { name: name.clone(), role, password: sent(password) };
        match server.call(&request).await? {
            Reply::UserCreated(created) => Ok(created),
            other => Err(unexpected("user add", &other)),
        }
    }

    /// [`Admin::users`].
    pub async fn users(&self) -> Result<Vec<UserView>, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.users().await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserList).await? {
            Reply::Users { users } => Ok(users),
            other => Err(unexpected("user list", &other)),
        }
    }

    /// [`Admin::set_user_disabled`].
    pub async fn set_user_disabled(
        &self,
        name: &UserName,
        disabled: bool,
    ) -> Result<UserView, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.set_user_disabled(name, disabled).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserSetDisabled { name: name.clone(), disabled }).await? {
            Reply::User { user } => Ok(user),
            other => Err(unexpected("user disable/enable", &other)),
        }
    }

    /// [`Admin::remove_user`].
    pub async fn remove_user(&self, name: &UserName) -> Result<UserRemoved, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.remove_user(name).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserRemove { name: name.clone() }).await? {
            Reply::UserRemoved(removed) => Ok(removed),
            other => Err(unexpected("user remove", &other)),
        }
    }

    /// [`Admin::set_email`].
    pub async fn set_email(
        &self,
        name: &UserName,
        email: Option<crate::store::EmailAddress>,
    ) -> Result<UserView, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.set_email(name, email).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserEmail { name: name.clone(), email }).await? {
            Reply::User { user } => Ok(user),
            other => Err(unexpected("user email", &other)),
        }
    }

    /// [`Admin::set_quota`].
    pub async fn set_quota(
        &self,
        name: &UserName,
        quota_bytes: Option<u64>,
    ) -> Result<UserView, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.set_quota(name, quota_bytes).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserQuota { name: name.clone(), quota_bytes }).await? {
            Reply::User { user } => Ok(user),
            other => Err(unexpected("user quota", &other)),
        }
    }

    /// [`Admin::reset_totp`].
    pub async fn reset_totp(&self, name: &UserName) -> Result<UserView, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.reset_totp(name).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::UserResetTotp { name: name.clone() }).await? {
            Reply::User { user } => Ok(user),
            other => Err(unexpected("user reset-2fa", &other)),
        }
    }

    /// [`Admin::set_password`].
    pub async fn set_password(
        &self,
        name: &UserName,
        password: NewPassword,
    ) -> Result<PasswordChanged, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.set_password(name, password).await,
            Link::Server(server) => server,
        };
        let request = Request::UserPasswd { name: name.clone(), password: sent(password) };
        match server.call(&request).await? {
            Reply::PasswordChanged(changed) => Ok(changed),
            other => Err(unexpected("user passwd", &other)),
        }
    }

    /// [`Admin::create_app_password`].
    pub async fn create_app_password(
        &self,
        owner: &UserName,
        spec: &AppPasswordSpec,
    ) -> Result<CreatedAppPassword, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.create_app_password(owner, spec).await,
            Link::Server(server) => server,
        };
        let request = Request::AppPasswordCreate { user: owner.clone(), spec: spec.clone() };
        match server.call(&request).await? {
            Reply::AppPasswordCreated(created) => Ok(created),
            other => Err(unexpected("app-password create", &other)),
        }
    }

    /// [`Admin::app_passwords`].
    pub async fn app_passwords(
        &self,
        owner: Option<&UserName>,
        include: Include,
    ) -> Result<Vec<AppPasswordView>, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.app_passwords(owner, include).await,
            Link::Server(server) => server,
        };
        let all = include == Include::All;
        match server.call(&Request::AppPasswordList { user: owner.cloned(), all }).await? {
            Reply::AppPasswords { app_passwords } => Ok(app_passwords),
            other => Err(unexpected("app-password list", &other)),
        }
    }

    /// [`Admin::revoke_app_password`].
    pub async fn revoke_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
    ) -> Result<(), OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.revoke_app_password(owner, id).await,
            Link::Server(server) => server,
        };
        let request = Request::AppPasswordRevoke { user: owner.clone(), id: id.clone() };
        match server.call(&request).await? {
            Reply::Revoked { .. } => Ok(()),
            other => Err(unexpected("app-password revoke", &other)),
        }
    }

    /// [`Admin::revoke_all_app_passwords`].
    pub async fn revoke_all_app_passwords(&self, owner: &UserName) -> Result<usize, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.revoke_all_app_passwords(owner).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::AppPasswordRevokeAll { user: owner.clone() }).await? {
            Reply::Revoked { count } => Ok(count),
            other => Err(unexpected("app-password revoke --all", &other)),
        }
    }

    /// [`Admin::inventory`].
    pub async fn inventory(
        &self,
        filter: &super::InventoryFilter,
        offset: usize,
        limit: usize,
    ) -> Result<super::Inventory, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.inventory(filter, offset, limit).await,
            Link::Server(server) => server,
        };
        let request = Request::AppPasswordInventory { filter: filter.clone(), offset, limit };
        match server.call(&request).await? {
            Reply::Inventory(inventory) => Ok(inventory),
            other => Err(unexpected("app-password list --all-users", &other)),
        }
    }

    /// [`Admin::bulk_revoke`].
    pub async fn bulk_revoke(
        &self,
        filter: &super::InventoryFilter,
        expected_count: usize,
    ) -> Result<super::BulkRevoke, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.bulk_revoke(filter, expected_count).await,
            Link::Server(server) => server,
        };
        let request = Request::AppPasswordBulkRevoke { filter: filter.clone(), expected_count };
        match server.call(&request).await? {
            Reply::BulkRevoke(outcome) => Ok(outcome),
            other => Err(unexpected("app-password revoke --all-users", &other)),
        }
    }

    /// [`Admin::rename_app_password`].
    pub async fn rename_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        name: &AppPasswordName,
    ) -> Result<AppPasswordView, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.rename_app_password(owner, id, name).await,
            Link::Server(server) => server,
        };
        let request =
            Request::AppPasswordRename { user: owner.clone(), id: id.clone(), name: name.clone() };
        match server.call(&request).await? {
            Reply::AppPassword { app_password } => Ok(app_password),
            other => Err(unexpected("app-password rename", &other)),
        }
    }

    /// [`Admin::settings`].
    pub async fn settings(&self) -> Result<SettingValues, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.settings().await,
            Link::Server(server) => server,
        };
        match server.call(&Request::SettingsGet).await? {
            Reply::Settings { settings } => Ok(settings),
            other => Err(unexpected("settings get", &other)),
        }
    }

    /// [`Admin::set_setting`].
    pub async fn set_setting(
        &self,
        key: SettingKey,
        value: &str,
    ) -> Result<SettingValues, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.set_setting(key, value).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::SettingsSet { key, value: value.to_string() }).await? {
            Reply::Settings { settings } => Ok(settings),
            other => Err(unexpected("settings set", &other)),
        }
    }

    /// [`Admin::backup`]; a relative `file` is taken from this process's working directory.
    pub async fn backup(&self, file: &Path, replace: bool) -> Result<BackupSummary, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.backup(file, replace).await,
            Link::Server(server) => server,
        };
        let file = std::path::absolute(file).map_err(|e| {
            OpError::BackupRefused(format!("cannot resolve {}: {e}", file.display()))
        })?;
        match server.call(&Request::Backup { file, replace }).await? {
            Reply::BackupWritten(summary) => Ok(summary),
            other => Err(unexpected("backup", &other)),
        }
    }

    /// [`Admin::audit_events`].
    pub async fn audit_events(
        &self,
        query: store::AuditQuery,
    ) -> Result<Vec<store::AuditEvent>, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.audit_events(query).await,
            Link::Server(server) => server,
        };
        match server.call(&Request::Audit { query }).await? {
            Reply::AuditEvents { events } => Ok(events),
            other => Err(unexpected("audit", &other)),
        }
    }

    /// [`Admin::status`].
    pub async fn status(&self) -> Result<ServerStatus, OpError> {
        let server = match &self.0 {
            Link::Store(admin) => return admin.status().await,
            Link::Server(server) => server,
        };
        match server.call(&Request::Status).await? {
            Reply::Status(status) => Ok(status),
            other => Err(unexpected("status", &other)),
        }
    }
}

/// The single sign-on operations, as the CLI reaches them.
impl Client {
    /// Sends `request` to the server, or runs `local` on the store; answers what `accept`
    /// takes from the reply.
    async fn call<T>(
        &self,
        what: &str,
        request: Request,
        local: impl AsyncFnOnce(&Admin) -> Result<T, OpError>,
        accept: impl FnOnce(Reply) -> Result<T, &'static str>,
    ) -> Result<T, OpError> {
        match &self.0 {
            Link::Store(admin) => local(admin).await,
            Link::Server(server) => {
                accept(server.call(&request).await?).map_err(|other| unexpected_named(what, other))
            }
        }
    }

    /// [`Admin::add_provider`].
    pub async fn add_provider(&self, input: ProviderInput) -> Result<ProviderView, OpError> {
        let request = Request::OidcAdd { provider: Box::new(input.clone()) };
        self.call(
            "oidc add",
            request,
            async |a| a.add_provider(input).await,
            |r| match r {
                Reply::Provider { provider } => Ok(*provider),
                other => Err(other.name()),
            },
        )
        .await
    }

    /// [`Admin::providers`].
    pub async fn providers(&self) -> Result<Vec<ProviderView>, OpError> {
        self.call(
            "oidc list",
            Request::OidcList,
            async |a| a.providers().await,
            |r| match r {
                Reply::Providers { providers } => Ok(providers),
                other => Err(other.name()),
            },
        )
        .await
    }

    /// [`Admin::remove_provider`].
    pub async fn remove_provider(&self, id: &ProviderId) -> Result<(), OpError> {
        let request = Request::OidcRemove { id: id.clone() };
        self.call(
            "oidc remove",
            request,
            async |a| a.remove_provider(id).await,
            |r| match r {
                Reply::ProviderRemoved => Ok(()),
                other => Err(other.name()),
            },
        )
        .await
    }

    /// [`Admin::recheck_sso`].
    pub async fn recheck_sso(&self) -> Result<crate::oidc::recheck::Rechecked, OpError> {
        let request = Request::OidcRecheck;
        self.call(
            "oidc recheck",
            request,
            async |a| a.recheck_sso().await,
            |r| match r {
                Reply::Rechecked(done) => Ok(done),
                other => Err(other.name()),
            },
        )
        .await
    }

    /// [`Admin::collect_garbage`]: the running server's files on object storage.
    pub async fn collect_garbage(&self) -> Result<crate::objectfs::Collected, OpError> {
        self.call(
            "files gc",
            Request::FilesGc,
            async |a| a.collect_garbage().await,
            |r| match r {
                Reply::GarbageCollected(done) => Ok(done),
                other => Err(other.name()),
            },
        )
        .await
    }

    /// [`Admin::add_sso_user`].
    pub async fn add_sso_user(
        &self,
        name: &UserName,
        role: Role,
        provider: &ProviderId,
        hint: IdentityHint,
    ) -> Result<UserView, OpError> {
        let request = Request::UserAddSso {
            name: name.clone(),
            role,
            provider: provider.clone(),
            hint: hint.clone(),
        };
        let local = async |a: &Admin| a.add_sso_user(name, role, provider, hint).await;
        self.call("user add --sso", request, local, user_reply).await
    }

    /// [`Admin::link_user`].
    pub async fn link_user(
        &self,
        name: &UserName,
        provider: &ProviderId,
        subject: String,
    ) -> Result<UserView, OpError> {
        let request = Request::UserLink {
            name: name.clone(),
            provider: provider.clone(),
            subject: subject.clone(),
        };
        let local = async |a: &Admin| a.link_user(name, provider, subject).await;
        self.call("user link", request, local, user_reply).await
    }

    /// [`Admin::unlink_user`].
    pub async fn unlink_user(&self, name: &UserName) -> Result<UserView, OpError> {
        let request = Request::UserUnlink { name: name.clone() };
        self.call("user unlink", request, async |a| a.unlink_user(name).await, user_reply).await
    }

    /// [`Admin::set_login_method`].
    pub async fn set_login_method(
        &self,
        name: &UserName,
        login: LoginMethod,
    ) -> Result<UserView, OpError> {
        let request = Request::UserLoginMethod { name: name.clone(), login };
        let local = async |a: &Admin| a.set_login_method(name, login).await;
        self.call("user login-method", request, local, user_reply).await
    }
}

/// Takes the account from a reply that answers one.
fn user_reply(reply: Reply) -> Result<UserView, &'static str> {
    match reply {
        Reply::User { user } => Ok(user),
        other => Err(other.name()),
    }
}

/// A new password as the wire carries it: none when davgate is to draw one.
fn sent(password: NewPassword) -> Option<Secret> {
    match password {
        NewPassword::Generate => None,
        NewPassword::Given(p) => Some(p),
    }
}

/// The server answered `reply` to the operation `what`.
fn unexpected(what: &str, reply: &Reply) -> OpError {
    unexpected_named(what, reply.name())
}

/// The server answered the reply named `reply` to the operation `what`.
fn unexpected_named(what: &str, reply: &str) -> OpError {
    OpError::UnexpectedReply(format!(
        "the server answered '{what}' with a '{reply}' reply; is it another version of davgate?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    fn redb_in(dir: &Path) -> store::Location {
        store::Location::parse(None, dir).unwrap()
    }

    /// A stand-in server on a data directory's socket that answers every request with `line`.
    fn fake_server(dir: &Path, line: &'static str) -> tokio::task::JoinHandle<()> {
        let listener = tokio::net::UnixListener::bind(socket::path(dir)).unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (read, mut write) = stream.into_split();
                let mut request = String::new();
                let _ = tokio::io::BufReader::new(read).read_line(&mut request).await;
                let _ = write.write_all(format!("{line}\n").as_bytes()).await;
            }
        })
    }

    #[tokio::test]
    async fn a_reply_of_another_operation_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let server = fake_server(dir.path(), r#"{"ok":{"reply":"revoked","count":1}}"#);
        let client = Client::connect(dir.path(), &redb_in(dir.path())).await.unwrap();
        let e = client.users().await.unwrap_err();
        assert_eq!(e.code(), "unexpected_reply");
        assert!(e.to_string().contains("'user list' with a 'revoked' reply"), "{e}");
        server.abort();
    }

    #[tokio::test]
    async fn a_refusal_from_the_server_is_the_same_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let line =
            r#"{"error":{"code":"last_admin","message":"'root' is the last enabled admin"}}"#;
        let server = fake_server(dir.path(), line);
        let client = Client::connect(dir.path(), &redb_in(dir.path())).await.unwrap();
        let root = UserName::parse("root").unwrap();
        let e = client.remove_user(&root).await.unwrap_err();
        assert_eq!(e, OpError::LastAdmin("'root' is the last enabled admin".into()));
        server.abort();
    }

    #[tokio::test]
    async fn without_a_server_the_client_works_on_the_store_itself() {
        let dir = tempfile::tempdir().unwrap();
        let client = Client::connect(dir.path(), &redb_in(dir.path())).await.unwrap();
        let alice = UserName::parse("alice").unwrap();
        let created = client.add_user(&alice, Role::User, NewPassword::Generate).await.unwrap();
        assert!(created.generated_password.is_some());
        let users = client.users().await.unwrap();
        assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice"]);
        assert_eq!(client.status().await.unwrap_err().code(), "no_server");
        assert_eq!(Client::running(dir.path()).await.err().map(|e| e.code()), Some("no_server"));
    }
}
