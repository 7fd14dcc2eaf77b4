//! Signing in through a company identity provider: the start of a flow (a flow record behind
//! the `davgate_oidc` cookie, the redirect to the provider) and its callback, checked in the
//! order of the research spec (§5), ending in a session like the password sign-in's.
//!
//! Every refusal opens no session, leaves one `davgate::auth` line (never a token) and is
//! answered with its own page in the person's language.

use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::{Portal, PortalError};
use crate::auth::token::Secret;
use crate::log_safe::log_safe;
use crate::oidc::Registry;
use crate::oidc::account::{self, Refusal};
use crate::oidc::flow::{FlowRecord, Flows};
use crate::oidc::registry::Entry;
use crate::oidc::token::{self, TokenError};
use crate::store::ProviderId;
use crate::web::session::{Session, Stage};

/// The single sign-on state of a server: its providers and the flows in progress.
pub struct Sso {
    /// The providers as configured and discovered.
    pub registry: Arc<Registry>,
    flows: Flows,
}

impl Sso {
    /// Single sign-on over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry, flows: Flows::default() }
    }
}

/// Why a sign-in through a provider failed: what the person's page says.
#[derive(Debug)]
pub enum SsoError {
    /// No flow for this browser (no cookie, expired, replayed, another browser), a `state`
    /// or `iss` that does not match, or an unknown provider.
    Flow,
    /// The provider (named) refused or failed: `error=` on the callback, the code exchange or
    /// the ID token's checks.
    Provider(String),
    /// A policy refusal of [`account::resolve`].
    Refused(Refusal),
    /// Something on our side (the store, the random source).
    Unavailable(PortalError),
}

/// The query of a callback.
#[derive(Debug, Default)]
pub struct Callback {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// RFC 9207 `iss`.
    pub iss: Option<String>,
    /// `error` (the provider refused).
    pub error: Option<String>,
}

impl Portal {
    /// The providers offered on the sign-in page, as (id, display name).
    pub fn sso_offered(&self) -> Vec<(ProviderId, String)> {
        self.sso.as_ref().map(|s| s.registry.offered()).unwrap_or_default()
    }

    fn sso(&self) -> Result<&Sso, SsoError> {
        self.sso.as_deref().ok_or(SsoError::Flow)
    }

    /// Starts a sign-in through `provider`, landing on `next` (already checked): answers the
    /// flow cookie's token and the provider's authorization URL.
    pub fn sso_begin(
        &self,
        peer: IpAddr,
        provider: &str,
        next: String,
    ) -> Result<(Secret, String), SsoError> {
        let sso = self.sso()?;
        let id = ProviderId::parse(provider).map_err(|_| SsoError::Flow)?;
        let (entry, discovered, redirect) = usable(sso, &id)?;
        let auth = token::authorize(&entry.provider, &discovered.metadata, &redirect)
            .map_err(|e| logged(peer, &id, "-", &e.to_string(), provider_error(&entry)))?;
        let cookie = crate::web::session::random_hex::<32>()
            .map_err(|e| SsoError::Unavailable(PortalError::Unavailable(e.to_string())))?;
        let record = FlowRecord {
            provider: id,
            state: auth.state,
            nonce: auth.nonce,
            pkce_verifier: auth.pkce_verifier,
            next,
            started_at: self.clock.now(),
        };
        sso.flows.start(&cookie, record);
        Ok((Secret::new(cookie), auth.url))
    }

    /// Finishes the flow of the browser holding `cookie` with the provider's `answer`: a
    /// signed-in session and the path to land on.
    pub async fn sso_finish(
        &self,
        peer: IpAddr,
        cookie: Option<&str>,
        answer: Callback,
    ) -> Result<(Secret, Session, String), SsoError> {
        let sso = self.sso()?;
        let flow = cookie.and_then(|c| sso.flows.take(c, self.clock.now()));
        let Some(flow) = flow else {
            return Err(logged_flow(
                peer,
                "no flow for this browser (cookie missing, expired or used)",
            ));
        };
        let state_ok = answer
            .state
            .as_deref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
        if !state_ok {
            return Err(logged_flow(peer, "state does not match the flow"));
        }
        let id = flow.provider.clone();
        let (entry, discovered, redirect) = usable(sso, &id)?;
        if let Some(error) = &answer.error {
            let why = format!("the provider answered error={}", log_safe(error));
            return Err(logged(peer, &id, "-", &why, provider_error(&entry)));
        }
        let issuer = discovered.metadata.issuer().as_str();
        if answer.iss.as_deref().is_some_and(|iss| iss != issuer) {
            return Err(logged(peer, &id, "-", "iss parameter is another issuer", SsoError::Flow));
        }
        let Some(code) = answer.code.as_deref() else {
            return Err(logged(peer, &id, "-", "no code", SsoError::Flow));
        };
        let http = sso.registry.http();
        let provider = &entry.provider;
        let tokens = token::exchange(
            provider,
            &discovered.metadata,
            &redirect,
            code,
            &flow.pkce_verifier,
            http,
        )
        .await
        .map_err(|e| logged(peer, &id, "-", &e.to_string(), provider_error(&entry)))?;
        let skew = self.store.settings().sso_clock_skew.as_chrono();
        let now = self.clock.now();
        let mut checked = token::check(
            provider,
            &discovered.metadata,
            &redirect,
            &tokens,
            &flow.nonce,
            now,
            skew,
            http,
        )
        .await;
        if matches!(checked, Err(TokenError::UnknownKey))
            && sso.registry.rediscover(&id).await
            && let Ok((_, again, _)) = usable(sso, &id)
        {
            {
                checked = token::check(
                    provider,
                    &again.metadata,
                    &redirect,
                    &tokens,
                    &flow.nonce,
                    now,
                    skew,
                    http,
                )
                .await;
            }
        }
        let checked =
            checked.map_err(|e| logged(peer, &id, "-", &e.to_string(), provider_error(&entry)))?;
        let subject = log_safe(&checked.subject);
        let user = match account::resolve(&self.store, provider, &checked, now).await {
            Ok(user) => user,
            Err(Refusal::Store(e)) => return Err(SsoError::Unavailable(e.into())),
            Err(refusal) => {
                let why = refusal.to_string();
                return Err(logged(peer, &id, &subject, &why, SsoError::Refused(refusal)));
            }
        };
        if provider.refresh_check
            && let Some(refresh) = checked.refresh_token.clone()
        {
            {
                self.store
                    .set_refresh_token(&user.name, Some(refresh))
                    .await
                    .map_err(|e| SsoError::Unavailable(e.into()))?;
            }
        }
        let (token, session) =
            self.open(&user, Stage::SignedIn).await.map_err(SsoError::Unavailable)?;
        tracing::info!(
            target: "davgate::auth",
            "Login: '{}' (Remote IP: '{peer}') web: signed in through '{id}'",
            user.name
        );
        Ok((token, session, flow.next))
    }

    /// The display name of provider `id`, for pages.
    pub fn sso_name(&self, id: &ProviderId) -> Option<String> {
        Some(self.sso.as_ref()?.registry.get(id)?.provider.display_name)
    }
}

/// The provider's entry, its discovery and the redirect URI, or a flow error if the provider
/// is gone, disabled or unavailable.
fn usable(
    sso: &Sso,
    id: &ProviderId,
) -> Result<(Entry, Arc<crate::oidc::Discovered>, String), SsoError> {
    let redirect = sso.registry.redirect_uri().ok_or(SsoError::Flow)?.to_string();
    let entry = sso.registry.get(id).filter(|e| e.provider.enabled).ok_or(SsoError::Flow)?;
    let discovered = entry.discovered.clone().ok_or_else(|| provider_error(&entry))?;
    Ok((entry, discovered, redirect))
}

fn provider_error(entry: &Entry) -> SsoError {
    SsoError::Provider(entry.provider.display_name.clone())
}

/// Logs a refused sign-in (never a token: `why` is built from the checks' texts) and answers
/// `e`.
fn logged(peer: IpAddr, id: &ProviderId, subject: &str, why: &str, e: SsoError) -> SsoError {
    tracing::warn!(
        target: "davgate::auth",
        "Login failed: '{subject}' (Remote IP: '{peer}') web: through '{id}': {}",
        log_safe(why)
    );
    e
}

fn logged_flow(peer: IpAddr, why: &str) -> SsoError {
    tracing::warn!(target: "davgate::auth", "Login failed: '-' (Remote IP: '{peer}') web: single sign-on: {why}");
    SsoError::Flow
}
