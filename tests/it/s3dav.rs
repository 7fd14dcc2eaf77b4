//! WebDAV on files kept in S3 (issue 12) as on a local disk, seen by a user: `X-OC-Mtime`
//! applied and shown, a body that does not match its `OC-Checksum` refused with nothing
//! visible, the quota's 507 with nothing visible and the usage following PUT/DELETE/overwrite,
//! a folder DELETE without one bucket request (locks below it honoured, its blobs queued for
//! the collector), the nesting limit, and a folder-scoped password confined to its folder.
//! Against moto's real S3 server and PostgreSQL ([`crate::s3::S3Node`]).

use crate::s3::{S3Node, pattern};
use crate::scopes::{LOCKINFO, scoped};
use crate::util::*;
use std::time::Duration;

const QUOTA_PROPS: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/><D:quota-available-bytes/></D:prop></D:propfind>"#;

const CHECKSUM_PROPS: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><D:getlastmodified/><oc:checksums/></D:prop></D:propfind>"#;

/// The text of the first element named `local` (any prefix).
fn element<'a>(xml: &'a str, local: &str) -> Option<&'a str> {
    let start = xml.find(&format!(":{local}>"))? + local.len() + 2;
    let rest = xml.get(start..)?;
    rest.get(..rest.find("</")?)
}

/// (quota-used-bytes, quota-available-bytes) of alice's `/dav/`.
fn quota(node: &S3Node) -> (u64, u64) {
    let res = node.req("PROPFIND", "/dav/").header("Depth", "0").body(QUOTA_PROPS).send();
    let xml = res.unwrap().text().unwrap();
    let number = |name| element(&xml, name).and_then(|n| n.trim().parse().ok());
    match (number("quota-used-bytes"), number("quota-available-bytes")) {
        (Some(used), Some(available)) => (used, available),
        _ => panic!("no quota in {xml}"),
    }
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_upload_to_object_storage_keeps_its_x_oc_mtime_and_a_wrong_checksum_stores_nothing() {
    let Some(node) = S3Node::start() else { return };
    let wrong = format!("SHA1:{}", "0".repeat(40));
    let res = node
        .req("PUT", "/dav/x.txt")
        .header("OC-Checksum", &wrong)
        .header("X-OC-Mtime", "1577836800")
        .body("data")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.text().unwrap().contains("OC-Checksum"));
    assert_eq!(status(node.req("GET", "/dav/x.txt").send()), 404);
    assert!(!node.propfind("/dav/").1.contains("x.txt"), "the refused file is listed");
    assert_eq!(node.keys_settle_at(0), Vec::<String>::new(), "its blob stays in the bucket");

    let right = format!("SHA1:{}", sha1_hex(b"data"));
    let res = node
        .req("PUT", "/dav/x.txt")
        .header("OC-Checksum", &right)
        .header("X-OC-Mtime", "1577836800")
        .body("data")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(res.headers().get("x-oc-mtime").map(|v| v.to_str().unwrap()), Some("accepted"));
    let jan_2020 = "Wed, 01 Jan 2020 00:00:00 GMT";
    assert_eq!(res.headers()["last-modified"], jan_2020);
    let props = node.req("PROPFIND", "/dav/x.txt").header("Depth", "0").body(CHECKSUM_PROPS);
    let xml = props.send().unwrap().text().unwrap();
    assert_eq!(element(&xml, "getlastmodified"), Some(jan_2020), "{xml}");
    assert!(xml.contains(&right), "{xml}");
    assert!(xml.contains("MD5:8d777f385d3dfec8815d20f7496026dc"), "{xml}");
    let get = node.req("GET", "/dav/x.txt").send().unwrap();
    assert_eq!(get.headers()["last-modified"], jan_2020);
    assert_eq!(get.text().unwrap(), "data");

    // An mtime that is not a time is ignored, as on disk: stored now, not "accepted".
    let res = node.req("PUT", "/dav/y.txt").header("X-OC-Mtime", "yesterday").body("y").send();
    let res = res.unwrap();
    assert_eq!(res.status().as_u16(), 201);
    assert!(res.headers().get("x-oc-mtime").is_none());
}

#[test]
fn the_quota_on_object_storage_refuses_what_does_not_fit_and_follows_every_change() {
    let Some(node) = S3Node::start() else { return };
    ok(&node.server.cli(&["user", "quota", "alice", "1M"]));
    const MIB: u64 = 1024 * 1024;
    let big = pattern(600 * 1024, 3);
    assert_eq!(node.put("/dav/first.bin", big.clone()), 201);
    let used = big.len() as u64;
    assert_eq!(quota(&node), (used, MIB - used));

    // Announced too big: refused before any byte goes to the bucket, nothing visible.
    assert_eq!(node.put("/dav/second.bin", big.clone()), 507);
    assert_eq!(status(node.req("GET", "/dav/second.bin").send()), 404);
    // Sent without a length (chunked): refused once past the quota, nothing visible. (Only a
    // little past it, so that the rest of the body fits in the socket buffers.)
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(pattern(430 * 1024, 4)));
    assert_eq!(status(node.req("PUT", "/dav/third.bin").body(chunked).send()), 507);
    assert_eq!(status(node.req("GET", "/dav/third.bin").send()), 404);
    let copy = node.req("COPY", "/dav/first.bin").header("Destination", "/dav/copy.bin");
    assert_eq!(status(copy.send()), 507);
    assert_eq!(status(node.req("GET", "/dav/copy.bin").send()), 404);
    assert_eq!(node.keys_settle_at(1).len(), 1, "only the first file's blob stays");
    assert_eq!(node.moto.uploads_settle(), 0);
    assert_eq!(quota(&node), (used, MIB - used), "refused writes changed the usage");

    // An overwrite counts the new size only; a DELETE gives the room back.
    assert_eq!(node.put("/dav/first.bin", vec![1u8; 100]), 204);
    assert_eq!(quota(&node), (100, MIB - 100));
    assert_eq!(node.put("/dav/second.bin", big.clone()), 201);
    assert_eq!(quota(&node), (100 + used, MIB - 100 - used));
    assert_eq!(status(node.req("DELETE", "/dav/second.bin").send()), 204);
    assert_eq!(status(node.req("DELETE", "/dav/first.bin").send()), 204);
    assert_eq!(quota(&node), (0, MIB));
    assert_eq!(node.put("/dav/third.bin", big.clone()), 201);
    assert_eq!(node.get("/dav/third.bin"), big);
}

/// Rows of `object_garbage` due after now + 10 minutes (the grace period is 15).
fn garbage_in_grace(node: &S3Node) -> i64 {
    node.runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(node.db.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let sql = "SELECT count(*) FROM object_garbage WHERE collect_after > now() + interval '10 minutes'";
        client.query_one(sql, &[]).await.unwrap().get(0)
    })
}

#[test]
fn deleting_a_folder_on_object_storage_makes_no_bucket_request_and_honours_locks_below_it() {
    let Some(node) = S3Node::start() else { return };
    for folder in ["/dav/tree/", "/dav/tree/sub/", "/dav/tree/sub/deeper/"] {
        assert_eq!(status(node.req("MKCOL", folder).send()), 201);
    }
    for i in 0..30 {
        let folder = ["/dav/tree", "/dav/tree/sub", "/dav/tree/sub/deeper"][i % 3];
        assert_eq!(node.put(&format!("{folder}/f{i}.txt"), format!("file {i}")), 201);
    }
    let lock = node.req("LOCK", "/dav/tree/sub/deeper/f2.txt").body(LOCKINFO).send().unwrap();
    assert_eq!(lock.status().as_u16(), 200);
    let token = lock.headers()["lock-token"].to_str().unwrap().to_string();
    assert_eq!(status(node.req("DELETE", "/dav/tree/").send()), 423, "a lock below it holds");
    assert_eq!(node.get("/dav/tree/sub/deeper/f2.txt"), b"file 2");
    let unlock = node.req("UNLOCK", "/dav/tree/sub/deeper/f2.txt").header("Lock-Token", &token);
    assert_eq!(status(unlock.send()), 204);

    std::thread::sleep(Duration::from_millis(300)); // moto writes its log line after answering
    let before = node.moto.bucket_requests();
    assert_eq!(status(node.req("DELETE", "/dav/tree/").send()), 204);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(node.moto.bucket_requests(), before, "the DELETE reached the bucket");
    for path in ["/dav/tree/", "/dav/tree/sub/deeper/f2.txt", "/dav/tree/f0.txt"] {
        assert_eq!(status(node.req("PROPFIND", path).header("Depth", "0").send()), 404);
    }
    assert!(!node.propfind("/dav/").1.contains("tree"));
    // The contents wait for the collector: in the bucket through the grace period (a download
    // that began before keeps reading), each queued for collection after it.
    assert_eq!(node.moto.keys().len(), 30);
    assert_eq!(garbage_in_grace(&node), 30);
    // The same name is free at once.
    assert_eq!(status(node.req("MKCOL", "/dav/tree/").send()), 201);
}

#[test]
fn the_nesting_limit_holds_on_object_storage() {
    let Some(node) = S3Node::start_with(&["--max-depth", "3"]) else { return };
    for folder in ["/dav/a/", "/dav/a/b/", "/dav/a/b/c/", "/dav/x/"] {
        assert_eq!(status(node.req("MKCOL", folder).send()), 201, "MKCOL {folder}");
    }
    let res = node.req("MKCOL", "/dav/a/b/c/d/").send().unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.text().unwrap().contains("at most 3 levels"));
    assert_eq!(node.put("/dav/a/b/c/f.txt", "too deep"), 403);
    assert_eq!(node.put("/dav/a/b/f.txt", "fits"), 201);
    let to = |method: &str, from: &str, dest: &str| {
        status(node.req(method, from).header("Destination", dest).send())
    };
    // a/ holds a/b/c: under x/ it would be 4 deep.
    assert_eq!(to("MOVE", "/dav/a/", "/dav/x/a/"), 403);
    assert_eq!(to("COPY", "/dav/a/", "/dav/x/a/"), 403);
    assert_eq!(status(node.req("PROPFIND", "/dav/x/a/").header("Depth", "0").send()), 404);
    assert_eq!(node.get("/dav/a/b/f.txt"), b"fits");
    // b/ holds b/c and b/f.txt: under x/ it is 3 deep, which fits.
    assert_eq!(to("COPY", "/dav/a/b/", "/dav/x/b/"), 201);
    assert_eq!(to("MOVE", "/dav/a/b/", "/dav/x/b2/"), 201);
    assert_eq!(node.get("/dav/x/b2/f.txt"), b"fits");
    assert_eq!(node.get("/dav/x/b/f.txt"), b"fits");
}

/// Paths a folder password might try to climb out of its folder with.
const ESCAPES: &[&str] = &[
    "/dav/../secret.txt",
    "/dav/../Other/x",
    "/dav/%2e%2e/secret.txt",
    "/dav/..%2fsecret.txt",
    "/dav/sub/../../secret.txt",
];

#[test]
fn a_folder_password_on_object_storage_sees_its_folder_and_nothing_outside_it() {
    let Some(node) = S3Node::start() else { return };
    assert_eq!(node.put("/dav/secret.txt", "alice's secret"), 201);
    assert_eq!(status(node.req("MKCOL", "/dav/Other/").send()), 201);
    let pw = scoped(&node.server, "alice", "projects", &["--folder", "/Projects"]);
    let as_projects = |method: &str, path: &str| node.server.as_user("alice", &pw, method, path);
    assert_eq!(node.server.probe("alice", &pw), 207);
    assert_eq!(status(node.req("PROPFIND", "/dav/Projects/").header("Depth", "0").send()), 207);
    assert_eq!(status(as_projects("PUT", "/dav/plan.txt").body("plan").send()), 201);
    assert_eq!(node.get("/dav/Projects/plan.txt"), b"plan");
    let listing = as_projects("PROPFIND", "/dav/").header("Depth", "1").send().unwrap();
    let listing = listing.text().unwrap();
    assert!(listing.contains("/dav/plan.txt") && !listing.contains("secret"), "{listing}");
    assert_eq!(status(as_projects("GET", "/dav/secret.txt").send()), 404);

    for path in ESCAPES {
        for method in ["GET", "PROPFIND", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK"] {
            let mut req = as_projects(method, path).header("Depth", "1");
            req = match method {
                "PUT" => req.body("overwritten"),
                "MOVE" | "COPY" => req.header("Destination", "/dav/stolen.txt"),
                "LOCK" => req.body(LOCKINFO),
                _ => req,
            };
            let res = req.send().unwrap();
            let code = res.status().as_u16();
            let body = res.text().unwrap_or_default();
            assert!(!body.contains("alice's secret"), "{method} {path} read outside the folder");
            assert!((400..500).contains(&code) || code == 207, "{method} {path}: {code} {body}");
        }
    }
    for dest in ["/dav/../from-projects.txt", "/dav/%2e%2e/Other/x.txt", "/files/alice/x.txt"] {
        for method in ["COPY", "MOVE"] {
            let req = as_projects(method, "/dav/plan.txt").header("Destination", dest);
            let code = status(req.header("Overwrite", "T").send());
            assert!((400..500).contains(&code), "{method} to {dest} answered {code}");
        }
    }
    // Outside /Projects nothing changed; what the password made is inside it.
    assert_eq!(node.get("/dav/secret.txt"), b"alice's secret");
    let home = node.propfind("/dav/").1;
    assert_eq!(home.matches("<D:response>").count(), 4, "/, secret.txt, Other, Projects: {home}");
    assert_eq!(node.propfind("/dav/Other/").1.matches("<D:response>").count(), 1);

    // Its locks are where the whole-home password meets them.
    let lock = as_projects("LOCK", "/dav/plan.txt").body(LOCKINFO).send().unwrap();
    assert_eq!(lock.status().as_u16(), 200);
    assert_eq!(node.put("/dav/Projects/plan.txt", "changed"), 423);

    // A file where the folder should be: a clear 409.
    let file = scoped(&node.server, "alice", "file", &["--folder", "/secret.txt/inner"]);
    let res = node.server.as_user("alice", &file, "GET", "/dav/").send().unwrap();
    assert_eq!(res.status().as_u16(), 409);
    assert_eq!(node.get("/dav/secret.txt"), b"alice's secret");
}

#[test]
fn litmus_passes_every_test_against_a_folder_passwords_dav_on_object_storage() {
    if !crate::litmus::available() {
        return;
    }
    let Some(node) = S3Node::start() else { return };
    assert_eq!(node.put("/dav/secret.txt", "alice's secret"), 201);
    let pw = scoped(&node.server, "alice", "projects", &["--folder", "/Projects"]);
    let url = format!("{}/dav/", node.server.base);
    crate::litmus::assert_passes(&url, "alice", &pw, node.server.dir());
    assert_eq!(node.get("/dav/secret.txt"), b"alice's secret");
    assert_eq!(node.propfind("/dav/").1.matches("<D:response>").count(), 3, "/, secret, Projects");
}
