//! Files on S3-compatible object storage: the namespace in the store, the contents in a bucket.
//!
//! Mapping WebDAV paths onto object keys (as `dav-server-opendalfs` does) loses what clients
//! rely on: S3 has no rename, a listing costs a request per entry, a cut-off upload leaves a
//! billed multipart upload. Here, as in Nextcloud's primary storage, folders, names, sizes and
//! times are rows in the store ([`crate::store::ObjectEntry`]) and each file's content is an
//! immutable blob under an opaque random key ([`blobs`]):
//!
//! - PUT records the new blob as pending, streams it to the bucket in parts of
//!   [`blobs::PART_SIZE`] (one part held per upload, [`upload`]; a per-node cap on uploads),
//!   then one store transaction points the file at it, queues the replaced blob for
//!   collection after [`GRACE`], and clears the pending mark. A cut-off upload is aborted and its blob queued;
//!   a node killed mid-upload leaves the pending row for the collector ([`gc`]), which also
//!   aborts the multipart upload it left open ([`multipart`]).
//! - MOVE of a file or a folder of any size and DELETE of a folder are one transaction each;
//!   COPY copies blobs server-side. PROPFIND is answered from the store alone.
//! - An unreachable bucket makes GET/PUT/COPY answer 503 with `Retry-After` ([`fs::ObjectFs`]
//!   notes it; the mount answers); listings, properties and locks keep working.

mod blob_error;
pub mod blobs;
mod file;
mod filesystem;
pub mod fs;
pub mod gc;
pub mod import;
mod local_root;
pub mod location;
mod meta;
mod multipart;
pub mod upload;

use std::sync::Arc;

use crate::clock::Clock;
use crate::store::{Store, UserName};
pub use blobs::{BlobError, Blobs};
pub use fs::ObjectFs;
pub use gc::Collected;
pub use location::{LocationError, ObjectsLocation, ProcessEnvironment};

/// How long a replaced or deleted blob stays in the bucket: a download that began before the
/// change keeps a consistent file for at least this long.
pub const GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// How long an upload may stay pending before the collector takes it for a dead node's: far
/// longer than any upload takes (a 4.5 GiB PUT at 1 MiB/s is under 80 minutes).
pub const PENDING_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Why files on object storage cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Their namespace lives in PostgreSQL; the embedded store has none yet.
    #[error("--files s3://… needs --store postgres://… (the file names and folders live there)")]
    NeedsPostgres,
    /// The bucket's client cannot be set up.
    #[error(transparent)]
    Bucket(#[from] BlobError),
}

/// Sets up `location` for a serving node, with a collector task removing garbage blobs.
pub fn start(
    location: &ObjectsLocation,
    store: &Store,
    clock: &Clock,
    node: &crate::node::NodeId,
) -> Result<Arc<ObjectFiles>, StartError> {
    if store.path().is_some() {
        return Err(StartError::NeedsPostgres);
    }
    let blobs = Blobs::new(location)?;
    let objects = ObjectFiles::new(store.clone(), blobs, clock.clone(), node.to_string());
    gc::spawn(Arc::downgrade(&objects), clock.clone());
    Ok(objects)
}

/// What every user's [`ObjectFs`] on this node shares: the store, the bucket, the clock.
pub struct ObjectFiles {
    store: Store,
    blobs: Blobs,
    clock: Clock,
    /// This node's name, recorded with each pending upload (which node to ask, in logs).
    node: String,
    /// When the server started: the home folder's modification time, and what tells the
    /// uploads this node left pending before a restart ([`gc`]).
    started: std::time::SystemTime,
    /// One collection at a time on this node (the timer's or `davgate files gc`).
    collecting: tokio::sync::Mutex<()>,
}

impl ObjectFiles {
    /// Files of every user in `blobs`, their namespace in `store` (which must be PostgreSQL).
    pub fn new(store: Store, blobs: Blobs, clock: Clock, node: String) -> Arc<Self> {
        let started = clock.now().into();
        let collecting = tokio::sync::Mutex::new(());
        Arc::new(Self { store, blobs, clock, node, started, collecting })
    }

    /// `user`'s files, for one request.
    pub fn for_user(self: &Arc<Self>, user: &UserName) -> Box<ObjectFs> {
        ObjectFs::new(Arc::clone(self), user.clone())
    }
}
