//! The web surface: the profile and admin pages (server-rendered, [`pages`]) and the JSON API
//! under `/api/v1/` ([`api`]). Both call the same [`portal::Portal`], which decides who may do
//! what; this module reads requests (bounded bodies, cookies, language) and holds the rules
//! every response shares (security headers, no caching of personal pages).

pub mod api;
mod assets;
mod body;
pub mod i18n;
pub mod i18n_apps;
pub mod i18n_audit;
pub mod i18n_inventory;
pub mod i18n_password;
pub mod i18n_sso;
pub mod i18n_time;
pub mod i18n_webhook;
mod pages;
pub mod portal;
pub mod session;
pub mod totp;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

use crate::http::response::{self, Body, see_other};
use i18n::Lang;
use portal::Portal;

/// The language cookie's name (set by the language switch).
pub const LANG_COOKIE: &str = "davgate_lang";
/// Largest request body the web surface reads (forms and JSON are small).
pub const MAX_BODY: usize = 64 * 1024;

/// Why a request body could not be read: too large (413), stalled (408, the listener's body
/// timeout), malformed or cut off (400), or no memory left for it right now (503).
fn body_refusal(refusal: body::Refusal) -> (StatusCode, &'static str, &'static str) {
    match refusal {
        body::Refusal::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "The request body is too large (at most 64 KiB).",
        ),
        body::Refusal::Stalled => (
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "The request body stopped arriving; send it again.",
        ),
        body::Refusal::Broken => {
            (StatusCode::BAD_REQUEST, "bad_body", "The request body is malformed or incomplete.")
        }
        body::Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "The server is busy reading other requests; try again in a moment.",
        ),
    }
}

/// The web surface of a server.
pub struct Web {
    /// Sessions, login throttle and operations.
    pub portal: Portal,
    /// The public URL's path prefix (`/webdav`, or empty): the profile page shows the WebDAV
    /// address under it.
    public_path: String,
    /// The public URL without its final `/`, when `--public-url` gave one: the WebDAV address
    /// the pages show and fill into "Connect your application".
    public_url: Option<String>,
    /// Memory for the request bodies being read and handled.
    budget: body::Budget,
}

/// A request as the web surface sees it: body read, cookies and language worked out.
pub struct WebRequest {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
    peer: IpAddr,
    /// Whether the client's connection is HTTPS (its cookies get `Secure`).
    https: bool,
    /// `host[:port]` the client addressed (Host header, or the HTTP/2 authority).
    host: Option<String>,
    token: Option<String>,
    lang: Lang,
    /// The body's share of the budget, until the request is answered.
    _held: body::Held,
}

impl WebRequest {
    /// A query parameter's value (not decoded beyond `+` and `%XX`).
    fn query_param(&self, name: &str) -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }

    /// True unless the browser says the request comes from another site. Login CSRF and
    /// cross-site form posts stop here even before the token is checked.
    fn same_origin(&self) -> bool {
        // Browsers that send Sec-Fetch-Site say it best (with a strict referrer policy some send
        // `Origin: null` even for a same-origin form).
        if let Some(site) = self.headers.get("sec-fetch-site") {
            return matches!(site.as_bytes(), b"same-origin" | b"none");
        }
        let Some(origin) = self.headers.get(header::ORIGIN) else { return true };
        let host = self.host.as_deref();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

impl Web {
    /// The web surface over `portal`, served under the public URL's `public` prefix (`/webdav`,
    /// or none).
    pub fn new(portal: Portal, public: &crate::http::prefix::PublicPrefix) -> Self {
        Self {
            portal,
            public_path: public.as_str().to_string(),
            public_url: public.url(),
            budget: body::Budget::default(),
        }
    }

    /// The WebDAV URL for a page answering `r`: under `--public-url` when it was given, else at
    /// the origin the browser used (only ever shown to the signed-in user it was asked by).
    fn dav_url(&self, r: &WebRequest) -> String {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = r.host.as_deref().unwrap_or("localhost");
                let scheme = if r.https { "https" } else { "http" };
                format!("{scheme}://{host}{}", self.public_path)
            }
        };
        crate::connect::dav_url(&base)
    }

    /// Answers any request outside `/dav/`, from `peer`; `https` when the client's connection
    /// is (directly or to the proxy in front).
    pub async fn handle<B>(&self, req: Request<B>, peer: IpAddr, https: bool) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let is_api = parts.uri.path().starts_with("/api/");
        let (body, held) = match body::collect(body, &self.budget).await {
            Ok(collected) => collected,
            Err(refusal) => {
                let (status, code, text) = body_refusal(refusal);
                let mut res = if is_api {
                    api::error_response(status, code, text)
                } else {
                    text_response(status, text)
                };
                if refusal == body::Refusal::Busy {
                    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                } else {
                    res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                harden(res.headers_mut(), https);
                return res;
            }
        };
        let cookies = cookies(&parts.headers);
        let lang = cookies
            .iter()
            .find_map(|(k, v)| (*k == LANG_COOKIE).then(|| Lang::from_code(v)).flatten())
            .unwrap_or_else(|| {
                let accept = parts.headers.get(header::ACCEPT_LANGUAGE);
                Lang::negotiate(accept.and_then(|v| v.to_str().ok()))
            });
        let token = cookies
            .iter()
            .find_map(|(k, v)| (*k == session::COOKIE).then(|| v.to_string()))
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let request = WebRequest {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers,
            body,
            peer,
            https,
            host,
            token,
            lang,
            _held: held,
        };
        let client = crate::audit::Client {
            address: peer,
            user_agent: request
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        };
        let answer = async {
            if is_api {
                api::handle(self, request).await
            } else {
                pages::handle(self, request).await
            }
        };
        let mut res = crate::audit::with_client(client, answer).await;
        harden(res.headers_mut(), https);
        res
    }

    /// The `Set-Cookie` value that opens a session.
    fn session_cookie(&self, token: &str) -> String {
        format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", session::COOKIE)
    }

    /// The `Set-Cookie` value that ends a session in the browser.
    fn expired_session_cookie(&self) -> String {
        format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", session::COOKIE)
    }

    /// The `Set-Cookie` value that remembers a language for a year.
    fn lang_cookie(&self, lang: Lang) -> String {
        format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", lang.code())
    }
}

/// The request's cookies as (name, value) pairs.
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .take(64)
        .collect()
}

/// Compares a presented CSRF token with the session's in constant time.
fn csrf_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| {
        !expected.is_empty() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Headers every web response carries: no framing, no sniffing, no referrer leaks, a strict
/// content policy (the pages load only their own CSS and JS), and nothing personal cached; over
/// HTTPS, cookies `Secure` and HSTS. Decided here, per request: behind a proxy, the same server
/// is reached over HTTPS by one client and plain HTTP by another.
fn harden(headers: &mut HeaderMap, secure: bool) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| assets::content_security_policy().clone());
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not no-referrer: with it, browsers send `Origin: null` on the pages' own forms.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    if secure {
        set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
        let cookies: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|c| HeaderValue::from_bytes(&[c.as_bytes(), b"; Secure"].concat()).ok())
            .collect();
        if !cookies.is_empty() {
            headers.remove(header::SET_COOKIE);
            for cookie in cookies {
                headers.append(header::SET_COOKIE, cookie);
            }
        }
    }
}

/// A plain-text response: `text` and a final newline.
fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    response::text(status, format!("{text}\n"))
}

/// Adds a `Set-Cookie` header.
pub(crate) fn set_cookie(res: &mut Response<Body>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_split_and_trimmed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; davgate_lang=fr ;b=x=y"));
        assert_eq!(cookies(&headers), vec![("a", "1"), ("davgate_lang", "fr"), ("b", "x=y")]);
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_matches("abc", Some("abc")));
        assert!(!csrf_matches("abc", Some("abd")));
        assert!(!csrf_matches("abc", Some("ab")));
        assert!(!csrf_matches("abc", None));
        assert!(!csrf_matches("", Some("")));
    }
}
