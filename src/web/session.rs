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
//! whole table at most [`MAX_SESSIONS`]; when that is full, sessions already over are dropped
//! first (from the least recently used end), and if none is, the account holding the most
//! sessions loses its least recently used one (among accounts holding as many, the one used
//! least recently). Someone holding k sessions is therefore never signed out by the cap while
//! another account holds more than k: to push out people with one session each, a flood needs
//! 10,000 accounts signed in at once. Every step is O(1) on [`Bounded`] maps: the table by last
//! use, each account's sessions by last use, and the accounts by how many sessions they hold.
//!
//! The time is passed in (`now`, from the portal's [`crate::clock::Clock`]), so lifetimes are
//! tested without waiting.

use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bounded::Bounded;
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
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("credential", &self.credential)
            .field("csrf", &"***")
            .field("stage", &self.stage)
            .field("enrolment", &self.enrolment.as_ref().map(|_| "***"))
            .finish()
    }
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
    table: Mutex<Table>,
}

/// The random source failed (no session can be made safely).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(#[from] rand::rngs::SysError);

impl Sessions {
    /// Opens a session for `user` (its password stamped) at `stage` and `now`; returns its
    /// cookie token and the session. Makes room first: the account's own stalest session beyond
    /// [`MAX_PER_USER`], then, if the table is full, what is over, else the stalest of whoever
    /// holds the most.
    pub fn open(
        &self,
        user: &User,
        stage: Stage,
        now: Instant,
    ) -> Result<(String, Session), RandomError> {
        let token = random_hex::<32>()?;
        let session = Session {
            user: user.name.clone(),
            credential: CredentialStamp::of(user),
            csrf: random_hex::<32>()?,
            stage,
            enrolment: None,
        };
        let mut table = self.lock();
        if table.count_of(&user.name) >= MAX_PER_USER {
            table.drop_stalest_of(&user.name);
        }
        if table.entries.len() >= MAX_SESSIONS {
            table.sweep(now);
        }
        while table.entries.len() >= MAX_SESSIONS {
            if !table.drop_from_busiest() {
                break;
            }
        }
        let entry = Entry { session: session.clone(), created: now, last_seen: now };
        table.insert(digest(&token), entry);
        Ok((token, session))
    }

    /// Claims one code attempt of the half-open session behind `token`, atomically: however
    /// many requests race, at most [`MAX_CODE_ATTEMPTS`] codes are ever checked per session.
    pub fn claim_code_attempt(&self, token: &str, now: Instant) -> CodeClaim {
        let (mut table, key) = (self.lock(), digest(token));
        let Some(entry) = table.live(&key, now) else { return CodeClaim::Gone };
        match entry.session.stage {
            Stage::SignedIn => CodeClaim::SignedIn,
            Stage::SecondFactor { attempts } if attempts < MAX_CODE_ATTEMPTS => {
                entry.session.stage = Stage::SecondFactor { attempts: attempts + 1 };
                CodeClaim::Granted(attempts + 1)
            }
            Stage::SecondFactor { .. } => {
                table.remove(&key);
                CodeClaim::Spent
            }
        }
    }

    /// The live session behind `token`, marked as used at `now`.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        self.lock().live(&digest(token), now).map(|entry| entry.session.clone())
    }

    /// Changes the session behind `token` (if still there, and without counting as a use);
    /// returns it as changed.
    pub fn update(&self, token: &str, change: impl FnOnce(&mut Session)) -> Option<Session> {
        let mut table = self.lock();
        let entry = table.entries.peek_mut(&digest(token))?;
        change(&mut entry.session);
        Some(entry.session.clone())
    }

    /// Ends one session (logout, or too many wrong codes).
    pub fn close(&self, token: &str) {
        self.lock().remove(&digest(token));
    }

    /// Ends every session of `user` (disabled, removed, password reset by an admin).
    pub fn close_all_of(&self, user: &UserName) {
        let mut table = self.lock();
        while table.drop_stalest_of(user) {}
    }

    /// Sessions currently open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nobody is signed in.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The SHA-256 of a session token: what the table keeps instead of the token.
type TokenDigest = [u8; 32];

/// The sessions, indexed three ways, all kept in step by [`Table::insert`] and
/// [`Table::remove`].
struct Table {
    /// Every session by the digest of its token, least recently used first to go.
    entries: Bounded<TokenDigest, Entry>,
    /// Each account's sessions, by last use.
    users: HashMap<UserName, Bounded<TokenDigest, ()>>,
    /// Accounts by how many sessions they hold (the index; 0 unused), each by last use.
    by_count: Vec<Bounded<UserName, ()>>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            entries: Bounded::new(MAX_SESSIONS),
            users: HashMap::new(),
            by_count: (0..=MAX_PER_USER).map(|_| Bounded::new(MAX_SESSIONS)).collect(),
        }
    }
}

impl Table {
    fn count_of(&self, user: &UserName) -> usize {
        self.users.get(user).map_or(0, Bounded::len)
    }

    /// Moves `user` from the bucket of `from` sessions to that of `to` (0: none), as most
    /// recently used.
    fn recount(&mut self, user: &UserName, from: usize, to: usize) {
        if let Some(bucket) = self.by_count.get_mut(from) {
            bucket.remove(user);
        }
        if to > 0
            && let Some(bucket) = self.by_count.get_mut(to)
        {
            bucket.insert(user.clone(), ());
        }
    }

    /// Adds a session. The caller made room (the per-user and total caps); were it not so,
    /// what the maps forget is dropped from every index.
    fn insert(&mut self, key: TokenDigest, entry: Entry) {
        let user = entry.session.user.clone();
        if let Some((gone, gone_entry)) = self.entries.insert(key, entry) {
            self.unindex_of(&gone, &gone_entry.session.user);
        }
        let sessions = self.users.entry(user.clone()).or_insert_with(|| Bounded::new(MAX_PER_USER));
        let before = sessions.len();
        let forgotten = sessions.insert(key, ());
        let after = sessions.len();
        self.recount(&user, before, after);
        if let Some((gone, ())) = forgotten {
            self.entries.remove(&gone);
        }
    }

    /// Ends a session; returns it if it was there.
    fn remove(&mut self, key: &TokenDigest) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.unindex_of(key, &entry.session.user);
        Some(entry)
    }

    /// Forgets a session already taken out of `entries` from its account's indexes.
    fn unindex_of(&mut self, key: &TokenDigest, user: &UserName) {
        let Some(sessions) = self.users.get_mut(user) else { return };
        let before = sessions.len();
        sessions.remove(key);
        let after = sessions.len();
        if after == 0 {
            self.users.remove(user);
        }
        self.recount(user, before, after);
    }

    /// The session behind `key` if it is live, marked as used at `now`; a session that is
    /// over is dropped.
    fn live(&mut self, key: &TokenDigest, now: Instant) -> Option<&mut Entry> {
        if !alive(self.entries.peek(key)?, now) {
            self.remove(key);
            return None;
        }
        let user = self.entries.peek(key)?.session.user.clone();
        if let Some(sessions) = self.users.get_mut(&user) {
            sessions.get(key);
            let count = sessions.len();
            if let Some(bucket) = self.by_count.get_mut(count) {
                bucket.get(&user);
            }
        }
        let entry = self.entries.get_mut(key)?;
        entry.last_seen = now;
        Some(entry)
    }

    /// Drops the least recently used session of `user`; false if they hold none.
    fn drop_stalest_of(&mut self, user: &UserName) -> bool {
        let stalest = self.users.get(user).and_then(|s| s.stalest()).map(|(k, _)| *k);
        stalest.is_some_and(|key| self.remove(&key).is_some())
    }

    /// Drops the least recently used session of the account holding the most (the least
    /// recently used account among equals); false if the table is empty.
    fn drop_from_busiest(&mut self) -> bool {
        let busiest = self.by_count.iter().rev().find_map(|b| b.stalest()).map(|(u, _)| u.clone());
        busiest.is_some_and(|user| self.drop_stalest_of(&user))
    }

    /// Drops sessions that are over, from the least recently used end, up to the first live
    /// one (each session is swept at most once, so this is O(1) per session opened). A session
    /// over sooner than one used before it (a half-open one, or one at the end of its
    /// lifetime) is dropped when next presented, or by the caps.
    fn sweep(&mut self, now: Instant) {
        while let Some((key, entry)) = self.entries.stalest() {
            if alive(entry, now) {
                break;
            }
            let key = *key;
            self.remove(&key);
        }
    }
}

fn alive(entry: &Entry, now: Instant) -> bool {
    let idle = match entry.session.stage {
        Stage::SecondFactor { .. } => SECOND_FACTOR_WINDOW,
        Stage::SignedIn => IDLE,
    };
    now.saturating_duration_since(entry.last_seen) < idle
        && now.saturating_duration_since(entry.created) < LIFETIME
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

    /// The instant every test starts at (only differences matter).
    fn t0() -> Instant {
        static T0: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
        *T0
    }

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
        let (token, session) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(token, session.csrf);
        assert_eq!(sessions.get(&token, t0()).unwrap().user, alice().name);
        assert!(sessions.get("0".repeat(64).as_str(), t0()).is_none());
        sessions.close(&token);
        assert!(sessions.get(&token, t0()).is_none());
    }

    #[test]
    fn the_stamp_changes_with_the_password() {
        let mut alice = alice();
        let (_, session) = Sessions::default().open(&alice, Stage::SignedIn, t0()).unwrap();
        assert!(session.credential.matches(&alice));
        alice.password_hash.push('x');
        assert!(!session.credential.matches(&alice));
        assert_eq!(format!("{:?}", session.credential), "CredentialStamp(..)");
    }

    #[test]
    fn closing_a_users_sessions_leaves_others() {
        let sessions = Sessions::default();
        let (a, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        let (b, _) = sessions.open(&user("bob"), Stage::SignedIn, t0()).unwrap();
        sessions.close_all_of(&alice().name);
        assert!(sessions.get(&a, t0()).is_none());
        assert!(sessions.get(&b, t0()).is_some());
    }

    #[test]
    fn one_account_signing_in_again_and_again_drops_only_its_own_stalest() {
        let sessions = Sessions::default();
        let (bob, _) = sessions.open(&user("bob"), Stage::SignedIn, t0()).unwrap();
        let (first, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        let (second, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        for _ in 0..MAX_PER_USER * 3 {
            assert!(sessions.get(&second, t0()).is_some(), "in use: never the stalest");
            sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        }
        assert_eq!(sessions.len(), MAX_PER_USER + 1);
        assert!(sessions.get(&first, t0()).is_none(), "alice's stalest went");
        assert!(sessions.get(&second, t0()).is_some());
        assert!(sessions.get(&bob, t0()).is_some(), "bob was never touched");
    }

    #[test]
    fn a_full_table_takes_from_the_busiest_account() {
        let sessions = Sessions::default();
        let (lone, _) = sessions.open(&user("lone"), Stage::SignedIn, t0()).unwrap();
        let flooders: Vec<User> =
            (0..MAX_SESSIONS / MAX_PER_USER + 10).map(|i| user(&format!("flood{i}"))).collect();
        for u in &flooders {
            for _ in 0..MAX_PER_USER {
                sessions.open(u, Stage::SignedIn, t0()).unwrap();
            }
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&lone, t0()).is_some(), "one session is never the busiest");
    }

    #[test]
    fn code_attempts_are_claimed_before_they_are_checked() {
        let sessions = Sessions::default();
        let (token, _) =
            sessions.open(&alice(), Stage::SecondFactor { attempts: 0 }, t0()).unwrap();
        for n in 1..=MAX_CODE_ATTEMPTS {
            assert_eq!(sessions.claim_code_attempt(&token, t0()), CodeClaim::Granted(n));
        }
        assert_eq!(sessions.claim_code_attempt(&token, t0()), CodeClaim::Spent);
        assert_eq!(sessions.claim_code_attempt(&token, t0()), CodeClaim::Gone);
        let (full, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        assert_eq!(sessions.claim_code_attempt(&full, t0()), CodeClaim::SignedIn);
    }

    #[test]
    fn a_session_unused_for_the_idle_time_is_over_and_one_in_use_lasts_its_lifetime() {
        let (sessions, hour) = (Sessions::default(), Duration::from_secs(3600));
        let (idle, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        let (busy, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        let just_before = t0() + IDLE - Duration::from_secs(1);
        assert!(sessions.get(&busy, just_before).is_some());
        assert!(sessions.get(&idle, t0() + IDLE).is_none(), "unused for an hour");
        let mut now = just_before;
        while now + hour / 2 < t0() + LIFETIME {
            now += hour / 2;
            assert!(sessions.get(&busy, now).is_some(), "in use every half hour");
        }
        assert!(sessions.get(&busy, t0() + LIFETIME).is_none(), "12 hours in all");
        assert!(sessions.is_empty());
    }

    #[test]
    fn a_half_open_session_lasts_the_second_factor_window() {
        let sessions = Sessions::default();
        let half = Stage::SecondFactor { attempts: 0 };
        let (token, _) = sessions.open(&alice(), half, t0()).unwrap();
        let (late, _) = sessions.open(&alice(), half, t0()).unwrap();
        let just_before = t0() + SECOND_FACTOR_WINDOW - Duration::from_secs(1);
        assert_eq!(sessions.claim_code_attempt(&token, just_before), CodeClaim::Granted(1));
        assert_eq!(
            sessions.claim_code_attempt(&late, t0() + SECOND_FACTOR_WINDOW),
            CodeClaim::Gone
        );
    }

    #[test]
    fn a_full_table_drops_sessions_that_are_over_before_anyone_elses() {
        let sessions = Sessions::default();
        for i in 0..MAX_SESSIONS {
            sessions.open(&user(&format!("gone{i}")), Stage::SignedIn, t0()).unwrap();
        }
        let later = t0() + IDLE;
        let (two, _) = sessions.open(&alice(), Stage::SignedIn, later).unwrap();
        let (one, _) = sessions.open(&alice(), Stage::SignedIn, later).unwrap();
        assert_eq!(sessions.len(), 2, "every session over was dropped");
        assert!(sessions.get(&two, later).is_some() && sessions.get(&one, later).is_some());
    }

    #[test]
    fn neither_the_csrf_token_nor_the_cookie_token_nor_an_enrolment_key_is_in_debug() {
        let sessions = Sessions::default();
        let (token, _) = sessions.open(&alice(), Stage::SignedIn, t0()).unwrap();
        let key = b"enrolment-key-bytes".to_vec();
        let session = sessions.update(&token, |s| s.enrolment = Some(key.clone())).unwrap();
        let shown = format!("{session:?} {session:#?}");
        assert!(!shown.contains(&session.csrf), "{shown}");
        assert!(!shown.contains(&token), "{shown}");
        assert!(!shown.contains(&format!("{key:?}")), "{shown}");
        assert!(shown.contains("alice") && shown.contains("SignedIn"), "{shown}");
    }
}
