//! The two single sign-on routes: `GET /auth/oidc/login?provider=ID&next=/path` sends the
//! browser to the provider, `GET /auth/oidc/callback` finishes the flow and answers 200 with a
//! same-site refresh to `next` (see [`SsoWaitPage`]). Every failure is a message page in the
//! person's language, and no session.

use http::{Response, StatusCode};

use super::screens::safe_next;
use super::templates::{MessagePage, SsoWaitPage, chrome, render};
use crate::http::response::{Body, see_other};
use crate::oidc::account::Refusal;
use crate::oidc::flow::COOKIE;
use crate::web::i18n::texts;
use crate::web::portal::{Callback, SsoError};
use crate::web::{Web, WebRequest, cookies, set_cookie};

/// The flow cookie: sent back on the provider's redirect (Lax), to these routes only.
fn flow_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=600")
}

fn cleared_flow_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=0")
}

/// `GET /auth/oidc/login`.
pub(super) async fn login(web: &Web, r: &WebRequest) -> Response<Body> {
    let provider = r.query_param("provider").unwrap_or_default();
    let next = safe_next(r.query_param("next"));
    match web.portal.sso_begin(r.peer, &provider, next).await {
        Ok((token, url)) => {
            let mut res = see_other(&url);
            set_cookie(&mut res, &flow_cookie(token.expose()));
            res
        }
        Err(e) => failure(r, &e),
    }
}

/// `GET /auth/oidc/callback`.
pub(super) async fn callback(web: &Web, r: &WebRequest) -> Response<Body> {
    let flow = cookies(&r.headers).into_iter().find_map(|(k, v)| (k == COOKIE).then_some(v));
    let answer = Callback {
        code: r.query_param("code"),
        state: r.query_param("state"),
        iss: r.query_param("iss"),
        error: r.query_param("error"),
    };
    let mut res = match web.portal.sso_finish(r.peer, flow, answer).await {
        Ok((token, _, next)) => {
            let t = texts(r.lang);
            let page =
                SsoWaitPage { lang: r.lang.code(), wait: t.sso_wait, next: safe_next(Some(next)) };
            let mut res = render(StatusCode::OK, &page);
            set_cookie(&mut res, &web.session_cookie(token.expose()));
            res
        }
        Err(e) => failure(r, &e),
    };
    set_cookie(&mut res, &cleared_flow_cookie());
    res
}

/// The page of a failed sign-in through a provider.
fn failure(r: &WebRequest, e: &SsoError) -> Response<Body> {
    let mut page = chrome(r, None, "");
    let t = page.t;
    let (status, message) = match e {
        SsoError::Flow => (StatusCode::BAD_REQUEST, t.err_sso_flow.to_string()),
        // The provider's own refusal (`error=`, the code refused).
        SsoError::Provider(name) => (StatusCode::FORBIDDEN, t.with(t.err_sso_idp, name)),
        // davgate refused what the provider sent: not the provider's fault, nor the person's.
        SsoError::Unverified => (StatusCode::FORBIDDEN, t.err_sso_verify.to_string()),
        SsoError::NotReady(name) => {
            (StatusCode::SERVICE_UNAVAILABLE, t.with(t.err_sso_not_ready, name))
        }
        SsoError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, t.err_throttled.to_string()),
        SsoError::Refused(refusal) => {
            let words = match refusal {
                Refusal::Email => t.err_sso_email,
                Refusal::Domain => t.err_sso_domain,
                Refusal::Group => t.err_sso_group,
                Refusal::Unknown(_) | Refusal::Store(_) => t.err_sso_unknown,
            };
            (StatusCode::FORBIDDEN, words.to_string())
        }
        SsoError::Unavailable(p) => {
            p.log_cause();
            (StatusCode::SERVICE_UNAVAILABLE, t.err_unavailable.to_string())
        }
    };
    page.title = t.failed_title.to_string();
    page.error = Some(message);
    let mut res = render(status, &MessagePage { page, heading: t.failed_title.to_string() });
    let wait = match e {
        SsoError::Throttled(wait) => Some(wait.as_secs().max(1)),
        SsoError::NotReady(_) => Some(60),
        _ => None,
    };
    if let Some(wait) = wait {
        res.headers_mut().insert(http::header::RETRY_AFTER, wait.into());
    }
    res
}
