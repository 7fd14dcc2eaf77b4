//! The PostgreSQL schema: embedded, versioned migrations, run at open under an advisory lock.
//!
//! `meta` holds `schema_version` (as redb's `meta` table does) and `generation`, the change
//! feed's counter. Migration `n` (1-based) is `migrations/n.sql`; opening runs those above the
//! stored version in one transaction, so two nodes starting at once on an empty database
//! create the schema once, and a database set up by a newer davgate is refused.

use tokio_postgres::Client;

use crate::store::{Error, Result};

/// Every migration, in order: the schema version is their count.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/1.sql"),
    include_str!("migrations/2.sql"),
    include_str!("migrations/3.sql"),
    include_str!("migrations/4.sql"),
    include_str!("migrations/5.sql"),
    include_str!("migrations/6.sql"),
    include_str!("migrations/7.sql"),
    include_str!("migrations/8.sql"),
    include_str!("migrations/9.sql"),
    include_str!("migrations/10.sql"),
    include_str!("migrations/11.sql"),
    include_str!("migrations/12.sql"),
];

/// The newest schema this build writes and reads.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serialises schema changes across processes (any constant; "davgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6176_6761_7465;

/// Brings the database to [`SCHEMA_VERSION`], or refuses a newer one.
pub(super) async fn migrate(client: &mut Client) -> Result<()> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value bigint NOT NULL)",
    )
    .await?;
    let row = txn.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[]).await?;
    let found: i64 = row.map(|r| r.get(0)).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(Error::NewerPgSchema { found, supported: SCHEMA_VERSION });
    }
    let pending = usize::try_from(found).map_err(|_| Error::OutOfRange("schema_version"))?;
    for sql in MIGRATIONS.iter().skip(pending) {
        txn.batch_execute(sql).await?;
    }
    txn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', $1), ('generation', 0)
         ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)
         WHERE meta.key = 'schema_version'",
        &[&SCHEMA_VERSION],
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
