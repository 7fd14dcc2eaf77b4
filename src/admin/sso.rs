//! The single sign-on operations: identity providers (add, list, remove) and the accounts
//! linked to them (create for an identity, link, unlink, login method).
//!
//! Like every admin operation they run here whoever asks (CLI, socket, pages, API). A
//! provider's client secret goes into the store and never comes back out: the views say only
//! whether one is set.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::OpError;
use super::operations::{Admin, Kind};
use super::views::UserView;
use crate::auth::token::Secret;
use crate::store::{
    EventKind, ExternalIdentity, LoginMethod, OidcProvider, ProviderId, Role, UserName,
};

/// A provider as `oidc add` (or the API) describes it; unset options take the defaults of
/// the research spec (scopes `openid email profile`, claims `preferred_username`, `groups`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderInput {
    /// The id (`[a-z0-9-]{1,32}`); the API takes it from the path.
    #[serde(default)]
    pub id: String,
    /// The link's text; default: the id.
    pub display_name: Option<String>,
    /// The issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (write-only).
    pub client_secret: Option<Secret>,
    /// Or an absolute path to a file holding it, read at each use.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes; `openid` is always added.
    pub scopes: Option<Vec<String>>,
    /// The claim a provisioned account's name comes from.
    pub username_claim: Option<String>,
    /// The claim holding the groups.
    pub groups_claim: Option<String>,
    /// E-mail domains accepted (empty: any).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Groups of which one is needed.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// Groups whose members are admins.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Provision unknown identities with a verified e-mail.
    #[serde(default)]
    pub auto_provision: bool,
    /// Count Entra's `xms_edov` as a verified e-mail.
    #[serde(default)]
    pub trust_xms_edov: bool,
    /// Keep refresh tokens and check them periodically.
    #[serde(default)]
    pub refresh_check: bool,
    /// Offered on the sign-in page; default: yes. Off keeps the settings and the linked
    /// accounts, and offers no link.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A provider as listed: everything but the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderView {
    /// The id.
    pub id: String,
    /// The link's text.
    pub display_name: String,
    /// The issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// `stored`, `file` or `none`: where the secret comes from, never the secret.
    pub client_secret: String,
    /// The secret file, when it is one.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// The user-name claim.
    pub username_claim: String,
    /// The groups claim.
    pub groups_claim: String,
    /// Accepted e-mail domains.
    pub allowed_domains: Vec<String>,
    /// Groups of which one is needed.
    pub allowed_groups: Vec<String>,
    /// Admin groups.
    pub admin_groups: Vec<String>,
    /// Whether unknown identities get an account.
    pub auto_provision: bool,
    /// Whether `xms_edov` counts.
    pub trust_xms_edov: bool,
    /// Whether the refresh check runs.
    pub refresh_check: bool,
    /// Whether it is offered on the sign-in page.
    pub enabled: bool,
}

impl From<&OidcProvider> for ProviderView {
    fn from(p: &OidcProvider) -> Self {
        let secret = match (&p.client_secret, &p.client_secret_file) {
            (_, Some(_)) => "file",
            (Some(_), None) => "stored",
            (None, None) => "none",
        };
        Self {
            id: p.id.to_string(),
            display_name: p.display_name.clone(),
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            client_secret: secret.into(),
            client_secret_file: p.client_secret_file.clone(),
            scopes: p.scopes.clone(),
            username_claim: p.username_claim.clone(),
            groups_claim: p.groups_claim.clone(),
            allowed_domains: p.allowed_domains.clone(),
            allowed_groups: p.allowed_groups.clone(),
            admin_groups: p.admin_groups.clone(),
            auto_provision: p.auto_provision,
            trust_xms_edov: p.trust_xms_edov,
            refresh_check: p.refresh_check,
            enabled: p.enabled,
        }
    }
}

/// How a pre-created account will be recognised at its first sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityHint {
    /// The provider's subject, known in advance: linked at once.
    Subject(String),
    /// The e-mail: linked on the first sign-in with that e-mail verified.
    Email(String),
}

fn invalid(message: impl Into<String>) -> OpError {
    OpError::InvalidProvider(message.into())
}

/// Trimmed, lower-cased, empty entries dropped (domains and groups as typed: `a, b`).
fn cleaned(list: Vec<String>, lower: bool) -> Vec<String> {
    list.into_iter()
        .map(|s| if lower { s.trim().to_ascii_lowercase() } else { s.trim().to_string() })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Validates `input` into the record the store keeps.
pub fn validate(input: ProviderInput) -> Result<OidcProvider, OpError> {
    let id = ProviderId::parse(&input.id)?;
    crate::oidc::check_issuer(&input.issuer).map_err(|e| invalid(e.to_string()))?;
    let client_id = input.client_id.trim().to_string();
    if client_id.is_empty() {
        return Err(invalid("the client id is empty"));
    }
    match (&input.client_secret, &input.client_secret_file) {
        (Some(_), Some(_)) => {
            return Err(invalid("give the client secret or a secret file, not both"));
        }
        (None, None) => return Err(invalid("a client secret (or a secret file) is needed")),
        (Some(s), None) if s.expose().trim().is_empty() => {
            return Err(invalid("the client secret is empty"));
        }
        (None, Some(f)) if !f.is_absolute() => {
            return Err(invalid("the client secret file must be an absolute path"));
        }
        _ => {}
    }
    let mut scopes =
        cleaned(input.scopes.unwrap_or_else(|| vec!["email".into(), "profile".into()]), false);
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let claim = |c: Option<String>, default: &str| {
        c.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).unwrap_or_else(|| default.into())
    };
    let display_name = claim(input.display_name, id.as_str());
    if display_name.chars().any(crate::log_safe::is_invisible) || display_name.chars().count() > 64
    {
        return Err(invalid("the display name must be 1 to 64 visible characters"));
    }
    Ok(OidcProvider {
        display_name,
        issuer: input.issuer.trim().to_string(),
        client_id,
        client_secret: input.client_secret.map(|s| Secret::new(s.expose().trim().to_string())),
        client_secret_file: input.client_secret_file,
        scopes,
        username_claim: claim(input.username_claim, "preferred_username"),
        groups_claim: claim(input.groups_claim, "groups"),
        allowed_domains: cleaned(input.allowed_domains, true),
        allowed_groups: cleaned(input.allowed_groups, false),
        admin_groups: cleaned(input.admin_groups, false),
        auto_provision: input.auto_provision,
        trust_xms_edov: input.trust_xms_edov,
        refresh_check: input.refresh_check,
        enabled: input.enabled.unwrap_or(true),
        id,
    })
}

impl Admin {
    /// Adds a provider, or replaces the one of its id. A replacement that names neither a
    /// secret nor a secret file keeps the stored one (the pages and the API never show it, so
    /// an edit cannot send it back).
    pub async fn add_provider(&self, mut input: ProviderInput) -> Result<ProviderView, OpError> {
        if input.client_secret.is_none() && input.client_secret_file.is_none() {
            let id = ProviderId::parse(&input.id)?;
            if let Some(stored) = self.store().provider(&id).await? {
                input.client_secret = stored.client_secret;
                input.client_secret_file = stored.client_secret_file;
            }
        }
        let provider = validate(input)?;
        let view = ProviderView::from(&provider);
        self.store().put_provider(provider).await?;
        self.record(Kind::Change, || format!("oidc add {}", view.id));
        // The provider's id and issuer only: never its client secret (nor the file's path).
        let detail = serde_json::json!({ "provider": view.id.to_string(), "issuer": view.issuer });
        self.event(EventKind::ProviderAdded, None, None, detail).await;
        Ok(view)
    }

    /// Every provider, without secrets.
    pub async fn providers(&self) -> Result<Vec<ProviderView>, OpError> {
        let list = self.store().providers().await?;
        self.record(Kind::Read, || "oidc list".into());
        Ok(list.iter().map(ProviderView::from).collect())
    }

    /// The provider `id`, without its secret.
    pub async fn provider(&self, id: &ProviderId) -> Result<ProviderView, OpError> {
        let provider = self.known_provider(id).await?;
        self.record(Kind::Read, || format!("oidc show {id}"));
        Ok(ProviderView::from(&provider))
    }

    /// Removes a provider (its accounts keep their identity, and cannot sign in through it).
    pub async fn remove_provider(&self, id: &ProviderId) -> Result<(), OpError> {
        self.store().remove_provider(id).await?;
        self.record(Kind::Change, || format!("oidc remove {id}"));
        let detail = serde_json::json!({ "provider": id.to_string() });
        self.event(EventKind::ProviderRemoved, None, None, detail).await;
        Ok(())
    }

    /// The provider `id`, or [`OpError::UnknownProvider`].
    async fn known_provider(&self, id: &ProviderId) -> Result<OidcProvider, OpError> {
        self.store().provider(id).await?.ok_or_else(|| {
            OpError::UnknownProvider(format!("no identity provider with the id '{id}'"))
        })
    }

    /// Creates an account that signs in only through `provider`, recognised by `hint`.
    pub async fn add_sso_user(
        &self,
        name: &UserName,
        role: Role,
        provider: &ProviderId,
        hint: IdentityHint,
    ) -> Result<UserView, OpError> {
        let p = self.known_provider(provider).await?;
        let now = self.clock().now();
        let (subject, email) = match hint {
            IdentityHint::Subject(s) => (Some(nonempty(s, "subject")?), None),
            IdentityHint::Email(e) => (None, Some(nonempty(e, "e-mail")?.to_ascii_lowercase())),
        };
        let identity = ExternalIdentity {
            provider: p.id,
            issuer: p.issuer,
            linked_at: subject.as_ref().map(|_| now),
            subject,
            email,
            last_sso_at: None,
        };
        let user =
            self.store().create_linked_user(name, role, LoginMethod::Sso, identity, now).await?;
        self.record(Kind::Change, || format!("user add {name} --sso {provider}"));
        let detail = serde_json::json!({
            "role": user.role.to_string(), "login": "sso", "provider": provider.to_string(),
        });
        self.event(EventKind::AccountCreated, Some(name), None, detail).await;
        Ok(UserView::from(&user))
    }

    /// Links an existing account to the identity `subject` at `provider`. A `password` account
    /// becomes `both` (its password keeps working; `user login-method` changes that).
    pub async fn link_user(
        &self,
        name: &UserName,
        provider: &ProviderId,
        subject: String,
    ) -> Result<UserView, OpError> {
        let p = self.known_provider(provider).await?;
        let now = self.clock().now();
        let identity = ExternalIdentity {
            provider: p.id,
            issuer: p.issuer,
            subject: Some(nonempty(subject, "subject")?),
            email: None,
            linked_at: Some(now),
            last_sso_at: None,
        };
        let mut user = self.store().link_identity(name, identity).await?;
        if user.login == LoginMethod::Password {
            user = self.store().set_login_method(name, LoginMethod::Both).await?;
        }
        self.record(Kind::Change, || format!("user link {name} {provider}"));
        let detail = serde_json::json!({ "provider": provider.to_string() });
        self.event(EventKind::IdentityLinked, Some(name), None, detail).await;
        Ok(UserView::from(&user))
    }

    /// Unlinks the account's identity.
    pub async fn unlink_user(&self, name: &UserName) -> Result<UserView, OpError> {
        let user = self.store().unlink_identity(name).await?;
        self.record(Kind::Change, || format!("user unlink {name}"));
        self.event(EventKind::IdentityUnlinked, Some(name), None, serde_json::Value::Null).await;
        Ok(UserView::from(&user))
    }

    /// Runs the refresh-token check now: a provider's `invalid_grant` disables the account
    /// through [`Admin::set_user_disabled`] (app passwords refused at once); a network error
    /// never does.
    pub async fn recheck_sso(&self) -> Result<crate::oidc::recheck::Rechecked, OpError> {
        let http = crate::oidc::http::client().map_err(|e| OpError::Internal(e.to_string()))?;
        let why =
            || serde_json::json!({ "reason": "sso_recheck", "provider_said": "invalid_grant" });
        let disable =
            async |name: UserName| self.set_user_disabled_because(&name, true, why()).await.is_ok();
        let done = crate::oidc::recheck::run(self.store(), &http, disable).await;
        self.record(Kind::Change, || format!("oidc recheck: {} disabled", done.disabled.len()));
        Ok(done)
    }

    /// Sets how the account signs in to the pages.
    pub async fn set_login_method(
        &self,
        name: &UserName,
        login: LoginMethod,
    ) -> Result<UserView, OpError> {
        let old = self.store().user(name).await?.map(|u| u.login.to_string());
        let user = self.store().set_login_method(name, login).await?;
        self.record(Kind::Change, || format!("user login-method {name} {login}"));
        let detail = serde_json::json!({ "old": old, "new": login.to_string() });
        self.event(EventKind::LoginMethodChanged, Some(name), None, detail).await;
        Ok(UserView::from(&user))
    }
}

fn nonempty(value: String, what: &str) -> Result<String, OpError> {
    let value = value.trim().to_string();
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(invalid(format!("the {what} is empty or holds control characters")));
    }
    Ok(value)
}
