//! [`crate::store::Store::take_expired`] in PostgreSQL: the mark's row is locked first, so two
//! nodes sweeping at once take turns and the second finds nothing left to tell.

use chrono::{DateTime, Utc};

use super::{Pg, stored_time};
use crate::store::expiry::{Expired, MARK, parse_mark};
use crate::store::{AppPasswordId, Result, UserName};

impl Pg {
    pub(in crate::store) async fn take_expired(&self, now: DateTime<Utc>) -> Result<Vec<Expired>> {
        let now = stored_time(now);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&MARK, &now.to_rfc3339()],
        )
        .await?;
        let row =
            txn.query_one("SELECT value FROM settings WHERE key = $1 FOR UPDATE", &[&MARK]).await?;
        let mark = parse_mark(row.try_get::<_, &str>(0)?);
        txn.execute("UPDATE settings SET value = $2 WHERE key = $1", &[&MARK, &now.to_rfc3339()])
            .await?;
        let Some(mark) = mark.filter(|m| *m < now) else {
            txn.commit().await?;
            return Ok(Vec::new());
        };
        let rows = txn
            .query(
                "SELECT id, owner, expires_at FROM app_passwords
                 WHERE revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2
                 ORDER BY expires_at, id",
                &[&mark, &now],
            )
            .await?;
        txn.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(Expired {
                    id: AppPasswordId::parse(row.try_get("id")?)?,
                    owner: UserName::parse(row.try_get("owner")?)?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }
}
