//! Dead properties: whatever a client stores with PROPPATCH, kept per user and path.
//!
//! Keys are (user, path, `{namespace}name`), so one user's properties can never be read or
//! overwritten through another user's paths, and a subtree (a folder and everything below it)
//! is one contiguous key range: COPY, MOVE and DELETE carry or drop it in one transaction.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::tables::DEAD_PROPS;
use super::{Result, Store, UserName, decode, encode};

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
fn subtree(path: &str) -> [(String, String); 2] {
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
    let mut table = txn.open_table(DEAD_PROPS)?;
    for (p, key, _) in doomed {
        table.remove((user, p.as_str(), key.as_str()))?;
    }
    Ok(())
}

/// Copies `from`'s subtree onto `to` (replacing what `to` had); with `keep_source` false, moves it.
fn transplant(
    txn: &WriteTransaction,
    user: &str,
    from: &str,
    to: &str,
    keep_source: bool,
) -> Result<()> {
    let moving = collect(txn, user, from)?;
    remove_subtree(txn, user, to)?;
    if !keep_source {
        remove_subtree(txn, user, from)?;
    }
    let mut table = txn.open_table(DEAD_PROPS)?;
    for (p, key, value) in moving {
        let target = format!("{to}{}", &p[from.len()..]);
        table.insert((user, target.as_str(), key.as_str()), value.as_slice())?;
    }
    Ok(())
}

impl Store {
    /// The dead properties of one path.
    pub fn dead_props(&self, user: &UserName, path: &str) -> Result<Vec<DeadProp>> {
        self.read(|txn| {
            let table = txn.open_table(DEAD_PROPS)?;
            let mut out = Vec::new();
            for entry in table.range((user.as_str(), path, "")..)? {
                let (k, v) = entry?;
                let (u, p, _) = k.value();
                if u != user.as_str() || p != path {
                    break;
                }
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// One dead property of a path.
    pub fn dead_prop(&self, user: &UserName, path: &str, key: &str) -> Result<Option<DeadProp>> {
        self.read(|txn| {
            let table = txn.open_table(DEAD_PROPS)?;
            table.get((user.as_str(), path, key))?.map(|v| decode(v.value())).transpose()
        })
    }

    /// Sets (`true`) or removes (`false`) properties of a path, all in one transaction.
    pub fn patch_dead_props(
        &self,
        user: &UserName,
        path: &str,
        patch: &[(bool, DeadProp)],
    ) -> Result<()> {
        self.write(false, |txn| {
            let mut table = txn.open_table(DEAD_PROPS)?;
            for (set, prop) in patch {
                let key = DeadProp::key(prop.namespace.as_deref(), &prop.name);
                if *set {
                    table.insert((user.as_str(), path, key.as_str()), encode(prop)?.as_slice())?;
                } else {
                    table.remove((user.as_str(), path, key.as_str()))?;
                }
            }
            Ok(())
        })
    }

    /// After a COPY: `to`'s subtree gets `from`'s properties (its own are dropped).
    pub fn copy_dead_props(&self, user: &UserName, from: &str, to: &str) -> Result<()> {
        self.write(false, |txn| transplant(txn, user.as_str(), from, to, true))
    }

    /// After a MOVE: `from`'s properties now belong to `to`.
    pub fn move_dead_props(&self, user: &UserName, from: &str, to: &str) -> Result<()> {
        self.write(false, |txn| transplant(txn, user.as_str(), from, to, false))
    }

    /// After a DELETE: the subtree's properties go too.
    pub fn delete_dead_props(&self, user: &UserName, path: &str) -> Result<()> {
        self.write(false, |txn| remove_subtree(txn, user.as_str(), path))
    }

    /// Every dead property of a user (when the user is removed).
    pub(super) fn delete_all_dead_props(txn: &WriteTransaction, user: &UserName) -> Result<()> {
        remove_subtree(txn, user.as_str(), "/")
    }
}

#[cfg(test)]
mod tests {
    use super::subtree;

    #[test]
    fn a_subtree_is_the_path_and_what_lies_below_it() {
        assert_eq!(subtree("/a"), [("/a".into(), "".into()), ("/a/".into(), "/a0".into())]);
        assert_eq!(subtree("/"), [("/".into(), "".into()), ("/".into(), "0".into())]);
    }
}
