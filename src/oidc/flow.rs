//! The flows in progress: what a sign-in started (provider, state, nonce, PKCE verifier, where
//! to land) kept in memory behind the `davgate_oidc` cookie, until its callback takes it.
//!
//! Keyed by the SHA-256 of the cookie's token, never the `state` alone: an attacker's callback
//! URL opened in a victim's browser finds no record, so it cannot sign the victim in as the
//! attacker. Single use (taken out at the callback), ten minutes, at most [`MAX_FLOWS`] (the
//! oldest is forgotten first), bound to one provider.

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

use crate::bounded::Bounded;
use crate::store::ProviderId;

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

/// The flows in progress on this node.
pub struct Flows(Mutex<Bounded<[u8; 32], FlowRecord>>);

impl Default for Flows {
    fn default() -> Self {
        Self(Mutex::new(Bounded::new(MAX_FLOWS)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Flows {
    /// Keeps `record` under the cookie token `token`; true when the table was full and the
    /// oldest flow was forgotten for it (its callback then gets the ordinary "try again" page).
    pub fn start(&self, token: &str, record: FlowRecord) -> bool {
        let Ok(mut flows) = self.0.lock() else { return false };
        flows.insert(digest(token), record).is_some()
    }

    /// Takes the flow of `token` out (a second callback finds nothing), if it is younger than
    /// [`FLOW_TTL`] at `now`.
    pub fn take(&self, token: &str, now: DateTime<Utc>) -> Option<FlowRecord> {
        let record = self.0.lock().ok()?.remove(&digest(token))?;
        (now - record.started_at <= FLOW_TTL).then_some(record)
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

    #[test]
    fn a_flow_is_taken_once_and_not_after_ten_minutes() {
        let flows = Flows::default();
        let now = Utc::now();
        flows.start("a", record(now));
        assert!(flows.take("b", now).is_none());
        assert!(flows.take("a", now).is_some());
        assert!(flows.take("a", now).is_none(), "replayed");
        flows.start("c", record(now));
        assert!(flows.take("c", now + FLOW_TTL + TimeDelta::seconds(1)).is_none());
    }
}
