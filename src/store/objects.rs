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
    /// `collect_after`, the new one stops being pending.
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

    /// The bytes `user`'s files take.
    pub async fn object_usage(&self, user: &UserName) -> Result<u64> {
        self.objects()?.object_usage(user).await
    }

    /// Up to `limit` garbage blobs due at `now`.
    pub async fn object_garbage_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.objects()?.object_garbage_due(now, limit).await
    }

    /// Hands to the garbage every blob still pending that started before `started_before`:
    /// the uploads of a node that died (or lost the store) before it could commit or abandon
    /// them. Returns how many.
    pub async fn object_stale_pending(
        &self,
        started_before: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        self.objects()?.object_stale_pending(started_before, now).await
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
    use super::parent_of;

    #[test]
    fn the_parent_of_a_path_is_its_folder() {
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a/b/c"), "/a/b");
        assert_eq!(parent_of("/"), "/");
    }
}
