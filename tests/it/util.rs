//! Test fixtures: a running server with its own data directory, and CLI helpers.

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_davgate");

/// `DAVGATE_TEST_STORE=postgres` runs every server and CLI these fixtures start on PostgreSQL
/// (a fresh database per data directory, on `DAVGATE_TEST_POSTGRES`) instead of the redb file:
/// the whole suite once per store. Returns the `--store` URL for `data`, if so.
pub fn store_for(data: &Path) -> Option<String> {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    if std::env::var("DAVGATE_TEST_STORE").ok()?.as_str() != "postgres" {
        return None;
    }
    // Kept to the end of the test process (a restarted server finds its database again); the
    // throwaway cluster goes with the run.
    static DATABASES: Mutex<BTreeMap<PathBuf, davgate::internal::TestDatabase>> =
        Mutex::new(BTreeMap::new());
    let mut databases = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(db) = databases.get(data) {
        return Some(db.url().to_string());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = runtime.block_on(davgate::internal::TestDatabase::create())?;
    let url = db.url().to_string();
    databases.insert(data.to_path_buf(), db);
    Some(url)
}

/// `davgate --data DIR` (and the store [`store_for`] gives it).
pub fn davgate(data: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--data").arg(data);
    if let Some(url) = store_for(data) {
        command.env("DAVGATE_STORE", url);
    }
    command
}

/// A `davgate serve` process on 127.0.0.1:<free port>, killed when dropped.
pub struct TestServer {
    child: Child,
    pub data: tempfile::TempDir,
    pub base: String,
    /// Everything the server printed on stdout before it was ready.
    pub banner: String,
    client: Client,
}

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(tempfile::tempdir().expect("temp dir"), &[])
    }

    /// Starts a server on `data` with extra `serve` arguments.
    pub fn start_with(data: tempfile::TempDir, extra: &[&str]) -> Self {
        Self::start_on(data, "127.0.0.1:0", extra)
    }

    /// Starts a server on `data` listening on `listen` (a node restarted on its old port).
    pub fn start_on(data: tempfile::TempDir, listen: &str, extra: &[&str]) -> Self {
        Self::start_with_env(data, listen, extra, &[])
    }

    /// [`TestServer::start_on`] with extra environment variables (credentials for a bucket).
    pub fn start_with_env(
        data: tempfile::TempDir,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.path().join("server.log"))
            .expect("log file");
        let mut child = davgate(data.path())
            .args(["serve", "--listen", listen])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start davgate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                banner.push_str(&line);
                banner.push('\n');
                if line.contains("then connect to") && !sent {
                    let _ = tx.send(banner.clone());
                    sent = true;
                }
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(data.path().join("server.log")).unwrap_or_default();
                panic!("davgate did not start within 30 s; its log:\n{log}");
            }
        };
        let base = banner
            .lines()
            .find_map(|l| l.trim().strip_prefix("listening on "))
            .expect("a 'listening on' line")
            .trim()
            .to_string();
        let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Self { child, data, base, banner, client }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs the CLI on this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(self.dir(), args)
    }

    /// Runs the CLI with `input` on standard input.
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = davgate(self.dir())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run davgate");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Creates a user (panics on failure).
    pub fn add_user(&self, name: &str) {
        ok(&self.cli(&["user", "add", name]));
    }

    /// Creates an app password and returns it.
    pub fn app_password(&self, user: &str, name: &str) -> String {
        create_app_password(self.dir(), user, name).1
    }

    /// A request to `path` (e.g. "/dav/x") with `method`.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.client.request(method, format!("{}{}", self.base, path))
    }

    /// A request authenticated as `user` with `password`.
    pub fn as_user(&self, user: &str, password: &str, method: &str, path: &str) -> RequestBuilder {
        self.request(method, path).basic_auth(user, Some(password))
    }

    /// PROPFIND Depth 0 on `/dav/` as `user`: the status a client sees when it mounts.
    pub fn probe(&self, user: &str, password: &str) -> u16 {
        let res = self.as_user(user, password, "PROPFIND", "/dav/").header("Depth", "0").send();
        status(res)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default()
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Kills the server with SIGKILL (no cleanup at all) and waits for it.
    pub fn kill_hard(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }

    /// Kills the server with SIGKILL and hands back its data directory, to start it again.
    pub fn kill_keeping_data(mut self) -> tempfile::TempDir {
        let _ = self.kill_hard();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("temp dir"))
    }

    /// A user's home folder on disk.
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir().join("files").join(user)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `davgate --data DIR args...`.
pub fn cli(data: &Path, args: &[&str]) -> Output {
    davgate(data).args(args).output().expect("run davgate")
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "davgate failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with exactly one line on stderr, and returns that line.
pub fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "davgate should have failed but printed {:?}", out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line on stderr, got: {stderr:?}");
    assert!(stderr.starts_with("davgate: "), "{stderr:?}");
    stderr
}

/// Creates an app password through the CLI; returns (id, password).
pub fn create_app_password(data: &Path, user: &str, name: &str) -> (String, String) {
    let out = ok(&cli(data, &["app-password", "create", user, name, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    (v["id"].as_str().unwrap().to_string(), v["password"].as_str().unwrap().to_string())
}

/// `app-password list --json` (with --all) as JSON values.
pub fn list_app_passwords(data: &Path, user: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["app-password", "list", "--all", "--json"];
    args.extend(user);
    serde_json::from_str(&ok(&cli(data, &args))).expect("json list")
}

/// The same app password with a different secret but a valid checksum: passes every cheap
/// check and must be refused by the argon2 verification.
pub fn with_wrong_secret(password: &str) -> String {
    with_wrong_secret_n(password, 0)
}

/// The `n`th distinct wrong secret for the same app password (valid checksum each).
pub fn with_wrong_secret_n(password: &str, n: usize) -> String {
    let body: String = password["dgp-".len()..].chars().filter(|c| *c != '-').collect();
    let id = &body[..10];
    let mut secret: Vec<u8> = body[10..38].bytes().collect();
    secret[0] = if secret[0] == b'a' { b'b' } else { b'a' };
    secret[1] = TOKEN_ALPHABET[n % 32];
    secret[2] = TOKEN_ALPHABET[(n / 32) % 32];
    with_checksum(&format!("{id}{}", String::from_utf8(secret).unwrap()))
}

/// The app-password alphabet (Crockford base 32, lower case).
pub const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A well-formed app password from its 38 id and secret characters: the CRC-32 appended and
/// the groups of five written out, so it passes every check but the argon2 verification.
pub fn with_checksum(payload: &str) -> String {
    let crc = crc32fast::hash(format!("dgp{payload}").as_bytes());
    let check: String =
        (0..7).rev().map(|i| TOKEN_ALPHABET[((crc >> (5 * i)) & 31) as usize] as char).collect();
    let full = format!("{payload}{check}");
    let groups: Vec<&str> = (0..9).map(|i| &full[i * 5..i * 5 + 5]).collect();
    format!("dgp-{}", groups.join("-"))
}

/// A self-signed certificate for localhost, made with openssl: (its folder, cert, key).
pub fn self_signed_certificate() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (dir, cert, key)
}

/// A raw connection on which alice sent the head of a PUT of `path` announcing `length` bytes,
/// then `first` bytes of the body.
pub fn raw_put(
    server: &TestServer,
    pw: &str,
    path: &str,
    length: u64,
    first: &str,
) -> std::net::TcpStream {
    use std::io::Write;
    let host = server.base.strip_prefix("http://").expect("a plain HTTP server");
    // The Basic credential exactly as the HTTP client would send it.
    let request = server.as_user("alice", pw, "PUT", path).build().unwrap();
    let auth = request.headers()["authorization"].to_str().unwrap().to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
         Content-Length: {length}\r\n\r\n{first}"
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream
}

/// Status code of a response.
pub fn status(res: reqwest::Result<Response>) -> u16 {
    res.expect("request").status().as_u16()
}

/// The first admin's password, read from the banner of a server's first start.
pub fn first_admin_password(server: &TestServer) -> String {
    server
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("a 'password:' line in the banner of a first start")
        .trim()
        .to_string()
}

/// Creates a user whose primary (web) password is `password` (panics on failure).
pub fn add_user_with_password(server: &TestServer, name: &str, password: &str) {
    ok(&server
        .cli_with_stdin(&["user", "add", name, "--password-stdin"], &format!("{password}\n")));
}

/// The value of the `davgate_session` cookie a response sets, if it sets one.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("davgate_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// A throwaway PostgreSQL cluster of a test's own (`.ci/postgres start` in a temporary
/// directory), so that stopping it disturbs no other test; stopped and deleted when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub url: String,
}

impl PgCluster {
    /// Starts one; None when PostgreSQL tests are skipped (as the other PostgreSQL tests:
    /// loudly, and only when asked).
    pub fn start() -> Option<Self> {
        Self::start_as(&[])
    }

    /// Starts one with TLS on, serving the PEM certificate `cert` and its key `key`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Option<Self> {
        Self::start_as(&[cert.as_os_str(), key.as_os_str()])
    }

    fn start_as(tls: &[&std::ffi::OsStr]) -> Option<Self> {
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
        let verb = if tls.is_empty() { "start" } else { "start-tls" };
        let url = pg_script(verb, &dir, tls);
        Some(Self { dir, url: url.trim().to_string() })
    }

    /// Stops the database, keeping its data.
    pub fn halt(&self) {
        pg_script("halt", &self.dir, &[]);
    }

    /// Starts it again on the same data and port.
    pub fn resume(&self) {
        pg_script("resume", &self.dir, &[]);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new(pg_script_path()).arg("stop").arg(self.dir.path()).status();
    }
}

fn pg_script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres")
}

/// Runs `.ci/postgres verb DIR ARGS…`, panicking with its output on failure; returns stdout.
fn pg_script(verb: &str, dir: &tempfile::TempDir, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(pg_script_path()).arg(verb).arg(dir.path()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        ".ci/postgres {verb} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A davgate server running in this process on a clock that moves only when the test says so
/// (`davgate::Server` on a `ManualClock`): what every test of time uses instead of sleeping out a
/// TTL. The CLI reaches it through its admin socket in `data`; it stops when dropped.
pub struct InProcess {
    /// The server's clock.
    pub clock: davgate::ManualClock,
    /// Its data directory.
    pub data: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
    runtime: tokio::runtime::Runtime,
}

impl InProcess {
    /// A server on a fresh data directory, on a free port, with `configure` applied last.
    pub fn start(configure: impl FnOnce(&mut davgate::ServerOptions)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), configure)
    }

    /// The same on `data`, which the test may have prepared with the CLI.
    pub fn start_in(
        data: tempfile::TempDir,
        configure: impl FnOnce(&mut davgate::ServerOptions),
    ) -> Self {
        let clock = davgate::ManualClock::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut options = davgate::ServerOptions::new(data.path());
        options.listen = "127.0.0.1:0".parse().unwrap();
        options.clock = clock.clock();
        configure(&mut options);
        let server = runtime.block_on(davgate::Server::start(options)).expect("the server starts");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = runtime.spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self { clock, data, base, stop: Some(stop), serving: Some(serving), runtime }
    }

    /// The store the CLI uses on this data directory (redb, or PostgreSQL in that pass), for
    /// `configure` to give the server too.
    pub fn same_store(options: &mut davgate::ServerOptions) {
        let data = options.data_dir.clone();
        if let Some(url) = store_for(&data) {
            options.store = Some(davgate::StoreLocation::parse(Some(&url), &data).unwrap());
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let stopped = async { tokio::time::timeout(Duration::from_secs(10), serving).await };
            let _ = self.runtime.block_on(stopped);
        }
    }
}
