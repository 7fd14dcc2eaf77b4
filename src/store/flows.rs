//! Single sign-on flows in the shared store (PostgreSQL only): a flow started on one node is
//! finished on whichever node the provider's callback reaches. On the embedded store there is
//! one node and the flows stay in its memory ([`crate::oidc::flow`]).

use chrono::{DateTime, Utc};

use super::{Error, Result, Store};

/// A flow as stored: what its callback needs (see `crate::oidc::flow::FlowRecord`).
#[derive(Clone)]
pub struct FlowRow {
    /// The provider id the flow was started with.
    pub provider: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// The checked path to land on.
    pub next: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// Only what identifies no secret: the state, nonce and verifier are credentials of the flow.
impl std::fmt::Debug for FlowRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowRow")
            .field("provider", &self.provider)
            .field("next", &self.next)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Keeps `row` under `digest`, first dropping flows started before `expired_before` and,
    /// beyond `max` flows, the oldest. Returns how many live flows were dropped for room.
    pub async fn flow_put(
        &self,
        digest: [u8; 32],
        row: FlowRow,
        expired_before: DateTime<Utc>,
        max: u64,
    ) -> Result<u64> {
        let pg = self.postgres().ok_or(Error::WrongBackend)?;
        pg.flow_put(digest, row, expired_before, max).await
    }

    /// Takes the flow of `digest` out (on every node at once: a second callback finds nothing),
    /// if it started at or after `started_after`.
    pub async fn flow_take(
        &self,
        digest: [u8; 32],
        started_after: DateTime<Utc>,
    ) -> Result<Option<FlowRow>> {
        let pg = self.postgres().ok_or(Error::WrongBackend)?;
        pg.flow_take(digest, started_after).await
    }
}
