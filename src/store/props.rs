//! Dead properties: whatever a client stores with PROPPATCH, kept per user and path.
//!
//! Keys are (user, path, `{namespace}name`), so one user's properties can never be read or
//! overwritten through another user's paths, and a subtree (a folder and everything below it)
//! is one contiguous key range: COPY, MOVE and DELETE carry or drop it in one transaction.
//!
//! Each user has a budget ([`PropLimits`]), kept as a running (count, bytes) in
//! `dead_props_usage`, updated in the same transaction as the properties themselves: checking it
//! costs one read, never a scan.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::tables::{DEAD_PROPS, DEAD_PROPS_USAGE};
use super::{Change, Result, Store, UserName, decode, encode};

/// What one user's dead properties may take. Windows Explorer sets four `Win32*` properties on
/// every file it uploads, and davgate records `oc:checksums` after each verified upload: those
/// come one set per file, so they are only capped in size; every other property also counts
/// towards the user's budget.
#[derive(Debug, Clone, Copy)]
pub struct PropLimits {
    /// Largest value (the whole property element, as XML) of a counted property.
    pub value_bytes: usize,
    /// Largest value of a per-file (uncounted) property.
    pub per_file_value_bytes: usize,
    /// Counted properties per user.
    pub count: u64,
    /// Bytes of counted properties per user, as stored (key plus encoded record).
    pub bytes: u64,
}

impl Default for PropLimits {
    fn default() -> Self {
        Self { value_bytes: 16 * 1024, per_file_value_bytes: 1024, count: 10_000, bytes: 16 << 20 }
    }
}

/// What became of a PROPPATCH's changes (RFC 4918 §9.2: all or nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOutcome {
    /// Every change was made.
    Stored,
    /// Nothing was changed: the changes at these indices of the patch cannot be stored (too
    /// large, or over the user's budget); the others failed with them.
    Refused(Vec<usize>),
}

/// Keys of the per-file properties, which do not count towards the budget.
const PER_FILE: [&str; 5] = [
    "{urn:schemas-microsoft-com:}Win32CreationTime",
    "{urn:schemas-microsoft-com:}Win32LastAccessTime",
    "{urn:schemas-microsoft-com:}Win32LastModifiedTime",
    "{urn:schemas-microsoft-com:}Win32FileAttributes",
    "{http://owncloud.org/ns}checksums",
];

pub(super) fn is_counted(key: &str) -> bool {
    !PER_FILE.contains(&key)
}

/// (count, bytes) of one stored property towards the budget.
pub(super) fn cost(key: &str, stored: &[u8]) -> (u64, u64) {
    if is_counted(key) { (1, (key.len() + stored.len()) as u64) } else { (0, 0) }
}

fn usage(txn: &WriteTransaction, user: &str) -> Result<(u64, u64)> {
    Ok(txn.open_table(DEAD_PROPS_USAGE)?.get(user)?.map_or((0, 0), |v| v.value()))
}

fn set_usage(txn: &WriteTransaction, user: &str, (count, bytes): (u64, u64)) -> Result<()> {
    let mut table = txn.open_table(DEAD_PROPS_USAGE)?;
    if count == 0 && bytes == 0 {
        table.remove(user)?;
    } else {
        table.insert(user, (count, bytes))?;
    }
    Ok(())
}

/// `usage` plus `added` minus `removed`, never below zero.
pub(super) fn adjusted(usage: (u64, u64), added: (u64, u64), removed: (u64, u64)) -> (u64, u64) {
    (
        usage.0.saturating_add(added.0).saturating_sub(removed.0),
        usage.1.saturating_add(added.1).saturating_sub(removed.1),
    )
}

/// True when a change took the usage from `before` to `after`, grew it, and so went past what
/// `limits` allow: a change that shrinks or keeps the usage always passes, so that a user over
/// the limit (after it was lowered) can still clean up.
pub(super) fn grows_past(before: (u64, u64), after: (u64, u64), limits: &PropLimits) -> bool {
    let grows = after.0 > before.0 || after.1 > before.1;
    grows && (after.0 > limits.count || after.1 > limits.bytes)
}

/// The total of `costs`, as (properties, bytes).
pub(super) fn sum(costs: impl Iterator<Item = (u64, u64)>) -> (u64, u64) {
    costs.fold((0, 0), |acc, c| (acc.0 + c.0, acc.1 + c.1))
}

/// Schema 1 → 2: every user's usage, from what is stored.
pub(super) fn rebuild_usage(txn: &WriteTransaction) -> Result<()> {
    let mut totals = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for entry in txn.open_table(DEAD_PROPS)?.iter()? {
        let (k, v) = entry?;
        let (user, _, key) = k.value();
        let c = cost(key, v.value());
        let total = totals.entry(user.to_string()).or_default();
        *total = adjusted(*total, c, (0, 0));
    }
    for (user, total) in totals {
        set_usage(txn, &user, total)?;
    }
    Ok(())
}

/// One dead property as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadProp {
    /// XML namespace, if any.
    pub namespace: Option<String>,
    /// Local name.
    pub name: String,
    /// The prefix the client used.
    pub prefix: Option<String>,
    /// The whole property element as XML.
    pub xml: Option<Vec<u8>>,
}

impl DeadProp {
    /// The property's key: `{namespace}name` (Clark notation).
    pub fn key(namespace: Option<&str>, name: &str) -> String {
        format!("{{{}}}{name}", namespace.unwrap_or(""))
    }
}

/// Keys of `path` itself and of everything below it, as (path, prop-key) bounds.
pub(super) fn subtree(path: &str) -> [(String, String); 2] {
    let below = if path == "/" { "/".to_string() } else { format!("{path}/") };
    // '0' is the character after '/', so [below, below-with-'0') is exactly the descendants.
    let end = format!("{}0", &below[..below.len() - 1]);
    [(path.to_string(), String::new()), (below, end)]
}

/// Every (path, key, value) of `user` in `path`'s subtree.
fn collect(
    txn: &WriteTransaction,
    user: &str,
    path: &str,
) -> Result<Vec<(String, String, Vec<u8>)>> {
    let table = txn.open_table(DEAD_PROPS)?;
    let mut out = Vec::new();
    let [(own, _), (below, end)] = subtree(path);
    for entry in table.range((user, own.as_str(), "")..)? {
        let (k, v) = entry?;
        let (u, p, key) = k.value();
        if u != user || p != own {
            break;
        }
        out.push((p.to_string(), key.to_string(), v.value().to_vec()));
    }
    for entry in table.range((user, below.as_str(), "")..(user, end.as_str(), ""))? {
        let (k, v) = entry?;
        let (_, p, key) = k.value();
        if p == own {
            continue; // the root "/" is both itself and below itself: counted once
        }
        out.push((p.to_string(), key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

fn remove_subtree(txn: &WriteTransaction, user: &str, path: &str) -> Result<()> {
    let doomed = collect(txn, user, path)?;
    if doomed.is_empty() {
        return Ok(());
    }
    let removed = sum(doomed.iter().map(|(_, key, value)| cost(key, value)));
    {
        let mut table = txn.open_table(DEAD_PROPS)?;
        for (p, key, _) in &doomed {
            table.remove((user, p.as_str(), key.as_str()))?;
        }
    }
    set_usage(txn, user, adjusted(usage(txn, user)?, (0, 0), removed))
}

/// Copies `from`'s subtree onto `to` (replacing what `to` had); with `keep_source` false, moves
/// it. A copy that would take the user over `limits` copies only the per-file properties and
/// returns false (RFC 4918 §9.8.2: dead properties SHOULD be copied).
fn transplant(
    txn: &WriteTransaction,
    user: &str,
    from: &str,
    to: &str,
    keep_source: bool,
    limits: &PropLimits,
) -> Result<bool> {
    let mut moving = collect(txn, user, from)?;
    remove_subtree(txn, user, to)?;
    if !keep_source {
        remove_subtree(txn, user, from)?;
    }
    let before = usage(txn, user)?;
    let mut after = adjusted(before, sum(moving.iter().map(|(_, k, v)| cost(k, v))), (0, 0));
    let fits = !keep_source || (after.0 <= limits.count && after.1 <= limits.bytes);
    if !fits {
        moving.retain(|(_, key, _)| !is_counted(key));
        after = before;
    }
    {
        let mut table = txn.open_table(DEAD_PROPS)?;
        for (p, key, value) in moving {
            let target = format!("{to}{}", &p[from.len()..]);
            table.insert((user, target.as_str(), key.as_str()), value.as_slice())?;
        }
    }
    set_usage(txn, user, after)?;
    Ok(fits)
}

/// The indices of `patch` that cannot be stored, by size alone.
pub(super) fn too_large(patch: &[(bool, DeadProp)], limits: &PropLimits) -> Vec<usize> {
    let is_too_large = |prop: &DeadProp| {
        let key = DeadProp::key(prop.namespace.as_deref(), &prop.name);
        let cap = if is_counted(&key) { limits.value_bytes } else { limits.per_file_value_bytes };
        prop.xml.as_ref().is_some_and(|xml| xml.len() > cap)
    };
    let refused = patch.iter().enumerate().filter(|(_, (set, prop))| *set && is_too_large(prop));
    refused.map(|(i, _)| i).collect()
}

/// Every dead property of `user` and their budget (with the account: see
/// [`super::accounts`]).
pub(super) fn remove_all_of(txn: &WriteTransaction, user: &UserName) -> Result<()> {
    remove_subtree(txn, user.as_str(), "/")?;
    txn.open_table(DEAD_PROPS_USAGE)?.remove(user.as_str())?;
    Ok(())
}

/// Applies a PROPPATCH in `txn`: the outcome, and whether to commit (all or nothing).
fn patch(
    txn: &WriteTransaction,
    user: &str,
    path: &str,
    patch: &[(bool, DeadProp)],
    limits: &PropLimits,
) -> Result<PatchOutcome> {
    let before = usage(txn, user)?;
    let (mut now, mut growing) = (before, Vec::new());
    {
        let mut table = txn.open_table(DEAD_PROPS)?;
        for (i, (set, prop)) in patch.iter().enumerate() {
            let key = DeadProp::key(prop.namespace.as_deref(), &prop.name);
            let old = table.get((user, path, key.as_str()))?.map(|v| cost(&key, v.value()));
            let old = old.unwrap_or((0, 0));
            let new = if *set {
                let record = encode(prop)?;
                table.insert((user, path, key.as_str()), record.as_slice())?;
                cost(&key, &record)
            } else {
                table.remove((user, path, key.as_str()))?;
                (0, 0)
            };
            if new.0 > old.0 || new.1 > old.1 {
                growing.push(i);
            }
            now = adjusted(now, new, old);
        }
    }
    if grows_past(before, now, limits) {
        return Ok(PatchOutcome::Refused(growing));
    }
    set_usage(txn, user, now)?;
    Ok(PatchOutcome::Stored)
}

impl Store {
    /// The dead properties of one path.
    pub async fn dead_props(&self, user: &UserName, path: &str) -> Result<Vec<DeadProp>> {
        if let Some(pg) = self.postgres() {
            return pg.dead_props(user, path).await;
        }
        let (user, path) = (user.clone(), path.to_string());
        self.read(move |txn| {
            let table = txn.open_table(DEAD_PROPS)?;
            let mut out = Vec::new();
            for entry in table.range((user.as_str(), path.as_str(), "")..)? {
                let (k, v) = entry?;
                let (u, p, _) = k.value();
                if u != user.as_str() || p != path {
                    break;
                }
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
    }

    /// One dead property of a path.
    pub async fn dead_prop(
        &self,
        user: &UserName,
        path: &str,
        key: &str,
    ) -> Result<Option<DeadProp>> {
        if let Some(pg) = self.postgres() {
            return pg.dead_prop(user, path, key).await;
        }
        let (user, path, key) = (user.clone(), path.to_string(), key.to_string());
        self.read(move |txn| {
            let table = txn.open_table(DEAD_PROPS)?;
            let found = table.get((user.as_str(), path.as_str(), key.as_str()))?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Sets (`true`) or removes (`false`) properties of a path, all or none in one transaction:
    /// none if a value is too large or the changes would take the user over their budget.
    pub async fn patch_dead_props(
        &self,
        user: &UserName,
        path: &str,
        changes: Vec<(bool, DeadProp)>,
    ) -> Result<PatchOutcome> {
        if let Some(pg) = self.postgres() {
            return pg.patch_dead_props(user, path, changes).await;
        }
        let refused = too_large(&changes, &self.prop_limits());
        if !refused.is_empty() {
            return Ok(PatchOutcome::Refused(refused));
        }
        let (user, path) = (user.clone(), path.to_string());
        self.blocking(move |redb| {
            let txn = redb.db.begin_write()?;
            let outcome = patch(&txn, user.as_str(), &path, &changes, &redb.prop_limits)?;
            match outcome {
                PatchOutcome::Stored => txn.commit()?,
                PatchOutcome::Refused(_) => txn.abort()?,
            }
            Ok(outcome)
        })
        .await
    }

    /// After a COPY: `to`'s subtree gets `from`'s properties (its own are dropped). False if
    /// the user's budget left no room for the counted ones, which were then not copied.
    pub async fn copy_dead_props(&self, user: &UserName, from: &str, to: &str) -> Result<bool> {
        if let Some(pg) = self.postgres() {
            return pg.copy_dead_props(user, from, to).await;
        }
        self.transplant(user, from, to, true).await
    }

    /// After a MOVE: `from`'s properties now belong to `to`.
    pub async fn move_dead_props(&self, user: &UserName, from: &str, to: &str) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.move_dead_props(user, from, to).await;
        }
        self.transplant(user, from, to, false).await?;
        Ok(())
    }

    async fn transplant(&self, user: &UserName, from: &str, to: &str, keep: bool) -> Result<bool> {
        let limits = self.prop_limits();
        let (user, from, to) = (user.clone(), from.to_string(), to.to_string());
        self.write(Change::Harmless, move |txn| {
            transplant(txn, user.as_str(), &from, &to, keep, &limits)
        })
        .await
    }

    /// (count, bytes) of a user's counted dead properties.
    pub async fn dead_props_usage(&self, user: &UserName) -> Result<(u64, u64)> {
        if let Some(pg) = self.postgres() {
            return pg.dead_props_usage(user).await;
        }
        let user = user.clone();
        self.read(move |txn| {
            let table = txn.open_table(DEAD_PROPS_USAGE)?;
            Ok(table.get(user.as_str())?.map_or((0, 0), |v| v.value()))
        })
        .await
    }

    /// After a DELETE: the subtree's properties go too.
    pub async fn delete_dead_props(&self, user: &UserName, path: &str) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.delete_dead_props(user, path).await;
        }
        let (user, path) = (user.clone(), path.to_string());
        self.write(Change::Harmless, move |txn| remove_subtree(txn, user.as_str(), &path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestStore, conformance};
    use super::*;

    fn store(limits: PropLimits) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(&dir.path().join(Store::FILE_NAME), limits).unwrap();
        (dir, store)
    }

    fn prop(ns: &str, name: &str, value_len: usize) -> DeadProp {
        let xml = format!("<x:{name} xmlns:x=\"{ns}\">{}</x:{name}>", "v".repeat(value_len));
        DeadProp {
            namespace: Some(ns.into()),
            name: name.into(),
            prefix: Some("x".into()),
            xml: Some(xml.into_bytes()),
        }
    }

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    const SMALL: PropLimits =
        PropLimits { value_bytes: 200, per_file_value_bytes: 150, count: 3, bytes: 100_000 };

    conformance!(a_value_over_the_size_cap_refuses_the_whole_patch, super::SMALL);
    async fn a_value_over_the_size_cap_refuses_the_whole_patch(t: TestStore) {
        let store = t.store.clone();
        let patch = vec![(true, prop("urn:x", "a", 10)), (true, prop("urn:x", "b", 500))];
        let outcome = store.patch_dead_props(&alice(), "/f", patch).await.unwrap();
        assert_eq!(outcome, PatchOutcome::Refused(vec![1]));
        assert!(store.dead_props(&alice(), "/f").await.unwrap().is_empty(), "all or nothing");
    }

    conformance!(the_budget_counts_properties_and_frees_them_when_removed, super::SMALL);
    async fn the_budget_counts_properties_and_frees_them_when_removed(t: TestStore) {
        let store = t.store.clone();
        let set = async |path: &str, name: &str| {
            store.patch_dead_props(&alice(), path, vec![(true, prop("urn:x", name, 10))]).await
        };
        for name in ["a", "b", "c"] {
            assert_eq!(set("/f", name).await.unwrap(), PatchOutcome::Stored);
        }
        let again = set("/f", "a").await.unwrap();
        assert_eq!(again, PatchOutcome::Stored, "rewriting the same size fits");
        assert_eq!(set("/g", "d").await.unwrap(), PatchOutcome::Refused(vec![0]));
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap().0, 3);
        let remove = vec![(false, prop("urn:x", "b", 0))];
        assert_eq!(
            store.patch_dead_props(&alice(), "/f", remove).await.unwrap(),
            PatchOutcome::Stored
        );
        assert_eq!(set("/g", "d").await.unwrap(), PatchOutcome::Stored);
        store.delete_dead_props(&alice(), "/f").await.unwrap();
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap().0, 1);
        let bob = UserName::parse("bob").unwrap();
        assert_eq!(store.dead_props_usage(&bob).await.unwrap(), (0, 0), "budgets are per user");
    }

    conformance!(per_file_properties_are_capped_in_size_but_not_counted, super::SMALL);
    async fn per_file_properties_are_capped_in_size_but_not_counted(t: TestStore) {
        let store = t.store.clone();
        let ms = "urn:schemas-microsoft-com:";
        for i in 0..10 {
            let patch = vec![(true, prop(ms, "Win32CreationTime", 30))];
            let outcome = store.patch_dead_props(&alice(), &format!("/f{i}"), patch).await.unwrap();
            assert_eq!(outcome, PatchOutcome::Stored);
        }
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap(), (0, 0));
        let big = vec![(true, prop(ms, "Win32FileAttributes", 180))];
        assert_eq!(
            store.patch_dead_props(&alice(), "/f0", big).await.unwrap(),
            PatchOutcome::Refused(vec![0])
        );
    }

    conformance!(a_copy_over_the_budget_leaves_the_counted_properties_behind, super::SMALL);
    async fn a_copy_over_the_budget_leaves_the_counted_properties_behind(t: TestStore) {
        let store = t.store.clone();
        let ms = "urn:schemas-microsoft-com:";
        let patch = vec![(true, prop("urn:x", "a", 10)), (true, prop(ms, "Win32CreationTime", 30))];
        store.patch_dead_props(&alice(), "/d/f", patch).await.unwrap();
        store.patch_dead_props(&alice(), "/d", vec![(true, prop("urn:x", "b", 10))]).await.unwrap();
        assert!(!store.copy_dead_props(&alice(), "/d", "/e").await.unwrap());
        assert_eq!(
            store.dead_props(&alice(), "/e/f").await.unwrap().len(),
            1,
            "only the per-file one"
        );
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap().0, 2);
        store.move_dead_props(&alice(), "/d", "/m").await.unwrap();
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap().0, 2, "a move changes nothing");
        assert!(store.copy_dead_props(&alice(), "/m/f", "/n").await.unwrap(), "one more fits");
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap().0, 3);
    }

    #[tokio::test]
    async fn a_schema_1_store_gets_its_usage_counted_at_open() {
        let (dir, store) = store(SMALL);
        store.patch_dead_props(&alice(), "/f", vec![(true, prop("urn:x", "a", 10))]).await.unwrap();
        let expected = store.dead_props_usage(&alice()).await.unwrap();
        store
            .write(Change::Harmless, |txn| {
                txn.open_table(super::super::tables::META)?.insert("schema_version", 1)?;
                txn.delete_table(DEAD_PROPS_USAGE).map_err(redb::Error::from)?;
                Ok(())
            })
            .await
            .unwrap();
        drop(store);
        let store = Store::open_file(&dir.path().join(Store::FILE_NAME)).unwrap();
        assert_eq!(store.dead_props_usage(&alice()).await.unwrap(), expected);
        assert_eq!(expected.0, 1);
    }

    #[test]
    fn a_subtree_is_the_path_and_what_lies_below_it() {
        assert_eq!(subtree("/a"), [("/a".into(), "".into()), ("/a/".into(), "/a0".into())]);
        assert_eq!(subtree("/"), [("/".into(), "".into()), ("/".into(), "0".into())]);
    }
}
