//! Writes that need the shared store while it is down, and the quota across nodes.

use std::time::{Duration, Instant};

use crate::util::PgCluster as Cluster;
use crate::util::{TestServer, create_app_password, ok, status};

const NS: &str = "http://example.com/davgate-test/";

fn proppatch(server: &TestServer, password: &str, color: &str) -> reqwest::blocking::Response {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:color xmlns:x="{NS}">{color}</x:color></D:prop></D:set></D:propertyupdate>"#
    );
    server.as_user("alice", password, "PROPPATCH", "/dav/notes.txt").body(body).send().unwrap()
}

#[test]
fn a_proppatch_or_a_quota_checked_upload_with_postgres_down_answers_503_retry_after() {
    let Some(cluster) = Cluster::start() else { return };
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &cluster.url]);
    ok(&server.cli(&["--store", &cluster.url, "user", "add", "alice"]));
    ok(&server.cli(&["--store", &cluster.url, "user", "quota", "alice", "1M"]));
    let (_, password) = create_app_password(server.dir(), "alice", "laptop");
    let put = server.as_user("alice", &password, "PUT", "/dav/notes.txt").body("hi").send();
    assert_eq!(status(put), 201);
    assert_eq!(proppatch(&server, &password, "teal").status().as_u16(), 207);

    cluster.halt();
    // The credential is cached: the request reaches the properties, which the store keeps.
    let res = proppatch(&server, &password, "red");
    assert_eq!(res.status().as_u16(), 503, "{:?}", res.text());
    let wait = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    assert!(wait.is_some_and(|w| w.parse::<u32>().is_ok_and(|s| s >= 1)), "no Retry-After");
    // An upload the quota must check across nodes: 503 too, and nothing stored.
    let put = server.as_user("alice", &password, "PUT", "/dav/new.txt").body("x").send().unwrap();
    assert_eq!(put.status().as_u16(), 503);
    assert!(put.headers().contains_key("retry-after"));
    assert!(!server.home("alice").join("new.txt").exists());

    cluster.resume();
    let started = Instant::now();
    loop {
        let res = proppatch(&server, &password, "red");
        if res.status().as_u16() == 207 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still {}", res.status());
        std::thread::sleep(Duration::from_millis(200));
    }
    let res = server.as_user("alice", &password, "PROPFIND", "/dav/notes.txt").header("Depth", "0");
    assert!(res.send().unwrap().text().unwrap().contains("red</"));
}

/// Rows in `quota_reservations` (writes in flight, all nodes).
fn reservations(runtime: &tokio::runtime::Runtime, url: &str) -> i64 {
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let row = client.query_one("SELECT count(*) FROM quota_reservations", &[]).await.unwrap();
        row.get(0)
    })
}

#[test]
fn two_uploads_through_two_nodes_that_together_pass_the_quota_leave_one_507_and_nothing_partial() {
    use std::io::{Read, Write};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(davgate::internal::TestDatabase::create()) else { return };
    let url = db.url().to_string();
    let files = tempfile::tempdir().unwrap();
    let files_arg = files.path().to_str().unwrap();
    let node = || {
        let args = ["--store", url.as_str(), "--files", files_arg];
        TestServer::start_with(tempfile::tempdir().unwrap(), &args)
    };
    let (one, two) = (node(), node());
    ok(&one.cli(&["--store", &url, "user", "add", "alice"]));
    ok(&one.cli(&["--store", &url, "user", "quota", "alice", "1K"]));
    let created =
        ok(&one.cli(&["--store", &url, "app-password", "create", "alice", "l", "--json"]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let password = created["password"].as_str().unwrap().to_string();

    // 600 bytes through node one, still arriving; 600 more through node two: over 1 KiB.
    let mut first = crate::util::raw_put(&one, &password, "/dav/a.bin", 600, &"a".repeat(100));
    let started = Instant::now();
    while reservations(&runtime, &url) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "node one reserved nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = two.as_user("alice", &password, "PUT", "/dav/b.bin").body("b".repeat(600)).send();
    assert_eq!(status(second), 507, "together they pass the quota");

    first.write_all("a".repeat(500).as_bytes()).unwrap();
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = [0u8; 12];
    first.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201", "{}", String::from_utf8_lossy(&answer));
    drop(first);

    // Nothing of the refused upload anywhere, the other whole, through either node.
    for node in [&one, &two] {
        let listing = node.as_user("alice", &password, "PROPFIND", "/dav/").header("Depth", "1");
        let xml = listing.send().unwrap().text().unwrap();
        assert!(xml.contains("a.bin") && !xml.contains("b.bin"), "{xml}");
        let got = node.as_user("alice", &password, "GET", "/dav/a.bin").send().unwrap();
        assert_eq!(got.bytes().unwrap().len(), 600);
    }
    let names: Vec<_> = std::fs::read_dir(files.path().join("alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["a.bin"], "no temporary or partial file left");

    // Now the home holds 600 bytes: node two, which counted before, sees them at once.
    let again = two.as_user("alice", &password, "PUT", "/dav/c.bin").body("c".repeat(600)).send();
    assert_eq!(status(again), 507);
    let fits = two.as_user("alice", &password, "PUT", "/dav/c.bin").body("c".repeat(400)).send();
    assert_eq!(status(fits), 201);
    let started = Instant::now();
    while reservations(&runtime, &url) != 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "a reservation was never released");
        std::thread::sleep(Duration::from_millis(50));
    }
}
