//! Who a checked identity is here: the account linked to (issuer, subject), else an account an
//! admin pre-created for its verified e-mail, else (with auto-provisioning) a new one. Never an
//! existing account found by e-mail or name alone: a clash is refused, not linked.

use chrono::{DateTime, Utc};

use super::token::Checked;
use crate::store::{
    self, ActorKind, AuditEvent, EventKind, ExternalIdentity, LoginMethod, OidcProvider, Role,
    SsoSignIn, Store, User, UserName,
};

/// Why a checked identity may not sign in. Each has its page in the user's language.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The e-mail is needed (to link or provision) and the provider did not confirm it.
    #[error("the e-mail address is not verified")]
    Email,
    /// The e-mail's (or Google's hosted) domain is not among the allowed ones.
    #[error("the domain is not allowed")]
    Domain,
    /// None of the person's groups is allowed.
    #[error("no allowed group")]
    Group,
    /// No account for this identity, none may be made, or the one it would get is taken, or
    /// the account may not sign in through the provider (disabled, login method password).
    #[error("no account for this identity ({0})")]
    Unknown(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The domain policy looks at: Google's `hd` when sent, else the verified e-mail's.
fn domain(id: &Checked) -> Option<String> {
    if let Some(hd) = &id.hosted_domain {
        return Some(hd.to_ascii_lowercase());
    }
    let email = id.email.as_ref().filter(|_| id.email_verified)?;
    email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

/// The provider's policy, then the account; records the sign-in (time, e-mail, role).
pub async fn resolve(
    store: &Store,
    provider: &OidcProvider,
    id: &Checked,
    now: DateTime<Utc>,
) -> Result<User, Refusal> {
    if !provider.allowed_domains.is_empty() {
        let allowed = domain(id).is_some_and(|d| provider.allowed_domains.contains(&d));
        if !allowed {
            return Err(if id.email.is_some() && !id.email_verified {
                Refusal::Email
            } else {
                Refusal::Domain
            });
        }
    }
    if !provider.allowed_groups.is_empty()
        && !id.groups.iter().any(|g| provider.allowed_groups.contains(g))
    {
        return Err(Refusal::Group);
    }
    let verified_email =
        id.email.as_ref().filter(|_| id.email_verified).map(|e| e.to_ascii_lowercase());
    let user = match store.user_by_identity(&id.issuer, &id.subject).await? {
        Some(user) => user,
        None => link_or_provision(store, provider, id, verified_email.as_deref(), now).await?,
    };
    if user.disabled {
        return Err(Refusal::Unknown("disabled"));
    }
    if !user.login.allows_sso() {
        return Err(Refusal::Unknown("password sign-in only"));
    }
    let role = (user.login == LoginMethod::Sso && !provider.admin_groups.is_empty()).then(|| {
        if id.groups.iter().any(|g| provider.admin_groups.contains(g)) {
            Role::Admin
        } else {
            Role::User
        }
    });
    let sign_in = SsoSignIn { at: now, email: verified_email, role };
    let signed_in = store.record_sso_sign_in(&user.name, sign_in).await?;
    if signed_in.role != user.role {
        let mut event = system_event(now, EventKind::RoleChanged, &user.name);
        event.detail = serde_json::json!({
            "old": user.role.to_string(), "new": signed_in.role.to_string(),
            "provider": provider.id.to_string(), "reason": "admin_groups",
        });
        store.audit(crate::audit::from_current_client(event));
    }
    Ok(signed_in)
}

/// An event by davgate itself about `user` (what a sign-in through a provider changed).
fn system_event(now: DateTime<Utc>, kind: EventKind, user: &UserName) -> AuditEvent {
    AuditEvent::new(now, kind, ActorKind::System, None).about(user)
}

async fn link_or_provision(
    store: &Store,
    provider: &OidcProvider,
    id: &Checked,
    verified_email: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, Refusal> {
    let identity = ExternalIdentity {
        provider: provider.id.clone(),
        issuer: id.issuer.clone(),
        subject: Some(id.subject.clone()),
        email: verified_email.map(String::from),
        linked_at: Some(now),
        last_sso_at: None,
    };
    if let Some(email) = verified_email
        && let Some(pending) = store.pending_identity(&provider.id, email).await?
    {
        return Ok(store.link_identity(&pending.name, identity).await?);
    }
    if !provider.auto_provision {
        return Err(Refusal::Unknown("not linked, auto-provisioning off"));
    }
    let Some(email) = verified_email else { return Err(Refusal::Email) };
    let local = email.split('@').next().unwrap_or_default();
    let wanted = id.username.as_deref().map(|u| u.split('@').next().unwrap_or(u)).unwrap_or(local);
    let Ok(name) = UserName::parse(wanted) else { return Err(Refusal::Unknown("no usable name")) };
    match store.create_linked_user(&name, Role::User, LoginMethod::Sso, identity, now).await {
        Ok(user) => {
            tracing::info!(target: "davgate::admin", "sso: provisioned '{name}' from '{}'", provider.id);
            let mut event = system_event(now, EventKind::AccountCreated, &user.name);
            event.detail = serde_json::json!({
                "role": user.role.to_string(), "login": "sso", "provider": provider.id.to_string(),
            });
            store.audit(crate::audit::from_current_client(event));
            Ok(user)
        }
        Err(store::Error::UserExists(_) | store::Error::IdentityTaken(_)) => {
            Err(Refusal::Unknown("the account name is taken"))
        }
        Err(e) => Err(e.into()),
    }
}
