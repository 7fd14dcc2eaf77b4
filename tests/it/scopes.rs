//! Scoped app passwords on WebDAV, against the real server, passwords made with the CLI
//! (`app-password create … --read-only | --upload-only, --folder, --allow-from`): what each
//! scope lets through, that refusals change nothing, and that an address outside a password's
//! networks costs no argon2. The folder scope's confinement is in [`super::scopes_folder`].

use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Creates an app password of `user` with the scope `flags`; returns the password.
pub fn scoped(server: &TestServer, user: &str, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["app-password", "create", user, name, "--json"];
    args.extend(flags);
    let v: Value = serde_json::from_str(&ok(&server.cli(&args))).expect("json");
    v["password"].as_str().expect("a password").to_string()
}

/// Everything below `dir`, recursively: sorted relative paths with contents (folders end in /).
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
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
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>tester</D:owner></D:lockinfo>"#;

/// A PROPPATCH body setting `<Z:color>` to `value`.
pub fn set_color(value: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test"><D:set><D:prop><Z:color>{value}</Z:color></D:prop></D:set></D:propertyupdate>"#
    )
}

/// PROPFIND Depth 0 of `path` for every property, as text.
pub fn props_of(server: &TestServer, user: &str, pw: &str, path: &str) -> String {
    let res = server.as_user(user, pw, "PROPFIND", path).header("Depth", "0").send().unwrap();
    assert_eq!(res.status().as_u16(), 207, "PROPFIND {path}");
    res.text().unwrap()
}

fn argon2_verifications(server: &TestServer) -> u64 {
    let status: Value = serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
    status["argon2_verifications"].as_u64().unwrap()
}

#[test]
fn a_read_only_password_reads_and_every_change_is_refused_with_nothing_changed() {
    let server = TestServer::start();
    server.add_user("alice");
    let full = server.app_password("alice", "laptop");
    let put = |path: &str, body: &str| {
        server.as_user("alice", &full, "PUT", path).body(body.to_string()).send()
    };
    assert_eq!(status(put("/dav/a.txt", "original")), 201);
    assert_eq!(status(server.as_user("alice", &full, "MKCOL", "/dav/d/").send()), 201);
    let patch = server.as_user("alice", &full, "PROPPATCH", "/dav/a.txt").body(set_color("blue"));
    assert_eq!(status(patch.send()), 207);
    let ro = scoped(&server, "alice", "frame", &["--read-only"]);

    for (method, path) in [("GET", "/dav/a.txt"), ("HEAD", "/dav/a.txt"), ("OPTIONS", "/dav/")] {
        assert_eq!(status(server.as_user("alice", &ro, method, path).send()), 200, "{method}");
    }
    let listing = server.as_user("alice", &ro, "PROPFIND", "/dav/").header("Depth", "1").send();
    let listing = listing.unwrap();
    assert_eq!(listing.status().as_u16(), 207);
    assert!(listing.text().unwrap().contains("a.txt"));
    assert_eq!(
        server.as_user("alice", &ro, "GET", "/dav/a.txt").send().unwrap().text().unwrap(),
        "original"
    );

    let home = server.home("alice");
    let before = snapshot(&home);
    let attempts: &[(&str, &str, Option<&str>)] = &[
        ("PUT", "/dav/a.txt", None),
        ("PUT", "/dav/new.txt", None),
        ("DELETE", "/dav/a.txt", None),
        ("DELETE", "/dav/d/", None),
        ("MKCOL", "/dav/e/", None),
        ("COPY", "/dav/a.txt", Some("/dav/copy.txt")),
        ("MOVE", "/dav/a.txt", Some("/dav/moved.txt")),
        ("PROPPATCH", "/dav/a.txt", None),
        ("LOCK", "/dav/a.txt", None),
        ("LOCK", "/dav/locked-new.txt", None),
        ("UNLOCK", "/dav/a.txt", None),
        ("POST", "/dav/a.txt", None),
    ];
    for &(method, path, destination) in attempts {
        let mut req = server.as_user("alice", &ro, method, path);
        req = match method {
            "PUT" => req.body("overwritten"),
            "PROPPATCH" => req.body(set_color("red")),
            "LOCK" => req.body(LOCKINFO),
            "UNLOCK" => req.header("Lock-Token", "<opaquelocktoken:nope>"),
            _ => req,
        };
        if let Some(d) = destination {
            req = req.header("Destination", d);
        }
        let res = req.send().unwrap();
        assert_eq!(res.status().as_u16(), 403, "{method} {path}");
        let text = res.text().unwrap();
        assert_eq!(text.lines().count(), 1, "one line: {text:?}");
        assert!(text.contains("read-only"), "{method}: {text}");
    }
    assert_eq!(snapshot(&home), before, "the files (and no temporary file) are as they were");
    let props = props_of(&server, "alice", &full, "/dav/a.txt");
    assert!(props.contains(">blue<") && !props.contains(">red<"), "{props}");
    assert!(!props.contains("opaquelocktoken"), "no lock was taken: {props}");
    // The whole-home password can still take the lock: nobody holds one.
    let lock = server.as_user("alice", &full, "LOCK", "/dav/a.txt").body(LOCKINFO).send();
    assert_eq!(status(lock), 200);
}

#[test]
fn an_upload_only_password_creates_files_and_folders_and_reads_nothing_back() {
    let server = TestServer::start();
    server.add_user("alice");
    let full = server.app_password("alice", "laptop");
    let up = scoped(&server, "alice", "scanner", &["--upload-only", "--folder", "/Scans"]);
    let as_up = |method: &str, path: &str| server.as_user("alice", &up, method, path);

    assert_eq!(status(as_up("PUT", "/dav/scan-1.pdf").body("page one").send()), 201);
    assert_eq!(status(as_up("MKCOL", "/dav/2026/").send()), 201);
    assert_eq!(status(as_up("PUT", "/dav/2026/scan-2.pdf").body("page two").send()), 201);
    let scans = server.home("alice").join("Scans");
    assert_eq!(std::fs::read_to_string(scans.join("scan-1.pdf")).unwrap(), "page one");
    assert!(scans.join("2026/scan-2.pdf").is_file());

    let overwrite = as_up("PUT", "/dav/scan-1.pdf").body("replaced").send().unwrap();
    assert_eq!(overwrite.status().as_u16(), 412);
    assert_eq!(std::fs::read_to_string(scans.join("scan-1.pdf")).unwrap(), "page one");
    // Where it uploads: the folder itself, one entry, is what a client may check.
    assert_eq!(status(as_up("PROPFIND", "/dav/").header("Depth", "0").send()), 207);
    // Asked without the slash, a folder answers for itself alone: never a listing.
    let one = as_up("PROPFIND", "/dav/2026").header("Depth", "1").send().unwrap();
    assert_eq!(one.status().as_u16(), 207);
    assert!(!one.text().unwrap().contains("scan-2.pdf"));

    let before = snapshot(&server.home("alice"));
    let refused: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/dav/scan-1.pdf", None),
        ("HEAD", "/dav/scan-1.pdf", None),
        ("PROPFIND", "/dav/", Some("1")),
        ("PROPFIND", "/dav/", None),
        ("PROPFIND", "/dav/2026/", Some("infinity")),
        ("DELETE", "/dav/scan-1.pdf", None),
        ("MOVE", "/dav/scan-1.pdf", None),
        ("COPY", "/dav/scan-1.pdf", None),
        ("PROPPATCH", "/dav/scan-1.pdf", None),
        ("LOCK", "/dav/scan-3.pdf", None),
    ];
    for &(method, path, depth) in refused {
        let mut req = as_up(method, path).header("Destination", "/dav/elsewhere.pdf");
        if let Some(d) = depth {
            req = req.header("Depth", d);
        }
        if method == "PROPPATCH" {
            req = req.body(set_color("red"));
        }
        if method == "LOCK" {
            req = req.body(LOCKINFO);
        }
        let res = req.send().unwrap();
        assert_eq!(res.status().as_u16(), 403, "{method} {path} {depth:?}");
        let text = res.text().unwrap();
        assert!(method == "HEAD" || text.contains("upload-only"), "{text}");
        assert!(!text.contains("page one"), "{text}");
    }
    assert_eq!(snapshot(&server.home("alice")), before, "nothing changed");
    assert_eq!(status(server.as_user("alice", &full, "GET", "/dav/Scans/scan-1.pdf").send()), 200);
}

#[test]
fn rclone_and_curl_upload_with_an_upload_only_password() {
    let server = TestServer::start();
    server.add_user("alice");
    let up = scoped(&server, "alice", "camera", &["--upload-only", "--folder", "/Camera"]);
    let scratch = tempfile::tempdir().unwrap();
    let photo = scratch.path().join("photo.jpg");
    std::fs::write(&photo, b"jpeg bytes").unwrap();
    let camera = server.home("alice").join("Camera");

    let curl = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
        .arg(format!("alice:{up}"))
        .arg("-T")
        .arg(&photo)
        .arg(format!("{}/dav/by-curl.jpg", server.base))
        .output();
    let Ok(curl) = curl else { panic!("curl is not installed") };
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "201");
    assert_eq!(std::fs::read(camera.join("by-curl.jpg")).unwrap(), b"jpeg bytes");

    if Command::new("rclone").arg("version").output().is_err() {
        assert!(std::env::var_os("DAVGATE_SKIP_RCLONE").is_some(), "rclone is not installed");
        return;
    }
    let config = scratch.path().join("rclone.conf");
    std::fs::write(&config, "").unwrap();
    let obscured = Command::new("rclone").args(["obscure", &up]).output().unwrap();
    let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
    let remote = format!(
        ":webdav,url='{}/dav/',vendor=other,user=alice,pass='{obscured}':by-rclone.jpg",
        server.base
    );
    // rclone checks nothing that would need a listing or a read: no destination check, no
    // read-back of the size or hash, and it sends the file without a partial-upload dance.
    let out = Command::new("rclone")
        .arg("--config")
        .arg(&config)
        .args(["copyto", "--retries", "1"])
        .arg(&photo)
        .arg(&remote)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rclone copyto failed: {stderr}");
    assert_eq!(std::fs::read(camera.join("by-rclone.jpg")).unwrap(), b"jpeg bytes");

    // A folder: rclone must not list the destination (`--no-traverse`); it looks at each file
    // alone, makes the folders, and uploads.
    let batch = scratch.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    std::fs::write(batch.join("one.jpg"), b"1").unwrap();
    std::fs::write(batch.join("two.jpg"), b"22").unwrap();
    let folder_remote = remote.replace(":by-rclone.jpg", ":batch");
    let out = Command::new("rclone")
        .arg("--config")
        .arg(&config)
        .args(["copy", "--no-traverse", "--retries", "1"])
        .arg(&batch)
        .arg(&folder_remote)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rclone copy --no-traverse failed: {stderr}");
    assert_eq!(std::fs::read(camera.join("batch/two.jpg")).unwrap(), b"22");
}

#[test]
fn a_password_from_outside_its_networks_gets_the_401_of_a_wrong_one_without_argon2() {
    let data = tempfile::tempdir().unwrap();
    let token = "metrics-token-scopes";
    let file = data.path().join("metrics.token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let server = TestServer::start_with(data, &["--metrics-token-file", file.to_str().unwrap()]);
    server.add_user("alice");
    let office = scoped(&server, "alice", "office", &["--allow-from", "10.0.0.0/8"]);
    let local = scoped(&server, "alice", "here", &["--allow-from", "127.0.0.1/32"]);

    let before = argon2_verifications(&server);
    for _ in 0..3 {
        let res = server.as_user("alice", &office, "PROPFIND", "/dav/").header("Depth", "0");
        let res = res.send().unwrap();
        assert_eq!(res.status().as_u16(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
    }
    assert_eq!(argon2_verifications(&server), before, "no argon2 for a refused address");
    assert!(
        server.log().contains("Login failed: 'alice' (Remote IP: '127.0.0.1') address not allowed for this app password"),
        "{}",
        server.log()
    );
    let metrics =
        server.request("GET", "/metrics").bearer_auth(token).send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"davgate_auth_total{outcome="refused",reason="address_not_allowed"} 3"#),
        "{metrics}"
    );
    assert_eq!(server.probe("alice", &local), 207);
    assert_eq!(argon2_verifications(&server), before + 1);
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_decides() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data, &["--trusted-proxies", "127.0.0.1/32"]);
    server.add_user("alice");
    let office = scoped(&server, "alice", "office", &["--allow-from", "10.0.0.0/8"]);
    let from = |pw: &str, client: &str| {
        let req = server.as_user("alice", pw, "PROPFIND", "/dav/").header("Depth", "0");
        status(req.header("X-Forwarded-For", client).send())
    };
    assert_eq!(from(&office, "10.1.2.3"), 207);
    // Cached now: the cache is no pass from another network.
    assert_eq!(from(&office, "192.0.2.7"), 401);
    assert_eq!(server.probe("alice", &office), 401, "the proxy's own address is not the office's");
    assert_eq!(from(&office, "10.200.0.1"), 207);
    assert!(
        server.log().contains("(Remote IP: '192.0.2.7') address not allowed"),
        "{}",
        server.log()
    );
}
