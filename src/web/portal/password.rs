//! A signed-in person's change of their own primary password: the current one checked on the
//! argon2 pool under the web sign-in's throttle (a stolen session must not become a way to guess
//! the password), then the change through [`crate::admin::Admin::change_own_password`]. Every
//! other web session of theirs ends; the one that asked goes on under a new token.

use std::net::IpAddr;

use super::error::Refusal;
use super::{Portal, PortalError, Viewer};
use crate::admin::{MIN_PASSWORD_LEN, OpError};
use crate::auth::token::Secret;
use crate::auth::verify::Busy;
use crate::web::session::{Session, Stage};

/// What a change of one's own password answers: the session that goes on (its cookie token
/// changed, so the old one is worthless), and how many app passwords were revoked.
#[derive(Debug)]
pub struct OwnPasswordChanged {
    /// The new cookie token of the session that asked.
    pub token: Secret,
    /// That session (its CSRF token is new too).
    pub session: Session,
    /// How many live app passwords were revoked (0 when the person kept them).
    pub app_passwords_revoked: usize,
}

impl Portal {
    /// Changes `viewer`'s primary password to `new` if `current` is right, revoking all their
    /// app passwords when `revoke_app_passwords`. A wrong current password is
    /// [`Refusal::WrongCurrentPassword`], counted as a failed sign-in; a short new one is
    /// refused before any argon2 runs.
    pub async fn change_own_password(
        &self,
        viewer: &Viewer,
        peer: IpAddr,
        current: &str,
        new: &str,
        revoke_app_passwords: bool,
    ) -> Result<OwnPasswordChanged, PortalError> {
        if new.chars().count() < MIN_PASSWORD_LEN {
            return Err(OpError::WeakPassword.into());
        }
        let name = &viewer.user.name;
        let key = name.as_str();
        let policy = self.policy();
        self.admit(&policy, peer, key).await?;
        let current = Secret::new(current.to_string());
        let Ok(right) = self.verifier.verify(&viewer.user.password_hash, &current).await else {
            self.refund(&policy, peer, key).await;
            return Err(PortalError::Unavailable(format!("password change refused: {Busy}")));
        };
        if !right {
            tracing::warn!(
                target: "davgate::auth",
                "Login failed: '{key}' (Remote IP: '{peer}') web: wrong current password"
            );
            self.hold_failure(&policy, peer, key).await;
            return Err(PortalError::refused(
                Refusal::WrongCurrentPassword,
                "the current password is wrong",
            ));
        }
        self.throttle.record_success(&policy, peer, key).await;
        let changed = self
            .admin_for(viewer)
            .change_own_password(name, Secret::new(new.to_string()), revoke_app_passwords)
            .await?;
        self.sessions.close_all_of(name).await?;
        let user = self.load(name.clone()).await?.ok_or(PortalError::SignedOut)?;
        let (token, session) = self.open(&user, Stage::SignedIn).await?;
        Ok(OwnPasswordChanged {
            token,
            session,
            app_passwords_revoked: changed.app_passwords_revoked,
        })
    }
}
