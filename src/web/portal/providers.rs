//! What an admin does to single sign-on on the web: the identity providers (list with their
//! state in the registry, one, save, remove) and the accounts' side of it (the login method,
//! an identity linked or unlinked, an account created for an identity). Each goes through the
//! typed operations the CLI calls, in the admin's name; a provider's secret never comes back.

use serde::Serialize;

use super::error::about;
use super::{Portal, PortalError, Viewer};
use crate::admin::{IdentityHint, ProviderInput, ProviderView, UserView};
use crate::store::{LoginMethod, ProviderId, Role, UserName};

/// Whether a provider can be used now, as the registry last found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderState {
    /// Discovered: its link is on the sign-in page.
    Available,
    /// Its discovery failed, or has not run yet.
    Unavailable,
    /// Turned off by an admin.
    Disabled,
}

/// A provider as the admin's list shows it: its settings (no secret) and its state.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderStatus {
    /// The settings.
    #[serde(flatten)]
    pub view: ProviderView,
    /// Whether it can be used now.
    pub state: ProviderState,
}

impl Portal {
    /// Every provider with its state (admins).
    pub async fn providers(&self, viewer: &Viewer) -> Result<Vec<ProviderStatus>, PortalError> {
        let list = self.admin_only(viewer)?.providers().await?;
        Ok(list.into_iter().map(|view| self.with_state(view)).collect())
    }

    /// One provider with its state (admins).
    pub async fn provider(&self, viewer: &Viewer, id: &str) -> Result<ProviderStatus, PortalError> {
        let admin = self.admin_only(viewer)?;
        let view = admin.provider(&ProviderId::parse(id)?).await?;
        Ok(self.with_state(view))
    }

    /// Adds or replaces the provider `input.id` (admins); a replacement without a secret keeps
    /// the stored one. The registry discovers it on its own once the store has it.
    pub async fn save_provider(
        &self,
        viewer: &Viewer,
        input: ProviderInput,
    ) -> Result<ProviderView, PortalError> {
        Ok(self.admin_only(viewer)?.add_provider(input).await?)
    }

    /// Removes a provider (admins): its accounts stay, and cannot sign in through it.
    pub async fn remove_provider(&self, viewer: &Viewer, id: &str) -> Result<(), PortalError> {
        let admin = self.admin_only(viewer)?;
        Ok(admin.remove_provider(&ProviderId::parse(id)?).await?)
    }

    /// The redirect URI to register at the providers; None without `--public-url`.
    pub fn sso_redirect_uri(&self) -> Option<String> {
        Some(self.sso.as_ref()?.registry.redirect_uri()?.to_string())
    }

    /// Sets how the account `name` signs in (admins). Turning single sign-on off for an
    /// account ends no session: its password was never unusable.
    pub async fn set_login_method(
        &self,
        viewer: &Viewer,
        name: &str,
        method: &str,
    ) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let method = LoginMethod::parse(method.trim()).ok_or_else(|| {
            PortalError::from(crate::admin::OpError::InvalidSetting(format!(
                "the login method '{}' is not password, sso or both",
                crate::log_safe::escaped(method)
            )))
        })?;
        admin.set_login_method(&name, method).await.map_err(about(name.as_str()))
    }

    /// Links the account `name` to the identity `subject` at `provider` (admins).
    pub async fn link_identity(
        &self,
        viewer: &Viewer,
        name: &str,
        provider: &str,
        subject: &str,
    ) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let provider = ProviderId::parse(provider)?;
        let linked = admin.link_user(&name, &provider, subject.to_string()).await;
        linked.map_err(about(name.as_str()))
    }

    /// Unlinks the account's identity (admins); the sessions it opened end.
    pub async fn unlink_identity(
        &self,
        viewer: &Viewer,
        name: &str,
    ) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let user = admin.unlink_user(&name).await.map_err(about(name.as_str()))?;
        self.sessions.close_all_of(&name).await?;
        Ok(user)
    }

    /// Creates an account that signs in only through `provider`, recognised by its e-mail (linked
    /// at its first verified sign-in) or its subject (admins). It has no password to show.
    pub async fn create_sso_user(
        &self,
        viewer: &Viewer,
        name: &str,
        is_admin: bool,
        provider: &str,
        hint: IdentityHint,
    ) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let role = if is_admin { Role::Admin } else { Role::User };
        let name = UserName::parse(name).map_err(about(name))?;
        let provider = ProviderId::parse(provider)?;
        let created = admin.add_sso_user(&name, role, &provider, hint).await;
        created.map_err(about(name.as_str()))
    }

    fn with_state(&self, view: ProviderView) -> ProviderStatus {
        let id = ProviderId::parse(&view.id).ok();
        let entry = self.sso.as_ref().zip(id).and_then(|(s, id)| s.registry.get(&id));
        let state = match entry {
            _ if !view.enabled => ProviderState::Disabled,
            Some(e) if e.discovered.is_some() => ProviderState::Available,
            _ => ProviderState::Unavailable,
        };
        ProviderStatus { view, state }
    }
}
