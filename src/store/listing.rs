//! The dead properties of one folder and of its direct children, in one read: what a
//! `PROPFIND Depth: 1` lists, so that a listing costs one store round trip instead of one per
//! entry (on PostgreSQL, a thousand files were a thousand queries).

use super::props::subtree;
use super::tables::DEAD_PROPS;
use super::{DeadProp, Result, Store, UserName, decode};

impl Store {
    /// Every (path, property) of `folder` itself and of the paths directly below it, in path
    /// then property order (each path's properties in the order [`Store::dead_props`] gives).
    pub async fn dead_props_listing(
        &self,
        user: &UserName,
        folder: &str,
    ) -> Result<Vec<(String, DeadProp)>> {
        if let Some(pg) = self.postgres() {
            return pg.dead_props_listing(user, folder).await;
        }
        let (user, folder) = (user.clone(), folder.to_string());
        self.read(move |txn| {
            let table = txn.open_table(DEAD_PROPS)?;
            let user = user.as_str();
            let [(own, _), (below, end)] = subtree(&folder);
            let mut out = Vec::new();
            for entry in table.range((user, own.as_str(), "")..)? {
                let (k, v) = entry?;
                let (u, p, _) = k.value();
                if u != user || p != own {
                    break;
                }
                out.push((p.to_string(), decode(v.value())?));
            }
            for entry in table.range((user, below.as_str(), "")..(user, end.as_str(), ""))? {
                let (k, v) = entry?;
                let (_, p, _) = k.value();
                if p != own && is_direct_child(p, &below) {
                    out.push((p.to_string(), decode(v.value())?));
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Whether `path` (a key below `below`, the folder's key with its `/`) names an entry of that
/// folder rather than something deeper.
pub(super) fn is_direct_child(path: &str, below: &str) -> bool {
    path.strip_prefix(below).is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestStore, conformance};
    use super::is_direct_child;
    use crate::store::{DeadProp, UserName};

    fn named(name: &str) -> DeadProp {
        DeadProp { namespace: Some("urn:x".into()), name: name.into(), prefix: None, xml: None }
    }

    conformance!(a_listing_holds_the_folder_and_its_entries_but_nothing_deeper);
    async fn a_listing_holds_the_folder_and_its_entries_but_nothing_deeper(t: TestStore) {
        let (alice, bob) = (UserName::parse("alice").unwrap(), UserName::parse("bob").unwrap());
        for (user, path, name) in [
            (&alice, "/", "root"),
            (&alice, "/d", "folder"),
            (&alice, "/d/a", "b"),
            (&alice, "/d/a", "a"),
            (&alice, "/d/z", "z"),
            (&alice, "/d/a/deep", "deep"),
            (&alice, "/d0", "sibling"),
            (&bob, "/d/a", "bobs"),
        ] {
            t.store.patch_dead_props(user, path, vec![(true, named(name))]).await.unwrap();
        }
        let listed = |folder: &'static str| {
            let store = t.store.clone();
            let alice = alice.clone();
            async move {
                let rows = store.dead_props_listing(&alice, folder).await.unwrap();
                rows.into_iter().map(|(p, d)| format!("{p} {}", d.name)).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed("/d").await, ["/d folder", "/d/a a", "/d/a b", "/d/z z"]);
        assert_eq!(listed("/").await, ["/ root", "/d folder", "/d0 sibling"]);
        assert_eq!(listed("/d/z").await, ["/d/z z"]);
    }

    #[test]
    fn a_direct_child_is_one_name_below_the_folder() {
        assert!(is_direct_child("/a/b", "/a/"));
        assert!(!is_direct_child("/a/b/c", "/a/"));
        assert!(!is_direct_child("/a/", "/a/"));
        assert!(is_direct_child("/x", "/"));
        assert!(!is_direct_child("/x/y", "/"));
    }
}
