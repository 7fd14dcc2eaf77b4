//! Writes that must stay inside the rules: partial updates are refused, the quota holds under
//! parallel uploads and copies, uploads in flight are capped server-wide, folders nest only so
//! deep, a folder cannot be copied or moved into itself (nor the home anywhere), and a removed
//! account's files do not go to the next account of that name.

use crate::util::*;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const KIB: usize = 1024;
const MIB: u64 = 1024 * 1024;

/// Total bytes of the regular files under `dir` (symlinks not followed).
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += bytes_under(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// Every path under `dir`, relative and sorted, with the size of each file.
fn tree(dir: &Path) -> Vec<(String, Option<u64>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Option<u64>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let name = entry.path().strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                out.push((name, None));
                walk(root, &entry.path(), out);
            } else {
                out.push((name, Some(meta.len())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn server_with_alice(extra: &[&str]) -> (TestServer, String) {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), extra);
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    (server, pw)
}

#[test]
fn partial_puts_and_patches_are_refused_and_nothing_is_written() {
    let (server, pw) = server_with_alice(&[]);
    let dav = |method: &str, path: &str| server.as_user("alice", &pw, method, path);
    let original = vec![b'A'; 1000];
    assert_eq!(status(dav("PUT", "/dav/doc.bin").body(original.clone()).send()), 201);

    let res = dav("PUT", "/dav/doc.bin")
        .header("Content-Range", "bytes 0-299/*")
        .body(vec![b'B'; 300])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 501);
    assert!(res.text().unwrap().contains("Partial updates are not supported"));

    for range in ["append", "bytes=0-299"] {
        let res = dav("PATCH", "/dav/doc.bin")
            .header("Content-Type", "application/x-sabredav-partialupdate")
            .header("X-Update-Range", range)
            .body(vec![b'B'; 300])
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 501, "PATCH {range}");
        assert!(res.text().unwrap().contains("Partial updates are not supported"));
    }
    assert_eq!(std::fs::read(server.home("alice").join("doc.bin")).unwrap(), original);

    // The 1 TiB sparse file of the report: refused, and nothing created.
    let sparse = dav("PUT", "/dav/sparse.bin")
        .header("Content-Range", "bytes 1099511627776-1099511627777/*")
        .body("x\n")
        .send();
    assert_eq!(status(sparse), 501);
    assert!(!server.home("alice").join("sparse.bin").exists());
    assert_eq!(status(dav("GET", "/dav/sparse.bin").send()), 404);

    // Nor are partial updates advertised any more.
    let options = dav("OPTIONS", "/dav/doc.bin").send().unwrap();
    let header = |name: &str| {
        options.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    assert!(!header("dav").contains("partialupdate"), "DAV: {}", header("dav"));
    assert!(!header("allow").contains("PATCH"), "Allow: {}", header("allow"));
}

#[test]
fn the_quota_holds_under_parallel_puts_and_copies() {
    let (server, pw) = server_with_alice(&[]);
    ok(&server.cli(&["user", "quota", "alice", "1M"]));
    let home = server.home("alice");

    let statuses: Vec<u16> = std::thread::scope(|s| {
        let puts: Vec<_> = (0..20)
            .map(|i| {
                let (server, pw) = (&server, &pw);
                s.spawn(move || {
                    let path = format!("/dav/par{i}.bin");
                    status(
                        server
                            .as_user("alice", pw, "PUT", &path)
                            .body(vec![b'y'; 900 * KIB])
                            .send(),
                    )
                })
            })
            .collect();
        puts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "statuses: {statuses:?}");
    assert!(statuses.iter().all(|s| [201, 507].contains(s)), "statuses: {statuses:?}");
    assert!(bytes_under(&home) <= MIB, "the home holds {} bytes", bytes_under(&home));

    // Empty the home, then race copies of one 300 KiB file: at most two more fit in 1 MiB.
    for i in 0..20 {
        let _ = server.as_user("alice", &pw, "DELETE", &format!("/dav/par{i}.bin")).send();
    }
    let source = server.as_user("alice", &pw, "PUT", "/dav/src.bin").body(vec![b'z'; 300 * KIB]);
    assert_eq!(status(source.send()), 201);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let copies: Vec<_> = (0..10)
            .map(|i| {
                let (server, pw) = (&server, &pw);
                s.spawn(move || {
                    let copy = server
                        .as_user("alice", pw, "COPY", "/dav/src.bin")
                        .header("Destination", format!("/dav/copy{i}.bin"));
                    status(copy.send())
                })
            })
            .collect();
        copies.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let copied = statuses.iter().filter(|s| **s == 201).count();
    assert!((1..=2).contains(&copied), "statuses: {statuses:?}");
    assert!(bytes_under(&home) <= MIB, "the home holds {} bytes", bytes_under(&home));
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".davgate-upload-")
        })
        .count()
}

#[test]
fn uploads_past_the_server_wide_cap_are_answered_503_with_retry_after() {
    let (server, pw) = server_with_alice(&["--max-uploads", "2"]);
    let home = server.home("alice");
    assert_eq!(status(server.as_user("alice", &pw, "PUT", "/dav/seed.txt").body("x").send()), 201);
    let stalled: Vec<TcpStream> = (0..2)
        .map(|i| raw_put(&server, &pw, &format!("/dav/slow{i}.bin"), 1_000_000, "some bytes"))
        .collect();
    // Both stalled uploads hold their slot (and a temporary file) once the server read them.
    let start = Instant::now();
    while temp_files(&home) < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "the stalled uploads never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    for method in ["PUT", "COPY"] {
        let res = server
            .as_user("alice", &pw, method, "/dav/seed.txt")
            .header("Destination", "/dav/copy.txt")
            .body("y")
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 503, "{method}");
        assert!(res.headers().contains_key("retry-after"), "{method}: no Retry-After");
        assert!(res.text().unwrap().contains("Too many uploads"));
    }
    // Reads are not uploads.
    assert_eq!(status(server.as_user("alice", &pw, "GET", "/dav/seed.txt").send()), 200);

    // The stalled clients go away: their slots come back.
    drop(stalled);
    let start = Instant::now();
    loop {
        let put = server.as_user("alice", &pw, "PUT", "/dav/later.txt").body("later").send();
        match status(put) {
            201 => break,
            503 if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => panic!("PUT after the stalled uploads ended: {other}"),
        }
    }
    assert_eq!(temp_files(&home), 0);
}

#[test]
fn folders_nest_only_as_deep_as_the_limit_and_deeper_planted_trees_can_be_deleted() {
    let (server, pw) = server_with_alice(&["--max-depth", "8"]);
    let dav = |method: &str, path: &str| server.as_user("alice", &pw, method, path);
    let mut path = String::from("/dav");
    for level in 1..=8 {
        path.push_str(&format!("/d{level}"));
        assert_eq!(status(dav("MKCOL", &path).send()), 201, "level {level}");
    }
    let too_deep = dav("MKCOL", &format!("{path}/d9")).send().unwrap();
    assert_eq!(too_deep.status().as_u16(), 403);
    assert!(too_deep.text().unwrap().contains("at most 8 levels"));
    assert_eq!(status(dav("PUT", &format!("{path}/file.txt")).body("x").send()), 403);
    assert!(!server.home("alice").join("d1/d2/d3/d4/d5/d6/d7/d8/d9").exists());
    assert!(!server.home("alice").join("d1/d2/d3/d4/d5/d6/d7/d8/file.txt").exists());

    // Copying or moving the 8-level tree one level down would make it 9 levels deep.
    assert_eq!(status(dav("MKCOL", "/dav/x").send()), 201);
    let before = tree(&server.home("alice"));
    for method in ["COPY", "MOVE"] {
        let res = dav(method, "/dav/d1").header("Destination", "/dav/x/d1").send().unwrap();
        assert_eq!(res.status().as_u16(), 403, "{method}");
        assert!(res.text().unwrap().contains("at most 8 levels"));
    }
    assert_eq!(tree(&server.home("alice")), before, "a refused COPY/MOVE changed the tree");
    // Up is always fine.
    assert_eq!(status(dav("COPY", "/dav/d1/d2").header("Destination", "/dav/up").send()), 201);

    // A deeper tree put on disk by other means is listed and deleted like any other, but not
    // copied.
    let planted =
        server.home("alice").join((1..=40).map(|i| format!("p{i}")).collect::<Vec<_>>().join("/"));
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(planted.join("deep.txt"), "deep").unwrap();
    assert_eq!(status(dav("PROPFIND", "/dav/p1").header("Depth", "1").send()), 207);
    // Copied whole it would create paths past the limit, even beside itself.
    assert_eq!(status(dav("COPY", "/dav/p1").header("Destination", "/dav/p1-copy").send()), 403);
    assert!(!server.home("alice").join("p1-copy").exists());
    assert_eq!(status(dav("DELETE", "/dav/p1").send()), 204);
    assert!(!server.home("alice").join("p1").exists());
}

#[test]
fn a_folder_cannot_be_copied_or_moved_into_itself_nor_the_home_anywhere() {
    let (server, pw) = server_with_alice(&[]);
    let dav = |method: &str, path: &str| server.as_user("alice", &pw, method, path);
    assert_eq!(status(dav("MKCOL", "/dav/dir").send()), 201);
    assert_eq!(status(dav("PUT", "/dav/dir/f.txt").body("content").send()), 201);
    let before = tree(&server.home("alice"));

    let cases = [
        ("/dav/dir", "/dav/dir/sub", "into itself"),
        ("/dav/dir/", "/dav/dir/sub/deeper/", "into itself"),
        ("/dav/dir", "/dav/dir", "the same"),
        ("/dav/", "/dav/x", "home folder itself"),
        ("/dav", "/dav/x", "home folder itself"),
        ("/dav/dir", "/dav/", "onto the home folder"),
    ];
    for method in ["COPY", "MOVE"] {
        for (from, to, why) in cases {
            let res = dav(method, from).header("Destination", to).send().unwrap();
            assert_eq!(res.status().as_u16(), 403, "{method} {from} -> {to}");
            let text = res.text().unwrap();
            assert!(text.contains(why), "{method} {from} -> {to}: {text}");
        }
    }
    assert_eq!(tree(&server.home("alice")), before, "a refused COPY/MOVE changed the tree");
    assert!(server.log().lines().all(|l| !l.contains("panicked")));
}

#[test]
fn a_removed_users_files_and_locks_do_not_go_to_a_new_account_of_that_name() {
    let server = TestServer::start();
    server.add_user("frank");
    let old = server.app_password("frank", "laptop");
    let put = server.as_user("frank", &old, "PUT", "/dav/salary-review.txt").body("secret");
    assert_eq!(status(put.send()), 201);
    let lock = r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#;
    let locked = server.as_user("frank", &old, "LOCK", "/dav/salary-review.txt").body(lock).send();
    assert_eq!(status(locked), 200);

    let removed = ok(&server.cli(&["user", "remove", "frank"]));
    assert!(removed.contains(".removed"), "{removed}");
    server.add_user("frank");
    let new = server.app_password("frank", "laptop");
    let dav = |method: &str, path: &str| server.as_user("frank", &new, method, path);
    assert_eq!(status(dav("GET", "/dav/salary-review.txt").send()), 404);
    let listing = dav("PROPFIND", "/dav/").header("Depth", "1").send().unwrap().text().unwrap();
    assert!(!listing.contains("salary-review"), "{listing}");
    // The old account's lock went with it: the new account writes the same name freely.
    assert_eq!(status(dav("PUT", "/dav/salary-review.txt").body("mine").send()), 201);

    // The old files are kept aside, where nothing serves them.
    let aside = server.dir().join("files/.removed");
    let folders: Vec<_> = std::fs::read_dir(&aside).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(folders[0].file_name().unwrap().to_string_lossy().starts_with("frank-"));
    assert_eq!(std::fs::read_to_string(folders[0].join("salary-review.txt")).unwrap(), "secret");
}
