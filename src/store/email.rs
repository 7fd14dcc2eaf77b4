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

/// The language a user's e-mails are written in, chosen on their profile (or the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailLang {
    /// English, until the user picks another.
    #[default]
    En,
    /// French.
    Fr,
}

impl MailLang {
    /// The stored and wire word (`en`, `fr`).
    pub fn as_str(self) -> &'static str {
        match self {
            MailLang::En => "en",
            MailLang::Fr => "fr",
        }
    }

    /// `en` or `fr` (any case), else None.
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "en" => Some(MailLang::En),
            "fr" => Some(MailLang::Fr),
            _ => None,
        }
    }
}

/// What a user chose about their e-mails. Security e-mails (a new network, a different client,
/// a revocation by an admin) cannot be turned off; the informational ones (created, first use,
/// expiring) can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailPrefs {
    /// Whether the informational e-mails are sent (on by default).
    #[serde(default = "on")]
    pub informational: bool,
    /// Their language.
    #[serde(default)]
    pub lang: MailLang,
}

fn on() -> bool {
    true
}

impl Default for MailPrefs {
    fn default() -> Self {
        Self { informational: true, lang: MailLang::En }
    }
}

impl Store {
    /// Sets `name`'s e-mail preferences; like the address, no credential depends on them.
    pub async fn set_mail_prefs(&self, name: &UserName, prefs: MailPrefs) -> Result<User> {
        if let Some(pg) = self.postgres() {
            return pg.set_mail_prefs(name, prefs).await;
        }
        self.update(name, super::Change::Harmless, move |_, user| {
            user.mail = prefs;
            Ok(())
        })
        .await
    }

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

    /// Mail preferences start informational-on in English, and a change reads back.
    async fn mail_preferences_default_on_in_english_and_read_back(t: TestStore) {
        let store = t.store.clone();
        let alice = UserName::parse("alice").unwrap();
        store.create_user(&alice, Role::User, "hash".into(), chrono::Utc::now()).await.unwrap();
        let user = store.user(&alice).await.unwrap().unwrap();
        assert_eq!(user.mail, MailPrefs::default());
        assert!(user.mail.informational);
        let prefs = MailPrefs { informational: false, lang: MailLang::Fr };
        store.set_mail_prefs(&alice, prefs).await.unwrap();
        assert_eq!(store.user(&alice).await.unwrap().unwrap().mail, prefs);
    }
    conformance!(mail_preferences_default_on_in_english_and_read_back);
}
