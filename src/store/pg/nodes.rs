//! Revocation on every node: heartbeats, acknowledgements and the staleness bound.
//!
//! Each serving node has a row in `nodes`: the generation it has applied and when it last
//! heard from the database. Its poll (every 500 ms, and on each notification) is one
//! statement that heartbeats, acknowledges what the node has applied, and reads the cluster's
//! generation (with the settings, only if the generation moved). A node that learns a newer
//! generation applies it first and acknowledges it in a second statement at once: an
//! acknowledgement is never ahead of what the node enforces.
//!
//! A change that can take a credential away returns only once every *live* node (heartbeat
//! within [`STALENESS`]) has acknowledged its generation, waiting at most [`STALENESS`]
//! ([`Pg::await_acks`]). A node that did not acknowledge in time has stopped trusting its cache
//! by then: [`Freshness`] trusts cached credentials only while the node confirmed the cluster's
//! generation less than [`STALENESS`] ago (the start of its last successful poll), and the gate
//! re-reads the credential record otherwise. So once the call returns, the very next request
//! on any node is refused. The CLI (no row) waits for the nodes the same way.
//!
//! The bound is a constant, not an option: it is a property of the protocol (how long a
//! revoke may wait, how long a node cut from the database keeps serving cached credentials),
//! and one value every node agrees on is what makes the argument hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Pg, generation_of};
use crate::clock::Clock;
use crate::store::{Generation, Result, Settings};

/// The staleness bound: how long a node trusts its credential cache without having confirmed
/// the cluster's generation, and the longest a revoke waits for the nodes' acknowledgements.
pub(crate) const STALENESS: Duration = Duration::from_secs(2);

/// How often a waiting revoke looks at the acknowledgements.
const ACK_POLL: Duration = Duration::from_millis(10);

/// When this node last confirmed the cluster's generation, read on every cached request: an
/// atomic load and a clock read.
pub(super) struct Freshness {
    clock: Clock,
    base: Instant,
    /// Milliseconds from `base` to the start of the last confirmation.
    confirmed_ms: AtomicU64,
}

impl Freshness {
    /// Confirmed now (the store has just read the generation at open).
    pub(super) fn new(clock: Clock) -> Self {
        let base = clock.instant();
        Self { clock, base, confirmed_ms: AtomicU64::new(0) }
    }

    /// The clock readings are taken from.
    pub(super) fn now(&self) -> Instant {
        self.clock.instant()
    }

    /// Records a confirmation that started at `started` (never moves back).
    pub(super) fn confirm(&self, started: Instant) {
        self.confirmed_ms.fetch_max(self.millis(started), Ordering::AcqRel);
    }

    /// True while the last confirmation is less than [`STALENESS`] old.
    pub(super) fn is_fresh(&self) -> bool {
        let now = self.millis(self.clock.instant());
        let age = now.saturating_sub(self.confirmed_ms.load(Ordering::Acquire));
        u128::from(age) < STALENESS.as_millis()
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }
}

/// A serving node's poll: heartbeat and acknowledge `$2` (what it applied), read the generation
/// and, if it is newer than `$2`, the settings.
const NODE_POLL: &str = "
    WITH beat AS (
        INSERT INTO nodes (id, seen_generation, heartbeat_at) VALUES ($1, $2, now())
        ON CONFLICT (id) DO UPDATE
        SET heartbeat_at = now(), seen_generation = EXCLUDED.seen_generation
    )
    SELECT m.value, s.key, s.value FROM meta m LEFT JOIN settings s ON m.value > $2
    WHERE m.key = 'generation'";

/// The CLI's poll: the same read, no row of its own.
const CLI_POLL: &str = "
    SELECT m.value, s.key, s.value FROM meta m LEFT JOIN settings s ON m.value > $1
    WHERE m.key = 'generation'";

/// The live nodes (other than `$3`) that have not acknowledged generation `$1`.
const LAGGARDS: &str = "
    SELECT id FROM nodes
    WHERE seen_generation < $1 AND heartbeat_at > now() - make_interval(secs => $2)
      AND id IS DISTINCT FROM $3";

impl Pg {
    /// One poll: heartbeat, acknowledge, and apply a newer generation if there is one (then
    /// acknowledge it at once). Confirms this node's freshness on success.
    pub(super) async fn refresh(&self) -> Result<()> {
        let client = self.client().await?;
        // A newer generation is acknowledged by the next round; a few rounds at most.
        for _ in 0..4 {
            let started = self.freshness.now();
            let applied = self.feed.generation();
            let applied_number = super::to_bigint(applied.get(), "meta.generation")?;
            let rows = match &self.node {
                Some(node) => client.query(NODE_POLL, &[&node.as_str(), &applied_number]).await?,
                None => client.query(CLI_POLL, &[&applied_number]).await?,
            };
            let generation = generation_of(rows.first().map_or(0, |r| r.get::<_, i64>(0)))?;
            let newer = generation > applied;
            if newer {
                let pairs =
                    rows.iter().filter_map(|r| Some((r.get::<_, Option<String>>(1)?, r.get(2))));
                self.feed.advance(generation, Settings::from_stored(pairs));
            }
            self.freshness.confirm(started);
            if !newer || self.node.is_none() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Waits until every live node but this one has acknowledged `generation`, at most
    /// [`STALENESS`] (after which a node that did not has stopped trusting its cache). An
    /// unreachable database is waited out in full: nothing tells that a node has caught up.
    pub(super) async fn await_acks(&self, generation: Generation) {
        let deadline = tokio::time::Instant::now() + STALENESS;
        let Ok(wanted) = super::to_bigint(generation.get(), "meta.generation") else { return };
        let me = self.node.as_ref().map(|n| n.as_str());
        let bound = STALENESS.as_secs_f64();
        let mut behind = Vec::new();
        loop {
            let asked = match self.client().await {
                Ok(client) => client.query(LAGGARDS, &[&wanted, &bound, &me]).await.ok(),
                Err(_) => None,
            };
            if let Some(rows) = asked {
                behind = rows.iter().map(|r| r.get::<_, String>(0)).collect();
                if behind.is_empty() {
                    return;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "nodes {behind:?} did not confirm generation {} within {STALENESS:?}; they \
                     re-read credentials until they do",
                    generation.get()
                );
                return;
            }
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + ACK_POLL)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_node_is_fresh_for_the_bound_after_a_confirmation_and_stale_after() {
        let manual = ManualClock::new();
        let freshness = Freshness::new(manual.clock());
        assert!(freshness.is_fresh(), "confirmed at open");
        manual.advance(STALENESS - Duration::from_millis(1));
        assert!(freshness.is_fresh());
        manual.advance(Duration::from_millis(1));
        assert!(!freshness.is_fresh(), "stale at the bound");
        let started = freshness.now();
        manual.advance(Duration::from_millis(300));
        freshness.confirm(started);
        assert!(freshness.is_fresh(), "confirmed again (from when the poll started)");
        freshness.confirm(started - Duration::from_secs(1));
        manual.advance(STALENESS - Duration::from_millis(300));
        assert!(!freshness.is_fresh(), "an older confirmation does not move it back");
    }
}
