//! WebDAV locks in PostgreSQL: the rows behind [`crate::store::locks`].
//!
//! A LOCK takes a transaction-scoped advisory lock on a hash of the user's name first, so one
//! user's LOCKs take turns across every node (as the mount's mutex makes them take turns in one
//! process), then reads the live rows it decides on and inserts the new one. Every other
//! statement is one statement. "Live" is `timeout_at > $now` with the caller's time.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::Row;

use super::{Pg, from_bigint, stored_time, to_bigint};
use crate::store::locks::{LockScope, LockView, StoredLock};
use crate::store::props::subtree;
use crate::store::{Result, UserName};

const COLUMNS: &str =
    "token, path, href, deep, shared, principal, owner_xml, timeout_secs, timeout_at, app_password";

/// The predicate of a scope: `$2` the chain, `$3`..`$5` the subtree's key and its bounds.
const IN_SCOPE: &str = "(path = ANY($2) OR path = $3 OR (path >= $4 AND path < $5))";

/// The SQL parameters of a scope: the chain, then the subtree's key and bounds (an empty
/// range when the scope has no subtree).
fn scope_params(scope: LockScope<'_>) -> (Vec<String>, String, String, String) {
    let chain = scope.chain.to_vec();
    match scope.below {
        Some(key) => {
            let [(own, _), (below, end)] = subtree(key);
            (chain, own, below, end)
        }
        // No key is empty (keys start with '/'), and the range ['1', '1') is empty.
        None => (chain, String::new(), "1".into(), "1".into()),
    }
}

fn lock_of(row: &Row) -> Result<StoredLock> {
    Ok(StoredLock {
        token: row.get(0),
        path: row.get(1),
        href: row.get(2),
        deep: row.get(3),
        shared: row.get(4),
        principal: row.get(5),
        owner_xml: row.get(6),
        timeout: Duration::from_secs(from_bigint(row.get(7), "locks.timeout_secs")?),
        timeout_at: row.get(8),
        taker: row.get(9),
    })
}

fn locks_of(rows: &[Row]) -> Result<Vec<StoredLock>> {
    rows.iter().map(lock_of).collect()
}

/// `now + timeout`, as stored (far in the future rather than an overflow).
fn deadline(now: DateTime<Utc>, timeout: Duration) -> DateTime<Utc> {
    let at = chrono::TimeDelta::from_std(timeout)
        .ok()
        .and_then(|t| now.checked_add_signed(t))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    stored_time(at)
}

impl Pg {
    pub(in crate::store) async fn grant_lock<T: Send>(
        &self,
        user: &UserName,
        scope: LockScope<'_>,
        now: DateTime<Utc>,
        decide: impl FnOnce(LockView) -> (Option<StoredLock>, T) + Send,
    ) -> Result<T> {
        let user = user.as_str();
        let (chain, own, below, end) = scope_params(scope);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('davgate-locks:' || $1, 0))",
            &[&user],
        )
        .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM locks WHERE owner = $1 AND timeout_at > $6 AND {IN_SCOPE}
             ORDER BY path, granted"
        );
        let rows = txn.query(&sql, &[&user, &chain, &own, &below, &end, &now]).await?;
        let counted = "SELECT count(*) FROM locks WHERE owner = $1 AND timeout_at > $2";
        let total: i64 = txn.query_one(counted, &[&user, &now]).await?.get(0);
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let (granted, answer) = decide(LockView { locks: locks_of(&rows)?, total });
        if let Some(lock) = granted {
            let timeout = to_bigint(lock.timeout.as_secs(), "locks.timeout_secs")?;
            txn.execute(
                "INSERT INTO locks (owner, token, path, href, deep, shared, principal, owner_xml,
                                    timeout_secs, timeout_at, app_password)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &user,
                    &lock.token,
                    &lock.path,
                    &lock.href,
                    &lock.deep,
                    &lock.shared,
                    &lock.principal,
                    &lock.owner_xml,
                    &timeout,
                    &stored_time(lock.timeout_at),
                    &lock.taker,
                ],
            )
            .await?;
        }
        txn.commit().await?;
        Ok(answer)
    }

    pub(in crate::store) async fn live_locks(
        &self,
        user: &UserName,
        scope: Option<LockScope<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredLock>> {
        let client = self.client().await?;
        let user = user.as_str();
        let rows = match scope {
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM locks WHERE owner = $1 AND timeout_at > $2
                     ORDER BY path, granted"
                );
                client.query(&sql, &[&user, &now]).await?
            }
            Some(scope) => {
                let (chain, own, below, end) = scope_params(scope);
                let sql = format!(
                    "SELECT {COLUMNS} FROM locks WHERE owner = $1 AND timeout_at > $6
                     AND {IN_SCOPE} ORDER BY path, granted"
                );
                client.query(&sql, &[&user, &chain, &own, &below, &end, &now]).await?
            }
        };
        locks_of(&rows)
    }

    pub(in crate::store) async fn refresh_lock(
        &self,
        user: &UserName,
        chain: &[String],
        token: &str,
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredLock>> {
        let client = self.client().await?;
        let seconds = to_bigint(timeout.as_secs(), "locks.timeout_secs")?;
        let sql = format!(
            "UPDATE locks SET timeout_secs = $4, timeout_at = $5
             WHERE owner = $1 AND token = $2 AND path = ANY($3) AND timeout_at > $6
             RETURNING {COLUMNS}"
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&user.as_str(), &token, &chain, &seconds, &deadline(now, timeout), &now];
        let row = client.query_opt(&sql, &params).await?;
        row.as_ref().map(lock_of).transpose()
    }

    pub(in crate::store) async fn remove_lock(
        &self,
        user: &UserName,
        chain: &[String],
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM locks
                 WHERE owner = $1 AND token = $2 AND path = ANY($3) AND timeout_at > $4",
                &[&user.as_str(), &token, &chain, &now],
            )
            .await?;
        Ok(removed > 0)
    }

    pub(in crate::store) async fn remove_locks_below(
        &self,
        user: &UserName,
        key: &str,
    ) -> Result<()> {
        let client = self.client().await?;
        let [(own, _), (below, end)] = subtree(key);
        client
            .execute(
                "DELETE FROM locks WHERE owner = $1 AND (path = $2 OR (path >= $3 AND path < $4))",
                &[&user.as_str(), &own, &below, &end],
            )
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn sweep_locks(&self, before: DateTime<Utc>) -> Result<u64> {
        let client = self.client().await?;
        Ok(client.execute("DELETE FROM locks WHERE timeout_at < $1", &[&before]).await?)
    }
}
