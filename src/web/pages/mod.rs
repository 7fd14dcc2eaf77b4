//! The server-rendered pages: sign-in, profile (app passwords, two-factor), and for admins the
//! users, one user's Security tab and the settings. Forms post here and are answered with a
//! redirect (so a reload never posts twice), except where a secret must be shown exactly once:
//! that answer renders the dialog itself and is never cached.

mod activity;
mod create;
mod inventory;
mod screens;
mod sso;
mod sso_admin;
mod templates;

use crate::http::response::Body;
use http::{Method, Response, StatusCode};
use std::collections::HashMap;

use super::i18n::{Texts, texts};
use super::portal::{PortalError, Refusal};
use super::{Web, WebRequest, assets, csrf_matches, see_other, set_cookie};
use create::Shown;
use screens::{
    create_app_password, login, login_code, profile, remove_confirmation, root, save_settings,
    settings, switch_language, user, users,
};
use templates::{MessagePage, chrome, render};

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
            ["auth", "oidc", "login"] => Ok(sso::login(web, r).await),
            ["auth", "oidc", "callback"] => Ok(sso::callback(web, r).await),
            ["profile"] => profile(web, r, None, None).await,
            ["admin"] => users(web, r, None, None).await,
            ["admin", "users", name] => user(web, r, name, None, None).await,
            ["admin", "users", name, "remove"] => remove_confirmation(web, r, name).await,
            ["admin", "settings"] => settings(web, r, None).await,
            ["admin", "app-passwords"] => inventory::list(web, r).await,
            ["admin", "app-passwords", "revoke"] => inventory::confirmation(web, r).await,
            ["admin", "settings", "sso", "new"] => sso_admin::form(web, r, None).await,
            ["admin", "settings", "sso", id] => sso_admin::form(web, r, Some(id)).await,
            ["admin", "settings", "sso", id, "remove"] => {
                sso_admin::remove_confirmation(web, r, id).await
            }
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
            portal.logout(viewer.token.expose()).await?;
            let mut res = see_other("/");
            set_cookie(&mut res, &web.expired_session_cookie());
            Ok(res)
        }
        ["profile", "app-passwords"] => create_app_password(web, r, viewer, None, &form).await,
        ["profile", "app-passwords", id, "revoke"] => {
            portal.revoke_app_password(&viewer, &me, id).await?;
            Ok(see_other("/profile?done=revoked"))
        }
        ["profile", "password"] => change_password(web, r, &viewer, &form).await,
        ["profile", "email"] => {
            let lang = crate::store::MailLang::parse(field("language"));
            let informational = Some(form.contains_key("informational"));
            let saved = match portal.set_email(&viewer, &me, Some(field("email"))).await {
                Ok(_) => portal.set_mail_prefs(&viewer, &me, informational, lang).await,
                Err(e) => Err(e),
            };
            match saved {
                Ok(_) => Ok(see_other("/profile?done=saved#email")),
                Err(e @ PortalError::Refused { .. }) => profile(web, r, Some(e), None).await,
                Err(e) => Err(e.into()),
            }
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
        ["admin", "users"] if !field("sso").is_empty() => {
            match sso_admin::create_user(web, &viewer, &form).await {
                Ok(landing) => Ok(see_other(&landing)),
                Err(
                    e @ PortalError::Refused {
                        refusal:
                            Refusal::InvalidUserName
                            | Refusal::UserExists
                            | Refusal::InvalidProvider
                            | Refusal::UnknownProvider
                            | Refusal::IdentityTaken,
                        ..
                    },
                ) => users(web, r, None, Some(e)).await,
                Err(e) => Err(e.into()),
            }
        }
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
                        connect: Vec::new(),
                    };
                    users(web, r, Some(shown), None).await
                }
                Err(
                    e @ PortalError::Refused {
                        refusal: Refusal::InvalidUserName | Refusal::UserExists,
                        ..
                    },
                ) => users(web, r, None, Some(e)).await,
                Err(e) => Err(e.into()),
            }
        }
        ["admin", "users", name, "app-passwords"] => {
            create_app_password(web, r, viewer, Some(name), &form).await
        }
        ["admin", "users", name, action] => {
            if let Some(page) = sso_admin::user_action(web, &viewer, name, action, &form).await {
                return page;
            }
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
                        connect: Vec::new(),
                    };
                    user(web, r, name, Some(shown), None).await
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
        ["admin", "app-passwords", "revoke"] => inventory::revoke(web, r, &viewer, &form).await,
        ["admin", "settings", "sso"] => sso_admin::save(web, r, &viewer, &form).await,
        ["admin", "settings", "sso", id, "remove"] => sso_admin::remove(web, &viewer, id).await,
        _ => Err(PageError::NotFound),
    }
}

/// The one mapping of a refusal to what a page answers: its status and the page's words for
/// it, in the page's language (the name a refusal is about put in). The cause of a 503 is
/// logged here.
fn refusal(t: &'static Texts, e: &PortalError) -> (StatusCode, String) {
    e.log_cause();
    let words = match e {
        PortalError::SignedOut => t.err_signed_out,
        PortalError::BadCredentials => t.err_credentials,
        PortalError::BadCode => t.err_code,
        PortalError::Forbidden => t.err_forbidden,
        PortalError::Throttled(_) => t.err_throttled,
        PortalError::Unavailable(_) => t.err_unavailable,
        PortalError::Refused { refusal, subject, .. } => {
            return (e.status(), t.with(refused(t, *refusal), subject));
        }
    };
    (e.status(), words.to_string())
}

/// The page's words for `refusal`: a pattern whose `{}` is the account it is about.
fn refused(t: &'static Texts, refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownUser => t.err_unknown_user,
        Refusal::UnknownAppPassword => t.err_unknown_app_password,
        Refusal::UnknownSetting => t.err_unknown_setting,
        Refusal::InvalidUserName => t.err_user_name,
        Refusal::InvalidAppPasswordName => t.err_name_required,
        Refusal::InvalidAppPasswordId => t.err_app_password_id,
        Refusal::InvalidSetting => t.err_setting,
        Refusal::WeakPassword => t.err_weak_password,
        Refusal::UserExists => t.err_user_exists,
        Refusal::LastAdmin => t.err_last_admin,
        Refusal::AppPasswordNameTaken => t.err_duplicate_name,
        Refusal::InvalidLifetime => t.err_lifetime,
        Refusal::InvalidScope => t.err_scope,
        Refusal::InvalidEmail => t.err_email,
        Refusal::TooManyAppPasswords => t.err_too_many_app_passwords,
        Refusal::AlreadySignedIn => t.err_already_signed_in,
        Refusal::WrongCurrentPassword => t.pw.err_wrong_current,
        Refusal::PasswordsDiffer => t.pw.err_differ,
        Refusal::TwoFactorOn => t.err_two_factor_on,
        Refusal::TwoFactorOff => t.err_two_factor_off,
        Refusal::NoEnrolment => t.err_no_enrolment,
        Refusal::InvalidProvider => t.sso.err_invalid_provider,
        Refusal::UnknownProvider => t.sso.err_unknown_provider,
        Refusal::IdentityTaken => t.sso.err_identity_taken,
        Refusal::SignInAgain => t.err_sso_again,
    }
}

/// The profile's "Change password": on success the session's new cookie and back to the
/// profile; a refusal (wrong current password, too short, the two differ, throttled) shows the
/// profile with it.
async fn change_password(
    web: &Web,
    r: &WebRequest,
    viewer: &super::portal::Viewer,
    form: &HashMap<String, String>,
) -> Page {
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let revoke = field("revoke_app_passwords") == "on";
    let (current, new) = (field("current_password"), field("new_password"));
    let changed = if new != field("new_password_again") {
        Err(PortalError::refused(Refusal::PasswordsDiffer, "the two new passwords differ"))
    } else {
        web.portal.change_own_password(viewer, r.peer, current, new, revoke).await
    };
    match changed {
        Ok(changed) => {
            let done = if changed.app_passwords_revoked > 0 { "password-apps" } else { "password" };
            let mut res = see_other(&format!("/profile?done={done}#password"));
            set_cookie(&mut res, &web.session_cookie(changed.token.expose()));
            Ok(res)
        }
        Err(e @ (PortalError::Refused { .. } | PortalError::Throttled(_))) => {
            profile(web, r, Some(e), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The form fields of a urlencoded body (later duplicates win).
fn form(r: &WebRequest) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&r.body)
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}
