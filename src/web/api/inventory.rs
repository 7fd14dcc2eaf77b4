//! The admin inventory's routes: `GET /app-passwords` (JSON, or CSV with `?format=csv` or as
//! `/app-passwords.csv`) and `POST /app-passwords/revoke` (the filtered set, if it holds the
//! `expected_count` the caller confirmed; else 409 with the actual count and nothing revoked).

use http::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use super::{Answer, ApiError, json_response, ok, parse};
use crate::admin::{BulkRevoke, FilterError, InventoryFilter, MAX_INVENTORY_PAGE, inventory_csv};
use crate::http::response;
use crate::web::portal::{Viewer, filter_of};
use crate::web::{Web, WebRequest};

/// A page when `limit` is not given.
const DEFAULT_LIMIT: usize = 500;

/// The inventory's routes, or None when `segments` is none of them.
pub(super) async fn route(
    web: &Web,
    r: &WebRequest,
    viewer: &Viewer,
    method: &Method,
    segments: &[&str],
) -> Option<Answer> {
    Some(match (method, segments) {
        (&Method::GET, ["app-passwords"]) if r.query_param("format").as_deref() == Some("csv") => {
            csv(web, r, viewer).await
        }
        (&Method::GET, ["app-passwords"]) => list(web, r, viewer).await,
        (&Method::GET, ["app-passwords.csv"]) => csv(web, r, viewer).await,
        (&Method::POST, ["app-passwords", "revoke"]) => revoke(web, r, viewer).await,
        _ => return None,
    })
}

/// True for the inventory's paths (another method on them is a 405).
pub(super) fn known(segments: &[&str]) -> bool {
    matches!(segments, ["app-passwords"] | ["app-passwords.csv"] | ["app-passwords", "revoke"])
}

fn bad_filter(e: FilterError) -> ApiError {
    ApiError::BadBody(e.to_string())
}

fn query_filter(web: &Web, r: &WebRequest) -> Result<InventoryFilter, ApiError> {
    filter_of(|name| r.query_param(name), web.portal.now()).map_err(bad_filter)
}

fn number(r: &WebRequest, name: &str, default: usize) -> Result<usize, ApiError> {
    match r.query_param(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::BadBody(format!("'{name}' must be a whole number, not '{text}'"))
        }),
    }
}

async fn list(web: &Web, r: &WebRequest, viewer: &Viewer) -> Answer {
    let filter = query_filter(web, r)?;
    let offset = number(r, "offset", 0)?;
    let limit = number(r, "limit", DEFAULT_LIMIT)?.clamp(1, MAX_INVENTORY_PAGE);
    let inventory = web.portal.inventory(viewer, &filter, offset, limit).await?;
    ok(json!({
        "total": inventory.total,
        "revocable": inventory.revocable,
        "offset": offset,
        "limit": limit,
        "app_passwords": inventory.app_passwords,
    }))
}

async fn csv(web: &Web, r: &WebRequest, viewer: &Viewer) -> Answer {
    let filter = query_filter(web, r)?;
    let inventory = web.portal.inventory(viewer, &filter, 0, usize::MAX).await?;
    let mut res = response::respond(
        StatusCode::OK,
        "text/csv; charset=utf-8",
        inventory_csv(&inventory.app_passwords),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"app-passwords.csv\""),
    );
    Ok(res)
}

/// `POST /app-passwords/revoke`: the filters as in the query (`never_used` a boolean) and the
/// count the caller confirmed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    access_method: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    used_before: Option<String>,
    #[serde(default)]
    never_used: bool,
    #[serde(default)]
    created_before: Option<String>,
    expected_count: usize,
}

async fn revoke(web: &Web, r: &WebRequest, viewer: &Viewer) -> Answer {
    let body: RevokeBody = parse(r)?;
    let field = |name: &str| match name {
        "user" => body.user.clone(),
        "access_method" => body.access_method.clone(),
        "status" => body.status.clone(),
        "scope" => body.scope.clone(),
        "used_before" => body.used_before.clone(),
        "never_used" => body.never_used.then(|| "true".to_string()),
        "created_before" => body.created_before.clone(),
        _ => None,
    };
    let filter = filter_of(field, web.portal.now()).map_err(bad_filter)?;
    match web.portal.bulk_revoke(viewer, &filter, body.expected_count).await? {
        BulkRevoke::Revoked { count } => ok(json!({ "revoked": count })),
        BulkRevoke::CountDiffers { expected, actual } => {
            let message = format!(
                "the filter holds {actual} app passwords to revoke, not {expected}: nothing was \
                 revoked; confirm the new count"
            );
            let value = json!({
                "error": "count_differs",
                "message": message,
                "expected_count": expected,
                "actual_count": actual,
            });
            Ok(json_response(StatusCode::CONFLICT, &value))
        }
    }
}
