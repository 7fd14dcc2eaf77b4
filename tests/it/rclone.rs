//! rclone (the real binary, `--webdav-vendor owncloud`) against the real server with an app
//! password: `sync` keeps bytes and modification times (`X-OC-Mtime`), `check` finds no
//! difference, `check --checkfile sha1` matches the SHA-1 served in `oc:checksums`, plain `check`
//! compares hashes (it picks MD5), a second `sync` transfers nothing, changes propagate, and a
//! body that does not match its `OC-Checksum` is refused with nothing stored.
//!
//! rclone runs with an on-the-fly connection-string remote, an empty config file and its own
//! cache dir: the user's rclone configuration is never read nor written. Without rclone the tests
//! fail, unless `DAVGATE_SKIP_RCLONE` is set.

use crate::files_root::{FilesRoot, Served, Stored};
use crate::util::*;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2020-01-01T00:00:00Z.
const JAN_2020: u64 = 1_577_836_800;

/// What a file is, as far as these tests care: its bytes and its modification time in whole
/// Unix seconds (rclone and `X-OC-Mtime` carry seconds).
#[derive(Debug, PartialEq, Eq, Clone)]
struct Entry {
    bytes: Vec<u8>,
    mtime: u64,
}

/// A rclone on the command line, pointed at one user's `/dav/` on one server.
struct Rclone {
    /// Empty config file and cache dir, so the user's rclone setup is left alone.
    scratch: tempfile::TempDir,
    /// `:webdav,url=…,vendor=owncloud,user=…,pass=…:`, to which a path may be appended.
    remote: String,
}

impl Rclone {
    /// None if rclone is missing and `DAVGATE_SKIP_RCLONE` is set; panics if it is missing
    /// otherwise.
    fn new(server: &TestServer, user: &str, password: &str) -> Option<Self> {
        if Command::new("rclone").arg("version").output().is_err() {
            if std::env::var_os("DAVGATE_SKIP_RCLONE").is_some() {
                eprintln!("rclone skipped (DAVGATE_SKIP_RCLONE is set)");
                return None;
            }
            panic!(
                "rclone is not installed: run .ci/run, or apt-get install rclone (or set DAVGATE_SKIP_RCLONE=1)"
            );
        }
        let scratch = tempfile::tempdir().expect("temp dir");
        std::fs::write(scratch.path().join("rclone.conf"), "").expect("empty rclone config");
        let mut rclone = Self { scratch, remote: String::new() };
        let obscured = rclone.ok(&["obscure", password]).trim().to_string();
        assert!(!obscured.is_empty() && !obscured.contains('\''), "obscured: {obscured:?}");
        rclone.remote = format!(
            ":webdav,url='{}/dav/',vendor=owncloud,user={user},pass='{obscured}':",
            server.base
        );
        Some(rclone)
    }

    /// `REMOTE:path`.
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.remote)
    }

    /// Runs rclone with `args`, isolated from the user's configuration and with retries off so
    /// that a failure shows at once.
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("rclone");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RCLONE_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .arg("--config")
            .arg(self.scratch.path().join("rclone.conf"))
            .arg("--cache-dir")
            .arg(self.scratch.path().join("cache"))
            .args(["--low-level-retries", "1", "--retries", "1"])
            .args(["--contimeout", "10s", "--timeout", "60s"])
            .output()
            .expect("run rclone")
    }

    /// Runs rclone, panics with its output (and the server's log) if it fails; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.expect_ok(args, None).0
    }

    /// Like [`Rclone::ok`], with the server's log in the panic message; returns (stdout, stderr).
    fn expect_ok(&self, args: &[&str], server: Option<&TestServer>) -> (String, String) {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "rclone {} failed ({}):\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- server log:\n{}",
            self.redact(&args.join(" ")),
            out.status,
            server.map(TestServer::log).unwrap_or_default()
        );
        (stdout, stderr)
    }

    /// The command line without the obscured password.
    fn redact(&self, text: &str) -> String {
        match self.remote.split_once(",pass=") {
            Some((_, pass)) => text.replace(pass, "'…':"),
            None => text.to_string(),
        }
    }
}

/// Every file under `root` by relative path ('/'-separated), with its bytes and mtime.
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(root, &path, out);
                continue;
            }
            assert!(meta.is_file(), "not a file: {}", path.display());
            let rel = path.strip_prefix(root).unwrap();
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_str().expect("UTF-8").into()).collect();
            let mtime = meta.modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs();
            out.insert(rel.join("/"), Entry { bytes: std::fs::read(&path).unwrap(), mtime });
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// [`tree`] as [`Served::stored_tree`] gives it: bytes and mtime by relative path.
pub(crate) fn disk_tree(root: &Path) -> Stored {
    tree(root).into_iter().map(|(path, e)| (path, (e.bytes, e.mtime))).collect()
}

/// Writes `bytes` at `root/rel` (creating folders) with modification time `mtime`.
fn put_file(root: &Path, rel: &str, bytes: &[u8], mtime: SystemTime) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
}

/// `n` pseudo-random bytes (xorshift64*), reproducible.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The local tree of awkward names. Every file gets its own day in January 2020 (and a few a
/// sub-second part, which rclone's one-second precision must absorb).
fn awkward_tree(root: &Path) {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("My Documents/Quarterly report.txt", b"Q1: up. Q2: down.\n".to_vec()),
        ("Été/naïve café ☕.txt", "déjà vu\n".into()),
        ("日本語/ファイル.md", "# 見出し\n".into()),
        ("notes #1.txt", b"hash in the name\n".to_vec()),
        ("100% done.txt", b"percent\n".to_vec()),
        ("a%20b.txt", b"a literal %20, not a space\n".to_vec()),
        ("c++/a+b.txt", b"plus signs\n".to_vec()),
        ("empty.txt", Vec::new()),
        ("My Documents/empty too", Vec::new()),
        ("deep/er/still/only.txt", b"the one file down here\n".to_vec()),
        ("big/noise.bin", noise(3 * 1024 * 1024 + 17, 0x5eed)),
    ];
    for (n, (rel, bytes)) in files.iter().enumerate() {
        let n = n as u64;
        let secs = JAN_2020 + n * 86_400 + n * 3_661;
        let nanos = if n % 2 == 1 { 123_456_789 } else { 0 };
        put_file(root, rel, bytes, UNIX_EPOCH + Duration::new(secs, nanos));
    }
}

/// A server with alice, her rclone app password, and a local tree already synced to it.
struct Synced {
    server: Served,
    local: tempfile::TempDir,
    rclone: Rclone,
}

impl Synced {
    fn local(&self) -> String {
        self.local.path().to_str().unwrap().to_string()
    }

    /// `rclone check LOCAL REMOTE:` must succeed and find every local file the same on the
    /// server; returns its stderr (where it reports).
    fn check(&self) -> String {
        let local = self.local();
        let (_, stderr) = self
            .rclone
            .expect_ok(&["check", &local, &self.rclone.at("")], Some(&self.server.server));
        eprintln!("rclone check:\n{stderr}");
        let files = tree(self.local.path()).len();
        assert!(stderr.contains(": 0 differences found"), "rclone check:\n{stderr}");
        assert!(stderr.contains(&format!(": {files} matching files")), "rclone check:\n{stderr}");
        stderr
    }

    /// SHA-1 comparison forced: `rclone hashsum sha1 LOCAL` into a sum file, then
    /// `rclone check --checkfile sha1 SUMS REMOTE:` compares it with the `oc:checksums` SHA-1
    /// of every remote file (a missing or different one fails).
    fn check_sha1(&self) {
        let sums = self.rclone.scratch.path().join("local.sha1");
        let sums = sums.to_str().unwrap();
        self.rclone.ok(&["hashsum", "sha1", &self.local(), "--output-file", sums]);
        let args = ["check", "--checkfile", "sha1", sums, &self.rclone.at("")];
        let (_, stderr) = self.rclone.expect_ok(&args, Some(&self.server.server));
        let files = tree(self.local.path()).len();
        assert!(stderr.contains(": 0 differences found"), "rclone check --checkfile:\n{stderr}");
        assert!(
            stderr.contains(&format!(": {files} matching files")),
            "rclone check --checkfile:\n{stderr}"
        );
        assert!(!stderr.contains("could not"), "rclone check --checkfile:\n{stderr}");
    }

    /// `rclone sync -vv LOCAL REMOTE:`; returns its stderr.
    fn sync(&self) -> String {
        let local = self.local();
        let args = ["sync", "-vv", &local, &self.rclone.at("")];
        self.rclone.expect_ok(&args, Some(&self.server.server)).1
    }

    /// Asserts what the server stores (remote listing and home on disk) is the local tree.
    fn assert_same_everywhere(&self) {
        let local = tree(self.local.path());

        // What rclone sees: sizes, modification times, SHA-1 from oc:checksums.
        let listing =
            self.rclone.ok(&["lsjson", "-R", "--files-only", "--hash", &self.rclone.at("")]);
        let listing: Vec<serde_json::Value> = serde_json::from_str(&listing).expect("lsjson");
        let mut remote = BTreeMap::new();
        for item in &listing {
            let path = item["Path"].as_str().expect("Path").to_string();
            let mtime = chrono::DateTime::parse_from_rfc3339(item["ModTime"].as_str().unwrap())
                .expect("ModTime")
                .timestamp() as u64;
            let size = item["Size"].as_u64().expect("Size");
            let sha1 = item["Hashes"]["sha1"].as_str().unwrap_or("").to_string();
            remote.insert(path, (size, mtime, sha1));
        }
        let expected: BTreeMap<String, (u64, u64, String)> = local
            .iter()
            .map(|(p, e)| (p.clone(), (e.bytes.len() as u64, e.mtime, sha1_hex(&e.bytes))))
            .collect();
        assert_eq!(remote, expected, "rclone lsjson (path -> size, mtime, sha1) vs local");

        // What is stored in the home (on disk, or in the namespace and the bucket): same
        // names, bytes and mtimes, nothing else.
        let home = self.server.stored_tree("alice");
        let names: Vec<&String> = home.keys().collect();
        assert_eq!(names, local.keys().collect::<Vec<_>>(), "files in the home vs local");
        for (path, entry) in &local {
            let (bytes, mtime) = &home[path];
            assert!(*bytes == entry.bytes, "{path}: different bytes stored");
            assert_eq!(*mtime, entry.mtime, "{path}: mtime stored");
        }
    }
}

/// Starts a server on `root`, creates alice and her app password "rclone", syncs the awkward tree once.
/// None if rclone is missing and skipping was asked for.
fn synced(root: FilesRoot) -> Option<Synced> {
    let server = Served::start(root)?;
    server.add_user("alice");
    let pw = server.app_password("alice", "rclone");
    let rclone = Rclone::new(&server, "alice", &pw)?;
    let local = tempfile::tempdir().expect("temp dir");
    awkward_tree(local.path());
    let synced = Synced { server, local, rclone };
    let stderr = synced.sync();
    let copied = stderr.lines().filter(|l| l.contains(": Copied (new)")).count();
    assert_eq!(copied, tree(synced.local.path()).len(), "first sync copies every file:\n{stderr}");
    Some(synced)
}

#[test]
fn sync_keeps_content_and_modification_times_and_check_finds_no_difference() {
    sync_keeps_content_and_modification_times_and_check_finds_no_difference_on(FilesRoot::Disk);
}

#[test]
fn sync_keeps_content_and_modification_times_and_check_finds_no_difference_with_files_on_object_storage()
 {
    sync_keeps_content_and_modification_times_and_check_finds_no_difference_on(FilesRoot::S3);
}

fn sync_keeps_content_and_modification_times_and_check_finds_no_difference_on(root: FilesRoot) {
    let Some(s) = synced(root) else { return };
    s.check();
    s.check_sha1();
    s.assert_same_everywhere();
    let listed = list_app_passwords(s.server.dir(), Some("alice"));
    let mine = listed.iter().find(|p| p["name"] == "rclone").expect("the rclone app password");
    assert_eq!(mine["access_method"], "rclone");
}

/// Plain `rclone check`, owncloud vendor: rclone 1.60 says the remote has MD5 and SHA-1, and
/// compares the first hash both sides have, MD5 ("Using md5 for hash comparisons"). Every
/// file whose `oc:checksums` lacks `MD5:` is then "OK - could not check hash": only sizes were
/// compared. ownCloud serves both (`<oc:checksum>SHA1:… MD5:…</oc:checksum>`, space-separated,
/// which rclone parses).
#[test]
fn plain_rclone_check_compares_hashes_not_only_sizes() {
    plain_rclone_check_compares_hashes_not_only_sizes_on(FilesRoot::Disk);
}

#[test]
fn plain_rclone_check_compares_hashes_not_only_sizes_with_files_on_object_storage() {
    plain_rclone_check_compares_hashes_not_only_sizes_on(FilesRoot::S3);
}

fn plain_rclone_check_compares_hashes_not_only_sizes_on(root: FilesRoot) {
    let Some(s) = synced(root) else { return };
    let stderr = s.check();
    assert!(
        !stderr.contains("hashes could not be checked"),
        "rclone check compared sizes only: it uses MD5 (the first hash that local and an \
         owncloud remote share) and the server's oc:checksums carry SHA1 only, no MD5:\n{stderr}"
    );
}

#[test]
fn a_second_sync_transfers_nothing() {
    a_second_sync_transfers_nothing_on(FilesRoot::Disk);
}

#[test]
fn a_second_sync_transfers_nothing_with_files_on_object_storage() {
    a_second_sync_transfers_nothing_on(FilesRoot::S3);
}

fn a_second_sync_transfers_nothing_on(root: FilesRoot) {
    let Some(s) = synced(root) else { return };
    let stderr = s.sync();
    let stats = stderr.lines().skip_while(|l| !l.starts_with("Transferred:"));
    eprintln!("second sync, its stats:\n{}", stats.collect::<Vec<_>>().join("\n"));
    let files = tree(s.local.path()).len();
    for word in ["Copied", "Deleted", "Updated modification time", "Moved"] {
        assert!(!stderr.contains(word), "second sync: {word:?} in its log:\n{stderr}");
    }
    let unchanged = stderr.lines().filter(|l| l.contains(": Unchanged skipping")).count();
    assert_eq!(unchanged, files, "every file unchanged (size and mtime):\n{stderr}");
    let transfers = stderr.lines().find(|l| l.starts_with("Transferred:") && !l.contains(" B "));
    if let Some(line) = transfers {
        assert!(line.contains(" 0 / 0,"), "second sync transferred files: {line}\n{stderr}");
    }
}

#[test]
fn changes_propagate() {
    changes_propagate_on(FilesRoot::Disk);
}

#[test]
fn changes_propagate_with_files_on_object_storage() {
    changes_propagate_on(FilesRoot::S3);
}

fn changes_propagate_on(root: FilesRoot) {
    let Some(s) = synced(root) else { return };
    let root = s.local.path();
    let later = UNIX_EPOCH + Duration::from_secs(JAN_2020 + 400 * 86_400 + 7);
    put_file(root, "notes #1.txt", b"rewritten, and longer than before\n", later);
    std::fs::remove_file(root.join("100% done.txt")).unwrap();
    put_file(root, "Nouveau dossier/ajouté.txt", b"new\n", later + Duration::from_secs(60));

    let stderr = s.sync();
    for line in [
        "notes #1.txt: Copied (replaced existing)",
        "Nouveau dossier/ajouté.txt: Copied (new)",
        "100% done.txt: Deleted",
    ] {
        assert!(stderr.contains(line), "sync log lacks {line:?}:\n{stderr}");
    }
    s.check();
    s.check_sha1();
    assert_eq!(s.server.stored_file("alice", "100% done.txt"), None, "deleted file still there");
    s.assert_same_everywhere();
}

#[test]
fn a_corrupted_upload_is_refused_and_nothing_is_stored() {
    a_corrupted_upload_is_refused_and_nothing_is_stored_on(FilesRoot::Disk);
}

#[test]
fn a_corrupted_upload_is_refused_and_nothing_is_stored_with_files_on_object_storage() {
    a_corrupted_upload_is_refused_and_nothing_is_stored_on(FilesRoot::S3);
}

fn a_corrupted_upload_is_refused_and_nothing_is_stored_on(root: FilesRoot) {
    let Some(server) = Served::start(root) else { return };
    server.add_user("alice");
    let pw = server.app_password("alice", "rclone");
    let wrong = format!("SHA1:{}", "0".repeat(40));
    let res = server
        .as_user("alice", &pw, "PUT", "/dav/x.txt")
        .header("OC-Checksum", &wrong)
        .header("X-OC-Mtime", "1577836800")
        .body("data")
        .send()
        .expect("PUT");
    assert_eq!(res.status().as_u16(), 400, "{:?}", res.text());
    let left: Vec<String> = match server.on_s3() {
        true => server.stored_tree("alice").into_keys().collect(),
        false => std::fs::read_dir(server.home("alice"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default(),
    };
    assert!(left.is_empty(), "nothing stored in the home, found {left:?}");

    // The same body with its right checksum is stored, with the asked-for mtime.
    let right = format!("SHA1:{}", sha1_hex(b"data"));
    let res = server
        .as_user("alice", &pw, "PUT", "/dav/x.txt")
        .header("OC-Checksum", &right)
        .header("X-OC-Mtime", "1577836800")
        .body("data")
        .send()
        .expect("PUT");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers().get("x-oc-mtime").map(|v| v.to_str().unwrap()), Some("accepted"));
    let stored = server.stored_tree("alice");
    let expected = (b"data".to_vec(), JAN_2020);
    assert_eq!(stored.into_iter().collect::<Vec<_>>(), vec![("x.txt".to_string(), expected)]);
}
