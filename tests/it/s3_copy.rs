//! `davgate files copy --from DIR --to s3://…` (issue 12): a local files root moved into moto's
//! bucket ([`crate::s3_util`]) and the PostgreSQL namespace, then served by `serve --files
//! s3://…` with the same bytes, times and dead properties; a copy killed half-way and run again;
//! the refusals.

use crate::s3_util::{KEYS, Moto, available};
use crate::util::*;
use davgate::internal::TestDatabase;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2021-03-04T05:06:07Z, and a time with microseconds below it.
const MTIME: u64 = 1_614_834_367;

/// The files of alice's home: nested folders, a non-ASCII name, an empty and a 20 MiB file,
/// and enough others that a copy can be stopped in the middle.
fn files() -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("docs/reports/2021/q1.txt".to_string(), b"first quarter".to_vec()),
        ("docs/\u{e9}t\u{e9} r\u{e9}sum\u{e9}.txt".to_string(), "été".as_bytes().to_vec()),
        ("empty.bin".to_string(), Vec::new()),
        ("big.bin".to_string(), pattern(20 << 20, 3)),
    ];
    for i in 0..24 {
        files.push((format!("bulk/part{i:02}.bin"), pattern(1 << 20, i)));
    }
    files
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect()
}

fn mtime_of(n: usize) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MTIME + 3600 * n as u64) + Duration::from_micros(123_456)
}

/// Writes the files under `home` with their times (folders too).
fn write_home(home: &Path) {
    for (n, (rel, bytes)) in files().iter().enumerate() {
        let path = home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(mtime_of(n)).unwrap();
    }
}

/// `davgate --store URL files copy --from FROM --to TO`, with the bucket's keys.
fn copy_command(data: &Path, store: &str, from: &Path, to: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data").arg(data).args(["--store", store, "files", "copy", "--from"]);
    cmd.arg(from).args(["--to", to]).envs(KEYS.iter().copied()).env_remove("DAVGATE_STORE");
    cmd
}

/// Runs a copy to its end (bounded to two minutes).
fn run_copy(cmd: &mut Command) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    out
}

/// `files d/t, …` progress lines: (done, total).
fn progress(line: &str) -> Option<(u64, u64)> {
    let counts = line.strip_prefix("files ")?.split(',').next()?;
    let (done, total) = counts.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// Starts a copy and kills it (SIGKILL, by its PID) once some files, not all, are done.
/// Returns how many were done by the last progress line.
fn copy_killed_half_way(cmd: &mut Command) -> u64 {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = 0;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some((d, total)) = progress(&line) {
            assert!(d < total, "the copy finished before it could be stopped: {line}");
            if d > 0 {
                done = d;
                break;
            }
        }
        assert!(Instant::now() < deadline, "no progress within two minutes");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "the copy was not killed");
    assert!(done > 0, "the copy printed no progress before it ended");
    done
}

fn prop_patch(name: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-test:"><D:set><D:prop><Z:{name}>kept across the move</Z:{name}></D:prop></D:set></D:propertyupdate>"#
    )
}

fn http_date(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A relative path as a request path (each byte outside the unreserved set escaped).
fn escaped(rel: &str) -> String {
    rel.bytes()
        .map(|b| match b {
            b'/' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_local_root_copied_to_a_bucket_is_served_the_same_and_a_killed_copy_resumes() {
    if !available() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(db) = runtime.block_on(TestDatabase::create()) else { return };
    let moto = Moto::start();
    let store = db.url().to_string();

    // A server on the local disk, with the PostgreSQL store: the account, its password, a dead
    // property on the non-ASCII file.
    let mut disk = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &store]);
    disk.add_user("alice");
    let pw = disk.app_password("alice", "laptop");
    assert_eq!(disk.probe("alice", &pw), 207);
    let home = disk.home("alice");
    write_home(&home);
    let tricky = "/dav/docs/%C3%A9t%C3%A9%20r%C3%A9sum%C3%A9.txt";
    let patched = disk.as_user("alice", &pw, "PROPPATCH", tricky).body(prop_patch("note")).send();
    assert_eq!(status(patched), 207);
    std::fs::write(disk.dir().join("files/.davgate-upload-web1:8080-0123456789abcdef"), "x")
        .unwrap();
    assert_eq!(disk.terminate().map(|s| s.success()), Some(true));
    let root = disk.dir().join("files");
    let data = tempfile::tempdir().unwrap();
    let to = moto.files("copied");

    // Killed half-way, then run again: complete, one blob per file, nothing twice.
    let done = copy_killed_half_way(&mut copy_command(data.path(), &store, &root, &to));
    let out = run_copy(&mut copy_command(data.path(), &store, &root, &to));
    let summary = ok(&out);
    let expected = files().len();
    assert!(summary.contains("homes: 1"), "{summary}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stderr.lines().rev().find_map(progress).unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(last, (expected as u64, expected as u64), "{stderr}");
    eprintln!("killed after {done} files; the next run: {summary}");
    let copied: u64 = summary.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(copied <= expected as u64 - done, "files copied twice: {summary} after {done}");
    assert_eq!(moto.keys().len(), expected, "blobs in the bucket: {:?}", moto.keys());

    // A third run finds everything there.
    let again = ok(&run_copy(&mut copy_command(data.path(), &store, &root, &to)));
    assert!(again.starts_with("copied 0 files"), "{again}");
    assert!(again.contains(&format!("{expected} already there")), "{again}");
    assert_eq!(moto.keys().len(), expected);

    // Served from the bucket: the same bytes, times and dead property.
    let s3 = TestServer::start_with_env(
        tempfile::tempdir().unwrap(),
        "127.0.0.1:0",
        &["--store", &store, "--files", &to],
        &KEYS,
    );
    for (n, (rel, bytes)) in files().iter().enumerate() {
        let path = format!("/dav/{}", escaped(rel));
        let res = s3.as_user("alice", &pw, "GET", &path).send().unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        let modified = res.headers()["last-modified"].to_str().unwrap().to_string();
        assert_eq!(modified, http_date(mtime_of(n)), "Last-Modified of {rel}");
        assert!(res.bytes().unwrap() == bytes[..], "the bytes of {rel}");
    }
    let ask = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop xmlns:Z="urn:x-test:"><Z:note/></D:prop></D:propfind>"#;
    let res = s3.as_user("alice", &pw, "PROPFIND", tricky).header("Depth", "0").body(ask).send();
    let xml = res.unwrap().text().unwrap();
    assert!(xml.contains("kept across the move"), "the dead property: {xml}");
    let listing = s3.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    let listing = listing.unwrap().text().unwrap();
    assert!(!listing.contains(".davgate-upload"), "a temporary file was copied: {listing}");

    // A file changed through the server, then on the disk: the copy refuses to overwrite it.
    let put = s3.as_user("alice", &pw, "PUT", "/dav/empty.bin").body("written on S3").send();
    assert_eq!(status(put), 204);
    std::fs::write(home.join("empty.bin"), "changed on disk").unwrap();
    let refusal = refused(&run_copy(&mut copy_command(data.path(), &store, &root, &to)));
    assert!(
        refusal.contains("/empty.bin") && refusal.contains("written through a server"),
        "{refusal}"
    );
    assert_eq!(moto.keys().len(), expected + 1, "a refused copy wrote into the bucket");
}

#[test]
fn a_copy_from_a_missing_folder_or_onto_the_embedded_store_is_refused_in_one_line() {
    if !available() {
        return;
    }
    let moto = Moto::start();
    let data = tempfile::tempdir().unwrap();
    let to = moto.files("x");
    let mut onto_redb = copy_command(data.path(), "redb", data.path(), &to);
    let line = refused(&run_copy(&mut onto_redb));
    assert!(line.contains("needs --store postgres://"), "{line}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(db) = runtime.block_on(TestDatabase::create()) else { return };
    let missing = data.path().join("no-such-root");
    let line = refused(&run_copy(&mut copy_command(data.path(), db.url(), &missing, &to)));
    assert!(line.contains("no-such-root: no such folder"), "{line}");
    let mut no_keys = copy_command(data.path(), db.url(), data.path(), &to);
    no_keys.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let line = refused(&run_copy(&mut no_keys));
    assert!(line.contains("AWS_ACCESS_KEY_ID"), "{line}");
    let help = ok(&run_copy(Command::new(BIN).args(["files", "copy", "--help"])));
    assert!(help.contains("--from <DIR>") && help.contains("Run it again"), "{help}");
    assert_eq!(moto.keys().len(), 0);
}
