//! `davgate backup` and `davgate restore`: a backup taken while the server is busy restores
//! every account and app password that existed when it was taken, and each refusal is one
//! clear line.
//!
//! Backups copy the embedded store: on the suite's PostgreSQL pass (`DAVGATE_TEST_STORE=
//! postgres`) the tests that need a redb server are skipped, and the PostgreSQL refusal is
//! tested on every pass (it needs no database: it comes before any connection).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{TestServer, cli, create_app_password, ok, refused, status};

const NS: &str = "http://example.com/davgate-test/";

/// Whether this pass runs its servers on PostgreSQL (the redb-only tests then skip).
fn on_postgres_pass() -> bool {
    std::env::var("DAVGATE_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The CLI on the redb store of `dir`, whatever store the suite runs on.
fn on_redb(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--store", "redb"];
    all.extend_from_slice(args);
    cli(dir, &all)
}

/// Stores `color` as a dead property of `path`.
fn set_color(server: &TestServer, user: &str, pw: &str, path: &str, color: &str) {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:color xmlns:x="{NS}">{color}</x:color></D:prop></D:set></D:propertyupdate>"#
    );
    let res = server.as_user(user, pw, "PROPPATCH", path).body(body).send().unwrap();
    assert_eq!(res.status().as_u16(), 207, "PROPPATCH {path}");
}

/// An account with one app password, made through the CLI (the running server's socket).
#[derive(Debug, Clone)]
struct Account {
    user: String,
    app_password_id: String,
    app_password: String,
}

fn make_account(dir: &Path, user: &str) -> Account {
    ok(&cli(dir, &["user", "add", user]));
    let (app_password_id, app_password) = create_app_password(dir, user, "laptop");
    Account { user: user.into(), app_password_id, app_password }
}

#[test]
fn a_backup_taken_under_write_load_restores_every_account_and_app_password_made_before_it() {
    if on_postgres_pass() {
        return;
    }
    let mut server = TestServer::start();
    let before: Vec<Account> =
        (0..3).map(|i| make_account(server.dir(), &format!("early{i}"))).collect();
    let alice = &before[0];
    let put = server.as_user(&alice.user, &alice.app_password, "PUT", "/dav/report.txt");
    assert_eq!(status(put.body("quarterly").send()), 201);
    set_color(&server, &alice.user, &alice.app_password, "/dav/report.txt", "blue");

    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("davgate-backup.redb");
    let done: Mutex<Vec<Account>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let backup = std::thread::scope(|scope| {
        // The load: accounts and app passwords through the CLI, PUTs with dead properties.
        scope.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let account = make_account(server.dir(), &format!("busy{i}"));
                let path = format!("/dav/load-{i}.txt");
                let put = server.as_user(&alice.user, &alice.app_password, "PUT", &path);
                assert_eq!(status(put.body("x").send()), 201);
                set_color(&server, &alice.user, &alice.app_password, &path, "green");
                done.lock().unwrap().push(account);
                i += 1;
            }
        });
        let started = Instant::now();
        while done.lock().unwrap().len() < 2 {
            assert!(started.elapsed() < Duration::from_secs(60), "the load made no progress");
            std::thread::sleep(Duration::from_millis(20));
        }
        let made_before_backup = done.lock().unwrap().clone();
        let out = cli(server.dir(), &["backup", file.to_str().unwrap()]);
        // One more round of writes after the backup, then stop.
        let after = done.lock().unwrap().len() + 1;
        while done.lock().unwrap().len() < after {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        (out, made_before_backup)
    });
    let (out, made_during_load) = backup;
    let summary = ok(&out);
    assert!(summary.starts_with(&format!("wrote {}: ", file.display())), "{summary}");
    assert!(server.log().contains("backup "), "the server wrote it: {}", server.log());
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds password hashes");
    let made_after: Vec<Account> = done.into_inner().unwrap();

    // Stop the server and put the backup back on its data directory.
    assert!(server.terminate().is_some_and(|s| s.success()), "{}", server.log());
    let data = std::mem::replace(&mut server.data, tempfile::tempdir().unwrap());
    drop(server);
    let restored = ok(&cli(data.path(), &["restore", file.to_str().unwrap()]));
    assert!(restored.starts_with("restored "), "{restored}");
    assert!(restored.contains("the replaced store is kept as"), "{restored}");
    let kept = std::fs::read_dir(data.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("davgate.redb.before-restore-"))
        .count();
    assert_eq!(kept, 1, "the replaced store is kept beside the restored one");

    let server = TestServer::start_with(data, &[]);
    for account in before.iter().chain(&made_during_load) {
        assert_eq!(
            server.probe(&account.user, &account.app_password),
            207,
            "{} made before the backup",
            account.user
        );
    }
    let res = server
        .as_user(&alice.user, &alice.app_password, "PROPFIND", "/dav/report.txt")
        .header("Depth", "0")
        .send()
        .unwrap();
    assert!(res.text().unwrap().contains(">blue</x:color>"), "the dead property came back");

    // What was being written while the copy ran is in it whole or not at all.
    let users = ok(&cli(server.dir(), &["user", "list", "--json"]));
    let listed = ok(&cli(server.dir(), &["app-password", "list", "--all", "--json"]));
    let user_count = serde_json::from_str::<Vec<serde_json::Value>>(&users).unwrap().len();
    assert!(restored.contains(&format!("restored {user_count} users")), "{restored} / {users}");
    for account in &made_after {
        if listed.contains(&account.app_password_id) {
            assert_eq!(server.probe(&account.user, &account.app_password), 207, "{account:?}");
        }
    }
}

#[test]
fn a_backup_refuses_to_replace_an_existing_file_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    ok(&on_redb(dir.path(), &["user", "add", "alice"]));
    let target = tempfile::tempdir().unwrap();
    let file = target.path().join("store.redb");
    let file = file.to_str().unwrap();

    // No server runs: the CLI opens the store itself.
    let written = ok(&on_redb(dir.path(), &["backup", file]));
    assert!(written.contains("1 users"), "{written}");
    let line = refused(&on_redb(dir.path(), &["backup", file]));
    assert!(line.contains("already exists") && line.contains("--force"), "{line}");
    ok(&on_redb(dir.path(), &["backup", "--force", file]));

    let empty = tempfile::tempdir().unwrap();
    let line = refused(&on_redb(empty.path(), &["backup", file]));
    assert!(line.contains("there is no davgate store"), "{line}");
    assert!(!empty.path().join("davgate.redb").exists(), "a backup creates no store");
}

#[test]
fn a_restore_is_refused_while_a_server_runs_and_the_store_stays_as_it_was() {
    if on_postgres_pass() {
        return;
    }
    let server = TestServer::start();
    server.add_user("alice");
    let target = tempfile::tempdir().unwrap();
    let file = target.path().join("store.redb");
    ok(&server.cli(&["backup", file.to_str().unwrap()]));
    server.add_user("bob");

    let line = refused(&server.cli(&["restore", file.to_str().unwrap()]));
    assert!(line.contains("server is running") && line.contains("stop it first"), "{line}");
    assert!(ok(&server.cli(&["user", "list"])).contains("bob"));
}

#[test]
fn restoring_a_file_that_is_not_a_davgate_store_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    ok(&on_redb(dir.path(), &["user", "add", "alice"]));
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "a shopping list, not a store\n").unwrap();

    let line = refused(&on_redb(dir.path(), &["restore", junk.to_str().unwrap()]));
    assert!(line.contains("is not a davgate store backup"), "{line}");
    assert!(line.contains("nothing was restored"), "{line}");
    assert!(ok(&on_redb(dir.path(), &["user", "list"])).contains("alice"));

    let line = refused(&on_redb(dir.path(), &["restore", "/nonexistent/backup.redb"]));
    assert!(line.contains("there is no backup file"), "{line}");
}

#[test]
fn a_backup_or_restore_of_a_postgresql_store_is_refused_with_the_pg_dump_hint() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before any connection: the URL need not answer.
    let url = "postgres://dg@127.0.0.1:1/davgate";
    let line = refused(&cli(dir.path(), &["--store", url, "backup", "/tmp/never.redb"]));
    assert!(line.contains("PostgreSQL") && line.contains("pg_dump"), "{line}");
    let line = refused(&cli(dir.path(), &["--store", url, "restore", "/tmp/never.redb"]));
    assert!(line.contains("pg_restore"), "{line}");
    assert!(!Path::new("/tmp/never.redb").exists());
}

#[test]
fn backup_and_restore_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&cli(dir.path(), &["backup", "--help"]));
    assert!(help.contains("--force") && help.contains("pg_dump"), "{help}");
    let help = ok(&cli(dir.path(), &["restore", "--help"]));
    assert!(help.contains("before-restore"), "{help}");
}
