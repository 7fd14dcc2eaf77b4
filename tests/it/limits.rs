//! Limits that keep one user from taking the server down or filling it: XML nesting and size,
//! lock expiry and caps, dead-property budgets, and headers that used to panic a worker
//! (red-team findings 2, 6, 7, 9 and 16).

use crate::util::*;

const XML_HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// `levels` elements nested inside each other.
fn nested(levels: usize) -> String {
    format!("{}{}", "<x:n>".repeat(levels), "</x:n>".repeat(levels))
}

/// Builds a request body nesting a given number of levels.
type BodyOfDepth = fn(usize) -> String;

/// A PROPFIND whose whole body nests `total` levels deep.
fn deep_propfind(total: usize) -> String {
    let inner = nested(total - 2);
    format!(
        r#"{XML_HEAD}<D:propfind xmlns:D="DAV:" xmlns:x="urn:x"><D:prop>{inner}</D:prop></D:propfind>"#
    )
}

/// A PROPPATCH whose whole body nests `total` levels deep (one property with a deep value).
fn deep_proppatch(total: usize) -> String {
    let inner = nested(total - 3);
    format!(
        r#"{XML_HEAD}<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x"><D:set><D:prop>{inner}</D:prop></D:set></D:propertyupdate>"#
    )
}

/// A LOCK whose whole body nests `total` levels deep (inside the owner).
fn deep_lock(total: usize) -> String {
    lockinfo(false, &nested(total - 2))
}

/// A write `lockinfo`, shared or exclusive, with `owner` (XML) as the owner's content.
fn lockinfo(shared: bool, owner: &str) -> String {
    let scope = if shared { "shared" } else { "exclusive" };
    format!(
        r#"{XML_HEAD}<D:lockinfo xmlns:D="DAV:" xmlns:x="urn:x"><D:lockscope><D:{scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>"#
    )
}

fn no_panic_in(server: &TestServer) {
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

struct Alice<'a> {
    server: &'a TestServer,
    pw: String,
}

impl<'a> Alice<'a> {
    fn new(server: &'a TestServer) -> Self {
        server.add_user("alice");
        Self { server, pw: server.app_password("alice", "laptop") }
    }

    fn send(&self, method: &str, path: &str, body: String) -> (u16, String) {
        let req = self.server.as_user("alice", &self.pw, method, path).header("Depth", "0");
        let res = req.body(body).send().unwrap();
        (res.status().as_u16(), res.text().unwrap())
    }

    fn put(&self, path: &str) -> u16 {
        status(self.server.as_user("alice", &self.pw, "PUT", path).body("content").send())
    }

    fn lockdiscovery(&self, path: &str) -> String {
        let body = format!(
            r#"{XML_HEAD}<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#
        );
        let (code, xml) = self.send("PROPFIND", path, body);
        assert_eq!(code, 207, "{xml}");
        xml
    }
}

#[test]
fn xml_nested_deeper_than_64_levels_is_refused_and_the_server_keeps_serving() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    assert_eq!(alice.put("/dav/f.txt"), 201);
    let cases: [(&str, BodyOfDepth); 3] =
        [("PROPFIND", deep_propfind), ("PROPPATCH", deep_proppatch), ("LOCK", deep_lock)];
    for (method, body) in cases {
        for levels in [65, 2_500] {
            let (code, text) = alice.send(method, "/dav/f.txt", body(levels));
            assert_eq!(code, 400, "{method} with {levels} levels: {text}");
            assert!(text.contains("64 elements deep"), "{text}");
        }
        let (code, text) = alice.send(method, "/dav/f.txt", body(60));
        assert!([200, 207].contains(&code), "{method} with 60 levels: {code} {text}");
        if method == "LOCK" {
            let token = text.split("urn:uuid:").nth(1).unwrap()[..36].to_string();
            let unlock = server
                .as_user("alice", &alice.pw, "UNLOCK", "/dav/f.txt")
                .header("Lock-Token", format!("<urn:uuid:{token}>"))
                .send();
            assert_eq!(status(unlock), 204);
        }
    }
    let flat = format!(
        r#"{XML_HEAD}<D:propfind xmlns:D="DAV:" xmlns:x="urn:x"><D:prop>{}</D:prop></D:propfind>"#,
        "<x:p/>".repeat(10_001)
    );
    let (code, text) = alice.send("PROPFIND", "/dav/f.txt", flat);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("10000 elements"), "{text}");
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><D:propfind xmlns:D="DAV:"><D:prop><x>&c;</x></D:prop></D:propfind>"#;
    let (code, _) = alice.send("PROPFIND", "/dav/f.txt", laughs.to_string());
    assert_eq!(code, 400, "billion laughs");
    assert_eq!(server.probe("alice", &alice.pw), 207, "the server still answers");
    no_panic_in(&server);
}

// That an expired lock no longer guards the file nor shows in lockdiscovery is shown on a
// clock the test moves: clock.rs, an_abandoned_lock_guards_the_file_until_the_lock_timeout_and_then_is_gone.

#[test]
fn shared_locks_are_capped_per_path_and_per_user_with_a_reason() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    assert_eq!(alice.put("/dav/shared.txt"), 201);
    for i in 0..32 {
        let (code, xml) = alice.send("LOCK", "/dav/shared.txt", lockinfo(true, "o"));
        assert_eq!(code, 200, "shared lock {i}: {xml}");
    }
    let (code, text) = alice.send("LOCK", "/dav/shared.txt", lockinfo(true, "o"));
    assert_eq!(code, 507, "{text}");
    assert!(text.contains("already has 32 locks"), "{text}");
    assert!(alice.lockdiscovery("/dav/shared.txt").matches("activelock>").count() <= 64);

    // 32 held so far; the user's 1000th lock is the last.
    assert_eq!(status(server.as_user("alice", &alice.pw, "MKCOL", "/dav/l/").send()), 201);
    for i in 32..1_000 {
        let (code, xml) = alice.send("LOCK", &format!("/dav/l/{i}.txt"), lockinfo(false, "o"));
        assert_eq!(code, 201, "lock {i}: {xml}");
    }
    let (code, text) = alice.send("LOCK", "/dav/l/one-more.txt", lockinfo(false, "o"));
    assert_eq!(code, 507, "{text}");
    assert!(text.contains("1000 locks"), "{text}");
    assert!(!server.home("alice").join("l/one-more.txt").exists(), "a refused LOCK created a file");

    // Another user is not affected.
    server.add_user("bob");
    let bob = server.app_password("bob", "laptop");
    let res = server.as_user("bob", &bob, "LOCK", "/dav/b.txt").body(lockinfo(false, "o")).send();
    assert_eq!(status(res), 201);
}

#[test]
fn a_lock_owner_larger_than_4_kib_is_refused_and_nothing_is_locked() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    assert_eq!(alice.put("/dav/f.txt"), 201);
    let (code, text) = alice.send("LOCK", "/dav/f.txt", lockinfo(false, &"O".repeat(60_000)));
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("larger than 4 KiB"), "{text}");
    assert_eq!(alice.put("/dav/f.txt"), 204, "the file is not locked");
    let (code, _) = alice.send("LOCK", "/dav/f.txt", lockinfo(false, &"O".repeat(3_000)));
    assert_eq!(code, 200, "a 3 KB owner is fine");
}

/// A PROPPATCH setting `count` empty properties named `<prefix><n>`.
fn many_props(prefix: &str, count: usize) -> String {
    let props: String = (0..count).map(|i| format!("<x:{prefix}{i}/>")).collect();
    format!(
        r#"{XML_HEAD}<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x"><D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>"#
    )
}

#[test]
fn dead_properties_are_capped_in_size_and_per_user_and_refused_all_or_nothing() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    assert_eq!(alice.put("/dav/f.txt"), 201);

    // One value over 16 KiB: 507 for it, 424 for the other, and neither is stored.
    let body = format!(
        r#"{XML_HEAD}<D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x"><D:set><D:prop><x:small>s</x:small><x:big>{}</x:big></D:prop></D:set></D:propertyupdate>"#,
        "A".repeat(17 * 1024)
    );
    let (code, xml) = alice.send("PROPPATCH", "/dav/f.txt", body);
    assert_eq!(code, 207);
    assert!(xml.contains("507 Insufficient Storage") && xml.contains("424 Failed Dependency"));
    let (_, all) = alice.send("PROPFIND", "/dav/f.txt", String::new());
    assert!(!all.contains("small"), "{all}");

    // 10,000 properties fit; one more does not.
    for batch in 0..5 {
        let (code, xml) =
            alice.send("PROPPATCH", "/dav/f.txt", many_props(&format!("b{batch}-"), 2_000));
        assert_eq!(code, 207);
        assert!(!xml.contains("507 Insufficient"), "batch {batch} refused");
    }
    let (_, xml) = alice.send("PROPPATCH", "/dav/f.txt", many_props("over-", 1));
    assert!(xml.contains("507 Insufficient Storage"), "{xml}");

    // Deleting the file frees its properties; a later small one works.
    let delete = server.as_user("alice", &alice.pw, "DELETE", "/dav/f.txt").send();
    assert_eq!(status(delete), 204);
    assert_eq!(alice.put("/dav/g.txt"), 201);
    let (_, xml) = alice.send("PROPPATCH", "/dav/g.txt", many_props("again-", 1));
    assert!(xml.contains("200 OK") && !xml.contains("507 Insufficient"), "{xml}");
}

#[test]
fn absurd_x_oc_mtime_values_are_ignored_and_the_upload_stored() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    for (i, mtime) in ["1e30", "1e19", "253402300800", "inf", "-1", "NaN"].into_iter().enumerate() {
        let path = format!("/dav/m{i}.txt");
        let res = server
            .as_user("alice", &alice.pw, "PUT", &path)
            .header("X-OC-Mtime", mtime)
            .body("kept")
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "X-OC-Mtime: {mtime}");
        assert!(res.headers().get("x-oc-mtime").is_none(), "X-OC-Mtime: {mtime} was applied");
        let stored = std::fs::read_to_string(server.home("alice").join(format!("m{i}.txt")));
        assert_eq!(stored.unwrap(), "kept");
    }
    let res = server.as_user("alice", &alice.pw, "GET", "/dav/m0.txt").send();
    assert_eq!(status(res), 200);
    no_panic_in(&server);
}

#[test]
fn malformed_if_etag_range_and_timeout_headers_are_answered_without_a_panic() {
    let server = TestServer::start();
    let alice = Alice::new(&server);
    assert_eq!(alice.put("/dav/f.txt"), 201);
    let headers: [(&str, &str, &str); 8] = [
        ("PUT", "If", "(<urn:uuid:x"),
        ("PUT", "If", "<"),
        ("PUT", "If", "([\"x"),
        ("PUT", "If-Match", "\""),
        ("GET", "Range", "bytes=0-18446744073709551615"),
        ("GET", "Range", "bytes=18446744073709551615-"),
        ("LOCK", "Timeout", "Second-99999999999999999999999"),
        ("PROPFIND", "Depth", "18446744073709551616"),
    ];
    for (method, name, value) in headers {
        let mut req = server.as_user("alice", &alice.pw, method, "/dav/f.txt").header(name, value);
        if method == "LOCK" {
            req = req.body(lockinfo(false, "o"));
        } else if method == "PUT" {
            req = req.body("x");
        }
        let code = status(req.send());
        assert!((200..500).contains(&code), "{method} with {name}: {value} → {code}");
    }
    no_panic_in(&server);
}

#[test]
fn a_file_dated_before_1970_by_another_program_is_served_and_listed() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "drive");
    let put = server.as_user("alice", &pw, "PUT", "/dav/old.txt").body("from 1960\n");
    assert_eq!(status(put.send()), 201);
    // A backup restore or `touch -d 1960-01-01` gives a file a time HTTP dates cannot name.
    let file = std::fs::File::options().write(true).open(server.home("alice").join("old.txt"));
    let ten_years = std::time::Duration::from_secs(10 * 365 * 86_400);
    file.unwrap().set_modified(std::time::UNIX_EPOCH - ten_years).unwrap();
    let get = server.as_user("alice", &pw, "GET", "/dav/old.txt").send().unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["last-modified"], "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(get.text().unwrap(), "from 1960\n");
    let listing = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    let listing = listing.unwrap();
    assert_eq!(listing.status(), 207);
    assert!(listing.text().unwrap().contains("old.txt"));
    no_panic_in(&server);
}
