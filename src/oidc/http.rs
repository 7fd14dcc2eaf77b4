//! The back channel to the providers: one reqwest client, rustls on ring with the system's
//! trust store (a company CA for an internal Keycloak or AD FS), never following a redirect
//! (the crate's own SSRF warning), bounded in time.

use std::time::Duration;

/// How long a discovery, key, token or userinfo request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the back-channel client could not be built (the TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for the identity providers: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// A client for talking to identity providers.
pub fn client() -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(concat!("davgate/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
