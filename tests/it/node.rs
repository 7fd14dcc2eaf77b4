//! Nodes sharing one files root: `--files`, `--node-id`, upload temporary files named per node
//! (a restart removes its own and stale ones, never another node's upload in flight), NFS silly
//! renames hidden, and the load balancer's probes `/healthz` and `/readyz`.

use crate::util::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// A node with its own data directory, serving the files root `files` as `id`.
fn node(files: &Path, id: &str) -> TestServer {
    let files = files.to_str().unwrap();
    TestServer::start_with(tempfile::tempdir().unwrap(), &["--files", files, "--node-id", id])
}

/// The same node started again on its data directory (after a clean stop).
fn restart(mut server: TestServer, files: &Path, id: &str) -> TestServer {
    assert_eq!(server.terminate().map(|s| s.success()), Some(true), "the node stops cleanly");
    let data = std::mem::replace(&mut server.data, tempfile::tempdir().unwrap());
    drop(server);
    let files = files.to_str().unwrap();
    TestServer::start_with(data, &["--files", files, "--node-id", id])
}

/// Creates alice on `server`'s own store and an app password for her.
fn alice(server: &TestServer) -> String {
    server.add_user("alice");
    server.app_password("alice", "node test")
}

/// The names in `dir` starting with `prefix` (none if `dir` does not exist yet).
fn starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Waits (bounded) until `found` gives something.
fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_modified_ago(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn two_nodes_with_their_own_data_directories_serve_one_files_root() {
    let shared = tempfile::tempdir().unwrap();
    let a = node(shared.path(), "web-a");
    let b = node(shared.path(), "web-b");
    assert!(a.banner.contains("node:    web-a"), "{}", a.banner);
    assert!(a.log().contains("node web-a serving files in"), "{}", a.log());
    let (pa, pb) = (alice(&a), alice(&b));

    let put = a.as_user("alice", &pa, "PUT", "/dav/report.txt").body("from node a").send();
    assert_eq!(status(put), 201);
    let got = b.as_user("alice", &pb, "GET", "/dav/report.txt").send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.text().unwrap(), "from node a");
    assert!(shared.path().join("alice/report.txt").exists());
    assert!(!a.dir().join("files").exists(), "the data directory's own files/ is not used");
}

#[test]
fn a_restart_keeps_another_nodes_upload_in_flight_and_removes_its_own_and_stale_leftovers() {
    let shared = tempfile::tempdir().unwrap();
    let a = node(shared.path(), "web-a");
    let b = node(shared.path(), "web-b");
    let (_, pb) = (alice(&a), alice(&b));
    let home = shared.path().join("alice");

    // Node b is receiving an upload: its temporary file is fresh, named after b.
    let body = "x".repeat(200_000);
    let (first, rest) = body.split_at(1_000);
    let mut stream = raw_put(&b, &pb, "/dav/big.txt", body.len() as u64, first);
    let in_flight =
        wait_for("b's temporary file", || starting_with(&home, ".davgate-upload-web-b-").pop());
    // A crash of a left one of its own, and a node gone for two days left one.
    let own = home.join(".davgate-upload-web-a-0123456789abcdef");
    let stale = home.join(".davgate-upload-web-c-fedcba9876543210");
    std::fs::write(&own, "partial").unwrap();
    std::fs::write(&stale, "partial").unwrap();
    set_modified_ago(&stale, Duration::from_secs(2 * 24 * 60 * 60));

    let a = restart(a, shared.path(), "web-a");
    assert!(!own.exists(), "a's own leftover survived its restart");
    assert!(!stale.exists(), "a two-day-old leftover survived a restart");
    assert!(home.join(&in_flight).exists(), "a's restart deleted b's upload in flight");
    assert!(a.log().contains("removed 2 unfinished upload(s)"), "{}", a.log());

    // b's upload completes, and a serves it.
    stream.write_all(rest.as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201", "{}", String::from_utf8_lossy(&answer));
    let pa = a.app_password("alice", "after restart");
    let got = a.as_user("alice", &pa, "GET", "/dav/big.txt").send().unwrap();
    assert_eq!(got.text().unwrap(), body);
    assert_eq!(starting_with(&home, ".davgate-upload-"), Vec::<String>::new());
}

#[test]
fn nfs_silly_renames_never_show_and_cannot_be_named() {
    let server = TestServer::start();
    let pw = alice(&server);
    let put = server.as_user("alice", &pw, "PUT", "/dav/visible.txt").body("visible").send();
    assert_eq!(status(put), 201);
    // What an NFS client leaves while a deleted file is still open somewhere.
    let silly = server.home("alice").join(".nfs000000000001234");
    std::fs::write(&silly, "deleted but open").unwrap();

    let res = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    let listed = res.unwrap().text().unwrap();
    assert!(listed.contains("visible.txt"), "{listed}");
    assert!(!listed.contains(".nfs"), "PROPFIND lists the NFS silly rename: {listed}");
    let path = "/dav/.nfs000000000001234";
    assert_eq!(status(server.as_user("alice", &pw, "GET", path).send()), 404);
    assert_eq!(status(server.as_user("alice", &pw, "PUT", path).body("x").send()), 403);
    // DELETE looks first, and finds nothing, as for davgate's own temporary files.
    assert_eq!(status(server.as_user("alice", &pw, "DELETE", path).send()), 404);
    assert_eq!(std::fs::read_to_string(&silly).unwrap(), "deleted but open");
}

#[test]
fn user_remove_moves_the_home_aside_in_the_files_root_it_is_given() {
    let (data, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(&cli(data.path(), &["user", "add", "bob"]));
    std::fs::create_dir_all(shared.path().join("bob")).unwrap();
    std::fs::write(shared.path().join("bob/notes.txt"), "mine").unwrap();
    let files = shared.path().to_str().unwrap();
    let said = ok(&cli(data.path(), &["user", "remove", "bob", "--files", files]));
    assert!(said.contains(&shared.path().join(".removed").display().to_string()), "{said}");
    assert!(!shared.path().join("bob").exists());
    let removed: Vec<PathBuf> = std::fs::read_dir(shared.path().join(".removed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(std::fs::read_to_string(removed[0].join("notes.txt")).unwrap(), "mine");

    // The environment names it too.
    ok(&cli(data.path(), &["user", "add", "carol"]));
    std::fs::create_dir_all(shared.path().join("carol")).unwrap();
    let out = davgate(data.path())
        .args(["user", "remove", "carol"])
        .env("DAVGATE_FILES", shared.path())
        .output()
        .unwrap();
    ok(&out);
    assert!(!shared.path().join("carol").exists());
}

#[test]
fn a_running_node_removes_a_home_in_its_own_files_root() {
    let shared = tempfile::tempdir().unwrap();
    let server = node(shared.path(), "web-a");
    let pw = alice(&server);
    let put = server.as_user("alice", &pw, "PUT", "/dav/a.txt").body("a").send();
    assert_eq!(status(put), 201);
    ok(&server.cli(&["user", "remove", "alice"]));
    assert!(!shared.path().join("alice").exists());
    assert_eq!(std::fs::read_dir(shared.path().join(".removed")).unwrap().count(), 1);
}

#[test]
fn an_unsafe_node_id_is_refused_in_one_line() {
    for bad in ["web 1", "../x", ".hidden", &"n".repeat(49)] {
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("--data")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--node-id", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid node id"), "{err}");
        assert!(!data.path().join("davgate.redb").exists(), "a refused start opened the store");
    }
}

#[test]
fn the_default_node_id_is_the_host_name_and_port() {
    let server = TestServer::start();
    let line = server.banner.lines().find_map(|l| l.trim().strip_prefix("node:")).unwrap();
    let id = line.trim();
    assert!(id.ends_with(":0"), "port 0 asked for, so a restart is the same node: {id}");
    assert!(id.len() > 2, "{id}");
}

#[test]
fn health_probes_answer_without_credentials_and_stay_out_of_the_access_log() {
    let server = TestServer::start();
    for (path, text) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let res = server.request("GET", path).send().unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/plain"), "{path}: {kind}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.text().unwrap(), text);
        assert_eq!(status(server.request("HEAD", path).send()), 200, "HEAD {path}");
    }
    // Another request is logged, and the log is written by then.
    assert_eq!(status(server.request("PROPFIND", "/dav/").send()), 401);
    let log = wait_for("the access line of the PROPFIND", || {
        let log = server.log();
        log.contains("PROPFIND /dav/ 401").then_some(log)
    });
    assert!(!log.contains("/healthz") && !log.contains("/readyz"), "{log}");
}
