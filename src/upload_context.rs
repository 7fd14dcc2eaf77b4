//! What an upload is held to beyond its body, wherever its bytes go (a home on disk,
//! [`crate::dav`]'s atomic uploads; a bucket, [`crate::objectfs`]): `X-OC-Mtime`, a verified
//! `OC-Checksum` (kept for `oc:checksums`), and the credential asked again before the commit.
//! One [`UploadContext`] per request carries what was asked and what became of it, which the
//! mount reads back to shape the answer.

use dav_server::fs::{FsError, FsResult};
use futures_util::future::BoxFuture;
use sha1::Digest;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::Denied;
use crate::store::{DeadProp, Durability, PatchOutcome, Store, UserName};

/// The ownCloud namespace, where rclone looks for `checksums`.
const OC_NS: &str = "http://owncloud.org/ns";

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
    pub(crate) async fn reconfirm(&self) -> FsResult<()> {
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

    /// Notes that the body did not match its `OC-Checksum`: the upload stores nothing.
    pub(crate) fn note_checksum_mismatch(&self) {
        self.checksum_mismatch.store(true, Ordering::Release);
    }

    /// Notes that the file was stored with the `X-OC-Mtime` asked for.
    pub(crate) fn note_mtime_applied(&self) {
        self.mtime_applied.store(true, Ordering::Release);
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

    /// Feeds the next bytes of the body.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.md5.update(data);
    }

    /// `Ok("SHA1:… MD5:…")` when the data matched the expected checksum, else `Err`.
    pub(crate) fn finish(self) -> Result<String, ()> {
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

/// After an upload committed at `key`: a file it `created` starts without properties (stale
/// ones, left when a file was deleted outside davgate, are dropped); then its verified
/// `checksum` label is remembered for `oc:checksums` (rclone compares it), or a stale one
/// forgotten. A failure is logged: the upload itself already succeeded.
pub(crate) async fn record_properties(
    store: &Store,
    user: &UserName,
    key: &str,
    checksum: Option<String>,
    created: bool,
) {
    if created
        && store.dead_props(user, key).await.is_ok_and(|p| !p.is_empty())
        && let Err(e) = store.delete_dead_props(user, key).await
    {
        tracing::error!("cannot drop stale properties of a new file: {e}");
    }
    let prop_key = DeadProp::key(Some(OC_NS), "checksums");
    let patch = match checksum {
        Some(label) => {
            let xml = format!(
                "<oc:checksums xmlns:oc=\"{OC_NS}\"><oc:checksum>{label}</oc:checksum></oc:checksums>"
            );
            (true, checksums_prop(Some(xml.into_bytes())))
        }
        None => match store.dead_prop(user, key, &prop_key).await {
            Ok(Some(_)) => (false, checksums_prop(None)),
            _ => return,
        },
    };
    match store.patch_dead_props(user, key, vec![patch]).await {
        Ok(PatchOutcome::Stored) => {}
        Ok(PatchOutcome::Refused(_)) => tracing::warn!("an upload's checksum was not kept"),
        Err(e) => tracing::error!("cannot record the checksum of an upload: {e}"),
    }
}

fn checksums_prop(xml: Option<Vec<u8>>) -> DeadProp {
    DeadProp {
        namespace: Some(OC_NS.to_string()),
        name: "checksums".to_string(),
        prefix: Some("oc".to_string()),
        xml,
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
