//! What a read-only or upload-only app password may ask, decided before dav-server runs, so a
//! refused request changes nothing (no temporary file, no lock, no property).
//!
//! - read-only: GET, HEAD, OPTIONS and PROPFIND;
//! - upload-only: PUT of a new file (an existing one answers 412 and stays as it was), MKCOL,
//!   OPTIONS, and PROPFIND of one entry: a client checks the folder it uploads into, or reads
//!   back the size and date of what it just uploaded (rclone asks that with `Depth: 1` on the
//!   file). So a PROPFIND is answered at `Depth: 0` whatever it asks, except one asking a
//!   folder (`…/`) for its children, which is refused: no listing, no reading back, no delete,
//!   copy, move, property change or lock.
//!
//! Everything else answers 403 with one line saying why.

use http::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH};
use http::{Method, Request, StatusCode};

use crate::store::Access;

/// A refused request: the status and its one-line explanation.
pub type Refusal = (StatusCode, &'static str);

// One line each, in the words of the person at the client (Explorer, Finder, rclone), not
// of the protocol.
const READ_ONLY: &str = "This app password is read-only: files can be opened, downloaded and \
    listed, but nothing can be saved, renamed, moved or deleted (make a read-write app password \
    for that).\n";
const UPLOAD_ONLY: &str = "This app password is upload-only: it can only add new files and \
    folders; opening, listing, replacing, renaming or deleting files is refused (with rclone use \
    copyto, or copy --no-traverse).\n";
const UPLOAD_ONLY_LISTING: &str = "This app password is upload-only: it cannot list folders \
    (with rclone use copyto, or copy --no-traverse).\n";

/// Refuses what `access` does not allow; an upload-only PUT is made conditional on the target
/// not existing (`If-None-Match: *`, answered 412 by dav-server before anything is written).
pub fn admit<B>(access: Access, req: &mut Request<B>) -> Result<(), Refusal> {
    let method = req.method().clone();
    match access {
        Access::ReadWrite => Ok(()),
        Access::ReadOnly => {
            let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
            if reads.contains(&method) || method.as_str() == "PROPFIND" {
                Ok(())
            } else {
                Err((StatusCode::FORBIDDEN, READ_ONLY))
            }
        }
        Access::UploadOnly => match method.as_str() {
            "PUT" => {
                let headers = req.headers_mut();
                headers.remove(IF_MATCH);
                headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
                Ok(())
            }
            "MKCOL" | "OPTIONS" => Ok(()),
            "PROPFIND" if depth_zero(req) => Ok(()),
            "PROPFIND" if req.uri().path().ends_with('/') => {
                Err((StatusCode::FORBIDDEN, UPLOAD_ONLY_LISTING))
            }
            "PROPFIND" => {
                req.headers_mut().insert("depth", HeaderValue::from_static("0"));
                Ok(())
            }
            _ => Err((StatusCode::FORBIDDEN, UPLOAD_ONLY)),
        },
    }
}

/// True when the request says `Depth: 0` (a PROPFIND without Depth means infinity).
fn depth_zero<B>(req: &Request<B>) -> bool {
    req.headers().get("depth").is_some_and(|d| d.as_bytes().trim_ascii() == b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(access: Access, method: &str, depth: Option<&str>) -> Result<(), Refusal> {
        let mut req = Request::builder().method(method).uri("/dav/x/");
        if let Some(d) = depth {
            req = req.header("depth", d);
        }
        admit(access, &mut req.body(()).unwrap())
    }

    #[test]
    fn read_only_reads_and_nothing_else() {
        for m in ["GET", "HEAD", "OPTIONS", "PROPFIND"] {
            assert!(ask(Access::ReadOnly, m, None).is_ok(), "{m}");
        }
        let writes = ["PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"];
        for m in writes.into_iter().chain(["POST", "PATCH", "REPORT"]) {
            assert_eq!(ask(Access::ReadOnly, m, None).unwrap_err().0, StatusCode::FORBIDDEN, "{m}");
        }
    }

    #[test]
    fn upload_only_creates_and_looks_at_one_entry() {
        for m in ["PUT", "MKCOL", "OPTIONS"] {
            assert!(ask(Access::UploadOnly, m, None).is_ok(), "{m}");
        }
        assert!(ask(Access::UploadOnly, "PROPFIND", Some(" 0")).is_ok());
        for depth in [None, Some("1"), Some("infinity")] {
            assert!(ask(Access::UploadOnly, "PROPFIND", depth).is_err(), "{depth:?}");
        }
        let file = Request::builder().method("PROPFIND").uri("/dav/x.pdf").header("depth", "1");
        let mut file = file.body(()).unwrap();
        admit(Access::UploadOnly, &mut file).unwrap();
        assert_eq!(file.headers()["depth"], "0", "one entry, whatever was asked");
        for m in ["GET", "HEAD", "DELETE", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"] {
            assert!(ask(Access::UploadOnly, m, None).is_err(), "{m}");
        }
        let put = Request::builder().method("PUT").uri("/dav/x").header("if-match", "*");
        let mut put = put.body(()).unwrap();
        admit(Access::UploadOnly, &mut put).unwrap();
        assert_eq!(put.headers()[IF_NONE_MATCH], "*");
        assert!(put.headers().get(IF_MATCH).is_none());
    }

    #[test]
    fn read_write_is_unchanged() {
        assert!(ask(Access::ReadWrite, "DELETE", None).is_ok());
    }
}
