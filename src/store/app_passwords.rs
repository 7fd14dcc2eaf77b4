//! App passwords: one per application, found by public id, revocable one by one or all at once.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::{APP_PASSWORDS, APP_PASSWORDS_BY_OWNER, USERS};
use super::users::load_user;
use super::{AppPassword, AppPasswordId, AppPasswordStatus, Error, Result, Store, User, UserName};
use super::{decode, encode};

/// What `create_app_password` needs; the secret itself never reaches the store.
#[derive(Debug)]
pub struct NewAppPassword {
    /// Public id drawn by the caller.
    pub id: AppPasswordId,
    /// The user it opens.
    pub owner: UserName,
    /// Validated display name.
    pub name: String,
    /// argon2id PHC string of the secret.
    pub secret_hash: String,
}

/// Everything a login needs, read in one transaction.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The app password.
    pub password: AppPassword,
    /// Whether its owner is disabled (or gone).
    pub owner_disabled: bool,
}

impl Store {
    /// Stores a new app password; its expiry is `now` + the `app_credentials_ttl` in force.
    pub fn create_app_password(
        &self,
        new: NewAppPassword,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        let ttl = self.settings().app_credentials_ttl;
        self.write(false, |txn| {
            load_user(txn, &new.owner)?;
            for existing in list(txn, &new.owner)? {
                if existing.name == new.name && existing.status(now) == AppPasswordStatus::Active {
                    return Err(Error::DuplicateName {
                        user: new.owner.to_string(),
                        name: new.name,
                    });
                }
            }
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            if passwords.get(new.id.as_str())?.is_some() {
                return Err(Error::IdTaken);
            }
            let record = AppPassword {
                id: new.id,
                owner: new.owner,
                name: new.name,
                secret_hash: new.secret_hash,
                created_at: now,
                expires_at: now + ttl.as_chrono(),
                access_method: None,
                user_agent: None,
                first_used_at: None,
                last_used_at: None,
                revoked_at: None,
            };
            passwords.insert(record.id.as_str(), encode(&record)?.as_slice())?;
            txn.open_table(APP_PASSWORDS_BY_OWNER)?
                .insert((record.owner.as_str(), record.id.as_str()), ())?;
            Ok(record)
        })
    }

    /// The app password with this id and whether its owner may log in: one read transaction.
    pub fn login_record(&self, id: &AppPasswordId) -> Result<Option<LoginRecord>> {
        self.read(|txn| {
            let passwords = txn.open_table(APP_PASSWORDS)?;
            let Some(value) = passwords.get(id.as_str())? else {
                return Ok(None);
            };
            let password: AppPassword = decode(value.value())?;
            let users = txn.open_table(USERS)?;
            let owner_disabled = match users.get(password.owner.as_str())? {
                Some(u) => decode::<User>(u.value())?.disabled,
                None => true,
            };
            Ok(Some(LoginRecord { password, owner_disabled }))
        })
    }

    /// One user's app passwords, or everyone's, oldest first.
    pub fn app_passwords(&self, owner: Option<&UserName>) -> Result<Vec<AppPassword>> {
        let mut all = self.read(|txn| match owner {
            Some(name) => {
                if txn.open_table(USERS)?.get(name.as_str())?.is_none() {
                    return Err(Error::UnknownUser(name.to_string()));
                }
                list(txn, name)
            }
            None => {
                let passwords = txn.open_table(APP_PASSWORDS)?;
                passwords.iter()?.map(|e| decode(e?.1.value())).collect()
            }
        })?;
        all.sort_by(|a, b| (&a.owner, a.created_at).cmp(&(&b.owner, b.created_at)));
        Ok(all)
    }

    /// Revokes one of `owner`'s app passwords. An id that is not theirs is unknown to them.
    pub fn revoke_app_password(
        &self,
        owner: &UserName,
        id: &AppPasswordId,
        now: DateTime<Utc>,
    ) -> Result<AppPassword> {
        self.write(true, |txn| {
            load_user(txn, owner)?;
            let unknown =
                || Error::UnknownAppPassword { user: owner.to_string(), id: id.to_string() };
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            let mut record: AppPassword = match passwords.get(id.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Err(unknown()),
            };
            if &record.owner != owner {
                return Err(unknown());
            }
            record.revoked_at.get_or_insert(now);
            passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(record)
        })
    }

    /// Revokes every active app password of `owner`; returns how many were revoked.
    pub fn revoke_all_app_passwords(&self, owner: &UserName, now: DateTime<Utc>) -> Result<usize> {
        self.write(true, |txn| {
            load_user(txn, owner)?;
            let mut count = 0;
            let owned = list(txn, owner)?;
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            for mut record in owned {
                if record.status(now) == AppPasswordStatus::Active {
                    record.revoked_at = Some(now);
                    passwords.insert(record.id.as_str(), encode(&record)?.as_slice())?;
                    count += 1;
                }
            }
            Ok(count)
        })
    }

    /// Records the client of a first successful use. Only the first call for an id has any
    /// effect: a later client never changes the access method.
    pub fn record_first_use(
        &self,
        id: &AppPasswordId,
        access_method: &str,
        user_agent: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(false, |txn| {
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            let Some(value) = passwords.get(id.as_str())? else {
                return Ok(());
            };
            let mut record: AppPassword = decode(value.value())?;
            drop(value);
            if record.access_method.is_some() {
                return Ok(());
            }
            record.access_method = Some(access_method.to_string());
            record.user_agent = Some(user_agent.to_string());
            record.first_used_at = Some(now);
            record.last_used_at = Some(now);
            passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
    }

    /// Writes a batch of "last used" times in one transaction (ids gone since are skipped).
    pub fn record_last_used(&self, uses: &[(AppPasswordId, DateTime<Utc>)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.write(false, |txn| {
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            for (id, at) in uses {
                let Some(value) = passwords.get(id.as_str())? else {
                    continue;
                };
                let mut record: AppPassword = decode(value.value())?;
                drop(value);
                if record.last_used_at.is_none_or(|prev| prev < *at) {
                    record.last_used_at = Some(*at);
                    passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
                }
            }
            Ok(())
        })
    }
}

/// The ids of `owner`'s app passwords, from the owner index.
pub(super) fn ids_of(txn: &WriteTransaction, owner: &UserName) -> Result<Vec<AppPasswordId>> {
    Ok(list(txn, owner)?.into_iter().map(|p| p.id).collect())
}

/// `owner`'s app passwords, through the owner index; works in read and write transactions.
fn list<T: ReadTables>(txn: &T, owner: &UserName) -> Result<Vec<AppPassword>> {
    txn.owner_passwords(owner)
}

/// The one query both transaction kinds need, without duplicating it per kind.
trait ReadTables {
    fn owner_passwords(&self, owner: &UserName) -> Result<Vec<AppPassword>>;
}

macro_rules! impl_read_tables {
    ($($txn:ty),*) => {$(
        impl ReadTables for $txn {
            fn owner_passwords(&self, owner: &UserName) -> Result<Vec<AppPassword>> {
                let index = self.open_table(APP_PASSWORDS_BY_OWNER)?;
                let passwords = self.open_table(APP_PASSWORDS)?;
                let mut out = Vec::new();
                for entry in index.range((owner.as_str(), "")..)? {
                    let (key, _) = entry?;
                    let (o, id) = key.value();
                    if o != owner.as_str() {
                        break;
                    }
                    if let Some(v) = passwords.get(id)? {
                        out.push(decode(v.value())?);
                    }
                }
                Ok(out)
            }
        }
    )*};
}
impl_read_tables!(ReadTransaction, WriteTransaction);
