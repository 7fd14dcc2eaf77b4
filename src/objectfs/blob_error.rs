//! [`BlobError`]: why a bucket operation failed, in the terms the WebDAV layer answers (503 for
//! an unreachable bucket, 404 for a lost blob, 500 for the rest), whichever client made it
//! (OpenDAL's operator, or the collector's signed multipart requests).

use opendal::ErrorKind;

/// Why a bucket operation failed, as the WebDAV layer answers it.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The server cannot be reached or answered that it is busy: 503 with `Retry-After`.
    #[error("the object storage is unreachable: {0}")]
    Unavailable(String),
    /// The blob is not there (the store points at a blob the bucket lost).
    #[error("blob not found: {0}")]
    NotFound(String),
    /// Anything else the server refused (credentials, a bucket that does not exist, …).
    #[error("object storage: {0}")]
    Failed(String),
}

impl From<opendal::Error> for BlobError {
    fn from(e: opendal::Error) -> Self {
        match e.kind() {
            ErrorKind::NotFound => BlobError::NotFound(e.to_string()),
            ErrorKind::RateLimited => BlobError::Unavailable(e.to_string()),
            _ if e.is_temporary() => BlobError::Unavailable(e.to_string()),
            _ => BlobError::Failed(e.to_string()),
        }
    }
}
