//! Single sign-on flows in PostgreSQL. Each method is the [`crate::store::Store`] method of the
//! same name.

use chrono::{DateTime, Utc};

use super::{Pg, from_bigint, stored_time, to_bigint};
use crate::store::Result;
use crate::store::flows::FlowRow;

impl Pg {
    pub(in crate::store) async fn flow_put(
        &self,
        digest: [u8; 32],
        row: FlowRow,
        expired_before: DateTime<Utc>,
        max: u64,
    ) -> Result<u64> {
        let keep = to_bigint(max.saturating_sub(1), "oidc_flows.max")?;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute(
            "DELETE FROM oidc_flows WHERE started_at < $1",
            &[&stored_time(expired_before)],
        )
        .await?;
        let dropped = txn
            .execute(
                "DELETE FROM oidc_flows WHERE digest IN (SELECT digest FROM oidc_flows
                 ORDER BY started_at DESC OFFSET $1)",
                &[&keep],
            )
            .await?;
        txn.execute(
            "INSERT INTO oidc_flows (digest, provider, state, nonce, pkce_verifier, next, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (digest) DO UPDATE SET provider = $2, state = $3, nonce = $4,
                 pkce_verifier = $5, next = $6, started_at = $7",
            &[
                &&digest[..],
                &row.provider,
                &row.state,
                &row.nonce,
                &row.pkce_verifier,
                &row.next,
                &stored_time(row.started_at),
            ],
        )
        .await?;
        txn.commit().await?;
        from_bigint(i64::try_from(dropped).unwrap_or(i64::MAX), "oidc_flows dropped")
    }

    pub(in crate::store) async fn flow_take(
        &self,
        digest: [u8; 32],
        started_after: DateTime<Utc>,
    ) -> Result<Option<FlowRow>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "DELETE FROM oidc_flows WHERE digest = $1
                 RETURNING provider, state, nonce, pkce_verifier, next, started_at",
                &[&&digest[..]],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let flow = FlowRow {
            provider: row.try_get(0)?,
            state: row.try_get(1)?,
            nonce: row.try_get(2)?,
            pkce_verifier: row.try_get(3)?,
            next: row.try_get(4)?,
            started_at: row.try_get(5)?,
        };
        Ok((flow.started_at >= started_after).then_some(flow))
    }
}
