//! Dead properties in PostgreSQL: the redb file `props.rs`'s operations, same budget rules
//! (its cost functions are shared), same answers.
//!
//! A change to one user's properties first locks that user's usage row, so budgets hold when
//! two nodes write at once; the properties and the usage change in the same transaction.

use deadpool_postgres::Transaction;

use super::{Pg, from_bigint, to_bigint};
use crate::store::props::{adjusted, cost, grows_past, is_counted, subtree, sum, too_large};
use crate::store::{DeadProp, PatchOutcome, PropLimits, Result, UserName, decode, encode};

/// `path` itself or below it, as a range over `COLLATE "C"` (no LIKE escaping).
const IN_SUBTREE: &str = "(path = $2 OR (path >= $3 AND path < $4))";

/// Locks and reads `user`'s usage row (creating it at zero).
async fn lock_usage(txn: &Transaction<'_>, user: &str) -> Result<(u64, u64)> {
    txn.execute(
        "INSERT INTO dead_props_usage (owner, count, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (owner) DO NOTHING",
        &[&user],
    )
    .await?;
    let row = txn
        .query_one(
            "SELECT count, bytes FROM dead_props_usage WHERE owner = $1 FOR UPDATE",
            &[&user],
        )
        .await?;
    Ok((from_bigint(row.get(0), "usage.count")?, from_bigint(row.get(1), "usage.bytes")?))
}

async fn set_usage(txn: &Transaction<'_>, user: &str, (count, bytes): (u64, u64)) -> Result<()> {
    let (count, bytes) = (to_bigint(count, "usage.count")?, to_bigint(bytes, "usage.bytes")?);
    txn.execute(
        "UPDATE dead_props_usage SET count = $2, bytes = $3 WHERE owner = $1",
        &[&user, &count, &bytes],
    )
    .await?;
    Ok(())
}

/// Every (path, key, record) of `user` in `path`'s subtree.
async fn collect(
    txn: &Transaction<'_>,
    user: &str,
    path: &str,
) -> Result<Vec<(String, String, Vec<u8>)>> {
    let [(own, _), (below, end)] = subtree(path);
    let sql =
        format!("SELECT path, prop, record FROM dead_props WHERE owner = $1 AND {IN_SUBTREE}");
    let rows = txn.query(&sql, &[&user, &own, &below, &end]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// Deletes `path`'s subtree; returns its cost.
async fn remove_subtree(txn: &Transaction<'_>, user: &str, path: &str) -> Result<(u64, u64)> {
    let [(own, _), (below, end)] = subtree(path);
    let sql =
        format!("DELETE FROM dead_props WHERE owner = $1 AND {IN_SUBTREE} RETURNING prop, record");
    let rows = txn.query(&sql, &[&user, &own, &below, &end]).await?;
    Ok(sum(rows.iter().map(|r| cost(r.get(0), r.get(1)))))
}

impl Pg {
    pub(in crate::store) async fn dead_props(
        &self,
        user: &UserName,
        path: &str,
    ) -> Result<Vec<DeadProp>> {
        let client = self.client().await?;
        let sql = "SELECT record FROM dead_props WHERE owner = $1 AND path = $2 ORDER BY prop";
        let rows = client.query(sql, &[&user.as_str(), &path]).await?;
        rows.iter().map(|r| decode(r.get(0))).collect()
    }

    /// [`crate::store::Store::dead_props_listing`]: one range scan of the primary key, the
    /// deeper paths filtered out by the database.
    pub(in crate::store) async fn dead_props_listing(
        &self,
        user: &UserName,
        folder: &str,
    ) -> Result<Vec<(String, DeadProp)>> {
        let [(own, _), (below, end)] = subtree(folder);
        let client = self.client().await?;
        let sql = "SELECT path, record FROM dead_props WHERE owner = $1
                   AND (path = $2 OR (path >= $3 AND path < $4
                        AND strpos(substr(path, char_length($3) + 1), '/') = 0))
                   ORDER BY path, prop";
        let rows = client.query(sql, &[&user.as_str(), &own, &below, &end]).await?;
        rows.iter().map(|r| Ok((r.get(0), decode(r.get(1))?))).collect()
    }

    pub(in crate::store) async fn dead_prop(
        &self,
        user: &UserName,
        path: &str,
        key: &str,
    ) -> Result<Option<DeadProp>> {
        let client = self.client().await?;
        let sql = "SELECT record FROM dead_props WHERE owner = $1 AND path = $2 AND prop = $3";
        let row = client.query_opt(sql, &[&user.as_str(), &path, &key]).await?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    /// All or nothing: refused changes roll the transaction back.
    pub(in crate::store) async fn patch_dead_props(
        &self,
        user: &UserName,
        path: &str,
        changes: Vec<(bool, DeadProp)>,
    ) -> Result<PatchOutcome> {
        let limits = self.prop_limits;
        let refused = too_large(&changes, &limits);
        if !refused.is_empty() {
            return Ok(PatchOutcome::Refused(refused));
        }
        let user = user.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let before = lock_usage(&txn, user).await?;
        let (mut now, mut growing) = (before, Vec::new());
        for (i, (set, prop)) in changes.iter().enumerate() {
            let key = DeadProp::key(prop.namespace.as_deref(), &prop.name);
            let removed = txn
                .query_opt(
                    "DELETE FROM dead_props WHERE owner = $1 AND path = $2 AND prop = $3 RETURNING record",
                    &[&user, &path, &key],
                )
                .await?;
            let old = removed.map_or((0, 0), |r| cost(&key, r.get(0)));
            let new = if *set {
                let record = encode(prop)?;
                txn.execute(
                    "INSERT INTO dead_props (owner, path, prop, record) VALUES ($1, $2, $3, $4)",
                    &[&user, &path, &key, &record],
                )
                .await?;
                cost(&key, &record)
            } else {
                (0, 0)
            };
            if new.0 > old.0 || new.1 > old.1 {
                growing.push(i);
            }
            now = adjusted(now, new, old);
        }
        if grows_past(before, now, &limits) {
            txn.rollback().await?;
            return Ok(PatchOutcome::Refused(growing));
        }
        set_usage(&txn, user, now).await?;
        txn.commit().await?;
        Ok(PatchOutcome::Stored)
    }

    pub(in crate::store) async fn copy_dead_props(
        &self,
        user: &UserName,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        self.transplant(user, from, to, true).await
    }

    pub(in crate::store) async fn move_dead_props(
        &self,
        user: &UserName,
        from: &str,
        to: &str,
    ) -> Result<()> {
        self.transplant(user, from, to, false).await?;
        Ok(())
    }

    /// As redb's `transplant`: `to`'s subtree becomes `from`'s (copied or moved); a copy over
    /// the budget carries only the per-file properties and answers false.
    async fn transplant(&self, user: &UserName, from: &str, to: &str, keep: bool) -> Result<bool> {
        let limits: PropLimits = self.prop_limits;
        let user = user.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let mut usage = lock_usage(&txn, user).await?;
        let mut moving = collect(&txn, user, from).await?;
        usage = adjusted(usage, (0, 0), remove_subtree(&txn, user, to).await?);
        if !keep {
            usage = adjusted(usage, (0, 0), remove_subtree(&txn, user, from).await?);
        }
        let before = usage;
        let mut after = adjusted(before, sum(moving.iter().map(|(_, k, v)| cost(k, v))), (0, 0));
        let fits = !keep || (after.0 <= limits.count && after.1 <= limits.bytes);
        if !fits {
            moving.retain(|(_, key, _)| !is_counted(key));
            after = before;
        }
        for (p, key, record) in moving {
            let target = format!("{to}{}", p.get(from.len()..).unwrap_or(""));
            txn.execute(
                "INSERT INTO dead_props (owner, path, prop, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner, path, prop) DO UPDATE SET record = EXCLUDED.record",
                &[&user, &target, &key, &record],
            )
            .await?;
        }
        set_usage(&txn, user, after).await?;
        txn.commit().await?;
        Ok(fits)
    }

    pub(in crate::store) async fn dead_props_usage(&self, user: &UserName) -> Result<(u64, u64)> {
        let client = self.client().await?;
        let sql = "SELECT count, bytes FROM dead_props_usage WHERE owner = $1";
        match client.query_opt(sql, &[&user.as_str()]).await? {
            Some(r) => {
                Ok((from_bigint(r.get(0), "usage.count")?, from_bigint(r.get(1), "usage.bytes")?))
            }
            None => Ok((0, 0)),
        }
    }

    pub(in crate::store) async fn delete_dead_props(
        &self,
        user: &UserName,
        path: &str,
    ) -> Result<()> {
        let user = user.as_str();
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let usage = lock_usage(&txn, user).await?;
        let removed = remove_subtree(&txn, user, path).await?;
        set_usage(&txn, user, adjusted(usage, (0, 0), removed)).await?;
        txn.commit().await?;
        Ok(())
    }
}
