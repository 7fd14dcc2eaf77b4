//! PostgreSQL down or restarting: the node answers 503 with `Retry-After` on WebDAV, the pages
//! and the API (never 500), keeps running, and serves again by itself once the database is
//! back. On a cluster of its own (`.ci/postgres start` in a temporary directory), so that
//! stopping it disturbs no other test.

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{TestServer, add_user_with_password, cli, ok};

/// How long recovery may take once the database is back (the pool reconnects on the next
/// request; the listener backs off at most 5 s).
const RECOVERY: Duration = Duration::from_secs(20);

/// A throwaway PostgreSQL cluster, stopped and deleted when dropped.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    pub(crate) url: String,
}

impl Cluster {
    /// Starts one; None when PostgreSQL tests are skipped (as the other PostgreSQL tests:
    /// loudly, and only when asked).
    pub(crate) fn start() -> Option<Self> {
        if std::env::var_os("DAVGATE_TEST_POSTGRES").is_none() {
            if std::env::var_os("DAVGATE_SKIP_POSTGRES").is_some() {
                eprintln!("PostgreSQL test skipped (DAVGATE_SKIP_POSTGRES is set)");
                return None;
            }
            panic!(
                "DAVGATE_TEST_POSTGRES is not set: run .ci/run (it starts a throwaway \
                 PostgreSQL), or set it, or DAVGATE_SKIP_POSTGRES=1"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let url = script("start", &dir);
        Some(Self { dir, url: url.trim().to_string() })
    }

    /// Stops the database, keeping its data.
    pub(crate) fn halt(&self) {
        script("halt", &self.dir);
    }

    /// Starts it again on the same data and port.
    pub(crate) fn resume(&self) {
        script("resume", &self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script_path()).arg("stop").arg(self.dir.path()).status();
    }
}

fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres")
}

/// Runs `.ci/postgres verb DIR`, panicking with its output on failure; returns stdout.
fn script(verb: &str, dir: &tempfile::TempDir) -> String {
    let out = Command::new(script_path()).arg(verb).arg(dir.path()).output().unwrap();
    assert!(
        out.status.success(),
        ".ci/postgres {verb} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a client sees of one answer: status, `Retry-After`, body.
struct Seen {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

fn seen(res: reqwest::blocking::Response) -> Seen {
    let status = res.status().as_u16();
    let retry_after =
        res.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_string());
    Seen { status, retry_after, body: res.text().unwrap_or_default() }
}

/// The three requests a user makes: mount with an app password, sign in through the API, sign
/// in through the page.
fn dav(server: &TestServer, password: &str) -> Seen {
    seen(
        server.as_user("alice", password, "PROPFIND", "/dav/").header("Depth", "0").send().unwrap(),
    )
}

fn api_sign_in(server: &TestServer) -> Seen {
    let body = json!({ "user": "alice", "password": PASSWORD });
    let request = server
        .request("POST", "/api/v1/session")
        .header("Content-Type", "application/json")
        .body(body.to_string());
    seen(request.send().unwrap())
}

fn page_sign_in(server: &TestServer) -> Seen {
    // Not following the redirect: a sign-in that worked answers 303 with a session cookie.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let form = [("user", "alice"), ("password", PASSWORD)];
    seen(client.post(format!("{}/login", server.base)).form(&form).send().unwrap())
}

const PASSWORD: &str = "a long enough primary password";

/// Asserts a 503 that tells the client to come back: `Retry-After` in whole seconds.
fn assert_retry_later(what: &str, seen: &Seen) {
    assert_eq!(seen.status, 503, "{what} with the database down: {}", seen.body);
    let wait = seen.retry_after.as_deref().unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!(wait.parse::<u32>().is_ok_and(|s| s >= 1), "{what}: Retry-After {wait:?}");
}

/// Polls `check` until it holds, for at most [`RECOVERY`].
fn eventually(what: &str, mut check: impl FnMut() -> Option<String>) {
    let started = Instant::now();
    loop {
        let Some(last) = check() else { return };
        assert!(
            started.elapsed() < RECOVERY,
            "{what} not back {RECOVERY:?} after the restart: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn with_postgres_down_the_node_answers_503_retry_after_and_recovers_by_itself() {
    let Some(cluster) = Cluster::start() else { return };
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &cluster.url]);
    add_user_with_password(&server, "alice", PASSWORD);
    let (_, warm) = crate::util::create_app_password(server.dir(), "alice", "warm");
    let (fresh_id, fresh) = crate::util::create_app_password(server.dir(), "alice", "fresh");
    assert_eq!(dav(&server, &warm).status, 207, "before the database stops");

    cluster.halt();
    let webdav = dav(&server, &fresh);
    assert_retry_later("WebDAV with an uncached app password", &webdav);
    assert_eq!(webdav.body.trim_end().lines().count(), 1, "one line: {:?}", webdav.body);
    let api = api_sign_in(&server);
    assert_retry_later("the API sign-in", &api);
    let api_body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(api_body["error"], "unavailable", "{api_body}");
    assert_retry_later("the page sign-in", &page_sign_in(&server));
    let health = seen(server.request("GET", "/healthz").send().unwrap());
    assert_eq!(health.status, 200, "the node still serves while the database is down");

    cluster.resume();
    eventually("WebDAV", || {
        let s = dav(&server, &fresh);
        (s.status != 207).then(|| format!("{} {}", s.status, s.body))
    });
    eventually("the API sign-in", || {
        let s = api_sign_in(&server);
        (s.status != 200).then(|| format!("{} {}", s.status, s.body))
    });
    let page = page_sign_in(&server);
    assert_eq!(page.status, 303, "the page sign-in after the restart: {}", page.body);

    // Changes made elsewhere reach the node again: a revoke by a CLI that opens the database
    // itself (no admin socket) is followed within seconds.
    let elsewhere = tempfile::tempdir().unwrap();
    ok(&cli(
        elsewhere.path(),
        &["--store", &cluster.url, "app-password", "revoke", "alice", &fresh_id],
    ));
    eventually("following the database's changes", || {
        let s = dav(&server, &fresh);
        (s.status != 401).then(|| format!("still {} after a revoke", s.status))
    });
}
