//! Admin settings: stored as text, read once into a typed [`Settings`].

use redb::{ReadTransaction, ReadableTable};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

use super::tables::SETTINGS;
use super::{Result, Store};
use crate::duration::{DurationError, HumanDuration};

/// The settings in force.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// How long a new app password stays valid (expiry = creation + this).
    #[serde(serialize_with = "as_text")]
    pub app_credentials_ttl: HumanDuration,
    /// Whether PROPFIND with `Depth: infinity` walks a whole tree (off: answered 403).
    pub propfind_depth_infinity: bool,
    /// Whether a successful upload is on disk before it is acknowledged.
    pub durability: Durability,
    /// Longest a WebDAV lock lives without a refresh, whatever the client asks.
    #[serde(serialize_with = "as_text")]
    pub lock_timeout: HumanDuration,
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

impl Default for Settings {
    fn default() -> Self {
        Self {
            app_credentials_ttl: HumanDuration::from_seconds(90 * 86_400),
            propfind_depth_infinity: false,
            durability: Durability::Fsync,
            lock_timeout: HumanDuration::from_seconds(10 * 60),
        }
    }
}

/// The name of a setting, as typed in `davgate settings set KEY VALUE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKey {
    /// `app_credentials_ttl`: `90d`, `12h`, `30m`, `45s`.
    AppCredentialsTtl,
    /// `propfind_depth_infinity`: `true` or `false`.
    PropfindDepthInfinity,
    /// `durability`: `fsync` or `fast`.
    Durability,
    /// `lock_timeout`: the longest a lock lives without refresh (default `10m`; dav-server also
    /// caps exclusive locks at 10 minutes, so a longer value only lengthens shared locks).
    LockTimeout,
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
    pub const ALL: [SettingKey; 4] = [
        SettingKey::AppCredentialsTtl,
        SettingKey::PropfindDepthInfinity,
        SettingKey::Durability,
        SettingKey::LockTimeout,
    ];

    /// The setting's name.
    pub fn name(self) -> &'static str {
        match self {
            SettingKey::AppCredentialsTtl => "app_credentials_ttl",
            SettingKey::PropfindDepthInfinity => "propfind_depth_infinity",
            SettingKey::Durability => "durability",
            SettingKey::LockTimeout => "lock_timeout",
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
            .ok_or_else(|| SettingError::UnknownKey(s.to_string()))
    }
}

impl Settings {
    /// The value of `key` as text, as `settings get` shows it.
    pub fn get(&self, key: SettingKey) -> String {
        match key {
            SettingKey::AppCredentialsTtl => self.app_credentials_ttl.to_string(),
            SettingKey::PropfindDepthInfinity => self.propfind_depth_infinity.to_string(),
            SettingKey::Durability => match self.durability {
                Durability::Fsync => "fsync".into(),
                Durability::Fast => "fast".into(),
            },
            SettingKey::LockTimeout => self.lock_timeout.to_string(),
        }
    }

    /// Parses `value` into `key`; returns the canonical text to store.
    fn apply(&mut self, key: SettingKey, value: &str) -> Result<String, SettingError> {
        let word = value.trim().to_ascii_lowercase();
        let choice = |choices| SettingError::Choice { key, value: value.to_string(), choices };
        match key {
            SettingKey::AppCredentialsTtl => {
                self.app_credentials_ttl =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::LockTimeout => {
                self.lock_timeout =
                    value.parse().map_err(|source| SettingError::Duration { key, source })?;
            }
            SettingKey::PropfindDepthInfinity => {
                self.propfind_depth_infinity = match word.as_str() {
                    "true" | "on" | "yes" => true,
                    "false" | "off" | "no" => false,
                    _ => return Err(choice("true, false")),
                };
            }
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

/// Reads the stored settings over the defaults. A stored value that no longer parses keeps the
/// default rather than refusing to start (it can be set again).
pub(super) fn load(txn: &ReadTransaction) -> Result<Settings> {
    let table = txn.open_table(SETTINGS)?;
    let mut settings = Settings::default();
    for entry in table.iter()? {
        let (k, v) = entry?;
        if let Ok(key) = k.value().parse::<SettingKey>() {
            let _ = settings.apply(key, v.value());
        }
    }
    Ok(settings)
}

impl Store {
    /// The settings in force (a cheap copy; no database read).
    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates and stores one setting; returns the settings now in force.
    pub fn set_setting(&self, key: SettingKey, value: &str) -> Result<Settings> {
        let mut next = self.settings();
        let canonical = next.apply(key, value)?;
        self.write(true, |txn| {
            txn.open_table(SETTINGS)?.insert(key.name(), canonical.as_str())?;
            Ok(())
        })?;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
        Ok(next)
    }
}
