//! Web sessions: a random token in an HttpOnly cookie; the server keeps what it opens.
//!
//! Sessions live in memory (a restart signs everyone out, which is the safe direction), keyed by
//! the SHA-256 of their token so that the table never holds a usable cookie. Each carries its
//! own CSRF token, which every state-changing request must echo, and the [`CredentialStamp`] of
//! the password it was opened with: once the account's password changes, by whatever path (the
//! web, the admin socket, the CLI on the store), the stamp no longer matches and the session is
//! over. They expire after [`IDLE`] without use or [`LIFETIME`] in all; a half-open session
//! (password right, second factor still to come) lasts [`SECOND_FACTOR_WINDOW`] and may try
//! [`MAX_CODE_ATTEMPTS`] codes, each claimed atomically before it is checked.
//!
//! Memory is bounded twice: one account holds at most [`MAX_PER_USER`] sessions (its own least
//! recently used goes first, so signing in again and again only ever signs oneself out), and the
//! whole table at most [`MAX_SESSIONS`]; when that is full, the account holding the most
//! sessions loses its least recently used one. Someone holding k sessions is therefore never
//! signed out by the cap while another account holds more than k: to push out people with one
//! session each, a flood needs 10,000 accounts signed in at once.

use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{User, UserName};

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

/// What a session knows.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whose it is.
    pub user: UserName,
    /// The password it was opened with; a session whose stamp no longer matches is over.
    pub credential: CredentialStamp,
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

/// What claiming a second-factor attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClaim {
    /// The `n`th code (1-based) may be checked.
    Granted(u8),
    /// Every attempt was used: the session is closed, no code is checked.
    Spent,
    /// No live session behind the token.
    Gone,
    /// The session is already fully signed in.
    SignedIn,
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
    /// Opens a session for `user` (its password stamped) at `stage`; returns its cookie token
    /// and the session. Makes room first: the account's own stalest session beyond
    /// [`MAX_PER_USER`], then, if the table is full, the stalest of whoever holds the most.
    pub fn open(&self, user: &User, stage: Stage) -> Result<(String, Session), RandomError> {
        let token = random_hex::<32>()?;
        let session = Session {
            user: user.name.clone(),
            credential: CredentialStamp::of(user),
            csrf: random_hex::<32>()?,
            stage,
            enrolment: None,
        };
        let now = Instant::now();
        let mut map = self.lock();
        let own = map.values().filter(|e| e.session.user == user.name).count();
        if own >= MAX_PER_USER {
            map.retain(|_, e| alive(e, now));
            while map.values().filter(|e| e.session.user == user.name).count() >= MAX_PER_USER {
                if !remove_stalest(&mut map, |e| e.session.user == user.name) {
                    break;
                }
            }
        }
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, e| alive(e, now));
        }
        while map.len() >= MAX_SESSIONS {
            let busiest = busiest_user(&map);
            if !remove_stalest(&mut map, |e| Some(&e.session.user) == busiest.as_ref()) {
                break;
            }
        }
        let entry = Entry { session: session.clone(), created: now, last_seen: now };
        map.insert(digest(&token), entry);
        Ok((token, session))
    }

    /// Claims one code attempt of the half-open session behind `token`, atomically: however
    /// many requests race, at most [`MAX_CODE_ATTEMPTS`] codes are ever checked per session.
    pub fn claim_code_attempt(&self, token: &str) -> CodeClaim {
        let now = Instant::now();
        let mut map = self.lock();
        let key = digest(token);
        let Some(entry) = map.get_mut(&key) else { return CodeClaim::Gone };
        if !alive(entry, now) {
            map.remove(&key);
            return CodeClaim::Gone;
        }
        match entry.session.stage {
            Stage::SignedIn => CodeClaim::SignedIn,
            Stage::SecondFactor { attempts } if attempts >= MAX_CODE_ATTEMPTS => {
                map.remove(&key);
                CodeClaim::Spent
            }
            Stage::SecondFactor { attempts } => {
                entry.session.stage = Stage::SecondFactor { attempts: attempts + 1 };
                entry.last_seen = now;
                CodeClaim::Granted(attempts + 1)
            }
        }
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

/// Removes the least recently used entry among those `which` selects; false if none.
fn remove_stalest(map: &mut HashMap<[u8; 32], Entry>, which: impl Fn(&Entry) -> bool) -> bool {
    let stalest = map.iter().filter(|(_, e)| which(e)).min_by_key(|(_, e)| e.last_seen);
    match stalest.map(|(k, _)| *k) {
        Some(key) => map.remove(&key).is_some(),
        None => false,
    }
}

/// The account holding the most sessions (the stalest-used one among equals).
fn busiest_user(map: &HashMap<[u8; 32], Entry>) -> Option<UserName> {
    let mut counts: HashMap<&UserName, (usize, Instant)> = HashMap::new();
    for e in map.values() {
        let c = counts.entry(&e.session.user).or_insert((0, e.last_seen));
        c.0 += 1;
        c.1 = c.1.min(e.last_seen);
    }
    let busiest = counts.into_iter().max_by(|a, b| (a.1.0, b.1.1).cmp(&(b.1.0, a.1.1)));
    busiest.map(|(user, _)| user.clone())
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

    fn user(name: &str) -> User {
        User {
            name: UserName::parse(name).unwrap(),
            role: crate::store::Role::User,
            password_hash: format!("$argon2id$hash-of-{name}"),
            created_at: chrono::Utc::now(),
            disabled: false,
            quota_bytes: None,
            totp: None,
        }
    }

    fn alice() -> User {
        user("alice")
    }

    #[test]
    fn a_session_is_found_by_its_token_only() {
        let sessions = Sessions::default();
        let (token, session) = sessions.open(&alice(), Stage::SignedIn).unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(token, session.csrf);
        assert_eq!(sessions.get(&token).unwrap().user, alice().name);
        assert!(sessions.get("0".repeat(64).as_str()).is_none());
        sessions.close(&token);
        assert!(sessions.get(&token).is_none());
    }

    #[test]
    fn the_stamp_changes_with_the_password() {
        let mut alice = alice();
        let (_, session) = Sessions::default().open(&alice, Stage::SignedIn).unwrap();
        assert!(session.credential.matches(&alice));
        alice.password_hash.push('x');
        assert!(!session.credential.matches(&alice));
        assert_eq!(format!("{:?}", session.credential), "CredentialStamp(..)");
    }

    #[test]
    fn closing_a_users_sessions_leaves_others() {
        let sessions = Sessions::default();
        let (a, _) = sessions.open(&alice(), Stage::SignedIn).unwrap();
        let (b, _) = sessions.open(&user("bob"), Stage::SignedIn).unwrap();
        sessions.close_all_of(&alice().name);
        assert!(sessions.get(&a).is_none());
        assert!(sessions.get(&b).is_some());
    }

    #[test]
    fn one_account_signing_in_again_and_again_drops_only_its_own_stalest() {
        let sessions = Sessions::default();
        let (bob, _) = sessions.open(&user("bob"), Stage::SignedIn).unwrap();
        let (first, _) = sessions.open(&alice(), Stage::SignedIn).unwrap();
        let (second, _) = sessions.open(&alice(), Stage::SignedIn).unwrap();
        for _ in 0..MAX_PER_USER * 3 {
            assert!(sessions.get(&second).is_some(), "in use: never the stalest");
            sessions.open(&alice(), Stage::SignedIn).unwrap();
        }
        assert_eq!(sessions.len(), MAX_PER_USER + 1);
        assert!(sessions.get(&first).is_none(), "alice's stalest went");
        assert!(sessions.get(&second).is_some());
        assert!(sessions.get(&bob).is_some(), "bob was never touched");
    }

    #[test]
    fn a_full_table_takes_from_the_busiest_account() {
        let sessions = Sessions::default();
        let (lone, _) = sessions.open(&user("lone"), Stage::SignedIn).unwrap();
        let flooders: Vec<User> =
            (0..MAX_SESSIONS / MAX_PER_USER + 10).map(|i| user(&format!("flood{i}"))).collect();
        for u in &flooders {
            for _ in 0..MAX_PER_USER {
                sessions.open(u, Stage::SignedIn).unwrap();
            }
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&lone).is_some(), "one session is never the busiest");
    }

    #[test]
    fn code_attempts_are_claimed_before_they_are_checked() {
        let sessions = Sessions::default();
        let (token, _) = sessions.open(&alice(), Stage::SecondFactor { attempts: 0 }).unwrap();
        for n in 1..=MAX_CODE_ATTEMPTS {
            assert_eq!(sessions.claim_code_attempt(&token), CodeClaim::Granted(n));
        }
        assert_eq!(sessions.claim_code_attempt(&token), CodeClaim::Spent);
        assert_eq!(sessions.claim_code_attempt(&token), CodeClaim::Gone);
        let (full, _) = sessions.open(&alice(), Stage::SignedIn).unwrap();
        assert_eq!(sessions.claim_code_attempt(&full), CodeClaim::SignedIn);
    }
}
