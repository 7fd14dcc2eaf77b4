//! App passwords in PostgreSQL: the redb files `app_passwords.rs` and `accounts.rs`'s
//! operations, with the same answers. Each method is the [`crate::store::Store`] method of the
//! same name.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio_postgres::Row;

use super::users::unknown;
use super::{Pg, bump, stored_time};
use crate::store::{
    Access, AppPassword, AppPasswordId, Error, LoginRecord, NewAppPassword, Result, Scope,
    ScopeFolder, UserName,
};

const PASSWORD_COLUMNS: &str = "id, owner, name, secret_hash, created_at, expires_at, \
                                access, folder, allow_from, access_method, user_agent, \
                                first_used_at, last_used_at, revoked_at, networks";

fn password_of(row: &Row) -> Result<AppPassword> {
    Ok(AppPassword {
        id: AppPasswordId::parse(row.try_get("id")?)?,
        owner: UserName::parse(row.try_get("owner")?)?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        scope: scope_of(row)?,
        access_method: row.try_get("access_method")?,
        user_agent: row.try_get("user_agent")?,
        first_used_at: row.try_get("first_used_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        networks: super::networks::networks_of(row.try_get("networks")?)?,
    })
}

/// The scope columns of a row; a value this build cannot read is refused, never widened.
fn scope_of(row: &Row) -> Result<Scope> {
    let bad = |what: &str, value: &str| Error::BadValue(format!("app password {what} '{value}'"));
    let access: String = row.try_get("access")?;
    let access = Access::ALL
        .into_iter()
        .find(|a| a.as_str() == access)
        .ok_or_else(|| bad("access", &access))?;
    let folder: Option<String> = row.try_get("folder")?;
    let folder = match folder {
        Some(f) => Some(ScopeFolder::try_from(f.clone()).map_err(|_| bad("folder", &f))?),
        None => None,
    };
    let nets: Vec<String> = row.try_get("allow_from")?;
    let allow_from = nets
        .iter()
        .map(|n| n.parse().map_err(|_| bad("network", n)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Scope { access, folder, allow_from })
}

/// The scope as the three columns store it.
pub(super) fn scope_columns(scope: &Scope) -> (&'static str, Option<&str>, Vec<String>) {
    let nets = scope.allow_from.iter().map(ToString::to_string).collect();
    (scope.access.as_str(), scope.folder.as_ref().map(ScopeFolder::as_str), nets)
}

/// Locks `owner`'s row (so that one user's app-password changes take turns), or
/// [`Error::UnknownUser`].
async fn lock_owner(txn: &deadpool_postgres::Transaction<'_>, owner: &UserName) -> Result<()> {
    let sql = "SELECT 1 FROM users WHERE name = $1 FOR UPDATE";
    let found = txn.query_opt(sql, &[&owner.as_str()]).await?;
    found.map(|_| ()).ok_or_else(|| unknown(owner))
}

impl Pg {
    pub(in crate::store) async fn create_app_password(
        &self,
        new: NewAppPassword,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        let max = self.feed.settings().app_credentials_max_per_user;
        let now = stored_time(now);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        lock_owner(&txn, &new.owner).await?;
        let live = txn
            .query_one(
                "SELECT count(*) AS live, count(*) FILTER (WHERE name = $2) AS same_name
                 FROM app_passwords
                 WHERE owner = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
                &[&new.owner.as_str(), &new.name, &now],
            )
            .await?;
        if live.try_get::<_, i64>("same_name")? > 0 {
            return Err(Error::DuplicateName { user: new.owner.to_string(), name: new.name });
        }
        let count = usize::try_from(live.try_get::<_, i64>("live")?).unwrap_or(usize::MAX);
        if count >= max as usize {
            return Err(Error::TooManyAppPasswords {
                user: new.owner.to_string(),
                live: count,
                max,
            });
        }
        let expires_at = new.expires_at.map(stored_time);
        let (access, folder, allow_from) = scope_columns(&new.scope);
        let inserted = txn
            .execute(
                "INSERT INTO app_passwords (id, owner, name, secret_hash, created_at, expires_at,
                     access, folder, allow_from)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                &[
                    &new.id.as_str(),
                    &new.owner.as_str(),
                    &new.name,
                    &new.secret_hash,
                    &now,
                    &expires_at,
                    &access,
                    &folder,
                    &allow_from,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(Error::IdTaken);
        }
        txn.commit().await?;
        Ok(AppPassword {
            id: new.id,
            owner: new.owner,
            name: new.name,
            secret_hash: new.secret_hash,
            created_at: now,
            expires_at,
            scope: new.scope,
            access_method: None,
            user_agent: None,
            first_used_at: None,
            last_used_at: None,
            revoked_at: None,
            networks: Vec::new(),
        })
    }

    /// One statement: the app password and its owner's state, as one snapshot.
    pub(in crate::store) async fn login_record(
        &self,
        id: &AppPasswordId,
    ) -> Result<Option<LoginRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {cols}, COALESCE(u.disabled, true) AS owner_disabled,
                    CASE WHEN u.login = 'sso' THEN COALESCE(u.ext_last_sso_at, u.created_at) END
                        AS owner_sso_since
             FROM app_passwords p LEFT JOIN users u ON u.name = p.owner WHERE p.id = $1",
            cols = prefixed("p", PASSWORD_COLUMNS)
        );
        let Some(row) = client.query_opt(&sql, &[&id.as_str()]).await? else { return Ok(None) };
        let owner_disabled = row.try_get("owner_disabled")?;
        let owner_sso_since = row.try_get("owner_sso_since")?;
        Ok(Some(LoginRecord { password: password_of(&row)?, owner_disabled, owner_sso_since }))
    }

    pub(in crate::store) async fn app_passwords(
        &self,
        owner: Option<&UserName>,
    ) -> Result<Vec<AppPassword>> {
        let client = self.client().await?;
        let order = "ORDER BY owner COLLATE \"C\", created_at";
        let rows = match owner {
            Some(name) => {
                let exists = "SELECT 1 FROM users WHERE name = $1";
                if client.query_opt(exists, &[&name.as_str()]).await?.is_none() {
                    return Err(unknown(name));
                }
                let sql = format!(
                    "SELECT {PASSWORD_COLUMNS} FROM app_passwords WHERE owner = $1 {order}"
                );
                client.query(&sql, &[&name.as_str()]).await?
            }
            None => {
                let sql = format!("SELECT {PASSWORD_COLUMNS} FROM app_passwords {order}");
                client.query(&sql, &[]).await?
            }
        };
        rows.iter().map(password_of).collect()
    }

    pub(in crate::store) async fn revoke_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        lock_owner(&txn, owner).await?;
        let sql = format!(
            "UPDATE app_passwords SET revoked_at = COALESCE(revoked_at, $3)
             WHERE id = $1 AND owner = $2 RETURNING {PASSWORD_COLUMNS}"
        );
        let row = txn.query_opt(&sql, &[&id.as_str(), &owner.as_str(), &now]).await?;
        let unknown = || Error::UnknownAppPassword { user: owner.to_string(), id: id.to_string() };
        let password = password_of(&row.ok_or_else(unknown)?)?;
        txn.execute("DELETE FROM locks WHERE app_password = $1", &[&id.as_str()]).await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(password)
    }

    pub(in crate::store) async fn revoke_all_app_passwords(
        &self,
        owner: &UserName,
        now: DateTime<Utc>,
    ) -> Result<Vec<AppPasswordId>> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        lock_owner(&txn, owner).await?;
        let rows = txn
            .query(
                "UPDATE app_passwords SET revoked_at = $2
                 WHERE owner = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
                 RETURNING id",
                &[&owner.as_str(), &now],
            )
            .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        txn.execute("DELETE FROM locks WHERE app_password = ANY($1)", &[&ids]).await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        ids.iter().map(|id| Ok(AppPasswordId::parse(id)?)).collect()
    }

    /// See [`crate::store::Store::rename_app_password`].
    pub(in crate::store) async fn rename_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        let now = stored_time(now);
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        lock_owner(&txn, owner).await?;
        let same = txn
            .query_one(
                "SELECT count(*) FROM app_passwords
                 WHERE owner = $1 AND id <> $2 AND name = $3 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > $4)",
                &[&owner.as_str(), &id.as_str(), &name, &now],
            )
            .await?;
        if same.try_get::<_, i64>(0)? > 0 {
            return Err(Error::DuplicateName { user: owner.to_string(), name: name.to_string() });
        }
        let sql = format!(
            "UPDATE app_passwords SET name = $3 WHERE id = $1 AND owner = $2
             RETURNING {PASSWORD_COLUMNS}"
        );
        let row = txn.query_opt(&sql, &[&id.as_str(), &owner.as_str(), &name]).await?;
        let unknown = || Error::UnknownAppPassword { user: owner.to_string(), id: id.to_string() };
        let password = password_of(&row.ok_or_else(unknown)?)?;
        txn.commit().await?;
        Ok(password)
    }

    /// Only the first call for an id has any effect (`WHERE access_method IS NULL`).
    pub(in crate::store) async fn record_first_use(
        &self,
        id: &AppPasswordId,
        access_method: &str,
        user_agent: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE app_passwords SET access_method = $2, user_agent = $3, first_used_at = $4,
                     last_used_at = GREATEST(last_used_at, $4)
                 WHERE id = $1 AND access_method IS NULL",
                &[&id.as_str(), &access_method, &user_agent, &now],
            )
            .await?;
        Ok(())
    }

    /// One statement for the batch; a time older than the stored one changes nothing.
    pub(in crate::store) async fn record_last_used(
        &self,
        uses: Vec<(AppPasswordId, DateTime<Utc>)>,
    ) -> Result<()> {
        let mut latest: HashMap<String, DateTime<Utc>> = HashMap::new();
        for (id, at) in uses {
            let entry = latest.entry(id.as_str().to_string()).or_insert(at);
            *entry = (*entry).max(at);
        }
        if latest.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<String>, Vec<DateTime<Utc>>) = latest.into_iter().unzip();
        let client = self.client().await?;
        client
            .execute(
                "UPDATE app_passwords p SET last_used_at = GREATEST(p.last_used_at, v.at)
                 FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE p.id = v.id",
                &[&ids, &times],
            )
            .await?;
        Ok(())
    }
}

/// `cols` with each column qualified by `table` (for a join).
fn prefixed(table: &str, cols: &str) -> String {
    cols.split(", ").map(|c| format!("{table}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}
