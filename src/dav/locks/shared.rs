//! The cluster's lock system: every lock a row in the store (PostgreSQL), so a lock taken
//! through one node is honoured by all of them.
//!
//! Each operation reads the store, builds the [`UserTable`] of the rows it concerns and asks the
//! same rules as the memory table. A LOCK decides inside the store's transaction, which holds
//! the user's lock cluster-wide ([`Store::grant_lock`]). Only `discover` answers from a
//! per-request snapshot (see [`super::RequestLocks`]).
//!
//! Keys are stored as `/` plus the key's bytes percent-encoded (all but ASCII letters, digits
//! and `/-._~`): ASCII whatever a client named, and a key's subtree is still the key range
//! `[key/, key0)` the store's range predicates expect.

use chrono::{DateTime, Utc};
use dav_server::davpath::DavPath;
use dav_server::ls::DavLock;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use xmltree::Element;

use super::table::{Conditions, Denied, UserTable, Wanted, chain, xml_of};
use super::{LockLimits, SWEEP_EVERY};
use crate::store::{LockScope, LockView, Store, StoredLock, UserName};

/// How long an expired row stays before a sweep deletes it: expired rows are ignored anyway,
/// and the margin keeps a node whose clock runs ahead from deleting what a node behind it
/// still honours.
pub(super) const SWEEP_AFTER: Duration = Duration::from_secs(3600);

/// Why a shared lock operation could not be answered.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The store failed (or could not be reached).
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A row could not be read back as a lock (a hand-edited row).
    #[error("a stored lock is unreadable: {0}")]
    Corrupt(&'static str),
}

/// The store's locks, from this node.
pub(super) struct Shared {
    store: Store,
    last_sweep: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The locks `store` keeps (it must be one that [`Store::keeps_locks`]).
    pub fn new(store: Store) -> Self {
        Self { store, last_sweep: Mutex::new(None) }
    }

    /// Grants `wanted` on `key`, deciding inside the store's per-user transaction; then
    /// sweeps long-expired rows if due.
    pub async fn lock(
        &self,
        user: &UserName,
        now: SystemTime,
        key: Vec<u8>,
        wanted: &Wanted<'_>,
        limits: &LockLimits,
    ) -> Result<Result<DavLock, Denied>, Failure> {
        let chain = chain_keys(&key);
        let below = stored_key(&key);
        let scope = LockScope { chain: &chain, below: wanted.deep.then_some(below.as_str()) };
        // Without a deep request the subtree is not needed to decide; the path's own locks are
        // on the chain.
        let decided = self
            .store
            .grant_lock(user, scope, utc(now), |view: LockView| {
                let table = match table_of(view.locks) {
                    Ok(table) => table,
                    Err(e) => return (None, Err(e)),
                };
                if let Err(denied) = table.may_grant(&key, wanted, view.total, limits) {
                    return (None, Ok(Err(denied)));
                }
                let lock = wanted.granted(now);
                match stored(&lock, &key, wanted.taker) {
                    Some(row) => (Some(row), Ok(Ok(lock))),
                    None => (None, Err(Failure::Corrupt("the new lock's owner element"))),
                }
            })
            .await??;
        self.sweep(now).await;
        Ok(decided)
    }

    /// Removes the live lock `token` on `key` or above it; false if there is none.
    pub async fn unlock(
        &self,
        user: &UserName,
        now: SystemTime,
        key: &[u8],
        token: &str,
    ) -> Result<bool, Failure> {
        Ok(self.store.remove_lock(user, &chain_keys(key), token, utc(now)).await?)
    }

    /// Gives the live lock `token` on `key` or above it `timeout` from `now`.
    pub async fn refresh(
        &self,
        user: &UserName,
        now: SystemTime,
        key: &[u8],
        token: &str,
        timeout: Duration,
    ) -> Result<Option<DavLock>, Failure> {
        let refreshed =
            self.store.refresh_lock(user, &chain_keys(key), token, timeout, utc(now)).await?;
        refreshed.map(|row| lock_of(row).map(|(_, lock)| lock)).transpose()
    }

    /// Whether `who` may change `key` (and below it, with `deep`), from the rows on its
    /// chain (and subtree).
    pub async fn check(
        &self,
        user: &UserName,
        now: SystemTime,
        key: &[u8],
        who: &Conditions<'_>,
        deep: bool,
    ) -> Result<Result<(), DavLock>, Failure> {
        let chain = chain_keys(key);
        let below = stored_key(key);
        let scope = LockScope { chain: &chain, below: deep.then_some(below.as_str()) };
        let rows = self.store.live_locks(user, Some(scope), utc(now)).await?;
        Ok(table_of(rows)?.check(key, who, deep))
    }

    /// All of `user`'s live locks: the snapshot `discover` answers from.
    pub async fn snapshot(&self, user: &UserName, now: SystemTime) -> Result<UserTable, Failure> {
        table_of(self.store.live_locks(user, None, utc(now)).await?)
    }

    /// Drops the rows of `key`'s subtree: the resources are gone.
    pub async fn delete(&self, user: &UserName, key: &[u8]) -> Result<(), Failure> {
        Ok(self.store.remove_locks_below(user, &stored_key(key)).await?)
    }

    /// Deletes long-expired rows, at most every [`SWEEP_EVERY`] from this node. A failure only
    /// delays it (the rows are ignored anyway).
    async fn sweep(&self, now: SystemTime) {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
            let due =
                last.is_none_or(|at| now.duration_since(at).map_or(true, |age| age >= SWEEP_EVERY));
            if !due {
                return;
            }
            *last = Some(now);
        }
        let before = now.checked_sub(SWEEP_AFTER).unwrap_or(SystemTime::UNIX_EPOCH);
        if let Err(e) = self.store.sweep_locks(utc(before)).await {
            tracing::debug!("expired locks not swept: {e}");
        }
    }
}

fn utc(at: SystemTime) -> DateTime<Utc> {
    DateTime::from(at)
}

/// `key` as the store keeps it.
pub(super) fn stored_key(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    out.push('/');
    for &b in key {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stored key back as a key; None if it is not one [`stored_key`] writes.
pub(super) fn key_of(stored: &str) -> Option<Vec<u8>> {
    let bytes = stored.as_bytes().strip_prefix(b"/")?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(b);
            rest = tail;
        }
    }
    Some(out)
}

/// The stored keys of `key` and its ancestors.
fn chain_keys(key: &[u8]) -> Vec<String> {
    chain(key).map(|(k, _)| stored_key(k)).collect()
}

/// A new lock as a row; None if its owner element cannot be written as XML.
fn stored(
    lock: &DavLock,
    key: &[u8],
    taker: Option<&crate::store::AppPasswordId>,
) -> Option<StoredLock> {
    let owner_xml = match lock.owner.as_deref() {
        Some(owner) => Some(xml_of(&bound(owner))?),
        None => None,
    };
    Some(StoredLock {
        path: stored_key(key),
        href: lock.path.with_prefix().as_url_string(),
        token: lock.token.clone(),
        deep: lock.deep,
        shared: lock.shared,
        principal: lock.principal.clone(),
        taker: taker.map(|id| id.to_string()),
        owner_xml,
        timeout: lock.timeout.unwrap_or_default(),
        timeout_at: lock.timeout_at.map_or(DateTime::<Utc>::MAX_UTC, utc),
    })
}

/// `owner` with its prefix bound in its own namespace map: dav-server renames the client's
/// `<owner>` to `D:owner` without binding `D`, which writes XML that does not parse back.
fn bound(owner: &Element) -> Element {
    let mut owner = owner.clone();
    if let (Some(prefix), Some(namespace)) = (&owner.prefix, &owner.namespace) {
        let mut map = owner.namespaces.take().unwrap_or_else(xmltree::Namespace::empty);
        map.force_put(prefix.clone(), namespace.clone());
        owner.namespaces = Some(map);
    }
    owner
}

/// A row as a lock with its key. Only the lock root's href is read from `path` (dav-server
/// reads nothing else of it), so the prefix need not be split off again.
fn lock_of(row: StoredLock) -> Result<(Vec<u8>, DavLock), Failure> {
    let key = key_of(&row.path).ok_or(Failure::Corrupt("locks.path"))?;
    let path = DavPath::new(&row.href).map_err(|_| Failure::Corrupt("locks.href"))?;
    let owner = match row.owner_xml {
        Some(xml) => Some(Box::new(
            Element::parse(xml.as_bytes()).map_err(|_| Failure::Corrupt("locks.owner_xml"))?,
        )),
        None => None,
    };
    let lock = DavLock {
        token: row.token,
        path: Box::new(path),
        principal: row.principal,
        owner,
        timeout_at: Some(SystemTime::from(row.timeout_at)),
        timeout: Some(row.timeout),
        shared: row.shared,
        deep: row.deep,
    };
    Ok((key, lock))
}

fn table_of(rows: Vec<StoredLock>) -> Result<UserTable, Failure> {
    let mut table = UserTable::default();
    for row in rows {
        let (key, lock) = lock_of(row)?;
        table.insert(key, lock);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_renamed_by_dav_server_is_stored_as_xml_that_reads_back() {
        let lockinfo = b"<lockinfo xmlns='DAV:'><owner>litmus test suite</owner></lockinfo>";
        let mut owner = Element::parse(&lockinfo[..]).unwrap().take_child("owner").unwrap();
        owner.prefix = Some("D".into()); // as dav-server's LOCK handler does
        let xml = xml_of(&bound(&owner)).unwrap();
        let back = Element::parse(xml.as_bytes()).unwrap();
        assert_eq!((back.prefix.as_deref(), back.namespace.as_deref()), (Some("D"), Some("DAV:")));
        assert_eq!(back.get_text().as_deref(), Some("litmus test suite"));
    }

    #[test]
    fn stored_keys_are_ascii_and_read_back() {
        for key in [&b""[..], b"a", b"a/b c/%d", "é/ü".as_bytes(), b"\xff\x00/x"] {
            let stored = stored_key(key);
            assert!(stored.is_ascii() && stored.starts_with('/'), "{stored}");
            assert_eq!(key_of(&stored).as_deref(), Some(key));
        }
        assert_eq!(stored_key(b"a b/c"), "/a%20b/c");
        assert_eq!(key_of("no-slash"), None);
        assert_eq!(key_of("/bad%4"), None);
    }
}
