//! Accounts linked to an identity provider: link, unlink, find by (issuer, subject), record a
//! sign-in through the provider, and the login method.
//!
//! This file writes `external_identities` (the unique index) and, through [`super::users`]'s
//! `put`, the account record that carries the identity, in one transaction.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};

use super::tables::{EXTERNAL_IDENTITIES, OIDC_REFRESH, USERS};
use super::{Change, Error, ExternalIdentity, LoginMethod, NO_PASSWORD, ProviderId, Result, Role};
use super::{Store, User, UserName, decode, users};

/// What a sign-in through the provider changes on the account.
#[derive(Debug, Clone)]
pub struct SsoSignIn {
    /// When it happened (the re-authentication rule counts from here).
    pub at: DateTime<Utc>,
    /// The e-mail the provider confirmed, if any.
    pub email: Option<String>,
    /// The role the provider's groups give; None: the provider has no admin groups, keep it.
    /// A demotion that would leave no enabled admin is not made.
    pub role: Option<Role>,
}

impl Store {
    /// Creates an account that signs in through a provider (no usable password), linked to
    /// `identity` (pending when its subject is None); fails if the name or the identity is taken.
    pub async fn create_linked_user(
        &self,
        name: &UserName,
        role: Role,
        login: LoginMethod,
        identity: ExternalIdentity,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let mut user = User::new(name.clone(), role, NO_PASSWORD.to_string(), now);
        user.login = login;
        user.external = Some(identity);
        if let Some(pg) = self.postgres() {
            return pg.create_linked_user(user).await;
        }
        self.write(Change::Harmless, move |txn| {
            if txn.open_table(USERS)?.get(user.name.as_str())?.is_some() {
                return Err(Error::UserExists(user.name.to_string()));
            }
            index(txn, &user)?;
            users::put(txn, &user)?;
            Ok(user)
        })
        .await
    }

    /// Links `name` to `identity`, replacing any identity it had; refused if another account
    /// holds the same (issuer, subject).
    pub async fn link_identity(&self, name: &UserName, identity: ExternalIdentity) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.link_identity(name, identity).await;
        }
        let name = name.clone();
        self.write(Change::TakesCredentials, move |txn| {
            let mut user = users::load(txn, &name)?;
            unindex(txn, &user)?;
            user.external = Some(identity);
            index(txn, &user)?;
            users::put(txn, &user)?;
            Ok(user)
        })
        .await
    }

    /// Unlinks the account's identity and forgets its refresh token; its login method is left
    /// as it is (an `sso` account without an identity cannot sign in until linked again).
    pub async fn unlink_identity(&self, name: &UserName) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.unlink_identity(name).await;
        }
        let name = name.clone();
        self.write(Change::TakesCredentials, move |txn| {
            let mut user = users::load(txn, &name)?;
            forget(txn, &user)?;
            user.external = None;
            users::put(txn, &user)?;
            Ok(user)
        })
        .await
    }

    /// The account linked to (issuer, subject), if any.
    pub async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        if let Some(pg) = self.postgres() {
            return pg.user_by_identity(issuer, subject).await;
        }
        let key = (issuer.to_string(), subject.to_string());
        self.read(move |txn| {
            let found =
                txn.open_table(EXTERNAL_IDENTITIES)?.get((key.0.as_str(), key.1.as_str()))?;
            let Some(name) = found.map(|v| v.value().to_string()) else { return Ok(None) };
            users::find(txn, &UserName::parse(&name)?)
        })
        .await
    }

    /// The account an admin pre-created for `provider` and this e-mail, still waiting for its
    /// first sign-in (no subject yet).
    pub async fn pending_identity(
        &self,
        provider: &ProviderId,
        email: &str,
    ) -> Result<Option<User>> {
        if let Some(pg) = self.postgres() {
            return pg.pending_identity(provider, email).await;
        }
        let (provider, email) = (provider.clone(), email.to_ascii_lowercase());
        self.read(move |txn| {
            for entry in txn.open_table(USERS)?.iter()? {
                let user: User = decode(entry?.1.value())?;
                let waits = user.external.as_ref().is_some_and(|x| {
                    x.subject.is_none()
                        && x.provider == provider
                        && x.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&email))
                });
                if waits {
                    return Ok(Some(user));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Sets how the account signs in to the pages. Published: the gate's re-authentication rule
    /// depends on it.
    pub async fn set_login_method(&self, name: &UserName, login: LoginMethod) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_login_method(name, login).await;
        }
        let name = name.clone();
        self.write(Change::TakesCredentials, move |txn| {
            let mut user = users::load(txn, &name)?;
            user.login = login;
            users::put(txn, &user)?;
            Ok(user)
        })
        .await
    }

    /// Records a sign-in through the provider: `last_sso_at`, the confirmed e-mail, the role of
    /// its groups. Published: app passwords refused for want of a recent sign-in open again.
    pub async fn record_sso_sign_in(&self, name: &UserName, sign_in: SsoSignIn) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.record_sso_sign_in(name, sign_in).await;
        }
        let name = name.clone();
        self.write(Change::TakesCredentials, move |txn| {
            let mut user = users::load(txn, &name)?;
            let Some(external) = user.external.as_mut() else {
                return Err(Error::UnknownUser(name.to_string()));
            };
            external.last_sso_at = Some(sign_in.at);
            if sign_in.email.is_some() {
                external.email = sign_in.email;
            }
            match sign_in.role {
                Some(Role::User) if user.role == Role::Admin => {
                    match users::refuse_last_admin(txn, &user) {
                        Ok(()) => user.role = Role::User,
                        Err(Error::LastAdmin(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Some(role) => user.role = role,
                None => {}
            }
            users::put(txn, &user)?;
            Ok(user)
        })
        .await
    }
}

/// Adds the account's linked identity to the unique index; refused if another holds it.
fn index(txn: &WriteTransaction, user: &User) -> Result<()> {
    let Some((issuer, subject)) = key_of(user) else { return Ok(()) };
    let mut table = txn.open_table(EXTERNAL_IDENTITIES)?;
    let holder = table.get((issuer, subject))?.map(|v| v.value().to_string());
    if let Some(holder) = holder.filter(|h| h != user.name.as_str()) {
        return Err(Error::IdentityTaken(holder));
    }
    table.insert((issuer, subject), user.name.as_str())?;
    Ok(())
}

fn unindex(txn: &WriteTransaction, user: &User) -> Result<()> {
    if let Some(key) = key_of(user) {
        txn.open_table(EXTERNAL_IDENTITIES)?.remove(key)?;
    }
    Ok(())
}

/// Drops the account's index entry and refresh token (unlink, or the account's removal).
pub(super) fn forget(txn: &WriteTransaction, user: &User) -> Result<()> {
    unindex(txn, user)?;
    txn.open_table(OIDC_REFRESH)?.remove(user.name.as_str())?;
    Ok(())
}

fn key_of(user: &User) -> Option<(&str, &str)> {
    let external = user.external.as_ref()?;
    Some((external.issuer.as_str(), external.subject.as_deref()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::testing::{TestStore, conformance};
    use crate::store::{OidcProvider, Store};

    fn identity(subject: Option<&str>, email: &str) -> ExternalIdentity {
        ExternalIdentity {
            provider: ProviderId::parse("contoso").unwrap(),
            issuer: "https://idp.example".into(),
            subject: subject.map(String::from),
            email: Some(email.into()),
            linked_at: subject.map(|_| Utc::now()),
            last_sso_at: None,
        }
    }

    async fn sso_user(store: &Store, name: &str, subject: Option<&str>) -> Result<User> {
        let name = UserName::parse(name).unwrap();
        let x = identity(subject, &format!("{name}@example.com"));
        store.create_linked_user(&name, Role::User, LoginMethod::Sso, x, Utc::now()).await
    }

    conformance!(an_identity_finds_its_account_and_no_other);
    async fn an_identity_finds_its_account_and_no_other(t: TestStore) {
        let store = t.store;
        let carol = sso_user(&store, "carol", Some("sub-carol")).await.unwrap();
        assert_eq!(carol.login, LoginMethod::Sso);
        assert_eq!(carol.password_hash, NO_PASSWORD);
        let found = store.user_by_identity("https://idp.example", "sub-carol").await.unwrap();
        assert_eq!(found.unwrap().name, carol.name);
        assert!(
            store.user_by_identity("https://other.example", "sub-carol").await.unwrap().is_none()
        );
        assert!(store.user_by_identity("https://idp.example", "sub-x").await.unwrap().is_none());
        let again = store.user(&carol.name).await.unwrap().unwrap();
        assert_eq!(again.external, carol.external);
    }

    conformance!(an_identity_linked_to_one_account_is_refused_to_another);
    async fn an_identity_linked_to_one_account_is_refused_to_another(t: TestStore) {
        let store = t.store;
        sso_user(&store, "carol", Some("sub-carol")).await.unwrap();
        let e = sso_user(&store, "mallory", Some("sub-carol")).await.unwrap_err();
        assert!(matches!(e, Error::IdentityTaken(ref who) if who == "carol"), "{e}");
        assert!(store.user(&UserName::parse("mallory").unwrap()).await.unwrap().is_none());
        let dave = UserName::parse("dave").unwrap();
        store.create_user(&dave, Role::User, "hash".into(), Utc::now()).await.unwrap();
        let e = store.link_identity(&dave, identity(Some("sub-carol"), "x@y")).await.unwrap_err();
        assert!(matches!(e, Error::IdentityTaken(_)), "{e}");
        assert!(store.user(&dave).await.unwrap().unwrap().external.is_none());
    }

    conformance!(unlinking_or_removing_frees_the_identity);
    async fn unlinking_or_removing_frees_the_identity(t: TestStore) {
        let store = t.store;
        let carol = sso_user(&store, "carol", Some("sub-carol")).await.unwrap();
        store.set_refresh_token(&carol.name, Some(Secret::new("rt".into()))).await.unwrap();
        let unlinked = store.unlink_identity(&carol.name).await.unwrap();
        assert!(unlinked.external.is_none());
        assert!(store.refresh_tokens().await.unwrap().is_empty());
        assert!(
            store.user_by_identity("https://idp.example", "sub-carol").await.unwrap().is_none()
        );
        let dave = sso_user(&store, "dave", Some("sub-carol")).await.unwrap();
        store.remove_user(&dave.name).await.unwrap();
        sso_user(&store, "erin", Some("sub-carol")).await.unwrap();
    }

    conformance!(a_pending_account_is_found_by_its_provider_and_email);
    async fn a_pending_account_is_found_by_its_provider_and_email(t: TestStore) {
        let store = t.store;
        sso_user(&store, "frank", None).await.unwrap();
        let contoso = ProviderId::parse("contoso").unwrap();
        let found = store.pending_identity(&contoso, "FRANK@example.com").await.unwrap();
        assert_eq!(found.unwrap().name.as_str(), "frank");
        let other = ProviderId::parse("other").unwrap();
        assert!(store.pending_identity(&other, "frank@example.com").await.unwrap().is_none());
        let mut linked = identity(Some("sub-frank"), "frank@example.com");
        linked.linked_at = Some(Utc::now());
        let frank = UserName::parse("frank").unwrap();
        store.link_identity(&frank, linked).await.unwrap();
        assert!(store.pending_identity(&contoso, "frank@example.com").await.unwrap().is_none());
    }

    conformance!(a_sign_in_through_the_provider_is_recorded_and_maps_the_role);
    async fn a_sign_in_through_the_provider_is_recorded_and_maps_the_role(t: TestStore) {
        let store = t.store;
        let carol = sso_user(&store, "carol", Some("sub-carol")).await.unwrap();
        let before = store.generation();
        let at = Utc::now();
        let sign_in =
            SsoSignIn { at, email: Some("c@example.com".into()), role: Some(Role::Admin) };
        let user = store.record_sso_sign_in(&carol.name, sign_in).await.unwrap();
        assert!(store.generation() > before, "a sign-in must reach the cached gate");
        assert_eq!(user.role, Role::Admin);
        let x = user.external.unwrap();
        assert_eq!(x.email.as_deref(), Some("c@example.com"));
        let seen = x.last_sso_at.unwrap();
        assert!((seen - at).num_milliseconds().abs() < 2, "{seen} vs {at}");
        // Demoted only while another enabled admin remains (none here: carol is the only one).
        let demote = SsoSignIn { at, email: None, role: Some(Role::User) };
        let user = store.record_sso_sign_in(&carol.name, demote.clone()).await.unwrap();
        assert_eq!(user.role, Role::Admin);
        let root = UserName::parse("root").unwrap();
        store.create_user(&root, Role::Admin, "h".into(), Utc::now()).await.unwrap();
        let user = store.record_sso_sign_in(&carol.name, demote).await.unwrap();
        assert_eq!(user.role, Role::User);
        assert_eq!(user.external.unwrap().email.as_deref(), Some("c@example.com"));
    }

    conformance!(the_login_method_is_password_until_changed);
    async fn the_login_method_is_password_until_changed(t: TestStore) {
        let store = t.store;
        let alice = UserName::parse("alice").unwrap();
        let user = store.create_user(&alice, Role::User, "h".into(), Utc::now()).await.unwrap();
        assert_eq!(user.login, LoginMethod::Password);
        assert_eq!(store.user(&alice).await.unwrap().unwrap().login, LoginMethod::Password);
        store.set_login_method(&alice, LoginMethod::Both).await.unwrap();
        assert_eq!(store.user(&alice).await.unwrap().unwrap().login, LoginMethod::Both);
        let ghost = UserName::parse("ghost").unwrap();
        let e = store.set_login_method(&ghost, LoginMethod::Sso).await.unwrap_err();
        assert!(matches!(e, Error::UnknownUser(_)), "{e}");
    }

    conformance!(providers_are_kept_with_their_secret_and_listed_by_id);
    async fn providers_are_kept_with_their_secret_and_listed_by_id(t: TestStore) {
        let store = t.store;
        let provider = |id: &str| OidcProvider {
            id: ProviderId::parse(id).unwrap(),
            display_name: "Contoso".into(),
            issuer: "https://idp.example".into(),
            client_id: "davgate".into(),
            client_secret: Some(Secret::new("s3cret-value".into())),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            allowed_domains: vec!["example.com".into()],
            allowed_groups: vec![],
            admin_groups: vec!["admins".into()],
            auto_provision: true,
            trust_xms_edov: false,
            refresh_check: false,
            enabled: true,
        };
        store.put_provider(provider("zeta")).await.unwrap();
        store.put_provider(provider("contoso")).await.unwrap();
        let mut changed = provider("contoso");
        changed.display_name = "Contoso Ltd".into();
        store.put_provider(changed.clone()).await.unwrap();
        let all = store.providers().await.unwrap();
        assert_eq!(all.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["contoso", "zeta"]);
        assert_eq!(all[0], changed);
        assert!(!format!("{all:?}").contains("s3cret-value"), "Debug shows the secret");
        store.remove_provider(&changed.id).await.unwrap();
        let e = store.remove_provider(&changed.id).await.unwrap_err();
        assert!(matches!(e, Error::UnknownProvider(_)), "{e}");
        assert_eq!(store.providers().await.unwrap().len(), 1);
    }
}
