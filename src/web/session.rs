//! Web sessions: a random token in an HttpOnly cookie; the server keeps what it opens.
//!
//! Sessions live in memory (a restart signs everyone out, which is the safe direction), keyed by
//! the SHA-256 of their token so that the table never holds a usable cookie. Each carries its
//! own CSRF token, which every state-changing request must echo. They expire after
//! [`IDLE`] without use or [`LIFETIME`] in all; a half-open session (password right, second
//! factor still to come) lasts [`SECOND_FACTOR_WINDOW`]. At most [`MAX_SESSIONS`] are kept, the
//! stalest dropped first, so a login flood cannot grow memory.

use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::UserName;

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
/// Wrong codes a half-open session may try before it is dropped.
pub const MAX_CODE_ATTEMPTS: u8 = 5;

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

/// What a session knows.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whose it is.
    pub user: UserName,
    /// Echoed by every state-changing request (form field `csrf` or header `X-CSRF-Token`).
    pub csrf: String,
    /// How far it got.
    pub stage: Stage,
    /// A TOTP secret drawn for enrolment, kept until confirmed by a code.
    pub enrolment: Option<Vec<u8>>,
}

struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
}

/// Every open session.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

/// The random source failed (no session can be made safely).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(#[from] rand::rngs::SysError);

impl Sessions {
    /// Opens a session for `user` at `stage`; returns its cookie token and the session.
    pub fn open(&self, user: UserName, stage: Stage) -> Result<(String, Session), RandomError> {
        let token = random_hex::<32>()?;
        let session = Session { user, csrf: random_hex::<32>()?, stage, enrolment: None };
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, e| alive(e, now));
        }
        if map.len() >= MAX_SESSIONS
            && let Some(stalest) = map.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k)
        {
            map.remove(&stalest);
        }
        let entry = Entry { session: session.clone(), created: now, last_seen: now };
        map.insert(digest(&token), entry);
        Ok((token, session))
    }

    /// The live session behind `token`, marked as used now.
    pub fn get(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let key = digest(token);
        let entry = map.get_mut(&key)?;
        if !alive(entry, now) {
            map.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Changes the session behind `token` (if still there); returns it as changed.
    pub fn update(&self, token: &str, change: impl FnOnce(&mut Session)) -> Option<Session> {
        let mut map = self.lock();
        let entry = map.get_mut(&digest(token))?;
        change(&mut entry.session);
        Some(entry.session.clone())
    }

    /// Ends one session (logout, or too many wrong codes).
    pub fn close(&self, token: &str) {
        self.lock().remove(&digest(token));
    }

    /// Ends every session of `user` (disabled, removed, password reset by an admin).
    pub fn close_all_of(&self, user: &UserName) {
        self.lock().retain(|_, e| &e.session.user != user);
    }

    /// Sessions currently open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nobody is signed in.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn alive(entry: &Entry, now: Instant) -> bool {
    let idle = match entry.session.stage {
        Stage::SecondFactor { .. } => SECOND_FACTOR_WINDOW,
        Stage::SignedIn => IDLE,
    };
    now - entry.last_seen < idle && now - entry.created < LIFETIME
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `N` random bytes from the OS, as lower-case hex.
pub fn random_hex<const N: usize>() -> Result<String, RandomError> {
    let mut bytes = [0u8; N];
    SysRng.try_fill_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    #[test]
    fn a_session_is_found_by_its_token_only() {
        let sessions = Sessions::default();
        let (token, session) = sessions.open(alice(), Stage::SignedIn).unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(token, session.csrf);
        assert_eq!(sessions.get(&token).unwrap().user, alice());
        assert!(sessions.get("0".repeat(64).as_str()).is_none());
        sessions.close(&token);
        assert!(sessions.get(&token).is_none());
    }

    #[test]
    fn closing_a_users_sessions_leaves_others() {
        let sessions = Sessions::default();
        let (a, _) = sessions.open(alice(), Stage::SignedIn).unwrap();
        let (b, _) = sessions.open(UserName::parse("bob").unwrap(), Stage::SignedIn).unwrap();
        sessions.close_all_of(&alice());
        assert!(sessions.get(&a).is_none());
        assert!(sessions.get(&b).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let sessions = Sessions::default();
        let (first, _) = sessions.open(alice(), Stage::SignedIn).unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open(alice(), Stage::SignedIn).unwrap();
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first).is_none(), "the stalest session goes first");
    }
}
