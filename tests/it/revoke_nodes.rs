//! Revocation across nodes: three `davgate serve` processes on one PostgreSQL database. A revoke
//! made through one node (or by the CLI on the database) is refused by every node on the very
//! next request, also after a node lost its notification connection; a node cut from the
//! database trusts what it cached for at most the staleness bound (2 s), then answers 503, and
//! serves again by itself once the database is back.

use serde_json::json;
use std::time::{Duration, Instant};

use crate::util::PgCluster as Cluster;
use crate::util::{
    TestServer, add_user_with_password, cli, create_app_password, ok, session_cookie,
};

/// The staleness bound of src/store/pg/nodes.rs.
const STALENESS: Duration = Duration::from_secs(2);

const PASSWORD: &str = "a long enough primary password";

/// A fresh database on `DAVGATE_TEST_POSTGRES`; None when PostgreSQL tests are skipped.
pub(crate) fn database() -> Option<davgate::internal::TestDatabase> {
    runtime().block_on(davgate::internal::TestDatabase::create())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs `sql` on the database at `url` (from outside davgate, as an admin would) and returns
/// the first column of each row as text.
pub(crate) fn sql(url: &str, sql: &str) -> Vec<String> {
    runtime().block_on(async {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let driving = tokio::spawn(connection);
        let rows = client.simple_query(sql).await.unwrap();
        drop(client);
        let _ = driving.await;
        rows.iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").into()),
                _ => None,
            })
            .collect()
    })
}

/// The application names of the sessions open on `url`'s database now.
fn sessions(url: &str) -> Vec<String> {
    sql(
        url,
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() ORDER BY 1",
    )
}

/// Waits (at most 10 s) until a session named `name` is open on `url`'s database.
fn wait_for_session(url: &str, name: &str) {
    let started = Instant::now();
    while !sessions(url).iter().any(|n| n == name) {
        assert!(started.elapsed() < Duration::from_secs(10), "no session {name:?}: {:?}", {
            sessions(url)
        });
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node on the store `url`, named `id`, serving the files root `files`.
fn node_with_files(url: &str, id: &str, files: &std::path::Path) -> TestServer {
    let files = files.to_str().unwrap();
    let args = ["--store", url, "--node-id", id, "--files", files];
    TestServer::start_with(tempfile::tempdir().unwrap(), &args)
}

/// A node on the store `url`, named `id`.
fn node(url: &str, id: &str) -> TestServer {
    TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", url, "--node-id", id])
}

/// Three nodes on `url`, alice with a primary password and an app password (id, password)
/// that nodes 2 and 3 have verified and cached.
fn three_nodes_with_a_cached_password(url: &str) -> ([TestServer; 3], String, String) {
    let one = node(url, "n1");
    let (two, three) = (node(url, "n2"), node(url, "n3"));
    add_user_with_password(&one, "alice", PASSWORD);
    let (id, password) = create_app_password(one.dir(), "alice", "laptop");
    for n in [&two, &three] {
        assert_eq!(n.probe("alice", &password), 207, "verified");
        assert_eq!(n.probe("alice", &password), 207, "from the cache");
    }
    ([one, two, three], id, password)
}

/// Revokes alice's app password `id` through `server`'s JSON API, signed in as alice.
fn revoke_through_the_api(server: &TestServer, id: &str) {
    let body = json!({ "user": "alice", "password": PASSWORD });
    let signed_in = server
        .request("POST", "/api/v1/session")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = session_cookie(signed_in.headers()).expect("a session cookie");
    let answer: serde_json::Value = serde_json::from_str(&signed_in.text().unwrap()).unwrap();
    let csrf = answer["csrf_token"].as_str().unwrap();
    let revoked = server
        .request("DELETE", &format!("/api/v1/me/app-passwords/{id}"))
        .header("Cookie", format!("davgate_session={cookie}"))
        .header("X-CSRF-Token", csrf)
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 204, "{}", revoked.text().unwrap_or_default());
}

#[test]
fn a_revoke_through_node_1s_api_is_refused_by_nodes_2_and_3_on_the_next_request() {
    let Some(db) = database() else { return };
    let ([one, two, three], id, password) = three_nodes_with_a_cached_password(db.url());
    revoke_through_the_api(&one, &id);
    assert_eq!(two.probe("alice", &password), 401, "node 2, the very next request");
    assert_eq!(three.probe("alice", &password), 401, "node 3, the very next request");
    assert_eq!(one.probe("alice", &password), 401, "node 1");
}

#[test]
fn each_node_names_its_connections_and_a_revoke_holds_after_its_listener_was_killed() {
    let Some(db) = database() else { return };
    let url = db.url();
    let ([one, two, three], id, password) = three_nodes_with_a_cached_password(url);
    wait_for_session(url, "davgate n2 listener");
    let names = sessions(url);
    for expected in ["davgate n1", "davgate n2", "davgate n3", "davgate n3 listener"] {
        assert!(names.iter().any(|n| n == expected), "no {expected:?} in {names:?}");
    }

    let killed = sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'davgate n2 listener'",
    );
    assert_eq!(killed, ["t"], "node 2's listener, and only it");
    // Revoked at once by a CLI that opens the database itself (no node's admin socket).
    let elsewhere = tempfile::tempdir().unwrap();
    ok(&cli(elsewhere.path(), &["--store", url, "app-password", "revoke", "alice", &id]));
    assert_eq!(two.probe("alice", &password), 401, "node 2, its notifications cut");
    assert_eq!(three.probe("alice", &password), 401, "node 3");
    assert_eq!(one.probe("alice", &password), 401, "node 1");
    // The listener comes back by itself.
    wait_for_session(url, "davgate n2 listener");
}

/// One GET of alice's file on `server`: (status, Retry-After).
fn get(server: &TestServer, password: &str) -> (u16, Option<String>) {
    let res = server.as_user("alice", password, "GET", "/dav/f.txt").send().unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_string());
    (res.status().as_u16(), retry)
}

#[test]
fn with_postgres_down_a_cached_password_works_at_most_the_bound_then_503_then_again() {
    let Some(cluster) = Cluster::start() else { return };
    let files = tempfile::tempdir().unwrap();
    let one = node_with_files(&cluster.url, "n1", files.path());
    let two = node_with_files(&cluster.url, "n2", files.path());
    add_user_with_password(&one, "alice", PASSWORD);
    let (_, password) = create_app_password(one.dir(), "alice", "laptop");
    let put = two.as_user("alice", &password, "PUT", "/dav/f.txt").body("hello").send().unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(get(&two, &password).0, 200, "cached on node 2");

    let halting = Instant::now();
    cluster.halt();
    let halted = Instant::now();
    let mut seen = Vec::new();
    let refused = loop {
        let answer = get(&two, &password);
        let at = halted.elapsed();
        seen.push((at, answer.0));
        if answer.0 == 503 {
            break answer;
        }
        assert_eq!(answer.0, 200, "while the cache is trusted: {seen:?}");
        assert!(at < STALENESS + Duration::from_secs(1), "still 200 past the bound: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Every 200 came before the bound had passed since the database went away.
    let last_ok = seen.iter().rev().find(|(_, s)| *s == 200).map(|(at, _)| *at);
    if let Some(last_ok) = last_ok {
        assert!(last_ok < STALENESS + Duration::from_millis(250), "{seen:?}");
    }
    if halted - halting < Duration::from_secs(1) {
        assert_eq!(seen[0].1, 200, "the cache answers without the database: {seen:?}");
    }
    let retry = refused.1.expect("Retry-After on the 503");
    assert!(retry.parse::<u32>().is_ok_and(|s| s >= 1), "Retry-After {retry:?}");
    assert_eq!(get(&one, &password).0, 503, "node 1 too");

    cluster.resume();
    let started = Instant::now();
    while get(&two, &password).0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(20), "node 2 did not serve again");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&one, &password).0, 200, "node 1 serves again");
}
