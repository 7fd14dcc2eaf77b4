//! [`crate::store::Store::take_expired`] and `take_expiring` in PostgreSQL: the mark's row is
//! locked first, so two nodes sweeping at once take turns and the second finds nothing left to
//! tell.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Pg, stored_time};
use crate::store::expiry::{Expired, parse_mark};
use crate::store::{AppPasswordId, Result, UserName};

impl Pg {
    /// The passwords expiring in (mark + `lead`, `now` + `lead`] under the mark row `key`
    /// (and not yet expired when `lead` is not zero); the mark moves to `now`.
    pub(in crate::store) async fn take_expiring(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lead: TimeDelta,
    ) -> Result<Vec<Expired>> {
        let now = stored_time(now);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &now.to_rfc3339()],
        )
        .await?;
        let row =
            txn.query_one("SELECT value FROM settings WHERE key = $1 FOR UPDATE", &[&key]).await?;
        let mark = parse_mark(row.try_get::<_, &str>(0)?);
        txn.execute("UPDATE settings SET value = $2 WHERE key = $1", &[&key, &now.to_rfc3339()])
            .await?;
        let Some(mark) = mark.filter(|m| *m < now) else {
            txn.commit().await?;
            return Ok(Vec::new());
        };
        let rows = txn
            .query(
                "SELECT id, owner, expires_at FROM app_passwords
                 WHERE revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2
                   AND ($4 OR expires_at > $3)
                 ORDER BY expires_at, id",
                &[&(mark + lead), &(now + lead), &now, &lead.is_zero()],
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
