//! What a person can do on the web surface, and who may do it: the one place both the pages and
//! the JSON API call, so that a rule (a user manages only their own app passwords, only admins
//! reach other accounts) is written once and checked on the server.
//!
//! Changes go through the same typed [`Admin`] operations as the CLI; argon2 (primary passwords,
//! new app passwords) runs on the server's bounded pool, never on the async runtime.
//!
//! - this file: the [`Portal`] itself and the [`Viewer`] every action is asked for;
//! - [`sign_in`]: the password and code steps of a login, the web's own throttle, sessions;
//! - [`password`]: a person's change of their own password;
//! - [`accounts`]: what a signed-in person does to accounts (app passwords, users, settings,
//!   two-factor enrolment), each through the typed operations;
//! - [`providers`]: the admin's single sign-on: identity providers, login methods, identities;
//! - [`error`]: why an action was refused, as a status and an API code.

mod accounts;
mod activity;
mod error;
mod inventory;
mod password;
mod providers;
mod sign_in;
mod sso;

use std::sync::Arc;

pub use accounts::{AppPasswordForm, Enrolment};
pub use error::{PortalError, Refusal};
pub use inventory::filter_of;
pub use providers::ProviderState;
pub use sign_in::LoginStep;
pub use sso::{Callback, Sso, SsoError};

use super::session::{Session, Sessions};
use super::totp;
use crate::admin::Admin;
use crate::auth::budget::AddressBudget;
use crate::auth::shared_throttle::LoginThrottle;
use crate::auth::throttle::MAX_KEYS;
use crate::auth::token::Secret;
use crate::auth::verify::Verifier;
use crate::clock::Clock;
use crate::store::{
    ActorKind, AuditEvent, EventKind, Outcome, Role, Store, TotpFactor, User, UserName,
};

/// A signed-in person making a request.
#[derive(Clone)]
pub struct Viewer {
    /// Their account as it is now in the store.
    pub user: User,
    /// Their session cookie's token.
    pub token: Secret,
    /// Their session.
    pub session: Session,
}

impl Viewer {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// Who and how far, never the session's token, CSRF token or password hash.
impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("user", &self.user.name)
            .field("role", &self.user.role)
            .field("stage", &self.session.stage)
            .finish_non_exhaustive()
    }
}

/// The web surface's state: sessions, its own login throttle, the operations.
pub struct Portal {
    store: Store,
    admin: Admin,
    verifier: Verifier,
    /// The web sessions, in the store.
    pub sessions: Sessions,
    /// Failed web sign-ins, counted apart from WebDAV's: a WebDAV brute force must not lock
    /// anyone out of this page, nor the reverse.
    throttle: LoginThrottle,
    /// The per-network argon2 budget, shared with WebDAV: it is one pool they both drain.
    budget: Arc<AddressBudget>,
    /// What session lifetimes, the throttle's windows and the TOTP step are read from.
    clock: Clock,
    /// Single sign-on, when the server offers it.
    sso: Option<Arc<Sso>>,
}

impl Portal {
    /// The portal over a running server's store, operations, argon2 pool and its per-network
    /// budget (the gate's, [`crate::auth::Gate::budget`]), on `clock`.
    pub fn new(
        store: Store,
        admin: Admin,
        verifier: Verifier,
        budget: Arc<AddressBudget>,
        clock: Clock,
    ) -> Self {
        let sessions = Sessions::new(store.clone());
        let throttle = LoginThrottle::new(&store, "web", MAX_KEYS);
        Self { store, admin, verifier, sessions, throttle, budget, clock, sso: None }
    }

    /// The same portal, signing in through the providers of `sso` too.
    pub fn with_sso(self, sso: Arc<Sso>) -> Self {
        Self { sso: Some(sso), ..self }
    }

    /// True if `code` is current for `factor` and its step was not used before (then it is
    /// recorded as used).
    async fn accept_code(
        &self,
        name: &UserName,
        factor: &TotpFactor,
        code: &str,
    ) -> Result<bool, PortalError> {
        let Some(step) = totp::check(&factor.secret, code, self.clock.unix_seconds()) else {
            return Ok(false);
        };
        Ok(self.store.accept_totp_step(name, step).await?)
    }

    async fn load(&self, name: UserName) -> Result<Option<User>, PortalError> {
        Ok(self.store.user(&name).await?)
    }

    /// Records `kind` done by `user` themselves (a sign-in, their second factor) in the audit
    /// log, from the request's client; `reason` is a failure's class, never what was typed.
    fn own_event(&self, user: &UserName, kind: EventKind, outcome: Outcome, reason: Option<&str>) {
        let mut event =
            AuditEvent::new(self.clock.now(), kind, ActorKind::User, Some(user.as_str()))
                .about(user);
        event.outcome = outcome;
        if let Some(reason) = reason {
            event.detail = serde_json::json!({ "reason": reason });
        }
        self.store.audit(crate::audit::from_current_client(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::session::Stage;

    #[test]
    fn a_viewer_and_an_enrolment_never_show_their_secrets_in_debug() {
        let user = User {
            name: UserName::parse("alice").unwrap(),
            role: Role::User,
            password_hash: "$argon2id$v=19$hash-of-alice".into(),
            created_at: chrono::Utc::now(),
            disabled: false,
            quota_bytes: None,
            totp: None,
            login: Default::default(),
            external: None,
            email: None,
            mail: Default::default(),
        };
        let token = crate::web::session::random_hex::<32>().unwrap();
        let session = Session::from(crate::store::SessionRecord {
            user: user.name.clone(),
            credential: [7; 32],
            csrf: crate::web::session::random_hex::<32>().unwrap(),
            signed_in: true,
            code_attempts: 0,
            enrolment: None,
            created_at: chrono::Utc::now(),
            last_seen: chrono::Utc::now(),
        });
        assert_eq!(session.stage, Stage::SignedIn);
        let csrf = session.csrf.clone();
        let viewer = Viewer { user, token: Secret::new(token.clone()), session };
        let shown = format!("{viewer:?}");
        for secret in [&token, &csrf, "hash-of-alice"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("alice"), "{shown}");

        let step = LoginStep::SignedIn(Secret::new(token.clone()), viewer.session.clone());
        assert!(!format!("{step:?}").contains(&token));

        let key = b"12345678901234567890";
        let enrolment = Enrolment::of(key, "alice").unwrap();
        let shown = format!("{enrolment:?}");
        assert!(!shown.contains(&enrolment.manual_key) && !shown.contains("otpauth"), "{shown}");
    }
}
