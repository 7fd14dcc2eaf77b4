//! `davgate files gc`: one pass of the object-storage collector now, on the running server
//! (which holds the bucket's keys), answering what it removed ([`crate::objectfs::gc`]).

use super::OpError;
use super::operations::{Admin, Kind};
use crate::objectfs::Collected;

impl Admin {
    /// Runs the garbage collector of files on object storage once, now.
    pub async fn collect_garbage(&self) -> Result<Collected, OpError> {
        let Some(objects) = self.objects() else {
            return Err(OpError::NoObjectStorage(
                "this server keeps its files on a local disk (--files is not s3://…): there is \
                 no bucket to collect"
                    .into(),
            ));
        };
        let done = objects.collect_garbage().await?;
        self.record(Kind::Change, || {
            format!("files gc: {} removed, ran={}", done.removed.len(), done.ran)
        });
        Ok(done)
    }
}
