//! The authorization request and the checks of what comes back: the code exchange, the ID
//! token (signature with pinned algorithms, issuer, audience and `azp`, expiry and `iat` with
//! a leeway, nonce), and userinfo when a claim we need is not in the ID token.

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::discovery::with_causes;
use crate::secret::Secret;
use crate::store::OidcProvider;

/// Every claim of a token, to read the ones the provider's settings name (groups, user name,
/// Google's `hd`, Entra's `xms_edov`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Extra(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for Extra {}

/// The client as discovery makes it: authorization endpoint set, token and userinfo endpoints
/// if the metadata has them.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type ExtraIdToken =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The signing algorithms accepted, whatever the provider advertises (never HS*, `none`).
const ALGS: [CoreJwsSigningAlgorithm; 3] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
];

/// Why the provider's answer was refused. The texts never hold a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The settings are incomplete (no secret readable, no token endpoint, a bad redirect).
    #[error("provider setup: {0}")]
    Setup(String),
    /// The token endpoint answered with a refusal of the code (an OAuth `error`).
    #[error("code exchange refused: {0}")]
    Exchange(String),
    /// The token endpoint could not be reached, or its answer not read.
    #[error("code exchange failed: {0}")]
    Unreachable(String),
    /// No ID token came with the tokens.
    #[error("no ID token in the token response")]
    NoIdToken,
    /// The ID token names a key the key set does not hold (rotated keys: fetch them again).
    #[error("the ID token's signing key is unknown")]
    UnknownKey,
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce, iat).
    #[error("ID token refused: {0}")]
    IdToken(String),
    /// Userinfo failed or answered for another subject.
    #[error("userinfo failed: {0}")]
    UserInfo(String),
}

/// What the checks established about the person.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The issuer, exactly as in the token.
    pub issuer: String,
    /// The subject.
    pub subject: String,
    /// The e-mail, if any.
    pub email: Option<String>,
    /// Whether the provider confirmed the e-mail (`email_verified`, or `xms_edov` if trusted).
    pub email_verified: bool,
    /// Google's hosted domain, if sent.
    pub hosted_domain: Option<String>,
    /// The groups claim, as strings.
    pub groups: Vec<String>,
    /// The configured user-name claim.
    pub username: Option<String>,
    /// The refresh token, when one came.
    pub refresh_token: Option<Secret>,
}

/// The client for `provider` as discovered, redirecting to `redirect_uri`.
pub(super) fn client(
    provider: &OidcProvider,
    metadata: &CoreProviderMetadata,
    redirect_uri: &str,
) -> Result<DiscoveredClient, TokenError> {
    let secret = secret(provider)?;
    let redirect =
        RedirectUrl::new(redirect_uri.to_string()).map_err(|e| TokenError::Setup(e.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(secret.expose().to_string())),
    )
    .set_redirect_uri(redirect))
}

/// The client secret (a secret file was read into it by the [`super::Registry`]).
fn secret(provider: &OidcProvider) -> Result<Secret, TokenError> {
    provider.client_secret.clone().ok_or_else(|| TokenError::Setup("no client secret".into()))
}

/// What the login route sends the browser to, and what its callback will need.
pub struct Authorization {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// Builds the authorization request: code flow, S256, state, nonce, the provider's scopes
/// (`offline_access` too under the refresh check), query response mode.
pub fn authorize(
    provider: &OidcProvider,
    metadata: &CoreProviderMetadata,
    redirect_uri: &str,
) -> Result<Authorization, TokenError> {
    let client = client(provider, metadata, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if provider.refresh_check && !provider.scopes.iter().any(|s| s == "offline_access") {
        request = request.add_scope(Scope::new("offline_access".into()));
        request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Consent);
    }
    let (url, state, nonce) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// The tokens of an exchanged code, before their checks.
pub struct Exchanged {
    id_token: String,
    access_token: openidconnect::AccessToken,
    refresh_token: Option<Secret>,
}

/// Exchanges `code` (client_secret_basic, with the PKCE verifier).
pub async fn exchange(
    provider: &OidcProvider,
    metadata: &CoreProviderMetadata,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: &str,
    http: &reqwest::Client,
) -> Result<Exchanged, TokenError> {
    let client = client(provider, metadata, redirect_uri)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| TokenError::Setup(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
        .request_async(http)
        .await
        .map_err(|e| match &e {
            RequestTokenError::ServerResponse(_) => TokenError::Exchange(with_causes(&e)),
            _ => TokenError::Unreachable(with_causes(&e)),
        })?;
    let id_token = response.id_token().ok_or(TokenError::NoIdToken)?.to_string();
    Ok(Exchanged {
        id_token,
        access_token: response.access_token().clone(),
        refresh_token: response.refresh_token().map(|t| Secret::new(t.secret().clone())),
    })
}

/// Checks the ID token of `tokens` against `metadata`'s keys at `now` with `skew` leeway, then
/// asks userinfo for what it lacks.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    provider: &OidcProvider,
    metadata: &CoreProviderMetadata,
    redirect_uri: &str,
    tokens: &Exchanged,
    nonce: &str,
    now: DateTime<Utc>,
    skew: TimeDelta,
    http: &reqwest::Client,
) -> Result<Checked, TokenError> {
    let client = client(provider, metadata, redirect_uri)?;
    let id_token: ExtraIdToken = tokens
        .id_token
        .parse()
        .map_err(|e: serde_json::Error| TokenError::IdToken(e.to_string()))?;
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(ALGS)
        .set_time_fn(move || now - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > now + skew { Err(format!("issued in the future ({iat})")) } else { Ok(()) }
        });
    let claims =
        id_token.claims(&verifier, &Nonce::new(nonce.to_string())).map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => TokenError::UnknownKey,
            other => TokenError::IdToken(with_causes(&other)),
        })?;
    let extra = &claims.additional_claims().0;
    let mut checked = Checked {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified() == Some(true),
        hosted_domain: string_claim(extra, "hd"),
        groups: groups(extra.get(&provider.groups_claim)),
        username: string_claim(extra, &provider.username_claim)
            .or_else(|| claims.preferred_username().map(|u| u.to_string())),
        refresh_token: tokens.refresh_token.clone(),
    };
    if provider.trust_xms_edov && truthy(extra.get("xms_edov")) {
        checked.email_verified = checked.email.is_some();
    }
    let needs_groups = !provider.allowed_groups.is_empty() || !provider.admin_groups.is_empty();
    let lacking =
        checked.email.is_none() || (needs_groups && !extra.contains_key(&provider.groups_claim));
    if lacking && metadata.userinfo_endpoint().is_some() {
        let subject = claims.subject().clone();
        let info: UserInfoClaims<Extra, CoreGenderClaim> = client
            .user_info(tokens.access_token.clone(), Some(subject))
            .map_err(|e| TokenError::UserInfo(e.to_string()))?
            .request_async(http)
            .await
            .map_err(|e| TokenError::UserInfo(with_causes(&e)))?;
        let more = &info.additional_claims().0;
        if checked.email.is_none() {
            checked.email = info.email().map(|e| e.to_string());
            checked.email_verified = info.email_verified() == Some(true)
                || (provider.trust_xms_edov && truthy(more.get("xms_edov")));
        }
        if checked.groups.is_empty() {
            checked.groups = groups(more.get(&provider.groups_claim));
        }
        if checked.username.is_none() {
            checked.username = string_claim(more, &provider.username_claim);
        }
    }
    Ok(checked)
}

fn string_claim(claims: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(|v| v.as_str()).map(String::from)
}

/// `true`, or the string `"true"` (Entra sends `xms_edov` as either).
fn truthy(v: Option<&serde_json::Value>) -> bool {
    matches!(v, Some(serde_json::Value::Bool(true)))
        || v.and_then(|v| v.as_str()).is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// A groups claim as strings: an array of strings (or of objects with a `name` or `id`), or a
/// comma-separated string. Anything else is no group, never every group.
pub fn groups(v: Option<&serde_json::Value>) -> Vec<String> {
    use serde_json::Value;
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => {
                    o.get("name").or_else(|| o.get("id")).and_then(Value::as_str).map(String::from)
                }
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        }
        _ => Vec::new(),
    }
}
