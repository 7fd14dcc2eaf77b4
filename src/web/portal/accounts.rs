//! What a signed-in person does to accounts, each through the typed operations in their name
//! (and so audited as theirs): their app passwords, and for admins other users' accounts and app
//! passwords and the settings; and enrolling their own second factor, whose key waits in their
//! session until a code confirms it.

use super::error::{Refusal, about, unavailable};
use super::{Portal, PortalError, Viewer, totp};
use crate::admin::OpError;
use crate::admin::{
    Admin, AppPasswordSpec, AppPasswordView, Audit, CreatedAppPassword, Include, NewPassword,
    SettingValues, UserView,
};
use crate::auth::token::Secret;
use crate::duration::DurationError;
use crate::log_safe::escaped;
use crate::store::{self, Access, AppPasswordId, AppPasswordName, Role, Scope, ScopeFolder};
use crate::store::{EventKind, Outcome, SettingKey, TotpFactor, UserName};

/// The create form's fields as typed: empty ones mean the default (the admin's lifetime,
/// read-write, the whole home, from anywhere).
#[derive(Debug, Default, Clone, Copy)]
pub struct AppPasswordForm<'a> {
    /// What its owner calls it.
    pub name: &'a str,
    /// `default`, `never` or a duration such as `30d`.
    pub lifetime: &'a str,
    /// `read_write`, `read_only` or `upload_only`.
    pub access: &'a str,
    /// A folder of the home such as `/Projects`.
    pub folder: &'a str,
    /// Comma-separated networks.
    pub networks: &'a str,
}

impl AppPasswordForm<'_> {
    /// What the fields ask for, or why they do not parse.
    fn spec(&self) -> Result<AppPasswordSpec, OpError> {
        let access = match self.access.trim() {
            "" | "read_write" => Access::ReadWrite,
            "read_only" => Access::ReadOnly,
            "upload_only" => Access::UploadOnly,
            other => {
                return Err(OpError::InvalidScope(format!("'{}' is no access", escaped(other))));
            }
        };
        let lifetime = self
            .lifetime
            .trim()
            .parse()
            .map_err(|e: DurationError| OpError::InvalidLifetime(e.to_string()))?;
        Ok(AppPasswordSpec {
            name: AppPasswordName::parse(self.name)?,
            lifetime,
            scope: Scope {
                access,
                folder: ScopeFolder::parse(self.folder)?,
                allow_from: Scope::parse_networks(self.networks)?,
            },
        })
    }
}

/// A second factor being enrolled: what the page shows once. Every field holds the secret.
#[derive(Clone, serde::Serialize)]
pub struct Enrolment {
    /// The secret in base 32, grouped, for typing by hand.
    pub manual_key: String,
    /// The `otpauth://` URL the QR code holds.
    pub otpauth_url: String,
    /// The QR code as an inline SVG element.
    pub qr_svg: String,
}

/// Nothing of the key: each field would give it away.
impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(***)")
    }
}

impl Enrolment {
    /// What the page shows for `secret`, for `account`.
    pub(super) fn of(secret: &[u8], account: &str) -> Result<Self, totp::TotpError> {
        let otpauth_url = totp::otpauth_url(secret, account)?;
        Ok(Self {
            manual_key: totp::manual_key(secret),
            qr_svg: totp::qr_svg(&otpauth_url)?,
            otpauth_url,
        })
    }
}

impl Portal {
    /// The active app passwords of `owner` (the viewer's own, or anyone's for an admin).
    pub async fn app_passwords(
        &self,
        viewer: &Viewer,
        owner: &str,
    ) -> Result<Vec<AppPasswordView>, PortalError> {
        let owner = manageable(viewer, owner)?;
        let admin = self.admin_for(viewer);
        admin.app_passwords(Some(&owner), Include::Active).await.map_err(about(owner.as_str()))
    }

    /// Creates an app password for `owner` as the create form asked (lifetime and scope); the
    /// operation re-checks the lifetime against the admin's maximum, whatever the form offered.
    pub async fn create_scoped_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        form: &AppPasswordForm<'_>,
    ) -> Result<CreatedAppPassword, PortalError> {
        let owner = manageable(viewer, owner)?;
        self.require_fresh_sign_in(viewer)?;
        let spec = form.spec().map_err(about(owner.as_str()))?;
        let admin = self.admin_for(viewer);
        admin.create_app_password(&owner, &spec).await.map_err(about(owner.as_str()))
    }

    /// Creates an app password for `owner` as `spec` asks (lifetime and scope): the API's way.
    pub async fn create_app_password_as(
        &self,
        viewer: &Viewer,
        owner: &str,
        spec: &AppPasswordSpec,
    ) -> Result<CreatedAppPassword, PortalError> {
        let owner = manageable(viewer, owner)?;
        self.require_fresh_sign_in(viewer)?;
        let admin = self.admin_for(viewer);
        admin.create_app_password(&owner, spec).await.map_err(about(owner.as_str()))
    }

    /// Renames one app password of `owner`.
    pub async fn rename_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        id: &str,
        name: &str,
    ) -> Result<AppPasswordView, PortalError> {
        let owner = manageable(viewer, owner)?;
        let (id, name) = (AppPasswordId::parse(id)?, AppPasswordName::parse(name)?);
        let admin = self.admin_for(viewer);
        admin.rename_app_password(&owner, &id, &name).await.map_err(about(owner.as_str()))
    }

    /// The settings that shape the create form and the lists (the lifetimes offered, the idle
    /// time a status names): readable by every signed-in user, unlike the Settings page.
    pub fn app_password_policy(&self) -> std::sync::Arc<store::Settings> {
        self.store.settings()
    }

    /// Revokes one app password of `owner`.
    pub async fn revoke_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        id: &str,
    ) -> Result<(), PortalError> {
        let owner = manageable(viewer, owner)?;
        let id = AppPasswordId::parse(id)?;
        let admin = self.admin_for(viewer);
        admin.revoke_app_password(&owner, &id).await.map_err(about(owner.as_str()))
    }

    /// Revokes every active app password of `owner`; returns how many.
    pub async fn revoke_all(&self, viewer: &Viewer, owner: &str) -> Result<usize, PortalError> {
        let owner = manageable(viewer, owner)?;
        let admin = self.admin_for(viewer);
        admin.revoke_all_app_passwords(&owner).await.map_err(about(owner.as_str()))
    }

    /// One account (one's own, or anyone's for an admin).
    pub async fn user(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        let name = manageable(viewer, name)?;
        let user = self.load(name.clone()).await?;
        user.map(|u| UserView::from(&u))
            .ok_or_else(|| about(name.as_str())(store::Error::UnknownUser(name.to_string())))
    }

    /// Sets or clears where an account's security e-mails go: one's own, or anyone's for an
    /// admin (the admin's change is audited like any other).
    pub async fn set_email(
        &self,
        viewer: &Viewer,
        name: &str,
        email: Option<&str>,
    ) -> Result<UserView, PortalError> {
        let name = manageable(viewer, name)?;
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(store::EmailAddress::parse(e).map_err(OpError::from)?),
            None => None,
        };
        let admin = self.admin_for(viewer);
        admin.set_email(&name, email).await.map_err(about(name.as_str()))
    }

    /// Changes what is given of `name`'s e-mail choices (own, or anyone's for an admin).
    pub async fn set_mail_prefs(
        &self,
        viewer: &Viewer,
        name: &str,
        informational: Option<bool>,
        lang: Option<store::MailLang>,
    ) -> Result<UserView, PortalError> {
        let current = self.user(viewer, name).await?.mail;
        let name = manageable(viewer, name)?;
        let prefs = store::MailPrefs {
            informational: informational.unwrap_or(current.informational),
            lang: lang.unwrap_or(current.lang),
        };
        let admin = self.admin_for(viewer);
        admin.set_mail_prefs(&name, prefs).await.map_err(about(name.as_str()))
    }

    /// Every account (admins).
    pub async fn users(&self, viewer: &Viewer) -> Result<Vec<UserView>, PortalError> {
        Ok(self.admin_only(viewer)?.users().await?)
    }

    /// Creates an account with a generated primary password, returned once (admins).
    pub async fn create_user(
        &self,
        viewer: &Viewer,
        name: &str,
        is_admin: bool,
    ) -> Result<(UserView, Secret), PortalError> {
        let admin = self.admin_only(viewer)?;
        let role = if is_admin { Role::Admin } else { Role::User };
        let name = UserName::parse(name).map_err(about(name))?;
        let created = admin
            .add_user(&name, role, NewPassword::Generate)
            .await
            .map_err(about(name.as_str()))?;
        let password = created.generated_password.ok_or_else(|| {
            PortalError::Unavailable("a new account came back without its password".into())
        })?;
        Ok((created.user, password))
    }

    /// Disables or enables an account (admins); disabling ends its sessions.
    pub async fn set_disabled(
        &self,
        viewer: &Viewer,
        name: &str,
        disabled: bool,
    ) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let user = admin.set_user_disabled(&name, disabled).await.map_err(about(name.as_str()))?;
        if disabled {
            self.sessions.close_all_of(&name).await?;
        }
        Ok(user)
    }

    /// Draws a new primary password, returned once (admins); ends the account's sessions.
    pub async fn reset_password(&self, viewer: &Viewer, name: &str) -> Result<Secret, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let changed =
            admin.set_password(&name, NewPassword::Generate).await.map_err(about(name.as_str()))?;
        self.sessions.close_all_of(&changed.name).await?;
        changed.generated_password.ok_or_else(|| {
            PortalError::Unavailable("a password change came back without the password".into())
        })
    }

    /// Removes an account and its app passwords (admins); its files are moved aside.
    pub async fn remove_user(&self, viewer: &Viewer, name: &str) -> Result<usize, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        let removed = admin.remove_user(&name).await.map_err(about(name.as_str()))?;
        self.sessions.close_all_of(&removed.name).await?;
        Ok(removed.app_passwords_removed)
    }

    /// Removes an account's second factor (admins: a user who lost their phone).
    pub async fn reset_totp(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        let name = UserName::parse(name).map_err(about(name))?;
        admin.reset_totp(&name).await.map_err(about(name.as_str()))
    }

    /// The settings in force (admins).
    pub async fn settings(&self, viewer: &Viewer) -> Result<SettingValues, PortalError> {
        Ok(self.admin_only(viewer)?.settings().await?)
    }

    /// Validates and stores one setting (admins); returns the settings now in force.
    pub async fn set_setting(
        &self,
        viewer: &Viewer,
        key: &str,
        value: &str,
    ) -> Result<SettingValues, PortalError> {
        let admin = self.admin_only(viewer)?;
        Ok(admin.set_setting(key.parse::<SettingKey>()?, value).await?)
    }

    /// Starts enrolling a second factor for the viewer: a new secret kept in their session
    /// until a code confirms it.
    pub async fn begin_totp(&self, viewer: &Viewer) -> Result<Enrolment, PortalError> {
        // The identity provider owns an `sso` account's second factor.
        if viewer.user.login == crate::store::LoginMethod::Sso {
            return Err(PortalError::Forbidden);
        }
        if viewer.user.totp.is_some() {
            return Err(PortalError::refused(
                Refusal::TwoFactorOn,
                "two-factor sign-in is already on",
            ));
        }
        let secret = totp::new_secret().map_err(unavailable)?;
        let enrolment = Enrolment::of(&secret, viewer.user.name.as_str()).map_err(unavailable)?;
        self.sessions.set_enrolment(viewer.token.expose(), Some(secret)).await?;
        Ok(enrolment)
    }

    /// The enrolment in progress in the viewer's session, shown again (after a wrong code).
    pub fn pending_enrolment(&self, viewer: &Viewer) -> Option<Enrolment> {
        let secret = viewer.session.enrolment.as_ref()?;
        Enrolment::of(secret, viewer.user.name.as_str()).ok()
    }

    /// Confirms the enrolment with a code from the app: from now on the login asks for one.
    pub async fn confirm_totp(&self, viewer: &Viewer, code: &str) -> Result<(), PortalError> {
        let secret = viewer.session.enrolment.clone().ok_or_else(|| {
            PortalError::refused(Refusal::NoEnrolment, "start the two-factor set-up first")
        })?;
        let step =
            totp::check(&secret, code, self.clock.unix_seconds()).ok_or(PortalError::BadCode)?;
        let factor = TotpFactor { secret, enrolled_at: self.clock.now(), last_step: step };
        self.store.set_user_totp(&viewer.user.name, Some(factor)).await?;
        self.sessions.set_enrolment(viewer.token.expose(), None).await?;
        self.own_event(&viewer.user.name, EventKind::SecondFactorEnrolled, Outcome::Success, None);
        Ok(())
    }

    /// Turns the viewer's second factor off; a current code proves it is really them.
    pub async fn disable_totp(&self, viewer: &Viewer, code: &str) -> Result<(), PortalError> {
        let factor = viewer.user.totp.as_ref().ok_or_else(|| {
            PortalError::refused(Refusal::TwoFactorOff, "two-factor sign-in is not on")
        })?;
        if !self.accept_code(&viewer.user.name, factor, code).await? {
            return Err(PortalError::BadCode);
        }
        self.store.set_user_totp(&viewer.user.name, None).await?;
        self.own_event(&viewer.user.name, EventKind::SecondFactorRemoved, Outcome::Success, None);
        Ok(())
    }

    /// The operations in the viewer's name: their changes are audited as `web: <viewer> ...`,
    /// once the operation has validated what was typed, and escaped all the same.
    pub(super) fn admin_for(&self, viewer: &Viewer) -> Admin {
        self.admin.audited(Audit::Web(viewer.user.name.clone()))
    }

    /// [`Portal::admin_for`] the viewer, if they are an admin.
    pub(super) fn admin_only(&self, viewer: &Viewer) -> Result<Admin, PortalError> {
        if viewer.is_admin() { Ok(self.admin_for(viewer)) } else { Err(PortalError::Forbidden) }
    }
}

/// `owner` if the viewer may manage that account's app passwords: their own, or any for an
/// admin. Others get 403 whether or not the account exists (or its name is valid).
fn manageable(viewer: &Viewer, owner: &str) -> Result<UserName, PortalError> {
    match UserName::parse(owner) {
        Ok(name) if name == viewer.user.name || viewer.is_admin() => Ok(name),
        Err(e) if viewer.is_admin() => Err(about(owner)(e)),
        _ => Err(PortalError::Forbidden),
    }
}
