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
