//! User content never runs on the pages' origin.
//!
//! `/dav/` serves files that any user uploaded from the same origin as the profile and admin
//! pages and the JSON API. A browser that rendered an uploaded `report.html` or `logo.svg` there
//! would run its scripts with a signed-in admin's session cookie: one visit to a link would be
//! enough to create an admin account. So every `/dav/` response is made inert for browsers:
//!
//! - `Content-Security-Policy: default-src 'none'; sandbox`: even a document the browser does
//!   render gets a unique opaque origin, with no script, no plugin, no form and no subresource;
//! - `X-Content-Type-Options: nosniff`: no type is guessed from the bytes, so a file can only be
//!   loaded as a script or stylesheet if it was served as one;
//! - `X-Frame-Options: DENY` and `Cross-Origin-Resource-Policy: same-origin`: no other site
//!   frames or embeds it;
//! - file contents of any type outside a short list of passive ones (plain text, raster images,
//!   audio, video) get `Content-Disposition: attachment`: the browser saves the file instead of
//!   rendering it, whatever its extension's case or its guessed type.
//!
//! WebDAV clients ignore all of these headers, so Windows Explorer, Finder, rclone, davfs2 and
//! Office see exactly the answers they saw before.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

/// The policy of every `/dav/` response.
pub const CONTENT_POLICY: &str = "default-src 'none'; sandbox";
/// The policy of dav-server's folder index: the same, plus its own inline style sheet.
const INDEX_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Adds the headers that keep a browser from running or rendering `/dav/` content on this
/// origin. `path` is the request path; `method` its method.
pub fn make_inert<B>(method: &Method, path: &str, res: &mut Response<B>) {
    let serves_content = matches!(*method, Method::GET | Method::HEAD)
        && matches!(res.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT);
    // A GET on a collection (its path ends in `/`: dav-server redirects the other form) is
    // dav-server's own index, whose names it escapes; everything else is a user's bytes.
    let is_index = serves_content && path.ends_with('/');
    let headers = res.headers_mut();
    let policy = if is_index { INDEX_POLICY } else { CONTENT_POLICY };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        http::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if serves_content && !is_index && !is_passive(headers) {
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
}

/// True for content types that no browser executes or renders as a document: plain text,
/// raster images, audio and video. Anything else (HTML, SVG, XML, scripts, style sheets, PDF,
/// a missing or unknown type) is downloaded, not shown.
fn is_passive(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    match kind {
        "text" => subtype == "plain",
        "image" => matches!(
            subtype,
            "png" | "jpeg" | "gif" | "webp" | "avif" | "bmp" | "x-icon" | "vnd.microsoft.icon"
        ),
        "audio" | "video" => !subtype.contains("xml"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(method: Method, path: &str, status: StatusCode, kind: Option<&str>) -> HeaderMap {
        let mut res = Response::new(());
        *res.status_mut() = status;
        if let Some(kind) = kind {
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
        }
        make_inert(&method, path, &mut res);
        res.headers().clone()
    }

    fn is_attachment(headers: &HeaderMap) -> bool {
        headers.get(header::CONTENT_DISPOSITION).is_some_and(|v| v == "attachment")
    }

    #[test]
    fn active_types_are_downloaded_whatever_their_spelling() {
        for kind in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "text/javascript",
            "application/javascript",
            "text/css",
            "application/pdf",
            "application/octet-stream",
            "multipart/byteranges; boundary=x",
            "nonsense",
        ] {
            let headers = served(Method::GET, "/dav/f", StatusCode::OK, Some(kind));
            assert!(is_attachment(&headers), "{kind} is rendered inline");
        }
        let untyped = served(Method::GET, "/dav/f", StatusCode::PARTIAL_CONTENT, None);
        assert!(is_attachment(&untyped), "a file without a type is rendered inline");
    }

    #[test]
    fn passive_types_stay_inline() {
        for kind in ["text/plain; charset=utf-8", "image/png", "image/jpeg", "video/mp4"] {
            let headers = served(Method::GET, "/dav/f", StatusCode::OK, Some(kind));
            assert!(!is_attachment(&headers), "{kind} is downloaded");
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONTENT_POLICY);
        }
    }

    #[test]
    fn every_answer_carries_the_sandbox_policy() {
        for (method, status) in [
            (Method::PUT, StatusCode::CREATED),
            (Method::from_bytes(b"PROPFIND").unwrap(), StatusCode::MULTI_STATUS),
            (Method::GET, StatusCode::NOT_FOUND),
            (Method::GET, StatusCode::UNAUTHORIZED),
        ] {
            let headers = served(method.clone(), "/dav/x.html", status, Some("text/html"));
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONTENT_POLICY, "{method}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert!(!is_attachment(&headers), "{method} {status} has no content to download");
        }
    }

    #[test]
    fn the_folder_index_is_shown_sandboxed() {
        let headers = served(Method::GET, "/dav/docs/", StatusCode::OK, Some("text/html"));
        assert!(!is_attachment(&headers));
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'") && policy.ends_with("sandbox"));
    }
}
