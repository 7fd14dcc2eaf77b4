//! Files on S3-compatible object storage (`--files s3://…`, issue 12), against moto's real S3
//! server on loopback ([`crate::s3_util`]) and the PostgreSQL store: litmus, round trips,
//! atomic uploads, request counts measured at the S3 server, and an unreachable bucket.

use crate::s3_util::{KEYS, Moto, available};
use crate::util::*;
use davgate::internal::TestDatabase;
use std::time::{Duration, Instant};

/// A davgate node with its files in moto's bucket and its store in a fresh PostgreSQL database.
pub struct S3Node {
    pub server: TestServer,
    pub moto: Moto,
    pub db: TestDatabase,
    pub runtime: tokio::runtime::Runtime,
    /// Alice's whole-home app password.
    pub pw: String,
}

impl S3Node {
    /// None when PostgreSQL or moto is not there and the run says to skip them.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// The same, with more `serve` flags.
    pub fn start_with(flags: &[&str]) -> Option<Self> {
        if !available() {
            return None;
        }
        Self::start_on(Moto::start(), &KEYS, flags)
    }

    /// A node on `moto`, signing with `keys` (as [`KEYS`] names them).
    pub fn start_on(moto: Moto, keys: &[(&str, &str)], flags: &[&str]) -> Option<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = runtime.block_on(TestDatabase::create())?;
        let files = moto.files("node");
        let mut args = vec!["--store", db.url(), "--files", &files];
        args.extend(flags);
        let server =
            TestServer::start_with_env(tempfile::tempdir().unwrap(), "127.0.0.1:0", &args, keys);
        server.add_user("alice");
        let pw = server.app_password("alice", "s3");
        Some(Self { server, moto, db, runtime, pw })
    }

    pub fn req(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        self.server.as_user("alice", &self.pw, method, path)
    }

    pub fn put(&self, path: &str, body: impl Into<reqwest::blocking::Body>) -> u16 {
        status(self.req("PUT", path).body(body).send())
    }

    pub fn get(&self, path: &str) -> Vec<u8> {
        let res = self.req("GET", path).send().unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.bytes().unwrap().to_vec()
    }

    pub fn propfind(&self, path: &str) -> (u16, String) {
        let res = self.req("PROPFIND", path).header("Depth", "1").send().unwrap();
        (res.status().as_u16(), res.text().unwrap())
    }

    /// Waits (up to 10 s) until the bucket holds `n` keys; returns them.
    pub fn keys_settle_at(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let keys = self.moto.keys();
            if keys.len() == n || Instant::now() > deadline {
                return keys;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn litmus_passes_every_test_with_files_on_object_storage() {
    if !crate::litmus::available() {
        return;
    }
    let Some(node) = S3Node::start() else { return };
    let url = format!("{}/dav/", node.server.base);
    crate::litmus::assert_passes(&url, "alice", &node.pw, node.server.dir());
}

#[test]
fn a_file_on_object_storage_round_trips_whole_and_by_ranges() {
    let Some(node) = S3Node::start() else { return };
    // 20 MiB: three parts of at most 8 MiB.
    let big = pattern(20 << 20, 7);
    assert_eq!(node.put("/dav/big.bin", big.clone()), 201);
    assert_eq!(node.get("/dav/big.bin"), big);
    let res =
        node.req("GET", "/dav/big.bin").header("Range", "bytes=9000000-9000009").send().unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().unwrap().to_vec(), big[9_000_000..9_000_010].to_vec());
    let etag = |n: &S3Node| {
        let res = n.req("HEAD", "/dav/big.bin").send().unwrap();
        res.headers()["etag"].to_str().unwrap().to_string()
    };
    let before = etag(&node);
    assert_eq!(node.put("/dav/big.bin", "small now"), 204);
    assert_eq!(node.get("/dav/big.bin"), b"small now");
    assert_ne!(etag(&node), before, "a new content has a new ETag");
    assert_eq!(node.put("/dav/empty.txt", ""), 201);
    assert_eq!(node.get("/dav/empty.txt"), b"");
    assert_eq!(node.open_uploads_now(), 0);
    assert!(!node.server.log().contains("test-secret"), "the secret key was logged");
}

impl S3Node {
    fn open_uploads_now(&self) -> usize {
        self.moto.open_uploads()
    }
}

#[test]
fn moving_a_folder_of_many_files_and_listing_it_make_no_bucket_request() {
    let Some(node) = S3Node::start() else { return };
    assert_eq!(status(node.req("MKCOL", "/dav/many/").send()), 201);
    // Seeded by four clients at once: 1,000 PUTs one after the other take ~20 s through moto.
    std::thread::scope(|s| {
        for first in 0..4 {
            let node = &node;
            s.spawn(move || {
                for i in (first..1000).step_by(4) {
                    assert_eq!(node.put(&format!("/dav/many/f{i}.txt"), format!("file {i}")), 201);
                }
            });
        }
    });
    let before = node.moto.bucket_requests();
    // Counted at the server: each small PUT was one PutObject, nothing more.
    let (creation, policy) = (1, 1);
    assert_eq!(before, creation + policy + 1000, "one request per PUT:\n{}", node.moto.log());
    let started = Instant::now();
    let res = node
        .req("MOVE", "/dav/many/")
        .header("Destination", format!("{}/dav/moved/", node.server.base))
        .send()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 201);
    assert!(took < Duration::from_secs(2), "MOVE of 1,000 files took {took:?}");
    let (code, listing) = node.propfind("/dav/moved/");
    assert_eq!(code, 207);
    assert_eq!(listing.matches("<D:response>").count(), 1001, "{listing}");
    std::thread::sleep(Duration::from_millis(300)); // moto writes its log line after answering
    assert_eq!(node.moto.bucket_requests(), before, "MOVE and PROPFIND reached the bucket");
    assert_eq!(node.get("/dav/moved/f999.txt"), b"file 999");
    assert_eq!(status(node.req("GET", "/dav/many/f1.txt").send()), 404);
}

#[test]
fn a_put_cut_off_mid_body_leaves_the_old_content_and_nothing_new() {
    use std::io::Write;
    let Some(node) = S3Node::start() else { return };
    assert_eq!(node.put("/dav/doc.txt", "old content"), 201);
    let mut stream = raw_put(&node.server, &node.pw, "/dav/doc.txt", 12 << 20, "new");
    stream.write_all(&pattern(9 << 20, 1)).unwrap(); // more than one part was sent
    drop(stream);
    let mut fresh = raw_put(&node.server, &node.pw, "/dav/new.txt", 1000, "only a start");
    fresh.flush().unwrap();
    drop(fresh);
    let keys = node.keys_settle_at(1);
    assert_eq!(keys.len(), 1, "only the old blob stays: {keys:?}");
    assert_eq!(node.get("/dav/doc.txt"), b"old content");
    assert_eq!(status(node.req("GET", "/dav/new.txt").send()), 404);
    assert_eq!(node.moto.uploads_settle(), 0, "the multipart upload was aborted");
}

#[test]
fn an_unreachable_bucket_answers_503_while_listings_keep_working() {
    let Some(mut node) = S3Node::start() else { return };
    assert_eq!(node.put("/dav/a.txt", "kept"), 201);
    node.moto.stop();
    let res = node.req("GET", "/dav/a.txt").send().unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let res = node.req("PUT", "/dav/b.txt").body("new").send().unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let res = node
        .req("COPY", "/dav/a.txt")
        .header("Destination", format!("{}/dav/c.txt", node.server.base))
        .send()
        .unwrap();
    assert_eq!(res.status(), 503);
    let (code, listing) = node.propfind("/dav/");
    assert_eq!(code, 207);
    assert!(listing.contains("a.txt") && !listing.contains("b.txt"), "{listing}");
    assert_eq!(status(node.req("MKCOL", "/dav/still/").send()), 201);
}

#[test]
fn files_on_object_storage_without_the_postgresql_store_are_refused_clearly() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .arg("--data")
        .arg(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--files", "s3://b/p?endpoint=http://127.0.0.1:9&region=r"])
        .env_remove("DAVGATE_STORE")
        .envs(KEYS)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("needs --store postgres"), "{text}");
    assert!(!text.contains("test-secret"));
}

#[test]
fn files_on_object_storage_without_credentials_are_refused_clearly() {
    let data = tempfile::tempdir().unwrap();
    let out = davgate(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--files", "s3://b?endpoint=http://127.0.0.1:9"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SECRET_ACCESS_KEY_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
}
