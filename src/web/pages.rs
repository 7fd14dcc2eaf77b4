//! The server-rendered pages: sign-in, profile (app passwords, two-factor), and for admins the
//! users, one user's Security tab and the settings. Forms post here and are answered with a
//! redirect (so a reload never posts twice), except where a secret must be shown exactly once:
//! that answer renders the dialog itself and is never cached.

use askama::Template;
use chrono::{DateTime, Local, Utc};
use dav_server::body::Body;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use std::collections::HashMap;

use super::i18n::{Lang, Texts, absolute, relative, texts};
use super::portal::{Enrolment, LoginStep, PortalError, Viewer};
use super::{Web, WebRequest, assets, csrf_matches, see_other, set_cookie, text_response};
use crate::admin::{AppPasswordView, SettingValues, UserView};

/// What every page shares: language, words, the signed-in user, messages.
pub struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// Its words.
    pub t: &'static Texts,
    /// The `<title>`.
    pub title: String,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// Who is signed in.
    pub user: Option<String>,
    /// Whether they are an admin (the admin links show).
    pub is_admin: bool,
    /// The language switch.
    pub langs: Vec<LangLink>,
    /// A success message.
    pub flash: Option<&'static str>,
    /// An error message.
    pub error: Option<String>,
}

/// One entry of the language switch.
pub struct LangLink {
    /// `en`, `fr`.
    pub code: &'static str,
    /// The language's own name.
    pub name: &'static str,
    /// `/lang/<code>?next=<this page>`.
    pub href: String,
    /// The page's language.
    pub current: bool,
}

/// A secret shown once in a dialog (a new app password, a generated primary password).
pub struct Shown {
    /// Dialog heading.
    pub title: String,
    /// What it belongs to.
    pub subject: String,
    /// The secret.
    pub secret: String,
    /// Explanations under it.
    pub notes: Vec<String>,
    /// Where "Done" goes (a plain GET: the secret leaves the page).
    pub done_href: String,
}

/// One app password as a table row.
pub struct Row {
    /// Public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// "Windows Explorer", or None: not assigned.
    pub access_method: Option<String>,
    /// Expiry, RFC 3339.
    pub expires_iso: String,
    /// Expiry, absolute.
    pub expires_abs: String,
    /// Expiry, relative ("tomorrow at 17:51").
    pub expires_rel: String,
    /// Last use, relative.
    pub last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Chrome,
    code_stage: bool,
    user_value: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Chrome,
    webdav_url: String,
    rows: Vec<Row>,
    name_value: String,
    two_factor: bool,
    enrolment: Option<Enrolment>,
    shown: Option<Shown>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    page: Chrome,
    users: Vec<UserView>,
    shown: Option<Shown>,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    page: Chrome,
    user: UserView,
    security: bool,
    rows: Vec<Row>,
    shown: Option<Shown>,
}

#[derive(Template)]
#[template(path = "remove.html")]
struct RemovePage {
    page: Chrome,
    user: UserView,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: Chrome,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
}

impl SettingsPage {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
    fn error(&self, key: &str) -> Option<&str> {
        self.errors.get(key).map(String::as_str)
    }
    fn checked(&self, key: &str) -> bool {
        self.value(key) == "true"
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    page: Chrome,
    heading: String,
}

/// Why a page request failed.
enum PageError {
    Portal(PortalError),
    Csrf,
    NotFound,
}

impl From<PortalError> for PageError {
    fn from(e: PortalError) -> Self {
        PageError::Portal(e)
    }
}

type Page = Result<Response<Body>, PageError>;

/// Answers one page request.
pub async fn handle(web: &Web, r: WebRequest) -> Response<Body> {
    let result = route(web, &r).await;
    match result {
        Ok(res) => res,
        Err(PageError::Portal(PortalError::SignedOut)) => {
            let mut res = see_other("/");
            set_cookie(&mut res, &web.expired_session_cookie());
            res
        }
        Err(e) => {
            let viewer = web.portal.viewer(r.token.as_deref()).await.ok();
            let mut page = chrome(&r, viewer.as_ref(), "");
            let t = page.t;
            let (status, heading, message) = match &e {
                PageError::NotFound => {
                    (StatusCode::NOT_FOUND, t.not_found_title, t.err_not_found.into())
                }
                PageError::Csrf => (StatusCode::FORBIDDEN, t.expired_title, t.err_csrf.into()),
                PageError::Portal(p) => {
                    let (status, message) = refusal(t, p);
                    (status, t.failed_title, message)
                }
            };
            page.title = heading.to_string();
            page.error = Some(message.to_string());
            render(status, &MessagePage { page, heading: heading.to_string() })
        }
    }
}

async fn route(web: &Web, r: &WebRequest) -> Page {
    let segments: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
    let get = matches!(r.method, Method::GET | Method::HEAD);
    if !get && r.method != Method::POST {
        return Err(PageError::NotFound);
    }
    if get {
        return match segments.as_slice() {
            [] => root(web, r).await,
            ["static", file] => assets::serve(file).ok_or(PageError::NotFound),
            ["lang", code] => Ok(switch_language(web, r, code)),
            ["profile"] => profile(web, r, None, None).await,
            ["admin"] => users(web, r, None, None).await,
            ["admin", "users", name] => user(web, r, name, None).await,
            ["admin", "users", name, "remove"] => remove_confirmation(web, r, name).await,
            ["admin", "settings"] => settings(web, r, None).await,
            _ => Err(PageError::NotFound),
        };
    }
    if !r.same_origin() {
        return Err(PageError::Csrf);
    }
    let form = form(r);
    match segments.as_slice() {
        ["login"] => return login(web, r, &form).await,
        ["login", "code"] => return login_code(web, r, &form).await,
        _ => {}
    }
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if !csrf_matches(&viewer.session.csrf, form.get("csrf").map(String::as_str)) {
        return Err(PageError::Csrf);
    }
    let me = viewer.user.name.to_string();
    let portal = &web.portal;
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    match segments.as_slice() {
        ["logout"] => {
            portal.logout(viewer.token.expose());
            let mut res = see_other("/");
            set_cookie(&mut res, &web.expired_session_cookie());
            Ok(res)
        }
        ["profile", "app-passwords"] => {
            match portal.create_app_password(&viewer, &me, field("name")).await {
                Ok(created) => {
                    let t = texts(r.lang);
                    let until = absolute(r.lang, &created.expires_at.with_timezone(&Local));
                    let shown = Shown {
                        title: t.dialog_title.to_string(),
                        subject: created.name.clone(),
                        secret: created.password.expose().to_string(),
                        notes: vec![t.with(t.connect_until, &until), t.never_again.to_string()],
                        done_href: "/profile".into(),
                    };
                    profile_of(web, r, viewer, None, Some(shown), String::new()).await
                }
                Err(e @ (PortalError::BadName(_) | PortalError::NameTaken(_))) => {
                    let name = field("name").to_string();
                    profile_of(web, r, viewer, Some(e), None, name).await
                }
                Err(e) => Err(e.into()),
            }
        }
        ["profile", "app-passwords", id, "revoke"] => {
            portal.revoke_app_password(&viewer, &me, id).await?;
            Ok(see_other("/profile?done=revoked"))
        }
        ["profile", "totp"] => {
            portal.begin_totp(&viewer).await?;
            Ok(see_other("/profile#two-factor"))
        }
        ["profile", "totp", "confirm"] => match portal.confirm_totp(&viewer, field("code")).await {
            Ok(()) => Ok(see_other("/profile?done=totp-on")),
            Err(e @ PortalError::BadCode) => profile(web, r, Some(e), None).await,
            Err(e) => Err(e.into()),
        },
        ["profile", "totp", "disable"] => match portal.disable_totp(&viewer, field("code")).await {
            Ok(()) => Ok(see_other("/profile?done=totp-off")),
            Err(e @ PortalError::BadCode) => profile(web, r, Some(e), None).await,
            Err(e) => Err(e.into()),
        },
        ["admin", "users"] => {
            let is_admin = field("admin") == "on";
            match portal.create_user(&viewer, field("name"), is_admin).await {
                Ok((user, password)) => {
                    let t = texts(r.lang);
                    let shown = Shown {
                        title: t.add_user.to_string(),
                        subject: t.with(t.user_created, &user.name),
                        secret: password.expose().to_string(),
                        notes: vec![t.password_once.to_string()],
                        done_href: "/admin".into(),
                    };
                    users(web, r, Some(shown), None).await
                }
                Err(e @ (PortalError::Invalid(_) | PortalError::Conflict(_))) => {
                    users(web, r, None, Some(e)).await
                }
                Err(e) => Err(e.into()),
            }
        }
        ["admin", "users", name, action] => {
            let back = format!("/admin/users/{name}");
            match *action {
                "disable" => {
                    portal.set_disabled(&viewer, name, true).await?;
                    Ok(see_other(&format!("{back}?done=disabled")))
                }
                "enable" => {
                    portal.set_disabled(&viewer, name, false).await?;
                    Ok(see_other(&format!("{back}?done=enabled")))
                }
                "password" => {
                    let password = portal.reset_password(&viewer, name).await?;
                    let t = texts(r.lang);
                    let shown = Shown {
                        title: t.reset_password.to_string(),
                        subject: t.with(t.password_reset_done, name),
                        secret: password.expose().to_string(),
                        notes: vec![t.password_once.to_string()],
                        done_href: back,
                    };
                    user(web, r, name, Some(shown)).await
                }
                "remove" => {
                    portal.remove_user(&viewer, name).await?;
                    Ok(see_other("/admin?done=removed"))
                }
                "totp-reset" => {
                    portal.reset_totp(&viewer, name).await?;
                    Ok(see_other(&format!("{back}?tab=security&done=totp-reset")))
                }
                _ => Err(PageError::NotFound),
            }
        }
        ["admin", "users", name, "app-passwords", "revoke-all"] => {
            portal.revoke_all(&viewer, name).await?;
            Ok(see_other(&format!("/admin/users/{name}?tab=security&done=revoked-all")))
        }
        ["admin", "users", name, "app-passwords", id, "revoke"] => {
            portal.revoke_app_password(&viewer, name, id).await?;
            Ok(see_other(&format!("/admin/users/{name}?tab=security&done=revoked")))
        }
        ["admin", "settings"] => save_settings(web, r, &viewer, &form).await,
        _ => Err(PageError::NotFound),
    }
}

async fn root(web: &Web, r: &WebRequest) -> Page {
    if web.portal.viewer(r.token.as_deref()).await.is_ok() {
        return Ok(see_other("/profile"));
    }
    let pending = web.portal.pending(r.token.as_deref());
    let mut page = chrome(r, None, texts(r.lang).sign_in);
    if let Some(session) = &pending {
        // The code form posts with the half-open session's token.
        page.csrf = session.csrf.clone();
        page.title = page.t.code_title.to_string();
    }
    let code_stage = pending.is_some();
    Ok(render(StatusCode::OK, &LoginPage { page, code_stage, user_value: String::new() }))
}

async fn login(web: &Web, r: &WebRequest, form: &HashMap<String, String>) -> Page {
    let user = form.get("user").map_or("", String::as_str);
    let password = form.get("password").map_or("", String::as_str);
    match web.portal.login(r.peer, user, password).await {
        Ok(LoginStep::SignedIn(token, _)) => {
            let mut res = see_other("/profile");
            set_cookie(&mut res, &web.session_cookie(token.expose()));
            Ok(res)
        }
        Ok(LoginStep::NeedsCode(token, _)) => {
            let mut res = see_other("/");
            set_cookie(&mut res, &web.session_cookie(token.expose()));
            Ok(res)
        }
        Err(e) => {
            let mut page = chrome(r, None, texts(r.lang).sign_in);
            let (status, message) = refusal(page.t, &e);
            page.error = Some(message);
            let mut res = render(
                status,
                &LoginPage { page, code_stage: false, user_value: user.to_string() },
            );
            if let PortalError::Throttled(wait) = e {
                res.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(res)
        }
    }
}

async fn login_code(web: &Web, r: &WebRequest, form: &HashMap<String, String>) -> Page {
    let pending = web.portal.pending(r.token.as_deref()).ok_or(PortalError::SignedOut)?;
    if !csrf_matches(&pending.csrf, form.get("csrf").map(String::as_str)) {
        return Err(PageError::Csrf);
    }
    let code = form.get("code").map_or("", String::as_str);
    let token = r.token.as_deref().unwrap_or_default();
    match web.portal.second_factor(r.peer, token, code).await {
        Ok((token, _)) => {
            let mut res = see_other("/profile");
            set_cookie(&mut res, &web.session_cookie(token.expose()));
            Ok(res)
        }
        Err(e @ (PortalError::BadCode | PortalError::Throttled(_))) => {
            let mut page = chrome(r, None, texts(r.lang).code_title);
            let (status, message) = refusal(page.t, &e);
            page.error = Some(message);
            page.csrf = pending.csrf;
            Ok(render(status, &LoginPage { page, code_stage: true, user_value: String::new() }))
        }
        Err(e) => Err(e.into()),
    }
}

fn switch_language(web: &Web, r: &WebRequest, code: &str) -> Response<Body> {
    let next = r
        .query_param("next")
        // Only a path on this site: browsers drop tabs and newlines, so `/\t/evil` would become
        // `//evil`, another site.
        .filter(|n| {
            n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
        })
        .unwrap_or_else(|| "/".into());
    let mut res = see_other(&next);
    if let Some(lang) = Lang::from_code(code) {
        set_cookie(&mut res, &web.lang_cookie(lang));
    }
    res
}

async fn profile(
    web: &Web,
    r: &WebRequest,
    error: Option<PortalError>,
    shown: Option<Shown>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    profile_of(web, r, viewer, error, shown, String::new()).await
}

async fn profile_of(
    web: &Web,
    r: &WebRequest,
    viewer: Viewer,
    error: Option<PortalError>,
    shown: Option<Shown>,
    name_value: String,
) -> Page {
    let me = viewer.user.name.to_string();
    let rows = web.portal.app_passwords(&viewer, &me).await?;
    let mut page = chrome(r, Some(&viewer), texts(r.lang).profile_title);
    let (status, message) = error.as_ref().map_or((StatusCode::OK, None), |e| {
        let (status, message) = refusal(page.t, e);
        (status, Some(message))
    });
    page.error = message;
    let host = r.host.as_deref().unwrap_or("localhost");
    let scheme = if web.secure { "https" } else { "http" };
    let enrolment = match viewer.user.totp {
        Some(_) => None,
        None => web.portal.pending_enrolment(&viewer),
    };
    let profile = ProfilePage {
        webdav_url: format!("{scheme}://{host}/dav/"),
        rows: rows.iter().map(|p| row(r.lang, p)).collect(),
        name_value,
        two_factor: viewer.user.totp.is_some(),
        enrolment,
        shown,
        page,
    };
    Ok(render(status, &profile))
}

async fn users(
    web: &Web,
    r: &WebRequest,
    shown: Option<Shown>,
    error: Option<PortalError>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let users = web.portal.users(&viewer).await?;
    let mut page = chrome(r, Some(&viewer), texts(r.lang).users_title);
    let (status, message) = error.as_ref().map_or((StatusCode::OK, None), |e| {
        let (status, message) = refusal(page.t, e);
        (status, Some(message))
    });
    page.error = message;
    Ok(render(status, &UsersPage { page, users, shown }))
}

async fn user(web: &Web, r: &WebRequest, name: &str, shown: Option<Shown>) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if !viewer.is_admin() {
        return Err(PortalError::Forbidden.into());
    }
    let user = web.portal.user(&viewer, name).await?;
    let rows = web.portal.app_passwords(&viewer, name).await?;
    let t = texts(r.lang);
    let page = chrome(r, Some(&viewer), &t.with(t.edit_user_title, &user.name));
    let security = r.query_param("tab").as_deref() == Some("security");
    let rows = rows.iter().map(|p| row(r.lang, p)).collect();
    Ok(render(StatusCode::OK, &UserPage { page, user, security, rows, shown }))
}

async fn remove_confirmation(web: &Web, r: &WebRequest, name: &str) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if !viewer.is_admin() {
        return Err(PortalError::Forbidden.into());
    }
    let user = web.portal.user(&viewer, name).await?;
    let page = chrome(r, Some(&viewer), texts(r.lang).remove_user);
    Ok(render(StatusCode::OK, &RemovePage { page, user }))
}

async fn settings(web: &Web, r: &WebRequest, errors: Option<HashMap<String, String>>) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let values = named(&web.portal.settings(&viewer).await?);
    let page = chrome(r, Some(&viewer), texts(r.lang).settings_title);
    let status = if errors.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(render(status, &SettingsPage { page, values, errors: errors.unwrap_or_default() }))
}

/// Applies each setting the form changed; fields that do not validate are shown with their
/// message (the valid ones are saved).
async fn save_settings(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    form: &HashMap<String, String>,
) -> Page {
    const CHECKBOXES: [&str; 2] = ["login_throttle", "propfind_depth_infinity"];
    let current = named(&web.portal.settings(viewer).await?);
    let mut errors = HashMap::new();
    for (key, old) in &current {
        let new = if CHECKBOXES.contains(&key.as_str()) {
            if form.contains_key(key) { "true" } else { "false" }.to_string()
        } else {
            match form.get(key) {
                Some(v) => v.trim().to_string(),
                None => continue,
            }
        };
        if &new == old {
            continue;
        }
        match web.portal.set_setting(viewer, key, &new).await {
            Ok(_) => {}
            Err(e @ (PortalError::Invalid(_) | PortalError::NotFound(_))) => {
                errors.insert(key.clone(), e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(see_other("/admin/settings?done=saved"))
    } else {
        settings(web, r, Some(errors)).await
    }
}

/// The page frame for `r` as seen by `viewer`.
fn chrome(r: &WebRequest, viewer: Option<&Viewer>, title: &str) -> Chrome {
    let t = texts(r.lang);
    let here = if r.method == Method::GET { r.path.clone() } else { "/".into() };
    let here = match r.query.is_empty() || r.method != Method::GET {
        true => here,
        false => format!("{here}?{}", r.query),
    };
    let next = serde_urlencoded::to_string([("next", here.as_str())]).unwrap_or_default();
    let langs = Lang::ALL
        .iter()
        .map(|&l| LangLink {
            code: l.code(),
            name: texts(l).language_name,
            href: format!("/lang/{}?{next}", l.code()),
            current: l == r.lang,
        })
        .collect();
    let flash = r.query_param("done").and_then(|d| done_message(t, &d));
    Chrome {
        lang: r.lang,
        t,
        title: title.to_string(),
        csrf: viewer.map(|v| v.session.csrf.clone()).unwrap_or_default(),
        user: viewer.map(|v| v.user.name.to_string()),
        is_admin: viewer.is_some_and(Viewer::is_admin),
        langs,
        flash,
        error: None,
    }
}

fn done_message(t: &'static Texts, done: &str) -> Option<&'static str> {
    Some(match done {
        "revoked" => t.done_revoked,
        "revoked-all" => t.done_revoked_all,
        "totp-on" => t.done_totp_on,
        "totp-off" => t.done_totp_off,
        "totp-reset" => t.done_totp_reset,
        "disabled" => t.done_disabled,
        "enabled" => t.done_enabled,
        "removed" => t.done_removed,
        "saved" => t.done_saved,
        _ => return None,
    })
}

/// The one mapping of a refusal to what a page answers: its status and the page's words for
/// it (the operation's own message for the rarer ones). The cause of a 503 is logged here.
fn refusal(t: &'static Texts, e: &PortalError) -> (StatusCode, String) {
    e.log_cause();
    let words = match e {
        PortalError::SignedOut => t.err_signed_out,
        PortalError::BadCredentials => t.err_credentials,
        PortalError::BadCode => t.err_code,
        PortalError::Forbidden => t.err_forbidden,
        PortalError::Throttled(_) => t.err_throttled,
        PortalError::Unavailable(_) => t.err_unavailable,
        PortalError::NameTaken(_) => t.err_duplicate_name,
        PortalError::BadName(_) => t.err_name_required,
        PortalError::NotFound(m) | PortalError::Invalid(m) | PortalError::Conflict(m) => m,
    };
    (e.status(), words.to_string())
}

/// Settings by name, as the settings form names its fields.
fn named(settings: &SettingValues) -> HashMap<String, String> {
    settings.iter().map(|(k, v)| (k.name().to_string(), v.to_string())).collect()
}

fn row(lang: Lang, p: &AppPasswordView) -> Row {
    let now = Local::now();
    let local = |d: DateTime<Utc>| d.with_timezone(&Local);
    Row {
        id: p.id.clone(),
        name: p.name.clone(),
        access_method: p.access_method.clone(),
        expires_iso: p.expires_at.to_rfc3339(),
        expires_abs: absolute(lang, &local(p.expires_at)),
        expires_rel: relative(lang, &local(p.expires_at), &now),
        last_used: p.last_used_at.or(p.first_used_at).map(|d| relative(lang, &local(d), &now)),
    }
}

/// The form fields of a urlencoded body (later duplicates win).
fn form(r: &WebRequest) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&r.body)
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

fn render(status: StatusCode, page: &impl Template) -> Response<Body> {
    match page.render() {
        Ok(html) => {
            let mut res = Response::new(Body::from(html));
            *res.status_mut() = status;
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            res
        }
        Err(e) => {
            tracing::error!(target: "davgate::web", "rendering a page failed: {e}");
            text_response(StatusCode::SERVICE_UNAVAILABLE, "The page could not be rendered.")
        }
    }
}
