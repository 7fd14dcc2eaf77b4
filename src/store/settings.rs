//! Admin settings: stored as text, read once into a typed [`Settings`], then kept current
//! through the change feed ([`super::changes`]).

use redb::{ReadTransaction, ReadableTable};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

use super::tables::SETTINGS;
use super::{Change, Result, Store, UsePolicy};
use crate::duration::{DurationError, HumanDuration};
use crate::log_safe::escaped;
use chrono::{DateTime, Utc};
use ipnet::IpNet;

use super::EmailAddress;
use crate::mail::url::SmtpUrl;
use crate::secret::Secret;

/// The settings in force.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// How long a new app password stays valid (expiry = creation + this).
    #[serde(serialize_with = "as_text")]
    pub app_credentials_ttl: HumanDuration,
    /// The longest lifetime a user may choose at creation; None (`none`): passwords may be
    /// made that never expire.
    #[serde(serialize_with = "or_null")]
    pub app_credentials_max_ttl: Option<HumanDuration>,
    /// Unused this long, a password stops working; None (`off`): no idle expiry.
    #[serde(serialize_with = "or_null")]
    pub app_credentials_idle_ttl: Option<HumanDuration>,
    /// Never used this long after creation, a password stops working; None (`off`).
    #[serde(serialize_with = "or_null")]
    pub app_credentials_activation_window: Option<HumanDuration>,
    /// Most app passwords one user may hold that are not revoked or expired.
    pub app_credentials_max_per_user: u32,
    /// Whether PROPFIND with `Depth: infinity` walks a whole tree (off: answered 403).
    pub propfind_depth_infinity: bool,
    /// Whether a successful upload is on disk before it is acknowledged.
    pub durability: Durability,
    /// Longest a WebDAV lock lives without a refresh, whatever the client asks.
    #[serde(serialize_with = "as_text")]
    pub lock_timeout: HumanDuration,
    /// Whether failed logins are delayed and, past `login_max_failures`, refused for a while.
    pub login_throttle: bool,
    /// Failed logins per (network, user) before a lockout.
    pub login_max_failures: u32,
    /// Networks never throttled.
    #[serde(serialize_with = "as_list")]
    pub login_trusted_networks: Vec<IpNet>,
    /// An `sso` account's app passwords stop opening WebDAV once its owner has not signed in
    /// through the provider for this long; None (`0`): never.
    #[serde(serialize_with = "as_optional")]
    pub sso_reauth_interval: Option<HumanDuration>,
    /// How often the refresh-token check asks the providers about each account.
    #[serde(serialize_with = "as_text")]
    pub sso_recheck_interval: HumanDuration,
    /// The clock difference allowed with a provider (ID token expiry and issue time).
    #[serde(serialize_with = "as_text")]
    pub sso_clock_skew: HumanDuration,
    /// How long the audit log keeps an event before the periodic prune removes it.
    #[serde(serialize_with = "as_text")]
    pub audit_retention: HumanDuration,
    /// Where the security e-mails are handed over; None (empty): no e-mails.
    #[serde(serialize_with = "display_or_null")]
    pub smtp_url: Option<SmtpUrl>,
    /// The sender address of the e-mails.
    #[serde(serialize_with = "display_or_null")]
    pub smtp_from: Option<EmailAddress>,
    /// The SMTP password (with the URL's user). Write-only: shown as stars, never in Debug.
    #[serde(serialize_with = "stars")]
    pub smtp_password: Option<Secret>,
    /// Where the signed webhooks go; None: no webhooks.
    #[serde(serialize_with = "display_or_null")]
    pub webhook_url: Option<crate::webhook::target::WebhookUrl>,
    /// The webhooks' HMAC key: write-only (shown as `********` once set, never in `Debug`).
    #[serde(serialize_with = "masked_or_null")]
    pub webhook_secret: Option<crate::secret::Secret>,
}

fn display_or_null<T: fmt::Display, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn stars<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_some() { MASK } else { "" })
}

fn masked_or_null<S: serde::Serializer>(
    secret: &Option<crate::secret::Secret>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str(MASK),
        None => s.serialize_none(),
    }
}

/// What a write-only setting shows once set.
pub const MASK: &str = "********";

/// The shortest webhook secret accepted (a receiver's key should be hard to guess).
const MIN_WEBHOOK_SECRET: usize = 16;

fn as_optional<S: serde::Serializer>(d: &Option<HumanDuration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_str("0"),
    }
}

fn as_list<S: serde::Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
}

/// What a 201/204 to an upload promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The file and its folder are fsynced before the answer: it survives a power cut.
    Fsync,
    /// No fsync: faster, but the last uploads may be lost if the machine loses power.
    Fast,
}

fn as_text<S: serde::Serializer>(d: &HumanDuration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

fn or_null<S: serde::Serializer>(d: &Option<HumanDuration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            app_credentials_ttl: HumanDuration::from_seconds(90 * 86_400),
            app_credentials_max_ttl: Some(HumanDuration::from_seconds(365 * 86_400)),
            app_credentials_idle_ttl: None,
            app_credentials_activation_window: None,
            app_credentials_max_per_user: 50,
            propfind_depth_infinity: false,
            durability: Durability::Fsync,
            lock_timeout: HumanDuration::from_seconds(10 * 60),
            login_throttle: true,
            login_max_failures: 10,
            login_trusted_networks: Vec::new(),
            sso_reauth_interval: Some(HumanDuration::from_seconds(30 * 86_400)),
            sso_recheck_interval: HumanDuration::from_seconds(86_400),
            sso_clock_skew: HumanDuration::from_seconds(60),
            audit_retention: HumanDuration::from_seconds(365 * 86_400),
            smtp_url: None,
            smtp_from: None,
            smtp_password: None,
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

/// The name of a setting, as typed in `davgate settings set KEY VALUE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKey {
    /// `app_credentials_ttl`: the default lifetime of a new password, `90d`, `12h`, `30m`,
    /// `45s`; at most `app_credentials_max_ttl`.
    AppCredentialsTtl,
    /// `app_credentials_max_ttl`: the longest lifetime a user may choose (default `365d`;
    /// `none`: no maximum, passwords may never expire).
    AppCredentialsMaxTtl,
    /// `app_credentials_idle_ttl`: unused this long, a password stops working (default `off`).
    AppCredentialsIdleTtl,
    /// `app_credentials_activation_window`: never used this long after creation, a password
    /// stops working (default `off`).
    AppCredentialsActivationWindow,
    /// `app_credentials_max_per_user`: live passwords per user, 1 to 10000 (default 50).
    AppCredentialsMaxPerUser,
    /// `propfind_depth_infinity`: `true` or `false`.
    PropfindDepthInfinity,
    /// `durability`: `fsync` or `fast`.
    Durability,
    /// `lock_timeout`: the longest a lock lives without refresh (default `10m`; dav-server also
    /// caps exclusive locks at 10 minutes, so a longer value only lengthens shared locks).
    LockTimeout,
    /// `login_throttle`: `true` or `false`.
    LoginThrottle,
    /// `login_max_failures`: failures before a lockout, 1 to 1000.
    LoginMaxFailures,
    /// `login_trusted_networks`: comma-separated networks, e.g. `10.0.0.0/8,2001:db8::/48`.
    LoginTrustedNetworks,
    /// `sso_reauth_interval`: `30d` (default), or `0` for never.
    SsoReauthInterval,
    /// `sso_recheck_interval`: `24h` (default).
    SsoRecheckInterval,
    /// `sso_clock_skew`: `60s` (default), at most `5m`.
    SsoClockSkew,
    /// `webhook_url`: where the signed audit webhooks go (https, or http to loopback only);
    /// empty: off.
    WebhookUrl,
    /// `webhook_secret`: the webhooks' HMAC-SHA256 key, at least 16 characters; write-only.
    WebhookSecret,
    /// `audit_retention`: how long audit events are kept, `365d` (default).
    AuditRetention,
    /// `smtp_url`: `smtps://user@host:465`, `smtp://host:25?starttls=required`, or
    /// `smtp://127.0.0.1:25?tls=none` (loopback only); empty: no e-mails.
    SmtpUrl,
    /// `smtp_from`: the e-mails' sender address.
    SmtpFrom,
    /// `smtp_password`: write-only; empty clears it.
    SmtpPassword,
}

/// The lifetime a user asks for a new app password; written `default`, `never` or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Lifetime {
    /// `app_credentials_ttl`, the admin's default.
    Default,
    /// This long (`30d`).
    For(HumanDuration),
    /// No expiry: only where `app_credentials_max_ttl` is `none`.
    Never,
}

impl FromStr for Lifetime {
    type Err = DurationError;
    /// `never`, `default`, or a duration such as `30d`.
    fn from_str(s: &str) -> Result<Self, DurationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "never" | "none" => Ok(Lifetime::Never),
            "default" | "" => Ok(Lifetime::Default),
            other => other.parse().map(Lifetime::For),
        }
    }
}

impl TryFrom<String> for Lifetime {
    type Error = DurationError;
    fn try_from(s: String) -> Result<Self, DurationError> {
        s.parse()
    }
}

impl From<Lifetime> for String {
    fn from(l: Lifetime) -> String {
        match l {
            Lifetime::Default => "default".into(),
            Lifetime::For(d) => d.to_string(),
            Lifetime::Never => "never".into(),
        }
    }
}

/// Why a requested lifetime was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LifetimeError {
    /// Longer than the admin allows.
    #[error(
        "an app password may live at most {max} here (app_credentials_max_ttl); {asked} was asked"
    )]
    OverMax {
        /// What was asked.
        asked: HumanDuration,
        /// The maximum.
        max: HumanDuration,
    },
    /// No expiry, where the admin sets a maximum.
    #[error("app passwords must expire here: at most {max} (app_credentials_max_ttl)")]
    NeverRefused {
        /// The maximum.
        max: HumanDuration,
    },
}

/// Why a setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// Not a setting davgate knows.
    #[error("unknown setting '{0}'; known settings: {list}", list = SettingKey::ALL.map(|k| k.name()).join(", "))]
    UnknownKey(String),
    /// A duration setting got something else.
    #[error("{key}: {source}")]
    Duration {
        /// The setting.
        key: SettingKey,
        /// What was wrong.
        source: DurationError,
    },
    /// The default lifetime would exceed the maximum one (or the other way round).
    #[error(
        "app_credentials_ttl ({ttl}) cannot be longer than app_credentials_max_ttl ({max}): \
         raise app_credentials_max_ttl first, or lower app_credentials_ttl"
    )]
    TtlOverMax {
        /// The default lifetime.
        ttl: HumanDuration,
        /// The maximum.
        max: HumanDuration,
    },
    /// `smtp_url` is not one davgate can use.
    #[error("smtp_url: {source}")]
    Smtp {
        /// What was wrong.
        source: crate::mail::url::SmtpUrlError,
    },
    /// `smtp_from` is not an address.
    #[error("smtp_from: {source}")]
    From {
        /// What was wrong.
        source: super::EmailError,
    },
    /// A setting with fixed choices got something else.
    #[error("{key}: '{value}' is not one of: {choices}")]
    Choice {
        /// The setting.
        key: SettingKey,
        /// What was given.
        value: String,
        /// The accepted values.
        choices: &'static str,
    },
}

impl SettingKey {
    /// Every setting, in listing order.
    pub const ALL: [SettingKey; 20] = [
        SettingKey::AppCredentialsTtl,
        SettingKey::AppCredentialsMaxTtl,
        SettingKey::AppCredentialsIdleTtl,
        SettingKey::AppCredentialsActivationWindow,
        SettingKey::AppCredentialsMaxPerUser,
        SettingKey::PropfindDepthInfinity,
        SettingKey::Durability,
        SettingKey::LockTimeout,
        SettingKey::LoginThrottle,
        SettingKey::LoginMaxFailures,
        SettingKey::LoginTrustedNetworks,
        SettingKey::SsoReauthInterval,
        SettingKey::SsoRecheckInterval,
        SettingKey::SsoClockSkew,
        SettingKey::AuditRetention,
        SettingKey::SmtpUrl,
        SettingKey::SmtpFrom,
        SettingKey::SmtpPassword,
        SettingKey::WebhookUrl,
        SettingKey::WebhookSecret,
    ];

    /// The setting's name.
    pub fn name(self) -> &'static str {
        match self {
            SettingKey::AppCredentialsTtl => "app_credentials_ttl",
            SettingKey::AppCredentialsMaxTtl => "app_credentials_max_ttl",
            SettingKey::AppCredentialsIdleTtl => "app_credentials_idle_ttl",
            SettingKey::AppCredentialsActivationWindow => "app_credentials_activation_window",
            SettingKey::AppCredentialsMaxPerUser => "app_credentials_max_per_user",
            SettingKey::PropfindDepthInfinity => "propfind_depth_infinity",
            SettingKey::Durability => "durability",
            SettingKey::LockTimeout => "lock_timeout",
            SettingKey::LoginThrottle => "login_throttle",
            SettingKey::LoginMaxFailures => "login_max_failures",
            SettingKey::LoginTrustedNetworks => "login_trusted_networks",
            SettingKey::SsoReauthInterval => "sso_reauth_interval",
            SettingKey::SsoRecheckInterval => "sso_recheck_interval",
            SettingKey::SsoClockSkew => "sso_clock_skew",
            SettingKey::AuditRetention => "audit_retention",
            SettingKey::SmtpUrl => "smtp_url",
            SettingKey::SmtpFrom => "smtp_from",
            SettingKey::SmtpPassword => "smtp_password",
            SettingKey::WebhookUrl => "webhook_url",
            SettingKey::WebhookSecret => "webhook_secret",
        }
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SettingKey {
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, SettingError> {
        SettingKey::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| SettingError::UnknownKey(escaped(s)))
    }
}

impl Settings {
    /// The value of `key` as text, as `settings get` shows it.
    pub fn get(&self, key: SettingKey) -> String {
        match key {
            SettingKey::AppCredentialsTtl => self.app_credentials_ttl.to_string(),
            SettingKey::AppCredentialsMaxTtl => or_word(self.app_credentials_max_ttl, "none"),
            SettingKey::AppCredentialsIdleTtl => or_word(self.app_credentials_idle_ttl, "off"),
            SettingKey::AppCredentialsActivationWindow => {
                or_word(self.app_credentials_activation_window, "off")
            }
            SettingKey::AppCredentialsMaxPerUser => self.app_credentials_max_per_user.to_string(),
            SettingKey::PropfindDepthInfinity => self.propfind_depth_infinity.to_string(),
            SettingKey::Durability => match self.durability {
                Durability::Fsync => "fsync".into(),
                Durability::Fast => "fast".into(),
            },
            SettingKey::LockTimeout => self.lock_timeout.to_string(),
            SettingKey::LoginThrottle => self.login_throttle.to_string(),
            SettingKey::LoginMaxFailures => self.login_max_failures.to_string(),
            SettingKey::LoginTrustedNetworks => self
                .login_trusted_networks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            SettingKey::SsoReauthInterval => {
                self.sso_reauth_interval.map_or_else(|| "0".into(), |d| d.to_string())
            }
            SettingKey::SsoRecheckInterval => self.sso_recheck_interval.to_string(),
            SettingKey::SsoClockSkew => self.sso_clock_skew.to_string(),
            SettingKey::AuditRetention => self.audit_retention.to_string(),
            SettingKey::SmtpUrl => {
                self.smtp_url.as_ref().map(ToString::to_string).unwrap_or_default()
            }
            SettingKey::SmtpFrom => {
                self.smtp_from.as_ref().map(ToString::to_string).unwrap_or_default()
            }
            // Write-only: whether one is set, never what it is.
            SettingKey::SmtpPassword => {
                if self.smtp_password.is_some() { MASK } else { "" }.to_string()
            }
            SettingKey::WebhookUrl => {
                self.webhook_url.as_ref().map(ToString::to_string).unwrap_or_default()
            }
            SettingKey::WebhookSecret => {
                self.webhook_secret.as_ref().map(|_| MASK.to_string()).unwrap_or_default()
            }
        }
    }

    /// What an admin's `settings set` does: [`Settings::apply`], then the rules between
    /// settings (the default lifetime within the maximum). Stored values are read back with
    /// `apply` alone, so the order they are read in cannot matter.
    pub(super) fn apply_checked(
        &mut self,
        key: SettingKey,
        value: &str,
    ) -> Result<String, SettingError> {
        let canonical = self.apply(key, value)?;
        if let Some(max) = self.app_credentials_max_ttl
            && self.app_credentials_ttl > max
        {
            return Err(SettingError::TtlOverMax { ttl: self.app_credentials_ttl, max });
        }
        Ok(canonical)
    }

    /// The rules that end passwords early, as [`super::AppPassword::status`] takes them.
    pub fn use_policy(&self) -> UsePolicy {
        UsePolicy {
            idle_ttl: self.app_credentials_idle_ttl,
            activation_window: self.app_credentials_activation_window,
        }
    }

    /// When a password made at `now` with the `requested` lifetime expires (None: never), or
    /// why that lifetime is refused under `app_credentials_max_ttl`.
    pub fn expiry_for(
        &self,
        requested: Lifetime,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, LifetimeError> {
        let chosen = match requested {
            Lifetime::Default => Some(self.app_credentials_ttl),
            Lifetime::For(d) => Some(d),
            Lifetime::Never => None,
        };
        match (chosen, self.app_credentials_max_ttl) {
            (None, Some(max)) => Err(LifetimeError::NeverRefused { max }),
            (Some(d), Some(max)) if d > max => Err(LifetimeError::OverMax { asked: d, max }),
            (Some(d), _) => Ok(Some(now + d.as_chrono())),
            (None, None) => Ok(None),
        }
    }

    /// Parses `value` into `key`; returns the canonical text to store.
    pub(super) fn apply(&mut self, key: SettingKey, value: &str) -> Result<String, SettingError> {
        let word = value.trim().to_ascii_lowercase();
        if key == SettingKey::WebhookSecret {
            // Stored as given (it is a key), and never answered back: `get` masks it.
            let secret = value.trim();
            if !secret.is_empty() && secret.chars().count() < MIN_WEBHOOK_SECRET {
                return Err(SettingError::Choice {
                    key,
                    value: MASK.into(),
                    choices: "a secret of at least 16 characters, or empty for none",
                });
            }
            self.webhook_secret =
                (!secret.is_empty()).then(|| crate::secret::Secret::new(secret.to_string()));
            return Ok(secret.to_string());
        }
        let choice = |choices| SettingError::Choice { key, value: escaped(value), choices };
        match key {
            SettingKey::AppCredentialsTtl => {
                self.app_credentials_ttl =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::AppCredentialsMaxTtl => {
                self.app_credentials_max_ttl = optional(key, value, "none")?;
            }
            SettingKey::AppCredentialsIdleTtl => {
                self.app_credentials_idle_ttl = optional(key, value, "off")?;
            }
            SettingKey::AppCredentialsActivationWindow => {
                self.app_credentials_activation_window = optional(key, value, "off")?;
            }
            SettingKey::AppCredentialsMaxPerUser => {
                self.app_credentials_max_per_user = word
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| choice("a whole number from 1 to 10000"))?;
            }
            SettingKey::LockTimeout => {
                self.lock_timeout =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::PropfindDepthInfinity => {
                self.propfind_depth_infinity =
                    yes_no(&word).ok_or_else(|| choice("true, false"))?;
            }
            SettingKey::LoginThrottle => {
                self.login_throttle = yes_no(&word).ok_or_else(|| choice("true, false"))?;
            }
            SettingKey::LoginMaxFailures => {
                self.login_max_failures = word
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| choice("a whole number from 1 to 1000"))?;
            }
            SettingKey::LoginTrustedNetworks => {
                let nets: Result<Vec<IpNet>, _> = word
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        n.parse::<IpNet>()
                            .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                    })
                    .collect();
                self.login_trusted_networks =
                    nets.map_err(|_| choice("networks like 10.0.0.0/8,192.168.1.5,2001:db8::/48"))?;
            }
            SettingKey::SsoReauthInterval => {
                self.sso_reauth_interval = match word.as_str() {
                    "0" | "off" | "never" => None,
                    _ => Some(
                        value.parse().map_err(|source| SettingError::Duration { key, source })?,
                    ),
                };
            }
            SettingKey::SsoRecheckInterval => {
                self.sso_recheck_interval =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::SsoClockSkew => {
                let skew: HumanDuration =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
                if skew.as_seconds() > 300 {
                    return Err(choice("a duration of at most 5m"));
                }
                self.sso_clock_skew = skew;
            }
            SettingKey::AuditRetention => {
                self.audit_retention =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::SmtpUrl => {
                self.smtp_url = match value.trim() {
                    "" => None,
                    text => {
                        Some(SmtpUrl::parse(text).map_err(|source| SettingError::Smtp { source })?)
                    }
                };
            }
            SettingKey::SmtpFrom => {
                self.smtp_from = match value.trim() {
                    "" => None,
                    text => Some(
                        EmailAddress::parse(text)
                            .map_err(|source| SettingError::From { source })?,
                    ),
                };
            }
            SettingKey::SmtpPassword => {
                // Kept as given (a password may have spaces); stored as it is, shown as stars.
                self.smtp_password =
                    Some(value).filter(|v| !v.is_empty()).map(|v| Secret::new(v.to_string()));
                return Ok(value.to_string());
            }
            SettingKey::WebhookUrl => {
                self.webhook_url = match value.trim() {
                    "" => None,
                    url => Some(url.parse().map_err(|_| {
                        choice("an https:// URL (http:// only to 127.0.0.1, ::1 or localhost)")
                    })?),
                };
            }
            SettingKey::WebhookSecret => {}
            SettingKey::Durability => {
                self.durability = match word.as_str() {
                    "fsync" => Durability::Fsync,
                    "fast" => Durability::Fast,
                    _ => return Err(choice("fsync, fast")),
                };
            }
        }
        Ok(self.get(key))
    }
}

/// `d` as text, or `word` (`none`, `off`) when unset.
fn or_word(d: Option<HumanDuration>, word: &str) -> String {
    d.map_or_else(|| word.to_string(), |d| d.to_string())
}

/// A duration, or `word` (also `0`) for unset.
fn optional(
    key: SettingKey,
    value: &str,
    word: &str,
) -> Result<Option<HumanDuration>, SettingError> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case(word) || trimmed == "0" {
        return Ok(None);
    }
    trimmed.parse().map(Some).map_err(|source| SettingError::Duration { key, source })
}

fn yes_no(word: &str) -> Option<bool> {
    match word {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// Reads the stored settings over the defaults. A stored value that no longer parses keeps the
/// default rather than refusing to start (it can be set again).
pub(super) fn load(txn: &ReadTransaction) -> Result<Settings> {
    let table = txn.open_table(SETTINGS)?;
    let mut pairs = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        pairs.push((k.value().to_string(), v.value().to_string()));
    }
    Ok(Settings::from_stored(pairs))
}

impl Settings {
    /// The defaults overlaid with stored (key, value) pairs, as either backend reads them; an
    /// unknown key or a value that no longer parses is skipped.
    pub(super) fn from_stored(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut settings = Settings::default();
        for (key, value) in pairs {
            if let Ok(key) = key.parse::<SettingKey>() {
                let _ = settings.apply(key, &value);
            }
        }
        settings
    }
}

impl Store {
    /// Validates and stores one setting, then publishes the settings now in force (every
    /// setting can change who may log in or how, so each is a change on the feed).
    pub async fn set_setting(&self, key: SettingKey, value: &str) -> Result<Settings> {
        if let Some(pg) = self.postgres() {
            return pg.set_setting(key, value).await;
        }
        let value = value.to_string();
        self.blocking(move |redb| {
            redb.feed.publish(|current| {
                let mut next = current.clone();
                let canonical = next.apply_checked(key, &value)?;
                redb.write(Change::Harmless, |txn| {
                    txn.open_table(SETTINGS)?.insert(key.name(), canonical.as_str())?;
                    Ok(())
                })?;
                Ok((next.clone(), Some(next)))
            })
        })
        .await
    }
}
