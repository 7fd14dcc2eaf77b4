//! The store in PostgreSQL: what several davgate nodes share.
//!
//! Same operations, same answers as the redb store (the conformance tests run against both).
//! Each invariant redb kept by having one writer at a time is kept here by the database under
//! concurrency across processes:
//!
//! - a TOTP step is accepted once: one conditional `UPDATE … WHERE totp_last_step < $step`;
//! - first use is recorded once (`WHERE access_method IS NULL`), last used never moves back
//!   (`GREATEST`);
//! - one active app password per (owner, name): creating one locks the owner's row first
//!   (`FOR UPDATE`), so two creations for one user take turns. A partial unique index cannot
//!   say it, because "active" also means "not expired", which depends on the time;
//! - the last enabled admin: disabling or removing an admin locks every enabled admin's row
//!   before counting them;
//! - a change that can take a credential away bumps `meta.generation` first (a row lock every
//!   such change takes, so they are ordered), sends `pg_notify` (delivered at commit), and
//!   publishes the new generation here after commit; other nodes learn it from
//!   [`listener`]. The change returns once every live node has acknowledged it, or has
//!   stopped trusting its cache ([`nodes`]).
//!
//! Every statement runs on a pooled connection (deadpool-postgres, small pool); the listener
//! has its own. Each connection says whose it is in `pg_stat_activity.application_name`:
//! `davgate <node-id>` (and `davgate <node-id> listener`), or `davgate cli`.

mod accounts;
mod audit;
mod copy;
mod expiry;
mod flows;
mod identities;
mod listener;
mod locks;
mod networks;
mod nodes;
mod object_gc;
mod objects;
mod props;
mod providers;
mod quota;
mod schema;
mod sessions;
mod throttle;
pub(super) mod tls;
mod users;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use std::sync::Arc;
use std::time::Duration;

use super::changes::Feed;
use super::location::PgTarget;
use super::{Error, Generation, PropLimits, Result, Settings};
use crate::clock::Clock;
use crate::node::NodeId;
use nodes::Freshness;
#[cfg(test)]
use nodes::STALENESS;

/// Connections per node: admin operations and uncached logins are short statements.
const POOL_SIZE: usize = 8;

/// How long a connection attempt may take before the store answers "unavailable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The channel the generation is sent on.
const CHANNEL: &str = "davgate";

/// The PostgreSQL side of a [`super::Store`].
pub(super) struct Pg {
    pool: Pool,
    feed: Feed,
    prop_limits: PropLimits,
    /// The serving node this store belongs to; None for the CLI (no heartbeat, no row).
    node: Option<NodeId>,
    /// When the cluster's generation was last confirmed.
    freshness: Freshness,
}

impl Pg {
    /// Connects (as `node`, or as the CLI), migrates, reads the generation and settings, and
    /// starts following the feed. Fails if the database cannot be reached or was set up by a
    /// newer davgate.
    pub(super) async fn open(
        target: &PgTarget,
        prop_limits: PropLimits,
        node: Option<NodeId>,
        clock: Clock,
    ) -> Result<Arc<Self>> {
        let mut config = target.config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // Always ours, even if the URL names one: an admin (and a test) tells nodes apart by it.
        let me = node.as_ref().map_or_else(|| "cli".to_string(), |n| n.to_string());
        config.application_name(format!("davgate {me}"));
        let mut listen_config = config.clone();
        listen_config.application_name(format!("davgate {me} listener"));
        let policy = target.tls().clone();
        let tls = tokio::task::spawn_blocking(move || tls::Tls::new(&policy)).await??;
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        {
            let mut client = pool.get().await?;
            schema::migrate(&mut client).await?;
        }
        let freshness = Freshness::new(clock);
        let (generation, settings) = state(&pool).await?;
        let feed = Feed::starting_at(generation, settings);
        let pg = Arc::new(Self { pool, feed, prop_limits, node, freshness });
        if pg.node.is_some() {
            // Registered (and acknowledging) before the first request is served.
            pg.refresh().await?;
        }
        listener::spawn(Arc::downgrade(&pg), listen_config, tls);
        Ok(pg)
    }

    /// Whether cached credentials may be trusted without asking the database: the cluster's
    /// generation was confirmed less than [`nodes::STALENESS`] ago.
    pub(super) fn is_fresh(&self) -> bool {
        self.freshness.is_fresh()
    }

    pub(super) fn feed(&self) -> &Feed {
        &self.feed
    }

    pub(super) fn prop_limits(&self) -> PropLimits {
        self.prop_limits
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}

/// The generation and the settings, in one statement (one snapshot: never a newer generation
/// with older settings).
async fn state(pool: &Pool) -> Result<(Generation, Settings)> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT m.value, s.key, s.value FROM meta m LEFT JOIN settings s ON true
             WHERE m.key = 'generation'",
            &[],
        )
        .await?;
    let generation = rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0);
    let pairs = rows.iter().filter_map(|r| Some((r.get::<_, Option<String>>(1)?, r.get(2))));
    Ok((generation_of(generation)?, Settings::from_stored(pairs)))
}

fn generation_of(value: i64) -> Result<Generation> {
    let n = u64::try_from(value).map_err(|_| Error::OutOfRange("meta.generation"))?;
    Ok(Generation::from_number(n))
}

/// The first statement of a change that can take a credential away: moves the generation
/// (holding its row until commit, so such changes are ordered cluster-wide) and queues the
/// notification, which PostgreSQL sends only if the transaction commits.
async fn bump(txn: &Transaction<'_>) -> Result<Generation> {
    let row = txn
        .query_one(
            "UPDATE meta SET value = value + 1 WHERE key = 'generation' RETURNING value",
            &[],
        )
        .await?;
    let value: i64 = row.get(0);
    txn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &value.to_string()]).await?;
    generation_of(value)
}

impl Pg {
    /// Commits a transaction that began with [`bump`] and publishes its generation with the
    /// settings as they are at that commit (read under the generation's row lock, so no other
    /// change can slip in between). The caller then gives its connection back and calls
    /// [`Pg::await_acks`] before it returns (so that waiting never holds two connections).
    async fn commit_published(&self, txn: Transaction<'_>, generation: Generation) -> Result<()> {
        let rows = txn.query("SELECT key, value FROM settings", &[]).await?;
        let settings = Settings::from_stored(rows.iter().map(|r| (r.get(0), r.get(1))));
        txn.commit().await?;
        self.feed.advance(generation, settings);
        Ok(())
    }
}

/// `at` as PostgreSQL keeps it (microseconds): what a call returns is what a later read
/// returns, as with redb.
fn stored_time(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    at.duration_trunc(chrono::TimeDelta::microseconds(1)).unwrap_or(at)
}

/// A u64 the store writes as bigint (quotas, steps): refused past i64::MAX rather than wrapped.
fn to_bigint(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange(what))
}

/// A bigint read back as u64.
fn from_bigint(value: i64, what: &'static str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::OutOfRange(what))
}

impl Pg {
    /// [`super::Store::set_setting`]: validated against the settings in force at the
    /// generation's row lock, stored, published.
    pub(super) async fn set_setting(
        &self,
        key: super::SettingKey,
        value: &str,
    ) -> Result<Settings> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let rows = txn.query("SELECT key, value FROM settings", &[]).await?;
        let mut next = Settings::from_stored(rows.iter().map(|r| (r.get(0), r.get(1))));
        let canonical = next.apply_checked(key, value)?;
        txn.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key.name(), &canonical],
        )
        .await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
