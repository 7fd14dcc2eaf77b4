//! davgate's temporary upload files: how they are named, found and cleared after a crash, and
//! the other names a share holds that are never the user's (NFS's silly-renamed files).
//!
//! An upload is written to a temporary file beside its target and renamed over it once complete
//! (see [`super::upload`]). Those files must never be seen as the user's: listings hide them,
//! paths naming them are refused, the quota does not count them, and a start removes the ones a
//! crash left. Several nodes may share one files root, so a temporary name carries the node that
//! writes it (`.davgate-upload-<node>-<16 hex>`): a starting node removes its own leftovers and
//! those older than [`STALE_AFTER`], never another node's upload in flight. This leaf holds the
//! one naming rule all of those share.

use rand::RngExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::node::NodeId;

/// Names starting with this are davgate's temporary files: hidden from clients, refused as
/// paths, removed at startup.
pub const TEMP_PREFIX: &str = ".davgate-upload-";

/// Names starting with this are an NFS client's "silly renames" (a file deleted while still
/// open, kept until it is closed): not the user's, so hidden and refused like temporary files,
/// but never removed by davgate (the NFS client does that, and a removal would just rename it
/// again).
pub const NFS_PREFIX: &str = ".nfs";

/// Another node's temporary file untouched for this long belongs to an upload that cannot be in
/// flight any more (a crashed node that never came back): any starting node removes it.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Hex digits of the random part of a temporary name.
const TAG_LEN: usize = 16;

/// How one node names its temporary files. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TempNames {
    node: Arc<NodeId>,
}

impl TempNames {
    /// Temporary names of `node`.
    pub fn new(node: NodeId) -> Self {
        Self { node: Arc::new(node) }
    }

    /// A fresh temporary path next to `target`, named after this node.
    pub fn path_for(&self, target: &Path) -> PathBuf {
        let tag: u64 = rand::rng().random();
        target.with_file_name(format!("{TEMP_PREFIX}{}-{tag:016x}", self.node))
    }

    /// Removes temporary files left under `root` by a crash of this node, and any node's
    /// untouched since [`STALE_AFTER`] before `now` (symlinks are not followed). Returns how many
    /// were removed. Another node's recent file is kept: it may be an upload in flight.
    pub fn remove_leftovers(&self, root: &Path, now: SystemTime) -> std::io::Result<usize> {
        let mut removed = 0;
        super::walk::for_each_file(root, |entry, _| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(writer) = writer_of(&name) else { return Ok(()) };
            let own = writer == Writer::Node(self.node.as_str());
            if own || is_stale(entry, now) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    // Another node starting at the same time got there first, or the upload
                    // just finished.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?;
        Ok(removed)
    }
}

/// Who wrote a temporary file, read from its name.
#[derive(Debug, PartialEq, Eq)]
enum Writer<'a> {
    /// The node with this id.
    Node(&'a str),
    /// A davgate from before node ids (`.davgate-upload-<16 hex>`), or a name not made here.
    Unknown,
}

/// The writer of a temporary file named `name`, or `None` if it is not one.
fn writer_of(name: &str) -> Option<Writer<'_>> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let node = rest
        .len()
        .checked_sub(TAG_LEN + 1)
        .filter(|&at| at > 0 && rest.is_char_boundary(at))
        .and_then(|at| {
            let (node, tail) = rest.split_at(at);
            let tag = tail.strip_prefix('-')?;
            tag.bytes().all(|b| b.is_ascii_hexdigit()).then_some(node)
        });
    Some(node.map_or(Writer::Unknown, Writer::Node))
}

/// True if `entry` was last modified at least [`STALE_AFTER`] before `now` (false if that
/// cannot be read: kept, to be safe).
fn is_stale(entry: &std::fs::DirEntry, now: SystemTime) -> bool {
    let modified = entry.metadata().and_then(|m| m.modified());
    modified.is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age >= STALE_AFTER))
}

/// True for davgate's temporary upload files (whichever node writes them).
pub fn is_temporary(entry: &std::fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
}

/// True for a name no client may see or use: davgate's temporary files and NFS silly renames.
pub fn is_hidden_name(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX.as_bytes()) || name.starts_with(NFS_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(node: &str) -> TempNames {
        TempNames::new(NodeId::parse(node).unwrap())
    }

    fn set_age(path: &Path, age: Duration) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn leftovers_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let own = names("web1:8080").path_for(&dir.path().join("a/b/report.txt"));
        std::fs::write(&own, "partial").unwrap();
        std::fs::write(dir.path().join("a/keep.txt"), "keep").unwrap();
        std::fs::write(dir.path().join("a/.nfs000000000001"), "open elsewhere").unwrap();
        let temps = names("web1:8080");
        assert_eq!(temps.remove_leftovers(dir.path(), SystemTime::now()).unwrap(), 1);
        assert!(dir.path().join("a/keep.txt").exists());
        assert!(dir.path().join("a/.nfs000000000001").exists());
        assert_eq!(temps.remove_leftovers(dir.path(), SystemTime::now()).unwrap(), 0);
    }

    #[test]
    fn another_nodes_recent_upload_is_kept_and_an_old_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let other = names("web-2:8081");
        let recent = other.path_for(&dir.path().join("a.txt"));
        let old = other.path_for(&dir.path().join("b.txt"));
        let legacy = dir.path().join(".davgate-upload-0123456789abcdef");
        for path in [&recent, &old, &legacy] {
            std::fs::write(path, "partial").unwrap();
        }
        set_age(&old, STALE_AFTER + Duration::from_secs(60));
        let removed = names("web1:8080").remove_leftovers(dir.path(), SystemTime::now()).unwrap();
        assert_eq!(removed, 1);
        assert!(recent.exists() && legacy.exists() && !old.exists());
        set_age(&legacy, 2 * STALE_AFTER);
        assert_eq!(names("web1:8080").remove_leftovers(dir.path(), SystemTime::now()).unwrap(), 1);
        assert!(!legacy.exists());
    }

    #[test]
    fn a_temporary_path_sits_beside_its_target_and_names_its_node() {
        let path = names("web-1:8080").path_for(Path::new("/home/alice/report.txt"));
        assert_eq!(path.parent(), Some(Path::new("/home/alice")));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{TEMP_PREFIX}web-1:8080-")), "{name}");
        assert_eq!(name.len(), TEMP_PREFIX.len() + "web-1:8080".len() + 1 + TAG_LEN, "{name}");
        assert_eq!(writer_of(&name), Some(Writer::Node("web-1:8080")));
    }

    #[test]
    fn names_are_read_back_to_their_writer() {
        assert_eq!(writer_of("report.txt"), None);
        assert_eq!(writer_of(".davgate-upload-0123456789abcdef"), Some(Writer::Unknown));
        assert_eq!(writer_of(".davgate-upload-x-0123456789abcdeg"), Some(Writer::Unknown));
        assert_eq!(writer_of(".davgate-upload-n1-0123456789abcdef"), Some(Writer::Node("n1")));
        assert!(is_hidden_name(b".nfs1234") && is_hidden_name(b".davgate-upload-x"));
        assert!(!is_hidden_name(b"nfs1234") && !is_hidden_name(b".nf"));
    }
}
