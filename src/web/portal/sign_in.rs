//! Signing in on the web: the password step, the code step of a second factor, the web's own
//! throttle (apart from WebDAV's, sharing its per-network argon2 budget), and the sessions a
//! request is checked against. Every refusal leaves the line fail2ban reads, worded as WebDAV's.

use std::net::IpAddr;
use std::time::Duration;

use super::error::Refusal;
use super::{Portal, PortalError, Viewer};
use crate::auth::throttle::{Policy, Verdict};
use crate::auth::token::Secret;
use crate::auth::verify::Busy;
use crate::store::{ActorKind, AuditEvent, EventKind, Outcome, User, UserName};
use crate::web::session::{CodeClaim, MAX_CODE_ATTEMPTS, Session, Stage};

/// The result of the password step of a login.
#[derive(Debug)]
pub enum LoginStep {
    /// Signed in: the new session's token and session.
    SignedIn(Secret, Session),
    /// The password was right; a TOTP code must follow in this half-open session.
    NeedsCode(Secret, Session),
}

impl Portal {
    /// The throttle policy of a web sign-in: the settings', without the one attempt a minute
    /// WebDAV lets through a lockout (here it would be a guess a minute at a chosen password).
    pub(super) fn policy(&self) -> Policy {
        Policy { trickle: false, ..Policy::from_settings(&self.store.settings()) }
    }

    /// The password step: right password and enabled account, or [`PortalError::BadCredentials`]
    /// after the same work and delay whatever was wrong.
    pub async fn login(
        &self,
        peer: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<LoginStep, PortalError> {
        let key = name.trim().to_ascii_lowercase();
        let policy = self.policy();
        if let Err(e) = self.admit(&policy, peer, &key).await {
            if matches!(e, PortalError::Throttled(_)) {
                self.sign_in_throttled(&key).await;
            }
            return Err(e);
        }
        let secret = Secret::new(password.to_string());
        let user = match UserName::parse(&key) {
            Ok(name) => match self.load(name).await {
                Ok(user) => user,
                Err(e) => {
                    self.refund(&policy, peer, &key).await;
                    return Err(e);
                }
            },
            Err(_) => None,
        };
        // An `sso` account's password never signs in: the same dummy work and the same answer
        // as a wrong password, so the page tells nobody which accounts use the provider.
        let verified = match &user {
            Some(u) if !u.disabled && u.login.allows_password() => {
                self.verifier.verify(&u.password_hash, &secret).await
            }
            _ => self.verifier.verify_dummy(&secret).await,
        };
        let Ok(ok) = verified else {
            self.refund(&policy, peer, &key).await;
            return Err(PortalError::Unavailable(format!("web sign-in refused: {Busy}")));
        };
        let known = user.as_ref().map(|u| u.name.clone());
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => {
                tracing::warn!(
                    target: "davgate::auth",
                    "Login failed: '{}' (Remote IP: '{peer}') web: wrong user name or password",
                    crate::log_safe::log_safe(&key)
                );
                self.sign_in_failed(known.as_ref(), "bad_credentials");
                self.hold_failure(&policy, peer, &key).await;
                return Err(PortalError::BadCredentials);
            }
        };
        if user.totp.is_some() {
            // The count goes on until the code is right: a stolen password alone cannot be used
            // to try codes for ever.
            let (token, session) = self.open(&user, Stage::SecondFactor { attempts: 0 }).await?;
            return Ok(LoginStep::NeedsCode(token, session));
        }
        self.throttle.record_success(&policy, peer, &key).await;
        let (token, session) = self.open(&user, Stage::SignedIn).await?;
        self.own_event(&user.name, EventKind::SignIn, Outcome::Success, None);
        Ok(LoginStep::SignedIn(token, session))
    }

    /// Lets one password check of `key` from `peer` go ahead, or refuses it (after the hold)
    /// when the web's per-user throttle or the network's argon2 budget says so. Every check
    /// costs one argon2 from the budget, and keeps it even when right (a right password is not
    /// cached: a refund would let one account loop on the pool).
    pub(super) async fn admit(
        &self,
        policy: &Policy,
        peer: IpAddr,
        key: &str,
    ) -> Result<(), PortalError> {
        if let Verdict::Refuse { retry_after } =
            self.throttle.admit(policy, peer, key, &self.clock).await?
        {
            log_throttled(key, peer, retry_after);
            return Err(held(retry_after).await);
        }
        if let Verdict::Refuse { retry_after } =
            self.budget.charge(policy, peer, self.clock.instant())
        {
            self.throttle.refund(policy, peer, key).await;
            // The same line as a WebDAV refusal over the budget, for fail2ban.
            tracing::warn!(
                target: "davgate::auth",
                "Login throttled: '{}' (Remote IP: '{peer}') web: too many sign-in attempts \
                 from this network, retry in {}s",
                crate::log_safe::log_safe(key),
                retry_after.as_secs().max(1)
            );
            return Err(held(retry_after).await);
        }
        Ok(())
    }

    /// Gives back what [`Portal::admit`] took when the check could not run.
    pub(super) async fn refund(&self, policy: &Policy, peer: IpAddr, key: &str) {
        self.budget.refund(policy, peer, self.clock.instant());
        self.throttle.refund(policy, peer, key).await;
    }

    /// The code step of a login in the half-open session `token`: a signed-in session under a
    /// new token (the half-open one is closed).
    pub async fn second_factor(
        &self,
        peer: IpAddr,
        token: &str,
        code: &str,
    ) -> Result<(Secret, Session), PortalError> {
        let session =
            self.sessions.get(token, self.clock.now()).await?.ok_or(PortalError::SignedOut)?;
        if session.stage == Stage::SignedIn {
            return Err(already_signed_in());
        }
        let key = session.user.as_str();
        let policy = self.policy();
        if let Verdict::Refuse { retry_after } =
            self.throttle.admit(&policy, peer, key, &self.clock).await?
        {
            log_throttled(key, peer, retry_after);
            let refused = held(retry_after).await;
            self.sign_in_failed(Some(&session.user), "throttled");
            return Err(refused);
        }
        // Claimed before the code is looked at: the sixth of any number of racing requests is
        // refused unchecked.
        let claim = match self.sessions.claim_code_attempt(token, self.clock.now()).await {
            Ok(claim) => claim,
            Err(e) => {
                self.throttle.refund(&policy, peer, key).await;
                return Err(e.into());
            }
        };
        let attempt = match claim {
            CodeClaim::Granted(n) => n,
            CodeClaim::Spent | CodeClaim::Gone => {
                self.throttle.refund(&policy, peer, key).await;
                return Err(PortalError::SignedOut);
            }
            CodeClaim::SignedIn => {
                self.throttle.refund(&policy, peer, key).await;
                return Err(already_signed_in());
            }
        };
        let user = self
            .load(session.user.clone())
            .await?
            .filter(|u| !u.disabled && session.credential.matches(u));
        let accepted = match user.as_ref().and_then(|u| u.totp.as_ref()) {
            Some(factor) => self.accept_code(&session.user, factor, code).await?,
            None => false,
        };
        let user = match (accepted, user) {
            (true, Some(user)) => user,
            _ => {
                let spent = attempt >= MAX_CODE_ATTEMPTS;
                if spent {
                    self.sessions.close(token).await?;
                }
                tracing::warn!(
                    target: "davgate::auth",
                    "Login failed: '{key}' (Remote IP: '{peer}') web: wrong second-factor code"
                );
                self.sign_in_failed(Some(&session.user), "bad_code");
                self.hold_failure(&policy, peer, key).await;
                return Err(if spent { PortalError::SignedOut } else { PortalError::BadCode });
            }
        };
        self.throttle.record_success(&policy, peer, key).await;
        self.sessions.close(token).await?;
        let opened = self.open(&user, Stage::SignedIn).await?;
        self.own_event(&user.name, EventKind::SignIn, Outcome::Success, None);
        Ok(opened)
    }

    /// Holds a failed guess's answer back as the throttle says; the failure that locks the key
    /// out is recorded in the audit log (once per lockout).
    pub(super) async fn hold_failure(&self, policy: &Policy, peer: IpAddr, key: &str) {
        let failure = self.throttle.failure(policy, peer, key).await;
        if failure.locked {
            let (now, max) = (self.clock.now(), policy.max_failures);
            let minutes = crate::auth::throttle::LOCKOUT.as_secs() / 60;
            crate::audit::lockout(&self.store, now, "web", key, max, minutes).await;
        }
        tokio::time::sleep(failure.delay).await;
    }

    /// A sign-in the throttle refused, in the audit log (reason `throttled`), about the
    /// account when the name is one.
    async fn sign_in_throttled(&self, key: &str) {
        let known = match UserName::parse(key) {
            Ok(name) => self.load(name).await.ok().flatten().map(|u| u.name),
            Err(_) => None,
        };
        self.sign_in_failed(known.as_ref(), "throttled");
    }

    /// A refused sign-in in the audit log: about the account when the name is one (a name
    /// that is none is not kept: it may be a password typed in the wrong field).
    fn sign_in_failed(&self, user: Option<&UserName>, reason: &str) {
        match user {
            Some(user) => self.own_event(user, EventKind::SignIn, Outcome::Failure, Some(reason)),
            None => {
                let mut event =
                    AuditEvent::new(self.clock.now(), EventKind::SignIn, ActorKind::User, None);
                event.outcome = Outcome::Failure;
                event.detail = serde_json::json!({ "reason": reason });
                self.store.audit(crate::audit::from_current_client(event));
            }
        }
    }

    /// The signed-in viewer behind a session token, checked against the store: the sessions of
    /// a disabled or removed account, or of one whose password changed since they were opened
    /// (by the web, the admin socket or the CLI), end here.
    pub async fn viewer(&self, token: Option<&str>) -> Result<Viewer, PortalError> {
        let token = token.ok_or(PortalError::SignedOut)?;
        let session =
            self.sessions.get(token, self.clock.now()).await?.ok_or(PortalError::SignedOut)?;
        if session.stage != Stage::SignedIn {
            return Err(PortalError::SignedOut);
        }
        match self.load(session.user.clone()).await? {
            Some(user) if !user.disabled && session.credential.matches(&user) => {
                Ok(Viewer { user, token: Secret::new(token.to_string()), session })
            }
            _ => {
                self.sessions.close(token).await?;
                Err(PortalError::SignedOut)
            }
        }
    }

    /// The half-open session behind `token`, if it is waiting for a code.
    pub async fn pending(&self, token: Option<&str>) -> Result<Option<Session>, PortalError> {
        let Some(token) = token else { return Ok(None) };
        let session = self.sessions.get(token, self.clock.now()).await?;
        Ok(session.filter(|s| matches!(s.stage, Stage::SecondFactor { .. })))
    }

    /// Signs out: the session is gone from the store, for every node, when this returns.
    pub async fn logout(&self, token: &str) -> Result<(), PortalError> {
        Ok(self.sessions.close(token).await?)
    }

    /// Opens a session for `user` (the password sign-in's and single sign-on's).
    pub(super) async fn open(
        &self,
        user: &User,
        stage: Stage,
    ) -> Result<(Secret, Session), PortalError> {
        let (token, session) = self.sessions.open(user, stage, self.clock.now()).await?;
        Ok((Secret::new(token), session))
    }
}

/// How long a throttled sign-in is held back before its 429 (the connection is then closed), so
/// that a flood of refused attempts cannot spin at the server's full speed.
const THROTTLED_HOLD: Duration = Duration::from_secs(1);

/// The line a sign-in refused by the per-user throttle leaves, worded as WebDAV's (for fail2ban).
fn log_throttled(key: &str, peer: IpAddr, retry_after: Duration) {
    tracing::warn!(
        target: "davgate::auth",
        "Login throttled: '{}' (Remote IP: '{peer}') web: too many failures, retry in {}s",
        crate::log_safe::log_safe(key),
        retry_after.as_secs().max(1)
    );
}

/// A throttled refusal, after the hold.
async fn held(retry_after: Duration) -> PortalError {
    tokio::time::sleep(THROTTLED_HOLD).await;
    PortalError::Throttled(retry_after)
}

/// A code sent for a session that needs none.
fn already_signed_in() -> PortalError {
    PortalError::refused(Refusal::AlreadySignedIn, "this session is already signed in")
}
