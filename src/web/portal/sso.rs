//! Signing in through a company identity provider: the start of a flow (a flow record behind
//! the `davgate_oidc` cookie, the redirect to the provider) and its callback, checked in the
//! order of the research spec (§5), ending in a session like the password sign-in's.
//!
//! Every refusal opens no session, leaves one `davgate::auth` line (never a token) and is
//! answered with its own page in the person's language.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::{Portal, PortalError};
use crate::auth::throttle::Verdict;
use crate::auth::token::Secret;
use crate::log_safe::log_safe;
use crate::oidc::Registry;
use crate::oidc::account::{self, Refusal};
use crate::oidc::flow::{FlowRecord, Flows};
use crate::oidc::registry::Entry;
use crate::oidc::token::{self, TokenError};
use crate::store::{ActorKind, AuditEvent, EventKind, LoginMethod, Outcome, ProviderId};
use crate::web::session::{Session, Stage};

/// The single sign-on state of a server: its providers and the flows in progress.
pub struct Sso {
    /// The providers as configured and discovered.
    pub registry: Arc<Registry>,
    flows: Flows,
}

impl Sso {
    /// Single sign-on over `registry`, its flows kept where `store` keeps shared state (in
    /// memory on the embedded store, in the database on PostgreSQL).
    pub fn new(registry: Arc<Registry>, store: &crate::store::Store) -> Self {
        Self { registry, flows: Flows::new(store) }
    }
}

/// How recent an `sso` account's provider sign-in must be to create an app password. Always
/// on: the provider's own session usually makes the round trip a pair of redirects.
pub const FRESH_SIGN_IN: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// The web throttle's key for single sign-on: counted per client network, apart from every
/// account (`*` is in no user name).
const THROTTLE_KEY: &str = "*sso";

/// Why a sign-in through a provider failed: what the person's page says.
#[derive(Debug)]
pub enum SsoError {
    /// No flow for this browser (no cookie, expired, replayed, another browser), a `state`
    /// or `iss` that does not match, or an unknown provider.
    Flow,
    /// The provider (named) refused: its `error=` on the callback, or its token endpoint
    /// refusing the code.
    Provider(String),
    /// davgate refused what the provider sent (the ID token's signature, issuer, audience,
    /// times or nonce; userinfo for another subject): the provider is not to blame.
    Unverified,
    /// The provider (named) is not discovered yet, its discovery failed, its settings lack a
    /// secret, or its token endpoint cannot be reached: a minute later it may work.
    NotReady(String),
    /// Too many flows from this network that did not end in a sign-in.
    Throttled(Duration),
    /// A policy refusal of [`account::resolve`].
    Refused(Refusal),
    /// Something on our side (the store, the random source).
    Unavailable(PortalError),
}

impl SsoError {
    /// The audit log's word for why a sign-in through a provider failed: a class, never what
    /// the provider or the browser sent.
    pub fn reason_class(&self) -> &'static str {
        match self {
            SsoError::Flow => "flow",
            SsoError::Provider(_) => "provider_refused",
            SsoError::Unverified => "token_rejected",
            SsoError::NotReady(_) => "provider_unavailable",
            SsoError::Throttled(_) => "throttled",
            SsoError::Refused(Refusal::Email) => "email_unverified",
            SsoError::Refused(Refusal::Domain) => "domain_not_allowed",
            SsoError::Refused(Refusal::Group) => "group_not_allowed",
            SsoError::Refused(Refusal::Unknown(_)) => "no_account",
            SsoError::Refused(Refusal::Store(_)) | SsoError::Unavailable(_) => "unavailable",
        }
    }
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

    /// Charges one attempt of `peer`'s network to the web throttle, or refuses it during a
    /// lockout: every flow started and every callback without one counts, a sign-in clears
    /// the count. So one network cannot fill the flow table nor hammer the callback.
    async fn sso_admit(&self, peer: IpAddr) -> Result<(), SsoError> {
        let policy = self.policy();
        let verdict = self
            .throttle
            .admit(&policy, peer, THROTTLE_KEY, &self.clock)
            .await
            .map_err(|e| SsoError::Unavailable(e.into()))?;
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Refuse { retry_after } => {
                tracing::warn!(
                    target: "davgate::auth",
                    "Login throttled: '-' (Remote IP: '{peer}') web: single sign-on: too many \
                     unfinished sign-ins from this network, retry in {}s",
                    retry_after.as_secs().max(1)
                );
                Err(SsoError::Throttled(retry_after))
            }
        }
    }

    /// Starts a sign-in through `provider`, landing on `next` (already checked): answers the
    /// flow cookie's token and the provider's authorization URL.
    pub async fn sso_begin(
        &self,
        peer: IpAddr,
        provider: &str,
        next: String,
    ) -> Result<(Secret, String), SsoError> {
        let sso = self.sso()?;
        let id = ProviderId::parse(provider).map_err(|_| SsoError::Flow)?;
        let (entry, discovered, redirect) = usable(sso, &id)?;
        self.sso_admit(peer).await?;
        let auth = token::authorize(&entry.provider, &discovered.metadata, &redirect)
            .map_err(|e| logged(peer, &id, "-", &e.to_string(), blame(&entry, &e)))?;
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
        let evicted = sso.flows.start(&cookie, record).await;
        if evicted.map_err(|e| SsoError::Unavailable(e.into()))? {
            tracing::warn!(
                target: "davgate::auth",
                "single sign-on: {} flows in progress, the oldest was forgotten",
                crate::oidc::flow::MAX_FLOWS
            );
        }
        Ok((Secret::new(cookie), auth.url))
    }

    /// Finishes the flow of the browser holding `cookie` with the provider's `answer`: a
    /// signed-in session and the path to land on. Either way the audit log gets a sign-in
    /// event (a failure's reason class, never a token or a code).
    pub async fn sso_finish(
        &self,
        peer: IpAddr,
        cookie: Option<&str>,
        answer: Callback,
    ) -> Result<(Secret, Session, String), SsoError> {
        let finished = self.sso_finish_flow(peer, cookie, answer).await;
        if let Err(e) = &finished {
            let mut event =
                AuditEvent::new(self.clock.now(), EventKind::SignIn, ActorKind::User, None);
            event.outcome = Outcome::Failure;
            event.detail = serde_json::json!({ "method": "sso", "reason": e.reason_class() });
            self.store.audit(crate::audit::from_current_client(event));
        }
        finished
    }

    async fn sso_finish_flow(
        &self,
        peer: IpAddr,
        cookie: Option<&str>,
        answer: Callback,
    ) -> Result<(Secret, Session, String), SsoError> {
        let sso = self.sso()?;
        self.sso_admit(peer).await?;
        let flow = match cookie {
            Some(c) => {
                let taken = sso.flows.take(c, self.clock.now()).await;
                taken.map_err(|e| SsoError::Unavailable(e.into()))?
            }
            None => None,
        };
        if flow.is_some() {
            // The flow's start was charged already: its callback is not charged twice.
            self.throttle.refund(&self.policy(), peer, THROTTLE_KEY).await;
        }
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
            return Err(logged(peer, &id, "-", &why, named(&entry, SsoError::Provider)));
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
        .map_err(|e| logged(peer, &id, "-", &e.to_string(), blame(&entry, &e)))?;
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
            checked.map_err(|e| logged(peer, &id, "-", &e.to_string(), blame(&entry, &e)))?;
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
        self.throttle.record_success(&self.policy(), peer, THROTTLE_KEY).await;
        let mut event =
            AuditEvent::new(now, EventKind::SignIn, ActorKind::User, Some(user.name.as_str()))
                .about(&user.name);
        event.detail = serde_json::json!({ "method": "sso", "provider": id.to_string() });
        self.store.audit(crate::audit::from_current_client(event));
        tracing::info!(
            target: "davgate::auth",
            "Login: '{}' (Remote IP: '{peer}') web: signed in through '{id}'",
            user.name
        );
        Ok((token, session, flow.next))
    }

    /// For an `sso` account whose provider sign-in (its session's opening) is older than
    /// [`FRESH_SIGN_IN`]: its provider, whose flow the profile links to before an app password
    /// can be created. None for every other account and for a recent sign-in.
    pub fn sso_sign_in_again(&self, viewer: &super::Viewer) -> Option<ProviderId> {
        let external = viewer.user.external.as_ref()?;
        let stale = self.clock.now() - viewer.session.opened_at > FRESH_SIGN_IN;
        (viewer.user.login == LoginMethod::Sso && stale).then(|| external.provider.clone())
    }

    /// Refuses to create an app password on a stale provider sign-in ([`Portal::sso_sign_in_again`]):
    /// a web session taken from someone cannot mint a credential that outlives it.
    pub(super) fn require_fresh_sign_in(&self, viewer: &super::Viewer) -> Result<(), PortalError> {
        match self.sso_sign_in_again(viewer) {
            None => Ok(()),
            Some(_) => Err(PortalError::refused(
                super::error::Refusal::SignInAgain,
                "sign in through your identity provider again to create an app password",
            )),
        }
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
    let Some(entry) = sso.registry.get(id) else {
        // Serve has just started: the providers are being read.
        let loading = !sso.registry.is_loaded();
        return Err(if loading { SsoError::NotReady(id.to_string()) } else { SsoError::Flow });
    };
    if !entry.provider.enabled {
        return Err(SsoError::Flow);
    }
    let discovered = entry.discovered.clone().ok_or_else(|| named(&entry, SsoError::NotReady))?;
    Ok((entry, discovered, redirect))
}

/// `variant` with the provider's display name.
fn named(entry: &Entry, variant: fn(String) -> SsoError) -> SsoError {
    variant(entry.provider.display_name.clone())
}

/// Who a failed step is on: the provider's own refusal of the code, a provider out of reach
/// or set up without a secret, or davgate refusing the token it sent.
fn blame(entry: &Entry, e: &TokenError) -> SsoError {
    match e {
        TokenError::Exchange(_) => named(entry, SsoError::Provider),
        TokenError::Setup(_) | TokenError::Unreachable(_) => named(entry, SsoError::NotReady),
        TokenError::NoIdToken
        | TokenError::UnknownKey
        | TokenError::IdToken(_)
        | TokenError::UserInfo(_) => SsoError::Unverified,
    }
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
