//! The records the store keeps, and the validated names they are keyed by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::scope::Scope;
use crate::duration::HumanDuration;
use crate::log_safe::{escaped, is_invisible};

/// Crockford's base-32 alphabet in lower case: no `i`, `l`, `o`, `u`, so nothing can be misread
/// when typed into a password dialog. Shared by app-password ids and secrets.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A user name: 1–64 of `a-z 0-9 . _ -`, not starting with a dot. It names a folder on disk, so
/// it can never contain `/` or be `.`/`..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

/// Why a name was refused. The refused text is kept escaped (`\u{202e}`, `\n`), so that the
/// message can be printed, logged or shown without the text acting on its surroundings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// The user name breaks the rules.
    #[error(
        "'{0}' is not a valid user name: use 1 to 64 of a-z 0-9 . _ - and do not start with a dot"
    )]
    UserName(String),
    /// The app-password name is empty, too long, or holds control or invisible formatting
    /// characters (a right-to-left override would make the name read differently in a table).
    #[error(
        "'{0}' is not a valid app password name: use 1 to 100 visible characters, without control \
         characters or invisible formatting characters (such as U+202E, right-to-left override)"
    )]
    AppPasswordName(String),
    /// The app-password id is not 10 characters of the davgate alphabet.
    #[error(
        "'{0}' is not an app password id: ids are 10 characters, as shown by 'app-password list'"
    )]
    AppPasswordId(String),
    /// The identity-provider id breaks the rules.
    #[error("'{0}' is not a valid provider id: use 1 to 32 of a-z 0-9 -")]
    ProviderId(String),
}

impl UserName {
    /// Validates `name`; user names are case-insensitive, so upper case is folded.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let folded = name.to_ascii_lowercase();
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
        let ok = (1..=64).contains(&folded.len())
            && !folded.starts_with('.')
            && folded.bytes().all(allowed);
        if ok { Ok(Self(folded)) } else { Err(NameError::UserName(escaped(name))) }
    }

    /// The name as stored and as used for the home folder.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public half of an app password: 10 characters of [`ALPHABET`], unique in the store.
/// It is not a secret; it lets a login find its one record without trying every hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppPasswordId(String);

impl AppPasswordId {
    /// Length of an id in characters.
    pub const LEN: usize = 10;

    /// Validates an id as typed by an admin (case-insensitive).
    pub fn parse(id: &str) -> Result<Self, NameError> {
        let folded = id.trim().to_ascii_lowercase();
        if folded.len() == Self::LEN && folded.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Self(folded))
        } else {
            Err(NameError::AppPasswordId(escaped(id)))
        }
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppPasswordId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<AppPasswordId> for String {
    fn from(id: AppPasswordId) -> String {
        id.0
    }
}

impl fmt::Display for AppPasswordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app-password name ("Office laptop drive"): shown in listings, never parsed. Any script is
/// welcome; what would change how the name or its neighbours are shown is not. Trimmed, 1–100
/// characters, no control or invisible formatting characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppPasswordName(String);

impl AppPasswordName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Validates `name` (surrounding white space is dropped).
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let trimmed = name.trim();
        let ok = (1..=Self::MAX_CHARS).contains(&trimmed.chars().count())
            && !trimmed.chars().any(is_invisible);
        if ok {
            Ok(Self(trimmed.to_string()))
        } else {
            Err(NameError::AppPasswordName(escaped(name)))
        }
    }

    /// The name as shown and stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppPasswordName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<AppPasswordName> for String {
    fn from(n: AppPasswordName) -> String {
        n.0
    }
}

impl fmt::Display for AppPasswordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do: admins reach the admin surface, users only their own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May manage every user and the settings.
    Admin,
    /// May use and manage only their own account.
    User,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::User => "user",
        })
    }
}

/// An account. Its primary password opens the web pages (later), never WebDAV.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The account name, also its home folder's name.
    pub name: UserName,
    /// Admin or user.
    pub role: Role,
    /// argon2id PHC string of the primary password.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// A disabled account's app passwords are refused.
    pub disabled: bool,
    /// Most bytes the home folder may hold; None: no limit.
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// The confirmed second factor of the web login; None: password alone.
    #[serde(default)]
    pub totp: Option<TotpFactor>,
    /// How the account signs in to the pages (older records: the password).
    #[serde(default)]
    pub login: super::LoginMethod,
    /// The identity-provider identity it is linked to, if any.
    #[serde(default)]
    pub external: Option<super::ExternalIdentity>,
    /// Where security e-mails go, set by an admin or the user (None: the provider's claim, if
    /// any: [`User::mail_to`]).
    #[serde(default)]
    pub email: Option<super::EmailAddress>,
    /// The user's e-mail choices (informational on/off, language).
    #[serde(default)]
    pub mail: super::MailPrefs,
}

impl User {
    /// A new account as it is first stored: enabled, no quota, no second factor. Both stores
    /// build it here, so that they cannot start an account differently.
    pub fn new(
        name: UserName,
        role: Role,
        password_hash: String,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            name,
            role,
            password_hash,
            created_at,
            disabled: false,
            quota_bytes: None,
            totp: None,
            login: super::LoginMethod::Password,
            external: None,
            email: None,
            mail: super::MailPrefs::default(),
        }
    }
}

/// A confirmed TOTP second factor (RFC 6238). The secret has to be kept readable to compute
/// codes; it opens nothing on its own (the primary password is asked first).
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The shared secret (20 random bytes).
    pub secret: Vec<u8>,
    /// When it was confirmed.
    pub enrolled_at: DateTime<Utc>,
    /// The last time step accepted: a code is never accepted twice, nor an older one.
    pub last_step: u64,
}

impl fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("enrolled_at", &self.enrolled_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// One application's credential. The secret itself is never stored: only its argon2id hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPassword {
    /// Public id, part of the password itself.
    pub id: AppPasswordId,
    /// The user it opens.
    pub owner: UserName,
    /// What the user called it ("Office laptop drive").
    pub name: String,
    /// argon2id PHC string of the secret part.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working; None: never (only where `app_credentials_max_ttl` is `none`).
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may reach and do; fixed at creation (records from before scopes: unscoped).
    #[serde(default)]
    pub scope: Scope,
    /// The client recognised at first successful use ("Windows Explorer"); None until then.
    pub access_method: Option<String>,
    /// The raw User-Agent seen at first successful use.
    pub user_agent: Option<String>,
    /// When it was first used successfully.
    pub first_used_at: Option<DateTime<Utc>>,
    /// Last successful use, written at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last networks it was used from, newest first (records from before: none).
    #[serde(default)]
    pub networks: Vec<super::UsedNetwork>,
}

/// The admin's rules that end a password before its expiry date, from the settings in force
/// ([`crate::store::Settings::use_policy`]): they apply to every password at once, including
/// those made before the rule was set, so tightening them takes effect immediately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsePolicy {
    /// `app_credentials_idle_ttl`: unused this long (since its last use, or its creation if
    /// never used), a password stops working.
    pub idle_ttl: Option<HumanDuration>,
    /// `app_credentials_activation_window`: never used this long after its creation, a
    /// password stops working (a secret seen on a screen but never typed into an app).
    pub activation_window: Option<HumanDuration>,
}

/// Whether an app password still opens anything; written as [`AppPasswordStatus::as_str`] in
/// listings and the API, and read back from the admin socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppPasswordStatus {
    /// Opens WebDAV.
    Active,
    /// Its expiry date has passed.
    Expired,
    /// Unused for longer than `app_credentials_idle_ttl`.
    ExpiredUnused,
    /// Never used within `app_credentials_activation_window` of its creation.
    ExpiredNeverUsed,
    /// Revoked by its user or an admin.
    Revoked,
}

impl AppPasswordStatus {
    /// Every status, in the order filters offer them.
    pub const ALL: [AppPasswordStatus; 5] = [
        AppPasswordStatus::Active,
        AppPasswordStatus::Expired,
        AppPasswordStatus::ExpiredUnused,
        AppPasswordStatus::ExpiredNeverUsed,
        AppPasswordStatus::Revoked,
    ];

    /// The word the listings and the API write.
    pub fn as_str(self) -> &'static str {
        match self {
            AppPasswordStatus::Active => "active",
            AppPasswordStatus::Expired => "expired",
            AppPasswordStatus::ExpiredUnused => "expired_unused",
            AppPasswordStatus::ExpiredNeverUsed => "expired_never_used",
            AppPasswordStatus::Revoked => "revoked",
        }
    }
}

/// The word the listings write (what the CLI's tables print).
impl std::fmt::Display for AppPasswordStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AppPassword {
    /// Whether it is past its own end (revoked, or its expiry date passed), whatever the
    /// admin's use policy says: what the store itself reasons with (duplicate names,
    /// revoke-all).
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_some() || self.expires_at.is_some_and(|at| now >= at)
    }

    /// Its status at `now` under the admin's `policy`.
    pub fn status(&self, now: DateTime<Utc>, policy: &UsePolicy) -> AppPasswordStatus {
        if self.revoked_at.is_some() {
            return AppPasswordStatus::Revoked;
        }
        if self.expires_at.is_some_and(|at| now >= at) {
            return AppPasswordStatus::Expired;
        }
        if let Some(window) = policy.activation_window
            && self.first_used_at.is_none()
            && now >= self.created_at + window.as_chrono()
        {
            return AppPasswordStatus::ExpiredNeverUsed;
        }
        if let Some(idle) = policy.idle_ttl
            && now >= self.last_used_at.unwrap_or(self.created_at) + idle.as_chrono()
        {
            return AppPasswordStatus::ExpiredUnused;
        }
        AppPasswordStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_the_rules() {
        for good in ["alice", "a", "bob.smith", "x_y-z", "Alice", &"a".repeat(64)] {
            assert!(UserName::parse(good).is_ok(), "{good:?} refused");
        }
        for bad in ["", ".hidden", "a/b", "..", "a b", "é", "a\\b", &"a".repeat(65)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(UserName::parse("Alice").unwrap().as_str(), "alice");
    }

    #[test]
    fn app_password_names_are_printable() {
        let name = |s: &str| AppPasswordName::parse(s).map(String::from);
        assert_eq!(name("  Office laptop ").unwrap(), "Office laptop");
        assert!(AppPasswordName::parse("").is_err());
        assert!(AppPasswordName::parse("a\nb").is_err());
        assert!(AppPasswordName::parse(&"x".repeat(101)).is_err());
        assert_eq!(name("Büro-Laptop 日本").unwrap(), "Büro-Laptop 日本");
        for spoof in
            ["gpj\u{202e}exe", "a\u{200b}b", "\u{2066}x\u{2069}", "\u{feff}x", "a\u{2028}b"]
        {
            assert!(AppPasswordName::parse(spoof).is_err(), "{spoof:?} accepted");
        }
    }

    #[test]
    fn refused_names_are_echoed_escaped() {
        let e = AppPasswordName::parse("gpj\u{202e}exe").unwrap_err().to_string();
        assert!(e.contains("'gpj\\u{202e}exe'") && !e.contains('\u{202e}'), "{e}");
        assert!(e.contains("right-to-left"), "{e}");
        let e = UserName::parse("al\u{202e}ice\nx").unwrap_err().to_string();
        assert!(e.contains("'al\\u{202e}ice\\nx'"), "{e}");
    }

    #[test]
    fn status_follows_expiry_revocation_and_the_use_policy() {
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let day = chrono::TimeDelta::days(1);
        let mut p = AppPassword {
            id: AppPasswordId::parse("0123456789").unwrap(),
            owner: UserName::parse("alice").unwrap(),
            name: "x".into(),
            secret_hash: String::new(),
            created_at: t0,
            expires_at: Some(t0 + day * 90),
            scope: Scope::default(),
            access_method: None,
            user_agent: None,
            first_used_at: None,
            last_used_at: None,
            revoked_at: None,
            networks: Vec::new(),
        };
        let off = UsePolicy::default();
        let strict = UsePolicy {
            idle_ttl: Some(HumanDuration::from_seconds(30 * 86_400)),
            activation_window: Some(HumanDuration::from_seconds(86_400)),
        };
        assert_eq!(p.status(t0, &off), AppPasswordStatus::Active);
        assert_eq!(p.status(t0 + day * 90, &off), AppPasswordStatus::Expired);
        assert_eq!(p.status(t0 + day, &strict), AppPasswordStatus::ExpiredNeverUsed);
        p.first_used_at = Some(t0);
        p.last_used_at = Some(t0 + day * 10);
        assert_eq!(p.status(t0 + day * 39, &strict), AppPasswordStatus::Active);
        assert_eq!(p.status(t0 + day * 40, &strict), AppPasswordStatus::ExpiredUnused);
        p.expires_at = None;
        assert_eq!(p.status(t0 + day * 36_000, &off), AppPasswordStatus::Active);
        assert!(!p.is_over(t0 + day * 36_000));
        p.revoked_at = Some(t0);
        assert_eq!(p.status(t0, &off), AppPasswordStatus::Revoked);
        assert!(p.is_over(t0));
    }
}
