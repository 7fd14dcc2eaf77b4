//! The audit log in PostgreSQL: one row per event, numbered by the database, its JSON record
//! beside the columns reads filter on. Each method is the [`crate::store::Store`] method of the
//! same name.

use chrono::{DateTime, Utc};

use super::{Pg, from_bigint, stored_time, to_bigint};
use crate::store::audit::{AuditEvent, AuditQuery};
use crate::store::{Result, decode, encode};

impl Pg {
    pub(in crate::store) async fn append_audit(
        &self,
        events: Vec<AuditEvent>,
    ) -> Result<Vec<AuditEvent>> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let insert = txn
            .prepare(
                "INSERT INTO audit_events (at, subject, record) VALUES ($1, $2, $3) RETURNING id",
            )
            .await?;
        let mut written = Vec::with_capacity(events.len());
        for event in events {
            let subject = event.subject.as_ref().map(|s| s.as_str().to_string());
            let at = stored_time(event.at);
            let event = AuditEvent { at, ..event };
            let row = txn.query_one(&insert, &[&at, &subject, &encode(&event)?]).await?;
            written.push(AuditEvent { id: from_bigint(row.try_get(0)?, "audit id")?, ..event });
        }
        txn.commit().await?;
        Ok(written)
    }

    pub(in crate::store) async fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>> {
        let client = self.client().await?;
        let subject = query.subject.as_ref().map(|s| s.as_str().to_string());
        let before = match query.before {
            Some(id) => Some(to_bigint(id, "audit before")?),
            None => None,
        };
        let limit = to_bigint(query.limit as u64, "audit limit")?;
        let rows = client
            .query(
                "SELECT id, record FROM audit_events
                 WHERE ($1::text IS NULL OR subject = $1)
                   AND ($2::timestamptz IS NULL OR at >= $2)
                   AND ($3::bigint IS NULL OR id < $3)
                 ORDER BY id DESC LIMIT $4",
                &[&subject, &query.since.map(stored_time), &before, &limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let record: Vec<u8> = row.try_get(1)?;
                let event: AuditEvent = decode(&record)?;
                Ok(AuditEvent { id: from_bigint(row.try_get(0)?, "audit_events.id")?, ..event })
            })
            .collect()
    }

    pub(in crate::store) async fn prune_audit(
        &self,
        before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64> {
        let client = self.client().await?;
        let max = to_bigint(max as u64, "audit prune")?;
        let pruned = client
            .execute(
                "DELETE FROM audit_events WHERE id IN
                   (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)",
                &[&stored_time(before), &max],
            )
            .await?;
        Ok(pruned)
    }
}
