//! Web sessions: a random token in an HttpOnly cookie; the store keeps what it opens.
//!
//! Sessions live in the store ([`crate::store::Store::open_session`] and its peers), keyed by the
//! SHA-256 of their token so that the store never holds a usable cookie: a restart signs nobody
//! out, a cookie made on one node works on every node, and a sign-out on one is refused on every
//! other at once (no node keeps a copy; each page or API request reads its session, one indexed
//! read, never on the WebDAV path). Each carries its own CSRF token, which every
//! state-changing request must echo, and the [`CredentialStamp`] of the password it was opened
//! with: once the account's password changes, by whatever path (the web, the admin socket, the
//! CLI on the store), the stamp no longer matches and the session is over. They expire after
//! [`IDLE`] without use or [`LIFETIME`] in all; a half-open session (password right, second
//! factor still to come) lasts [`SECOND_FACTOR_WINDOW`] and may try [`MAX_CODE_ATTEMPTS`] codes,
//! each claimed atomically in the store before it is checked.
//!
//! The store is bounded twice, by [`RULES`]: one account holds at most [`MAX_PER_USER`]
//! sessions (its own least recently used goes first, so signing in again and again only ever
//! signs oneself out), and the whole table at most [`MAX_SESSIONS`]; when that is full, sessions
//! already over are dropped first, and if none is, the account holding the most sessions loses
//! its least recently used one (among accounts holding as many, the one used least recently).
//! Someone holding k sessions is therefore never signed out by the cap while another account
//! holds more than k.
//!
//! The time is passed in (`now`, wall time from the portal's [`crate::clock::Clock`]), so
//! lifetimes survive a restart and are tested without waiting.

use chrono::{DateTime, Utc};
use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub use crate::store::CodeClaim;
use crate::store::{SessionRecord, SessionRules, Store, TokenDigest, User, UserName};

/// The session cookie's name.
pub const COOKIE: &str = "davgate_session";
/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// No session outlives this, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Time allowed between the right password and the second factor.
pub const SECOND_FACTOR_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;
/// Most sessions one account keeps (browsers, devices, scripts); a 21st drops its stalest.
pub const MAX_PER_USER: usize = 20;
/// Wrong codes a half-open session may try before it is dropped.
pub const MAX_CODE_ATTEMPTS: u8 = 5;

/// The rules the store enforces for web sessions.
pub const RULES: SessionRules = SessionRules {
    idle: IDLE,
    second_factor_window: SECOND_FACTOR_WINDOW,
    lifetime: LIFETIME,
    max_sessions: MAX_SESSIONS,
    max_per_user: MAX_PER_USER,
    max_code_attempts: MAX_CODE_ATTEMPTS,
};

/// How far a session got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The password was right; the TOTP code is still to come.
    SecondFactor {
        /// Wrong codes so far.
        attempts: u8,
    },
    /// Fully signed in.
    SignedIn,
}

/// A fingerprint of the password hash a session was opened with: SHA-256 of the argon2 PHC
/// string, whose salt is new at every change, so any password change (even to the same
/// password) and any re-creation of the account under the same name gives a new stamp.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CredentialStamp([u8; 32]);

impl CredentialStamp {
    /// The stamp of `user`'s current password.
    pub fn of(user: &User) -> Self {
        Self(Sha256::digest(user.password_hash.as_bytes()).into())
    }

    /// True if `user`'s password is still the one this stamp was taken from.
    pub fn matches(&self, user: &User) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(&self.0[..], &Self::of(user).0[..]))
    }
}

impl std::fmt::Debug for CredentialStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialStamp(..)")
    }
}

/// What a session knows. Its `Debug` shows neither the CSRF token nor the enrolment secret.
#[derive(Clone)]
pub struct Session {
    /// The account signed in: what every page and operation of the session acts as.
    pub user: UserName,
    /// The password it was opened with; a session whose stamp no longer matches is over.
    pub credential: CredentialStamp,
    /// Echoed by every state-changing request (form field `csrf` or header `X-CSRF-Token`).
    pub csrf: String,
    /// Password only, or password and second factor: only a signed-in session opens pages.
    pub stage: Stage,
    /// A TOTP secret drawn for enrolment, kept until confirmed by a code.
    pub enrolment: Option<Vec<u8>>,
    /// When it was opened: for an `sso` account, the moment of its provider sign-in (such an
    /// account has no other way in), which creating an app password asks to be recent.
    pub opened_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("credential", &self.credential)
            .field("csrf", &"***")
            .field("stage", &self.stage)
            .field("enrolment", &self.enrolment.as_ref().map(|_| "***"))
            .field("opened_at", &self.opened_at)
            .finish()
    }
}

impl From<SessionRecord> for Session {
    fn from(r: SessionRecord) -> Self {
        let stage = if r.signed_in {
            Stage::SignedIn
        } else {
            Stage::SecondFactor { attempts: r.code_attempts }
        };
        let (user, csrf, enrolment, opened_at) = (r.user, r.csrf, r.enrolment, r.created_at);
        let credential = CredentialStamp(r.credential);
        Self { user, credential, csrf, stage, enrolment, opened_at }
    }
}

/// Why a session could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The random source failed (no session can be made safely).
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The random source failed (no session can be made safely).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(#[from] rand::rngs::SysError);

/// The web's sessions, in the store: the cookie token in, the session out. Holds no session
/// itself.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    rules: SessionRules,
}

impl Sessions {
    /// The sessions kept in `store` under [`RULES`].
    pub fn new(store: Store) -> Self {
        Self::with_rules(store, RULES)
    }

    /// The sessions under other rules (the tests' small caps).
    pub fn with_rules(store: Store, rules: SessionRules) -> Self {
        Self { store, rules }
    }

    /// Opens a session for `user` (its password stamped) at `stage` and `now`; returns its
    /// cookie token and the session. The store makes room first (see the module doc).
    pub async fn open(
        &self,
        user: &User,
        stage: Stage,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), SessionError> {
        let token = random_hex::<32>()?;
        let (signed_in, code_attempts) = match stage {
            Stage::SignedIn => (true, 0),
            Stage::SecondFactor { attempts } => (false, attempts),
        };
        let record = SessionRecord {
            user: user.name.clone(),
            credential: CredentialStamp::of(user).0,
            csrf: random_hex::<32>()?,
            signed_in,
            code_attempts,
            enrolment: None,
            created_at: now,
            last_seen: now,
        };
        self.store.open_session(digest(&token), record.clone(), self.rules, now).await?;
        Ok((token, record.into()))
    }

    /// Claims one code attempt of the half-open session behind `token`, atomically: however
    /// many requests race, on however many nodes, at most [`MAX_CODE_ATTEMPTS`] codes are ever
    /// checked per session.
    pub async fn claim_code_attempt(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeClaim, SessionError> {
        Ok(self.store.claim_code_attempt(digest(token), self.rules, now).await?)
    }

    /// The live session behind `token`, marked as used at `now`.
    pub async fn get(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, SessionError> {
        Ok(self.store.session(digest(token), self.rules, now).await?.map(Session::from))
    }

    /// Keeps (or clears) an enrolment secret in the session behind `token` (if still there,
    /// and without counting as a use); returns it as changed.
    pub async fn set_enrolment(
        &self,
        token: &str,
        enrolment: Option<Vec<u8>>,
    ) -> Result<Option<Session>, SessionError> {
        let changed = self.store.set_session_enrolment(digest(token), enrolment).await?;
        Ok(changed.map(Session::from))
    }

    /// Ends one session (logout, or too many wrong codes).
    pub async fn close(&self, token: &str) -> Result<(), SessionError> {
        Ok(self.store.close_session(digest(token)).await?)
    }

    /// Ends every session of `user` (disabled, removed, password reset by an admin).
    pub async fn close_all_of(&self, user: &UserName) -> Result<(), SessionError> {
        Ok(self.store.close_sessions_of(user).await?)
    }
}

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// `N` random bytes from the OS, as lower-case hex.
pub fn random_hex<const N: usize>() -> Result<String, RandomError> {
    let mut bytes = [0u8; N];
    SysRng.try_fill_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
