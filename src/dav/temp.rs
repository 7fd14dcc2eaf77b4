//! davgate's temporary upload files: how they are named, found and cleared after a crash.
//!
//! An upload is written to a temporary file beside its target and renamed over it once complete
//! (see [`super::upload`]). Those files must never be seen as the user's: listings hide them,
//! paths naming them are refused, the quota does not count them, and a start removes the ones a
//! crash left. This leaf holds the one naming rule all of those share.

use rand::RngExt;
use std::path::{Path, PathBuf};

/// Names starting with this are davgate's temporary files: hidden from clients, refused as
/// paths, removed at startup.
pub const TEMP_PREFIX: &str = ".davgate-upload-";

/// A temporary path next to `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let tag: u64 = rand::rng().random();
    target.with_file_name(format!("{TEMP_PREFIX}{tag:016x}"))
}

/// Removes temporary files left by a crash under `root` (symlinks are not followed). Returns
/// how many were removed.
pub fn remove_leftovers(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    super::walk::for_each_file(root, |entry, _| {
        if is_temporary(entry) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
        Ok(())
    })?;
    Ok(removed)
}

/// True for davgate's temporary upload files.
pub fn is_temporary(entry: &std::fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/.davgate-upload-0123456789abcdef"), "partial").unwrap();
        std::fs::write(dir.path().join("a/keep.txt"), "keep").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 1);
        assert!(dir.path().join("a/keep.txt").exists());
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 0);
    }

    #[test]
    fn a_temporary_path_sits_beside_its_target_under_the_prefix() {
        let path = temp_path_for(Path::new("/home/alice/report.txt"));
        assert_eq!(path.parent(), Some(Path::new("/home/alice")));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(TEMP_PREFIX) && name.len() == TEMP_PREFIX.len() + 16, "{name}");
    }
}
