//! What a person can do on the web surface, and who may do it: the one place both the pages and
//! the JSON API call, so that a rule (a user manages only their own app passwords, only admins
//! reach other accounts) is written once and checked on the server.
//!
//! Changes go through the same typed [`Admin`] operations as the CLI; argon2 (primary passwords,
//! new app passwords) runs on the server's bounded pool, never on the async runtime.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::session::{self, CodeClaim, MAX_CODE_ATTEMPTS, Session, Sessions, Stage};
use super::totp;
use crate::admin::{
    Admin, AppPasswordView, Audit, CreatedAppPassword, Include, NewPassword, OpError,
    SettingValues, UserView,
};
use crate::auth::budget::AddressBudget;
use crate::auth::throttle::{Policy, Throttle, Verdict};
use crate::auth::token::Secret;
use crate::auth::verify::{Busy, Verifier};
use crate::clock::Clock;
use crate::store::{
    self, AppPasswordId, AppPasswordName, Role, SettingKey, Store, TotpFactor, User, UserName,
};

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
    /// The server could not do it (store I/O, random source, a busy argon2 pool). The cause is
    /// for the server log ([`PortalError::log_cause`], where the answer is built), never for the
    /// client.
    #[error("the server could not complete this; try again")]
    Unavailable(String),
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
            PortalError::Unavailable(_) => S::SERVICE_UNAVAILABLE,
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
            PortalError::Unavailable(_) => "unavailable",
        }
    }

    /// Logs why the server could not complete a request: called once, where the answer to it is
    /// built (the page or the API response), so that the log holds what the client is not told.
    pub fn log_cause(&self) {
        if let PortalError::Unavailable(cause) = self {
            tracing::error!(target: "davgate::web", "{cause}");
        }
    }
}

/// The one mapping of an operation's refusal to the web's: each kind of [`OpError`] to the
/// refusal (and so the status) a page or the API answers. No logging here: the edge that builds
/// the answer logs ([`PortalError::log_cause`]).
impl From<OpError> for PortalError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::InvalidAppPasswordName(m) => PortalError::BadName(m),
            OpError::DuplicateAppPasswordName(m) => PortalError::NameTaken(m),
            OpError::UnknownUser(m)
            | OpError::UnknownAppPassword(m)
            | OpError::UnknownSetting(m) => PortalError::NotFound(m),
            OpError::UserExists(m) | OpError::LastAdmin(m) => PortalError::Conflict(m),
            OpError::InvalidUserName(_)
            | OpError::InvalidAppPasswordId(_)
            | OpError::InvalidSetting(_)
            | OpError::WeakPassword => PortalError::Invalid(e.to_string()),
            OpError::HomeNotMoved(_)
            | OpError::NoServer(_)
            | OpError::Busy(_)
            | OpError::Channel(_)
            | OpError::UnexpectedReply(_)
            | OpError::Internal(_) => PortalError::Unavailable(format!("operation failed: {e}")),
        }
    }
}

impl From<store::Error> for PortalError {
    fn from(e: store::Error) -> Self {
        OpError::from(e).into()
    }
}

impl From<store::NameError> for PortalError {
    fn from(e: store::NameError) -> Self {
        OpError::from(e).into()
    }
}

impl From<store::SettingError> for PortalError {
    fn from(e: store::SettingError) -> Self {
        OpError::from(e).into()
    }
}

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

/// The result of the password step of a login.
#[derive(Debug)]
pub enum LoginStep {
    /// Signed in: the new session's token and session.
    SignedIn(Secret, Session),
    /// The password was right; a TOTP code must follow in this half-open session.
    NeedsCode(Secret, Session),
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
    admin: Admin,
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
        admin: Admin,
        verifier: Verifier,
        budget: Arc<AddressBudget>,
        clock: Clock,
    ) -> Self {
        let (sessions, throttle) = (Sessions::default(), Throttle::default());
        Self { store, admin, verifier, sessions, throttle, budget, clock }
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
            log_throttled(&key, peer, retry_after);
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
            return Err(PortalError::Unavailable(format!("web sign-in refused: {Busy}")));
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
    ) -> Result<(Secret, Session), PortalError> {
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
            log_throttled(key, peer, retry_after);
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
                Ok(Viewer { user, token: Secret::new(token.to_string()), session })
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
        Ok(self.admin_for(viewer).app_passwords(Some(&owner), Include::Active).await?)
    }

    /// Creates an app password for `owner`: the only answer that ever holds its secret.
    pub async fn create_app_password(
        &self,
        viewer: &Viewer,
        owner: &str,
        name: &str,
    ) -> Result<CreatedAppPassword, PortalError> {
        let owner = manageable(viewer, owner)?;
        let name = AppPasswordName::parse(name)?;
        Ok(self.admin_for(viewer).create_app_password(&owner, &name).await?)
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
        Ok(self.admin_for(viewer).revoke_app_password(&owner, &id).await?)
    }

    /// Revokes every active app password of `owner`; returns how many.
    pub async fn revoke_all(&self, viewer: &Viewer, owner: &str) -> Result<usize, PortalError> {
        let owner = manageable(viewer, owner)?;
        Ok(self.admin_for(viewer).revoke_all_app_passwords(&owner).await?)
    }

    /// One account (one's own, or anyone's for an admin).
    pub async fn user(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        let name = manageable(viewer, name)?;
        let user = self.load(name.clone()).await?;
        user.map(|u| UserView::from(&u))
            .ok_or_else(|| PortalError::NotFound(format!("no user named '{name}'")))
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
        let created = admin.add_user(&UserName::parse(name)?, role, NewPassword::Generate).await?;
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
        let name = UserName::parse(name)?;
        let user = admin.set_user_disabled(&name, disabled).await?;
        if disabled {
            self.sessions.close_all_of(&name);
        }
        Ok(user)
    }

    /// Draws a new primary password, returned once (admins); ends the account's sessions.
    pub async fn reset_password(&self, viewer: &Viewer, name: &str) -> Result<Secret, PortalError> {
        let admin = self.admin_only(viewer)?;
        let changed = admin.set_password(&UserName::parse(name)?, NewPassword::Generate).await?;
        self.sessions.close_all_of(&changed.name);
        changed.generated_password.ok_or_else(|| {
            PortalError::Unavailable("a password change came back without the password".into())
        })
    }

    /// Removes an account and its app passwords (admins); its files are moved aside.
    pub async fn remove_user(&self, viewer: &Viewer, name: &str) -> Result<usize, PortalError> {
        let admin = self.admin_only(viewer)?;
        let removed = admin.remove_user(&UserName::parse(name)?).await?;
        self.sessions.close_all_of(&removed.name);
        Ok(removed.app_passwords_removed)
    }

    /// Removes an account's second factor (admins: a user who lost their phone).
    pub async fn reset_totp(&self, viewer: &Viewer, name: &str) -> Result<UserView, PortalError> {
        let admin = self.admin_only(viewer)?;
        Ok(admin.reset_totp(&UserName::parse(name)?).await?)
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
        if viewer.user.totp.is_some() {
            return Err(PortalError::Conflict("two-factor sign-in is already on".into()));
        }
        let secret = totp::new_secret().map_err(unavailable)?;
        let enrolment = Enrolment::of(&secret, viewer.user.name.as_str()).map_err(unavailable)?;
        self.sessions.update(viewer.token.expose(), |s| s.enrolment = Some(secret));
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
        self.sessions.update(viewer.token.expose(), |s| s.enrolment = None);
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

    fn open(&self, user: &User, stage: Stage) -> Result<(Secret, Session), PortalError> {
        let (token, session) =
            self.sessions.open(user, stage, self.clock.instant()).map_err(unavailable)?;
        Ok((Secret::new(token), session))
    }

    async fn load(&self, name: UserName) -> Result<Option<User>, PortalError> {
        Ok(self.store.user(&name).await?)
    }

    /// The operations in the viewer's name: their changes are audited as `web: <viewer> ...`,
    /// once the operation has validated what was typed, and escaped all the same.
    fn admin_for(&self, viewer: &Viewer) -> Admin {
        self.admin.audited(Audit::Web(viewer.user.name.clone()))
    }

    /// [`Portal::admin_for`] the viewer, if they are an admin.
    fn admin_only(&self, viewer: &Viewer) -> Result<Admin, PortalError> {
        if viewer.is_admin() { Ok(self.admin_for(viewer)) } else { Err(PortalError::Forbidden) }
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

/// `owner` if the viewer may manage that account's app passwords: their own, or any for an
/// admin. Others get 403 whether or not the account exists (or its name is valid).
fn manageable(viewer: &Viewer, owner: &str) -> Result<UserName, PortalError> {
    match UserName::parse(owner) {
        Ok(name) if name == viewer.user.name || viewer.is_admin() => Ok(name),
        Err(e) if viewer.is_admin() => Err(e.into()),
        _ => Err(PortalError::Forbidden),
    }
}

/// The server could not do it because of `e` (logged where the answer is built).
fn unavailable(e: impl std::fmt::Display) -> PortalError {
    PortalError::Unavailable(e.to_string())
}

impl From<session::RandomError> for PortalError {
    fn from(e: session::RandomError) -> Self {
        unavailable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let sessions = Sessions::default();
        let (token, session) =
            sessions.open(&user, Stage::SignedIn, std::time::Instant::now()).unwrap();
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
