//! A removed account's files: moved aside, so that a new account of the same name starts
//! empty instead of inheriting them.
//!
//! Homes live in `<data>/files/<name>`; a removed one goes to
//! `<data>/files/.removed/<name>-<UTC time>`. User names never start with a dot, so nothing
//! under `.removed` is ever served; an admin deletes it (or moves it back) by hand.

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

use crate::store::{Store, UserName};

/// The folder, under the files root, that holds removed accounts' homes.
pub const REMOVED: &str = ".removed";

/// The files root of the data directory that holds `store`.
pub fn files_root(store: &Store) -> Option<PathBuf> {
    Some(store.path()?.parent()?.join("files"))
}

/// Moves `name`'s home (if there is one) under `files_root/.removed/`; returns where it went.
/// Blocking (a rename, maybe across folders): call it off the async runtime.
pub fn move_aside(
    files_root: &Path,
    name: &UserName,
    now: DateTime<Utc>,
) -> std::io::Result<Option<PathBuf>> {
    let home = files_root.join(name.as_str());
    match std::fs::symlink_metadata(&home) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    let removed = files_root.join(REMOVED);
    crate::fs_private::create_private_dir(&removed)?;
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    for n in 1..=100u32 {
        let name = match n {
            1 => format!("{name}-{stamp}", name = name.as_str()),
            n => format!("{name}-{stamp}-{n}", name = name.as_str()),
        };
        let target = removed.join(name);
        if std::fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        std::fs::rename(&home, &target)?;
        return Ok(Some(target));
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free name in .removed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_moves_aside_under_a_new_name_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let name = UserName::parse("frank").unwrap();
        let now = Utc::now();
        assert_eq!(move_aside(dir.path(), &name, now).unwrap(), None);
        std::fs::create_dir(dir.path().join("frank")).unwrap();
        std::fs::write(dir.path().join("frank/a"), "1").unwrap();
        let first = move_aside(dir.path(), &name, now).unwrap().unwrap();
        std::fs::create_dir(dir.path().join("frank")).unwrap();
        let second = move_aside(dir.path(), &name, now).unwrap().unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(first.join("a")).unwrap(), "1");
        assert!(!dir.path().join("frank").exists());
    }
}
