//! The redb side of the sessions: the `web_sessions` table and its two indexes (by use, by
//! user and use), kept in step by [`put`] and [`remove`], each step inside the caller's write
//! transaction.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};

use super::{SessionRecord, SessionRules, Stored, TokenDigest};
use crate::store::tables::{WEB_SESSIONS, WEB_SESSIONS_BY_USE, WEB_SESSIONS_BY_USER};
use crate::store::{Result, UserName, decode, encode};

/// The live session behind `digest`, marked as used at `now`; one that is over is dropped.
pub(super) fn touch(
    txn: &WriteTransaction,
    digest: &TokenDigest,
    rules: &SessionRules,
    now: DateTime<Utc>,
) -> Result<Option<SessionRecord>> {
    let Some(mut record) = get(txn, digest)?.map(|s| s.record) else { return Ok(None) };
    if !rules.alive(&record, now) {
        remove(txn, digest)?;
        return Ok(None);
    }
    record.last_seen = now;
    put(txn, digest, record.clone())?;
    Ok(Some(record))
}

pub(super) fn get(txn: &WriteTransaction, digest: &TokenDigest) -> Result<Option<Stored>> {
    let table = txn.open_table(WEB_SESSIONS)?;
    let stored = table.get(digest.as_slice())?;
    stored.map(|v| decode(v.value())).transpose()
}

/// Stores `record` under `digest` as the most recently used, replacing its old index entries.
pub(super) fn put(
    txn: &WriteTransaction,
    digest: &TokenDigest,
    record: SessionRecord,
) -> Result<()> {
    unindex(txn, digest)?;
    let used = {
        let by_use = txn.open_table(WEB_SESSIONS_BY_USE)?;
        by_use.last()?.map_or(0, |(k, _)| k.value().saturating_add(1))
    };
    txn.open_table(WEB_SESSIONS_BY_USE)?.insert(used, digest.as_slice())?;
    let user = record.user.as_str().to_string();
    txn.open_table(WEB_SESSIONS_BY_USER)?.insert((user.as_str(), used), digest.as_slice())?;
    let stored = Stored { record, used };
    txn.open_table(WEB_SESSIONS)?.insert(digest.as_slice(), encode(&stored)?.as_slice())?;
    Ok(())
}

/// Drops `digest`'s index entries (not the row); returns the row if there was one.
fn unindex(txn: &WriteTransaction, digest: &TokenDigest) -> Result<Option<Stored>> {
    let Some(old) = get(txn, digest)? else { return Ok(None) };
    txn.open_table(WEB_SESSIONS_BY_USE)?.remove(old.used)?;
    txn.open_table(WEB_SESSIONS_BY_USER)?.remove((old.record.user.as_str(), old.used))?;
    Ok(Some(old))
}

pub(super) fn remove(txn: &WriteTransaction, digest: &TokenDigest) -> Result<()> {
    if unindex(txn, digest)?.is_some() {
        txn.open_table(WEB_SESSIONS)?.remove(digest.as_slice())?;
    }
    Ok(())
}

fn digest_of(bytes: &[u8]) -> Option<TokenDigest> {
    bytes.try_into().ok()
}

pub(super) fn count_of(txn: &WriteTransaction, user: &UserName) -> Result<usize> {
    let by_user = txn.open_table(WEB_SESSIONS_BY_USER)?;
    let range = by_user.range((user.as_str(), 0)..=(user.as_str(), u64::MAX))?;
    Ok(range.count())
}

/// Drops `user`'s least recently used session; false if they hold none.
pub(super) fn drop_stalest_of(txn: &WriteTransaction, user: &UserName) -> Result<bool> {
    let stalest = {
        let by_user = txn.open_table(WEB_SESSIONS_BY_USER)?;
        let mut range = by_user.range((user.as_str(), 0)..=(user.as_str(), u64::MAX))?;
        range.next().transpose()?.map(|(k, v)| (k.value().1, digest_of(v.value())))
    };
    let Some((used, digest)) = stalest else { return Ok(false) };
    match digest {
        Some(digest) if get(txn, &digest)?.is_some() => remove(txn, &digest)?,
        // An index entry without its row (never written so): drop the entry itself.
        _ => {
            txn.open_table(WEB_SESSIONS_BY_USER)?.remove((user.as_str(), used))?;
        }
    }
    Ok(true)
}

/// Drops the least recently used session of the account holding the most (the least recently
/// used account among equals); false if there is none. A scan: it runs only when the table is
/// full of live sessions.
pub(super) fn drop_from_busiest(txn: &WriteTransaction) -> Result<bool> {
    let busiest = {
        let by_user = txn.open_table(WEB_SESSIONS_BY_USER)?;
        let mut best: Option<(usize, u64, String)> = None;
        let mut current: Option<(String, usize, u64)> = None;
        let mut settle = |done: Option<(String, usize, u64)>| {
            if let Some((user, count, last)) = done {
                let better =
                    best.as_ref().is_none_or(|(c, l, _)| count > *c || (count == *c && last < *l));
                if better {
                    best = Some((count, last, user));
                }
            }
        };
        for entry in by_user.iter()? {
            let (key, _) = entry?;
            let (user, used) = key.value();
            match current.as_mut() {
                Some((u, count, last)) if u == user => {
                    *count += 1;
                    *last = (*last).max(used);
                }
                _ => settle(current.replace((user.to_string(), 1, used))),
            }
        }
        settle(current);
        best.map(|(_, _, user)| user)
    };
    match busiest.map(|u| UserName::parse(&u)) {
        Some(Ok(user)) => drop_stalest_of(txn, &user),
        Some(Err(e)) => Err(e.into()),
        None => Ok(false),
    }
}

/// Drops sessions over at `now` from the least recently used end, up to the first live one or
/// `limit` of them.
pub(super) fn sweep(
    txn: &WriteTransaction,
    rules: &SessionRules,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<()> {
    for _ in 0..limit {
        let stalest = {
            let by_use = txn.open_table(WEB_SESSIONS_BY_USE)?;
            by_use.first()?.map(|(k, v)| (k.value(), digest_of(v.value())))
        };
        let Some((used, digest)) = stalest else { return Ok(()) };
        match digest.map(|d| get(txn, &d).map(|s| (d, s))).transpose()? {
            Some((_, Some(stored))) if rules.alive(&stored.record, now) => return Ok(()),
            Some((digest, Some(_))) => remove(txn, &digest)?,
            // An index entry without its row (never written so): drop the entry itself.
            _ => {
                txn.open_table(WEB_SESSIONS_BY_USE)?.remove(used)?;
            }
        }
    }
    Ok(())
}
