//! Walking a home folder: every regular file below a folder, symlinks never followed.

use std::fs::{DirEntry, Metadata};
use std::io;
use std::path::Path;

/// Calls `visit` for each regular file under `root` (depth first, iteratively: no recursion
/// limit). Symlinks are neither followed nor visited; a folder that vanishes meanwhile is skipped.
pub fn for_each_file(
    root: &Path,
    mut visit: impl FnMut(&DirEntry, &Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            // DirEntry::metadata does not follow symlinks.
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                visit(&entry, &meta)?;
            }
        }
    }
    Ok(())
}

/// True if something under `root` lies more than `levels` names below it (symlinks neither
/// followed nor counted). Stops as soon as it finds one; a `root` that is not a folder has
/// nothing below it.
pub fn deeper_than(root: &Path, levels: usize) -> io::Result<bool> {
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_symlink() {
                continue;
            }
            if depth + 1 > levels {
                return Ok(true);
            }
            if meta.is_dir() {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::deeper_than;

    #[test]
    fn depth_below_a_folder_is_measured_without_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        std::fs::write(dir.path().join("a/b/c/f"), "x").unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("a/link")).unwrap();
        assert!(!deeper_than(dir.path(), 4).unwrap());
        assert!(deeper_than(dir.path(), 3).unwrap());
        assert!(!deeper_than(&dir.path().join("a/b/c/f"), 0).unwrap());
    }
}
