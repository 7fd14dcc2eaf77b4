//! Folders only the server's own user may open: the data directory, the homes, the place removed
//! homes are kept. A leaf: the server, the admin operations and the mount all create such folders,
//! and none of them should reach into another for it.

use std::path::Path;

/// Creates `dir` and its missing parents with mode 0700 (what exists already is left as it is).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_folder_and_its_new_parents_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        for made in [root.path().join("a"), dir.clone()] {
            let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", made.display());
        }
        create_private_dir(&dir).unwrap();
    }
}
