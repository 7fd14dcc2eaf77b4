//! The flows in progress: what a sign-in started (provider, state, nonce, PKCE verifier, where
//! to land) kept in memory behind the `davgate_oidc` cookie, until its callback takes it.
//!
//! Keyed by the SHA-256 of the cookie's token, never the `state` alone: an attacker's callback
//! URL opened in a victim's browser finds no record, so it cannot sign the victim in as the
//! attacker. Single use (taken out at the callback), ten minutes, at most [`MAX_FLOWS`] (the
//! oldest is forgotten first), bound to one provider. On PostgreSQL they live in the shared
//! store, so that a cluster's nodes need no session affinity for `/auth/oidc/`.

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

use crate::bounded::Bounded;
use crate::store::{FlowRow, ProviderId, Store};

/// The flow cookie's name.
pub const COOKIE: &str = "davgate_oidc";
/// Most flows kept at once.
pub const MAX_FLOWS: usize = 1_000;
/// How long a flow may take.
pub const FLOW_TTL: TimeDelta = TimeDelta::minutes(10);

/// What the callback needs of the sign-in it finishes.
#[derive(Clone)]
pub struct FlowRecord {
    /// The provider the flow was started with: the only one its callback may finish with.
    pub provider: ProviderId,
    /// The `state` sent to the provider.
    pub state: String,
    /// The `nonce` sent to the provider.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
    /// The checked path to land on.
    pub next: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl std::fmt::Debug for FlowRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowRecord")
            .field("provider", &self.provider)
            .field("next", &self.next)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The flows in progress: in this node's memory on the embedded store, in the shared store on
/// PostgreSQL (a callback may reach any node of a cluster).
pub struct Flows(Kept);

/// Where [`Flows`] keeps them.
enum Kept {
    /// One node: a bounded map.
    Local(Mutex<Bounded<[u8; 32], FlowRecord>>),
    /// Every node: the store's `oidc_flows`.
    Shared(Store),
}

impl Default for Flows {
    fn default() -> Self {
        Self(Kept::Local(Mutex::new(Bounded::new(MAX_FLOWS))))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Flows {
    /// The flows of a server on `store`: shared when the store is.
    pub fn new(store: &Store) -> Self {
        if store.is_shared() { Self(Kept::Shared(store.clone())) } else { Self::default() }
    }

    /// Keeps `record` under the cookie token `token`; true when the table was full and the
    /// oldest flow was forgotten for it (its callback then gets the ordinary "try again" page).
    pub async fn start(
        &self,
        token: &str,
        record: FlowRecord,
    ) -> Result<bool, crate::store::Error> {
        match &self.0 {
            Kept::Local(flows) => {
                let Ok(mut flows) = flows.lock() else { return Ok(false) };
                Ok(flows.insert(digest(token), record).is_some())
            }
            Kept::Shared(store) => {
                let expired_before = record.started_at - FLOW_TTL;
                let row = FlowRow {
                    provider: record.provider.to_string(),
                    state: record.state,
                    nonce: record.nonce,
                    pkce_verifier: record.pkce_verifier,
                    next: record.next,
                    started_at: record.started_at,
                };
                let max = MAX_FLOWS as u64;
                Ok(store.flow_put(digest(token), row, expired_before, max).await? > 0)
            }
        }
    }

    /// Takes the flow of `token` out (a second callback finds nothing), if it is younger than
    /// [`FLOW_TTL`] at `now`.
    pub async fn take(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FlowRecord>, crate::store::Error> {
        let record = match &self.0 {
            Kept::Local(flows) => {
                let Ok(mut flows) = flows.lock() else { return Ok(None) };
                flows.remove(&digest(token))
            }
            Kept::Shared(store) => {
                let Some(row) = store.flow_take(digest(token), now - FLOW_TTL).await? else {
                    return Ok(None);
                };
                // A provider id that no longer parses is a flow nobody can finish.
                let Ok(provider) = ProviderId::parse(&row.provider) else { return Ok(None) };
                Some(FlowRecord {
                    provider,
                    state: row.state,
                    nonce: row.nonce,
                    pkce_verifier: row.pkce_verifier,
                    next: row.next,
                    started_at: row.started_at,
                })
            }
        };
        Ok(record.filter(|r| now - r.started_at <= FLOW_TTL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: DateTime<Utc>) -> FlowRecord {
        FlowRecord {
            provider: ProviderId::parse("test").unwrap(),
            state: "s".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            next: "/".into(),
            started_at: at,
        }
    }

    #[tokio::test]
    async fn a_flow_is_taken_once_and_not_after_ten_minutes() {
        let flows = Flows::default();
        let now = Utc::now();
        flows.start("a", record(now)).await.unwrap();
        assert!(flows.take("b", now).await.unwrap().is_none());
        assert!(flows.take("a", now).await.unwrap().is_some());
        assert!(flows.take("a", now).await.unwrap().is_none(), "replayed");
        flows.start("c", record(now)).await.unwrap();
        let late = now + FLOW_TTL + TimeDelta::seconds(1);
        assert!(flows.take("c", late).await.unwrap().is_none());
    }
}
