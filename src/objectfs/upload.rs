//! One blob being written: the bytes gathered into a single part buffer, sent as a multipart
//! part each time it fills, so an upload holds at most one part ([`PART_SIZE`]) whatever its
//! size and however the body arrives.
//!
//! The body is copied into the part rather than kept as the chunks it arrived in: a chunk of
//! the client's body shares the connection's whole read buffer, and holding a part's worth of
//! them kept several times the part alive. While a part is being sent the body is not read
//! (TCP holds the client back), so memory is `uploads in flight × PART_SIZE`. A blob smaller
//! than one part is a single PutObject.

use bytes::BytesMut;

use super::blob_error::BlobError;
use super::blobs::{BlobKey, Blobs, PART_SIZE};

/// A blob being uploaded; [`BlobUpload::finish`] makes it appear whole, [`BlobUpload::abort`]
/// (or the collector, for a node killed mid-upload) ends its multipart upload.
pub struct BlobUpload {
    blobs: Blobs,
    key: BlobKey,
    part: BytesMut,
    /// The blob's size when the request announced it: a part buffer is never larger than what
    /// is left to come (a 4 KiB file does not map 8 MiB).
    announced: Option<u64>,
    /// Bytes already sent in parts.
    sent: u64,
    /// Set once the first part is full (a smaller blob never starts a multipart upload).
    upload_id: Option<String>,
    /// The ETags of the parts sent, in order.
    etags: Vec<String>,
}

impl BlobUpload {
    /// An upload of a new blob at `key`, of `announced` bytes if the request said so (no
    /// request is made until a part is full).
    pub fn new(blobs: &Blobs, key: &BlobKey, announced: Option<u64>) -> Self {
        let (blobs, key) = (blobs.clone(), key.clone());
        let part = BytesMut::new();
        Self { blobs, key, part, announced, sent: 0, upload_id: None, etags: Vec::new() }
    }

    /// The room the next part buffer needs: a whole part, or what is announced to be left.
    fn part_capacity(&self) -> usize {
        let left = self.announced.map_or(u64::MAX, |size| size.saturating_sub(self.sent));
        usize::try_from(left).map_or(PART_SIZE, |left| left.clamp(1, PART_SIZE))
    }

    /// Adds `bytes` to the blob, sending each part as it fills.
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), BlobError> {
        while !bytes.is_empty() {
            if self.part.capacity() == 0 {
                self.part.reserve(self.part_capacity());
            }
            let room = PART_SIZE - self.part.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.part.extend_from_slice(now);
            bytes = rest;
            if self.part.len() == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends the part gathered so far (starting the multipart upload with the first one).
    async fn send_part(&mut self) -> Result<(), BlobError> {
        let multipart = self.blobs.multipart();
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = multipart.create(self.key.as_str()).await?;
                self.upload_id.insert(id).clone()
            }
        };
        let body = std::mem::take(&mut self.part).freeze();
        self.sent += body.len() as u64;
        let number = self.etags.len() + 1;
        let etag = multipart.upload_part(self.key.as_str(), &upload_id, number, body).await?;
        self.etags.push(etag);
        Ok(())
    }

    /// Sends what is left and completes the blob (an empty or small one in one request).
    pub async fn finish(&mut self) -> Result<(), BlobError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let whole = std::mem::take(&mut self.part).freeze();
            return self.blobs.write_small(&self.key, whole).await;
        };
        if !self.part.is_empty() {
            self.send_part().await?;
        }
        self.blobs.multipart().complete(self.key.as_str(), &upload_id, &self.etags).await?;
        self.upload_id = None;
        Ok(())
    }

    /// Ends the multipart upload, if one was started, so its parts are not kept (and billed).
    pub async fn abort(&mut self) -> Result<(), BlobError> {
        self.part = BytesMut::new();
        match self.upload_id.take() {
            Some(upload_id) => self.blobs.multipart().abort(self.key.as_str(), &upload_id).await,
            None => Ok(()),
        }
    }
}
