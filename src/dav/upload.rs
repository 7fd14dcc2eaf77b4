//! Atomic uploads: a PUT (or a file COPY) never leaves a half-written file at its path.
//!
//! The body streams into a hidden temporary file in the same folder (`.davgate-upload-…`), so
//! the final `rename` is atomic. dav-server calls `flush()` only after the whole body arrived
//! and its length matched `Content-Length` / `X-Expected-Entity-Length` (our patch to
//! dav-server); `flush()` then verifies an `OC-Checksum`, applies `X-OC-Mtime`, fsyncs the file
//! (with `durability = fsync`), renames it into place and fsyncs the folder (one fsync for the
//! uploads that finish together there: [`super::folder_sync`]). An upload that fails, is cut
//! off or is refused is dropped unflushed, and the drop removes its temporary file at once;
//! what a crash leaves behind is removed by [`remove_leftovers`] at startup.

use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, FsResult};
use dav_server::localfs::LocalFs;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::io::{SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::folder_sync::sync_folder;
use super::quota::Reservation;
use crate::store::Durability;
pub use crate::upload_context::{Checksum, Reconfirm, UploadContext, parse_oc_mtime};

/// Called after a successful commit with the verified checksum label, if any, and the number
/// of bytes written; the upload's flush waits for the work it returns (the store's dead
/// properties, which are async).
pub type OnCommit = Box<dyn FnOnce(Option<String>, u64) -> BoxFuture<'static, ()> + Send + Sync>;

/// The file being written, with what is needed to verify it.
struct Sink {
    file: std::fs::File,
    checksum: Option<Checksum>,
}

/// An upload in progress: a [`DavFile`] that only ever writes, into a temporary file.
pub struct Upload {
    sink: Option<Sink>,
    temp: PathBuf,
    target: PathBuf,
    context: Arc<UploadContext>,
    on_commit: Option<OnCommit>,
    committed: bool,
    written: u64,
    /// The room this upload holds in the quota; grows as bytes arrive past what was announced.
    reservation: Reservation,
    /// Used for its blocking-call helper, which fits the runtime flavour.
    runner: LocalFs,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Upload {
    /// Starts an upload to `target` through the temporary file `temp` (blocking: creates it,
    /// mode 0600) that may
    /// write what `reservation` holds, or more if the quota still has room.
    pub fn create(
        target: PathBuf,
        temp: PathBuf,
        checksum: Option<Checksum>,
        context: Arc<UploadContext>,
        on_commit: Option<OnCommit>,
        reservation: Reservation,
        runner: LocalFs,
    ) -> std::io::Result<Self> {
        let file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        Ok(Self {
            sink: Some(Sink { file, checksum }),
            temp,
            target,
            context,
            on_commit,
            committed: false,
            written: 0,
            reservation,
            runner,
        })
    }

    async fn write_owned(&mut self, data: bytes::Bytes) -> FsResult<()> {
        let written = self.written + data.len() as u64;
        // Only takes the usage lock when the body outgrows what was reserved.
        self.reservation.grow_to(written)?;
        self.written = written;
        let mut sink = self.sink.take().ok_or(FsError::GeneralFailure)?;
        let (result, sink) = self
            .runner
            .blocking(move || {
                if let Some(c) = sink.checksum.as_mut() {
                    c.update(&data);
                }
                (sink.file.write_all(&data), sink)
            })
            .await;
        self.sink = Some(sink);
        result.map_err(FsError::from)
    }
}

impl DavFile for Upload {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let path = if self.committed { self.target.clone() } else { self.temp.clone() };
        async move {
            let meta = self.runner.blocking(move || std::fs::metadata(path)).await?;
            Ok(Box::new(FileMeta(meta)) as Box<dyn DavMetaData>)
        }
        .boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        let data = buf.copy_to_bytes(buf.remaining());
        self.write_owned(data).boxed()
    }

    fn write_bytes(&mut self, buf: bytes::Bytes) -> FsFuture<'_, ()> {
        self.write_owned(buf).boxed()
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, bytes::Bytes> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }

    fn seek(&mut self, _pos: SeekFrom) -> FsFuture<'_, u64> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }

    /// Commits the upload: verify, fsync, rename into place, fsync the folder.
    fn flush(&mut self) -> FsFuture<'_, ()> {
        async move {
            // The body is all here: a credential revoked meanwhile must not store it.
            self.context.reconfirm().await?;
            let sink = self.sink.take().ok_or(FsError::GeneralFailure)?;
            let (temp, target) = (self.temp.clone(), self.target.clone());
            let (context, on_commit) = (Arc::clone(&self.context), self.on_commit.take());
            let written = self.written;
            let checksum =
                self.runner.blocking(move || commit(sink, &temp, &target, &context)).await?;
            if let Some(on_commit) = on_commit {
                on_commit(checksum, written).await;
            }
            self.reservation.commit(written);
            self.committed = true;
            Ok(())
        }
        .boxed()
    }
}

fn commit(
    sink: Sink,
    temp: &Path,
    target: &Path,
    context: &UploadContext,
) -> FsResult<Option<String>> {
    let Sink { file, checksum } = sink;
    let verified = match checksum.map(Checksum::finish) {
        Some(Err(())) => {
            context.note_checksum_mismatch();
            return Err(FsError::GeneralFailure);
        }
        Some(Ok(label)) => Some(label),
        None => None,
    };
    if let Some(mtime) = context.mtime {
        file.set_modified(mtime)?;
        context.note_mtime_applied();
    }
    let fsync = context.durability == Durability::Fsync;
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    std::fs::rename(temp, target)?;
    if fsync && let Some(parent) = target.parent() {
        // Shared with the uploads renamed into this folder meanwhile.
        sync_folder(parent)?;
    }
    Ok(verified)
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Metadata of a file we wrote ourselves; the ETag is computed exactly as `LocalFs` does, so a
/// PUT's ETag matches a later GET's.
#[derive(Debug, Clone)]
pub struct FileMeta(pub std::fs::Metadata);

impl DavMetaData for FileMeta {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn modified(&self) -> FsResult<SystemTime> {
        self.0.modified().map_err(FsError::from)
    }
    fn is_dir(&self) -> bool {
        self.0.is_dir()
    }
    fn created(&self) -> FsResult<SystemTime> {
        self.0.created().map_err(FsError::from)
    }
    fn accessed(&self) -> FsResult<SystemTime> {
        self.0.accessed().map_err(FsError::from)
    }
    fn status_changed(&self) -> FsResult<SystemTime> {
        Ok(UNIX_EPOCH + std::time::Duration::new(self.0.ctime().max(0) as u64, 0))
    }
    fn etag(&self) -> Option<String> {
        let t = self.0.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        let t = t.as_secs() * 1_000_000 + u64::from(t.subsec_nanos()) / 1000;
        if self.0.is_file() {
            Some(format!("{:x}-{:x}-{:x}", self.0.ino(), self.0.len(), t))
        } else {
            Some(format!("{:x}-{:x}", self.0.ino(), t))
        }
    }
}
