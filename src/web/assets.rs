//! The pages' stylesheet and script, compiled into the binary: no CDN, no font download, so
//! the pages work on a network without internet.

use base64::Engine;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use crate::http::response::{self, Body};

const CSS: &str = include_str!("../../assets/davgate.css");
const JS: &str = include_str!("../../assets/davgate.js");

/// The asset named `file`, if there is one.
pub fn serve(file: &str) -> Option<Response<Body>> {
    let (body, kind) = match file {
        "davgate.css" => (CSS, "text/css; charset=utf-8"),
        "davgate.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut res = response::respond(StatusCode::OK, kind, body);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Some(res)
}

/// The script's Subresource Integrity value, `sha256-<base64>`. The pages' Content-Security-Policy
/// allows this one script by its hash, not every script of the origin: `'self'` would also allow
/// a file a user uploaded under `/dav/`.
pub fn script_integrity() -> &'static str {
    static INTEGRITY: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(JS.as_bytes());
        format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
    });
    &INTEGRITY
}

/// The pages' Content-Security-Policy: nothing but the pages' own script (by its hash), their
/// own stylesheet, and requests to their own origin.
pub fn content_security_policy() -> &'static HeaderValue {
    static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
        let policy = format!(
            "default-src 'none'; script-src '{}'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            script_integrity()
        );
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
    });
    &POLICY
}
