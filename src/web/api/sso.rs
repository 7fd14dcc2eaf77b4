//! The single sign-on routes of the API: the public list of providers the sign-in page offers,
//! the admin's providers (`/oidc/providers`, the client secret write-only), and an account's
//! login method and linked identity. Each answers through the portal, as the pages do.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Answer, ApiError, no_content, ok, parse};
use crate::admin::{IdentityHint, ProviderInput};
use crate::web::portal::Viewer;
use crate::web::{Web, WebRequest};

/// `GET /auth/providers`: the providers a person can sign in with now (id and display name),
/// for anyone, signed in or not, as the sign-in page shows them.
pub(super) fn public_providers(web: &Web) -> Answer {
    let list: Vec<_> = web
        .portal
        .sso_offered()
        .into_iter()
        .map(|(id, name)| json!({ "id": id.as_str(), "display_name": name }))
        .collect();
    ok(json!({ "providers": list }))
}

/// The signed-in routes of single sign-on, or None when `segments` is none of them.
pub(super) async fn route(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    method: &Method,
    segments: &[&str],
) -> Option<Answer> {
    let portal = &web.portal;
    let answer = match (method, segments) {
        (&Method::GET, ["oidc", "providers"]) => {
            portal.providers(viewer).await.map(|list| json!({ "providers": list }))
        }
        (&Method::GET, ["oidc", "providers", id]) => {
            portal.provider(viewer, id).await.map(|p| json!(p))
        }
        (&Method::PUT, ["oidc", "providers", id]) => {
            let mut input: ProviderInput = match parse(r) {
                Ok(input) => input,
                Err(e) => return Some(Err(e)),
            };
            input.id = id.to_string();
            match portal.save_provider(viewer, input).await {
                Ok(_) => portal.provider(viewer, id).await.map(|p| json!(p)),
                Err(e) => Err(e),
            }
        }
        (&Method::DELETE, ["oidc", "providers", id]) => {
            return Some(match portal.remove_provider(viewer, id).await {
                Ok(()) => Ok(no_content()),
                Err(e) => Err(e.into()),
            });
        }
        (&Method::PUT, ["users", name, "login-method"]) => {
            let body: LoginMethodBody = match parse(r) {
                Ok(body) => body,
                Err(e) => return Some(Err(e)),
            };
            portal.set_login_method(viewer, name, &body.login).await.map(|u| json!(u))
        }
        (&Method::POST, ["users", name, "identity"]) => {
            let body: IdentityBody = match parse(r) {
                Ok(body) => body,
                Err(e) => return Some(Err(e)),
            };
            portal
                .link_identity(viewer, name, &body.provider, &body.subject)
                .await
                .map(|u| json!(u))
        }
        (&Method::DELETE, ["users", name, "identity"]) => {
            portal.unlink_identity(viewer, name).await.map(|u| json!(u))
        }
        _ => return None,
    };
    Some(answer.map_err(ApiError::from).and_then(ok))
}

/// An account pre-created for an identity: `POST /users` with `sso` (a provider id) and an
/// `email` or a `subject`.
pub(super) async fn create_sso_user(
    web: &Web,
    viewer: &Viewer,
    name: &str,
    admin: bool,
    sso: &SsoUser,
) -> Answer {
    let hint = match (&sso.email, &sso.subject) {
        (Some(email), None) => IdentityHint::Email(email.clone()),
        (None, Some(subject)) => IdentityHint::Subject(subject.clone()),
        _ => return Err(ApiError::BadBody("give an email or a subject with sso, not both".into())),
    };
    let user = web.portal.create_sso_user(viewer, name, admin, &sso.provider, hint).await?;
    super::created(json!({ "user": user, "password": null }))
}

/// True for the single sign-on paths (so another method answers 405, not 404).
pub(super) fn known(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["auth", "providers"]
            | ["oidc", "providers"]
            | ["oidc", "providers", _]
            | ["users", _, "login-method" | "identity"]
    )
}

/// `{"login": "password" | "sso" | "both"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginMethodBody {
    login: String,
}

/// `{"provider": id, "subject": s}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityBody {
    provider: String,
    subject: String,
}

/// The identity a new account is made for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SsoUser {
    provider: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    subject: Option<String>,
}
