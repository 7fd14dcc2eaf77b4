//! The pages' stylesheet and script, compiled into the binary: no CDN, no font download, so
//! the pages work on a network without internet.

use dav_server::body::Body;
use http::Response;
use http::header::{self, HeaderValue};

const CSS: &str = include_str!("../../assets/davgate.css");
const JS: &str = include_str!("../../assets/davgate.js");

/// The asset named `file`, if there is one.
pub fn serve(file: &str) -> Option<Response<Body>> {
    let (body, kind) = match file {
        "davgate.css" => (CSS, "text/css; charset=utf-8"),
        "davgate.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut res = Response::new(Body::from(body));
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Some(res)
}
