//! Company single sign-on with OpenID Connect: the provider settings' rules, discovery and
//! signing keys, the flow's state, the ID-token checks and who an identity is here.
//!
//! It sits under the web pages and the admin operations and over the store: the web routes of
//! `/auth/oidc/` drive a flow, the admin operations validate providers and run the refresh
//! check, and both reach the provider through [`http::client`] (no redirects followed, pinned
//! signing algorithms). The `openidconnect` crate does discovery, PKCE, the code exchange and
//! the signature; what it leaves to its users (clock leeway, `iat` ahead, RFC 9207 `iss`,
//! verified e-mails, domains, groups, key refresh) is done here.

pub mod account;
pub mod discovery;
pub mod flow;
pub mod http;
pub mod issuer;
pub mod recheck;
pub mod registry;
pub mod token;

pub use discovery::{Discovered, DiscoveryError};
pub use issuer::{IssuerError, check_issuer};
pub use registry::Registry;
