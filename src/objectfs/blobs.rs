//! The bucket: immutable blobs under opaque keys, through OpenDAL's S3 service.
//!
//! A blob is written once under a fresh random key (`blobs/` + 128 random bits in hex, below
//! the location's prefix) and never changed: a PUT makes a new blob and the store repoints the
//! file at it, so a reader in the middle of a GET keeps reading the old one until the garbage
//! collector removes it after a grace period. Nothing about a file (its name, folder, size,
//! time) is in the bucket; the bucket alone is not a browsable copy.

use futures_util::Stream;
use opendal::Operator;
use opendal::layers::TimeoutLayer;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use super::blob_error::BlobError;
use super::location::ObjectsLocation;
use super::multipart::Multipart;

/// The part an upload holds in memory before sending it (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

/// Uploads to the bucket in flight on this node at once: each holds one [`PART_SIZE`] at most
/// (`super::upload`), so uploads take at most 32 MiB of a node's memory.
pub const UPLOADS_IN_FLIGHT: usize = 4;

/// How long one bucket request (not a body transfer) may take before it counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// An opaque blob key, relative to the location's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobKey(String);

impl BlobKey {
    /// A fresh key: 128 random bits, so that no two uploads of any node ever share one.
    pub fn fresh() -> Self {
        Self(format!("blobs/{}", uuid::Uuid::new_v4().simple()))
    }
    /// A key read back from the store.
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }
    /// The key as stored and sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The bucket of a node: one OpenDAL operator, the cap on uploads in flight, and the signed
/// multipart requests OpenDAL lacks (for the collector).
#[derive(Clone)]
pub struct Blobs {
    op: Operator,
    uploads: Arc<Semaphore>,
    multipart: Arc<Multipart>,
}

impl Blobs {
    /// The bucket at `location` (no request is made here).
    pub fn new(location: &ObjectsLocation) -> Result<Self, BlobError> {
        let builder = opendal::services::S3::default()
            .bucket(&location.bucket)
            .root(&format!("/{}", location.prefix))
            .endpoint(&location.endpoint)
            .region(&location.region)
            .access_key_id(&location.access_key_id)
            .secret_access_key(location.secret_access_key.expose())
            .disable_config_load()
            .disable_ec2_metadata();
        let op = Operator::new(builder)
            .map_err(|e| BlobError::Failed(e.to_string()))?
            .layer(TimeoutLayer::new().with_timeout(REQUEST_TIMEOUT))
            .finish();
        let multipart = Arc::new(Multipart::new(location)?);
        Ok(Self { op, uploads: Arc::new(Semaphore::new(UPLOADS_IN_FLIGHT)), multipart })
    }

    /// Waits for one of the node's upload slots (released when the permit is dropped).
    pub async fn upload_slot(&self) -> Result<OwnedSemaphorePermit, BlobError> {
        Arc::clone(&self.uploads)
            .acquire_owned()
            .await
            .map_err(|_| BlobError::Failed("upload slots closed".into()))
    }

    /// The signed multipart requests (the uploads' parts, the collector's abort).
    pub(super) fn multipart(&self) -> &Multipart {
        &self.multipart
    }

    /// The bytes of `range` of a blob, as a stream of chunks (one ranged GET).
    pub async fn read(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin + use<>, BlobError>
    {
        let reader = self.op.reader(key.as_str()).await?;
        Ok(reader.into_bytes_stream(range).await?)
    }

    /// Checks that a blob is there (and that the bucket answers) before a download starts: a
    /// failure then is a 503, not a body cut off after its 200.
    pub async fn check(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.op.stat(key.as_str()).await?;
        Ok(())
    }

    /// A server-side copy (no byte through this node).
    pub async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), BlobError> {
        Ok(self.op.copy(from.as_str(), to.as_str()).await?)
    }

    /// Removes a blob (removing one that is gone is not an error).
    pub async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        Ok(self.op.delete(key.as_str()).await?)
    }

    /// Aborts every multipart upload still open on `key` (an upload that never finished);
    /// returns how many there were.
    pub async fn abort_uploads(&self, key: &BlobKey) -> Result<usize, BlobError> {
        let open = self.multipart.open_on(key.as_str()).await?;
        for upload_id in &open {
            self.multipart.abort(key.as_str(), upload_id).await?;
        }
        Ok(open.len())
    }

    /// Writes a whole small blob in one request (the empty file of a zero-length PUT).
    pub async fn write_small(&self, key: &BlobKey, bytes: bytes::Bytes) -> Result<(), BlobError> {
        self.op.write(key.as_str(), bytes).await?;
        Ok(())
    }
}
