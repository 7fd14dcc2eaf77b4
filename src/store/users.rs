//! Accounts: create, list, disable, change the primary password or the second factor.
//!
//! This file writes only the `users` table. Removing an account touches other tables too and
//! is composed in [`super::accounts`] from [`remove`] here and its peers there.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::USERS;
use super::{Change, Error, Result, Role, Store, TotpFactor, User, UserName, decode, encode};

impl Store {
    /// Creates an account; fails if the name is taken.
    pub async fn create_user(
        &self,
        name: &UserName,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.create_user(name, role, password_hash, now).await;
        }
        let user = User::new(name.clone(), role, password_hash, now);
        self.write(Change::Harmless, move |txn| {
            if get(&txn.open_table(USERS)?, &user.name)?.is_some() {
                return Err(Error::UserExists(user.name.to_string()));
            }
            put(txn, &user)?;
            Ok(user)
        })
        .await
    }

    /// The account named `name`, if any.
    pub async fn user(&self, name: &UserName) -> Result<Option<User>> {
        if let Some(pg) = self.postgres() {
            return pg.user(name).await;
        }
        let name = name.clone();
        self.read(move |txn| find(txn, &name)).await
    }

    /// Every account, sorted by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        if let Some(pg) = self.postgres() {
            return pg.users().await;
        }
        self.read(|txn| {
            let users = txn.open_table(USERS)?;
            users.iter()?.map(|e| decode(e?.1.value())).collect()
        })
        .await
    }

    /// True once any account exists (an empty store gets a first admin at `serve`).
    pub async fn has_users(&self) -> Result<bool> {
        if let Some(pg) = self.postgres() {
            return pg.has_users().await;
        }
        self.read(|txn| Ok(!txn.open_table(USERS)?.is_empty()?)).await
    }

    /// Disables or enables an account. A disabled account's app passwords stop working at once.
    pub async fn set_user_disabled(&self, name: &UserName, disabled: bool) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_user_disabled(name, disabled).await;
        }
        self.update(name, Change::TakesCredentials, move |txn, user| {
            if disabled {
                refuse_last_admin(txn, user)?;
            }
            user.disabled = disabled;
            Ok(())
        })
        .await
    }

    /// Sets or clears the user's quota (bytes their home may hold); published, so that the
    /// cached limits are read again.
    pub async fn set_user_quota(&self, name: &UserName, quota_bytes: Option<u64>) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_user_quota(name, quota_bytes).await;
        }
        self.update(name, Change::TakesCredentials, move |_, user| {
            user.quota_bytes = quota_bytes;
            Ok(())
        })
        .await
    }

    /// Replaces the primary password's hash.
    pub async fn set_user_password(&self, name: &UserName, password_hash: String) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.set_user_password(name, password_hash).await;
        }
        self.update(name, Change::TakesCredentials, move |_, user| {
            user.password_hash = password_hash;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Sets (after a confirmed enrolment) or clears (disable, admin reset) the second factor.
    /// Not published: no cached credential depends on it (the web login reads the account).
    pub async fn set_user_totp(&self, name: &UserName, totp: Option<TotpFactor>) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_user_totp(name, totp).await;
        }
        self.update(name, Change::Harmless, move |_, user| {
            user.totp = totp;
            Ok(())
        })
        .await
    }

    /// Accepts TOTP time step `step` for `name` once: false if it (or a later one) was already
    /// used, so that a code seen over a shoulder or in a proxy log cannot be replayed. Atomic:
    /// two logins racing with the same code cannot both win.
    pub async fn accept_totp_step(&self, name: &UserName, step: u64) -> Result<bool> {
        if let Some(pg) = self.postgres() {
            return pg.accept_totp_step(name, step).await;
        }
        let name = name.clone();
        self.write(Change::Harmless, move |txn| {
            let mut user = load(txn, &name)?;
            let Some(factor) = user.totp.as_mut() else { return Ok(false) };
            if factor.last_step >= step {
                return Ok(false);
            }
            factor.last_step = step;
            put(txn, &user)?;
            Ok(true)
        })
        .await
    }

    /// Loads `name`, lets `change` edit it and writes it back, in one transaction.
    pub(super) async fn update(
        &self,
        name: &UserName,
        kind: Change,
        change: impl FnOnce(&WriteTransaction, &mut User) -> Result<()> + Send + 'static,
    ) -> Result<User> {
        let name = name.clone();
        self.write(kind, move |txn| {
            let mut user = load(txn, &name)?;
            change(txn, &mut user)?;
            put(txn, &user)?;
            Ok(user)
        })
        .await
    }
}

/// The account `name` in `users`, in a read or a write transaction alike.
fn get(
    users: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &UserName,
) -> Result<Option<User>> {
    users.get(name.as_str())?.map(|v| decode(v.value())).transpose()
}

/// The account `name`, if any, in a read transaction.
pub(super) fn find(txn: &ReadTransaction, name: &UserName) -> Result<Option<User>> {
    get(&txn.open_table(USERS)?, name)
}

/// The account `name` in a write transaction; [`Error::UnknownUser`] if there is none.
pub(super) fn load(txn: &WriteTransaction, name: &UserName) -> Result<User> {
    get(&txn.open_table(USERS)?, name)?.ok_or_else(|| Error::UnknownUser(name.to_string()))
}

/// Writes `user` back (the identity file keeps its index beside it).
pub(super) fn put(txn: &WriteTransaction, user: &User) -> Result<()> {
    txn.open_table(USERS)?.insert(user.name.as_str(), encode(user)?.as_slice())?;
    Ok(())
}

/// Removes the account `name` (not what else it owns: see [`super::accounts`]), unless it is
/// the last enabled admin.
pub(super) fn remove(txn: &WriteTransaction, name: &UserName) -> Result<()> {
    let user = load(txn, name)?;
    refuse_last_admin(txn, &user)?;
    txn.open_table(USERS)?.remove(name.as_str())?;
    Ok(())
}

/// Refuses to take away the last enabled admin: nobody could manage the server afterwards.
pub(super) fn refuse_last_admin(txn: &WriteTransaction, user: &User) -> Result<()> {
    if user.role != Role::Admin || user.disabled {
        return Ok(());
    }
    let users = txn.open_table(USERS)?;
    for entry in users.iter()? {
        let other: User = decode(entry?.1.value())?;
        if other.name != user.name && other.role == Role::Admin && !other.disabled {
            return Ok(());
        }
    }
    Err(Error::LastAdmin(user.name.to_string()))
}
