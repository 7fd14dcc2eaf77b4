//! An open file on object storage: a reader streaming a blob, or a writer making a new one.
//!
//! The writer's protocol is what keeps a PUT atomic and the bucket clean: the new blob is
//! recorded as pending (in the store) before its first byte is sent; the bytes go out in
//! parts; `flush` (dav-server calls it once the whole body arrived, its length checked)
//! completes the upload and commits the file in one store transaction. A writer dropped
//! before that (the client went away, the body was short, the commit was refused) aborts its
//! multipart upload and hands the blob to the collector. The writer holds the upload to the
//! request's terms as on disk ([`crate::upload_context`]): the body is hashed as it goes out
//! and a mismatched `OC-Checksum` never completes the upload; bytes past the quota are refused
//! (507), and the commit re-checks the quota in its transaction; `X-OC-Mtime` is the time
//! committed.

use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture, OpenOptions};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use std::io::SeekFrom;
use std::sync::Mutex;
use tokio::sync::OwnedSemaphorePermit;

use super::blobs::BlobKey;
use super::fs::ObjectFs;
use super::meta::Meta;
use super::upload::BlobUpload;
use crate::store::{NewContent, ObjectEntry};
use crate::upload_context::{Checksum, record_properties};

/// A blob being read: one ranged GET from the current position, restarted after a seek.
pub(super) struct ObjectReader {
    fs: ObjectFs,
    entry: ObjectEntry,
    blob: Option<BlobKey>,
    pos: u64,
    /// The GET in progress (a `Mutex` only to be `Sync`: reached through `&mut self`, never
    /// locked).
    stream: Mutex<Option<BoxStream<'static, std::io::Result<bytes::Bytes>>>>,
    buffered: bytes::Bytes,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("path", &self.entry.path)
            .field("pos", &self.pos)
            .finish()
    }
}

impl ObjectReader {
    /// Opens `entry` for reading; a non-empty file's blob is checked first (one HEAD), so
    /// that an unreachable bucket fails the request before its status is sent.
    pub(super) async fn open(fs: ObjectFs, entry: ObjectEntry) -> Result<Self, FsError> {
        let blob = entry.blob.clone().map(BlobKey::from_stored);
        if let Some(key) = blob.as_ref().filter(|_| entry.size > 0) {
            fs.shared().blobs.check(key).await.map_err(|e| fs.blob_failed(e))?;
        }
        let stream = Mutex::new(None);
        Ok(Self { fs, entry, blob, pos: 0, stream, buffered: bytes::Bytes::new() })
    }

    async fn read(&mut self, count: usize) -> Result<bytes::Bytes, FsError> {
        let size = self.entry.size;
        if self.pos >= size || count == 0 {
            return Ok(bytes::Bytes::new());
        }
        while self.buffered.is_empty() {
            let slot = self.stream.get_mut().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                let key = self.blob.as_ref().ok_or(FsError::GeneralFailure)?;
                let stream = self.fs.shared().blobs.read(key, self.pos..size).await;
                *slot = Some(stream.map_err(|e| self.fs.blob_failed(e))?.boxed());
            }
            let next = match slot.as_mut() {
                Some(stream) => stream.next().await,
                None => None,
            };
            match next {
                Some(Ok(chunk)) => self.buffered = chunk,
                Some(Err(e)) => {
                    tracing::error!("object storage read of {}: {e}", self.entry.path);
                    return Err(FsError::GeneralFailure);
                }
                None => return Ok(bytes::Bytes::new()),
            }
        }
        let n = count.min(self.buffered.len());
        self.pos += n as u64;
        Ok(self.buffered.split_to(n))
    }

    fn seek_to(&mut self, pos: SeekFrom) -> Result<u64, FsError> {
        let size = i128::from(self.entry.size);
        let target = match pos {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
            SeekFrom::End(d) => size + i128::from(d),
        };
        let target = u64::try_from(target).map_err(|_| FsError::GeneralFailure)?;
        if target != self.pos {
            *self.stream.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
            self.buffered = bytes::Bytes::new();
            self.pos = target;
        }
        Ok(target)
    }
}

impl DavFile for ObjectReader {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(Meta::of(&self.entry));
        Box::pin(std::future::ready(Ok(meta)))
    }
    fn write_buf(&mut self, _buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Err(FsError::Forbidden)))
    }
    fn write_bytes(&mut self, _buf: bytes::Bytes) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Err(FsError::Forbidden)))
    }
    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, bytes::Bytes> {
        self.read(count).boxed()
    }
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        Box::pin(std::future::ready(self.seek_to(pos)))
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A new blob being written for `key`; committed by `flush`, abandoned when dropped before.
pub(super) struct ObjectWriter {
    fs: ObjectFs,
    key: String,
    blob: BlobKey,
    create_new: bool,
    /// Nothing was at `key` when the upload began (it starts without properties).
    created: bool,
    /// The `OC-Checksum` the body is verified against, fed as the bytes go out.
    checksum: Option<Checksum>,
    /// The bytes the quota leaves for this file (None without a quota): past them, 507.
    room: Option<u64>,
    /// The body's length, when the request announced it.
    announced: Option<u64>,
    /// Opened at the first byte, with one of the node's upload slots.
    writer: Option<(BlobUpload, OwnedSemaphorePermit)>,
    written: u64,
    committed: bool,
    started: chrono::DateTime<chrono::Utc>,
    /// The modification time the file was given (`X-OC-Mtime`, or the time of the commit).
    modified: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("path", &self.key)
            .field("written", &self.written)
            .finish()
    }
}

impl ObjectWriter {
    /// Records a fresh blob as pending for `key`'s new content, in place of a file of
    /// `replaced` bytes if there is one (before any byte is sent); an upload that announced
    /// more than the quota leaves is refused here (507).
    pub(super) async fn start(
        fs: ObjectFs,
        key: String,
        replaced: Option<u64>,
        options: &OpenOptions,
    ) -> Result<Self, FsError> {
        let room = fs.room(replaced.unwrap_or(0), options.size.unwrap_or(0)).await?;
        let checksum = options.checksum.as_deref().and_then(Checksum::parse);
        let blob = BlobKey::fresh();
        let shared = fs.shared();
        let started = shared.clock.now();
        let pending = shared.store.object_pending(blob.as_str(), &shared.node, started).await;
        pending.map_err(|e| fs.store_failed(e))?;
        Ok(Self {
            fs,
            key,
            blob,
            create_new: options.create_new,
            created: replaced.is_none(),
            checksum,
            room,
            announced: options.size,
            writer: None,
            written: 0,
            committed: false,
            started,
            modified: started,
        })
    }

    async fn write(&mut self, bytes: bytes::Bytes) -> Result<(), FsError> {
        let len = bytes.len() as u64;
        if self.room.is_some_and(|room| self.written.saturating_add(len) > room) {
            return Err(FsError::InsufficientStorage);
        }
        if self.writer.is_none() {
            let blobs = &self.fs.shared().blobs;
            let slot = blobs.upload_slot().await.map_err(|e| self.fs.blob_failed(e))?;
            self.writer = Some((BlobUpload::new(blobs, &self.blob, self.announced), slot));
        }
        if let Some(checksum) = self.checksum.as_mut() {
            checksum.update(&bytes);
        }
        if let Some((writer, _)) = self.writer.as_mut() {
            writer.write(&bytes).await.map_err(|e| self.fs.blob_failed(e))?;
        }
        self.written += len;
        Ok(())
    }

    /// Verifies the checksum, completes the upload, asks the credential again and commits;
    /// then records the checksum for `oc:checksums`. Any failure before the commit leaves
    /// nothing visible (the drop aborts the upload).
    async fn finish(&mut self) -> Result<(), FsError> {
        if self.committed {
            return Ok(());
        }
        let context = self.fs.upload.clone();
        let verified = match self.checksum.take().map(Checksum::finish) {
            Some(Err(())) => {
                if let Some(context) = &context {
                    context.note_checksum_mismatch();
                }
                return Err(FsError::GeneralFailure);
            }
            Some(Ok(label)) => Some(label),
            None => None,
        };
        match self.writer.take() {
            Some((mut writer, _slot)) => {
                if let Err(e) = writer.finish().await {
                    let _ = writer.abort().await;
                    return Err(self.fs.blob_failed(e));
                }
            }
            None => {
                let blobs = &self.fs.shared().blobs;
                let empty = blobs.write_small(&self.blob, bytes::Bytes::new()).await;
                empty.map_err(|e| self.fs.blob_failed(e))?;
            }
        }
        self.fs.may_commit().await?;
        let mtime = context.as_ref().and_then(|c| c.mtime).map(chrono::DateTime::from);
        let content = NewContent {
            blob: self.blob.as_str().to_string(),
            size: self.written,
            modified: mtime.unwrap_or_else(|| self.fs.shared().clock.now()),
            create_new: self.create_new,
        };
        self.fs.commit(&self.key, &content).await?;
        self.committed = true;
        self.modified = content.modified;
        if let Some(context) = context.filter(|_| mtime.is_some()) {
            context.note_mtime_applied();
        }
        let (store, user) = (&self.fs.shared().store, &self.fs.user);
        record_properties(store, user, &self.key, verified, self.created).await;
        Ok(())
    }
}

impl Drop for ObjectWriter {
    /// An upload that never committed: abort its multipart upload, remove what was written and
    /// forget the pending mark (or leave it to the collector if the store cannot be reached).
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let writer = self.writer.take();
        let (shared, blob, at) = (self.fs.shared_arc(), self.blob.clone(), self.started);
        runtime.spawn(async move {
            if let Some((mut writer, _slot)) = writer {
                let _ = writer.abort().await;
            }
            if let Err(e) = shared.store.object_abandon(blob.as_str(), at).await {
                tracing::warn!("abandoned upload {} left to the collector: {e}", blob.as_str());
                return;
            }
            if shared.blobs.delete(&blob).await.is_ok() {
                let _ = shared.store.object_collected(blob.as_str()).await;
            }
        });
    }
}

impl DavFile for ObjectWriter {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let entry = ObjectEntry {
            path: self.key.clone(),
            is_dir: false,
            size: self.written,
            modified: self.modified,
            blob: Some(self.blob.as_str().to_string()),
        };
        let meta: Box<dyn DavMetaData> = Box::new(Meta::of(&entry));
        Box::pin(std::future::ready(Ok(meta)))
    }
    fn write_buf(&mut self, mut buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        self.write(bytes).boxed()
    }
    fn write_bytes(&mut self, buf: bytes::Bytes) -> FsFuture<'_, ()> {
        self.write(buf).boxed()
    }
    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, bytes::Bytes> {
        Box::pin(std::future::ready(Err(FsError::Forbidden)))
    }
    fn seek(&mut self, _pos: SeekFrom) -> FsFuture<'_, u64> {
        // Partial writes are refused before dav-server opens the file (limits.rs).
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        self.finish().boxed()
    }
}
