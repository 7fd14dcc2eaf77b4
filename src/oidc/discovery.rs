//! Discovery: the provider's metadata (endpoints, algorithms) and its signing keys, fetched
//! at start, hourly, and once more when a token names a key we do not have.

use chrono::{DateTime, Utc};
use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;

use super::issuer::check_issuer;

/// What one discovery brought: the metadata with its key set, and when.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The provider's metadata and signing keys (`jwks()`).
    pub metadata: CoreProviderMetadata,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

/// Why a provider's discovery failed: the provider is then shown as unavailable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// The issuer breaks the rules ([`check_issuer`]).
    #[error(transparent)]
    Issuer(#[from] super::IssuerError),
    /// The metadata or the keys could not be fetched or read, or the metadata names another
    /// issuer. Kept as text: the crate's error is generic over the HTTP client.
    #[error("discovery of {issuer} failed: {reason}")]
    Failed {
        /// The issuer asked.
        issuer: String,
        /// What went wrong, with its causes.
        reason: String,
    },
}

/// Fetches the metadata and keys of `issuer` with `http`.
pub async fn discover(
    issuer: &str,
    http: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<Discovered, DiscoveryError> {
    check_issuer(issuer)?;
    let failed = |reason: String| DiscoveryError::Failed { issuer: issuer.to_string(), reason };
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| failed(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(url, http)
        .await
        .map_err(|e| failed(with_causes(&e)))?;
    Ok(Discovered { metadata, fetched_at: now })
}

/// `e` and its causes on one line.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut shown = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        shown = format!("{shown}: {c}");
        cause = c.source();
    }
    shown.replace(['\n', '\r'], " ")
}

/// The endpoints `oidc check` prints, one `name: value` per line.
pub fn endpoints(d: &Discovered) -> Vec<(&'static str, String)> {
    let m = &d.metadata;
    let algs: Vec<String> = m
        .id_token_signing_alg_values_supported()
        .iter()
        .map(|a| {
            serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    vec![
        ("issuer", m.issuer().to_string()),
        ("authorization_endpoint", m.authorization_endpoint().to_string()),
        ("token_endpoint", m.token_endpoint().map_or_else(|| "(none)".into(), |u| u.to_string())),
        (
            "userinfo_endpoint",
            m.userinfo_endpoint().map_or_else(|| "(none)".into(), |u| u.to_string()),
        ),
        ("jwks_uri", m.jwks_uri().to_string()),
        ("signing_keys", m.jwks().keys().len().to_string()),
        ("id_token_signing_algs", algs.join(" ")),
    ]
}
