//! The one place that builds plain answers: a status, a content type and a body.
//!
//! WebDAV's refusals, the pages' redirects and error texts, the static assets: each is a status,
//! a `Content-Type` and a short body, built here so that they cannot drift apart (a missing
//! charset, a text without its content type). What only one surface adds (the web's security
//! headers, WebDAV's challenge) is added by that surface to what this returns.
//!
//! A leaf: it imports nothing from the crate, so `dav` and `web` use it without an arrow back
//! to the listener in `http`.

use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Response, StatusCode};

/// The challenge of a WebDAV 401: HTTP Basic in UTF-8 (RFC 7617), so clients send non-ASCII
/// names as UTF-8. The listener and the mount answer with the same one.
pub const CHALLENGE: &str = "Basic realm=\"davgate\", charset=\"UTF-8\"";

/// The body type of every response the server writes. It is dav-server's, so that WebDAV
/// answers go out unconverted; outside `dav`, only this name is used for it.
pub type Body = dav_server::body::Body;

/// `Content-Type` of a plain-text answer.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// `Content-Type` of an XML answer (a WebDAV error element).
pub const XML: &str = "application/xml; charset=utf-8";
/// `Content-Type` of a page.
pub const HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of a JSON API answer.
pub const JSON: &str = "application/json";

/// An answer with `status`, `Content-Type: content_type` and `body`.
pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response<Body> {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Seconds a client is told to wait before it asks again after a 503 for a passing cause (the
/// store out of reach): long enough for a database restart, short enough that a client does
/// not give up.
pub const RETRY_SECONDS: u32 = 5;

/// Marks a 503 as passing: `Retry-After` [`RETRY_SECONDS`], unless the response says already.
pub fn retry_later(res: &mut Response<Body>) {
    res.headers_mut().entry(http::header::RETRY_AFTER).or_insert(HeaderValue::from(RETRY_SECONDS));
}

/// A plain-text answer.
pub fn text(status: StatusCode, text: impl Into<Body>) -> Response<Body> {
    respond(status, TEXT, text)
}

/// An answer without a body or a content type (the caller adds what it says in headers).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}

/// A 303 to `location` (after a form post, so that reloading does not post again). A location
/// that is no header value (it never is: callers build it from checked names) is left out.
pub fn see_other(location: &str) -> Response<Body> {
    let mut res = Response::new(Body::from(""));
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        res.headers_mut().insert(LOCATION, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(res: Response<Body>) -> String {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_text_answer_says_it_is_utf8_text() {
        let res = text(StatusCode::FORBIDDEN, "no\n");
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(body_of(res).await, "no\n");
    }

    #[tokio::test]
    async fn a_redirect_has_a_location_and_an_empty_body() {
        let res = see_other("/profile?done=saved");
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], "/profile?done=saved");
        assert!(res.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(body_of(res).await, "");
        assert!(see_other("/a\nb").headers().get(LOCATION).is_none());
    }

    #[tokio::test]
    async fn an_empty_answer_has_only_its_status() {
        let res = empty(StatusCode::OK);
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().is_empty());
        assert_eq!(body_of(res).await, "");
    }
}
