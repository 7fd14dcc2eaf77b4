//! The files root a test server serves, for the tests that run on both: the local disk (what
//! `TestServer::start` gives), or moto's bucket ([`crate::s3_util`]) with the namespace in a
//! fresh PostgreSQL database (`--files s3://…`). Without `DAVGATE_TEST_POSTGRES` or moto the
//! bucket's runs are skipped with a message.

use crate::s3_util::{BUCKET, KEYS, Moto};
use crate::util::TestServer;
use davgate::internal::TestDatabase;
use std::collections::BTreeMap;

/// Where a server keeps its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesRoot {
    /// `<data>/files`, the default.
    Disk,
    /// A bucket on moto, names and folders in PostgreSQL.
    S3,
}

/// A running server on one files root; derefs to its [`TestServer`].
pub struct Served {
    pub server: TestServer,
    bucket: Option<Bucket>,
}

struct Bucket {
    moto: Moto,
    db: TestDatabase,
    runtime: tokio::runtime::Runtime,
}

/// What a home holds, read from the storage itself (not through WebDAV): each file by its path
/// relative to the home, with its bytes and modification time in Unix seconds.
pub type Stored = BTreeMap<String, (Vec<u8>, u64)>;

impl std::ops::Deref for Served {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl Served {
    /// A server on `root`; None (with a message) when the bucket's tools are not there.
    pub fn start(root: FilesRoot) -> Option<Self> {
        if root == FilesRoot::Disk {
            return Some(Self { server: TestServer::start(), bucket: None });
        }
        if std::env::var_os("DAVGATE_TEST_POSTGRES").is_none() {
            eprintln!("files on S3 skipped: DAVGATE_TEST_POSTGRES is not set");
            return None;
        }
        if !moto_installed() {
            eprintln!("files on S3 skipped: moto is not installed (run .ci/run)");
            return None;
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = runtime.block_on(TestDatabase::create())?;
        let moto = Moto::start();
        let files = moto.files("files");
        let server = TestServer::start_with_env(
            tempfile::tempdir().unwrap(),
            "127.0.0.1:0",
            &["--store", db.url(), "--files", &files],
            &KEYS,
        );
        Some(Self { server, bucket: Some(Bucket { moto, db, runtime }) })
    }

    /// Whether the files are in a bucket.
    pub fn on_s3(&self) -> bool {
        self.bucket.is_some()
    }

    /// The size of the file at `rel` in `user`'s home as stored, None if there is no file.
    pub fn stored_file(&self, user: &str, rel: &str) -> Option<u64> {
        match &self.bucket {
            None => {
                let meta = std::fs::metadata(self.server.home(user).join(rel)).ok()?;
                meta.is_file().then_some(meta.len())
            }
            Some(_) => self.rows(user).into_iter().find(|r| r.0 == rel).map(|r| r.1),
        }
    }

    /// Uploads left half-done: temporary files in the home, or open multipart uploads.
    pub fn unfinished_uploads(&self, user: &str) -> Vec<String> {
        match &self.bucket {
            None => crate::clients::temp_files_settled(&self.server.home(user)),
            Some(b) => {
                // An aborted upload is aborted just after its answer: give it a moment.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
                while b.moto.open_uploads() > 0 && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                (0..b.moto.open_uploads()).map(|n| format!("multipart upload {n}")).collect()
            }
        }
    }

    /// Every file of `user`'s home as stored (on disk, or namespace rows and their blobs).
    pub fn stored_tree(&self, user: &str) -> Stored {
        let Some(b) = &self.bucket else {
            return crate::rclone::disk_tree(&self.server.home(user));
        };
        let mut out = Stored::new();
        for (rel, _, mtime, blob) in self.rows(user) {
            let url = b.moto.url(&format!("/{BUCKET}/files/{blob}"));
            let got = reqwest::blocking::get(url).unwrap();
            assert!(got.status().is_success(), "{rel}: blob {blob} unreadable: {}", got.status());
            let bytes = got.bytes().unwrap().to_vec();
            out.insert(rel, (bytes, mtime));
        }
        out
    }

    /// `user`'s file rows: (path relative to the home, unescaped; size; mtime; blob key).
    fn rows(&self, user: &str) -> Vec<(String, u64, u64, String)> {
        let Some(b) = &self.bucket else { return Vec::new() };
        b.runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(b.db.url(), tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(conn);
            let rows = client
                .query(
                    "SELECT path, size, modified, blob FROM object_entries
                     WHERE owner = $1 AND NOT is_dir ORDER BY path",
                    &[&user],
                )
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    let path: String = r.get(0);
                    let size: i64 = r.get(1);
                    let modified: chrono::DateTime<chrono::Utc> = r.get(2);
                    let rel = unescape(path.trim_start_matches('/'));
                    (rel, size as u64, modified.timestamp() as u64, r.get(3))
                })
                .collect()
        })
    }
}

/// Whether moto is where `crate::s3_util` starts it from.
fn moto_installed() -> bool {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/target/moto-venv/bin/moto_server");
    let path = std::env::var_os("DAVGATE_TEST_MOTO").unwrap_or_else(|| default.into());
    std::path::Path::new(&path).exists()
}

/// A namespace key's escapes (`%C3%A9`) undone.
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = key.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 names")
}
