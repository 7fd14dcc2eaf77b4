//! What one WebDAV request may ask of the files: no partial writes, no folder copied or moved
//! into itself, no tree deeper than the nesting limit, and no more uploads in flight than the
//! server can hold files open for.
//!
//! These checks run before dav-server sees a request, so that a refusal is a clear 4xx/5xx with
//! a one-line explanation and nothing was touched; the filesystem repeats the depth check for
//! what it creates ([`super::ConfinedFs`]), in case a tree changed in between.

use http::StatusCode;
use http::header::HeaderName;
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use super::walk::deeper_than;
use dav_server::localfs_mapped::MAPPED_READ_MIN;

/// Uploads (PUT, COPY) in flight at once, server-wide, by default: each holds a temporary file
/// open, and the process must keep descriptors for connections and the store.
pub const DEFAULT_MAX_UPLOADS: usize = 256;

/// How many names a path may have below `/dav/` by default: deep enough for any real tree,
/// shallow enough that a walk of the deepest tree costs nothing.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// A GET reads files in chunks of this size when its bytes pass through user space (TLS,
/// HTTP/2): a copy into a buffer of this size per download in flight.
pub const COPIED_GET_CHUNK: usize = 128 * 1024;

/// A GET over plain HTTP/1.1 sends files in mapped windows of this size, with sendfile (see
/// dav_server::localfs_mapped and crate::http's zero_copy): about one window per download in
/// flight, within a process-wide budget past which downloads copy. 1 MiB: 4 MiB windows sent
/// no faster at the same CPU per byte (bench/bigfile.sh).
pub const MAPPED_GET_CHUNK: usize = 1024 * 1024;

/// The limits of the WebDAV mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DavLimits {
    /// Uploads (PUT, COPY) in flight at once; past that a new one is answered 503.
    pub max_uploads: usize,
    /// Most names in a path below `/dav/` for anything created, copied or moved (403 past it).
    pub max_depth: usize,
    /// The size of a GET's chunks: at least `dav_server::localfs_mapped::MAPPED_READ_MIN`
    /// serves them from mappings, which is only safe where nothing in the process reads the
    /// bytes (plain HTTP/1.1). `None`: chosen by the server from its transport.
    pub get_chunk: Option<usize>,
}

impl DavLimits {
    /// The GET chunk size for a server whose responses go out over `transport_copies` (TLS or
    /// HTTP/2, where the bytes are read in user space) or straight to a TCP socket.
    pub fn get_chunk_for(&self, transport_copies: bool) -> usize {
        let safe = if transport_copies { COPIED_GET_CHUNK } else { MAPPED_GET_CHUNK };
        match self.get_chunk {
            Some(chunk) if transport_copies => chunk.min(MAPPED_READ_MIN - 1),
            Some(chunk) => chunk,
            None => safe,
        }
        .max(4096)
    }
}

impl Default for DavLimits {
    fn default() -> Self {
        Self { max_uploads: DEFAULT_MAX_UPLOADS, max_depth: DEFAULT_MAX_DEPTH, get_chunk: None }
    }
}

/// A refusal: status and the explanation sent to the client.
pub type Refusal = (StatusCode, &'static str);

const CONTENT_RANGE: HeaderName = HeaderName::from_static("content-range");

/// Refuses partial writes: a `PUT` with `Content-Range` (Apache style) or a `PATCH` (SabreDAV
/// style). dav-server would write them in place, outside the quota and the atomic uploads.
pub fn refuse_partial_write<B>(req: &http::Request<B>) -> Result<(), Refusal> {
    const NOT_SUPPORTED: &str =
        "Partial updates are not supported: upload the whole file with a plain PUT.\n";
    match req.method().as_str() {
        "PATCH" => Err((StatusCode::NOT_IMPLEMENTED, NOT_SUPPORTED)),
        "PUT" if req.headers().contains_key(CONTENT_RANGE) => {
            Err((StatusCode::NOT_IMPLEMENTED, NOT_SUPPORTED))
        }
        _ => Ok(()),
    }
}

/// Refuses a COPY or MOVE of `source` to `destination` (paths relative to the home) that would
/// copy or move the home itself, write onto it, or put a folder inside itself.
pub fn check_copy_move(source: &Path, destination: &Path) -> Result<(), Refusal> {
    if depth(source) == 0 {
        return Err((StatusCode::FORBIDDEN, "The home folder itself cannot be copied or moved.\n"));
    }
    if depth(destination) == 0 {
        return Err((
            StatusCode::FORBIDDEN,
            "Nothing can be copied or moved onto the home folder.\n",
        ));
    }
    if destination == source {
        return Err((StatusCode::FORBIDDEN, "The source and the destination are the same.\n"));
    }
    if destination.starts_with(source) {
        return Err((StatusCode::FORBIDDEN, "A folder cannot be copied or moved into itself.\n"));
    }
    Ok(())
}

/// Refuses a MKCOL or PUT of `source` past the nesting limit, and a COPY or MOVE of `source` to
/// `destination` (paths relative to `home`) that [`check_copy_move`] refuses or that would put
/// part of the tree past the limit. COPY always walks the source tree (it reads all of it
/// anyway), so that a tree planted deeper than the limit is never copied (dav-server copies
/// recursively); MOVE walks only when it takes the tree deeper.
pub async fn check_shape(
    home: PathBuf,
    method: &str,
    source: &Path,
    destination: Option<&Path>,
    max_depth: usize,
) -> Result<(), (StatusCode, Cow<'static, str>)> {
    let root = home.join(source);
    let deeper = |levels| async move {
        let deeper = tokio::task::spawn_blocking(move || deeper_than(&root, levels)).await;
        deeper.ok().and_then(Result::ok)
    };
    check_shape_with(method, source, destination, max_depth, deeper).await
}

/// [`check_shape`] wherever the tree is kept: `deeper(levels)` says whether anything lies more
/// than `levels` names below the source (None when it cannot tell: the operation itself will
/// meet, and report, whatever went wrong).
pub async fn check_shape_with<F, Fut>(
    method: &str,
    source: &Path,
    destination: Option<&Path>,
    max_depth: usize,
    deeper: F,
) -> Result<(), (StatusCode, Cow<'static, str>)>
where
    F: FnOnce(usize) -> Fut,
    Fut: std::future::Future<Output = Option<bool>>,
{
    let too_deep = || (StatusCode::FORBIDDEN, Cow::Owned(too_deep(max_depth)));
    let destination = match (method, destination) {
        ("MKCOL" | "PUT", _) if depth(source) > max_depth => return Err(too_deep()),
        ("COPY" | "MOVE", Some(destination)) => destination,
        _ => return Ok(()),
    };
    check_copy_move(source, destination).map_err(|(s, why)| (s, Cow::Borrowed(why)))?;
    let (from, to) = (depth(source), depth(destination));
    if to > max_depth {
        return Err(too_deep());
    }
    if method == "MOVE" && to <= from {
        // A rename that keeps or lowers the tree's depth: nothing in it gets deeper.
        return Ok(());
    }
    match deeper(max_depth - to).await {
        Some(true) => Err(too_deep()),
        Some(false) | None => Ok(()),
    }
}

/// How many names `relative` (a path below the home) has.
pub fn depth(relative: &Path) -> usize {
    relative.components().filter(|c| matches!(c, Component::Normal(_))).count()
}

/// The explanation of a refusal for depth.
pub fn too_deep(max_depth: usize) -> String {
    format!(
        "Paths go at most {max_depth} levels below /dav/ (folders and the file name counted): \
         this would create something deeper.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_cannot_go_into_itself_nor_the_home_anywhere() {
        let ok = |s: &str, d: &str| check_copy_move(Path::new(s), Path::new(d)).is_ok();
        assert!(ok("a", "b"));
        assert!(ok("a", "ab"));
        assert!(ok("a/b", "a"));
        assert!(ok("a/b", "a/c/b"));
        assert!(!ok("a", "a/b"));
        assert!(!ok("a", "a/b/c"));
        assert!(!ok("a", "a"));
        assert!(!ok("", "x"));
        assert!(!ok("x", ""));
    }

    #[test]
    fn depth_counts_names() {
        assert_eq!(depth(Path::new("")), 0);
        assert_eq!(depth(Path::new("a")), 1);
        assert_eq!(depth(Path::new("a/b/c/")), 3);
    }
}
