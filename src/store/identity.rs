//! Who an account is at a company identity provider, and how it may sign in to the pages.
//!
//! The identity is (issuer, subject), never the e-mail: an e-mail can be reassigned or be
//! unverified, a subject is the provider's own stable key for one person.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::NameError;

/// The `password_hash` of an account created for single sign-on: no PHC string, so no password
/// can ever verify against it (the sign-in runs the dummy verification instead).
pub const NO_PASSWORD: &str = "!sso";

/// How an account signs in to the web pages (WebDAV always takes app passwords only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// The primary password, then TOTP if enrolled: every account before single sign-on.
    #[default]
    Password,
    /// Only through the identity provider: the password sign-in answers as for a wrong password.
    Sso,
    /// Either (break-glass: the provider's outage locks nobody out).
    Both,
}

impl LoginMethod {
    /// Whether the primary password may open a session.
    pub fn allows_password(self) -> bool {
        self != LoginMethod::Sso
    }

    /// Whether the identity provider may open a session.
    pub fn allows_sso(self) -> bool {
        self != LoginMethod::Password
    }

    /// Parses `password`, `sso` or `both` (as the CLI and the API write them).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(LoginMethod::Password),
            "sso" => Some(LoginMethod::Sso),
            "both" => Some(LoginMethod::Both),
            _ => None,
        }
    }

    /// The word stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::Sso => "sso",
            LoginMethod::Both => "both",
        }
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity an account is linked to at one provider. `subject` is None for an account an
/// admin pre-created by e-mail: it is linked on the first sign-in with that e-mail verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// The provider's id in davgate's settings (which client, which policy).
    pub provider: ProviderId,
    /// The provider's exact issuer URL at link time.
    pub issuer: String,
    /// The provider's `sub` for this person; None until the pending link is made.
    pub subject: Option<String>,
    /// The e-mail last seen verified (or the one a pending link waits for).
    pub email: Option<String>,
    /// When the identity was linked (None while pending).
    pub linked_at: Option<DateTime<Utc>>,
    /// The last sign-in through the provider: the re-authentication rule counts from here.
    pub last_sso_at: Option<DateTime<Utc>>,
}

/// A provider id: 1–32 of `a-z 0-9 -`, as it appears in `/auth/oidc/login?provider=ID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    /// Validates `id` (upper case is folded).
    pub fn parse(id: &str) -> Result<Self, NameError> {
        let folded = id.to_ascii_lowercase();
        let ok = (1..=32).contains(&folded.len())
            && folded.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(folded)) } else { Err(NameError::ProviderId(crate::log_safe::escaped(id))) }
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> String {
        id.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One configured OpenID Provider. Its `Debug` shows no secret ([`crate::secret::Secret`]); the
/// listings built from it never carry `client_secret` (see [`OidcProvider::has_secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The id in URLs and on the CLI.
    pub id: ProviderId,
    /// "Contoso": the text of the "Sign in with …" link.
    pub display_name: String,
    /// The issuer URL (https except on loopback; Entra tenant-specific).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, write-only: stored to authenticate, never shown back.
    #[serde(default)]
    pub client_secret: Option<crate::secret::Secret>,
    /// A file read for the secret at each use, instead of the stored one.
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// The scopes asked for (`openid` always among them).
    pub scopes: Vec<String>,
    /// The claim a provisioned account's name comes from.
    pub username_claim: String,
    /// The claim holding the groups.
    pub groups_claim: String,
    /// E-mail domains accepted (empty: any).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Groups of which one is needed (empty: none needed).
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// Groups whose members are admins, recomputed at each sign-in.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Whether an unknown identity with a verified e-mail gets an account.
    #[serde(default)]
    pub auto_provision: bool,
    /// Whether Entra's `xms_edov` (domain verified) counts as a verified e-mail.
    #[serde(default)]
    pub trust_xms_edov: bool,
    /// Whether refresh tokens are kept and checked periodically (`offline_access`).
    #[serde(default)]
    pub refresh_check: bool,
    /// Whether the provider is offered on the sign-in page.
    pub enabled: bool,
}

impl OidcProvider {
    /// Whether a secret is configured (what listings say instead of the secret).
    pub fn has_secret(&self) -> bool {
        self.client_secret.is_some() || self.client_secret_file.is_some()
    }
}
