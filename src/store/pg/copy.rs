//! The PostgreSQL half of `store copy`: a [`Dump`] of the redb file written in one transaction,
//! into a store that holds no account.
//!
//! Rows go in batches whose statements are pipelined on the one connection (tokio-postgres
//! sends them without waiting for each answer), so a store with many properties is not one
//! round trip per row.

use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;

use super::users::role_name;
use super::{Pg, bump, to_bigint};
use crate::store::audit::AuditEvent;
use crate::store::copy::{CopyProgress, Dump};
use crate::store::{Error, Result};

/// Rows in flight at once (and between two progress reports).
const BATCH: usize = 500;

impl Pg {
    /// Writes `dump`, or answers false (writing nothing) if the store already has a user or an
    /// app password. The accounts tables are locked against writers first, so a node creating
    /// its first admin meanwhile either went first (and the copy is refused) or waits.
    pub(in crate::store) async fn import(
        &self,
        dump: &Dump,
        progress: &mut (dyn FnMut(CopyProgress) + Send),
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.batch_execute("LOCK TABLE users, app_passwords IN SHARE ROW EXCLUSIVE MODE").await?;
        let taken = txn
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM app_passwords)",
                &[],
            )
            .await?;
        if taken.get::<_, bool>(0) {
            return Ok(false);
        }
        let generation = bump(&txn).await?;
        users(&txn, dump, progress).await?;
        app_passwords(&txn, dump, progress).await?;
        settings(&txn, dump, progress).await?;
        dead_props(&txn, dump, progress).await?;
        single_sign_on(&txn, dump, progress).await?;
        audit_events(&txn, dump, progress).await?;
        self.commit_published(txn, generation).await?;
        Ok(true)
    }
}

/// Runs `insert` on every item of `items`, [`BATCH`] at a time, reporting after each batch.
async fn in_batches<'a, T, F, Fut>(
    table: &'static str,
    items: &'a [T],
    progress: &mut (dyn FnMut(CopyProgress) + Send),
    insert: F,
) -> Result<()>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let total = u64::try_from(items.len()).unwrap_or(u64::MAX);
    let mut done = 0u64;
    for chunk in items.chunks(BATCH) {
        try_join_all(chunk.iter().map(&insert)).await?;
        done = done.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        progress(CopyProgress { table, done, total });
    }
    if items.is_empty() {
        progress(CopyProgress { table, done, total });
    }
    Ok(())
}

async fn users(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    let statement = txn
        .prepare(
            "INSERT INTO users (name, role, password_hash, created_at, disabled, quota_bytes,
                                totp_secret, totp_enrolled_at, totp_last_step, login,
                                ext_provider, ext_issuer, ext_subject, ext_email, ext_linked_at,
                                ext_last_sso_at, email, mail_informational, mail_lang)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19)",
        )
        .await?;
    in_batches("users", &dump.users, progress, |user| {
        let statement = &statement;
        async move {
            let quota = user.quota_bytes.map(|q| to_bigint(q, "quota")).transpose()?;
            let totp = user.totp.as_ref();
            let last_step = to_bigint(totp.map_or(0, |t| t.last_step), "totp step")?;
            let x = user.external.as_ref();
            txn.execute(
                statement,
                &[
                    &user.name.as_str(),
                    &role_name(user.role),
                    &user.password_hash,
                    &user.created_at,
                    &user.disabled,
                    &quota,
                    &totp.map(|t| t.secret.as_slice()),
                    &totp.map(|t| t.enrolled_at),
                    &last_step,
                    &user.login.as_str(),
                    &x.map(|x| x.provider.as_str()),
                    &x.map(|x| x.issuer.as_str()),
                    &x.and_then(|x| x.subject.as_deref()),
                    &x.and_then(|x| x.email.as_deref()),
                    &x.and_then(|x| x.linked_at),
                    &x.and_then(|x| x.last_sso_at),
                    &user.email.as_ref().map(|e| e.as_str()),
                    &user.mail.informational,
                    &user.mail.lang.as_str(),
                ],
            )
            .await?;
            Ok(())
        }
    })
    .await
}

async fn app_passwords(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    let statement = txn
        .prepare(
            "INSERT INTO app_passwords (id, owner, name, secret_hash, created_at, expires_at,
                 access, folder, allow_from, access_method, user_agent, first_used_at,
                 last_used_at, revoked_at, networks)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .await?;
    in_batches("app passwords", &dump.app_passwords, progress, |p| {
        let statement = &statement;
        async move {
            let (access, folder, allow_from) = super::accounts::scope_columns(&p.scope);
            let networks = serde_json::to_string(&super::networks::in_micros(&p.networks))?;
            txn.execute(
                statement,
                &[
                    &p.id.as_str(),
                    &p.owner.as_str(),
                    &p.name,
                    &p.secret_hash,
                    &p.created_at,
                    &p.expires_at,
                    &access,
                    &folder,
                    &allow_from,
                    &p.access_method,
                    &p.user_agent,
                    &p.first_used_at,
                    &p.last_used_at,
                    &p.revoked_at,
                    &networks,
                ],
            )
            .await?;
            Ok(())
        }
    })
    .await
}

/// The file's settings replace any the target had (it had no accounts, so nothing was set for
/// them).
async fn settings(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    let statement = txn
        .prepare(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .await?;
    in_batches("settings", &dump.settings, progress, |(key, value)| {
        let statement = &statement;
        async move {
            txn.execute(statement, &[key, value]).await?;
            Ok(())
        }
    })
    .await
}

/// The properties, then each user's usage as the file counted it (replacing any the target
/// kept for a user it no longer has).
async fn dead_props(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    txn.batch_execute("DELETE FROM dead_props; DELETE FROM dead_props_usage").await?;
    let statement = txn
        .prepare("INSERT INTO dead_props (owner, path, prop, record) VALUES ($1, $2, $3, $4)")
        .await?;
    in_batches("dead properties", &dump.dead_props, progress, |(owner, path, prop, record)| {
        let statement = &statement;
        async move {
            txn.execute(statement, &[owner, path, prop, record]).await?;
            Ok(())
        }
    })
    .await?;
    let statement = txn
        .prepare("INSERT INTO dead_props_usage (owner, count, bytes) VALUES ($1, $2, $3)")
        .await?;
    let rows = dump.usage.iter().map(|(owner, count, bytes)| {
        let statement = &statement;
        async move {
            let count = to_bigint(*count, "usage.count")?;
            let bytes = to_bigint(*bytes, "usage.bytes")?;
            txn.execute(statement, &[owner, &count, &bytes]).await?;
            Ok::<_, Error>(())
        }
    });
    try_join_all(rows).await?;
    Ok(())
}

/// The identity providers and the kept refresh tokens (after the users they belong to).
async fn single_sign_on(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    let statement = txn.prepare("INSERT INTO oidc_providers (id, record) VALUES ($1, $2)").await?;
    in_batches("identity providers", &dump.providers, progress, |provider| {
        let statement = &statement;
        async move {
            let record = serde_json::to_vec(provider)?;
            txn.execute(statement, &[&provider.id.as_str(), &record]).await?;
            Ok(())
        }
    })
    .await?;
    let statement =
        txn.prepare("INSERT INTO oidc_refresh (username, token) VALUES ($1, $2)").await?;
    in_batches("refresh tokens", &dump.refresh_tokens, progress, |(name, token)| {
        let statement = &statement;
        async move {
            txn.execute(statement, &[name, token]).await?;
            Ok(())
        }
    })
    .await
}

/// The audit log, one statement after the other (not pipelined like the others: the target's
/// sequence numbers them in the order they are sent, which must be the file's order).
async fn audit_events(
    txn: &Transaction<'_>,
    dump: &Dump,
    progress: &mut (dyn FnMut(CopyProgress) + Send),
) -> Result<()> {
    let statement =
        txn.prepare("INSERT INTO audit_events (at, subject, record) VALUES ($1, $2, $3)").await?;
    let table = "audit events";
    let total = u64::try_from(dump.audit.len()).unwrap_or(u64::MAX);
    let mut done = 0u64;
    for chunk in dump.audit.chunks(BATCH) {
        for event in chunk {
            let subject = event.subject.as_ref().map(|s| s.as_str().to_string());
            let at = super::stored_time(event.at);
            let record = crate::store::encode(&AuditEvent { id: 0, at, ..event.clone() })?;
            txn.execute(&statement, &[&at, &subject, &record]).await?;
        }
        done = done.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        progress(CopyProgress { table, done, total });
    }
    if dump.audit.is_empty() {
        progress(CopyProgress { table, done, total });
    }
    Ok(())
}
