//! The pages' templates (askama, checked at compile time) and what fills them: the frame every
//! page shares, table rows, the secret shown once, and the rendering itself.

use crate::http::response::{self, Body};
use askama::Template;
use chrono::{DateTime, Local, Utc};
use http::{Method, Response, StatusCode};
use std::collections::HashMap;

use super::create::{CreateForm, Shown};
use crate::admin::{AppPasswordView, UserView};
use crate::duration::HumanDuration;
use crate::store::AppPasswordStatus;
use crate::web::i18n::{Lang, Texts, absolute, relative, texts};
use crate::web::portal::{Enrolment, Viewer};
use crate::web::{WebRequest, text_response};

/// What every page shares: language, words, the signed-in user, messages.
pub(super) struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// The words in that language (templates read every text from here, never inline).
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
pub(super) struct LangLink {
    /// `en`, `fr`.
    pub code: &'static str,
    /// The language's own name.
    pub name: &'static str,
    /// `/lang/<code>?next=<this page>`.
    pub href: String,
    /// The page's language.
    pub current: bool,
}

/// One app password as a table row.
pub(super) struct Row {
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
    /// Its access in words ("Read only").
    pub access: &'static str,
    /// The folder it is confined to; None: the whole home.
    pub folder: Option<String>,
    /// The networks it is limited to, comma-separated; None: anywhere.
    pub networks: Option<String>,
    /// Where it was used from, one line per network, newest first ("Used from 10.1.2.0/24
    /// (Windows Explorer) 5 minutes ago; first 3 days ago").
    pub used_from: Vec<String>,
    /// Its status in words ("Expired: unused for 30 days").
    pub status: String,
    /// Whether it still opens WebDAV (the status is shown plain, else as a warning).
    pub active: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) page: Chrome,
    pub(super) code_stage: bool,
    pub(super) user_value: String,
    /// "Sign in with …" links: (href, label). Links, never a form: `form-action 'self'` would
    /// block a form's redirect to the provider.
    pub(super) providers: Vec<(String, String)>,
}

/// The answer to a successful callback: 200 and a same-site refresh, so that the `Strict`
/// session cookie set here is sent with the next request (it is not after a cross-site 303).
#[derive(Template)]
#[template(path = "sso_wait.html")]
pub(super) struct SsoWaitPage {
    pub(super) lang: &'static str,
    pub(super) wait: &'static str,
    pub(super) next: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub(super) struct ProfilePage {
    pub(super) page: Chrome,
    pub(super) webdav_url: String,
    pub(super) rows: Vec<Row>,
    pub(super) create: CreateForm,
    pub(super) two_factor: bool,
    /// For an `sso` account: "Signed in with …" and who manages its second factor (TOTP is
    /// not offered: the provider owns it).
    pub(super) sso: Option<(String, String)>,
    /// For an `sso` account whose provider sign-in is over 15 minutes old: the link through
    /// the provider back to the profile and its words, shown instead of the create form.
    pub(super) sign_in_again: Option<(String, String)>,
    pub(super) enrolment: Option<Enrolment>,
    /// The shortest new password accepted (the form's `minlength`).
    pub(super) min_password_len: usize,
    pub(super) shown: Option<Shown>,
    pub(super) activity: super::activity::Activity,
    /// The e-mail form: the account's own address (empty: none), and its choices.
    pub(super) email: String,
    pub(super) mail_informational: bool,
    pub(super) mail_fr: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
pub(super) struct UsersPage {
    pub(super) page: Chrome,
    pub(super) users: Vec<UserView>,
    pub(super) shown: Option<Shown>,
    /// The identity providers an account can be made for, as (id, display name).
    pub(super) providers: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "user.html")]
pub(super) struct UserPage {
    pub(super) page: Chrome,
    pub(super) user: UserView,
    pub(super) security: bool,
    pub(super) rows: Vec<Row>,
    pub(super) create: CreateForm,
    pub(super) shown: Option<Shown>,
    /// The identity providers the account can be linked to, as (id, display name).
    pub(super) providers: Vec<(String, String)>,
    /// Its linked identity, if any.
    pub(super) sso: Option<IdentityFacts>,
    pub(super) activity: super::activity::Activity,
}

/// A linked identity as the admin's user page shows it.
pub(super) struct IdentityFacts {
    pub provider: String,
    /// The subject, or "waiting for the first sign-in" for a pre-created account.
    pub subject: String,
    pub email: String,
    /// The last sign-in through the provider, in words ("Never").
    pub last_sign_in: String,
}

#[derive(Template)]
#[template(path = "remove.html")]
pub(super) struct RemovePage {
    pub(super) page: Chrome,
    pub(super) user: UserView,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub(super) struct SettingsPage {
    pub(super) page: Chrome,
    pub(super) values: HashMap<String, String>,
    pub(super) errors: HashMap<String, String>,
    /// The identity providers of the "Single sign-on" part.
    pub(super) providers: Vec<ProviderRow>,
    /// The redirect URI to register at them; None without `--public-url`.
    pub(super) redirect_uri: Option<String>,
    /// The "Webhooks" card's words.
    pub(super) webhook: &'static crate::web::i18n_webhook::WebhookTexts,
}

/// A provider as the Settings page lists it.
pub(super) struct ProviderRow {
    pub id: String,
    pub name: String,
    pub issuer: String,
    /// Its state in words.
    pub state: &'static str,
    pub available: bool,
}

/// A provider's form, to add one or edit one: never its secret (only where it comes from).
#[derive(Template)]
#[template(path = "provider.html")]
pub(super) struct ProviderPage {
    pub(super) page: Chrome,
    pub(super) editing: bool,
    pub(super) f: ProviderFields,
}

/// The form's fields as text (lists comma-separated).
#[derive(Default)]
pub(super) struct ProviderFields {
    pub id: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// `stored`, `file` or `none`.
    pub secret_state: String,
    pub client_secret_file: String,
    pub scopes: String,
    pub username_claim: String,
    pub groups_claim: String,
    pub allowed_domains: String,
    pub allowed_groups: String,
    pub admin_groups: String,
    pub auto_provision: bool,
    pub trust_xms_edov: bool,
    pub refresh_check: bool,
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "provider_remove.html")]
pub(super) struct ProviderRemovePage {
    pub(super) page: Chrome,
    pub(super) id: String,
    pub(super) name: String,
}

impl SettingsPage {
    pub(super) fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
    pub(super) fn error(&self, key: &str) -> Option<&str> {
        self.errors.get(key).map(String::as_str)
    }
    pub(super) fn checked(&self, key: &str) -> bool {
        self.value(key) == "true"
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub(super) page: Chrome,
    pub(super) heading: String,
}

/// The page frame for `r` as seen by `viewer`.
pub(super) fn chrome(r: &WebRequest, viewer: Option<&Viewer>, title: &str) -> Chrome {
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
        "password" => t.pw.done,
        "password-apps" => t.pw.done_apps_revoked,
        _ => return None,
    })
}

/// An app password as the tables show it, in `lang`; `idle` is `app_credentials_idle_ttl`.
pub(super) fn row(lang: Lang, p: &AppPasswordView, idle: Option<HumanDuration>) -> Row {
    let now = Local::now();
    let local = |d: DateTime<Utc>| d.with_timezone(&Local);
    let words = texts(lang).apps;
    Row {
        access: words.access_name(&p.access),
        folder: p.folder.clone(),
        networks: (!p.allow_from.is_empty()).then(|| p.allow_from.join(", ")),
        used_from: p
            .networks
            .iter()
            .map(|n| {
                let last = relative(lang, &local(n.last_used_at), &now);
                let first = relative(lang, &local(n.first_used_at), &now);
                [n.network.as_str(), &n.client, &last, &first]
                    .iter()
                    .fold(words.used_from.to_string(), |line, value| line.replacen("{}", value, 1))
            })
            .collect(),
        status: words.status(p.status, idle),
        active: p.status == AppPasswordStatus::Active,
        id: p.id.clone(),
        name: p.name.clone(),
        access_method: p.access_method.clone(),
        expires_iso: p.expires_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
        expires_abs: p
            .expires_at
            .map_or_else(|| texts(lang).expires_never.to_string(), |d| absolute(lang, &local(d))),
        expires_rel: p.expires_at.map_or_else(
            || texts(lang).expires_never.to_string(),
            |d| relative(lang, &local(d), &now),
        ),
        last_used: p.last_used_at.or(p.first_used_at).map(|d| relative(lang, &local(d), &now)),
    }
}

/// How long ago `at` was, in `lang` ("3 days ago").
pub(super) fn relative_time(lang: Lang, at: DateTime<Utc>, now: &DateTime<Local>) -> String {
    relative(lang, &at.with_timezone(&Local), now)
}

/// The page as HTML with `status`; a page that fails to render is a 503, logged.
pub(super) fn render(status: StatusCode, page: &impl Template) -> Response<Body> {
    match page.render() {
        Ok(html) => {
            let mut res = response::respond(status, response::HTML, html);
            // Every page's 503 is a passing failure (the store out of reach, a busy server).
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response::retry_later(&mut res);
            }
            res
        }
        Err(e) => {
            tracing::error!(target: "davgate::web", "rendering a page failed: {e}");
            text_response(StatusCode::SERVICE_UNAVAILABLE, "The page could not be rendered.")
        }
    }
}
