//! Accounts in PostgreSQL: the redb file `users.rs`'s operations and removing an account,
//! with the same answers. Each method is the [`crate::store::Store`] method of the same name.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Pg, bump, from_bigint, stored_time, to_bigint};
use crate::store::{
    EmailAddress, Error, ExternalIdentity, LoginMethod, MailLang, MailPrefs, ProviderId, Result,
    Role, TotpFactor, User, UserName,
};

pub(super) const USER_COLUMNS: &str = "name, role, password_hash, created_at, disabled, \
    quota_bytes, totp_secret, totp_enrolled_at, totp_last_step, login, ext_provider, ext_issuer, \
    ext_subject, ext_email, ext_linked_at, ext_last_sso_at, email, mail_informational, mail_lang";
pub(super) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::User => "user",
    }
}

pub(super) fn user_of(row: &Row) -> Result<User> {
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
        login: LoginMethod::parse(row.try_get("login")?).ok_or(Error::OutOfRange("users.login"))?,
        external: external_of(row)?,
        email: row
            .try_get::<_, Option<String>>("email")?
            .map(|e| EmailAddress::parse(&e).map_err(|_| Error::OutOfRange("users.email")))
            .transpose()?,
        mail: MailPrefs {
            informational: row.try_get("mail_informational")?,
            lang: MailLang::parse(row.try_get("mail_lang")?)
                .ok_or(Error::OutOfRange("users.mail_lang"))?,
        },
    })
}

fn external_of(row: &Row) -> Result<Option<ExternalIdentity>> {
    let provider: Option<&str> = row.try_get("ext_provider")?;
    let issuer: Option<String> = row.try_get("ext_issuer")?;
    let (Some(provider), Some(issuer)) = (provider, issuer) else { return Ok(None) };
    Ok(Some(ExternalIdentity {
        provider: ProviderId::parse(provider)?,
        issuer,
        subject: row.try_get("ext_subject")?,
        email: row.try_get("ext_email")?,
        linked_at: row.try_get("ext_linked_at")?,
        last_sso_at: row.try_get("ext_last_sso_at")?,
    }))
}

pub(super) fn unknown(name: &UserName) -> Error {
    Error::UnknownUser(name.to_string())
}

impl Pg {
    pub(in crate::store) async fn create_user(
        &self,
        name: &UserName,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let now = stored_time(now);
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
        Ok(User::new(name.clone(), role, password_hash, now))
    }

    pub(in crate::store) async fn user(&self, name: &UserName) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        client.query_opt(&sql, &[&name.as_str()]).await?.as_ref().map(user_of).transpose()
    }

    pub(in crate::store) async fn users(&self) -> Result<Vec<User>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name COLLATE \"C\"");
        client.query(&sql, &[]).await?.iter().map(user_of).collect()
    }

    pub(in crate::store) async fn has_users(&self) -> Result<bool> {
        let client = self.client().await?;
        Ok(client.query_one("SELECT EXISTS (SELECT 1 FROM users)", &[]).await?.get(0))
    }

    /// Disabling an admin locks every enabled admin's row before counting: two nodes disabling
    /// the last two admins at once cannot both succeed.
    pub(in crate::store) async fn set_user_disabled(
        &self,
        name: &UserName,
        disabled: bool,
    ) -> Result<User> {
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
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }

    /// A plain update: an address takes no credential away, so nothing is published.
    pub(in crate::store) async fn set_user_email(
        &self,
        name: &UserName,
        email: Option<EmailAddress>,
    ) -> Result<User> {
        let email = email.map(String::from);
        let client = self.client().await?;
        let sql = format!("UPDATE users SET email = $2 WHERE name = $1 RETURNING {USER_COLUMNS}");
        let row = client.query_opt(&sql, &[&name.as_str(), &email]).await?;
        user_of(&row.ok_or_else(|| unknown(name))?)
    }

    /// A plain update, as the address is.
    pub(in crate::store) async fn set_mail_prefs(
        &self,
        name: &UserName,
        prefs: MailPrefs,
    ) -> Result<User> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET mail_informational = $2, mail_lang = $3 WHERE name = $1 \
             RETURNING {USER_COLUMNS}"
        );
        let lang = prefs.lang.as_str();
        let row = client.query_opt(&sql, &[&name.as_str(), &prefs.informational, &lang]).await?;
        user_of(&row.ok_or_else(|| unknown(name))?)
    }

    pub(in crate::store) async fn set_user_quota(
        &self,
        name: &UserName,
        quota: Option<u64>,
    ) -> Result<User> {
        let quota = quota.map(|q| to_bigint(q, "quota")).transpose()?;
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql =
            format!("UPDATE users SET quota_bytes = $2 WHERE name = $1 RETURNING {USER_COLUMNS}");
        let row = txn.query_opt(&sql, &[&name.as_str(), &quota]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }

    pub(in crate::store) async fn set_user_password(
        &self,
        name: &UserName,
        hash: String,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql = "UPDATE users SET password_hash = $2 WHERE name = $1";
        if txn.execute(sql, &[&name.as_str(), &hash]).await? == 0 {
            return Err(unknown(name));
        }
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(())
    }

    pub(in crate::store) async fn set_user_totp(
        &self,
        name: &UserName,
        totp: Option<TotpFactor>,
    ) -> Result<User> {
        let (secret, enrolled, step) = match &totp {
            Some(f) => {
                (Some(&f.secret), Some(stored_time(f.enrolled_at)), to_bigint(f.last_step, "step")?)
            }
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
    pub(in crate::store) async fn accept_totp_step(
        &self,
        name: &UserName,
        step: u64,
    ) -> Result<bool> {
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
pub(super) async fn refuse_last_admin(
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

impl Pg {
    /// The account, its app passwords (by the foreign key's cascade), its properties and locks.
    pub(in crate::store) async fn remove_user(&self, name: &UserName) -> Result<usize> {
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
        txn.execute("DELETE FROM locks WHERE owner = $1", &[&name.as_str()]).await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        usize::try_from(passwords).map_err(|_| Error::OutOfRange("app password count"))
    }
}
