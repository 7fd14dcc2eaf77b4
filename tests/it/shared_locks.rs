//! WebDAV locks on a cluster: two davgate nodes in this process, each with its own data
//! directory, on one PostgreSQL database and one files root, driven over HTTP like two clients
//! behind a load balancer. They share one `ManualClock`, so lock timeouts pass when the test
//! says so. Skipped (loudly, and only when asked) as the other PostgreSQL tests are.

use davgate::internal::TestDatabase;
use davgate::{AppPasswordName, ManualClock, NewPassword, NodeId, Role, Server, ServerOptions};
use davgate::{StoreLocation, UserName};
use reqwest::blocking::{Client, RequestBuilder, Response};
use std::time::Duration;

/// Two nodes on one store, one files root and one clock.
struct Pair {
    clock: ManualClock,
    bases: [String; 2],
    password: String,
    client: Client,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    serving: Vec<tokio::task::JoinHandle<()>>,
    runtime: tokio::runtime::Runtime,
    _dirs: [tempfile::TempDir; 3],
    _db: Option<TestDatabase>,
}

impl Pair {
    /// Starts both nodes and gives alice an app password; None when PostgreSQL tests are
    /// skipped.
    fn start() -> Option<Self> {
        let runtime = runtime();
        let db = runtime.block_on(TestDatabase::create())?;
        let location = db.location();
        Some(Self::start_on(runtime, location, Some(db)))
    }

    /// Both nodes on the store at `location`.
    fn start_on(
        runtime: tokio::runtime::Runtime,
        location: StoreLocation,
        db: Option<TestDatabase>,
    ) -> Self {
        let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
        let clock = ManualClock::new();
        let mut servers = Vec::new();
        for (i, data) in dirs[..2].iter().enumerate() {
            let mut options = ServerOptions::new(data.path());
            options.listen = "127.0.0.1:0".parse().unwrap();
            options.store = Some(location.clone());
            options.files_root = Some(dirs[2].path().to_path_buf());
            options.node_id = Some(NodeId::parse(&format!("node{}", i + 1)).unwrap());
            options.clock = clock.clock();
            servers.push(runtime.block_on(Server::start(options)).expect("a node starts"));
        }
        let alice = UserName::parse("alice").unwrap();
        let admin = servers[0].admin().clone();
        let laptop = AppPasswordName::parse("laptop").unwrap();
        let password = runtime.block_on(async {
            admin.add_user(&alice, Role::User, NewPassword::Generate).await.unwrap();
            admin
                .create_app_password(&alice, &davgate::AppPasswordSpec::named(laptop.clone()))
                .await
                .unwrap()
                .password
                .expose()
                .to_string()
        });
        let bases = [0, 1].map(|i| format!("http://{}", servers[i].local_addr()));
        let (mut stops, mut serving) = (Vec::new(), Vec::new());
        for server in servers {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop);
            serving.push(runtime.spawn(server.run(async {
                let _ = stopped.await;
            })));
        }
        let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { clock, bases, password, client, stops, serving, runtime, _dirs: dirs, _db: db }
    }

    /// A request as alice to node `n` (1 or 2).
    fn on(&self, n: usize, method: &str, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.bases[n - 1]);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(method, url).basic_auth("alice", Some(&self.password))
    }

    /// An exclusive write LOCK of `path` through node `n` with `timeout`: its token.
    fn lock(&self, n: usize, path: &str, timeout: &str) -> String {
        let res = self.on(n, "LOCK", path).header("Timeout", timeout).body(LOCKINFO).send();
        let res = res.unwrap();
        // 200 on a file, 201 on an unmapped path (the LOCK creates an empty file).
        assert!(
            matches!(res.status().as_u16(), 200 | 201),
            "LOCK through node {n}: {} {}",
            res.status(),
            res.text().unwrap()
        );
        let token = res.headers()["lock-token"].to_str().unwrap();
        token.trim_matches(['<', '>']).to_string()
    }

    fn put(&self, n: usize, path: &str, token: Option<&str>) -> u16 {
        let mut req = self.on(n, "PUT", path).body("new content");
        if let Some(token) = token {
            req = req.header("If", format!("(<{token}>)"));
        }
        req.send().unwrap().status().as_u16()
    }

    /// The lockdiscovery of `path` through node `n`.
    fn discovery(&self, n: usize, path: &str) -> String {
        let body = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#;
        let res = self.on(n, "PROPFIND", path).header("Depth", "0").body(body).send().unwrap();
        assert_eq!(res.status(), 207);
        res.text().unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for serving in self.serving.drain(..) {
            let stopped = async { tokio::time::timeout(Duration::from_secs(10), serving).await };
            let _ = self.runtime.block_on(stopped);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice's laptop</D:owner></D:lockinfo>"#;

fn status(res: reqwest::Result<Response>) -> u16 {
    res.unwrap().status().as_u16()
}

#[test]
fn a_lock_taken_through_one_node_holds_on_the_other_and_is_released_there() {
    let Some(pair) = Pair::start() else { return };
    assert_eq!(pair.put(1, "/dav/report.docx", None), 201);
    let token = pair.lock(1, "/dav/report.docx", "Second-600");

    assert_eq!(pair.put(2, "/dav/report.docx", None), 423, "node 2 without the token");
    assert_eq!(status(pair.on(2, "DELETE", "/dav/report.docx").send()), 423);
    let seen = pair.discovery(2, "/dav/report.docx");
    assert!(seen.contains(&token) && seen.contains("alice's laptop"), "{seen}");
    assert_eq!(pair.put(2, "/dav/report.docx", Some(&token)), 204, "node 2 with the token");
    assert!(pair.lock_refused(2, "/dav/report.docx"), "a second exclusive lock on node 2");

    let unlock =
        pair.on(2, "UNLOCK", "/dav/report.docx").header("Lock-Token", format!("<{token}>"));
    assert_eq!(status(unlock.send()), 204, "UNLOCK through node 2");
    assert_eq!(pair.put(1, "/dav/report.docx", None), 204, "node 1 after the unlock");
    assert!(!pair.discovery(1, "/dav/report.docx").contains(&token));
}

#[test]
fn a_lock_with_a_two_second_timeout_is_gone_on_both_nodes_three_seconds_later() {
    let Some(pair) = Pair::start() else { return };
    let token = pair.lock(1, "/dav/short.txt", "Second-2");
    assert_eq!(pair.put(2, "/dav/short.txt", None), 423);
    pair.clock.advance(Duration::from_secs(1));
    assert_eq!(pair.put(1, "/dav/short.txt", None), 423, "one second in: still held");
    pair.clock.advance(Duration::from_secs(2));
    assert_eq!(pair.put(2, "/dav/short.txt", None), 204, "node 2, three seconds in");
    assert!(!pair.discovery(1, "/dav/short.txt").contains(&token));
    let refresh = pair.on(1, "LOCK", "/dav/short.txt").header("If", format!("(<{token}>)"));
    assert_eq!(status(refresh.send()), 412, "an expired lock cannot be refreshed");
}

#[test]
fn a_lock_refreshed_through_the_other_node_outlives_its_first_timeout() {
    let Some(pair) = Pair::start() else { return };
    let token = pair.lock(1, "/dav/long.txt", "Second-10");
    pair.clock.advance(Duration::from_secs(8));
    let refresh = pair
        .on(2, "LOCK", "/dav/long.txt")
        .header("If", format!("(<{token}>)"))
        .header("Timeout", "Second-10");
    let res = refresh.send().unwrap();
    assert_eq!(res.status(), 200, "refresh through node 2");
    assert!(res.text().unwrap().contains("Second-10"));
    pair.clock.advance(Duration::from_secs(8));
    assert_eq!(pair.put(1, "/dav/long.txt", None), 423, "16 s in, refreshed at 8 s: held");
    pair.clock.advance(Duration::from_secs(3));
    assert_eq!(pair.put(1, "/dav/long.txt", None), 204, "19 s in: gone");
}

impl Pair {
    /// Whether an exclusive LOCK of `path` through node `n` is refused as locked.
    fn lock_refused(&self, n: usize, path: &str) -> bool {
        let res = self.on(n, "LOCK", path).header("Timeout", "Second-60").body(LOCKINFO).send();
        status(res) == 423
    }
}

#[test]
fn with_postgres_down_a_lock_operation_answers_503_retry_after_and_works_once_it_is_back() {
    let Some(cluster) = crate::util::PgCluster::start() else { return };
    let data = tempfile::tempdir().unwrap();
    let location = StoreLocation::parse(Some(&cluster.url), data.path()).unwrap();
    let pair = Pair::start_on(runtime(), location, None);
    assert_eq!(pair.put(1, "/dav/a.txt", None), 201, "the credential is cached from here on");
    let token = pair.lock(1, "/dav/a.txt", "Second-600");

    cluster.halt();
    for (what, req) in [
        ("LOCK", pair.on(2, "LOCK", "/dav/b.txt").header("Timeout", "Second-60").body(LOCKINFO)),
        ("UNLOCK", pair.on(1, "UNLOCK", "/dav/a.txt").header("Lock-Token", format!("<{token}>"))),
        ("PROPFIND", pair.on(1, "PROPFIND", "/dav/").header("Depth", "1")),
    ] {
        let res = req.send().unwrap();
        assert_eq!(res.status(), 503, "{what} with the database down");
        let wait = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        assert!(wait.is_some_and(|w| w.parse::<u32>().is_ok()), "{what}: no Retry-After");
    }

    cluster.resume();
    let started = std::time::Instant::now();
    while pair.put(2, "/dav/a.txt", Some(&token)) != 204 {
        assert!(started.elapsed() < Duration::from_secs(20), "not back 20 s after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(pair.put(2, "/dav/a.txt", None), 423, "the lock survived the restart");
}
