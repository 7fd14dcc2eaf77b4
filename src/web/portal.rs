//! What a person can do on the web surface, and who may do it: the one place both the pages and
//! the JSON API call, so that a rule (a user manages only their own app passwords, only admins
//! reach other accounts) is written once and checked on the server.
//!
//! Changes go through the same [`admin`] operations as the CLI; argon2 (primary passwords,
//! new app passwords) runs on the server's bounded pool, never on the async runtime.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::session::{self, CodeClaim, MAX_CODE_ATTEMPTS, Session, Sessions, Stage};
use super::totp;
use crate::admin::{
    self, AppPasswordView, CreatedAppPassword, Operations, Reply, Request, UserView,
};
use crate::auth::budget::AddressBudget;
use crate::auth::throttle::{Policy, Throttle, Verdict};
use crate::auth::token::Secret;
use crate::auth::verify::{Busy, Verifier};
use crate::clock::Clock;
use crate::store::{self, Role, SettingKey, Store, TotpFactor, User, UserName};

/// Why a web or API action was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Not signed in (or the session ended).
    #[error("sign in first")]
    SignedOut,
    /// Wrong user name or password: the same for both, and for a disabled account.
    #[error("wrong user name or password")]
    BadCredentials,
    /// The TOTP code is wrong, expired or already used.
    #[error("wrong or already used code")]
    BadCode,
    /// Signed in, but not allowed to do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Too many failed sign-ins from this network for this user, or too many sign-in attempts
    /// from this network for any user (the argon2 budget).
    #[error("too many failed sign-ins; try again later")]
    Throttled(Duration),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with the current state (an existing user, the last admin).
    #[error("{0}")]
    Conflict(String),
    /// The app-password name is empty, too long or unprintable (the pages word it their way).
    #[error("{0}")]
    BadName(String),
    /// The user already has an active app password with this name.
    #[error("{0}")]
    NameTaken(String),
    /// The server could not do it (store I/O, random source); logged, never detailed to the
    /// client.
    #[error("the server could not complete this; try again")]
    Unavailable,
}

impl PortalError {
    /// The HTTP status that says this.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            PortalError::SignedOut | PortalError::BadCredentials | PortalError::BadCode => {
                S::UNAUTHORIZED
            }
            PortalError::Forbidden => S::FORBIDDEN,
            PortalError::Throttled(_) => S::TOO_MANY_REQUESTS,
            PortalError::NotFound(_) => S::NOT_FOUND,
            PortalError::Invalid(_) | PortalError::BadName(_) => S::BAD_REQUEST,
            PortalError::Conflict(_) | PortalError::NameTaken(_) => S::CONFLICT,
            PortalError::Unavailable => S::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable machine-readable code for the API (`"bad_code"`, `"forbidden"`...).
    pub fn code(&self) -> &'static str {
        match self {
            PortalError::SignedOut => "signed_out",
            PortalError::BadCredentials => "bad_credentials",
            PortalError::BadCode => "bad_code",
            PortalError::Forbidden => "forbidden",
            PortalError::Throttled(_) => "throttled",
            PortalError::NotFound(_) => "not_found",
            PortalError::Invalid(_) | PortalError::BadName(_) => "invalid",
            PortalError::Conflict(_) | PortalError::NameTaken(_) => "conflict",
            PortalError::Unavailable => "unavailable",
        }
    }
}

impl From<admin::Error> for PortalError {
    fn from(e: admin::Error) -> Self {
        use store::Error as S;
        match e {
            admin::Error::Name(store::NameError::AppPasswordName(_)) => {
                PortalError::BadName(e.to_string())
            }
            admin::Error::Store(S::DuplicateName { .. }) => PortalError::NameTaken(e.to_string()),
            admin::Error::Store(S::UnknownUser(_) | S::UnknownAppPassword { .. }) => {
                PortalError::NotFound(e.to_string())
            }
            admin::Error::Store(S::UserExists(_) | S::LastAdmin(_)) => {
                PortalError::Conflict(e.to_string())
            }
            admin::Error::Store(S::Name(_) | S::Setting(_))
            | admin::Error::Name(_)
            | admin::Error::Setting(_)
            | admin::Error::Size(_)
            | admin::Error::WeakPassword => PortalError::Invalid(e.to_string()),
            other => {
                tracing::error!(target: "davgate::web", "operation failed: {other}");
                PortalError::Unavailable
            }
        }
    }
}

impl From<store::Error> for PortalError {
    fn from(e: store::Error) -> Self {
        admin::Error::from(e).into()
    }
}

/// A signed-in person making a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their account as it is now in the store.
    pub user: User,
    /// Their session cookie's token.
    pub token: String,
    /// Their session.
    pub session: Session,
}

impl Viewer {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// The result of the password step of a login.
#[derive(Debug)]
pub enum LoginStep {
    /// Signed in: the new session's token and session.
    SignedIn(String, Session),
    /// The password was right; a TOTP code must follow in this half-open session.
    NeedsCode(String, Session),
}

/// A second factor being enrolled: what the page shows once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enrolment {
    /// The secret in base 32, grouped, for typing by hand.
    pub manual_key: String,
    /// The `otpauth://` URL the QR code holds.
    pub otpauth_url: String,
    /// The QR code as an inline SVG element.
    pub qr_svg: String,
}

impl Enrolment {
    /// What the page shows for `secret`, for `account`.
    fn of(secret: &[u8], account: &str) -> Result<Self, totp::TotpError> {
        let otpauth_url = totp::otpauth_url(secret, account)?;
        Ok(Self {
            manual_key: totp::manual_key(secret),
            qr_svg: totp::qr_svg(&otpauth_url)?,
            otpauth_url,
        })
    }
}

/// The web surface's state: sessions, its own login throttle, the operations.
pub struct Portal {
    store: Store,
    operations: Arc<Operations>,
    verifier: Verifier,
    /// Every open web session.
    pub sessions: Sessions,
    /// Failed web sign-ins, counted apart from WebDAV's: a WebDAV brute force must not lock
    /// anyone out of this page, nor the reverse.
    throttle: Throttle,
    /// The per-network argon2 budget, shared with WebDAV: it is one pool they both drain.
    budget: Arc<AddressBudget>,
    /// What session lifetimes, the throttle's windows and the TOTP step are read from.
    clock: Clock,
}

impl Portal {
    /// The portal over a running server's store, operations, argon2 pool and its per-network
    /// budget (the gate's, [`crate::auth::Gate::budget`]), on `clock`.
    pub fn new(
        store: Store,
        operations: Arc<Operations>,
        verifier: Verifier,
        budget: Arc<AddressBudget>,
        clock: Clock,
    ) -> Self {
        let (sessions, throttle) = (Sessions::default(), Throttle::default());
        Self { store, operations, verifier, sessions, throttle, budget, clock }
    }

    fn policy(&self) -> Policy {
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
        if let Verdict::Refuse { retry_after } =
            self.throttle.admit(&policy, peer, &key, self.clock.instant())
        {
            return Err(held(retry_after).await);
        }
        // Every sign-in costs one argon2 from the network's budget, and keeps it even when right
        // (a right password is not cached: a refund would let one account loop on the pool).
        if let Verdict::Refuse { retry_after } =
            self.budget.charge(&policy, peer, self.clock.instant())
        {
            self.throttle.refund(&policy, peer, &key);
            // The same line as a WebDAV refusal over the budget, for fail2ban.
            tracing::warn!(
                target: "davgate::auth",
                "Login throttled: '{}' (Remote IP: '{peer}') web: too many sign-in attempts \
                 from this network, retry in {}s",
                crate::log_safe::log_safe(&key),
                retry_after.as_secs().max(1)
            );
            return Err(held(retry_after).await);
        }
        let secret = Secret::new(password.to_string());
        let user = match UserName::parse(&key) {
            Ok(name) => match self.load(name).await {
                Ok(user) => user,
                Err(e) => {
                    self.budget.refund(&policy, peer, self.clock.instant());
                    self.throttle.refund(&policy, peer, &key);
                    return Err(e);
                }
            },
            Err(_) => None,
        };
        let verified = match &user {
            Some(u) if !u.disabled => self.verifier.verify(&u.password_hash, &secret).await,
            _ => self.verifier.verify_dummy(&secret).await,
        };
        let Ok(ok) = verified else {
            self.budget.refund(&policy, peer, self.clock.instant());
            self.throttle.refund(&policy, peer, &key);
            tracing::warn!(target: "davgate::web", "web sign-in refused: {}", Busy);
            return Err(PortalError::Unavailable);
        };
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => {
                tracing::warn!(
                    target: "davgate::auth",
                    "Login failed: '{}' (Remote IP: '{peer}') web: wrong user name or password",
                    crate::log_safe::log_safe(&key)
                );
                tokio::time::sleep(self.throttle.failed(&policy, peer, &key)).await;
                return Err(PortalError::BadCredentials);
            }
        };
        if user.totp.is_some() {
            // The count goes on until the code is right: a stolen password alone cannot be used
            // to try codes for ever.
            let (token, session) = self.open(&user, Stage::SecondFactor { attempts: 0 })?;
            return Ok(LoginStep::NeedsCode(token, session));
        }
        self.throttle.record_success(&policy, peer, &key);
        let (token, session) = self.open(&user, Stage::SignedIn)?;
        Ok(LoginStep::SignedIn(token, session))
    }

    /// The code step of a login in the half-open session `token`: a signed-in session under a
    /// new token (the half-open one is closed).
    pub async fn second_factor(
        &self,
        peer: IpAddr,
        token: &str,
        code: &str,
    ) -> Result<(String, Session), PortalError> {
        let session =
            self.sessions.get(token, self.clock.instant()).ok_or(PortalError::SignedOut)?;
        if session.stage == Stage::SignedIn {
            return Err(PortalError::Invalid("this session is already signed in".into()));
        }
        let key = session.user.as_str();
        let policy = self.policy();
        if let Verdict::Refuse { retry_after } =
            self.throttle.admit(&policy, peer, key, self.clock.instant())
        {
            return Err(held(retry_after).await);
        }
        // Claimed before the code is looked at: the sixth of any number of racing requests is
        // refused unchecked.
        let attempt = match self.sessions.claim_code_attempt(token, self.clock.instant()) {
            CodeClaim::Granted(n) => n,
            CodeClaim::Spent | CodeClaim::Gone => {
                self.throttle.refund(&policy, peer, key);
                return Err(PortalError::SignedOut);
            }
            CodeClaim::SignedIn => {
                self.throttle.refund(&policy, peer, key);
                return Err(PortalError::Invalid("this session is already signed in".into()));
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
                    self.sessions.close(token);
                }
                tracing::warn!(
                    target: "davgate::auth",
                    "Login failed: '{key}' (Remote IP: '{peer}') web: wrong second-factor code"
                );
                tokio::time::sleep(self.throttle.failed(&policy, peer, key)).await;
                return Err(if spent { PortalError::SignedOut } else { PortalError::BadCode });
            }
        };
        self.throttle.record_success(&policy, peer, key);
        self.sessions.close(token);
        self.open(&user, Stage::SignedIn)
    }

    /// The signed-in viewer behind a session token, checked against the store: the sessions of
    /// a disabled or removed account, or of one whose password changed since they were opened
    /// (by the web, the admin socket or the CLI), end here.
    pub async fn viewer(&self, token: Option<&str>) -> Result<Viewer, PortalError> {
        let token = token.ok_or(PortalError::SignedOut)?;
        let session =
            self.sessions.get(token, self.clock.instant()).ok_or(PortalError::SignedOut)?;
        if session.stage != Stage::SignedIn {
            return Err(PortalError::SignedOut);
        }
        match self.load(session.user.clone()).await? {
            Some(user) if !user.disabled && session.credential.matches(&user) => {
                Ok(Viewer { user, token: token.to_string(), session })
            }
            _ => {
                self.sessions.close(token);
                Err(PortalError::SignedOut)
            }
        }
    }

    /// The half-open session behind `token`, if it is waiting for a code.
    pub fn pending(&self, token: Option<&str>) -> Option<Session> {
        let session = self.sessions.get(token?, self.clock.instant())?;
        matches!(session.stage, Stage::SecondFactor { .. }).then_some(session)
    }

    /// Signs out.
    pub fn logout(&self, token: &str) {
        self.sessions.close(token);
    }

    /// The active app passwords of `owner` (the viewer's own, or anyone's for an admin).
    pub async fn app_passwords(
        &self,
        viewer: &Viewer,
        owner: &str,
    ) -> Result<Vec<AppPasswordView>, PortalError> {
        let owner = manageable(viewer, owner)?;
        match self.run(viewer, Request::AppPasswordList { user: Some(owner), all: false }).await? {
            Reply::AppPasswords { app_passwords } => Ok(app_passwords),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Creates an app password for `owner`: the only answer that ever holds its secret.
    pub async fn create_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        name: &str,
    ) -> Result<CreatedAppPassword, PortalError> {
        let owner = manageable(viewer, owner)?;
        let request = Request::AppPasswordCreate { user: owner, name: name.to_string() };
        match self.run(viewer, request).await? {
            Reply::AppPasswordCreated(created) => Ok(created),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Revokes one app password of `owner`.
    pub async fn revoke_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        id: &str,
    ) -> Result<(), PortalError> {
        let owner = manageable(viewer, owner)?;
        self.run(viewer, Request::AppPasswordRevoke { user: owner, id: id.to_string() }).await?;
        Ok(())
    }

    /// Revokes every active app password of `owner`; returns how many.
    pub async fn revoke_all(&self, viewer: &Viewer, owner: &str) -> Result<usize, PortalError> {
        let owner = manageable(viewer, owner)?;
        match self.run(viewer, Request::AppPasswordRevokeAll { user: owner }).await? {
            Reply::Revoked { count } => Ok(count),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// One account (one's own, or anyone's for an admin).
    pub async fn user(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        let name = UserName::parse(&manageable(viewer, name)?)
            .map_err(|e| PortalError::Invalid(e.to_string()))?;
        let user = self.load(name.clone()).await?;
        user.map(|u| UserView::from(&u))
            .ok_or_else(|| PortalError::NotFound(format!("no user named '{name}'")))
    }

    /// Every account (admins).
    pub async fn users(&self, viewer: &Viewer) -> Result<Vec<UserView>, PortalError> {
        admin_only(viewer)?;
        match self.run(viewer, Request::UserList).await? {
            Reply::Users { users } => Ok(users),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Creates an account with a generated primary password, returned once (admins).
    pub async fn create_user(
        &self,
        viewer: &Viewer,
        name: &str,
        is_admin: bool,
    ) -> Result<(UserView, String), PortalError> {
        admin_only(viewer)?;
        let request = Request::UserAdd { name: name.to_string(), admin: is_admin, password: None };
        match self.run(viewer, request).await? {
            Reply::UserCreated { user, generated_password: Some(password) } => Ok((user, password)),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Disables or enables an account (admins); disabling ends its sessions.
    pub async fn set_disabled(
        &self,
        viewer: &Viewer,
        name: &str,
        disabled: bool,
    ) -> Result<UserView, PortalError> {
        admin_only(viewer)?;
        let request = Request::UserSetDisabled { name: name.to_string(), disabled };
        let Reply::User { user } = self.run(viewer, request).await? else {
            return Err(PortalError::Unavailable);
        };
        if disabled {
            self.close_sessions_of(&user.name);
        }
        Ok(user)
    }

    /// Draws a new primary password, returned once (admins); ends the account's sessions.
    pub async fn reset_password(&self, viewer: &Viewer, name: &str) -> Result<String, PortalError> {
        admin_only(viewer)?;
        let request = Request::UserPasswd { name: name.to_string(), password: None };
        match self.run(viewer, request).await? {
            Reply::PasswordChanged { name, generated_password: Some(password) } => {
                self.close_sessions_of(&name);
                Ok(password)
            }
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Removes an account and its app passwords (admins); its files are moved aside.
    pub async fn remove_user(&self, viewer: &Viewer, name: &str) -> Result<usize, PortalError> {
        admin_only(viewer)?;
        match self.run(viewer, Request::UserRemove { name: name.to_string() }).await? {
            Reply::UserRemoved { name, app_passwords_removed, .. } => {
                self.close_sessions_of(&name);
                Ok(app_passwords_removed)
            }
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Removes an account's second factor (admins: a user who lost their phone).
    pub async fn reset_totp(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        admin_only(viewer)?;
        match self.run(viewer, Request::UserResetTotp { name: name.to_string() }).await? {
            Reply::User { user } => Ok(user),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// The settings as (name, value) pairs (admins).
    pub async fn settings(&self, viewer: &Viewer) -> Result<Vec<(String, String)>, PortalError> {
        admin_only(viewer)?;
        match self.run(viewer, Request::SettingsGet).await? {
            Reply::Settings { settings } => Ok(settings),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Validates and stores one setting (admins); returns the settings now in force.
    pub async fn set_setting(
        &self,
        viewer: &Viewer,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, PortalError> {
        admin_only(viewer)?;
        key.parse::<SettingKey>().map_err(|e| PortalError::NotFound(e.to_string()))?;
        let request = Request::SettingsSet { key: key.to_string(), value: value.to_string() };
        match self.run(viewer, request).await? {
            Reply::Settings { settings } => Ok(settings),
            _ => Err(PortalError::Unavailable),
        }
    }

    /// Starts enrolling a second factor for the viewer: a new secret kept in their session
    /// until a code confirms it.
    pub async fn begin_totp(&self, viewer: &Viewer) -> Result<Enrolment, PortalError> {
        if viewer.user.totp.is_some() {
            return Err(PortalError::Conflict("two-factor sign-in is already on".into()));
        }
        let secret = totp::new_secret().map_err(unavailable)?;
        let enrolment = Enrolment::of(&secret, viewer.user.name.as_str()).map_err(unavailable)?;
        self.sessions.update(&viewer.token, |s| s.enrolment = Some(secret));
        Ok(enrolment)
    }

    /// The enrolment in progress in the viewer's session, shown again (after a wrong code).
    pub fn pending_enrolment(&self, viewer: &Viewer) -> Option<Enrolment> {
        let secret = viewer.session.enrolment.as_ref()?;
        Enrolment::of(secret, viewer.user.name.as_str()).ok()
    }

    /// Confirms the enrolment with a code from the app: from now on the login asks for one.
    pub async fn confirm_totp(&self, viewer: &Viewer, code: &str) -> Result<(), PortalError> {
        let secret = viewer
            .session
            .enrolment
            .clone()
            .ok_or_else(|| PortalError::Invalid("start the two-factor set-up first".into()))?;
        let step =
            totp::check(&secret, code, self.clock.unix_seconds()).ok_or(PortalError::BadCode)?;
        let factor = TotpFactor { secret, enrolled_at: self.clock.now(), last_step: step };
        self.store.set_user_totp(&viewer.user.name, Some(factor)).await?;
        self.sessions.update(&viewer.token, |s| s.enrolment = None);
        Ok(())
    }

    /// Turns the viewer's second factor off; a current code proves it is really them.
    pub async fn disable_totp(&self, viewer: &Viewer, code: &str) -> Result<(), PortalError> {
        let factor = viewer
            .user
            .totp
            .as_ref()
            .ok_or_else(|| PortalError::Invalid("two-factor sign-in is not on".into()))?;
        if !self.accept_code(&viewer.user.name, factor, code).await? {
            return Err(PortalError::BadCode);
        }
        self.store.set_user_totp(&viewer.user.name, None).await?;
        Ok(())
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

    fn open(&self, user: &User, stage: Stage) -> Result<(String, Session), PortalError> {
        self.sessions.open(user, stage, self.clock.instant()).map_err(unavailable)
    }

    fn close_sessions_of(&self, name: &str) {
        if let Ok(name) = UserName::parse(name) {
            self.sessions.close_all_of(&name);
        }
    }

    async fn load(&self, name: UserName) -> Result<Option<User>, PortalError> {
        Ok(self.store.user(&name).await?)
    }

    async fn run(&self, viewer: &Viewer, request: Request) -> Result<Reply, PortalError> {
        let reads = matches!(
            request,
            Request::UserList | Request::AppPasswordList { .. } | Request::SettingsGet
        );
        // The same audit line as a change through the CLI, with who made it: written once the
        // operation has validated what was typed, and escaped all the same.
        let what = (!reads).then(|| admin::socket::describe(&request));
        let reply = self.operations.run(request).await?;
        if let Some(what) = what {
            tracing::info!(target: "davgate::admin", "web: {} {what}", viewer.user.name);
        }
        Ok(reply)
    }
}

/// How long a throttled sign-in is held back before its 429 (the connection is then closed), so
/// that a flood of refused attempts cannot spin at the server's full speed.
const THROTTLED_HOLD: Duration = Duration::from_secs(1);

/// A throttled refusal, after the hold.
async fn held(retry_after: Duration) -> PortalError {
    tokio::time::sleep(THROTTLED_HOLD).await;
    PortalError::Throttled(retry_after)
}

/// `owner` if the viewer may manage that account's app passwords: their own, or any for an
/// admin. Others get 403 whether or not the account exists.
fn manageable(viewer: &Viewer, owner: &str) -> Result<String, PortalError> {
    let own = UserName::parse(owner).is_ok_and(|o| o == viewer.user.name);
    if own || viewer.is_admin() { Ok(owner.to_string()) } else { Err(PortalError::Forbidden) }
}

fn admin_only(viewer: &Viewer) -> Result<(), PortalError> {
    if viewer.is_admin() { Ok(()) } else { Err(PortalError::Forbidden) }
}

fn unavailable(e: impl std::fmt::Display) -> PortalError {
    tracing::error!(target: "davgate::web", "{e}");
    PortalError::Unavailable
}

impl From<session::RandomError> for PortalError {
    fn from(e: session::RandomError) -> Self {
        unavailable(e)
    }
}
