//! The JSON API under `/api/v1/`, for scripts and for anything the pages do (documented in
//! `docs/openapi.yaml`). Same session cookie and CSRF rules as the pages: every request that
//! changes something carries the session's token in `X-CSRF-Token`. Errors are JSON objects
//! `{"error": code, "message": text}`, never a stack trace.

mod inventory;
mod sso;

use crate::http::response::{self, Body};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::portal::{LoginStep, Portal, PortalError, Viewer};
use super::{Web, WebRequest, csrf_matches, set_cookie};
use crate::admin::{AppPasswordSpec, OpError, SettingValues};
use crate::duration::DurationError;
use crate::store::{
    Access, AppPasswordName, AuditEvent, AuditQuery, Lifetime, MAX_AUDIT_PAGE, Scope, ScopeFolder,
};

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Why an API request was refused before or after it reached the portal.
enum ApiError {
    Portal(PortalError),
    CrossSite,
    Csrf,
    BadBody(String),
    NoRoute,
    Method,
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        ApiError::Portal(e)
    }
}

type Answer = Result<Response<Body>, ApiError>;

/// Answers one API request.
pub async fn handle(web: &Web, request: WebRequest) -> Response<Body> {
    match route(web, &request).await {
        Ok(res) => res,
        Err(e) => refusal(web, e),
    }
}

/// The one answer to each refusal: its status, `{"error": code, "message": text}`, and what a
/// status needs with it (`Retry-After`, an expired cookie). The cause of a 503 is logged here.
fn refusal(web: &Web, e: ApiError) -> Response<Body> {
    match e {
        ApiError::Portal(e) => {
            e.log_cause();
            let mut res = error_response(e.status(), e.code(), &e.to_string());
            if let PortalError::Throttled(wait) = e {
                res.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            if matches!(e, PortalError::Unavailable(_)) {
                response::retry_later(&mut res);
            }
            if matches!(e, PortalError::SignedOut) {
                set_cookie(&mut res, &web.expired_session_cookie());
            }
            res
        }
        ApiError::CrossSite => error_response(
            StatusCode::FORBIDDEN,
            "cross_site",
            "cross-site requests are refused: call the API from the server's own origin",
        ),
        ApiError::Csrf => error_response(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong X-CSRF-Token header: send the csrf_token of your session",
        ),
        ApiError::BadBody(why) => error_response(StatusCode::BAD_REQUEST, "bad_body", &why),
        ApiError::NoRoute => error_response(StatusCode::NOT_FOUND, "no_route", "no such API route"),
        ApiError::Method => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "this route does not take this method",
        ),
    }
}

async fn route(web: &Web, r: &WebRequest) -> Answer {
    let Some(rest) = r.path.strip_prefix(PREFIX) else { return Err(ApiError::NoRoute) };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = r.method.clone();
    let changes = !matches!(method, Method::GET | Method::HEAD);
    if changes && !r.same_origin() {
        return Err(ApiError::CrossSite);
    }
    match (&method, segments.as_slice()) {
        (&Method::POST, ["session"]) => return login(web, r).await,
        (&Method::POST, ["session", "totp"]) => return second_factor(web, r).await,
        (&Method::GET, ["auth", "providers"]) => return sso::public_providers(web),
        _ => {}
    }
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if changes && !csrf_matches(&viewer.session.csrf, header_str(r, CSRF_HEADER)) {
        return Err(ApiError::Csrf);
    }
    if let Some(answer) = sso::route(web, r, &viewer, &method, &segments).await {
        return answer;
    }
    if let Some(answer) = inventory::route(web, r, &viewer, &method, &segments).await {
        return answer;
    }
    let me = viewer.user.name.to_string();
    let portal = &web.portal;
    match (method, segments.as_slice()) {
        (Method::GET, ["session"]) => ok(session_json(&viewer)),
        (Method::DELETE, ["session"]) => {
            portal.logout(viewer.token.expose()).await?;
            let mut res = no_content();
            set_cookie(&mut res, &web.expired_session_cookie());
            Ok(res)
        }
        (Method::POST, ["me", "password"]) => change_password(web, r, &viewer).await,
        (Method::GET, ["me", "app-passwords"]) => list_app_passwords(web, &viewer, &me).await,
        (Method::POST, ["me", "app-passwords"]) => create_app_password(web, r, &viewer, &me).await,
        (Method::PATCH, ["me", "app-passwords", id]) => {
            let body: NameBody = parse(r)?;
            ok(json!(portal.rename_app_password(&viewer, &me, id, &body.name).await?))
        }
        (Method::PATCH, ["users", name, "app-passwords", id]) => {
            let body: NameBody = parse(r)?;
            ok(json!(portal.rename_app_password(&viewer, name, id, &body.name).await?))
        }
        (Method::DELETE, ["me", "app-passwords", id]) => {
            portal.revoke_app_password(&viewer, &me, id).await?;
            Ok(no_content())
        }
        (Method::GET, ["users", name, "app-passwords"]) => {
            list_app_passwords(web, &viewer, name).await
        }
        (Method::POST, ["users", name, "app-passwords"]) => {
            create_app_password(web, r, &viewer, name).await
        }
        (Method::DELETE, ["users", name, "app-passwords"]) => {
            let count = portal.revoke_all(&viewer, name).await?;
            ok(json!({ "revoked": count }))
        }
        (Method::DELETE, ["users", name, "app-passwords", id]) => {
            portal.revoke_app_password(&viewer, name, id).await?;
            Ok(no_content())
        }
        (Method::POST, ["me", "totp"]) => ok(json!(portal.begin_totp(&viewer).await?)),
        (Method::POST, ["me", "totp", "confirm"]) => {
            let body: CodeBody = parse(r)?;
            portal.confirm_totp(&viewer, &body.code).await?;
            Ok(no_content())
        }
        (Method::POST, ["me", "totp", "disable"]) => {
            let body: CodeBody = parse(r)?;
            portal.disable_totp(&viewer, &body.code).await?;
            Ok(no_content())
        }
        (Method::PUT, ["me", "email"]) => {
            let body: EmailBody = parse(r)?;
            ok(json!({ "user": set_email(portal, &viewer, &me, body).await? }))
        }
        (Method::PUT, ["users", name, "email"]) => {
            let body: EmailBody = parse(r)?;
            ok(json!({ "user": set_email(portal, &viewer, name, body).await? }))
        }
        (Method::GET, ["users"]) => ok(json!({ "users": portal.users(&viewer).await? })),
        (Method::POST, ["users"]) => {
            let body: NewUserBody = parse(r)?;
            if let Some(identity) = &body.sso {
                return sso::create_sso_user(web, &viewer, &body.name, body.admin, identity).await;
            }
            let (user, password) = portal.create_user(&viewer, &body.name, body.admin).await?;
            created(json!({ "user": user, "password": password }))
        }
        (Method::GET, ["users", name]) => ok(json!(portal.user(&viewer, name).await?)),
        (Method::PATCH, ["users", name]) => {
            let body: UserPatchBody = parse(r)?;
            ok(json!(portal.set_disabled(&viewer, name, body.disabled).await?))
        }
        (Method::DELETE, ["users", name]) => {
            let count = portal.remove_user(&viewer, name).await?;
            ok(json!({ "app_passwords_removed": count }))
        }
        (Method::POST, ["users", name, "password"]) => {
            ok(json!({ "password": portal.reset_password(&viewer, name).await? }))
        }
        (Method::DELETE, ["users", name, "totp"]) => {
            ok(json!(portal.reset_totp(&viewer, name).await?))
        }
        (Method::GET, ["me", "activity"]) => {
            let page = Page::of(r)?;
            events_json(portal.activity(&viewer, page.before, page.limit).await?, page.limit)
        }
        (Method::GET, ["audit"]) => {
            let page = Page::of(r)?;
            let since = match r.query_param("since") {
                Some(text) => Some(since(&text, web.portal.now())?),
                None => None,
            };
            let query = AuditQuery { subject: None, since, before: page.before, limit: page.limit };
            let user = r.query_param("user").filter(|u| !u.is_empty());
            events_json(portal.audit(&viewer, user.as_deref(), query).await?, page.limit)
        }
        (Method::GET, ["settings"]) => ok(settings_json(portal.settings(&viewer).await?)),
        (Method::PUT, ["settings", key]) => {
            let body: SettingBody = parse(r)?;
            let value = match body.value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            ok(settings_json(portal.set_setting(&viewer, key, &value).await?))
        }
        (_, segments) if known(segments) || sso::known(segments) || inventory::known(segments) => {
            Err(ApiError::Method)
        }
        _ => Err(ApiError::NoRoute),
    }
}

/// True for paths that exist with another method (so the answer is 405, not 404).
fn known(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["session"]
            | ["session", "totp"]
            | ["me", "password"]
            | ["me", "app-passwords"]
            | ["me", "app-passwords", _]
            | ["me", "totp"]
            | ["me", "totp", "confirm" | "disable"]
            | ["users"]
            | ["users", _]
            | ["users", _, "app-passwords"]
            | ["users", _, "app-passwords", _]
            | ["users", _, "password" | "totp"]
            | ["settings"]
            | ["settings", _]
            | ["me", "activity"]
            | ["audit"]
    )
}

/// A page of audit events asked in the query: `before` (the last id of the previous page) and
/// `limit` (1 to 200, 50 if not given).
struct Page {
    before: Option<u64>,
    limit: usize,
}

impl Page {
    fn of(r: &WebRequest) -> Result<Self, ApiError> {
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            match r.query_param(name) {
                None => Ok(None),
                Some(text) => text.parse().map(Some).map_err(|_| {
                    ApiError::BadBody(format!("'{name}' must be a whole number, not '{text}'"))
                }),
            }
        };
        let limit = number("limit")?.map_or(50, |n| n.clamp(1, MAX_AUDIT_PAGE as u64) as usize);
        Ok(Self { before: number("before")?, limit })
    }
}

/// `since=`: a duration back from now (`7d`, `12h`) or an RFC 3339 time.
fn since(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let back: crate::duration::HumanDuration = text.parse().map_err(|e: DurationError| {
        ApiError::BadBody(format!("'since' must be a duration or an RFC 3339 time: {e}"))
    })?;
    Ok(now - back.as_chrono())
}

/// A page of events, and where the next one starts (null on the last page).
fn events_json(events: Vec<AuditEvent>, limit: usize) -> Answer {
    let next_before = events.last().filter(|_| events.len() >= limit).map(|e| e.id);
    ok(json!({ "events": events, "next_before": next_before }))
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

/// `PUT …/email`: an address, or null (or empty) to clear it; and, when given, whether the
/// informational e-mails are sent and their language (`en`, `fr`).
#[derive(Deserialize)]
struct EmailBody {
    email: Option<String>,
    #[serde(default)]
    informational: Option<bool>,
    #[serde(default)]
    language: Option<crate::store::MailLang>,
}

/// Sets the address, then the e-mail choices given (if any).
async fn set_email(
    portal: &Portal,
    viewer: &Viewer,
    name: &str,
    body: EmailBody,
) -> Result<crate::admin::UserView, PortalError> {
    let user = portal.set_email(viewer, name, body.email.as_deref()).await?;
    if body.informational.is_none() && body.language.is_none() {
        return Ok(user);
    }
    portal.set_mail_prefs(viewer, name, body.informational, body.language).await
}

#[derive(Deserialize)]
struct NameBody {
    name: String,
}

/// `{current_password, new_password, revoke_app_passwords}`; the last defaults to true.
#[derive(Deserialize)]
struct PasswordBody {
    current_password: String,
    new_password: String,
    #[serde(default = "yes")]
    revoke_app_passwords: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct NewUserBody {
    name: String,
    #[serde(default)]
    admin: bool,
    /// An account for an identity at a provider instead of one with a password.
    #[serde(default)]
    sso: Option<sso::SsoUser>,
}

#[derive(Deserialize)]
struct UserPatchBody {
    disabled: bool,
}

#[derive(Deserialize)]
struct SettingBody {
    value: Value,
}

async fn login(web: &Web, r: &WebRequest) -> Answer {
    let body: LoginBody = parse(r)?;
    let step = web.portal.login(r.peer, &body.user, &body.password).await?;
    let (token, session, pending) = match step {
        LoginStep::SignedIn(token, session) => (token, session, false),
        LoginStep::NeedsCode(token, session) => (token, session, true),
    };
    let mut res = json_response(
        StatusCode::OK,
        &json!({
            "user": session.user,
            "csrf_token": session.csrf,
            "second_factor_required": pending,
        }),
    );
    set_cookie(&mut res, &web.session_cookie(token.expose()));
    Ok(res)
}

async fn second_factor(web: &Web, r: &WebRequest) -> Answer {
    let pending = web.portal.pending(r.token.as_deref()).await?.ok_or(PortalError::SignedOut)?;
    if !csrf_matches(&pending.csrf, header_str(r, CSRF_HEADER)) {
        return Err(ApiError::Csrf);
    }
    let body: CodeBody = parse(r)?;
    let token = r.token.as_deref().unwrap_or_default();
    let (token, session) = web.portal.second_factor(r.peer, token, &body.code).await?;
    let mut res = json_response(
        StatusCode::OK,
        &json!({ "user": session.user, "csrf_token": session.csrf, "second_factor_required": false }),
    );
    set_cookie(&mut res, &web.session_cookie(token.expose()));
    Ok(res)
}

/// The own password change: the session goes on under a new cookie and CSRF token (answered),
/// every other session of the person ends.
async fn change_password(web: &Web, r: &WebRequest, viewer: &Viewer) -> Answer {
    let body: PasswordBody = parse(r)?;
    let (current, new) = (&body.current_password, &body.new_password);
    let changed = web
        .portal
        .change_own_password(viewer, r.peer, current, new, body.revoke_app_passwords)
        .await?;
    let mut res = json_response(
        StatusCode::OK,
        &json!({
            "app_passwords_revoked": changed.app_passwords_revoked,
            "csrf_token": changed.session.csrf,
        }),
    );
    set_cookie(&mut res, &web.session_cookie(changed.token.expose()));
    Ok(res)
}

async fn list_app_passwords(web: &Web, viewer: &Viewer, owner: &str) -> Answer {
    let app_passwords = web.portal.app_passwords(viewer, owner).await?;
    ok(json!({ "app_passwords": app_passwords }))
}

async fn create_app_password(web: &Web, r: &WebRequest, viewer: &Viewer, owner: &str) -> Answer {
    let body: CreateBody = parse(r)?;
    // A bad name is refused as before (the portal's answer); a bad lifetime or scope is a 400.
    let name = AppPasswordName::parse(&body.name).map_err(PortalError::from)?;
    let spec = body.spec(name).map_err(|e| ApiError::BadBody(e.to_string()))?;
    created(json!(web.portal.create_app_password_as(viewer, owner, &spec).await?))
}

/// The create body: `{name, expires, access, folder, allow_from}`; all but `name` optional
/// (`expires`: a duration such as `30d`, `never` or `default`; `access`: `read_write`,
/// `read_only` or `upload_only`; `allow_from`: a list of networks or one comma-separated text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    access: Option<String>,
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    allow_from: Option<Networks>,
}

/// `allow_from` as a list or as one text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Networks {
    List(Vec<String>),
    Text(String),
}

impl CreateBody {
    fn spec(&self, name: AppPasswordName) -> Result<AppPasswordSpec, OpError> {
        let lifetime = match self.expires.as_deref() {
            None => Lifetime::Default,
            Some(text) => text
                .parse()
                .map_err(|e: DurationError| OpError::InvalidLifetime(format!("expires: {e}")))?,
        };
        let access = match self.access.as_deref() {
            None | Some("read_write") => Access::ReadWrite,
            Some("read_only") => Access::ReadOnly,
            Some("upload_only") => Access::UploadOnly,
            Some(other) => {
                return Err(OpError::InvalidScope(format!(
                    "access: '{other}' is not read_write, read_only or upload_only"
                )));
            }
        };
        let folder = self.folder.as_deref().map(ScopeFolder::parse).transpose()?.flatten();
        let networks = match &self.allow_from {
            None => String::new(),
            Some(Networks::List(list)) => list.join(","),
            Some(Networks::Text(text)) => text.clone(),
        };
        let allow_from =
            if networks.trim().is_empty() { Vec::new() } else { Scope::parse_networks(&networks)? };
        Ok(AppPasswordSpec { name, lifetime, scope: Scope { access, folder, allow_from } })
    }
}

fn session_json(viewer: &Viewer) -> Value {
    json!({
        "user": crate::admin::UserView::from(&viewer.user),
        "csrf_token": viewer.session.csrf,
    })
}

fn settings_json(settings: SettingValues) -> Value {
    let map: serde_json::Map<String, Value> =
        settings.iter().map(|(k, v)| (k.name().to_string(), Value::String(v.into()))).collect();
    json!({ "settings": map })
}

fn header_str<'a>(r: &'a WebRequest, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse<T: DeserializeOwned>(r: &WebRequest) -> Result<T, ApiError> {
    serde_json::from_slice(&r.body).map_err(|e| ApiError::BadBody(format!("bad JSON body: {e}")))
}

fn ok(value: Value) -> Answer {
    Ok(json_response(StatusCode::OK, &value))
}

fn created(value: Value) -> Answer {
    Ok(json_response(StatusCode::CREATED, &value))
}

fn no_content() -> Response<Body> {
    response::empty(StatusCode::NO_CONTENT)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    response::respond(status, response::JSON, value.to_string())
}

/// A JSON error: `{"error": code, "message": text}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": code, "message": message }))
}
