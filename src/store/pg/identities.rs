//! Linked identities in PostgreSQL: the redb file `identities.rs`'s operations, with the same
//! answers. The identity lives in the `users` row (`ext_*` columns, unique on issuer+subject).

use chrono::{DateTime, Utc};

use super::users::{USER_COLUMNS, refuse_last_admin, role_name, unknown, user_of};
use super::{Pg, bump, stored_time};
use crate::store::{
    Error, ExternalIdentity, LoginMethod, ProviderId, Result, Role, SsoSignIn, User, UserName,
};

/// Refuses `identity` when another account than `name` holds its (issuer, subject).
async fn refuse_taken(
    txn: &deadpool_postgres::Transaction<'_>,
    name: &UserName,
    identity: &ExternalIdentity,
) -> Result<()> {
    let Some(subject) = &identity.subject else { return Ok(()) };
    let sql = "SELECT name FROM users WHERE ext_issuer = $1 AND ext_subject = $2 AND name <> $3";
    let row = txn.query_opt(sql, &[&identity.issuer, subject, &name.as_str()]).await?;
    match row {
        Some(row) => Err(Error::IdentityTaken(row.get(0))),
        None => Ok(()),
    }
}

fn time(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.map(stored_time)
}

impl Pg {
    pub(in crate::store) async fn create_linked_user(&self, user: User) -> Result<User> {
        let Some(x) = user.external.clone() else { return Err(unknown(&user.name)) };
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        refuse_taken(&txn, &user.name, &x).await?;
        let created = stored_time(user.created_at);
        let inserted = txn
            .execute(
                "INSERT INTO users (name, role, password_hash, created_at, login, ext_provider,
                                    ext_issuer, ext_subject, ext_email, ext_linked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING",
                &[
                    &user.name.as_str(),
                    &role_name(user.role),
                    &user.password_hash,
                    &created,
                    &user.login.as_str(),
                    &x.provider.as_str(),
                    &x.issuer,
                    &x.subject,
                    &x.email,
                    &time(x.linked_at),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(Error::UserExists(user.name.to_string()));
        }
        txn.commit().await?;
        let mut user = user;
        user.created_at = created;
        if let Some(x) = user.external.as_mut() {
            x.linked_at = time(x.linked_at);
        }
        Ok(user)
    }

    pub(in crate::store) async fn link_identity(
        &self,
        name: &UserName,
        x: ExternalIdentity,
    ) -> Result<User> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        refuse_taken(&txn, name, &x).await?;
        let sql = format!(
            "UPDATE users SET ext_provider = $2, ext_issuer = $3, ext_subject = $4, ext_email = $5,
                              ext_linked_at = $6, ext_last_sso_at = $7
             WHERE name = $1 RETURNING {USER_COLUMNS}"
        );
        let row = txn
            .query_opt(
                &sql,
                &[
                    &name.as_str(),
                    &x.provider.as_str(),
                    &x.issuer,
                    &x.subject,
                    &x.email,
                    &time(x.linked_at),
                    &time(x.last_sso_at),
                ],
            )
            .await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }

    pub(in crate::store) async fn unlink_identity(&self, name: &UserName) -> Result<User> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql = format!(
            "UPDATE users SET ext_provider = NULL, ext_issuer = NULL, ext_subject = NULL,
                              ext_email = NULL, ext_linked_at = NULL, ext_last_sso_at = NULL
             WHERE name = $1 RETURNING {USER_COLUMNS}"
        );
        let row = txn.query_opt(&sql, &[&name.as_str()]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        txn.execute("DELETE FROM oidc_refresh WHERE username = $1", &[&name.as_str()]).await?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }

    pub(in crate::store) async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE ext_issuer = $1 AND ext_subject = $2");
        client.query_opt(&sql, &[&issuer, &subject]).await?.as_ref().map(user_of).transpose()
    }

    pub(in crate::store) async fn pending_identity(
        &self,
        provider: &ProviderId,
        email: &str,
    ) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ext_provider = $1 AND ext_subject IS NULL
             AND lower(ext_email) = lower($2) ORDER BY name COLLATE \"C\" LIMIT 1"
        );
        client
            .query_opt(&sql, &[&provider.as_str(), &email])
            .await?
            .as_ref()
            .map(user_of)
            .transpose()
    }

    pub(in crate::store) async fn set_login_method(
        &self,
        name: &UserName,
        login: LoginMethod,
    ) -> Result<User> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql = format!("UPDATE users SET login = $2 WHERE name = $1 RETURNING {USER_COLUMNS}");
        let row = txn.query_opt(&sql, &[&name.as_str(), &login.as_str()]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }

    /// A demotion locks the enabled admins first, as disabling does.
    pub(in crate::store) async fn record_sso_sign_in(
        &self,
        name: &UserName,
        sign_in: SsoSignIn,
    ) -> Result<User> {
        let mut client = self.client().await?;
        let txn = client.transaction().await?;
        let generation = bump(&txn).await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1 FOR UPDATE");
        let row = txn.query_opt(&sql, &[&name.as_str()]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        if user.external.is_none() {
            return Err(unknown(name));
        }
        let role = match sign_in.role {
            Some(Role::User) if user.role == Role::Admin => {
                match refuse_last_admin(&txn, name).await {
                    Ok(()) => Role::User,
                    Err(Error::LastAdmin(_)) => Role::Admin,
                    Err(e) => return Err(e),
                }
            }
            Some(role) => role,
            None => user.role,
        };
        let sql = format!(
            "UPDATE users SET ext_last_sso_at = $2, ext_email = COALESCE($3, ext_email), role = $4
             WHERE name = $1 RETURNING {USER_COLUMNS}"
        );
        let at = stored_time(sign_in.at);
        let row =
            txn.query_opt(&sql, &[&name.as_str(), &at, &sign_in.email, &role_name(role)]).await?;
        let user = user_of(&row.ok_or_else(|| unknown(name))?)?;
        self.commit_published(txn, generation).await?;
        drop(client);
        self.await_acks(generation).await;
        Ok(user)
    }
}
