//! `davgate files copy`: an existing files root (one folder per user, `<root>/<user>/…`, as
//! `serve --files DIR` keeps it) copied into a bucket and the store's namespace, so that
//! `serve --files s3://…` then serves the same files with the same times. Dead properties and
//! locks are keyed by (user, path) in the store whatever holds the files, so they stay as they
//! are.
//!
//! The copy plans first and writes after: every home is walked and compared with the
//! namespace, and a file the bucket holds in another version that no copy wrote (a server on
//! the bucket changed it) refuses the whole run before anything is written. A file already
//! there with the same size and modification time is skipped, so a second run copies only
//! what changed. Each upload is an ordinary one (pending row, blob, one commit), recorded as
//! this tool's ([`NODE`]): a run killed half-way leaves at most a few pending blobs, which the
//! next run removes before it starts. Nothing in the namespace is ever deleted.

use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::AsyncReadExt;

use super::blobs::{BlobError, BlobKey, Blobs};
use super::local_root::{ReadError, homes, read_error, shown, walk};
use super::location::ObjectsLocation;
use super::upload::BlobUpload;
use crate::store::{NewContent, ObjectEntry, Store, UserName};

/// The node name the copy's uploads are recorded under (no serving node can have it: node ids
/// never contain a space).
pub const NODE: &str = "files copy";

/// Files uploaded at once; each holds up to one part ([`super::blobs::PART_SIZE`]) and a read
/// buffer.
const PARALLEL: usize = 4;

/// How much of a file is read at a time.
const READ_CHUNK: usize = 1 << 20;

/// Why the copy stopped (what was committed before stays; a new run resumes).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// `--from` does not exist.
    #[error("--from {0}: no such folder")]
    NoSource(String),
    /// `--from` is not a folder.
    #[error("--from {0} is not a folder")]
    NotAFolder(String),
    /// A file or folder of the local root could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The namespace lives in PostgreSQL only.
    #[error(
        "files copy needs --store postgres://… (the names and folders of files on S3 live there)"
    )]
    NeedsPostgres,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The bucket failed.
    #[error(transparent)]
    Bucket(#[from] BlobError),
    /// The bucket holds another version of a file, written through a server since (or never by
    /// a copy): replacing it would lose that write.
    #[error(
        "{user}'s {path} in the bucket differs from the one in --from and was written through a \
         server on the bucket, not by a copy: nothing was copied (move or remove one of them \
         first)"
    )]
    Conflict {
        /// The account.
        user: String,
        /// The path in the home.
        path: String,
    },
    /// A file in one is a folder in the other.
    #[error("{user}'s {path} is a {there} in the bucket and not in --from: nothing was copied")]
    KindConflict {
        /// The account.
        user: String,
        /// The path in the home.
        path: String,
        /// What the namespace holds.
        there: &'static str,
    },
    /// A file's size changed while it was read.
    #[error("{0} changed while it was copied: run the copy again")]
    Changed(String),
    /// The namespace refused a change the plan expected to make (something changed it meanwhile).
    #[error("{user}'s {path} could not be written in the namespace ({why:?}): run the copy again")]
    Refused {
        /// The account.
        user: String,
        /// The path in the home.
        path: String,
        /// The namespace's reason.
        why: crate::store::NsRefusal,
    },
}

/// How far the copy is, updated as it goes (read by a progress line).
#[derive(Debug, Default)]
pub struct ImportProgress {
    /// Files in the homes copied (known once the plan is made).
    pub files_total: AtomicU64,
    /// Their bytes.
    pub bytes_total: AtomicU64,
    /// Files copied or found already there.
    pub files_done: AtomicU64,
    /// Their bytes (counted as they are sent).
    pub bytes_done: AtomicU64,
}

/// What a finished copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Homes copied.
    pub users: usize,
    /// Folders created in the namespace.
    pub folders: u64,
    /// Files uploaded, and their bytes.
    pub copied: (u64, u64),
    /// Files already there with the same size and time, and their bytes.
    pub skipped: (u64, u64),
    /// Blobs a killed earlier run left uploaded but never committed, removed first.
    pub leftovers: usize,
    /// Folders of the root that are no account's home (not copied), escaped.
    pub not_homes: Vec<String>,
}

/// One thing to write for a user.
enum Step {
    Folder { key: String, modified: chrono::DateTime<chrono::Utc> },
    File { key: String, path: PathBuf, size: u64, modified: chrono::DateTime<chrono::Utc> },
}

/// Copies every account's home under `from` into `to` and the namespace of the store at
/// `store` (which must be PostgreSQL).
pub async fn import_files(
    from: &Path,
    store: &crate::store::Location,
    to: &ObjectsLocation,
    progress: &ImportProgress,
) -> Result<ImportSummary, ImportError> {
    if !store.is_shared() {
        return Err(ImportError::NeedsPostgres);
    }
    match tokio::fs::metadata(from).await {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(ImportError::NotAFolder(shown(from))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImportError::NoSource(shown(from)));
        }
        Err(e) => return Err(read_error(from, e).into()),
    }
    let blobs = Blobs::new(to)?;
    let store = &Store::open(store).await?;
    let mut summary = ImportSummary::default();
    let mut plans = Vec::new();
    for (name, home) in homes(from).await? {
        let user = match UserName::parse(&name) {
            Ok(user) if store.user(&user).await?.is_some() => user,
            _ => {
                summary.not_homes.push(crate::log_safe::escaped(&name));
                continue;
            }
        };
        let steps = plan(store, &user, walk(home).await?, &mut summary).await?;
        plans.push((user, steps));
    }
    summary.users = plans.len();
    let files: Vec<u64> = plans.iter().flat_map(|(_, s)| s).filter_map(file_size).collect();
    progress.files_total.store(files.len() as u64 + summary.skipped.0, Ordering::Relaxed);
    let bytes: u64 = files.iter().sum::<u64>() + summary.skipped.1;
    progress.bytes_total.store(bytes, Ordering::Relaxed);
    progress.files_done.store(summary.skipped.0, Ordering::Relaxed);
    progress.bytes_done.store(summary.skipped.1, Ordering::Relaxed);
    summary.leftovers = remove_leftovers(store, &blobs).await?;
    for (user, steps) in plans {
        let (folders, files): (Vec<_>, Vec<_>) =
            steps.into_iter().partition(|s| matches!(s, Step::Folder { .. }));
        for step in folders {
            if let Step::Folder { key, modified } = step {
                match store.object_mkdir(&user, &key, modified).await? {
                    Ok(()) | Err(crate::store::NsRefusal::Exists) => summary.folders += 1,
                    Err(why) => return Err(refused(&user, &key, why)),
                }
            }
        }
        // After a failure no new upload starts, but those in flight finish (and clean up after
        // themselves if they fail too) rather than be dropped half-way.
        let failed = AtomicBool::new(false);
        let results: Vec<Result<Option<u64>, ImportError>> = futures_util::stream::iter(files)
            .map(|step| {
                let (failed, blobs, user) = (&failed, &blobs, &user);
                async move {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    let sent = upload(store, blobs, user, step, progress).await;
                    failed.fetch_or(sent.is_err(), Ordering::Relaxed);
                    sent.map(Some)
                }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for size in results {
            if let Some(size) = size? {
                summary.copied = (summary.copied.0 + 1, summary.copied.1 + size);
            }
        }
    }
    Ok(summary)
}

fn file_size(step: &Step) -> Option<u64> {
    match step {
        Step::File { size, .. } => Some(*size),
        Step::Folder { .. } => None,
    }
}

fn refused(user: &UserName, key: &str, why: crate::store::NsRefusal) -> ImportError {
    ImportError::Refused { user: user.to_string(), path: key.to_string(), why }
}

/// Compares a home's walk with the namespace (one listing per folder): what to write, what is
/// already there (counted in `summary`), and a refusal for what would overwrite a server's write.
async fn plan(
    store: &Store,
    user: &UserName,
    local: Vec<super::local_root::Local>,
    summary: &mut ImportSummary,
) -> Result<Vec<Step>, ImportError> {
    let mut there = std::collections::HashMap::new();
    let mut listed = std::collections::HashSet::new();
    let mut steps = Vec::new();
    for item in local {
        let parent = crate::store::parent_of(&item.key).to_string();
        if listed.insert(parent.clone()) {
            for entry in store.object_children(user, &parent).await? {
                there.insert(entry.path.clone(), entry);
            }
        }
        let existing: Option<&ObjectEntry> = there.get(&item.key);
        let conflict = |there| ImportError::KindConflict {
            user: user.to_string(),
            path: item.key.clone(),
            there,
        };
        match existing {
            Some(e) if e.is_dir && !item.is_dir => return Err(conflict("folder")),
            Some(e) if !e.is_dir && item.is_dir => return Err(conflict("file")),
            Some(_) if item.is_dir => {}
            Some(e) if e.size == item.size && e.modified == item.modified => {
                summary.skipped = (summary.skipped.0 + 1, summary.skipped.1 + item.size);
            }
            Some(e) if !e.blob.as_deref().is_some_and(is_copy_key) => {
                return Err(ImportError::Conflict { user: user.to_string(), path: item.key });
            }
            None if item.is_dir => {
                steps.push(Step::Folder { key: item.key, modified: item.modified });
            }
            _ => steps.push(Step::File {
                key: item.key,
                path: item.path,
                size: item.size,
                modified: item.modified,
            }),
        }
    }
    Ok(steps)
}

/// Uploads one file and commits it with its own modification time; returns its size. A failure
/// after the pending mark hands the blob back (aborted, removed).
async fn upload(
    store: &Store,
    blobs: &Blobs,
    user: &UserName,
    step: Step,
    progress: &ImportProgress,
) -> Result<u64, ImportError> {
    let Step::File { key, path, size, modified } = step else { return Ok(0) };
    let blob = copy_key();
    let now = chrono::Utc::now();
    store.object_pending(blob.as_str(), NODE, now).await?;
    let sent = send(blobs, &blob, &path, size, progress).await;
    let committed = match sent {
        Ok(()) => {
            let content =
                NewContent { blob: blob.as_str().to_string(), size, modified, create_new: false };
            match store.object_commit(user, &key, &content, now + super::GRACE).await {
                Ok(Ok(())) => Ok(size),
                Ok(Err(why)) => Err(refused(user, &key, why)),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e),
    };
    if committed.is_err() {
        let _ = store.object_abandon(blob.as_str(), now).await;
        if blobs.delete(&blob).await.is_ok() {
            let _ = store.object_collected(blob.as_str()).await;
        }
    } else {
        progress.files_done.fetch_add(1, Ordering::Relaxed);
    }
    committed
}

/// Streams `path` into a new blob, in parts (one of the node's upload slots held).
async fn send(
    blobs: &Blobs,
    blob: &BlobKey,
    path: &Path,
    size: u64,
    progress: &ImportProgress,
) -> Result<(), ImportError> {
    let mut file =
        tokio::fs::File::open(path).await.map_err(|e| ImportError::from(read_error(path, e)))?;
    let _slot = blobs.upload_slot().await?;
    if size == 0 {
        return Ok(blobs.write_small(blob, bytes::Bytes::new()).await?);
    }
    let mut writer = BlobUpload::new(blobs, blob, Some(size));
    let mut read = 0u64;
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(read_error(path, e).into());
            }
        };
        if n == 0 {
            break;
        }
        read += n as u64;
        if let Err(e) = writer.write(buf.get(..n).unwrap_or_default()).await {
            let _ = writer.abort().await;
            return Err(e.into());
        }
        progress.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
    }
    if read != size {
        let _ = writer.abort().await;
        return Err(ImportError::Changed(shown(path)));
    }
    if let Err(e) = writer.finish().await {
        let _ = writer.abort().await;
        return Err(e.into());
    }
    Ok(())
}

/// Removes the blobs an earlier run uploaded but never committed (it was killed); returns how
/// many. One copy runs at a time.
async fn remove_leftovers(store: &Store, blobs: &Blobs) -> Result<usize, ImportError> {
    let left = store.object_pending_of(NODE).await?;
    for key in &left {
        match blobs.delete(&BlobKey::from_stored(key.clone())).await {
            Ok(()) | Err(BlobError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        store.object_abandon(key, chrono::Utc::now()).await?;
        store.object_collected(key).await?;
    }
    Ok(left.len())
}

/// A fresh key for a copied file: 122 random bits like a server's, as a version-8 UUID where a
/// server's is version 4, so that a later run tells its own blobs from a server's writes.
fn copy_key() -> BlobKey {
    let id = uuid::Builder::from_custom_bytes(rand::random()).into_uuid();
    BlobKey::from_stored(format!("blobs/{}", id.simple()))
}

/// Whether a blob key is one a copy made ([`copy_key`]).
fn is_copy_key(key: &str) -> bool {
    let id = key.rsplit('/').next().unwrap_or(key);
    uuid::Uuid::try_parse(id).is_ok_and(|u| u.get_version_num() == 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copys_keys_are_told_from_a_servers() {
        assert!(is_copy_key(copy_key().as_str()));
        assert!(!is_copy_key(BlobKey::fresh().as_str()));
        assert!(!is_copy_key("blobs/not-a-uuid"));
    }
}
