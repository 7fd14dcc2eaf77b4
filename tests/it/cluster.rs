//! Cluster mode end to end, as an admin runs it: a PostgreSQL of the test's own, three
//! `davgate serve` nodes (each its own data directory, one shared files root, one database), and
//! Debian's haproxy in front, round robin, so that consecutive requests of one client land on
//! different nodes. Every answer through haproxy names the node that gave it
//! (`X-Davgate-Node`), so a test can see the requests spread.
//!
//! Needs PostgreSQL (see `PgCluster`) and haproxy; without haproxy the tests fail, unless
//! `DAVGATE_SKIP_CLUSTER` is set. `.ci/run` installs both.

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{PgCluster, TestServer, cli, first_admin_password, ok, session_cookie, status};

/// Nodes in the cluster.
const NODES: usize = 3;

/// How long haproxy and every node may live: they stop by themselves after this, whatever
/// happens to the test process.
const LIFETIME_SECS: &str = "900";

/// PostgreSQL, three nodes, haproxy.
pub struct Cluster {
    pub pg: PgCluster,
    /// The files root every node serves.
    pub files: tempfile::TempDir,
    /// A data directory for CLI runs against the shared store (the CLI opens it directly).
    scratch: tempfile::TempDir,
    /// The nodes; `None` while one is killed.
    nodes: Vec<Option<TestServer>>,
    /// Each node's port, kept across a restart (haproxy knows the nodes by port).
    ports: Vec<u16>,
    pub proxy: Haproxy,
    /// The first admin's primary password (printed by the node that created it).
    pub admin_password: String,
}

impl Cluster {
    /// Starts the whole cluster; None when the PostgreSQL or cluster tests are skipped.
    pub fn start() -> Option<Self> {
        if !haproxy_available() {
            return None;
        }
        let pg = PgCluster::start()?;
        let files = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        let mut admin_password = None;
        for i in 0..NODES {
            let node = start_node(&pg.url, files.path(), i, tempfile::tempdir().unwrap(), None);
            if node.banner.contains("password: ") {
                admin_password = Some(first_admin_password(&node));
            }
            ports.push(port_of(&node.base));
            nodes.push(Some(node));
        }
        let admin_password = admin_password.expect("one node created the first admin");
        let proxy = Haproxy::start(&ports);
        let scratch = tempfile::tempdir().unwrap();
        Some(Self { pg, files, scratch, nodes, ports, proxy, admin_password })
    }

    /// Node `i` (0-based), which must be running.
    pub fn node(&self, i: usize) -> &TestServer {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// The CLI on the shared store, as an admin runs it on any machine with the database URL.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all = vec!["--store", self.pg.url.as_str()];
        all.extend_from_slice(args);
        cli(self.scratch.path(), &all)
    }

    /// Creates a user and one app password for it; returns the password.
    pub fn user_with_app_password(&self, user: &str) -> String {
        ok(&self.cli(&["user", "add", user]));
        let created = ok(&self.cli(&["app-password", "create", user, "cluster", "--json"]));
        let created: Value = serde_json::from_str(&created).unwrap();
        created["password"].as_str().unwrap().to_string()
    }

    /// Kills node `i` with SIGKILL: no cleanup, uploads in flight cut off.
    pub fn kill(&mut self, i: usize) -> tempfile::TempDir {
        self.nodes[i].take().expect("node is running").kill_keeping_data()
    }

    /// Starts node `i` again on its data directory and its old port.
    pub fn restart(&mut self, i: usize, data: tempfile::TempDir) {
        let node = start_node(&self.pg.url, self.files.path(), i, data, Some(self.ports[i]));
        self.nodes[i] = Some(node);
    }
}

/// `davgate serve` as node `i` of the cluster.
fn start_node(
    store: &str,
    files: &Path,
    i: usize,
    data: tempfile::TempDir,
    port: Option<u16>,
) -> TestServer {
    let files = files.to_str().unwrap();
    let node_id = format!("node{}", i + 1);
    let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
    let extra = ["--store", store, "--files", files, "--node-id", &node_id];
    TestServer::start_on(data, &listen, &extra)
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap()
}

fn haproxy_available() -> bool {
    if Command::new("haproxy").arg("-v").output().is_err() {
        if std::env::var_os("DAVGATE_SKIP_CLUSTER").is_some() {
            eprintln!("cluster test skipped (DAVGATE_SKIP_CLUSTER is set)");
            return false;
        }
        panic!(
            "haproxy is not installed: run .ci/run, or apt-get install haproxy (or set \
             DAVGATE_SKIP_CLUSTER=1)"
        );
    }
    true
}

/// haproxy in front of the nodes: round robin per request, a node taken out while its
/// `/healthz` fails, and the serving node's name in `X-Davgate-Node`.
pub struct Haproxy {
    child: Child,
    pub base: String,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(ports: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "  server node{n} 127.0.0.1:{p} check inter 300ms fall 2 rise 1\n",
                    n = i + 1
                )
            })
            .collect();
        // Long client/server timeouts: big uploads and slow Windows clients.
        let config = format!(
            "global\n  maxconn 512\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 120s\n  \
             timeout server 120s\n  option redispatch\n  retries 2\n\
             frontend dav\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
             backend nodes\n  balance roundrobin\n  option httpchk\n  \
             http-check send meth GET uri /healthz\n  \
             http-response set-header X-Davgate-Node %s\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("timeout")
            .args([LIFETIME_SECS, "haproxy", "-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("haproxy.log")).unwrap())
            .spawn()
            .expect("start haproxy");
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let proxy = Self { child, base, client, _dir: dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "haproxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// A request through haproxy to `path`, as `user`.
    pub fn as_user(&self, user: &str, password: &str, method: &str, path: &str) -> RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(method, format!("{}{path}", self.base)).basic_auth(user, Some(password))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on to haproxy (SIGKILL would orphan it).
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

/// A signed-in API session on one node: its cookie and CSRF token.
pub struct ApiSession {
    pub cookie: String,
    csrf: String,
}

impl ApiSession {
    /// Signs `user` in through `node`'s API.
    pub fn sign_in(node: &TestServer, user: &str, password: &str) -> Self {
        let res = node
            .request("POST", "/api/v1/session")
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "sign-in on {}", node.base);
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        Self { cookie, csrf }
    }

    /// A call through `node` with this session.
    pub fn call(&self, node: &TestServer, method: &str, path: &str) -> u16 {
        let res = node
            .request(method, &format!("/api/v1{path}"))
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
            .send();
        status(res)
    }
}

/// The id of `user`'s app password named `name`, read through the CLI.
fn app_password_id(cluster: &Cluster, user: &str, name: &str) -> String {
    let list = ok(&cluster.cli(&["app-password", "list", user, "--json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    let entries = list
        .as_array()
        .cloned()
        .unwrap_or_else(|| list["app_passwords"].as_array().cloned().unwrap());
    entries.iter().find(|e| e["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn haproxy_spreads_one_clients_requests_over_every_node() {
    let Some(cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..(2 * NODES) {
        let res = cluster
            .proxy
            .as_user("alice", &password, "PROPFIND", "/dav/")
            .header("Depth", "0")
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 207);
        seen.insert(res.headers()["x-davgate-node"].to_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), NODES, "requests reached {seen:?}");
}

#[test]
fn litmus_passes_on_each_node_and_through_haproxy() {
    if !crate::litmus::available() {
        return;
    }
    let Some(cluster) = Cluster::start() else { return };
    // One user per run, so the four runs in parallel do not share a litmus folder.
    let runs: Vec<(String, String, String)> = (0..=NODES)
        .map(|i| {
            let user = format!("litmus{i}");
            let password = cluster.user_with_app_password(&user);
            let url = match i {
                0 => format!("{}/dav/", cluster.proxy.base),
                n => format!("{}/dav/", cluster.node(n - 1).base),
            };
            (user, password, url)
        })
        .collect();
    std::thread::scope(|scope| {
        for (user, password, url) in &runs {
            let scratch = tempfile::tempdir().unwrap();
            scope.spawn(move || {
                crate::litmus::assert_passes(url, user, password, scratch.path());
            });
        }
    });
}

#[test]
fn a_revoke_through_node_1s_api_is_refused_on_nodes_2_and_3_by_the_next_request() {
    let Some(cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    for i in 1..NODES {
        assert_eq!(cluster.node(i).probe("alice", &password), 207, "node {} before", i + 1);
    }
    let id = app_password_id(&cluster, "alice", "cluster");
    let admin = ApiSession::sign_in(cluster.node(0), "admin", &cluster.admin_password);
    let revoked =
        admin.call(cluster.node(0), "DELETE", &format!("/users/alice/app-passwords/{id}"));
    assert!((200..300).contains(&revoked), "revoke answered {revoked}");
    // No wait: when the call returns, every node refuses.
    for i in 1..NODES {
        assert_eq!(cluster.node(i).probe("alice", &password), 401, "node {} after", i + 1);
    }
}

/// rclone on the command line with an on-the-fly remote and an empty config of its own.
struct Rclone {
    scratch: tempfile::TempDir,
    remote: String,
}

impl Rclone {
    fn new(base: &str, user: &str, password: &str) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(scratch.path().join("rclone.conf"), "").unwrap();
        let mut rclone = Self { scratch, remote: String::new() };
        let obscured = rclone.run(&["obscure", password]);
        let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
        rclone.remote =
            format!(":webdav,url='{base}/dav/',vendor=owncloud,user={user},pass='{obscured}':");
        rclone
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("600")
            .arg("rclone")
            .args(args)
            .arg("--config")
            .arg(self.scratch.path().join("rclone.conf"))
            .arg("--cache-dir")
            .arg(self.scratch.path().join("cache"))
            .output()
            .expect("run rclone")
    }
}

/// `count` files of 1–3 MiB in `dir`, each with its own bytes.
fn make_files(dir: &Path, count: usize) {
    for i in 0..count {
        let size = (1 << 20) + (i * 7919 % 2048) * 1024;
        let seed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut state = seed;
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(dir.join(format!("file-{i:03}.bin")), bytes).unwrap();
    }
}

/// Every file under `root` whose name says it is an upload in flight.
fn temp_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else if name.starts_with(".davgate-upload") {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

#[test]
fn rclone_sync_through_haproxy_survives_a_node_killed_and_restarted() {
    let Some(mut cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    let source = tempfile::tempdir().unwrap();
    make_files(source.path(), 200);
    let rclone = Rclone::new(&cluster.proxy.base, "alice", &password);
    let src = source.path().to_str().unwrap().to_string();
    let home = cluster.files.path().join("alice");
    let dest = format!("{}backup", rclone.remote);

    let synced = std::thread::scope(|scope| {
        let sync = scope.spawn(|| {
            rclone.run(&[
                "sync",
                &src,
                &dest,
                "--transfers",
                "4",
                "--retries",
                "10",
                "--low-level-retries",
                "20",
                "--retries-sleep",
                "1s",
            ])
        });
        // Node 2 dies once the upload is well under way, and comes back a second later.
        let started = Instant::now();
        while std::fs::read_dir(home.join("backup")).map(|d| d.count()).unwrap_or(0) < 30 {
            assert!(started.elapsed() < Duration::from_secs(300), "the sync made no progress");
            std::thread::sleep(Duration::from_millis(50));
        }
        let data = cluster.kill(1);
        std::thread::sleep(Duration::from_secs(1));
        cluster.restart(1, data);
        sync.join().unwrap()
    });
    assert!(synced.status.success(), "rclone sync: {}", String::from_utf8_lossy(&synced.stderr));

    let check = rclone.run(&["check", "--download", &src, &dest]);
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && said.contains("0 differences found"), "{said}");
    let listed = rclone.run(&["lsf", "-R", &dest]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().count(), 200, "{listed}");
    assert!(!listed.contains(".davgate"), "a temporary file is listed:\n{listed}");
    // The killed node removed its own leftovers when it started again; nothing else is left.
    assert_eq!(temp_files(cluster.files.path()), Vec::<String>::new());
}

#[test]
fn postgres_restarted_during_traffic_gives_503s_then_service_without_restarting_a_node() {
    let Some(cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    let proxy = &cluster.proxy;
    let request = |i: usize| {
        let res = match i % 2 {
            0 => proxy.as_user("alice", &password, "PROPFIND", "/dav/").header("Depth", "1"),
            _ => proxy.as_user("alice", &password, "PUT", &format!("/dav/f{i}.txt")).body("hello"),
        }
        .send()
        .unwrap();
        let retry_after = res.headers().contains_key("retry-after");
        (res.status().as_u16(), retry_after)
    };
    for i in 0..6 {
        assert!(matches!(request(i).0, 201 | 204 | 207), "before the restart");
    }
    cluster.pg.halt();
    // Down: every answer is a success from what a node still trusts, or a 503 with
    // Retry-After; never a 500. The credential cache is trusted for a bounded time only, so
    // 503s come.
    let started = Instant::now();
    let mut unavailable = 0;
    let mut i = 0;
    while unavailable < 6 {
        assert!(started.elapsed() < Duration::from_secs(30), "no 503 while PostgreSQL is down");
        let (status, retry_after) = request(i);
        match status {
            503 => {
                assert!(retry_after, "a 503 without Retry-After");
                unavailable += 1;
            }
            201 | 204 | 207 => {}
            other => panic!("{other} while PostgreSQL is down"),
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.pg.resume();
    let started = Instant::now();
    'recovered: loop {
        assert!(started.elapsed() < Duration::from_secs(30), "not back 30 s after the restart");
        for node in 0..NODES {
            if cluster.node(node).probe("alice", &password) != 207 {
                std::thread::sleep(Duration::from_millis(200));
                continue 'recovered;
            }
        }
        break;
    }
    for i in 0..6 {
        assert!(matches!(request(i).0, 201 | 204 | 207), "after the restart");
    }
}

impl Cluster {
    /// Creates a user whose primary (web) password is `password`.
    pub fn user_with_primary_password(&self, user: &str, password: &str) {
        use std::io::Write;
        let mut child = crate::util::davgate(self.scratch.path())
            .args(["--store", &self.pg.url, "user", "add", user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        ok(&child.wait_with_output().unwrap());
    }
}

/// An exclusive write lock request body.
const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>cluster test</D:href></D:owner></D:lockinfo>"#;

#[test]
fn a_lock_taken_on_node_1_is_honoured_on_node_2_and_released_on_node_3() {
    let Some(cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    let (n1, n2, n3) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let put = |node: &TestServer, token: Option<&str>| {
        let mut request = node.as_user("alice", &password, "PUT", "/dav/report.docx").body("v2");
        if let Some(token) = token {
            request = request.header("If", format!("({token})"));
        }
        status(request.send())
    };
    assert_eq!(put(n1, None), 201);
    let locked = n1
        .as_user("alice", &password, "LOCK", "/dav/report.docx")
        .header("Timeout", "Second-600")
        .body(LOCKINFO)
        .send()
        .unwrap();
    assert_eq!(locked.status().as_u16(), 200);
    let token = locked.headers()["lock-token"].to_str().unwrap().to_string();
    assert_eq!(put(n2, None), 423, "node 2 without the lock token");
    assert_eq!(put(n2, Some(&token)), 204, "node 2 with the lock token");
    let lock_on_2 =
        n2.as_user("alice", &password, "LOCK", "/dav/report.docx").body(LOCKINFO).send().unwrap();
    assert_eq!(lock_on_2.status().as_u16(), 423, "a second exclusive lock on node 2");
    let unlocked = n3
        .as_user("alice", &password, "UNLOCK", "/dav/report.docx")
        .header("Lock-Token", &token)
        .send();
    assert_eq!(status(unlocked), 204);
    assert_eq!(put(n1, None), 204, "node 1 after the unlock on node 3");
}

#[test]
fn a_web_session_opened_on_node_1_works_on_node_2_until_signed_out_there() {
    let Some(cluster) = Cluster::start() else { return };
    let session = ApiSession::sign_in(cluster.node(0), "admin", &cluster.admin_password);
    assert_eq!(session.call(cluster.node(1), "GET", "/session"), 200, "the cookie on node 2");
    assert_eq!(session.call(cluster.node(2), "GET", "/users"), 200, "the cookie on node 3");
    let signed_out = session.call(cluster.node(1), "DELETE", "/session");
    assert!((200..300).contains(&signed_out), "sign-out on node 2 answered {signed_out}");
    assert_eq!(session.call(cluster.node(0), "GET", "/session"), 401, "node 1 after it");
    assert_eq!(session.call(cluster.node(2), "GET", "/session"), 401, "node 3 after it");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Posts `body` as JSON to `path` through `node`, with `session` if there is one; returns
/// (status, body, the session cookie it set).
fn post(
    node: &TestServer,
    session: Option<&ApiSession>,
    path: &str,
    body: Value,
) -> (u16, Value, Option<ApiSession>) {
    let mut request = node
        .request("POST", &format!("/api/v1{path}"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(s) = session {
        request = request
            .header("Cookie", format!("davgate_session={}", s.cookie))
            .header("X-CSRF-Token", &s.csrf);
    }
    let res = request.send().unwrap();
    let status = res.status().as_u16();
    let cookie = session_cookie(res.headers());
    let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap_or(Value::Null);
    let opened = match (cookie, body["csrf_token"].as_str()) {
        (Some(cookie), Some(csrf)) => Some(ApiSession { cookie, csrf: csrf.to_string() }),
        _ => None,
    };
    (status, body, opened)
}

#[test]
fn a_totp_code_accepted_on_node_1_is_refused_on_node_2() {
    let Some(cluster) = Cluster::start() else { return };
    let primary = "a long enough primary password";
    cluster.user_with_primary_password("carol", primary);
    let (n1, n2) = (cluster.node(0), cluster.node(1));
    // Enrolment through node 1.
    let web = ApiSession::sign_in(n1, "carol", primary);
    let (code, enrolment, _) = post(n1, Some(&web), "/me/totp", json!({}));
    assert_eq!(code, 200);
    let key = enrolment["manual_key"].as_str().unwrap().replace(' ', "");
    let secret = totp_rs::Secret::try_from_base32(&key).unwrap().as_bytes().to_vec();
    let now = unix_now();
    let code_at = |t: u64| davgate::internal::totp_code_at(&secret, t).unwrap();
    let (code, _, _) = post(n1, Some(&web), "/me/totp/confirm", json!({ "code": code_at(now) }));
    assert_eq!(code, 204);

    // A later code, accepted once on node 1…
    let next = code_at(now + 30);
    let sign_in = json!({ "user": "carol", "password": primary });
    let (_, _, pending) = post(n1, None, "/session", sign_in.clone());
    let (code, _, _) = post(n1, pending.as_ref(), "/session/totp", json!({ "code": next }));
    assert_eq!(code, 200, "the code on node 1");
    // …and refused on node 2.
    let (_, _, pending) = post(n2, None, "/session", sign_in);
    let (code, body, _) = post(n2, pending.as_ref(), "/session/totp", json!({ "code": next }));
    assert_eq!(code, 401, "the same code on node 2: {body}");
}

#[test]
fn wrong_passwords_spread_over_the_nodes_lock_out_on_every_node_like_on_one() {
    let Some(cluster) = Cluster::start() else { return };
    let password = cluster.user_with_app_password("alice");
    ok(&cluster.cli(&["settings", "set", "login_max_failures", "3"]));
    let wrong = crate::util::with_wrong_secret(&password);
    // As on one node (tests/it/throttle.rs): three failures, then the one attempt a lockout
    // still verifies, then 429 — here each from another node.
    for i in 0..4 {
        assert_eq!(cluster.node(i % NODES).probe("alice", &wrong), 401, "guess {}", i + 1);
    }
    for i in 0..NODES {
        assert_eq!(cluster.node(i).probe("alice", &wrong), 429, "node {} after it", i + 1);
    }
}
