//! The namespace of files kept on object storage ([`crate::objectfs`]): folders, names, sizes,
//! times and blob keys, per user, in the store. PostgreSQL only for now: the embedded store
//! answers [`Error::NoObjectNamespace`].
//!
//! Each change is one transaction: a PUT's commit (repoint the file at its new blob, queue the
//! old one for collection, clear the blob's pending mark), a MOVE of any subtree, a DELETE of
//! any subtree. Paths are dead-property keys ([`crate::dav::props_path`]): `/a/b`, the home `/`.

use super::{Error, Result, Store, UserName};

/// A file or folder of a user's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    /// Its key path (`/a/b`).
    pub path: String,
    /// A folder, or a file.
    pub is_dir: bool,
    /// The file's length in bytes (0 for a folder).
    pub size: u64,
    /// When it was last written (or created, for a folder).
    pub modified: chrono::DateTime<chrono::Utc>,
    /// The file's blob key in the bucket (None for a folder).
    pub blob: Option<String>,
}

/// Why a namespace change was not made: the client's conflict, answered by the WebDAV layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsRefusal {
    /// The resource is not there.
    NotFound,
    /// Something is already at the target.
    Exists,
    /// The folder it would go in is not there (or is a file).
    NoParent,
    /// A folder was expected and a file is there.
    NotAFolder,
    /// A file was expected and a folder is there.
    IsAFolder,
    /// The new content would take the user past their quota.
    OverQuota,
}

/// The outcome of a namespace change: made, or refused with the reason.
pub type NsOutcome<T> = std::result::Result<T, NsRefusal>;

/// A file's new content, ready to commit.
#[derive(Debug, Clone)]
pub struct NewContent {
    /// The blob key, recorded as pending when the upload began.
    pub blob: String,
    /// Its length.
    pub size: u64,
    /// The file's new modification time.
    pub modified: chrono::DateTime<chrono::Utc>,
    /// Refuse if something is already at the path (`If-None-Match: *`).
    pub create_new: bool,
}

/// The parent key of `path` (`/a/b` → `/a`, `/a` → `/`).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
    }
}

impl Store {
    fn objects(&self) -> Result<&super::pg::Pg> {
        self.postgres().ok_or(Error::NoObjectNamespace)
    }

    /// `user`'s entry at `path`, if there is one.
    pub async fn object_entry(&self, user: &UserName, path: &str) -> Result<Option<ObjectEntry>> {
        self.objects()?.object_entry(user, path).await
    }

    /// The direct children of `user`'s folder `path`, by name.
    pub async fn object_children(&self, user: &UserName, path: &str) -> Result<Vec<ObjectEntry>> {
        self.objects()?.object_children(user, path).await
    }

    /// Creates the folder `path` (its parent must be a folder).
    pub async fn object_mkdir(
        &self,
        user: &UserName,
        path: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<NsOutcome<()>> {
        self.objects()?.object_mkdir(user, path, at).await
    }

    /// Records `blob` as being uploaded by `node`, before its first byte is sent.
    pub async fn object_pending(
        &self,
        blob: &str,
        node: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.objects()?.object_pending(blob, node, at).await
    }

    /// Moves a pending blob that will never be committed to the garbage (due at once).
    pub async fn object_abandon(
        &self,
        blob: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.objects()?.object_abandon(blob, at).await
    }

    /// Points `path` at its new content in one transaction: the old blob becomes garbage due at
    /// `collect_after`, the new one stops being pending, and the user's usage moves by the
    /// difference in size, refused ([`NsRefusal::OverQuota`]) when that passes their quota.
    pub async fn object_commit(
        &self,
        user: &UserName,
        path: &str,
        content: &NewContent,
        collect_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<NsOutcome<()>> {
        self.objects()?.object_commit(user, path, content, collect_after).await
    }

    /// Removes the file (`folder` false) or the folder and all below it (`folder` true) in one
    /// transaction; their blobs become garbage due at `collect_after`.
    pub async fn object_remove(
        &self,
        user: &UserName,
        path: &str,
        folder: bool,
        collect_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<NsOutcome<()>> {
        self.objects()?.object_remove(user, path, folder, collect_after).await
    }

    /// Renames `from` (and everything below it) to `to` in one transaction; nothing may be at
    /// `to`, whose parent must be a folder.
    pub async fn object_rename(
        &self,
        user: &UserName,
        from: &str,
        to: &str,
    ) -> Result<NsOutcome<()>> {
        self.objects()?.object_rename(user, from, to).await
    }

    /// The bytes `user`'s files take (as the commits and deletions counted them).
    pub async fn object_usage(&self, user: &UserName) -> Result<u64> {
        self.objects()?.object_usage(user).await
    }

    /// How many names the deepest entry at or below `path` has (`/a/b` has 2); 0 when there is
    /// nothing there. The nesting limit of a COPY or MOVE is checked against it.
    pub async fn object_depth(&self, user: &UserName, path: &str) -> Result<u64> {
        self.objects()?.object_depth(user, path).await
    }

    /// The blobs still pending that `node` recorded: the uploads a killed `files copy` (whose
    /// node name is its own) left, for the next run to remove.
    pub async fn object_pending_of(&self, node: &str) -> Result<Vec<String>> {
        self.objects()?.object_pending_of(node).await
    }

    /// Forgets a garbage blob the bucket no longer holds.
    pub async fn object_collected(&self, blob: &str) -> Result<()> {
        self.objects()?.object_collected(blob).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestStore, conformance};
    use super::{NewContent, NsRefusal, parent_of};
    use crate::store::{Error, Role, UserName};
    use chrono::Utc;

    fn content(blob: &str, size: u64) -> NewContent {
        NewContent { blob: blob.into(), size, modified: Utc::now(), create_new: false }
    }

    conformance!(commits_follow_the_usage_and_never_pass_the_quota);
    async fn commits_follow_the_usage_and_never_pass_the_quota(t: TestStore) {
        let alice = UserName::parse("alice").unwrap();
        let now = Utc::now();
        t.store.create_user(&alice, Role::User, "x".into(), now).await.unwrap();
        let store = &t.store;
        if let Err(Error::NoObjectNamespace) = store.object_usage(&alice).await {
            return; // the embedded store has no object namespace yet
        }
        store.set_user_quota(&alice, Some(1000)).await.unwrap();
        // Every content is an upload in flight first, as the writer makes it.
        for blob in ["a", "b", "a2", "x", "y"] {
            store.object_pending(blob, "test", now).await.unwrap();
        }
        assert_eq!(store.object_mkdir(&alice, "/d", now).await.unwrap(), Ok(()));
        assert_eq!(
            store.object_commit(&alice, "/d/a", &content("a", 600), now).await.unwrap(),
            Ok(())
        );
        let refused = store.object_commit(&alice, "/b", &content("b", 600), now).await.unwrap();
        assert_eq!(refused, Err(NsRefusal::OverQuota));
        assert_eq!(store.object_entry(&alice, "/b").await.unwrap(), None);
        assert_eq!(store.object_usage(&alice).await.unwrap(), 600);
        // An overwrite counts only the difference.
        assert_eq!(
            store.object_commit(&alice, "/d/a", &content("a2", 900), now).await.unwrap(),
            Ok(())
        );
        assert_eq!(store.object_usage(&alice).await.unwrap(), 900);
        assert_eq!(store.object_depth(&alice, "/d").await.unwrap(), 2);
        assert_eq!(store.object_remove(&alice, "/d", true, now).await.unwrap(), Ok(()));
        assert_eq!(store.object_usage(&alice).await.unwrap(), 0);

        // Two nodes committing 600 bytes each at once: one passes, one is refused.
        let other = t.second_node().await;
        let (x, y) = (content("x", 600), content("y", 600));
        let (one, two) = tokio::join!(
            store.object_commit(&alice, "/x", &x, now),
            other.object_commit(&alice, "/y", &y, now),
        );
        let mut outcomes = [one.unwrap(), two.unwrap()];
        outcomes.sort_by_key(|o| o.is_err());
        assert_eq!(outcomes, [Ok(()), Err(NsRefusal::OverQuota)]);
        assert_eq!(store.object_usage(&alice).await.unwrap(), 600);
    }

    #[test]
    fn the_parent_of_a_path_is_its_folder() {
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a/b/c"), "/a/b");
        assert_eq!(parent_of("/"), "/");
    }
}
