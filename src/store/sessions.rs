//! Web sessions in the store, so that a restart signs nobody out and a cookie made on one node
//! works on every node (and a sign-out on one is refused on all at once: no node keeps a copy).
//!
//! A session is keyed by the SHA-256 of its cookie token ([`TokenDigest`]): the store never
//! holds a usable cookie. Its times are wall times from the caller's clock, so they survive a
//! restart. The rules (lifetimes, caps) are the web's ([`SessionRules`], passed in); the store
//! enforces them inside one transaction per change, the same way on both backends:
//!
//! - opening one first drops its account's least recently used beyond `max_per_user`, then
//!   sweeps sessions that are over from the least recently used end (a few each time, all of
//!   them when the table is full), then, while the table is still full, takes the least recently
//!   used session of the account holding the most (the least recently used account among
//!   equals). So the table never holds more than `max_sessions` rows, whatever a flood does;
//! - reading one checks it is live, marks it used, or drops it when it is over;
//! - a code attempt is claimed in the same transaction that checks it is still allowed, so at
//!   most `max_code_attempts` codes are ever checked per session, across every node.
//!
//! "Least recently used" is a counter ([`Stored::used`]) taken at each use, not a time: two uses
//! in the same millisecond are still ordered.
//!
//! redb: `web_sessions` (digest → JSON [`Stored`]) with two indexes, by use and by (user, use).
//! The enrolment secret is kept as the users table keeps TOTP secrets: its bytes in the record.

use chrono::{DateTime, Utc};
use redb::{ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod table;

use super::tables::WEB_SESSIONS;
use super::{Change, Result, Store, UserName, encode};
use table::{count_of, drop_from_busiest, drop_stalest_of, get, put, remove, sweep, touch};

/// The SHA-256 of a session's cookie token: what the store keeps instead of the token.
pub type TokenDigest = [u8; 32];

/// Sessions over that an opening sweeps from the least recently used end when the table is not
/// full (when it is, every one up to the first live one goes).
const SWEEP_BATCH: usize = 16;

/// What the store keeps of one session. Its `Debug` shows neither the CSRF token nor the
/// enrolment secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The account signed in.
    pub user: UserName,
    /// The fingerprint of the password hash it was opened with (the web compares it).
    pub credential: [u8; 32],
    /// Echoed by every state-changing request.
    pub csrf: String,
    /// False while the second factor is still to come.
    pub signed_in: bool,
    /// Code attempts claimed so far (half-open sessions).
    pub code_attempts: u8,
    /// A TOTP secret drawn for enrolment, kept until confirmed.
    pub enrolment: Option<Vec<u8>>,
    /// When it was opened: the lifetime runs from here.
    pub created_at: DateTime<Utc>,
    /// Its last use: the idle time runs from here.
    pub last_seen: DateTime<Utc>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user", &self.user)
            .field("signed_in", &self.signed_in)
            .field("code_attempts", &self.code_attempts)
            .field("enrolment", &self.enrolment.as_ref().map(|_| "***"))
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

/// How long sessions last and how many are kept: the web's rules, enforced by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRules {
    /// A signed-in session unused this long is over.
    pub idle: Duration,
    /// A half-open session unused this long is over.
    pub second_factor_window: Duration,
    /// No session outlives this.
    pub lifetime: Duration,
    /// Most sessions kept at once.
    pub max_sessions: usize,
    /// Most sessions one account keeps.
    pub max_per_user: usize,
    /// Code attempts a half-open session may claim.
    pub max_code_attempts: u8,
}

impl SessionRules {
    /// Whether `record` is still live at `now`.
    pub fn alive(&self, record: &SessionRecord, now: DateTime<Utc>) -> bool {
        let idle = if record.signed_in { self.idle } else { self.second_factor_window };
        let since = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
        since(record.last_seen) < idle && since(record.created_at) < self.lifetime
    }

    /// What claiming a code attempt of `record` finds at `now`, and what becomes of the record.
    pub(super) fn claim(&self, record: Option<SessionRecord>, now: DateTime<Utc>) -> Claimed {
        let Some(mut record) = record.filter(|r| self.alive(r, now)) else {
            return Claimed { claim: CodeClaim::Gone, write: Write::Delete };
        };
        record.last_seen = now;
        if record.signed_in {
            return Claimed { claim: CodeClaim::SignedIn, write: Write::Touch(record) };
        }
        if record.code_attempts >= self.max_code_attempts {
            return Claimed { claim: CodeClaim::Spent, write: Write::Delete };
        }
        record.code_attempts += 1;
        Claimed { claim: CodeClaim::Granted(record.code_attempts), write: Write::Touch(record) }
    }
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

/// A claim's answer and the write that goes with it, in the same transaction.
pub(super) struct Claimed {
    pub claim: CodeClaim,
    pub write: Write,
}

/// What a read or a claim does to the row.
pub(super) enum Write {
    /// Store it as changed, as most recently used.
    Touch(SessionRecord),
    /// Drop it (over, or every attempt spent; nothing if it was not there).
    Delete,
}

/// A session as redb keeps it: the record and its place in the use order.
#[derive(Serialize, Deserialize)]
struct Stored {
    record: SessionRecord,
    used: u64,
}

impl Store {
    /// Stores a new session under `digest`, after making room as the module doc says.
    pub async fn open_session(
        &self,
        digest: TokenDigest,
        record: SessionRecord,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.open_session(digest, record, rules, now).await;
        }
        self.write(Change::Harmless, move |txn| {
            while count_of(txn, &record.user)? >= rules.max_per_user.max(1) {
                if !drop_stalest_of(txn, &record.user)? {
                    break;
                }
            }
            let full = |txn: &WriteTransaction| -> Result<bool> {
                Ok(txn.open_table(WEB_SESSIONS)?.len()? >= rules.max_sessions.max(1) as u64)
            };
            let batch = if full(txn)? { usize::MAX } else { SWEEP_BATCH };
            sweep(txn, &rules, now, batch)?;
            while full(txn)? {
                if !drop_from_busiest(txn)? {
                    break;
                }
            }
            put(txn, &digest, record)
        })
        .await
    }

    /// The live session behind `digest`, marked as used at `now`; one that is over is dropped.
    pub async fn session(
        &self,
        digest: TokenDigest,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>> {
        if let Some(pg) = self.postgres() {
            return pg.session(digest, rules, now).await;
        }
        // Not synced to disk by itself (the next durable commit carries it): a crash can only
        // lose touches, which makes a session look older, never younger. Saves an fsync per page.
        self.blocking(move |redb| {
            let mut txn = redb.db.begin_write()?;
            txn.set_durability(redb::Durability::None).map_err(redb::Error::from)?;
            let found = touch(&txn, &digest, &rules, now)?;
            txn.commit()?;
            Ok(found)
        })
        .await
    }

    /// Claims one code attempt of the half-open session behind `digest`, atomically: however
    /// many requests race, on however many nodes, at most `max_code_attempts` are granted.
    pub async fn claim_code_attempt(
        &self,
        digest: TokenDigest,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<CodeClaim> {
        if let Some(pg) = self.postgres() {
            return pg.claim_code_attempt(digest, rules, now).await;
        }
        self.write(Change::Harmless, move |txn| {
            let claimed = rules.claim(get(txn, &digest)?.map(|s| s.record), now);
            match claimed.write {
                Write::Touch(record) => put(txn, &digest, record)?,
                Write::Delete => remove(txn, &digest)?,
            }
            Ok(claimed.claim)
        })
        .await
    }

    /// Keeps (or clears) an enrolment secret in the session behind `digest`, without counting
    /// as a use; the session as changed, if it is still there.
    pub async fn set_session_enrolment(
        &self,
        digest: TokenDigest,
        enrolment: Option<Vec<u8>>,
    ) -> Result<Option<SessionRecord>> {
        if let Some(pg) = self.postgres() {
            return pg.set_session_enrolment(digest, enrolment).await;
        }
        self.write(Change::Harmless, move |txn| {
            let Some(mut stored) = get(txn, &digest)? else { return Ok(None) };
            stored.record.enrolment = enrolment;
            let record = stored.record.clone();
            txn.open_table(WEB_SESSIONS)?.insert(digest.as_slice(), encode(&stored)?.as_slice())?;
            Ok(Some(record))
        })
        .await
    }

    /// Ends one session (sign-out, too many wrong codes).
    pub async fn close_session(&self, digest: TokenDigest) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.close_session(digest).await;
        }
        self.write(Change::Harmless, move |txn| remove(txn, &digest)).await
    }

    /// Ends every session of `user` (disabled, removed, password reset by an admin).
    pub async fn close_sessions_of(&self, user: &UserName) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.close_sessions_of(user).await;
        }
        let user = user.clone();
        self.write(Change::Harmless, move |txn| {
            while drop_stalest_of(txn, &user)? {}
            Ok(())
        })
        .await
    }

    /// Sessions stored (live or not yet swept): what the caps bound.
    pub async fn session_count(&self) -> Result<u64> {
        if let Some(pg) = self.postgres() {
            return pg.session_count().await;
        }
        self.read(|txn| Ok(txn.open_table(WEB_SESSIONS)?.len()?)).await
    }
}

#[cfg(test)]
mod tests;
