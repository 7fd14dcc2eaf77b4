//! The sign-in throttle's rows in PostgreSQL. A charge is one transaction: an upsert that creates
//! or locks the key's row, the throttle's decision, the row written back. Each method is the
//! [`crate::store::Store`] method of the same name.

use chrono::{DateTime, Utc};

use super::{Pg, from_bigint, stored_time, to_bigint};
use crate::store::throttle::{ThrottleKey, ThrottleRow};
use crate::store::{Error, Result};

fn failures_of(value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::OutOfRange("login_throttle.failures"))
}

fn stored_failures(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Pg {
    pub(in crate::store) async fn throttle_charge<T>(
        &self,
        key: ThrottleKey<'_>,
        now: DateTime<Utc>,
        charge: impl FnOnce(ThrottleRow) -> (ThrottleRow, T),
    ) -> Result<T> {
        let (network, now) = (key.network.to_string(), stored_time(now));
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let row = txn
            .query_one(
                "INSERT INTO login_throttle AS t (surface, network, username, failures, last_at)
                 VALUES ($1, $2, $3, 0, $4)
                 ON CONFLICT (surface, network, username) DO UPDATE SET failures = t.failures
                 RETURNING failures, last_at, trickled_at",
                &[&key.surface, &network, &key.user, &now],
            )
            .await?;
        let found = ThrottleRow {
            failures: failures_of(row.try_get(0)?)?,
            last: row.try_get(1)?,
            trickled: row.try_get(2)?,
        };
        let (next, answer) = charge(found);
        txn.execute(
            "UPDATE login_throttle SET failures = $4, last_at = $5, trickled_at = $6
             WHERE surface = $1 AND network = $2 AND username = $3",
            &[
                &key.surface,
                &network,
                &key.user,
                &stored_failures(next.failures),
                &stored_time(next.last),
                &next.trickled.map(stored_time),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(answer)
    }

    pub(in crate::store) async fn throttle_failures(&self, key: ThrottleKey<'_>) -> Result<u32> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT failures FROM login_throttle
                 WHERE surface = $1 AND network = $2 AND username = $3",
                &[&key.surface, &key.network.to_string(), &key.user],
            )
            .await?;
        row.map_or(Ok(0), |r| failures_of(r.try_get(0)?))
    }

    pub(in crate::store) async fn throttle_refund(&self, key: ThrottleKey<'_>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE login_throttle SET failures = GREATEST(failures - 1, 0)
                 WHERE surface = $1 AND network = $2 AND username = $3",
                &[&key.surface, &key.network.to_string(), &key.user],
            )
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn throttle_clear(&self, key: ThrottleKey<'_>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM login_throttle WHERE surface = $1 AND network = $2 AND username = $3",
                &[&key.surface, &key.network.to_string(), &key.user],
            )
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn throttle_sweep(
        &self,
        before: DateTime<Utc>,
        max_rows: u64,
        max_failures: u32,
    ) -> Result<u64> {
        let client = self.client().await?;
        let mut dropped =
            client.execute("DELETE FROM login_throttle WHERE last_at < $1", &[&before]).await?;
        let rows = self.throttle_rows().await?;
        if let Some(excess) = rows.checked_sub(max_rows).filter(|n| *n > 0) {
            dropped += client
                .execute(
                    "DELETE FROM login_throttle WHERE ctid = ANY(ARRAY(
                         SELECT ctid FROM login_throttle
                         ORDER BY failures >= $1, failures >= 2, last_at LIMIT $2))",
                    &[&stored_failures(max_failures), &to_bigint(excess, "excess")?],
                )
                .await?;
        }
        Ok(dropped)
    }

    pub(in crate::store) async fn throttle_rows(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client.query_one("SELECT count(*) FROM login_throttle", &[]).await?;
        from_bigint(row.try_get(0)?, "count(login_throttle)")
    }
}
