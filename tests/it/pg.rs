//! The shared store: the real server binary and the CLI on one PostgreSQL database
//! (`DAVGATE_TEST_POSTGRES`; `.ci/run` starts one), and two servers starting on it at once.

use davgate::internal::TestDatabase;
use davgate::{Server, ServerOptions};
use std::time::{Duration, Instant};

use crate::util::{TestServer, cli, ok, refused};

/// A fresh database, or None when PostgreSQL tests are skipped.
fn database() -> Option<(tokio::runtime::Runtime, TestDatabase)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create())?;
    Some((runtime, db))
}

#[test]
fn a_server_on_postgres_serves_an_app_password_the_cli_made_and_refuses_it_once_revoked() {
    let Some((_runtime, db)) = database() else { return };
    let url = db.url().to_string();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &url]);
    // The CLI on another data directory, with the server running: it opens the database
    // itself, no admin socket involved.
    let elsewhere = tempfile::tempdir().unwrap();
    let on_db = |args: &[&str]| {
        let mut all = vec!["--store", url.as_str()];
        all.extend_from_slice(args);
        cli(elsewhere.path(), &all)
    };
    ok(&on_db(&["user", "add", "alice"]));
    let created = ok(&on_db(&["app-password", "create", "alice", "laptop", "--json"]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, password) = (created["id"].as_str().unwrap(), created["password"].as_str().unwrap());
    assert_eq!(server.probe("alice", password), 207);
    let put = server.as_user("alice", password, "PUT", "/dav/hello.txt").body("hi").send();
    assert_eq!(crate::util::status(put), 201);

    ok(&on_db(&["app-password", "revoke", "alice", id]));
    let started = Instant::now();
    loop {
        match server.probe("alice", password) {
            401 => break,
            status => assert!(
                started.elapsed() < Duration::from_secs(2),
                "still {status} two seconds after the CLI revoked the password"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let users = ok(&on_db(&["user", "list", "--json"]));
    assert!(users.contains("\"admin\"") && users.contains("\"alice\""), "{users}");
    ok(&on_db(&["user", "remove", "alice"]));
    assert!(!ok(&on_db(&["user", "list", "--json"])).contains("\"alice\""));
}

/// TLS URLs work now (tests/it/pg_tls.rs); an sslmode davgate does not offer is refused.
#[test]
fn a_postgres_url_with_an_sslmode_davgate_does_not_offer_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://dg@127.0.0.1:1/db?sslmode=allow";
    let line = refused(&cli(dir.path(), &["--store", url, "user", "list"]));
    assert!(line.contains("sslmode=allow"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_starting_at_once_on_an_empty_database_create_one_admin() {
    let Some(db) = TestDatabase::create().await else { return };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let starts = dirs.iter().map(|dir| {
        let mut options = ServerOptions::new(dir.path());
        options.listen = "127.0.0.1:0".parse().unwrap();
        options.store = Some(db.location());
        Server::start(options)
    });
    let servers: Vec<Server> =
        futures_util::future::join_all(starts).await.into_iter().map(|s| s.unwrap()).collect();
    let created = servers.iter().filter(|s| s.first_admin().is_some()).count();
    assert_eq!(created, 1, "exactly one node creates the first admin");
    let users = servers[1].admin().users().await.unwrap();
    assert_eq!(users.len(), 1);
}
