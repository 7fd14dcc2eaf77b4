//! A user's e-mail address: where security e-mails about their app passwords go.
//!
//! Set by an admin (`davgate user email`, the API), by the user on their profile, or, when
//! none is set, taken from the identity provider's claim at single sign-on
//! ([`super::User::mail_to`]). Validated here once, so every store, page and command accepts
//! the same addresses: the common `local@domain` form, no display name, no quoted local part,
//! no spaces or control characters (a header injection can never come through one).

use super::{Result, Store, User, UserName};

/// Longest address (RFC 5321's path limit, less the angle brackets).
const MAX_ADDRESS: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL: usize = 64;

/// A validated e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an e-mail address (expected name@example.org)")]
pub struct EmailError(String);

impl EmailAddress {
    /// `text` trimmed, if it is one address `local@domain` (domain: dot-separated labels of
    /// letters, digits and hyphens, or international letters).
    pub fn parse(text: &str) -> std::result::Result<Self, EmailError> {
        let text = text.trim();
        let bad = || EmailError(text.chars().filter(|c| !c.is_control()).take(80).collect());
        let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| {
                c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
            });
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if text.len() > MAX_ADDRESS || !local_ok || !domain_ok {
            return Err(bad());
        }
        Ok(Self(text.to_string()))
    }

    /// The address as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(text: String) -> std::result::Result<Self, EmailError> {
        Self::parse(&text)
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> String {
        address.0
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl User {
    /// Where this user's security e-mails go: their own address, else the one their identity
    /// provider gave at the last sign-in (if it is a valid address), else nowhere.
    pub fn mail_to(&self) -> Option<EmailAddress> {
        self.email.clone().or_else(|| {
            let claimed = self.external.as_ref()?.email.as_deref()?;
            EmailAddress::parse(claimed).ok()
        })
    }
}

impl Store {
    /// Sets or clears `name`'s e-mail address. Nothing a credential depends on changes, so
    /// the cached credentials stay as they are.
    pub async fn set_user_email(
        &self,
        name: &UserName,
        email: Option<EmailAddress>,
    ) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_user_email(name, email).await;
        }
        self.update(name, super::Change::Harmless, move |_, user| {
            user.email = email;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestStore, conformance};
    use crate::store::{Error, Role};

    #[test]
    fn common_addresses_pass_and_anything_that_could_inject_a_header_does_not() {
        for good in ["alice@example.org", " bob.smith+dav@mail.example.co.uk ", "élodie@exemple.fr"]
        {
            assert_eq!(EmailAddress::parse(good).unwrap().as_str(), good.trim(), "{good}");
        }
        for bad in [
            "",
            "alice",
            "alice@localhost",
            "@example.org",
            "alice@@example.org",
            "Alice <alice@example.org>",
            "alice@example.org\r\nBcc: eve@example.org",
            "al ice@example.org",
            "alice@-example.org",
            "a..b@example.org",
            "\"a\"@example.org",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }

    /// An address set reads back, is cleared with none, and an unknown user is refused.
    async fn a_user_email_is_set_cleared_and_read_back(t: TestStore) {
        let store = t.store.clone();
        let alice = UserName::parse("alice").unwrap();
        store.create_user(&alice, Role::User, "hash".into(), chrono::Utc::now()).await.unwrap();
        let address = EmailAddress::parse("alice@example.org").unwrap();
        let user = store.set_user_email(&alice, Some(address.clone())).await.unwrap();
        assert_eq!(user.mail_to(), Some(address.clone()));
        assert_eq!(store.user(&alice).await.unwrap().unwrap().email, Some(address));
        store.set_user_email(&alice, None).await.unwrap();
        assert_eq!(store.user(&alice).await.unwrap().unwrap().email, None);
        let bob = UserName::parse("bob").unwrap();
        let e = store.set_user_email(&bob, None).await.unwrap_err();
        assert!(matches!(e, Error::UnknownUser(_)), "{e:?}");
    }
    conformance!(a_user_email_is_set_cleared_and_read_back);
}
