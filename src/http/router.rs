//! Path → handler. The gate sits in front of everything under `/dav/`.

use http::header::{CONNECTION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::net::IpAddr;
use std::sync::Arc;

use super::access_log::LogFormat;
use super::client_addr::{Client, TrustedProxies};
use super::health::Health;
use super::prefix::PublicPrefix;
use super::response::{self, Body};
use crate::auth::{Denied, Gate, Refusal};
use crate::dav::{self, Mount};
use crate::log_safe::log_safe;
use crate::store::UserName;
use crate::web::Web;

/// The whole application behind the listener.
pub struct App {
    /// Checks credentials for `/dav/`.
    pub gate: Arc<Gate>,
    /// Serves users' homes.
    pub mount: Mount,
    /// The profile and admin pages and the JSON API.
    pub web: Web,
    /// `/healthz` and `/readyz`, for load balancers.
    pub health: Health,
    /// The reverse proxies whose forwarding headers are believed.
    pub proxies: TrustedProxies,
    /// The path everything is served under (`--public-url`), or none.
    pub public: PublicPrefix,
    /// How the access log is written.
    pub log_format: LogFormat,
    /// What the server counts, for Prometheus.
    pub metrics: crate::metrics::Metrics,
    /// `/metrics` here, behind its bearer token (when one is set).
    pub scrape: super::metrics::Guarded,
    /// Benchmark builds only: every `/dav/` request is this user's, unauthenticated.
    #[cfg(feature = "bench")]
    pub bench_bypass: Option<UserName>,
}

/// How long a 429 is held back before it is sent.
const THROTTLED_HOLD: std::time::Duration = std::time::Duration::from_secs(1);

impl App {
    /// Answers one request; also returns who made it, for the access log.
    /// `client` is who asks, as resolved behind any trusted proxy.
    pub async fn handle<B>(
        &self,
        mut req: Request<B>,
        client: &Client,
    ) -> (Response<Body>, Option<UserName>)
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        // Probes are answered at the server's own paths too: a balancer may ask it directly.
        if let Some(res) = self.scrape.answer(req.method(), req.uri().path(), req.headers()) {
            return (res, None);
        }
        if let Some(res) = self.health.answer(req.method(), req.uri().path()).await {
            return (res, None);
        }
        if !self.public.inward(&mut req) {
            let text = format!("Not found: this server answers under {}/.\n", self.public.as_str());
            return (response::text(StatusCode::NOT_FOUND, text), None);
        }
        if let Some(res) = self.health.answer(req.method(), req.uri().path()).await {
            return (res, None);
        }
        let peer = client.addr;
        if dav::is_root_options(&req) {
            return (dav::root_options(), None);
        }
        let path = req.uri().path();
        #[cfg(feature = "bench")]
        if let Some(user) = self.bench_bypass.clone()
            && dav::is_mount_path(path)
        {
            let who = crate::auth::Authenticated::bench_bypass(user.clone());
            let (method, path) = (req.method().clone(), path.to_owned());
            let mut res = self.mount.serve(&who, req).await;
            dav::make_inert(&method, &path, &mut res);
            return (res, Some(user));
        }
        if dav::is_mount_path(path) {
            let (method, path) = (req.method().clone(), path.to_owned());
            let (mut res, user) = match self.gate.authenticate(req.headers(), peer).await {
                Ok(who) => {
                    let user = who.user().clone();
                    (self.mount.serve(&who, req).await, Some(user))
                }
                Err(refusal) => {
                    if refusal.reason.is_throttled() {
                        tokio::time::sleep(THROTTLED_HOLD).await;
                    }
                    (refuse(&refusal, peer), None)
                }
            };
            dav::make_inert(&method, &path, &mut res);
            return (res, user);
        }
        let res = self.web.handle(req, peer, client.https).await;
        (self.outward(res).await, None)
    }

    /// A web response with the public prefix put back on its redirect, cookies and links.
    async fn outward(&self, mut res: Response<Body>) -> Response<Body> {
        if self.public.as_str().is_empty() {
            return res;
        }
        self.public.outward_headers(res.headers_mut());
        let is_html =
            res.headers().get(CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
        if !is_html {
            return res;
        }
        // Pages are rendered in memory: collecting one waits for nothing.
        let (mut parts, body) = res.into_parts();
        let html = match body.collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(e) => {
                tracing::error!("cannot read a page to serve it under the prefix: {e}");
                return response::text(StatusCode::INTERNAL_SERVER_ERROR, "The page failed.\n");
            }
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(self.public.outward_html(&html)))
    }
}

/// 401 with the Basic challenge (or 503 if the store failed), and the failed-login log line.
fn refuse(refusal: &Refusal, peer: IpAddr) -> Response<Body> {
    let user = refusal.user.as_deref().map(log_safe).unwrap_or_default();
    match refusal.reason {
        Denied::Unavailable => {
            let mut res = response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "The credential store is unavailable; try again in a few seconds.\n",
            );
            response::retry_later(&mut res);
            res
        }
        Denied::Busy => {
            let mut res = response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy verifying sign-ins; try again in a few seconds.\n",
            );
            res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(5));
            res
        }
        Denied::Throttled | Denied::OverBudget => {
            // Held a moment and the connection closed, so that a flood of refused guesses
            // cannot spin at the server's full speed on kept-alive connections.
            let wait = refusal.retry_after.map_or(60, |d| d.as_secs().max(1));
            tracing::warn!(
                target: "davgate::auth",
                "Login throttled: '{user}' (Remote IP: '{peer}') {}, retry in {wait}s",
                refusal.reason.as_str()
            );
            let text = if refusal.reason == Denied::Throttled {
                "Too many failed sign-ins for this user from your network; try again later.\n"
            } else {
                "Too many sign-in attempts from your network; try again in a moment.\n"
            };
            let mut res = response::text(StatusCode::TOO_MANY_REQUESTS, text);
            res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
            res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            res
        }
        reason => {
            if reason != Denied::NoCredentials {
                // One stable line per failure, for fail2ban: never the password, the user escaped.
                tracing::warn!(
                    target: "davgate::auth",
                    "Login failed: '{user}' (Remote IP: '{peer}') {}",
                    reason.as_str()
                );
            }
            let mut res = response::text(
                StatusCode::UNAUTHORIZED,
                "Authentication required: sign in with your user name and an app password \
                 (the account's own password does not open WebDAV).\n",
            );
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(super::response::CHALLENGE));
            res
        }
    }
}

/// 400 for a request that follows one the fragment guard could not follow on the same HTTP/1
/// connection (an `Upgrade:`, an over-long framing header): it may hide a fragment, so it is not
/// served; the connection closes and the client can send it again on a new one.
pub fn unfollowable() -> (Response<Body>, Option<UserName>) {
    let mut res = response::text(
        StatusCode::BAD_REQUEST,
        "This request came after one the server cannot check on the same connection; \
         send it again on a new connection.\n",
    );
    res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    (res, None)
}
