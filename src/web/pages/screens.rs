//! The pages themselves: sign-in, profile, the admin's users, one user, the settings; each reads
//! what it shows through the portal and renders its template.

use crate::http::response::Body;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use std::collections::HashMap;

use super::activity::{self, Activity};
use super::create::Shown;
use super::create::{Typed, create_form, created_dialog};
use super::templates::{
    LoginPage, ProfilePage, RemovePage, SettingsPage, UserPage, UsersPage, chrome, render, row,
};
use super::{Page, PageError, refusal};
use crate::admin::SettingValues;
use crate::store::AuditQuery;
use crate::web::i18n::{Lang, texts};
use crate::web::portal::{LoginStep, PortalError, Refusal, Viewer};
use crate::web::{Web, WebRequest, csrf_matches, see_other, set_cookie};

pub(super) async fn root(web: &Web, r: &WebRequest) -> Page {
    if web.portal.viewer(r.token.as_deref()).await.is_ok() {
        return Ok(see_other("/profile"));
    }
    let pending = web.portal.pending(r.token.as_deref()).await?;
    let mut page = chrome(r, None, texts(r.lang).sign_in);
    if let Some(session) = &pending {
        // The code form posts with the half-open session's token.
        page.csrf = session.csrf.clone();
        page.title = page.t.code_title.to_string();
    }
    let code_stage = pending.is_some();
    let providers = sso_links(web, page.t);
    Ok(render(
        StatusCode::OK,
        &LoginPage { page, code_stage, user_value: String::new(), providers },
    ))
}

pub(super) async fn login(web: &Web, r: &WebRequest, form: &HashMap<String, String>) -> Page {
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
                &LoginPage {
                    providers: sso_links(web, page.t),
                    page,
                    code_stage: false,
                    user_value: user.to_string(),
                },
            );
            if let PortalError::Throttled(wait) = e {
                res.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(res)
        }
    }
}

pub(super) async fn login_code(web: &Web, r: &WebRequest, form: &HashMap<String, String>) -> Page {
    let pending = web.portal.pending(r.token.as_deref()).await?.ok_or(PortalError::SignedOut)?;
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
            let providers = Vec::new();
            Ok(render(
                status,
                &LoginPage { page, code_stage: true, user_value: String::new(), providers },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The "Sign in with …" links of the providers offered.
fn sso_links(web: &Web, t: &'static crate::web::i18n::Texts) -> Vec<(String, String)> {
    web.portal
        .sso_offered()
        .into_iter()
        .map(|(id, name)| (format!("/auth/oidc/login?provider={id}"), t.with(t.sso_button, &name)))
        .collect()
}

/// `next` if it is a path on this site, else `/`: browsers drop tabs and newlines, so
/// `/\t/evil` would become `//evil`, another site. The language switch and single sign-on
/// both land through it.
pub(super) fn safe_next(next: Option<String>) -> String {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    })
    .unwrap_or_else(|| "/".into())
}

pub(super) fn switch_language(web: &Web, r: &WebRequest, code: &str) -> Response<Body> {
    let next = safe_next(r.query_param("next"));
    let mut res = see_other(&next);
    if let Some(lang) = Lang::from_code(code) {
        set_cookie(&mut res, &web.lang_cookie(lang));
    }
    res
}

/// Creates an app password from a posted create form: the viewer's own (`owner` None, from the
/// profile) or, for an admin, `owner`'s (from their Security tab). The answer is the page with
/// the one-time dialog, or the page with the refusal above the form, what was typed kept.
pub(super) async fn create_app_password(
    web: &Web,
    r: &WebRequest,
    viewer: Viewer,
    owner: Option<&str>,
    form: &HashMap<String, String>,
) -> Page {
    let typed = typed(form);
    let me = viewer.user.name.to_string();
    let result =
        web.portal.create_scoped_app_password(&viewer, owner.unwrap_or(&me), &typed.fields()).await;
    let done = match owner {
        None => "/profile".to_string(),
        Some(name) => format!("/admin/users/{name}?tab=security"),
    };
    match (result, owner) {
        (Ok(created), None) => {
            let shown = created_dialog(r.lang, &created, &web.dav_url(r), done);
            profile_of(web, r, viewer, None, Some(shown), Typed::default()).await
        }
        (Ok(created), Some(name)) => {
            let shown = created_dialog(r.lang, &created, &web.dav_url(r), done);
            user(web, r, name, Some(shown), None).await
        }
        (Err(e), None) if is_form_refusal(&e) => {
            profile_of(web, r, viewer, Some(e), None, typed).await
        }
        (Err(e), Some(name)) if is_form_refusal(&e) => {
            user(web, r, name, None, Some((e, typed))).await
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// Whether `e` is a refusal the create form shows above itself, keeping what was typed.
fn is_form_refusal(e: &PortalError) -> bool {
    matches!(
        e,
        PortalError::Refused {
            refusal: Refusal::InvalidAppPasswordName
                | Refusal::AppPasswordNameTaken
                | Refusal::InvalidLifetime
                | Refusal::InvalidScope
                | Refusal::TooManyAppPasswords,
            ..
        }
    )
}

/// The create form's fields of a posted `form`.
fn typed(form: &HashMap<String, String>) -> Typed {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    Typed {
        name: field("name"),
        lifetime: field("lifetime"),
        access: field("access"),
        folder: field("folder"),
        networks: field("networks"),
    }
}

pub(super) async fn profile(
    web: &Web,
    r: &WebRequest,
    error: Option<PortalError>,
    shown: Option<Shown>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    profile_of(web, r, viewer, error, shown, Typed::default()).await
}

pub(super) async fn profile_of(
    web: &Web,
    r: &WebRequest,
    viewer: Viewer,
    error: Option<PortalError>,
    shown: Option<Shown>,
    typed: Typed,
) -> Page {
    let me = viewer.user.name.to_string();
    let rows = web.portal.app_passwords(&viewer, &me).await?;
    let policy = web.portal.app_password_policy();
    let mut page = chrome(r, Some(&viewer), texts(r.lang).profile_title);
    let (status, message) = error.as_ref().map_or((StatusCode::OK, None), |e| {
        let (status, message) = refusal(page.t, e);
        (status, Some(message))
    });
    page.error = message;
    let enrolment = match viewer.user.totp {
        Some(_) => None,
        None => web.portal.pending_enrolment(&viewer),
    };
    let sso = match (&viewer.user.external, viewer.user.login) {
        (Some(x), crate::store::LoginMethod::Sso) => {
            let t = texts(r.lang);
            let name = web.portal.sso_name(&x.provider).unwrap_or_else(|| x.provider.to_string());
            let who = x.email.clone().or_else(|| x.subject.clone()).unwrap_or_default();
            let shown = t.sso_profile.replacen("{}", &name, 1).replacen("{}", &who, 1);
            Some((shown, t.with(t.sso_two_factor, &name)))
        }
        _ => None,
    };
    let sign_in_again = web.portal.sso_sign_in_again(&viewer).map(|id| {
        let t = texts(r.lang);
        let name = web.portal.sso_name(&id).unwrap_or_else(|| id.to_string());
        (format!("/auth/oidc/login?provider={id}&next=%2Fprofile"), t.with(t.sso_again, &name))
    });
    let before = activity::before(r.query_param("before"));
    let events = web.portal.activity(&viewer, before, activity::PAGE).await?;
    let activity = Activity::of(r.lang, "/profile", events, before.is_some());
    let profile = ProfilePage {
        email: viewer.user.email.as_ref().map(ToString::to_string).unwrap_or_default(),
        mail_informational: viewer.user.mail.informational,
        mail_fr: viewer.user.mail.lang == crate::store::MailLang::Fr,
        activity,
        sso,
        sign_in_again,
        webdav_url: web.dav_url(r),
        rows: rows.iter().map(|p| row(r.lang, p, policy.app_credentials_idle_ttl)).collect(),
        create: create_form(r.lang, &policy, "/profile/app-passwords".into(), typed),
        two_factor: viewer.user.totp.is_some(),
        enrolment,
        min_password_len: crate::admin::MIN_PASSWORD_LEN,
        shown,
        page,
    };
    Ok(render(status, &profile))
}

pub(super) async fn users(
    web: &Web,
    r: &WebRequest,
    shown: Option<Shown>,
    error: Option<PortalError>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let users = web.portal.users(&viewer).await?;
    let providers = super::sso_admin::choices(web, &viewer).await;
    let mut page = chrome(r, Some(&viewer), texts(r.lang).users_title);
    let (status, message) = error.as_ref().map_or((StatusCode::OK, None), |e| {
        let (status, message) = refusal(page.t, e);
        (status, Some(message))
    });
    page.error = message;
    Ok(render(status, &UsersPage { page, users, shown, providers }))
}

/// One user's page (admins); `failed` is a refused creation from its Security tab, shown
/// above the create form with what was typed.
pub(super) async fn user(
    web: &Web,
    r: &WebRequest,
    name: &str,
    shown: Option<Shown>,
    failed: Option<(PortalError, Typed)>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if !viewer.is_admin() {
        return Err(PortalError::Forbidden.into());
    }
    let user = web.portal.user(&viewer, name).await?;
    let rows = web.portal.app_passwords(&viewer, name).await?;
    let policy = web.portal.app_password_policy();
    let t = texts(r.lang);
    let mut page = chrome(r, Some(&viewer), &t.with(t.edit_user_title, &user.name));
    // A creation posted from the Security tab answers on it.
    let security = r.query_param("tab").as_deref() == Some("security")
        || failed.is_some()
        || shown.as_ref().is_some_and(|s| !s.connect.is_empty());
    let (status, typed) = match failed {
        Some((e, typed)) => {
            let (status, message) = refusal(page.t, &e);
            page.error = Some(message);
            (status, typed)
        }
        None => (StatusCode::OK, Typed::default()),
    };
    let idle = policy.app_credentials_idle_ttl;
    let rows = rows.iter().map(|p| row(r.lang, p, idle)).collect();
    let action = format!("/admin/users/{}/app-passwords", user.name);
    let create = create_form(r.lang, &policy, action, typed);
    let providers = super::sso_admin::choices(web, &viewer).await;
    let sso = super::sso_admin::identity_facts(r, &user, &providers);
    let before = activity::before(r.query_param("before"));
    let query = AuditQuery { subject: None, since: None, before, limit: activity::PAGE };
    let events = web.portal.audit(&viewer, Some(name), query).await?;
    let path = format!("/admin/users/{}", user.name);
    let activity = Activity::of(r.lang, &path, events, before.is_some());
    let page_of = UserPage { page, user, security, rows, create, shown, providers, sso, activity };
    Ok(render(status, &page_of))
}

pub(super) async fn remove_confirmation(web: &Web, r: &WebRequest, name: &str) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    if !viewer.is_admin() {
        return Err(PortalError::Forbidden.into());
    }
    let user = web.portal.user(&viewer, name).await?;
    let page = chrome(r, Some(&viewer), texts(r.lang).remove_user);
    Ok(render(StatusCode::OK, &RemovePage { page, user }))
}

pub(super) async fn settings(
    web: &Web,
    r: &WebRequest,
    errors: Option<HashMap<String, String>>,
) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let values = named(&web.portal.settings(&viewer).await?);
    let providers = super::sso_admin::rows(web, r, &viewer).await?;
    let redirect_uri = web.portal.sso_redirect_uri();
    let page = chrome(r, Some(&viewer), texts(r.lang).settings_title);
    let status = if errors.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let errors = errors.unwrap_or_default();
    let webhook = crate::web::i18n_webhook::webhook_texts(r.lang);
    Ok(render(status, &SettingsPage { page, values, errors, providers, redirect_uri, webhook }))
}

/// Applies each setting the form changed; fields that do not validate are shown with their
/// message (the valid ones are saved).
pub(super) async fn save_settings(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    form: &HashMap<String, String>,
) -> Page {
    const CHECKBOXES: [&str; 2] = ["login_throttle", "propfind_depth_infinity"];
    const WRITE_ONLY: [&str; 1] = ["webhook_secret"];
    let current = named(&web.portal.settings(viewer).await?);
    let mut errors = HashMap::new();
    for (key, old) in &current {
        // Write-only: the field is always shown empty, and left empty it keeps the password.
        if key == "smtp_password" && form.get(key).is_none_or(|v| v.is_empty()) {
            continue;
        }
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
        // A write-only field is shown empty: left empty, it keeps the stored secret.
        if WRITE_ONLY.contains(&key.as_str()) && new.is_empty() {
            continue;
        }
        match web.portal.set_setting(viewer, key, &new).await {
            Ok(_) => {}
            // The operation's own sentence: it says what the value should look like.
            Err(
                e @ PortalError::Refused {
                    refusal: Refusal::InvalidSetting | Refusal::UnknownSetting,
                    ..
                },
            ) => {
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

/// Settings by name, as the settings form names its fields.
fn named(settings: &SettingValues) -> HashMap<String, String> {
    settings.iter().map(|(k, v)| (k.name().to_string(), v.to_string())).collect()
}
