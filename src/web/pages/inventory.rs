//! The admin's "App passwords" screen: every user's app passwords, filtered by a GET form (so a
//! filtered view is a link), a CSV link for the same filters, and "Revoke these N": a
//! confirmation page naming the number, whose POST carries the filters and that number; if the
//! set has changed since, nothing is revoked and the page says the new number.

use askama::Template;
use chrono::Local;
use http::StatusCode;
use std::collections::HashMap;

use super::templates::{Chrome, chrome, relative_time, render};
use super::{Page, PageError};
use crate::admin::{AppPasswordView, BulkRevoke, InventoryFilter};
use crate::store::{Access, AppPasswordStatus};
use crate::web::i18n::{Lang, absolute, texts};
use crate::web::i18n_inventory::{InventoryTexts, inventory_texts};
use crate::web::portal::{Viewer, filter_of};
use crate::web::{Web, WebRequest, see_other};

/// The form's fields, in the order the links carry them.
const FIELDS: [&str; 7] =
    ["user", "access_method", "status", "scope", "used_before", "never_used", "created_before"];

/// Rows one screen shows at most (the CSV export holds them all).
const SHOWN: usize = 500;

/// One password as the table shows it.
pub(super) struct InventoryRow {
    pub owner: String,
    pub id: String,
    pub name: String,
    pub access_method: Option<String>,
    pub scope: String,
    pub status: &'static str,
    pub active: bool,
    pub created: String,
    pub last_used: Option<String>,
    pub networks: usize,
}

#[derive(Template)]
#[template(path = "inventory.html")]
pub(super) struct InventoryPage {
    pub(super) page: Chrome,
    pub(super) w: &'static InventoryTexts,
    /// The filters as typed, by field name.
    pub(super) typed: HashMap<&'static str, String>,
    /// The filters as a query string (`user=alice&never_used=true`), for the links.
    pub(super) query: String,
    pub(super) rows: Vec<InventoryRow>,
    pub(super) total: usize,
    pub(super) revocable: usize,
    /// The statuses and scopes the selects offer: (value, words).
    pub(super) statuses: Vec<(&'static str, &'static str)>,
    pub(super) scopes: Vec<(&'static str, &'static str)>,
    /// "N app passwords revoked." after a bulk revoke.
    pub(super) done: Option<String>,
}

impl InventoryPage {
    fn value(&self, field: &str) -> &str {
        self.typed.get(field).map_or("", String::as_str)
    }
}

#[derive(Template)]
#[template(path = "inventory_revoke.html")]
pub(super) struct RevokePage {
    pub(super) page: Chrome,
    pub(super) w: &'static InventoryTexts,
    /// The filters, as hidden fields of the POST.
    pub(super) hidden: Vec<(&'static str, String)>,
    pub(super) query: String,
    pub(super) count: usize,
}

/// The typed filter fields `get` answers (empty ones left out).
fn typed(get: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    FIELDS
        .iter()
        .filter_map(|&f| get(f).map(|v| (f, v.trim().to_string())).filter(|(_, v)| !v.is_empty()))
        .collect()
}

fn query_of(fields: &[(&'static str, String)]) -> String {
    serde_urlencoded::to_string(fields).unwrap_or_default()
}

/// The filter of `fields`, or the page's error when it does not parse.
fn parse(web: &Web, fields: &[(&'static str, String)]) -> Result<InventoryFilter, String> {
    let get = |name: &str| fields.iter().find(|(f, _)| *f == name).map(|(_, v)| v.clone());
    filter_of(get, web.portal.now()).map_err(|e| e.to_string())
}

/// `GET /admin/app-passwords`: the filtered table.
pub(super) async fn list(web: &Web, r: &WebRequest) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let fields = typed(|name| r.query_param(name));
    let w = inventory_texts(r.lang);
    let mut page = chrome(r, Some(&viewer), w.title);
    let (rows, total, revocable) = match parse(web, &fields) {
        Ok(filter) => {
            let inventory = web.portal.inventory(&viewer, &filter, 0, SHOWN).await?;
            let rows = inventory.app_passwords.iter().map(|p| row(r.lang, w, p)).collect();
            (rows, inventory.total, inventory.revocable)
        }
        Err(e) => {
            // Admins only, even for a malformed filter.
            web.portal.inventory(&viewer, &InventoryFilter::default(), 0, 0).await?;
            page.error = Some(format!("{} {e}", w.bad_filter));
            (Vec::new(), 0, 0)
        }
    };
    let done =
        r.query_param("revoked").and_then(|n| n.parse::<usize>().ok()).map(|n| w.count(w.done, n));
    let a = texts(r.lang).apps;
    let mut scopes: Vec<(&'static str, &'static str)> =
        Access::ALL.iter().map(|x| (x.as_str(), a.access_name(x))).collect();
    scopes.push(("folder", w.folder));
    scopes.push(("whole_home", w.whole_home));
    let page = InventoryPage {
        page,
        w,
        typed: fields.iter().cloned().collect(),
        query: query_of(&fields),
        rows,
        total,
        revocable,
        statuses: AppPasswordStatus::ALL.iter().map(|s| (s.as_str(), w.status_name(*s))).collect(),
        scopes,
        done,
    };
    Ok(render(StatusCode::OK, &page))
}

fn row(lang: Lang, w: &InventoryTexts, p: &AppPasswordView) -> InventoryRow {
    let now = Local::now();
    let a = texts(lang).apps;
    let mut scope = a.access_name(&p.access).to_string();
    if let Some(folder) = &p.folder {
        scope = format!("{scope} · {folder}");
    }
    InventoryRow {
        owner: p.user.clone(),
        id: p.id.clone(),
        name: p.name.clone(),
        access_method: p.access_method.clone(),
        scope,
        status: w.status_name(p.status),
        active: p.status == AppPasswordStatus::Active,
        created: absolute(lang, &p.created_at.with_timezone(&Local)),
        last_used: p.last_used_at.or(p.first_used_at).map(|d| relative_time(lang, d, &now)),
        networks: p.networks.len(),
    }
}

/// `GET /admin/app-passwords/revoke`: "Revoke these N app passwords?".
pub(super) async fn confirmation(web: &Web, r: &WebRequest) -> Page {
    let viewer = web.portal.viewer(r.token.as_deref()).await?;
    let fields = typed(|name| r.query_param(name));
    let filter = parse(web, &fields).map_err(|_| PageError::NotFound)?;
    let inventory = web.portal.inventory(&viewer, &filter, 0, 0).await?;
    Ok(confirm_page(r, &viewer, fields, inventory.revocable, None))
}

fn confirm_page(
    r: &WebRequest,
    viewer: &Viewer,
    hidden: Vec<(&'static str, String)>,
    count: usize,
    error: Option<String>,
) -> http::Response<crate::http::response::Body> {
    let w = inventory_texts(r.lang);
    let mut page = chrome(r, Some(viewer), w.confirm_title);
    page.error = error;
    let status = if page.error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    let query = query_of(&hidden);
    render(status, &RevokePage { page, w, hidden, query, count })
}

/// `POST /admin/app-passwords/revoke`: the filters and the confirmed `expected_count`.
pub(super) async fn revoke(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    form: &HashMap<String, String>,
) -> Page {
    let fields = typed(|name| form.get(name).cloned());
    let filter = parse(web, &fields).map_err(|_| PageError::NotFound)?;
    let expected = form.get("expected_count").and_then(|n| n.trim().parse().ok());
    let Some(expected) = expected else { return Err(PageError::NotFound) };
    match web.portal.bulk_revoke(viewer, &filter, expected).await? {
        BulkRevoke::Revoked { count } => {
            let mut back = fields.clone();
            back.push(("revoked", count.to_string()));
            Ok(see_other(&format!("/admin/app-passwords?{}", query_of(&back))))
        }
        BulkRevoke::CountDiffers { actual, .. } => {
            let w = inventory_texts(r.lang);
            let error = Some(w.count(w.count_changed, actual));
            Ok(confirm_page(r, viewer, fields, actual, error))
        }
    }
}
