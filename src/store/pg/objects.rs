//! The object-storage namespace in PostgreSQL ([`crate::store::objects`]).
//!
//! A change to a path first locks the rows it depends on (`FOR UPDATE` on the target,
//! `FOR SHARE` on the parent folder), so two nodes racing a MKCOL and a DELETE of its parent,
//! or two PUTs of one file, take turns; the loser sees what the winner did.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{Pg, from_bigint, stored_time, to_bigint};
use crate::store::objects::{NewContent, NsOutcome, NsRefusal, ObjectEntry, parent_of};
use crate::store::{Error, Result, UserName};

/// `path` itself or below it, as a range over `COLLATE "C"` (`/` sorts just before `0`).
const IN_SUBTREE: &str = "(path = $2 OR (path >= $2 || '/' AND path < $2 || '0'))";

const COLUMNS: &str = "path, is_dir, size, modified, blob";

fn entry(row: &Row) -> Result<ObjectEntry> {
    Ok(ObjectEntry {
        path: row.get(0),
        is_dir: row.get(1),
        size: from_bigint(row.get(2), "object_entries.size")?,
        modified: row.get(3),
        blob: row.get(4),
    })
}

/// Whether `parent` is a folder (the home always is), holding it until commit.
async fn parent_is_folder(txn: &Transaction<'_>, user: &str, parent: &str) -> Result<bool> {
    if parent == "/" {
        return Ok(true);
    }
    let row = txn
        .query_opt(
            "SELECT is_dir FROM object_entries WHERE owner = $1 AND path = $2 FOR SHARE",
            &[&user, &parent],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

/// The entry at `path`, locked until commit.
async fn lock_entry(txn: &Transaction<'_>, user: &str, path: &str) -> Result<Option<ObjectEntry>> {
    let sql =
        format!("SELECT {COLUMNS} FROM object_entries WHERE owner = $1 AND path = $2 FOR UPDATE");
    txn.query_opt(&sql, &[&user, &path]).await?.as_ref().map(entry).transpose()
}

/// Adds `delta` bytes to `user`'s usage, unless that takes it past the user's quota (a
/// decrease always passes): false when refused. The row lock makes two nodes' commits take
/// turns, and the second is checked against what the first left.
async fn add_usage(txn: &Transaction<'_>, user: &str, delta: i64) -> Result<bool> {
    txn.execute(
        "INSERT INTO object_usage (owner, used) VALUES ($1, 0) ON CONFLICT (owner) DO NOTHING",
        &[&user],
    )
    .await?;
    let added = txn
        .execute(
            "UPDATE object_usage SET used = GREATEST(used + $2::bigint, 0)
             WHERE owner = $1 AND ($2::bigint <= 0 OR used + $2::bigint <= COALESCE(
                 (SELECT quota_bytes FROM users WHERE name = $1), 9223372036854775807))",
            &[&user, &delta],
        )
        .await?;
    Ok(added == 1)
}

/// Queues blobs for collection once `after` has passed.
async fn to_garbage(txn: &Transaction<'_>, blobs: &[String], after: DateTime<Utc>) -> Result<()> {
    for blob in blobs {
        txn.execute(
            "INSERT INTO object_garbage (blob, collect_after) VALUES ($1, $2)
             ON CONFLICT (blob) DO NOTHING",
            &[blob, &after],
        )
        .await?;
    }
    Ok(())
}

impl Pg {
    pub(in crate::store) async fn object_entry(
        &self,
        user: &UserName,
        path: &str,
    ) -> Result<Option<ObjectEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM object_entries WHERE owner = $1 AND path = $2");
        let client = self.client().await?;
        client.query_opt(&sql, &[&user.as_str(), &path]).await?.as_ref().map(entry).transpose()
    }

    pub(in crate::store) async fn object_children(
        &self,
        user: &UserName,
        path: &str,
    ) -> Result<Vec<ObjectEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM object_entries WHERE owner = $1 AND parent = $2 ORDER BY path"
        );
        let client = self.client().await?;
        client.query(&sql, &[&user.as_str(), &path]).await?.iter().map(entry).collect()
    }

    pub(in crate::store) async fn object_mkdir(
        &self,
        user: &UserName,
        path: &str,
        at: DateTime<Utc>,
    ) -> Result<NsOutcome<()>> {
        let (user, parent, at) = (user.as_str(), parent_of(path), stored_time(at));
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        if !parent_is_folder(&txn, user, parent).await? {
            return Ok(Err(NsRefusal::NoParent));
        }
        let made = txn
            .execute(
                "INSERT INTO object_entries (owner, path, parent, is_dir, size, modified)
                 VALUES ($1, $2, $3, true, 0, $4) ON CONFLICT (owner, path) DO NOTHING",
                &[&user, &path, &parent, &at],
            )
            .await?;
        txn.commit().await?;
        Ok(if made == 1 { Ok(()) } else { Err(NsRefusal::Exists) })
    }

    pub(in crate::store) async fn object_pending(
        &self,
        blob: &str,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO object_pending (blob, node, started_at) VALUES ($1, $2, $3)",
                &[&blob, &node, &stored_time(at)],
            )
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn object_abandon(
        &self,
        blob: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let gone = txn.execute("DELETE FROM object_pending WHERE blob = $1", &[&blob]).await?;
        if gone == 1 {
            // Unfinished: its multipart upload may still be open (if the abort did not reach).
            txn.execute(
                "INSERT INTO object_garbage (blob, collect_after, unfinished) VALUES ($1, $2, true)
                 ON CONFLICT (blob) DO NOTHING",
                &[&blob, &stored_time(at)],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn object_commit(
        &self,
        user: &UserName,
        path: &str,
        content: &NewContent,
        collect_after: DateTime<Utc>,
    ) -> Result<NsOutcome<()>> {
        let (user, parent) = (user.as_str(), parent_of(path));
        let size = to_bigint(content.size, "object_entries.size")?;
        let modified = stored_time(content.modified);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        if !parent_is_folder(&txn, user, parent).await? {
            return Ok(Err(NsRefusal::NoParent));
        }
        let old = lock_entry(&txn, user, path).await?;
        match &old {
            Some(e) if e.is_dir => return Ok(Err(NsRefusal::IsAFolder)),
            Some(_) if content.create_new => return Ok(Err(NsRefusal::Exists)),
            _ => {}
        }
        let replaced = to_bigint(old.as_ref().map_or(0, |e| e.size), "object_entries.size")?;
        if !add_usage(&txn, user, size - replaced).await? {
            return Ok(Err(NsRefusal::OverQuota));
        }
        txn.execute(
            "INSERT INTO object_entries (owner, path, parent, is_dir, size, modified, blob)
             VALUES ($1, $2, $3, false, $4, $5, $6)
             ON CONFLICT (owner, path) DO UPDATE
             SET size = EXCLUDED.size, modified = EXCLUDED.modified, blob = EXCLUDED.blob",
            &[&user, &path, &parent, &size, &modified, &content.blob],
        )
        .await?;
        let replaced: Vec<String> = old.and_then(|e| e.blob).into_iter().collect();
        to_garbage(&txn, &replaced, stored_time(collect_after)).await?;
        let claimed =
            txn.execute("DELETE FROM object_pending WHERE blob = $1", &[&content.blob]).await?;
        if claimed != 1 {
            // The collector took it for a dead node's upload and may remove it: never point at it.
            return Err(Error::UploadAbandoned(content.blob.clone()));
        }
        txn.commit().await?;
        Ok(Ok(()))
    }

    pub(in crate::store) async fn object_remove(
        &self,
        user: &UserName,
        path: &str,
        folder: bool,
        collect_after: DateTime<Utc>,
    ) -> Result<NsOutcome<()>> {
        let user = user.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        match lock_entry(&txn, user, path).await? {
            None => return Ok(Err(NsRefusal::NotFound)),
            Some(e) if e.is_dir != folder => {
                return Ok(Err(if folder { NsRefusal::NotAFolder } else { NsRefusal::IsAFolder }));
            }
            Some(_) => {}
        }
        let sql = format!(
            "DELETE FROM object_entries WHERE owner = $1 AND {IN_SUBTREE} RETURNING blob, size"
        );
        let rows = txn.query(&sql, &[&user, &path]).await?;
        let blobs: Vec<String> =
            rows.iter().filter_map(|r| r.get::<_, Option<String>>(0)).collect();
        let freed = rows.iter().map(|r| r.get::<_, i64>(1)).fold(0i64, i64::saturating_add);
        add_usage(&txn, user, -freed).await?;
        to_garbage(&txn, &blobs, stored_time(collect_after)).await?;
        txn.commit().await?;
        Ok(Ok(()))
    }

    pub(in crate::store) async fn object_rename(
        &self,
        user: &UserName,
        from: &str,
        to: &str,
    ) -> Result<NsOutcome<()>> {
        let user = user.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        if lock_entry(&txn, user, from).await?.is_none() {
            return Ok(Err(NsRefusal::NotFound));
        }
        if !parent_is_folder(&txn, user, parent_of(to)).await? {
            return Ok(Err(NsRefusal::NoParent));
        }
        if lock_entry(&txn, user, to).await?.is_some() {
            return Ok(Err(NsRefusal::Exists));
        }
        // Paths are ASCII (escaped keys): characters are bytes.
        let cut = i32::try_from(from.len() + 1).unwrap_or(i32::MAX);
        let sql = format!(
            "UPDATE object_entries SET
                 path = $3 || substr(path, $5),
                 parent = CASE WHEN path = $2 THEN $4 ELSE $3 || substr(parent, $5) END
             WHERE owner = $1 AND {IN_SUBTREE}"
        );
        txn.execute(&sql, &[&user, &from, &to, &parent_of(to), &cut]).await?;
        txn.commit().await?;
        Ok(Ok(()))
    }

    pub(in crate::store) async fn object_usage(&self, user: &UserName) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT used FROM object_usage WHERE owner = $1", &[&user.as_str()])
            .await?;
        row.map_or(Ok(0), |r| from_bigint(r.get(0), "object_usage.used"))
    }

    pub(in crate::store) async fn object_depth(&self, user: &UserName, path: &str) -> Result<u64> {
        // Keys have no trailing slash: an entry's depth is its count of '/'.
        let sql = format!(
            "SELECT COALESCE(MAX(length(path) - length(replace(path, '/', ''))), 0)::bigint
             FROM object_entries WHERE owner = $1 AND {IN_SUBTREE}"
        );
        let client = self.client().await?;
        let row = client.query_one(&sql, &[&user.as_str(), &path]).await?;
        from_bigint(row.get(0), "object_entries depth")
    }

    pub(in crate::store) async fn object_pending_of(&self, node: &str) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows =
            client.query("SELECT blob FROM object_pending WHERE node = $1", &[&node]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(in crate::store) async fn object_collected(&self, blob: &str) -> Result<()> {
        let client = self.client().await?;
        client.execute("DELETE FROM object_garbage WHERE blob = $1", &[&blob]).await?;
        Ok(())
    }
}
