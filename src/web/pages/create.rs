//! What creating an app password shows: the create form (the lifetimes the admin's maximum
//! allows, the three accesses, folder and networks, what was typed kept after a refusal) and the
//! one-time dialog with "Connect your application" filled in.

use chrono::Local;

use crate::admin::CreatedAppPassword;
use crate::connect::connect_lines;
use crate::store::{Access, Settings};
use crate::web::i18n::{Lang, absolute, texts};
use crate::web::portal::AppPasswordForm;

/// One line of "Connect your application" in the one-time dialog.
pub(super) struct ConnectBox {
    /// The element id of its box (`connect-rclone`).
    pub id: String,
    /// Which application it is for, in the page's language.
    pub label: &'static str,
    /// The line, with the URL, the user name and the password filled in.
    pub text: String,
    /// Rows its box needs to show the whole line at the dialog's width.
    pub rows: usize,
}

/// The create form of an app password: what it offers under the admin's policy, and what was
/// typed when the server refused it.
pub(super) struct CreateForm {
    /// Where it posts.
    pub action: String,
    /// The name field's example (none on an admin's Security tab, whose list it would read as).
    pub placeholder: &'static str,
    /// The lifetimes within `app_credentials_max_ttl`.
    pub lifetimes: Vec<Choice>,
    /// The three accesses, each with its line saying what it allows.
    pub accesses: Vec<Choice>,
    /// What was typed, shown again after a refusal.
    pub typed: Typed,
}

/// One option of a select or a radio group.
pub(super) struct Choice {
    /// The form value.
    pub value: &'static str,
    /// Its words.
    pub label: String,
    /// The line under it (empty: none).
    pub hint: &'static str,
    /// Chosen.
    pub selected: bool,
}

/// The create form's fields as typed (all empty for a fresh form).
#[derive(Default, Clone)]
pub(super) struct Typed {
    /// What the password is for.
    pub name: String,
    /// `default`, `7d`, …, `never`.
    pub lifetime: String,
    /// `read_write`, `read_only` or `upload_only`.
    pub access: String,
    /// `/Projects`, or empty.
    pub folder: String,
    /// Comma-separated networks, or empty.
    pub networks: String,
}

impl Typed {
    /// The fields as the portal takes them.
    pub(super) fn fields(&self) -> AppPasswordForm<'_> {
        AppPasswordForm {
            name: &self.name,
            lifetime: &self.lifetime,
            access: &self.access,
            folder: &self.folder,
            networks: &self.networks,
        }
    }
}

/// The create form posting to `action`, offering what `settings` allow, filled with `typed`.
pub(super) fn create_form(
    lang: Lang,
    settings: &Settings,
    action: String,
    typed: Typed,
) -> CreateForm {
    let words = texts(lang).apps;
    let day = 86_400;
    let fixed = [
        ("7d", 7 * day, words.lifetime_7d),
        ("30d", 30 * day, words.lifetime_30d),
        ("90d", 90 * day, words.lifetime_90d),
        ("365d", 365 * day, words.lifetime_1y),
    ];
    let max = settings.app_credentials_max_ttl;
    let chosen =
        |value: &str| typed.lifetime == value || (typed.lifetime.is_empty() && value == "default");
    let default_words = words.span(settings.app_credentials_ttl);
    let mut lifetimes = vec![Choice {
        value: "default",
        label: words.lifetime_default.replacen("{}", &default_words, 1),
        hint: "",
        selected: chosen("default"),
    }];
    for (value, seconds, label) in fixed {
        if max.is_none_or(|max| seconds <= max.as_seconds()) {
            let selected = chosen(value);
            lifetimes.push(Choice { value, label: label.to_string(), hint: "", selected });
        }
    }
    if max.is_none() {
        let selected = chosen("never");
        lifetimes.push(Choice {
            value: "never",
            label: words.lifetime_never.into(),
            hint: "",
            selected,
        });
    }
    let accesses = Access::ALL
        .iter()
        .map(|a| Choice {
            value: a.as_str(),
            label: words.access_name(a).to_string(),
            hint: words.access_hint(a),
            selected: typed.access == a.as_str()
                || (typed.access.is_empty() && *a == Access::ReadWrite),
        })
        .collect();
    let placeholder = if action.starts_with("/profile") { texts(lang).name_hint } else { "" };
    CreateForm { action, placeholder, lifetimes, accesses, typed }
}

/// About how many characters of a connection line fit one row of its box in the dialog.
const CHARS_PER_ROW: usize = 68;

/// The one-time dialog of a new app password, with "Connect your application" for `dav_url`;
/// Done goes to `done_href`.
pub(super) fn created_dialog(
    lang: Lang,
    created: &CreatedAppPassword,
    dav_url: &str,
    done_href: String,
) -> Shown {
    let t = texts(lang);
    let lasts = match created.expires_at {
        Some(at) => t.with(t.connect_until, &absolute(lang, &at.with_timezone(&Local))),
        None => t.connect_forever.to_string(),
    };
    let password = created.password.expose();
    let connect = connect_lines(dav_url, &created.user, password)
        .into_iter()
        .map(|line| ConnectBox {
            id: format!("connect-{}", line.client.id()),
            label: t.apps.client(line.client),
            rows: line.text.len().div_ceil(CHARS_PER_ROW),
            text: line.text,
        })
        .collect();
    Shown {
        title: t.dialog_title.to_string(),
        subject: created.name.clone(),
        secret: password.to_string(),
        notes: vec![lasts, t.never_again.to_string()],
        done_href,
        connect,
    }
}

/// A secret shown once in a dialog (a new app password, a generated primary password).
pub(super) struct Shown {
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
    /// "Connect your application": one copy box per client (empty for a primary password).
    pub connect: Vec<ConnectBox>,
}
