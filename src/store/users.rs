//! Accounts: create, list, disable, change the primary password, remove.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::{APP_PASSWORDS, APP_PASSWORDS_BY_OWNER, USERS};
use super::{Error, Result, Role, Store, TotpFactor, User, UserName, decode, encode};

impl Store {
    /// Creates an account; fails if the name is taken.
    pub fn create_user(
        &self,
        name: &UserName,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let user = User {
            name: name.clone(),
            role,
            password_hash,
            created_at: now,
            disabled: false,
            quota_bytes: None,
            totp: None,
        };
        self.write(false, |txn| {
            let mut users = txn.open_table(USERS)?;
            if users.get(name.as_str())?.is_some() {
                return Err(Error::UserExists(name.to_string()));
            }
            users.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(())
        })?;
        Ok(user)
    }

    /// The account named `name`, if any.
    pub fn user(&self, name: &UserName) -> Result<Option<User>> {
        self.read(|txn| {
            let users = txn.open_table(USERS)?;
            users.get(name.as_str())?.map(|v| decode(v.value())).transpose()
        })
    }

    /// Every account, sorted by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|txn| {
            let users = txn.open_table(USERS)?;
            users.iter()?.map(|e| decode(e?.1.value())).collect()
        })
    }

    /// True once any account exists (an empty store gets a first admin at `serve`).
    pub fn has_users(&self) -> Result<bool> {
        self.read(|txn| Ok(!txn.open_table(USERS)?.is_empty()?))
    }

    /// Disables or enables an account. A disabled account's app passwords stop working at once.
    pub fn set_user_disabled(&self, name: &UserName, disabled: bool) -> Result<User> {
        self.write(true, |txn| {
            let mut user = load_user(txn, name)?;
            if disabled {
                refuse_last_admin(txn, &user)?;
            }
            user.disabled = disabled;
            txn.open_table(USERS)?.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(user)
        })
    }

    /// Sets or clears the user's quota (bytes their home may hold).
    pub fn set_user_quota(&self, name: &UserName, quota_bytes: Option<u64>) -> Result<User> {
        self.write(true, |txn| {
            let mut user = load_user(txn, name)?;
            user.quota_bytes = quota_bytes;
            txn.open_table(USERS)?.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(user)
        })
    }

    /// Replaces the primary password's hash.
    pub fn set_user_password(&self, name: &UserName, password_hash: String) -> Result<()> {
        self.write(true, |txn| {
            let mut user = load_user(txn, name)?;
            user.password_hash = password_hash;
            txn.open_table(USERS)?.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(())
        })
    }

    /// Sets (after a confirmed enrolment) or clears (disable, admin reset) the second factor.
    pub fn set_user_totp(&self, name: &UserName, totp: Option<TotpFactor>) -> Result<User> {
        self.write(false, |txn| {
            let mut user = load_user(txn, name)?;
            user.totp = totp;
            txn.open_table(USERS)?.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(user)
        })
    }

    /// Accepts TOTP time step `step` for `name` once: false if it (or a later one) was already
    /// used, so that a code seen over a shoulder or in a proxy log cannot be replayed. Atomic:
    /// two logins racing with the same code cannot both win.
    pub fn accept_totp_step(&self, name: &UserName, step: u64) -> Result<bool> {
        self.write(false, |txn| {
            let mut user = load_user(txn, name)?;
            let Some(factor) = user.totp.as_mut() else { return Ok(false) };
            if factor.last_step >= step {
                return Ok(false);
            }
            factor.last_step = step;
            txn.open_table(USERS)?.insert(name.as_str(), encode(&user)?.as_slice())?;
            Ok(true)
        })
    }

    /// Removes an account and all its app passwords, in one transaction. Returns how many app
    /// passwords went with it. Files on disk are not touched.
    pub fn remove_user(&self, name: &UserName) -> Result<usize> {
        self.write(true, |txn| {
            let user = load_user(txn, name)?;
            refuse_last_admin(txn, &user)?;
            txn.open_table(USERS)?.remove(name.as_str())?;
            let ids = super::app_passwords::ids_of(txn, name)?;
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            let mut by_owner = txn.open_table(APP_PASSWORDS_BY_OWNER)?;
            for id in &ids {
                passwords.remove(id.as_str())?;
                by_owner.remove((name.as_str(), id.as_str()))?;
            }
            drop((passwords, by_owner));
            Store::delete_all_dead_props(txn, name)?;
            Ok(ids.len())
        })
    }
}

pub(super) fn load_user(txn: &WriteTransaction, name: &UserName) -> Result<User> {
    let users = txn.open_table(USERS)?;
    let value = users.get(name.as_str())?.ok_or_else(|| Error::UnknownUser(name.to_string()))?;
    decode(value.value())
}

/// Refuses to take away the last enabled admin: nobody could manage the server afterwards.
fn refuse_last_admin(txn: &WriteTransaction, user: &User) -> Result<()> {
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
