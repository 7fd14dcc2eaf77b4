//! Web sessions in PostgreSQL: the redb file `sessions.rs`'s operations, with the same answers,
//! under concurrency across nodes. Openings take one advisory lock (they are rare: each follows
//! an argon2), so the caps count what every node opened; a read or a code claim locks its one
//! row (`FOR UPDATE`), so two nodes can never both grant the fifth attempt. Each method is the
//! [`crate::store::Store`] method of the same name.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{Pg, stored_time};
use crate::store::sessions::{CodeClaim, SessionRecord, SessionRules, TokenDigest, Write};
use crate::store::{Error, Result, UserName};

/// Serialises session openings across nodes ("sessions" in ASCII).
const OPEN_LOCK: i64 = 0x7365_7373_696f_6e73;

/// Sessions over that an opening sweeps when the table is not full (as redb).
const SWEEP_BATCH: i64 = 16;

const COLUMNS: &str = "username, credential, csrf, signed_in, code_attempts, enrolment, \
                       created_at, last_seen";

fn record_of(row: &Row) -> Result<SessionRecord> {
    let credential: Vec<u8> = row.try_get("credential")?;
    let attempts: i16 = row.try_get("code_attempts")?;
    Ok(SessionRecord {
        user: UserName::parse(row.try_get("username")?)?,
        credential: credential
            .try_into()
            .map_err(|_| Error::OutOfRange("web_sessions.credential"))?,
        csrf: row.try_get("csrf")?,
        signed_in: row.try_get("signed_in")?,
        code_attempts: u8::try_from(attempts)
            .map_err(|_| Error::OutOfRange("web_sessions.code_attempts"))?,
        enrolment: row.try_get("enrolment")?,
        created_at: row.try_get("created_at")?,
        last_seen: row.try_get("last_seen")?,
    })
}

fn total(rules: &SessionRules) -> i64 {
    i64::try_from(rules.max_sessions.max(1)).unwrap_or(i64::MAX)
}

impl Pg {
    pub(in crate::store) async fn open_session(
        &self,
        digest: TokenDigest,
        record: SessionRecord,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        txn.execute("SELECT pg_advisory_xact_lock($1)", &[&OPEN_LOCK]).await?;
        let user = record.user.as_str();
        // The account keeps its newest (cap - 1), then this one: one statement.
        let keep = i64::try_from(rules.max_per_user.max(1) - 1).unwrap_or(i64::MAX);
        txn.execute(
            "DELETE FROM web_sessions WHERE token_digest IN (
                 SELECT token_digest FROM web_sessions WHERE username = $1
                 ORDER BY used DESC OFFSET $2)",
            &[&user, &keep],
        )
        .await?;
        let full = |n: i64| n >= total(&rules);
        let batch = if full(count(&txn).await?) { total(&rules) } else { SWEEP_BATCH };
        sweep(&txn, &rules, now, batch).await?;
        while full(count(&txn).await?) {
            let dropped = txn
                .execute(
                    "DELETE FROM web_sessions WHERE token_digest = (
                         SELECT token_digest FROM web_sessions WHERE username = (
                             SELECT username FROM web_sessions GROUP BY username
                             ORDER BY count(*) DESC, max(used) ASC LIMIT 1)
                         ORDER BY used LIMIT 1)",
                    &[],
                )
                .await?;
            if dropped == 0 {
                break;
            }
        }
        let (created, seen) = (stored_time(record.created_at), stored_time(record.last_seen));
        txn.execute(
            "INSERT INTO web_sessions (token_digest, username, credential, csrf, signed_in,
                 code_attempts, enrolment, created_at, last_seen, used)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('web_sessions_use'))",
            &[
                &digest.as_slice(),
                &user,
                &record.credential.as_slice(),
                &record.csrf,
                &record.signed_in,
                &i16::from(record.code_attempts),
                &record.enrolment,
                &created,
                &seen,
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn session(
        &self,
        digest: TokenDigest,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let Some(mut record) = locked(&txn, &digest).await? else { return Ok(None) };
        if !rules.alive(&record, now) {
            delete(&txn, &digest).await?;
            txn.commit().await?;
            return Ok(None);
        }
        record.last_seen = stored_time(now);
        touch(&txn, &digest, &record).await?;
        txn.commit().await?;
        Ok(Some(record))
    }

    pub(in crate::store) async fn claim_code_attempt(
        &self,
        digest: TokenDigest,
        rules: SessionRules,
        now: DateTime<Utc>,
    ) -> Result<CodeClaim> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let claimed = rules.claim(locked(&txn, &digest).await?, stored_time(now));
        match &claimed.write {
            Write::Touch(record) => touch(&txn, &digest, record).await?,
            Write::Delete => delete(&txn, &digest).await?,
        }
        txn.commit().await?;
        Ok(claimed.claim)
    }

    pub(in crate::store) async fn set_session_enrolment(
        &self,
        digest: TokenDigest,
        enrolment: Option<Vec<u8>>,
    ) -> Result<Option<SessionRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE web_sessions SET enrolment = $2 WHERE token_digest = $1 RETURNING {COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&digest.as_slice(), &enrolment]).await?;
        row.as_ref().map(record_of).transpose()
    }

    pub(in crate::store) async fn close_session(&self, digest: TokenDigest) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM web_sessions WHERE token_digest = $1", &[&digest.as_slice()])
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn close_sessions_of(&self, user: &UserName) -> Result<()> {
        let client = self.client().await?;
        client.execute("DELETE FROM web_sessions WHERE username = $1", &[&user.as_str()]).await?;
        Ok(())
    }

    pub(in crate::store) async fn session_count(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client.query_one("SELECT count(*) FROM web_sessions", &[]).await?;
        super::from_bigint(row.try_get(0)?, "count(web_sessions)")
    }
}

async fn count(txn: &Transaction<'_>) -> Result<i64> {
    Ok(txn.query_one("SELECT count(*) FROM web_sessions", &[]).await?.try_get(0)?)
}

/// The row behind `digest`, locked until the transaction ends.
async fn locked(txn: &Transaction<'_>, digest: &TokenDigest) -> Result<Option<SessionRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM web_sessions WHERE token_digest = $1 FOR UPDATE");
    txn.query_opt(&sql, &[&digest.as_slice()]).await?.as_ref().map(record_of).transpose()
}

/// Writes what a use changes (last seen, attempts) and moves the row to the most recent end.
async fn touch(txn: &Transaction<'_>, digest: &TokenDigest, record: &SessionRecord) -> Result<()> {
    txn.execute(
        "UPDATE web_sessions SET last_seen = $2, code_attempts = $3,
             used = nextval('web_sessions_use')
         WHERE token_digest = $1",
        &[&digest.as_slice(), &stored_time(record.last_seen), &i16::from(record.code_attempts)],
    )
    .await?;
    Ok(())
}

async fn delete(txn: &Transaction<'_>, digest: &TokenDigest) -> Result<()> {
    txn.execute("DELETE FROM web_sessions WHERE token_digest = $1", &[&digest.as_slice()]).await?;
    Ok(())
}

/// Drops sessions over at `now` from the least recently used end, up to the first live one or
/// `limit` of them.
async fn sweep(
    txn: &Transaction<'_>,
    rules: &SessionRules,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<()> {
    let sql = format!("SELECT token_digest, {COLUMNS} FROM web_sessions ORDER BY used LIMIT $1");
    let rows = txn.query(&sql, &[&limit]).await?;
    let mut over: Vec<Vec<u8>> = Vec::new();
    for row in &rows {
        if rules.alive(&record_of(row)?, now) {
            break;
        }
        over.push(row.try_get("token_digest")?);
    }
    if !over.is_empty() {
        txn.execute("DELETE FROM web_sessions WHERE token_digest = ANY($1)", &[&over]).await?;
    }
    Ok(())
}
