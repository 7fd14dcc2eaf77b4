//! How the namespace's rows look to dav-server: keys from paths and names from keys, entry
//! metadata (the ETag of a file is its blob's id) and directory entries.

use dav_server::davpath::DavPath;
use dav_server::fs::{DavDirEntry, DavMetaData, FsFuture, FsResult};
use std::time::SystemTime;

use crate::store::ObjectEntry;

/// The store key of a path: its decoded bytes, no trailing slash, bytes outside printable
/// ASCII (and `%`) percent-escaped: the same key its dead properties are stored under.
pub fn key_of(path: &DavPath) -> String {
    let bytes = path.as_bytes();
    let trimmed = match bytes {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => bytes,
    };
    let mut key = String::with_capacity(trimmed.len());
    for &b in trimmed {
        if b.is_ascii_graphic() && b != b'%' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    if key.is_empty() { "/".to_string() } else { key }
}

/// The raw name (last segment) of a key, escapes undone.
fn name_of(key: &str) -> Vec<u8> {
    let last = key.rsplit('/').next().unwrap_or("");
    let bytes = last.as_bytes();
    let mut name = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                name.push(decoded);
                i += 3;
            }
            _ => {
                name.push(b);
                i += 1;
            }
        }
    }
    name
}

/// An entry's metadata as dav-server reads it. The ETag of a file is its blob's id: new with
/// every write, the same on every node.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    is_dir: bool,
    size: u64,
    modified: SystemTime,
    blob: Option<String>,
}

impl Meta {
    pub(super) fn of(entry: &ObjectEntry) -> Self {
        Self {
            is_dir: entry.is_dir,
            size: entry.size,
            modified: entry.modified.into(),
            blob: entry.blob.clone(),
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.size
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }
    fn is_dir(&self) -> bool {
        self.is_dir
    }
    fn etag(&self) -> Option<String> {
        match &self.blob {
            Some(blob) => Some(blob.rsplit('/').next().unwrap_or(blob).to_string()),
            None => {
                let t = self.modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                Some(format!("{:x}", t.as_micros()))
            }
        }
    }
}

/// A child in a listing.
pub(super) struct Entry(pub(super) ObjectEntry);

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        name_of(&self.0.path)
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(Meta::of(&self.0));
        Box::pin(std::future::ready(Ok(meta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_read_back_from_its_escaped_key() {
        assert_eq!(name_of("/a/b%20c"), b"b c");
        assert_eq!(name_of("/x%25y"), b"x%y");
        assert_eq!(name_of("/%C3%A9t%C3%A9"), "été".as_bytes());
    }

    #[test]
    fn keys_are_escaped_paths_without_a_trailing_slash() {
        let path = DavPath::new("/a%20b/c/").unwrap();
        assert_eq!(key_of(&path), "/a%20b/c");
        assert_eq!(key_of(&DavPath::new("/").unwrap()), "/");
    }
}
