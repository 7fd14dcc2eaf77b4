//! The operations that span tables: an app password and its owner's account, an account and
//! everything it owns.
//!
//! Each is one transaction composed of the per-table functions of [`super::users`],
//! [`super::app_passwords`] and [`super::props`], which never call one another: the arrows
//! point from here to them, and each table is written by its own file only.

use chrono::{DateTime, Utc};

use super::{AppPassword, AppPasswordId, Change, Error, NewAppPassword, Result, Store, UserName};
use super::{app_passwords, identities, props, users};

/// Everything a login needs, read in one transaction.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The app password.
    pub password: AppPassword,
    /// Whether its owner is disabled (or gone).
    pub owner_disabled: bool,
    /// For an `sso` owner, since when the re-authentication rule counts: its last sign-in
    /// through the provider (or its creation, before the first). None for other owners.
    pub owner_sso_since: Option<DateTime<Utc>>,
}

impl LoginRecord {
    /// For an `sso` owner: since when the rule counts (see `owner_sso_since`).
    pub fn sso_since(owner: Option<&super::User>) -> Option<DateTime<Utc>> {
        let owner = owner.filter(|u| u.login == super::LoginMethod::Sso)?;
        Some(owner.external.as_ref().and_then(|x| x.last_sso_at).unwrap_or(owner.created_at))
    }
}

impl Store {
    /// Stores a new app password for an existing account; its expiry is `now` + the
    /// `app_credentials_ttl` in force.
    pub async fn create_app_password(
        &self,
        new: NewAppPassword,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        if let Some(pg) = self.postgres() {
            return pg.create_app_password(new, now).await;
        }
        let ttl = self.settings().app_credentials_ttl;
        self.write(Change::Harmless, move |txn| {
            users::load(txn, &new.owner)?;
            app_passwords::insert(txn, new, now, ttl)
        })
        .await
    }

    /// The app password with this id and whether its owner may log in: one read transaction.
    pub async fn login_record(&self, id: &AppPasswordId) -> Result<Option<LoginRecord>> {
        if let Some(pg) = self.postgres() {
            return pg.login_record(id).await;
        }
        let id = id.clone();
        self.read(move |txn| {
            let Some(password) = app_passwords::find(txn, &id)? else {
                return Ok(None);
            };
            let owner = users::find(txn, &password.owner)?;
            let owner_disabled = owner.as_ref().is_none_or(|u| u.disabled);
            let owner_sso_since = LoginRecord::sso_since(owner.as_ref());
            Ok(Some(LoginRecord { password, owner_disabled, owner_sso_since }))
        })
        .await
    }

    /// One user's app passwords, or everyone's, oldest first.
    pub async fn app_passwords(&self, owner: Option<&UserName>) -> Result<Vec<AppPassword>> {
        if let Some(pg) = self.postgres() {
            return pg.app_passwords(owner).await;
        }
        let owner = owner.cloned();
        let mut all = self
            .read(move |txn| match owner {
                Some(name) => {
                    if users::find(txn, &name)?.is_none() {
                        return Err(Error::UnknownUser(name.to_string()));
                    }
                    app_passwords::of_owner(txn, &name)
                }
                None => app_passwords::all(txn),
            })
            .await?;
        all.sort_by(|a, b| (&a.owner, a.created_at).cmp(&(&b.owner, b.created_at)));
        Ok(all)
    }

    /// Revokes one of `owner`'s app passwords. An id that is not theirs is unknown to them.
    pub async fn revoke_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        if let Some(pg) = self.postgres() {
            return pg.revoke_app_password(owner, id, now).await;
        }
        let (owner, id) = (owner.clone(), id.clone());
        self.write(Change::TakesCredentials, move |txn| {
            users::load(txn, &owner)?;
            app_passwords::revoke(txn, &owner, &id, now)
        })
        .await
    }

    /// Revokes every active app password of `owner`; returns how many were revoked.
    pub async fn revoke_all_app_passwords(
        &self,
        owner: &UserName,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if let Some(pg) = self.postgres() {
            return pg.revoke_all_app_passwords(owner, now).await;
        }
        let owner = owner.clone();
        self.write(Change::TakesCredentials, move |txn| {
            users::load(txn, &owner)?;
            app_passwords::revoke_all(txn, &owner, now)
        })
        .await
    }

    /// Removes an account, all its app passwords and its dead properties, in one transaction.
    /// Returns how many app passwords went with it. Files on disk are not touched.
    pub async fn remove_user(&self, name: &UserName) -> Result<usize> {
        if let Some(pg) = self.postgres() {
            return pg.remove_user(name).await;
        }
        let name = name.clone();
        self.write(Change::TakesCredentials, move |txn| {
            identities::forget(txn, &users::load(txn, &name)?)?;
            users::remove(txn, &name)?;
            let removed = app_passwords::remove_all_of(txn, &name)?;
            props::remove_all_of(txn, &name)?;
            Ok(removed)
        })
        .await
    }
}
