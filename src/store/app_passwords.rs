//! App passwords: one per application, found by public id, revocable one by one or all at once.
//!
//! This file writes only `app_passwords` and its owner index. What needs the owner's account
//! too (creating, listing one user's, revoking, the login record, removal with the account) is
//! composed in [`super::accounts`] from the per-table functions here.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::{APP_PASSWORDS, APP_PASSWORDS_BY_OWNER};
use super::{AppPassword, AppPasswordId, Change, Error, Result, Store};
use super::{UserName, decode, encode};

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
    /// When it expires (None: never), from [`super::Settings::expiry_for`]: the caller checks
    /// the lifetime against the policy in force.
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may reach and do, for good.
    pub scope: super::Scope,
}

impl Store {
    /// Records the client of a first successful use. Only the first call for an id has any
    /// effect: a later client never changes the access method.
    pub async fn record_first_use(
        &self,
        id: &AppPasswordId,
        access_method: &str,
        user_agent: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.record_first_use(id, access_method, user_agent, now).await;
        }
        let (id, method, agent) = (id.clone(), access_method.to_string(), user_agent.to_string());
        self.write(Change::Harmless, move |txn| {
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            let Some(mut record) = get(&passwords, &id)? else {
                return Ok(());
            };
            if record.access_method.is_some() {
                return Ok(());
            }
            record.access_method = Some(method);
            record.user_agent = Some(agent);
            record.first_used_at = Some(now);
            record.last_used_at = Some(now);
            passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
        .await
    }

    /// Writes a batch of "last used" times in one transaction (ids gone since are skipped).
    pub async fn record_last_used(&self, uses: Vec<(AppPasswordId, DateTime<Utc>)>) -> Result<()> {
        if let Some(pg) = self.postgres() {
            return pg.record_last_used(uses).await;
        }
        if uses.is_empty() {
            return Ok(());
        }
        self.write(Change::Harmless, move |txn| {
            let mut passwords = txn.open_table(APP_PASSWORDS)?;
            for (id, at) in uses {
                let Some(mut record) = get(&passwords, &id)? else {
                    continue;
                };
                if record.last_used_at.is_none_or(|prev| prev < at) {
                    record.last_used_at = Some(at);
                    passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
                }
            }
            Ok(())
        })
        .await
    }
}

/// The app password `id` in `passwords`, in a read or a write transaction alike.
fn get(
    passwords: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &AppPasswordId,
) -> Result<Option<AppPassword>> {
    passwords.get(id.as_str())?.map(|v| decode(v.value())).transpose()
}

/// `owner`'s app passwords, through the owner index, in a read or a write transaction alike.
fn owned(
    index: &impl ReadableTable<(&'static str, &'static str), ()>,
    passwords: &impl ReadableTable<&'static str, &'static [u8]>,
    owner: &UserName,
) -> Result<Vec<AppPassword>> {
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

/// The app password `id`, if any, in a read transaction.
pub(super) fn find(txn: &ReadTransaction, id: &AppPasswordId) -> Result<Option<AppPassword>> {
    get(&txn.open_table(APP_PASSWORDS)?, id)
}

/// Every app password, in a read transaction.
pub(super) fn all(txn: &ReadTransaction) -> Result<Vec<AppPassword>> {
    let passwords = txn.open_table(APP_PASSWORDS)?;
    passwords.iter()?.map(|e| decode(e?.1.value())).collect()
}

/// `owner`'s app passwords, in a read transaction.
pub(super) fn of_owner(txn: &ReadTransaction, owner: &UserName) -> Result<Vec<AppPassword>> {
    owned(&txn.open_table(APP_PASSWORDS_BY_OWNER)?, &txn.open_table(APP_PASSWORDS)?, owner)
}

/// `owner`'s app passwords, in a write transaction.
fn of_owner_in(txn: &WriteTransaction, owner: &UserName) -> Result<Vec<AppPassword>> {
    owned(&txn.open_table(APP_PASSWORDS_BY_OWNER)?, &txn.open_table(APP_PASSWORDS)?, owner)
}

/// Stores a new app password; refused if its owner already has a live one of that name or
/// `max` live ones, or (rarely) if its id is taken.
pub(super) fn insert(
    txn: &WriteTransaction,
    new: NewAppPassword,
    now: DateTime<Utc>,
    max: u32,
) -> Result<AppPassword> {
    let live: Vec<AppPassword> =
        of_owner_in(txn, &new.owner)?.into_iter().filter(|p| !p.is_over(now)).collect();
    if live.iter().any(|existing| existing.name == new.name) {
        return Err(Error::DuplicateName { user: new.owner.to_string(), name: new.name });
    }
    if live.len() >= max as usize {
        return Err(Error::TooManyAppPasswords {
            user: new.owner.to_string(),
            live: live.len(),
            max,
        });
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
        expires_at: new.expires_at,
        scope: new.scope,
        access_method: None,
        user_agent: None,
        first_used_at: None,
        last_used_at: None,
        revoked_at: None,
        networks: Vec::new(),
    };
    passwords.insert(record.id.as_str(), encode(&record)?.as_slice())?;
    txn.open_table(APP_PASSWORDS_BY_OWNER)?
        .insert((record.owner.as_str(), record.id.as_str()), ())?;
    Ok(record)
}

/// Revokes `owner`'s app password `id` (kept, marked revoked). An id that is not theirs is
/// unknown to them.
pub(super) fn revoke(
    txn: &WriteTransaction,
    owner: &UserName,
    id: &AppPasswordId,
    now: DateTime<Utc>,
) -> Result<AppPassword> {
    let unknown = || Error::UnknownAppPassword { user: owner.to_string(), id: id.to_string() };
    let mut passwords = txn.open_table(APP_PASSWORDS)?;
    let mut record = get(&passwords, id)?.ok_or_else(unknown)?;
    if &record.owner != owner {
        return Err(unknown());
    }
    record.revoked_at.get_or_insert(now);
    passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
    Ok(record)
}

/// Revokes every active app password of `owner`; returns the ids revoked.
pub(super) fn revoke_all(
    txn: &WriteTransaction,
    owner: &UserName,
    now: DateTime<Utc>,
) -> Result<Vec<AppPasswordId>> {
    let owned = of_owner_in(txn, owner)?;
    let mut passwords = txn.open_table(APP_PASSWORDS)?;
    let mut revoked = Vec::new();
    for mut record in owned {
        if !record.is_over(now) {
            record.revoked_at = Some(now);
            passwords.insert(record.id.as_str(), encode(&record)?.as_slice())?;
            revoked.push(record.id);
        }
    }
    Ok(revoked)
}

/// Renames `owner`'s app password `id`; refused if another live one of theirs has that name.
pub(super) fn rename(
    txn: &WriteTransaction,
    owner: &UserName,
    id: &AppPasswordId,
    name: String,
    now: DateTime<Utc>,
) -> Result<AppPassword> {
    let unknown = || Error::UnknownAppPassword { user: owner.to_string(), id: id.to_string() };
    let others = of_owner_in(txn, owner)?;
    if others.iter().any(|p| &p.id != id && !p.is_over(now) && p.name == name) {
        return Err(Error::DuplicateName { user: owner.to_string(), name });
    }
    let mut passwords = txn.open_table(APP_PASSWORDS)?;
    let mut record = get(&passwords, id)?.ok_or_else(unknown)?;
    if &record.owner != owner {
        return Err(unknown());
    }
    record.name = name;
    passwords.insert(id.as_str(), encode(&record)?.as_slice())?;
    Ok(record)
}

/// Deletes every app password of `owner` (with the account); returns how many there were.
pub(super) fn remove_all_of(txn: &WriteTransaction, owner: &UserName) -> Result<usize> {
    let ids: Vec<AppPasswordId> = of_owner_in(txn, owner)?.into_iter().map(|p| p.id).collect();
    let mut passwords = txn.open_table(APP_PASSWORDS)?;
    let mut by_owner = txn.open_table(APP_PASSWORDS_BY_OWNER)?;
    for id in &ids {
        passwords.remove(id.as_str())?;
        by_owner.remove((owner.as_str(), id.as_str()))?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestStore, conformance};
    use crate::store::{Access, Role, Scope, ScopeFolder, SettingKey};

    fn new(id: &str, owner: &UserName, name: &str, scope: Scope) -> NewAppPassword {
        NewAppPassword {
            id: AppPasswordId::parse(id).unwrap(),
            owner: owner.clone(),
            name: name.into(),
            secret_hash: "hash".into(),
            expires_at: None,
            scope,
        }
    }

    /// A scope and a missing expiry read back exactly as written, through every read path.
    async fn a_scope_and_no_expiry_read_back_as_made(t: TestStore) {
        let store = t.store.clone();
        let alice = UserName::parse("alice").unwrap();
        store.create_user(&alice, Role::User, "hash".into(), Utc::now()).await.unwrap();
        let scope = Scope {
            access: Access::UploadOnly,
            folder: ScopeFolder::parse("/Scans/Büro").unwrap(),
            allow_from: Scope::parse_networks("10.0.0.0/8,2001:db8::/48").unwrap(),
        };
        let made = store
            .create_app_password(new("000000000a", &alice, "scanner", scope.clone()), Utc::now())
            .await
            .unwrap();
        assert_eq!((made.scope.clone(), made.expires_at), (scope.clone(), None));
        let record = store.login_record(&made.id).await.unwrap().unwrap();
        assert_eq!((record.password.scope, record.password.expires_at), (scope.clone(), None));
        let listed = store.app_passwords(Some(&alice)).await.unwrap();
        assert_eq!(listed[0].scope, scope);
    }
    conformance!(a_scope_and_no_expiry_read_back_as_made);

    /// The per-user cap counts live passwords only, and says how many exist.
    async fn the_per_user_cap_counts_live_passwords(t: TestStore) {
        let store = t.store.clone();
        let alice = UserName::parse("alice").unwrap();
        store.create_user(&alice, Role::User, "hash".into(), Utc::now()).await.unwrap();
        store.set_setting(SettingKey::AppCredentialsMaxPerUser, "2").await.unwrap();
        let now = Utc::now();
        for (id, name) in [("000000000a", "one"), ("000000000b", "two")] {
            store.create_app_password(new(id, &alice, name, Scope::default()), now).await.unwrap();
        }
        let third =
            store.create_app_password(new("000000000c", &alice, "three", Scope::default()), now);
        let e = third.await.unwrap_err();
        assert!(matches!(e, Error::TooManyAppPasswords { live: 2, max: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("already has 2 app passwords"), "{e}");
        let one = AppPasswordId::parse("000000000a").unwrap();
        store.revoke_app_password(&alice, &one, now).await.unwrap();
        store
            .create_app_password(new("000000000c", &alice, "three", Scope::default()), now)
            .await
            .expect("a revoked password frees its place");
    }
    conformance!(the_per_user_cap_counts_live_passwords);

    /// Everyone's passwords come back from one read, grouped by owner, each owner's oldest
    /// first, revoked ones included: what the admin inventory filters.
    async fn everyones_passwords_come_back_grouped_by_owner_oldest_first(t: TestStore) {
        let store = t.store.clone();
        let t0 = Utc::now();
        let (bob, alice) = (UserName::parse("bob").unwrap(), UserName::parse("alice").unwrap());
        for user in [&bob, &alice] {
            store.create_user(user, Role::User, "hash".into(), t0).await.unwrap();
        }
        let made = [
            ("000000000a", &bob, "b1", 0),
            ("000000000b", &alice, "a2", 2),
            ("000000000c", &alice, "a1", 1),
            ("000000000d", &bob, "b2", 3),
        ];
        for (id, owner, name, minutes) in made {
            let at = t0 + chrono::TimeDelta::minutes(minutes);
            store.create_app_password(new(id, owner, name, Scope::default()), at).await.unwrap();
        }
        let b2 = AppPasswordId::parse("000000000d").unwrap();
        store.revoke_app_password(&bob, &b2, t0).await.unwrap();
        let all = store.app_passwords(None).await.unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a1", "a2", "b1", "b2"]);
        assert!(all[3].revoked_at.is_some(), "revoked ones are listed too");
    }
    conformance!(everyones_passwords_come_back_grouped_by_owner_oldest_first);
}
