//! Where each app password was used from, in PostgreSQL: the redb store's
//! [`crate::store::Store::record_networks`], with the same answers. The list is the
//! `networks` column (JSON text) of `app_passwords`; each password's row is locked while its
//! list is merged, so two nodes writing uses of one password take turns and lose none.

use std::collections::BTreeMap;

use super::{Pg, stored_time};
use crate::store::networks::{NetworkUse, NoticedUse, UsedNetwork, merge};
use crate::store::{Error, Result};

/// `networks` with its times to the microsecond, as PostgreSQL keeps every other time (a
/// copied embedded store reads back the same as its own columns do).
pub(super) fn in_micros(networks: &[UsedNetwork]) -> Vec<UsedNetwork> {
    let mut networks = networks.to_vec();
    for n in &mut networks {
        (n.first_at, n.last_at) = (stored_time(n.first_at), stored_time(n.last_at));
    }
    networks
}

/// The stored list of a row's `networks` column; a value this build cannot read is refused.
pub(super) fn networks_of(json: &str) -> Result<Vec<UsedNetwork>> {
    serde_json::from_str(json)
        .map_err(|_| Error::BadValue(format!("app password networks '{json}'")))
}

impl Pg {
    /// One transaction for the batch, one locked read and one update per password.
    pub(in crate::store) async fn record_networks(
        &self,
        uses: Vec<NetworkUse>,
    ) -> Result<Vec<NoticedUse>> {
        if uses.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_id: BTreeMap<String, Vec<NetworkUse>> = BTreeMap::new();
        for mut use_ in uses {
            // To the microsecond, as every time PostgreSQL stores.
            use_.at = stored_time(use_.at);
            by_id.entry(use_.id.as_str().to_string()).or_default().push(use_);
        }
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let mut new = Vec::new();
        for (id, uses) in by_id {
            let row = txn
                .query_opt("SELECT networks FROM app_passwords WHERE id = $1 FOR UPDATE", &[&id])
                .await?;
            let Some(row) = row else { continue };
            let mut list = networks_of(row.try_get("networks")?)?;
            for use_ in uses {
                if let Some(previous_user_agent) = merge(&mut list, &use_) {
                    new.push(NoticedUse { use_, previous_user_agent });
                }
            }
            let json = serde_json::to_string(&list)?;
            txn.execute("UPDATE app_passwords SET networks = $2 WHERE id = $1", &[&id, &json])
                .await?;
        }
        txn.commit().await?;
        Ok(new)
    }
}
