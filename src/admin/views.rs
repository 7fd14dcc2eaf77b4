//! What the admin operations answer: store records without their hashes, times in RFC 3339, and
//! the secrets shown once, which never appear in `Debug` (they are [`Secret`]s).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::token::Secret;
use crate::store::{
    Access, AppPassword, AppPasswordName, AppPasswordStatus, ExternalIdentity, Lifetime,
    LoginMethod, Role, Scope, SettingKey, Settings, UsePolicy, UsedNetwork, User, UserName,
};

/// An account as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    /// The sign-in name (lower case: names are compared case-insensitively).
    pub name: String,
    /// What the account may do; written `"admin"` or `"user"`.
    pub role: Role,
    /// When the account was made: a new account of a removed one's name has a later one, which
    /// is how cached mounts of the old account are told apart.
    pub created_at: DateTime<Utc>,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Most bytes the home may hold; null: no limit.
    pub quota_bytes: Option<u64>,
    /// Whether the web login asks for a TOTP code.
    #[serde(default)]
    pub two_factor: bool,
    /// How the account signs in to the pages: `password`, `sso` or `both`.
    #[serde(default)]
    pub login: LoginMethod,
    /// The identity-provider identity it is linked to (no secret in it).
    #[serde(default)]
    pub external: Option<ExternalIdentity>,
    /// The address set on the account by an admin or the user; null: none set.
    #[serde(default)]
    pub email: Option<String>,
    /// Where security e-mails go: `email`, else the provider's address; null: nowhere.
    #[serde(default)]
    pub mail_to: Option<String>,
    /// The user's e-mail choices (informational on/off, language).
    #[serde(default)]
    pub mail: crate::store::MailPrefs,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            name: u.name.to_string(),
            role: u.role,
            created_at: u.created_at,
            disabled: u.disabled,
            quota_bytes: u.quota_bytes,
            two_factor: u.totp.is_some(),
            login: u.login,
            external: u.external.clone(),
            email: u.email.as_ref().map(ToString::to_string),
            mail_to: u.mail_to().map(String::from),
            mail: u.mail,
        }
    }
}

/// What a creation asks for. The scope is fixed for the password's life: another scope is
/// another password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPasswordSpec {
    /// What its owner calls it.
    pub name: AppPasswordName,
    /// How long it lives, within `app_credentials_max_ttl`.
    #[serde(default = "default_lifetime")]
    pub lifetime: Lifetime,
    /// What it may reach and do.
    #[serde(default)]
    pub scope: Scope,
}

fn default_lifetime() -> Lifetime {
    Lifetime::Default
}

impl AppPasswordSpec {
    /// An unscoped password of the default lifetime: the whole home, read-write, anywhere.
    pub fn named(name: AppPasswordName) -> Self {
        Self { name, lifetime: Lifetime::Default, scope: Scope::default() }
    }
}

/// An app password as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPasswordView {
    /// The public half of the password (its first ten characters), what revoking names.
    pub id: String,
    /// Whose files it opens.
    pub user: String,
    /// What its owner called it ("Laptop rclone"), unique among their active ones.
    pub name: String,
    /// The client seen at first use; null while not assigned.
    pub access_method: Option<String>,
    /// Raw User-Agent of the first use.
    pub user_agent: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops opening WebDAV (creation plus the lifetime chosen); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may do: `read_write`, `read_only` or `upload_only`.
    #[serde(default)]
    pub access: Access,
    /// The folder of the home it is confined to (`/Projects`); null: the whole home.
    #[serde(default)]
    pub folder: Option<String>,
    /// The networks it may be used from; empty: anywhere.
    #[serde(default)]
    pub allow_from: Vec<String>,
    /// First successful use.
    pub first_used_at: Option<DateTime<Utc>>,
    /// Last successful use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When its owner or an admin revoked it; revoked ones are kept for the listing's history.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether it still opens anything, as of the listing: `active`, `expired`,
    /// `expired_unused`, `expired_never_used` or `revoked`.
    pub status: AppPasswordStatus,
    /// The last networks it was used from, newest first (at most five): how an owner tells
    /// their own devices from someone else's.
    #[serde(default)]
    pub networks: Vec<NetworkView>,
}

/// One network an app password was used from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    /// The client's network: an IPv4 /24 (`10.1.2.0/24`) or an IPv6 /64.
    pub network: String,
    /// The client recognised from the last User-Agent seen there ("Windows Explorer").
    pub client: String,
    /// That User-Agent (bounded).
    pub user_agent: String,
    /// The first use from it (as far as the last five networks go).
    pub first_used_at: DateTime<Utc>,
    /// The last use from it, to the minute.
    pub last_used_at: DateTime<Utc>,
}

impl NetworkView {
    /// The view of one remembered network.
    pub fn new(n: &UsedNetwork) -> Self {
        Self {
            network: n.network.to_string(),
            client: crate::auth::client::access_method(Some(&n.user_agent)),
            user_agent: n.user_agent.clone(),
            first_used_at: n.first_at,
            last_used_at: n.last_at,
        }
    }
}

impl AppPasswordView {
    /// The view of `p` as of `now`, under the admin's use `policy`.
    pub fn new(p: &AppPassword, now: DateTime<Utc>, policy: &UsePolicy) -> Self {
        Self {
            id: p.id.to_string(),
            user: p.owner.to_string(),
            name: p.name.clone(),
            access_method: p.access_method.clone(),
            user_agent: p.user_agent.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            access: p.scope.access,
            folder: p.scope.folder.as_ref().map(ToString::to_string),
            allow_from: p.scope.allow_from.iter().map(ToString::to_string).collect(),
            first_used_at: p.first_used_at,
            last_used_at: p.last_used_at,
            revoked_at: p.revoked_at,
            status: p.status(now, policy),
            networks: p.networks.iter().map(NetworkView::new).collect(),
        }
    }
}

/// A running server's state, for `davgate status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerStatus {
    /// davgate's version.
    pub version: String,
    /// When the server started.
    pub started_at: DateTime<Utc>,
    /// The gate's counters.
    #[serde(flatten)]
    pub gate: crate::auth::GateStats,
    /// The security e-mails' counters (older servers: none).
    #[serde(default)]
    pub mail: crate::mail::MailStats,
    /// Audit events dropped since start because the writer's queue was full.
    #[serde(default)]
    pub audit_dropped: u64,
    /// The webhook's counters (all zero when no webhook is set).
    #[serde(default)]
    pub webhook: crate::webhook::WebhookStats,
}

/// The answer to a creation: the only place the password ever appears.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedAppPassword {
    /// The public half of the password, what listing and revoking name.
    pub id: String,
    /// Whose files it opens.
    pub user: String,
    /// What its owner called it.
    pub name: String,
    /// The whole password, shown once: only its argon2id hash is kept.
    pub password: Secret,
    /// When it stops opening WebDAV; null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may reach and do, as it was made.
    #[serde(default)]
    pub scope: Scope,
}

impl CreatedAppPassword {
    /// Pairs the stored record with the password that was just drawn for it.
    pub fn new(record: &AppPassword, password: Secret) -> Self {
        Self {
            id: record.id.to_string(),
            user: record.owner.to_string(),
            name: record.name.clone(),
            password,
            expires_at: record.expires_at,
            scope: record.scope.clone(),
        }
    }
}

/// A new account, with its primary password when davgate drew it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserCreated {
    /// The account as it now is.
    pub user: UserView,
    /// Shown once, when davgate generated it; `None` when the admin gave one.
    pub generated_password: Option<Secret>,
}

/// A primary password was changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// Whose password it was: their web sessions end.
    pub name: UserName,
    /// Shown once, when davgate generated it; `None` when the admin gave one.
    pub generated_password: Option<Secret>,
    /// How many of their app passwords the change revoked (all that were live: a reset
    /// password means the old one may be known, and so may what was made with it).
    #[serde(default)]
    pub app_passwords_revoked: usize,
}

/// An account was removed: its app passwords went with it, its files were moved aside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRemoved {
    /// The account that is gone.
    pub name: UserName,
    /// How many app passwords went with it.
    pub app_passwords_removed: usize,
    /// Where its home folder now is, for showing (`None`: it had none).
    #[serde(default)]
    pub files_moved_to: Option<String>,
}

/// The settings in force, each as `settings get` shows it, in listing order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SettingValues(Vec<(SettingKey, String)>);

impl SettingValues {
    /// The values of `settings`.
    pub fn of(settings: &Settings) -> Self {
        Self(SettingKey::ALL.iter().map(|&k| (k, settings.get(k))).collect())
    }

    /// The value of `key`, as text.
    pub fn get(&self, key: SettingKey) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// Every (setting, value), in listing order.
    pub fn iter(&self) -> impl Iterator<Item = (SettingKey, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "dgp-sekrt-sekrt-sekrt";

    fn user() -> UserView {
        UserView {
            name: "alice".into(),
            role: Role::User,
            created_at: Utc::now(),
            disabled: false,
            quota_bytes: None,
            two_factor: false,
            login: LoginMethod::Password,
            external: None,
            email: None,
            mail_to: None,
            mail: Default::default(),
        }
    }

    #[test]
    fn answers_that_carry_a_password_never_show_it_in_debug() {
        let secret = || Some(Secret::new(SECRET.into()));
        let created = CreatedAppPassword {
            id: "0123456789".into(),
            user: "alice".into(),
            name: "laptop".into(),
            password: Secret::new(SECRET.into()),
            expires_at: Some(Utc::now()),
            scope: Scope::default(),
        };
        let user_created = UserCreated { user: user(), generated_password: secret() };
        let name = UserName::parse("alice").unwrap();
        let changed =
            PasswordChanged { name, generated_password: secret(), app_passwords_revoked: 0 };
        for shown in [format!("{created:?}"), format!("{user_created:?}"), format!("{changed:?}")] {
            assert!(!shown.contains("sekrt"), "{shown}");
        }
        // They still carry it to their owner over serde (the socket, the API).
        assert!(serde_json::to_string(&created).unwrap().contains(SECRET));
        assert!(serde_json::to_string(&user_created).unwrap().contains(SECRET));
    }

    #[test]
    fn listings_write_roles_and_statuses_as_the_same_words_and_read_them_back() {
        let admin = UserView { role: Role::Admin, ..user() };
        let json = serde_json::to_value(&admin).unwrap();
        assert_eq!(json["role"], "admin");
        assert_eq!(serde_json::to_value(user()).unwrap()["role"], "user");
        let back: UserView = serde_json::from_value(json).unwrap();
        assert_eq!(back.role, Role::Admin);

        for (status, word) in [
            (AppPasswordStatus::Active, "active"),
            (AppPasswordStatus::Expired, "expired"),
            (AppPasswordStatus::ExpiredUnused, "expired_unused"),
            (AppPasswordStatus::ExpiredNeverUsed, "expired_never_used"),
            (AppPasswordStatus::Revoked, "revoked"),
        ] {
            let view = AppPasswordView {
                id: "0123456789".into(),
                user: "alice".into(),
                name: "laptop".into(),
                access_method: None,
                user_agent: None,
                created_at: Utc::now(),
                expires_at: Some(Utc::now()),
                access: Access::ReadOnly,
                folder: Some("/Projects".into()),
                allow_from: vec!["10.0.0.0/8".into()],
                first_used_at: None,
                last_used_at: None,
                revoked_at: None,
                status,
                networks: vec![],
            };
            let json = serde_json::to_value(&view).unwrap();
            assert_eq!(json["status"], word);
            assert_eq!(status.to_string(), word, "the CLI's tables print the same word");
            let back: AppPasswordView = serde_json::from_value(json).unwrap();
            assert_eq!(back.status, status);
        }
    }
}
