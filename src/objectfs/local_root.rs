//! The local files root `files copy` reads ([`super::import`]): the homes under it, and each
//! home's folders and files with the namespace keys a WebDAV request for them would get and
//! their times as the store keeps them. All of it blocking, run on the blocking pool.

use std::path::{Path, PathBuf};

use super::meta::key_of;

/// A file or folder of the local root that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct ReadError {
    /// The local path, escaped.
    path: String,
    /// The operating system's reason.
    source: std::io::Error,
}

/// What a local walk found under a home: folders before what they hold.
pub(super) struct Local {
    pub(super) key: String,
    pub(super) path: PathBuf,
    pub(super) is_dir: bool,
    pub(super) size: u64,
    pub(super) modified: chrono::DateTime<chrono::Utc>,
}

/// The folders directly under the root, by name (not symlinks, not hidden ones such as
/// `.removed`).
pub(super) async fn homes(root: &Path) -> Result<Vec<(String, PathBuf)>, ReadError> {
    let root = root.to_path_buf();
    blocking(move || {
        let mut homes = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| read_error(&root, e))? {
            let entry = entry.map_err(|e| read_error(&root, e))?;
            let kind = entry.file_type().map_err(|e| read_error(&entry.path(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() && !name.starts_with('.') {
                homes.push((name, entry.path()));
            }
        }
        homes.sort();
        Ok(homes)
    })
    .await
}

/// Every folder and regular file below `home`, parents first, with their namespace keys.
/// Symlinks, davgate's upload temporaries and NFS silly renames are not the user's: skipped,
/// as a server on the disk hides them.
pub(super) async fn walk(home: PathBuf) -> Result<Vec<Local>, ReadError> {
    blocking(move || {
        let mut found = Vec::new();
        let mut stack = vec![(home, Vec::<u8>::new())];
        while let Some((dir, raw)) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(|e| read_error(&dir, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| read_error(&dir, e))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries.into_iter().rev() {
                let name = entry.file_name();
                let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
                if bytes.starts_with(b".davgate-upload-") || bytes.starts_with(b".nfs") {
                    continue;
                }
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
                if !meta.is_dir() && !meta.is_file() {
                    continue;
                }
                let mut child = raw.clone();
                child.push(b'/');
                child.extend_from_slice(bytes);
                let modified = meta.modified().map_err(|e| read_error(&path, e))?;
                let modified = truncated(modified.into());
                let (is_dir, size) = (meta.is_dir(), if meta.is_dir() { 0 } else { meta.len() });
                found.push(Local {
                    key: key_of_raw(&child),
                    path: path.clone(),
                    is_dir,
                    size,
                    modified,
                });
                if is_dir {
                    stack.push((path, child));
                }
            }
        }
        Ok(found)
    })
    .await
}

/// The namespace key of raw path bytes (`/a/b`): the same as a WebDAV request for them gives.
fn key_of_raw(raw: &[u8]) -> String {
    let mut encoded = String::with_capacity(raw.len() * 3);
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    match dav_server::davpath::DavPath::new(&encoded) {
        Ok(path) => key_of(&path),
        Err(_) => encoded,
    }
}

/// A time as the store keeps it (microseconds), so that a second run compares equal.
fn truncated(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

pub(super) fn shown(path: &Path) -> String {
    crate::log_safe::escaped(&path.to_string_lossy())
}

pub(super) fn read_error(path: &Path, source: std::io::Error) -> ReadError {
    ReadError { path: shown(path), source }
}

/// Runs blocking filesystem work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ReadError { path: String::new(), source: std::io::Error::other(e) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_get_the_keys_a_request_for_them_gets() {
        assert_eq!(key_of_raw(b"/a b/r\xc3\xa9sum\xc3\xa9.txt"), "/a%20b/r%C3%A9sum%C3%A9.txt");
        assert_eq!(key_of_raw(b"/100%/x"), "/100%25/x");
        assert_eq!(key_of_raw(b"/plain"), "/plain");
    }
}
