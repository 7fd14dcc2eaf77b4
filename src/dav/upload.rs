//! Atomic uploads: a PUT (or a file COPY) never leaves a half-written file at its path.
//!
//! The body streams into a hidden temporary file in the same folder (`.davgate-upload-…`), so
//! the final `rename` is atomic. dav-server calls `flush()` only after the whole body arrived
//! and its length matched `Content-Length` / `X-Expected-Entity-Length` (our patch to
//! dav-server); `flush()` then verifies an `OC-Checksum`, applies `X-OC-Mtime`, fsyncs the file
//! (with `durability = fsync`), renames it into place and fsyncs the folder. An upload that
//! fails, is cut off or is refused is dropped unflushed, and the drop removes its temporary
//! file at once; what a crash leaves behind is removed by [`remove_leftovers`] at startup.

use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, FsResult};
use dav_server::localfs::LocalFs;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sha1::Digest;
use std::io::{SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::quota::Reservation;
use crate::auth::Denied;
use crate::store::Durability;

/// Asked just before an upload's atomic rename: whether the credential that sent it still
/// stands ([`crate::auth::still_standing`]). A refusal stores nothing.
pub type Reconfirm = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Denied>> + Send + Sync>;

/// What one request asked of an upload beyond its body, and what became of it (read back by
/// the mount to shape the answer).
pub struct UploadContext {
    /// `X-OC-Mtime`: the modification time to give the file.
    pub mtime: Option<SystemTime>,
    /// Whether to fsync before answering.
    pub durability: Durability,
    checksum_mismatch: AtomicBool,
    mtime_applied: AtomicBool,
    reconfirm: Option<Reconfirm>,
    /// Why the credential no longer stood at commit, if it did not.
    refused: std::sync::OnceLock<Denied>,
}

impl std::fmt::Debug for Reconfirming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// Shows whether an upload re-confirms its credential (the closure itself has no Debug).
struct Reconfirming<'a>(&'a Option<Reconfirm>);

impl std::fmt::Debug for UploadContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadContext")
            .field("mtime", &self.mtime)
            .field("durability", &self.durability)
            .field("reconfirm", &Reconfirming(&self.reconfirm))
            .field("refused", &self.refused.get())
            .finish_non_exhaustive()
    }
}

impl UploadContext {
    /// A context for one request.
    pub fn new(mtime: Option<SystemTime>, durability: Durability) -> Self {
        Self {
            mtime,
            durability,
            checksum_mismatch: AtomicBool::new(false),
            mtime_applied: AtomicBool::new(false),
            reconfirm: None,
            refused: std::sync::OnceLock::new(),
        }
    }

    /// The same context, asking `reconfirm` before each commit.
    pub fn reconfirming(mut self, reconfirm: Reconfirm) -> Self {
        self.reconfirm = Some(reconfirm);
        self
    }

    /// Why the upload's credential no longer stood when it was about to commit (nothing was
    /// stored), if that is why it failed.
    pub fn refused(&self) -> Option<Denied> {
        self.refused.get().copied()
    }

    /// Asks the credential once more (see [`Reconfirm`]).
    async fn reconfirm(&self) -> FsResult<()> {
        let Some(reconfirm) = &self.reconfirm else { return Ok(()) };
        reconfirm().await.map_err(|denied| {
            let _ = self.refused.set(denied);
            FsError::Forbidden
        })
    }

    /// True if the body did not match its `OC-Checksum` (nothing was stored).
    pub fn checksum_mismatch(&self) -> bool {
        self.checksum_mismatch.load(Ordering::Acquire)
    }

    /// True if `X-OC-Mtime` was applied to the stored file.
    pub fn mtime_applied(&self) -> bool {
        self.mtime_applied.load(Ordering::Acquire)
    }
}

/// The first second an HTTP date cannot show (year 10000): `Last-Modified` of a later
/// modification time would panic when written, so such an `X-OC-Mtime` is ignored.
const MTIME_END: f64 = 253_402_300_800.0;

/// Parses `X-OC-Mtime` (Unix seconds, possibly fractional). Anything else (negative, not finite,
/// year 10000 or later, not a number) is None: the header is ignored and the upload stored with
/// the current time, as ownCloud clients expect (they only look for `X-OC-Mtime: accepted`).
pub fn parse_oc_mtime(value: &str) -> Option<SystemTime> {
    let seconds: f64 = value.trim().parse().ok()?;
    if !(0.0..MTIME_END).contains(&seconds) {
        return None;
    }
    UNIX_EPOCH.checked_add(std::time::Duration::try_from_secs_f64(seconds).ok()?)
}

/// Which algorithm an `OC-Checksum` header named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Md5,
}

/// An `OC-Checksum` being verified (`SHA1:<hex>` or `MD5:<hex>`). Both SHA-1 and MD5 are
/// computed, so that both can be served in `oc:checksums`: `rclone check` compares MD5 (the first
/// hash it shares with an ownCloud-like server) even though rclone uploads with SHA-1.
pub struct Checksum {
    sha1: sha1::Sha1,
    md5: md5::Md5,
    expected: (Algorithm, String),
}

impl Checksum {
    /// The checksum named by an `OC-Checksum` header; other algorithms are not verified.
    pub fn parse(header: &str) -> Option<Self> {
        let (alg, hex) = header.trim().split_once(':')?;
        let algorithm = match alg.trim().to_ascii_uppercase().as_str() {
            "SHA1" => Algorithm::Sha1,
            "MD5" => Algorithm::Md5,
            _ => return None,
        };
        let expected = (algorithm, hex.trim().to_ascii_lowercase());
        Some(Checksum { sha1: sha1::Sha1::new(), md5: md5::Md5::new(), expected })
    }

    fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.md5.update(data);
    }

    /// `Ok("SHA1:… MD5:…")` when the data matched the expected checksum, else `Err`.
    fn finish(self) -> Result<String, ()> {
        let (sha1, md5) = (hex(&self.sha1.finalize()), hex(&self.md5.finalize()));
        let computed = match self.expected.0 {
            Algorithm::Sha1 => &sha1,
            Algorithm::Md5 => &md5,
        };
        if *computed == self.expected.1 { Ok(format!("SHA1:{sha1} MD5:{md5}")) } else { Err(()) }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
            context.checksum_mismatch.store(true, Ordering::Release);
            return Err(FsError::GeneralFailure);
        }
        Some(Ok(label)) => Some(label),
        None => None,
    };
    if let Some(mtime) = context.mtime {
        file.set_modified(mtime)?;
        context.mtime_applied.store(true, Ordering::Release);
    }
    let fsync = context.durability == Durability::Fsync;
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    std::fs::rename(temp, target)?;
    if fsync && let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oc_mtime_is_unix_seconds() {
        assert_eq!(
            parse_oc_mtime("1700000000"),
            Some(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
        );
        assert!(parse_oc_mtime("1700000000.5").is_some());
        assert_eq!(parse_oc_mtime("yesterday"), None);
        assert_eq!(parse_oc_mtime("-5"), None);
        for absurd in ["1e30", "1e19", "253402300800", "inf", "NaN", "-0.5", "1e400"] {
            assert_eq!(parse_oc_mtime(absurd), None, "{absurd}");
        }
        assert!(parse_oc_mtime("253402300799").is_some());
    }

    #[test]
    fn checksums_verify_the_data() {
        let mut c = Checksum::parse("SHA1:A9993E364706816ABA3E25717850C26C9CD0D89D").unwrap();
        c.update(b"abc");
        assert_eq!(
            c.finish(),
            Ok("SHA1:a9993e364706816aba3e25717850c26c9cd0d89d MD5:900150983cd24fb0d6963f7d28e17f72"
                .into())
        );
        let mut c = Checksum::parse("md5:900150983cd24fb0d6963f7d28e17f72").unwrap();
        c.update(b"abd");
        assert_eq!(c.finish(), Err(()));
        assert!(Checksum::parse("ADLER32:0000").is_none());
    }
}
