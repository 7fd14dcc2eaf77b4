//! Crash safety and the garbage collector of files on object storage (issue 12), against moto's
//! real S3 server ([`crate::s3_util`]) and PostgreSQL: a node SIGKILLed in the middle of a
//! 200 MiB PUT over a file serves the old content after its restart and its collector removes
//! what the upload left (the blob and the open multipart upload); a replaced blob leaves the
//! bucket after its grace period on the server's clock, not before, while a download that began
//! before the change reads the old bytes to the end; one node collects at a time.
//!
//! The restarted node and the clocked ones run in-process on a `ManualClock` ([`InProcess`]):
//! nothing sleeps out the 15-minute grace period, and no collection happens unless the test
//! moves the clock or runs `davgate files gc`.

use crate::s3_util::{BUCKET, KEYS, Moto, available};
use crate::util::*;
use davgate::internal::TestDatabase;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// The node id of every server here: a restarted node knows its own leftovers by it.
const NODE: &str = "s3-crash-node";

/// A bucket in moto and a namespace database, outliving the servers started on them.
struct Shared {
    moto: Moto,
    db: TestDatabase,
    runtime: tokio::runtime::Runtime,
}

impl Shared {
    /// None when PostgreSQL or moto is not there and the run says to skip them.
    fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = runtime.block_on(TestDatabase::create())?;
        Some(Self { moto: Moto::start(), db, runtime })
    }

    /// `davgate serve` as a child process (one a test can SIGKILL).
    fn process(&self) -> TestServer {
        let files = self.moto.files("node");
        let args = ["--store", self.db.url(), "--files", &files, "--node-id", NODE];
        TestServer::start_with_env(tempfile::tempdir().unwrap(), "127.0.0.1:0", &args, &KEYS)
    }

    /// A server in this process on a manual clock, on `data`, the same database and bucket.
    fn in_process(&self, data: tempfile::TempDir, node: &str) -> InProcess {
        let location = davgate::ObjectsLocation {
            bucket: BUCKET.into(),
            prefix: "node".into(),
            endpoint: self.moto.url(""),
            region: "us-east-1".into(),
            access_key_id: KEYS[0].1.into(),
            secret_access_key: davgate::Secret::new(KEYS[1].1.into()),
        };
        let (url, node) = (self.db.url().to_string(), davgate::NodeId::parse(node).unwrap());
        InProcess::start_in(data, move |options| {
            let store = davgate::StoreLocation::parse(Some(&url), &options.data_dir).unwrap();
            options.store = Some(store);
            options.objects = Some(location);
            options.node_id = Some(node);
        })
    }

    /// One number from the namespace database (`SELECT count(*) …`).
    fn count(&self, sql: &str) -> i64 {
        self.runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(self.db.url(), tokio_postgres::NoTls).await.unwrap();
            let driving = tokio::spawn(connection);
            let n: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
            drop(client);
            let _ = driving.await;
            n
        })
    }

    /// The blob keys in the bucket, below the node's prefix.
    fn blobs(&self) -> Vec<String> {
        let mut keys = self.moto.keys();
        keys.sort();
        keys
    }

    /// Waits (up to 10 s) until the bucket holds `n` keys; returns them.
    fn blobs_settle_at(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let keys = self.blobs();
            if keys.len() == n || Instant::now() > deadline {
                return keys;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// `user`'s requests on a server at `base`.
struct Dav {
    base: String,
    user: String,
    pw: String,
    client: reqwest::blocking::Client,
}

impl Dav {
    fn new(base: &str, user: &str, pw: &str) -> Self {
        let client =
            reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        Self { base: base.into(), user: user.into(), pw: pw.into(), client }
    }

    fn req(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", self.base);
        self.client.request(method, url).basic_auth(&self.user, Some(&self.pw))
    }

    fn put(&self, path: &str, body: Vec<u8>) -> u16 {
        status(self.req("PUT", path).body(body).send())
    }

    fn get(&self, path: &str) -> Vec<u8> {
        let res = self.req("GET", path).send().unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.bytes().unwrap().to_vec()
    }

    /// A PUT of `length` bytes whose head is sent, the body left to the caller.
    fn raw_put(&self, path: &str, length: usize) -> std::net::TcpStream {
        let host = self.base.strip_prefix("http://").unwrap();
        let request = self.req("PUT", path).build().unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap().to_string();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
             Content-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream
    }
}

/// `davgate files gc --json` on the server of `data`: what it removed.
fn files_gc(data: &std::path::Path) -> serde_json::Value {
    let out = ok(&cli(data, &["files", "gc", "--json"]));
    serde_json::from_str(&out).unwrap()
}

fn removed(done: &serde_json::Value) -> Vec<String> {
    let keys = done["removed"].as_array().unwrap().iter();
    keys.map(|k| format!("node/{}", k.as_str().unwrap())).collect()
}

/// Waits (up to 30 s) for `check`.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a node SIGKILLed in the middle of a 200 MiB PUT over a file left.
struct Killed {
    pw: String,
    /// The file's content before the PUT.
    old: Vec<u8>,
    /// The bucket's keys before the PUT (the old content's blob).
    live: Vec<String>,
}

/// Starts a node (a child process), PUTs a file, then 200 MiB over it with a slow body, and
/// SIGKILLs the node half-way; hands back its data directory too, to start it again.
fn killed_mid_put(shared: &Shared) -> (Killed, tempfile::TempDir) {
    let server = shared.process();
    server.add_user("alice");
    let pw = server.app_password("alice", "s3");
    let dav = Dav::new(&server.base, "alice", &pw);
    // The old content: 10 MiB, itself a multipart upload of two parts.
    let old = pattern(10 * MIB, 3);
    assert_eq!(dav.put("/dav/video.bin", old.clone()), 201);
    let live = shared.blobs();
    assert_eq!(live.len(), 1, "{live:?}");

    // 200 MiB over it, streamed slowly from one reused 1 MiB buffer (nothing on disk here).
    let mut upload = dav.raw_put("/dav/video.bin", 200 * MIB);
    let chunk = pattern(MIB, 9);
    for _ in 0..100 {
        upload.write_all(&chunk).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    // Half-way: the multipart upload is open in the bucket, parts sent.
    wait_for("a multipart upload open", || shared.moto.open_uploads() == 1);
    let data = server.kill_keeping_data();
    drop(upload);
    (Killed { pw, old, live }, data)
}

impl Shared {
    /// What the killed upload left: its pending mark and its open multipart upload, no blob.
    fn assert_left_by_the_killed_upload(&self, killed: &Killed) {
        let pending = self.count("SELECT count(*) FROM object_pending");
        assert_eq!(pending, 1, "the killed upload is pending for the collector");
        assert_eq!(self.moto.open_uploads(), 1);
        assert_eq!(self.blobs(), killed.live);
    }

    /// `done` (a collection) cleaned up after the killed upload, and nothing else.
    fn assert_cleaned_up(&self, killed: &Killed, done: &serde_json::Value) {
        assert_eq!(done["ran"], true);
        assert_eq!(done["abandoned_uploads"], 1, "{done}");
        assert_eq!(done["aborted_multipart_uploads"], 1, "{done}");
        assert_eq!(removed(done).len(), 1, "the killed upload's blob: {done}");
        assert!(!killed.live.contains(&removed(done)[0]), "the live blob stays: {done}");
        assert_eq!(self.blobs(), killed.live, "only the live blob is left in the bucket");
        assert_eq!(self.moto.open_uploads(), 0, "no multipart upload is left open");
        assert_eq!(self.count("SELECT count(*) FROM object_pending"), 0);
        assert_eq!(self.count("SELECT count(*) FROM object_garbage"), 0);
    }
}

#[test]
fn a_node_killed_mid_put_serves_the_old_file_after_restart_and_its_collector_cleans_up() {
    let Some(shared) = Shared::start() else { return };
    let (killed, data) = killed_mid_put(&shared);
    // The node comes back on its data directory, the same database and bucket.
    let node = shared.in_process(data, NODE);
    let dav = Dav::new(&node.base, "alice", &killed.pw);
    assert!(dav.get("/dav/video.bin") == killed.old, "the old content, whole");
    shared.assert_left_by_the_killed_upload(&killed);
    // It started the upload before its own restart: the upload is dead, collected at once.
    let done = files_gc(node.data.path());
    shared.assert_cleaned_up(&killed, &done);
    assert!(dav.get("/dav/video.bin") == killed.old, "still the old content");
    let again = files_gc(node.data.path());
    assert_eq!(again["removed"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["abandoned_uploads"], 0, "{again}");
}

#[test]
fn an_upload_of_a_node_that_never_returns_is_collected_by_another_after_a_day() {
    let Some(shared) = Shared::start() else { return };
    let (killed, _data) = killed_mid_put(&shared);
    // Another node serves on; for all it knows the upload is still under way.
    let other = shared.in_process(tempfile::tempdir().unwrap(), "another-node");
    let dav = Dav::new(&other.base, "alice", &killed.pw);
    assert!(dav.get("/dav/video.bin") == killed.old, "the old content, whole");
    other.clock.advance(Duration::from_secs(23 * 3600));
    let done = files_gc(other.data.path());
    assert_eq!((done["abandoned_uploads"].clone(), removed(&done)), (0.into(), vec![]), "{done}");
    shared.assert_left_by_the_killed_upload(&killed);
    // A day after it began (PENDING_LIFETIME) it is taken for dead, by the node's own timer.
    other.clock.advance(Duration::from_secs(3600));
    wait_for("the timer's collection", || {
        shared.moto.open_uploads() == 0 && shared.count("SELECT count(*) FROM object_garbage") == 0
    });
    assert_eq!(shared.blobs(), killed.live, "only the live blob is left in the bucket");
    assert_eq!(shared.count("SELECT count(*) FROM object_pending"), 0);
    assert!(dav.get("/dav/video.bin") == killed.old, "still the old content");
}

/// A clocked node on S3 with alice's app password.
fn clocked(shared: &Shared) -> (InProcess, Dav) {
    let node = shared.in_process(tempfile::tempdir().unwrap(), NODE);
    ok(&cli(node.data.path(), &["user", "add", "alice"]));
    let (_, pw) = create_app_password(node.data.path(), "alice", "s3");
    let dav = Dav::new(&node.base, "alice", &pw);
    (node, dav)
}

#[test]
fn a_replaced_blob_leaves_the_bucket_after_its_grace_period_and_a_download_under_way_reads_it_whole()
 {
    let Some(shared) = Shared::start() else { return };
    let (node, dav) = clocked(&shared);
    let old = pattern(20 * MIB, 5);
    assert_eq!(dav.put("/dav/report.pdf", old.clone()), 201);
    let old_blob = shared.blobs();

    // A download begins, then the file is replaced before it ends.
    let mut download = dav.req("GET", "/dav/report.pdf").send().unwrap();
    assert_eq!(download.status(), 200);
    let mut head = vec![0; MIB];
    download.read_exact(&mut head).unwrap();
    assert_eq!(dav.put("/dav/report.pdf", b"the new version".to_vec()), 204);
    assert_eq!(dav.get("/dav/report.pdf"), b"the new version");
    assert_eq!(shared.blobs().len(), 2, "the old blob stays during its grace period");

    // 14 minutes later the grace period (15) is not over: a collection keeps the old blob.
    node.clock.advance(Duration::from_secs(14 * 60));
    let done = files_gc(node.data.path());
    assert_eq!((done["ran"].clone(), removed(&done)), (true.into(), vec![]), "{done}");
    assert_eq!(shared.blobs().len(), 2);
    let mut rest = Vec::new();
    download.read_to_end(&mut rest).unwrap();
    head.extend(rest);
    assert!(head == old, "the download that began before the PUT has the old bytes, whole");

    // Past the grace period the server's own collector (on its clock, every minute) removes
    // it, with nobody asking.
    node.clock.advance(Duration::from_secs(2 * 60));
    let left = shared.blobs_settle_at(1);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!old_blob.contains(&left[0]), "the new blob stays, the old one went");
    assert_eq!(dav.get("/dav/report.pdf"), b"the new version");

    // A deleted file's blob likewise: kept for the grace period, then removed.
    assert_eq!(status(dav.req("DELETE", "/dav/report.pdf").send()), 204);
    assert_eq!(removed(&files_gc(node.data.path())), Vec::<String>::new());
    assert_eq!(shared.blobs().len(), 1);
    node.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(shared.blobs_settle_at(0), Vec::<String>::new());
    wait_for("the garbage forgotten", || shared.count("SELECT count(*) FROM object_garbage") == 0);
}

/// The collector's advisory lock, as every node takes it (src/store/pg/object_gc.rs).
const COLLECTOR_LOCK: i64 = 0x006f_626a_6763;

#[test]
fn one_node_collects_at_a_time_and_the_others_skip_their_turn() {
    let Some(shared) = Shared::start() else { return };
    let (node, dav) = clocked(&shared);
    assert_eq!(dav.put("/dav/a.txt", b"one".to_vec()), 201);
    assert_eq!(dav.put("/dav/a.txt", b"two".to_vec()), 204);
    // Another node holds the collector's lock (here: a session of the test's own).
    let (client, held) = shared.runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(shared.db.url(), tokio_postgres::NoTls).await.unwrap();
        let held = tokio::spawn(connection);
        client.execute("SELECT pg_advisory_lock($1)", &[&COLLECTOR_LOCK]).await.unwrap();
        (client, held)
    });
    // The old blob is due, and the node's own timer finds its turn taken as well.
    node.clock.advance(Duration::from_secs(16 * 60));
    std::thread::sleep(Duration::from_millis(1500));
    let done = files_gc(node.data.path());
    assert_eq!(done["ran"], false, "{done}");
    let text = ok(&cli(node.data.path(), &["files", "gc"]));
    assert!(text.contains("another node is collecting"), "{text}");
    assert_eq!(shared.blobs().len(), 2, "nothing removed while the other node collects");
    shared.runtime.block_on(async {
        drop(client);
        let _ = held.await;
    });
    let text = ok(&cli(node.data.path(), &["files", "gc"]));
    assert!(text.starts_with("removed 1 blob(s)"), "{text}");
    assert_eq!(shared.blobs().len(), 1);
}

#[test]
fn files_gc_says_clearly_when_there_is_no_bucket_or_no_server() {
    let server = TestServer::start();
    let out = server.cli(&["files", "gc"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("local disk"), "{text}");
    drop(server);
    let idle = tempfile::tempdir().unwrap();
    let out = cli(idle.path(), &["files", "gc"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("no davgate server is running"), "{text}");
}

#[test]
fn one_put_is_one_upload_at_the_bucket_with_its_parts_and_nothing_else() {
    let Some(shared) = Shared::start() else { return };
    let (_node, dav) = clocked(&shared);
    let settled = |n: usize| {
        wait_for("moto's log", || shared.moto.requests().len() >= n);
        std::thread::sleep(Duration::from_millis(300)); // a stray one would show by now
        shared.moto.requests()
    };
    let before = settled(1).len(); // the bucket's creation
    // 20 MiB: parts of 8 MiB, one multipart upload.
    assert_eq!(dav.put("/dav/big.bin", pattern(20 * MIB, 1)), 201);
    let put: Vec<String> = settled(before + 5).split_off(before);
    let kinds: Vec<&str> = put
        .iter()
        .map(|r| match r.split_once(' ').unwrap() {
            ("POST", p) if p.ends_with("?uploads") => "create",
            ("PUT", p) if p.contains("partNumber=") => "part",
            ("POST", p) if p.contains("uploadId=") => "complete",
            _ => r.as_str(),
        })
        .collect();
    assert_eq!(kinds, ["create", "part", "part", "part", "complete"], "{put:#?}");
    // A small one: one PutObject.
    let before = before + 5;
    assert_eq!(dav.put("/dav/small.txt", b"small".to_vec()), 201);
    let put: Vec<String> = settled(before + 1).split_off(before);
    assert_eq!(put.len(), 1, "{put:#?}");
    assert!(put[0].starts_with("PUT /davgate/node/blobs/"), "{put:#?}");
}
