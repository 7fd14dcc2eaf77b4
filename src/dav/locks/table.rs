//! The lock rules, one copy for both places locks live: a user's locks by path key, and what
//! conflicts with what (as dav-server's `MemLs`, which passes litmus, except that a
//! collection's depth-0 lock is not listed in its members' lockdiscovery).
//!
//! The memory table keeps one [`UserTable`] per user for good; the shared lock system builds
//! one per question from the store's rows. Either way the same functions decide.

use dav_server::davpath::DavPath;
use dav_server::ls::DavLock;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use xmltree::{Element, EmitterConfig};

use super::{LockLimits, Refusal};

/// One user's locks by path key (segments joined by `/`, no leading or trailing slash; the
/// root is empty), so that a subtree is one contiguous key range.
#[derive(Debug, Default)]
pub(super) struct UserTable {
    by_path: BTreeMap<Vec<u8>, Vec<DavLock>>,
}

/// Why a LOCK is not granted.
#[derive(Debug)]
pub(super) enum Denied {
    /// Another lock is in the way (dav-server answers 423).
    Conflict(DavLock),
    /// A cap refuses it.
    Refused(Refusal),
}

/// Who asks, and with which lock tokens.
pub(super) struct Conditions<'a> {
    /// The principal dav-server names for the request (a token is its taker's only).
    pub principal: Option<&'a str>,
    /// Whether any principal's token counts (dav-server's choice per operation).
    pub ignore_principal: bool,
    /// The lock tokens the request submitted (`If:` header).
    pub tokens: &'a [String],
}

impl Conditions<'_> {
    fn holds(&self, lock: &DavLock) -> bool {
        self.tokens.contains(&lock.token)
            && (self.ignore_principal || self.principal == lock.principal.as_deref())
    }
}

/// What a LOCK asks for.
pub(super) struct Wanted<'a> {
    /// The resource, as dav-server names it (the lock root answered).
    pub path: &'a DavPath,
    /// Who asks: the lock's taker.
    pub principal: Option<&'a str>,
    /// The app password the request came with: revoking it releases the lock.
    pub taker: Option<&'a crate::store::AppPasswordId>,
    /// The client's `<D:owner>`, returned in lockdiscovery.
    pub owner: Option<&'a Element>,
    /// Already capped at the `lock_timeout` in force.
    pub timeout: Duration,
    /// A shared lock rather than an exclusive one.
    pub shared: bool,
    /// Depth: infinity (members of a collection too).
    pub deep: bool,
}

impl Wanted<'_> {
    /// The lock granted for this request at `now`.
    pub fn granted(&self, now: SystemTime) -> DavLock {
        DavLock {
            token: uuid::Uuid::new_v4().urn().to_string(),
            path: Box::new(self.path.clone()),
            principal: self.principal.map(str::to_string),
            owner: self.owner.map(|o| Box::new(o.clone())),
            timeout_at: now.checked_add(self.timeout),
            timeout: Some(self.timeout),
            shared: self.shared,
            deep: self.deep,
        }
    }
}

impl UserTable {
    /// Adds `lock` on `key`, after those already there.
    pub fn insert(&mut self, key: Vec<u8>, lock: DavLock) {
        self.by_path.entry(key).or_default().push(lock);
    }

    /// How many locks the table holds.
    pub fn count(&self) -> usize {
        self.by_path.values().map(Vec::len).sum()
    }

    /// True if it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Whether a LOCK of `wanted` on `key` may be granted, the user holding `total` live locks
    /// in all. Expired locks must have been swept.
    pub fn may_grant(
        &self,
        key: &[u8],
        wanted: &Wanted,
        total: usize,
        limits: &LockLimits,
    ) -> Result<(), Denied> {
        let nobody = Conditions { principal: None, ignore_principal: true, tokens: &[] };
        self.conflict_on_path(key, &nobody, wanted.shared).map_err(Denied::Conflict)?;
        if wanted.deep {
            self.conflict_below(key, &nobody, wanted.shared).map_err(Denied::Conflict)?;
        }
        if self.by_path.get(key).map_or(0, Vec::len) >= limits.per_path {
            return Err(Denied::Refused(Refusal::TooManyOnPath));
        }
        if total >= limits.per_user {
            return Err(Denied::Refused(Refusal::TooManyForUser));
        }
        Ok(())
    }

    /// Whether `who` may change `key` (and, with `deep`, everything below it). Expired locks
    /// must have been swept.
    pub fn check(&self, key: &[u8], who: &Conditions, deep: bool) -> Result<(), DavLock> {
        self.conflict_on_path(key, who, false)?;
        if deep {
            self.conflict_below(key, who, false)?;
        }
        Ok(())
    }

    /// The locks on `key` and the deep ones above it.
    pub fn discover(&self, key: &[u8]) -> Vec<DavLock> {
        let mut found = Vec::new();
        for (ancestor, is_self) in chain(key) {
            if let Some(locks) = self.by_path.get(ancestor) {
                found.extend(locks.iter().filter(|l| is_self || l.deep).cloned());
            }
        }
        found
    }

    /// Drops every expired lock.
    pub fn sweep(&mut self, now: SystemTime) {
        self.by_path.retain(|_, locks| {
            locks.retain(|l| is_live(l, now));
            !locks.is_empty()
        });
    }

    /// Drops the expired locks on `key` and its ancestors.
    pub fn sweep_path(&mut self, key: &[u8], now: SystemTime) {
        for (ancestor, _) in chain(key) {
            if let Some(locks) = self.by_path.get_mut(ancestor) {
                locks.retain(|l| is_live(l, now));
                if locks.is_empty() {
                    self.by_path.remove(ancestor);
                }
            }
        }
    }

    /// The key of the live lock `token` on `key` or above it (as `MemLs`: any depth).
    fn holder_of(&self, key: &[u8], token: &str, now: SystemTime) -> Option<Vec<u8>> {
        chain(key)
            .map(|(ancestor, _)| ancestor)
            .find(|ancestor| {
                self.by_path
                    .get(*ancestor)
                    .is_some_and(|locks| locks.iter().any(|l| l.token == token && is_live(l, now)))
            })
            .map(<[u8]>::to_vec)
    }

    /// The live lock `token` on `key` or above it, to refresh.
    pub fn live_mut(&mut self, key: &[u8], token: &str, now: SystemTime) -> Option<&mut DavLock> {
        let holder = self.holder_of(key, token, now)?;
        self.by_path.get_mut(&holder)?.iter_mut().find(|l| l.token == token)
    }

    /// Removes the live lock `token` on `key` or above it; false if there is none.
    pub fn remove(&mut self, key: &[u8], token: &str, now: SystemTime) -> bool {
        let Some(holder) = self.holder_of(key, token, now) else { return false };
        if let Some(locks) = self.by_path.get_mut(&holder) {
            locks.retain(|l| l.token != token);
            if locks.is_empty() {
                self.by_path.remove(&holder);
            }
        }
        true
    }

    /// Removes the lock `token` wherever it is, live or not; false if there is none.
    pub fn remove_token(&mut self, token: &str) -> bool {
        let Some(key) = self.key_of_token(token) else { return false };
        if let Some(locks) = self.by_path.get_mut(&key) {
            locks.retain(|l| l.token != token);
            if locks.is_empty() {
                self.by_path.remove(&key);
            }
        }
        true
    }

    /// Whether the lock `token` is in the table, live or not.
    pub fn holds_token(&self, token: &str) -> bool {
        self.key_of_token(token).is_some()
    }

    fn key_of_token(&self, token: &str) -> Option<Vec<u8>> {
        (self.by_path.iter())
            .find(|(_, locks)| locks.iter().any(|l| l.token == token))
            .map(|(key, _)| key.clone())
    }

    /// Drops the locks of `key` and of everything below it.
    pub fn remove_subtree(&mut self, key: &[u8]) {
        let doomed: Vec<Vec<u8>> = self.subtree(key).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.by_path.remove(&k);
        }
    }

    /// The first lock on `key` or a deep lock above it that `who` does not hold (as `MemLs`:
    /// an exclusive one at once; a shared one only if `who` holds none and `shared_ok` is
    /// false).
    fn conflict_on_path(
        &self,
        key: &[u8],
        who: &Conditions,
        shared_ok: bool,
    ) -> Result<(), DavLock> {
        let mut holds_one = false;
        let mut first_shared: Option<&DavLock> = None;
        for (ancestor, is_self) in chain(key) {
            let Some(locks) = self.by_path.get(ancestor) else { continue };
            for lock in locks.iter().filter(|l| is_self || l.deep) {
                if who.holds(lock) {
                    holds_one = true;
                } else if !lock.shared {
                    return Err(lock.clone());
                } else if !shared_ok {
                    first_shared.get_or_insert(lock);
                }
            }
        }
        match first_shared {
            Some(lock) if !holds_one => Err(lock.clone()),
            _ => Ok(()),
        }
    }

    /// The first lock on `key` or below it that conflicts (exclusive, or any with `shared_ok`
    /// false) and that `who` does not hold.
    fn conflict_below(&self, key: &[u8], who: &Conditions, shared_ok: bool) -> Result<(), DavLock> {
        for (_, locks) in self.subtree(key) {
            if let Some(lock) = locks.iter().find(|l| (!l.shared || !shared_ok) && !who.holds(l)) {
                return Err(lock.clone());
            }
        }
        Ok(())
    }

    /// The entries of `key` and of everything below it.
    fn subtree<'a>(
        &'a self,
        key: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<DavLock>)> {
        self.by_path.range(key.to_vec()..).take_while(move |(k, _)| k.starts_with(key)).filter(
            move |(k, _)| key.is_empty() || k.get(key.len()) == Some(&b'/') || k.len() == key.len(),
        )
    }
}

fn is_live(lock: &DavLock, now: SystemTime) -> bool {
    lock.timeout_at.is_none_or(|at| at > now)
}

/// `path` as a key: its segments joined by `/` (so `/a/b/` and `/a/b` are the same resource).
pub(super) fn path_key(path: &DavPath) -> Vec<u8> {
    let segments: Vec<&[u8]> =
        path.as_bytes().split(|&b| b == b'/').filter(|s| !s.is_empty()).collect();
    segments.join(&b'/')
}

/// The keys from the root down to `key` itself, each with whether it is `key`.
pub(super) fn chain(key: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let ends = key.iter().enumerate().filter(|&(_, &b)| b == b'/').map(|(i, _)| i);
    let ancestors = (!key.is_empty()).then_some(0).into_iter().chain(ends);
    ancestors
        .map(move |end| (key.get(..end).unwrap_or(key), false))
        .chain(std::iter::once((key, true)))
}

/// The size of an element written as XML.
pub(super) fn xml_size(element: &Element) -> usize {
    xml_of(element).map_or(usize::MAX, |xml| xml.len())
}

/// An element written as XML, without a document declaration.
pub(super) fn xml_of(element: &Element) -> Option<String> {
    let mut out = Vec::new();
    let config = EmitterConfig::new().write_document_declaration(false);
    element.write_with_config(&mut out, config).ok()?;
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_and_chains_walk_from_the_root() {
        let path = |p: &str| DavPath::new(p).unwrap();
        assert_eq!(path_key(&path("/a/b/")), b"a/b");
        assert_eq!(path_key(&path("/")), b"");
        let keys: Vec<(&[u8], bool)> = chain(b"a/b").collect();
        assert_eq!(keys, [(&b""[..], false), (&b"a"[..], false), (&b"a/b"[..], true)]);
        assert_eq!(chain(b"").collect::<Vec<_>>(), [(&b""[..], true)]);
    }
}
