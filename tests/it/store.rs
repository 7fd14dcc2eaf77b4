//! The store file: schema version checked at open, consistent after a crash.

use crate::util::*;
use redb::{Database, TableDefinition};

#[test]
fn a_store_written_by_a_newer_davgate_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(dir.path(), &["user", "add", "alice"]));
    {
        let db = Database::create(dir.path().join("davgate.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
        txn.open_table(meta).unwrap().insert("schema_version", 99).unwrap();
        txn.commit().unwrap();
    }
    let line = refused(&cli(dir.path(), &["user", "list"]));
    assert!(line.contains("newer davgate (schema 99"), "{line}");
}

#[test]
fn the_store_survives_a_kill_in_the_middle_of_writes() {
    let mut server = TestServer::start();
    server.add_user("alice");
    let dir = server.dir().to_path_buf();
    let writer = std::thread::spawn(move || {
        let mut created = 0;
        for i in 0..40 {
            let out =
                cli(&dir, &["app-password", "create", "alice", &format!("app {i}"), "--json"]);
            if !out.status.success() {
                break; // the server died under us
            }
            created += 1;
        }
        created
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    server.kill_hard().unwrap();
    let created = writer.join().unwrap();
    // With the server gone, the CLI opens the store itself: every committed password is whole.
    let listed = list_app_passwords(server.dir(), Some("alice"));
    assert!(listed.len() >= created, "{} listed, {created} confirmed", listed.len());
    for p in &listed {
        assert_eq!(p["user"], "alice");
        assert!(p["expires_at"].is_string() && p["id"].as_str().unwrap().len() == 10);
    }
    // And it keeps working.
    create_app_password(server.dir(), "alice", "after the crash");
}
