//! Accounts and app passwords in PostgreSQL: the operations of the redb files `users.rs`,
//! `app_passwords.rs` and `accounts.rs`, with the same answers.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio_postgres::Row;

use super::{Pg, bump, from_bigint, to_bigint};
use crate::store::{
    AppPassword, AppPasswordId, Error, LoginRecord, NewAppPassword, Result, Role, TotpFactor, User,
    UserName,
};

const USER_COLUMNS: &str = "name, role, password_hash, created_at, disabled, quota_bytes, \
                            totp_secret, totp_enrolled_at, totp_last_step";
const PASSWORD_COLUMNS: &str = "id, owner, name, secret_hash, created_at, expires_at, \
                                access_method, user_agent, first_used_at, last_used_at, revoked_at";

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::User => "user",
    }
}

fn user_of(row: &Row) -> Result<User> {
    let role = match row.try_get::<_, &str>("role")? {
        "admin" => Role::Admin,
        "user" => Role::User,
        _ => return Err(Error::OutOfRange("users.role")),
    };
    let quota: Option<i64> = row.try_get("quota_bytes")?;
    let secret: Option<Vec<u8>> = row.try_get("totp_secret")?;
    let enrolled: Option<DateTime<Utc>> = row.try_get("totp_enrolled_at")?;
    let totp = match (secret, enrolled) {
        (Some(secret), Some(enrolled_at)) => Some(TotpFactor {
            secret,
            enrolled_at,
            last_step: from_bigint(row.try_get("totp_last_step")?, "users.totp_last_step")?,
        }),
        _ => None,
    };
    Ok(User {
        name: UserName::parse(row.try_get("name")?)?,
        role,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        disabled: row.try_get("disabled")?,
        quota_bytes: quota.map(|q| from_bigint(q, "users.quota_bytes")).transpose()?,
        totp,
    })
}

fn password_of(row: &Row) -> Result<AppPassword> {
    Ok(AppPassword {
        id: AppPasswordId::parse(row.try_get("id")?)?,
        owner: UserName::parse(row.try_get("owner")?)?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        access_method: row.try_get("access_method")?,
        user_agent: row.try_get("user_agent")?,
        first_used_at: row.try_get("first_used_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn unknown(name: &UserName) -> Error {
    Error::UnknownUser(name.to_string())
}

impl Pg {
    pub(crate) async fn create_user(
        &self,
        name: &UserName,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name.as_str(), &role_name(role), &password_hash, &now],
            )
            .await?;
        if inserted == 0 {
            return Err(Error::UserExists(name.to_string()));
        }
        Ok(User {
            name: name.clone(),
            role,
            password_hash,
            created_at: now,
            disabled: false,
            quota_bytes: None,
            totp: None,
        })
    }

    pub(crate) async fn user(&self, name: &UserName) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        client.query_opt(&sql, &[&name.as_str()]).await?.as_ref().map(user_of).transpose()
    }

    pub(crate) async fn users(&self) -> Result<Vec<User>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name COLLATE \"C\"");
        client.query(&sql, &[]).await?.iter().map(user_of).collect()
    }

    pub(crate) async fn has_users(&self) -> Result<bool> {
        let client = self.client().await?;
        Ok(client.query_one("SELECT EXISTS (SELECT 1 FROM users)", &[]).await?.get(0))
    }

    /// Disabling an admin locks every enabled admin's row before counting: two nodes disabling
    /// the last two admins at once cannot both succeed.
    pub(crate) async fn set_user_disabled(&self, name: &UserName, disabled: bool) -> Result<User> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        if disabled {
            refuse_last_admin(&txn, name).await?;
        }
        let sql =
            format!("UPDATE users SET disabled = $2 WHERE name = $1 RETURNING {USER_COLUMNS}");
        let row = txn.query_opt(&sql, &[&name.as_str(), &disabled]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        Ok(user)
    }

    pub(crate) async fn set_user_quota(&self, name: &UserName, quota: Option<u64>) -> Result<User> {
        let quota = quota.map(|q| to_bigint(q, "quota")).transpose()?;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql =
            format!("UPDATE users SET quota_bytes = $2 WHERE name = $1 RETURNING {USER_COLUMNS}");
        let row = txn.query_opt(&sql, &[&name.as_str(), &quota]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        Ok(user)
    }

    pub(crate) async fn set_user_password(&self, name: &UserName, hash: String) -> Result<()> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql = "UPDATE users SET password_hash = $2 WHERE name = $1";
        if txn.execute(sql, &[&name.as_str(), &hash]).await? == 0 {
            return Err(unknown(name));
        }
        self.commit_published(txn, generation).await
    }

    pub(crate) async fn set_user_totp(
        &self,
        name: &UserName,
        totp: Option<TotpFactor>,
    ) -> Result<User> {
        let (secret, enrolled, step) = match &totp {
            Some(f) => (Some(&f.secret), Some(f.enrolled_at), to_bigint(f.last_step, "step")?),
            None => (None, None, 0),
        };
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET totp_secret = $2, totp_enrolled_at = $3, totp_last_step = $4
             WHERE name = $1 RETURNING {USER_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&name.as_str(), &secret, &enrolled, &step]).await?;
        user_of(&row.ok_or_else(|| unknown(name))?)
    }

    /// One conditional UPDATE: of two nodes offering the same step, one gets the row.
    pub(crate) async fn accept_totp_step(&self, name: &UserName, step: u64) -> Result<bool> {
        let Ok(step) = i64::try_from(step) else { return Ok(false) };
        let client = self.client().await?;
        let accepted = client
            .execute(
                "UPDATE users SET totp_last_step = $2
                 WHERE name = $1 AND totp_secret IS NOT NULL AND totp_last_step < $2",
                &[&name.as_str(), &step],
            )
            .await?;
        if accepted == 1 {
            return Ok(true);
        }
        let exists = "SELECT 1 FROM users WHERE name = $1";
        if client.query_opt(exists, &[&name.as_str()]).await?.is_none() {
            return Err(unknown(name));
        }
        Ok(false)
    }
}

/// Locks every enabled admin's row, then refuses if `name` is the only one: every change that
/// could leave no enabled admin runs this first, so two of them take turns.
async fn refuse_last_admin(
    txn: &deadpool_postgres::Transaction<'_>,
    name: &UserName,
) -> Result<()> {
    let rows = txn
        .query("SELECT name FROM users WHERE role = 'admin' AND NOT disabled FOR UPDATE", &[])
        .await?;
    let admins: Vec<&str> = rows.iter().map(|r| r.get(0)).collect();
    if admins == [name.as_str()] {
        return Err(Error::LastAdmin(name.to_string()));
    }
    Ok(())
}

/// Locks `owner`'s row (so that one user's app-password changes take turns), or
/// [`Error::UnknownUser`].
async fn lock_owner(txn: &deadpool_postgres::Transaction<'_>, owner: &UserName) -> Result<()> {
    let sql = "SELECT 1 FROM users WHERE name = $1 FOR UPDATE";
    let found = txn.query_opt(sql, &[&owner.as_str()]).await?;
    found.map(|_| ()).ok_or_else(|| unknown(owner))
}

impl Pg {
    pub(crate) async fn create_app_password(
        &self,
        new: NewAppPassword,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        let ttl = self.feed.settings().app_credentials_ttl;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        lock_owner(&txn, &new.owner).await?;
        let duplicate = txn
            .query_opt(
                "SELECT 1 FROM app_passwords
                 WHERE owner = $1 AND name = $2 AND revoked_at IS NULL AND expires_at > $3",
                &[&new.owner.as_str(), &new.name, &now],
            )
            .await?;
        if duplicate.is_some() {
            return Err(Error::DuplicateName { user: new.owner.to_string(), name: new.name });
        }
        let expires_at = now + ttl.as_chrono();
        let inserted = txn
            .execute(
                "INSERT INTO app_passwords (id, owner, name, secret_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &new.id.as_str(),
                    &new.owner.as_str(),
                    &new.name,
                    &new.secret_hash,
                    &now,
                    &expires_at,
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
            access_method: None,
            user_agent: None,
            first_used_at: None,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// One statement: the app password and its owner's state, as one snapshot.
    pub(crate) async fn login_record(&self, id: &AppPasswordId) -> Result<Option<LoginRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {cols}, COALESCE(u.disabled, true) AS owner_disabled
             FROM app_passwords p LEFT JOIN users u ON u.name = p.owner WHERE p.id = $1",
            cols = prefixed("p", PASSWORD_COLUMNS)
        );
        let Some(row) = client.query_opt(&sql, &[&id.as_str()]).await? else { return Ok(None) };
        let owner_disabled = row.try_get("owner_disabled")?;
        Ok(Some(LoginRecord { password: password_of(&row)?, owner_disabled }))
    }

    pub(crate) async fn app_passwords(&self, owner: Option<&UserName>) -> Result<Vec<AppPassword>> {
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

    pub(crate) async fn revoke_app_password(
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
        self.commit_published(txn, generation).await?;
        Ok(password)
    }

    pub(crate) async fn revoke_all_app_passwords(
        &self,
        owner: &UserName,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        lock_owner(&txn, owner).await?;
        let revoked = txn
            .execute(
                "UPDATE app_passwords SET revoked_at = $2
                 WHERE owner = $1 AND revoked_at IS NULL AND expires_at > $2",
                &[&owner.as_str(), &now],
            )
            .await?;
        self.commit_published(txn, generation).await?;
        usize::try_from(revoked).map_err(|_| Error::OutOfRange("revoked count"))
    }

    /// The account, its app passwords (by the foreign key's cascade) and its properties.
    pub(crate) async fn remove_user(&self, name: &UserName) -> Result<usize> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let role = "SELECT role FROM users WHERE name = $1 FOR UPDATE";
        let Some(role) = txn.query_opt(role, &[&name.as_str()]).await? else {
            return Err(unknown(name));
        };
        if role.get::<_, &str>(0) == "admin" {
            refuse_last_admin(&txn, name).await?;
        }
        let count = "SELECT count(*) FROM app_passwords WHERE owner = $1";
        let passwords: i64 = txn.query_one(count, &[&name.as_str()]).await?.get(0);
        txn.execute("DELETE FROM users WHERE name = $1", &[&name.as_str()]).await?;
        txn.execute("DELETE FROM dead_props WHERE owner = $1", &[&name.as_str()]).await?;
        txn.execute("DELETE FROM dead_props_usage WHERE owner = $1", &[&name.as_str()]).await?;
        self.commit_published(txn, generation).await?;
        usize::try_from(passwords).map_err(|_| Error::OutOfRange("app password count"))
    }

    /// Only the first call for an id has any effect (`WHERE access_method IS NULL`).
    pub(crate) async fn record_first_use(
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
    pub(crate) async fn record_last_used(
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
