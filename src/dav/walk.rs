//! Walking a home folder: every regular file below a folder, symlinks never followed.

use std::fs::{DirEntry, Metadata};
use std::io;
use std::ops::ControlFlow;
use std::path::Path;

/// Calls `visit` for each entry under `root` with its depth (1 for `root`'s own entries),
/// depth first, iteratively (no recursion limit), until `visit` breaks. Symlinks are neither
/// followed nor visited; a folder that vanishes meanwhile, or a `root` that is not a folder, has
/// nothing below it.
fn walk(
    root: &Path,
    mut visit: impl FnMut(&DirEntry, &Metadata, usize) -> io::Result<ControlFlow<()>>,
) -> io::Result<ControlFlow<()>> {
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
            // DirEntry::metadata does not follow symlinks.
            let meta = entry.metadata()?;
            if meta.is_symlink() {
                continue;
            }
            if visit(&entry, &meta, depth + 1)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if meta.is_dir() {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Calls `visit` for each regular file under `root` (see [`walk`]).
pub fn for_each_file(
    root: &Path,
    mut visit: impl FnMut(&DirEntry, &Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let _: ControlFlow<()> = walk(root, |entry, meta, _| {
        if meta.is_file() {
            visit(entry, meta)?;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(())
}

/// True if something under `root` lies more than `levels` names below it (symlinks neither
/// followed nor counted). Stops as soon as it finds one.
pub fn deeper_than(root: &Path, levels: usize) -> io::Result<bool> {
    let found = walk(root, |_, _, depth| {
        Ok(if depth > levels { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    })?;
    Ok(found.is_break())
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
