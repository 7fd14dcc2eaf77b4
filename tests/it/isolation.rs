//! No path a client names (request URI or Destination, in any encoding, through symlinks)
//! reaches outside the authenticated user's own home.

use crate::util::*;
use std::path::Path;

struct TwoUsers {
    server: TestServer,
    alice: String,
}

/// Alice and Bob; Bob owns `secret.txt` and a folder `docs/`.
fn two_users() -> TwoUsers {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let alice = server.app_password("alice", "laptop");
    let bob = server.app_password("bob", "laptop");
    assert_eq!(
        status(server.as_user("bob", &bob, "PUT", "/dav/secret.txt").body("bob's secret").send()),
        201
    );
    assert_eq!(status(server.as_user("bob", &bob, "MKCOL", "/dav/docs/").send()), 201);
    // Alice's home exists too, with a file of her own.
    assert_eq!(
        status(server.as_user("alice", &alice, "PUT", "/dav/mine.txt").body("alice").send()),
        201
    );
    TwoUsers { server, alice }
}

/// Everything in `dir`, recursively, as sorted relative paths with contents.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.push((rel + "/", Vec::new()));
                walk(root, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const ESCAPES: &[&str] = &[
    "/dav/../bob/secret.txt",
    "/dav/../files/bob/secret.txt",
    "/dav/%2e%2e/bob/secret.txt",
    "/dav/%2E%2E/%2e%2e/files/bob/secret.txt",
    "/dav/..%2fbob%2fsecret.txt",
    "/dav/%2e%2e%2fbob/secret.txt",
    "/dav/./../../bob/secret.txt",
    "/dav/bob/secret.txt",
    "/dav/..\\bob\\secret.txt",
    "/files/bob/secret.txt",
    "/davx/../dav/../bob/secret.txt",
];

#[test]
fn no_request_path_reaches_another_home() {
    let t = two_users();
    let bob_before = snapshot(&t.server.home("bob"));
    for path in ESCAPES {
        for method in
            ["GET", "PROPFIND", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK", "PROPPATCH"]
        {
            let mut req = t.server.as_user("alice", &t.alice, method, path).header("Depth", "1");
            if method == "PUT" {
                req = req.body("overwritten by alice");
            }
            if method == "MOVE" || method == "COPY" {
                req = req.header("Destination", "/dav/stolen.txt");
            }
            let res = req.send().expect("request");
            let code = res.status().as_u16();
            let body = res.text().unwrap_or_default();
            assert!(!body.contains("bob's secret"), "{method} {path} read bob's file");
            // Anything but a 5xx is fine as long as it happened inside alice's home (checked below).
            assert!(code < 500, "{method} {path} answered {code}: {body}");
        }
    }
    assert_eq!(snapshot(&t.server.home("bob")), bob_before, "bob's home changed");
    assert!(!t.server.home("alice").join("stolen.txt").exists());
}

#[test]
fn no_destination_reaches_another_home() {
    let t = two_users();
    let bob_before = snapshot(&t.server.home("bob"));
    let base = t.server.base.clone();
    let destinations = [
        "/dav/../bob/from-alice.txt".to_string(),
        "/dav/%2e%2e/bob/from-alice.txt".to_string(),
        "/dav/..%2fbob%2ffrom-alice.txt".to_string(),
        "/files/bob/from-alice.txt".to_string(),
        "/davx/from-alice.txt".to_string(),
        format!("{base}/dav/../bob/from-alice.txt"),
        format!("{base}/dav/%2e%2e/%2e%2e/files/bob/from-alice.txt"),
        "http://elsewhere.example/dav/../../bob/from-alice.txt".to_string(),
        "not a url at all".to_string(),
    ];
    for dest in &destinations {
        for method in ["COPY", "MOVE"] {
            let res = t
                .server
                .as_user("alice", &t.alice, method, "/dav/mine.txt")
                .header("Destination", dest.as_str())
                .header("Overwrite", "T")
                .send()
                .unwrap();
            let code = res.status().as_u16();
            assert!((400..500).contains(&code), "{method} to {dest} answered {code}");
        }
    }
    assert_eq!(snapshot(&t.server.home("bob")), bob_before, "bob's home changed");
    assert!(t.server.home("alice").join("mine.txt").exists(), "alice's file was moved away");
}

#[test]
fn a_destination_on_another_host_stays_in_the_users_own_home() {
    let t = two_users();
    let res = t
        .server
        .as_user("alice", &t.alice, "COPY", "/dav/mine.txt")
        .header("Destination", "http://elsewhere.example/dav/copy.txt")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(std::fs::read_to_string(t.server.home("alice").join("copy.txt")).unwrap(), "alice");
    assert!(!t.server.home("bob").join("copy.txt").exists());
}

#[test]
fn symlinks_in_a_home_lead_nowhere() {
    let t = two_users();
    let alice_home = t.server.home("alice");
    std::os::unix::fs::symlink(t.server.home("bob"), alice_home.join("bob-home")).unwrap();
    std::os::unix::fs::symlink(
        t.server.home("bob").join("secret.txt"),
        alice_home.join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", alice_home.join("etc")).unwrap();
    let bob_before = snapshot(&t.server.home("bob"));
    for path in ["/dav/bob-home/secret.txt", "/dav/link.txt", "/dav/etc/hostname", "/dav/bob-home/"]
    {
        for method in ["GET", "PROPFIND", "PUT", "DELETE"] {
            let mut req = t.server.as_user("alice", &t.alice, method, path).header("Depth", "1");
            if method == "PUT" {
                req = req.body("through a link");
            }
            let res = req.send().unwrap();
            let code = res.status().as_u16();
            let body = res.text().unwrap_or_default();
            assert!((400..500).contains(&code), "{method} {path} answered {code}: {body}");
            assert!(!body.contains("bob's secret"));
        }
    }
    for dest in ["/dav/bob-home/copied.txt", "/dav/etc/copied"] {
        let res = t
            .server
            .as_user("alice", &t.alice, "COPY", "/dav/mine.txt")
            .header("Destination", dest)
            .send();
        let code = status(res);
        assert!((400..500).contains(&code), "COPY to {dest} answered {code}");
    }
    // Links are not listed either.
    let listing = t
        .server
        .as_user("alice", &t.alice, "PROPFIND", "/dav/")
        .header("Depth", "1")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(listing.contains("mine.txt"));
    assert!(!listing.contains("bob-home") && !listing.contains("link.txt"), "{listing}");
    assert_eq!(snapshot(&t.server.home("bob")), bob_before, "bob's home changed");
}

#[test]
fn each_user_has_their_own_locks() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let alice = server.app_password("alice", "laptop");
    let bob = server.app_password("bob", "laptop");
    let lock_body = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#;
    for (user, pw) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(
            status(server.as_user(user, pw, "PUT", "/dav/report.txt").body("v1").send()),
            201
        );
        let res = server
            .as_user(user, pw, "LOCK", "/dav/report.txt")
            .header("Timeout", "Second-60")
            .body(lock_body)
            .send();
        assert_eq!(status(res), 200, "{user} could not lock their own report.txt");
    }
}
