//! What listings show: store records without their hashes, times in RFC 3339.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::token::Secret;
use crate::store::{AppPassword, User};

/// An account as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    /// Account name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Most bytes the home may hold; null: no limit.
    pub quota_bytes: Option<u64>,
    /// Whether the web login asks for a TOTP code.
    #[serde(default)]
    pub two_factor: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            name: u.name.to_string(),
            role: u.role.to_string(),
            created_at: u.created_at,
            disabled: u.disabled,
            quota_bytes: u.quota_bytes,
            two_factor: u.totp.is_some(),
        }
    }
}

/// An app password as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPasswordView {
    /// Public id.
    pub id: String,
    /// Owner.
    pub user: String,
    /// Display name.
    pub name: String,
    /// The client seen at first use; null while not assigned.
    pub access_method: Option<String>,
    /// Raw User-Agent of the first use.
    pub user_agent: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// First successful use.
    pub first_used_at: Option<DateTime<Utc>>,
    /// Last successful use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

impl AppPasswordView {
    /// The view of `p` as of `now`.
    pub fn new(p: &AppPassword, now: DateTime<Utc>) -> Self {
        let status = serde_json::to_value(p.status(now))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Self {
            id: p.id.to_string(),
            user: p.owner.to_string(),
            name: p.name.clone(),
            access_method: p.access_method.clone(),
            user_agent: p.user_agent.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            first_used_at: p.first_used_at,
            last_used_at: p.last_used_at,
            revoked_at: p.revoked_at,
            status,
        }
    }
}

/// A running server's state, for `davgate status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerStatus {
    /// davgate's version.
    pub version: String,
    /// When the server started.
    pub started_at: DateTime<Utc>,
    /// The gate's counters.
    #[serde(flatten)]
    pub gate: crate::auth::GateStats,
}

/// The answer to a creation: the only place the password ever appears.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedAppPassword {
    /// Public id.
    pub id: String,
    /// Owner.
    pub user: String,
    /// Display name.
    pub name: String,
    /// The whole password, shown once.
    pub password: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

impl CreatedAppPassword {
    /// Pairs the stored record with the password that was just drawn for it.
    pub fn new(record: &AppPassword, password: Secret) -> Self {
        Self {
            id: record.id.to_string(),
            user: record.owner.to_string(),
            name: record.name.clone(),
            password: password.expose().to_string(),
            expires_at: record.expires_at,
        }
    }
}
