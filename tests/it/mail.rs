//! Security e-mails, against a real SMTP server: aiosmtpd (PyPI, pinned 1.4.6) started on a
//! free loopback port, storing what it receives in a maildir. `.ci/run` installs it into
//! target/smtp-venv; `DAVGATE_TEST_AIOSMTPD_PYTHON` may name another interpreter that has it.

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{InProcess, TestServer, add_user_with_password, cli, create_app_password, ok};

const WINDOWS: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
const FINDER: &str = "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (x86_64)";
const CURL: &str = "curl/8.5.0";

/// One aiosmtpd process; killed by its PID when dropped (and it stops by itself after 10
/// minutes in any case).
struct Smtp {
    child: Option<Child>,
    port: u16,
    maildir: tempfile::TempDir,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DAVGATE_TEST_AIOSMTPD_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/smtp-venv/bin/python");
    assert!(
        venv.exists(),
        "aiosmtpd is not installed: run .ci/run, or python3 -m venv target/smtp-venv && \
         target/smtp-venv/bin/pip install aiosmtpd==1.4.6"
    );
    venv
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Smtp {
    fn start() -> Self {
        Self::start_on(free_port(), tempfile::tempdir().unwrap())
    }

    fn start_on(port: u16, maildir: tempfile::TempDir) -> Self {
        let child = Command::new("timeout")
            .arg("600")
            .arg(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp { child: Some(child), port, maildir }
    }

    /// Stops the server (kept: its port and what it received), to start it again.
    fn stop(mut self) -> (u16, tempfile::TempDir) {
        self.kill();
        let port = self.port;
        let maildir = std::mem::replace(&mut self.maildir, tempfile::tempdir().unwrap());
        (port, maildir)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to `timeout`, which passes it on to aiosmtpd (a SIGKILL would orphan it).
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message received so far (raw text).
    fn messages(&self) -> Vec<String> {
        messages_in(&self.maildir.path().join("box"))
    }

    /// The messages once there are at least `n` (polled, at most 20 s), plus a short grace
    /// to see that no more arrive.
    fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.messages().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(700));
        self.messages()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn messages_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                found.push(quoted_printable_decoded(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    found
}

/// The message as its reader sees it: quoted-printable soft breaks and `=XX` escapes undone
/// (anything else, such as an encoded-word header, is left as it is).
fn quoted_printable_decoded(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'=' && raw[i + 1..].starts_with(b"\r\n") {
            i += 3;
        } else if raw[i] == b'=' && raw[i + 1..].starts_with(b"\n") {
            i += 2;
        } else if raw[i] == b'='
            && let (Some(h), Some(l)) =
                (raw.get(i + 1).and_then(|&b| hex(b)), raw.get(i + 2).and_then(|&b| hex(b)))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns e-mail on for `data`'s server and gives `user` an address.
fn configure(data: &Path, smtp_url: &str, user: &str) {
    ok(&cli(data, &["settings", "set", "smtp_url", smtp_url]));
    ok(&cli(data, &["settings", "set", "smtp_from", "davgate@example.org"]));
    ok(&cli(data, &["user", "email", user, &format!("{user}@example.org")]));
}

/// A PROPFIND Depth 0 from `local` (a loopback address) as `user_agent`; its status.
fn propfind(base: &str, local: Ipv4Addr, user_agent: &str, user: &str, password: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(IpAddr::V4(local))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = client
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("{base}/dav/"))
        .basic_auth(user, Some(password))
        .header("Depth", "0")
        .header("User-Agent", user_agent)
        .send()
        .expect("PROPFIND");
    res.status().as_u16()
}

fn base(server: &TestServer) -> String {
    server.request("GET", "/").build().unwrap().url().as_str().trim_end_matches('/').to_string()
}

fn with(messages: &[String], words: &[&str]) -> usize {
    messages.iter().filter(|m| words.iter().all(|w| m.contains(w))).count()
}

/// No message holds a password, whole or its secret half.
fn assert_no_secret(messages: &[String], passwords: &[&str]) {
    for m in messages {
        for p in passwords {
            let secret = p.rsplit('-').next().unwrap();
            assert!(!m.contains(p) && !m.contains(secret), "a mail holds a password:\n{m}");
        }
    }
}

#[test]
fn each_app_password_event_mails_its_owner_once_naming_the_client_and_never_the_password() {
    let smtp = Smtp::start();
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-primary-password-1");
    configure(server.dir(), &smtp.url(), "alice");
    let url = base(&server);

    let (_, laptop) = create_app_password(server.dir(), "alice", "Laptop");
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}\n{}", server.log());
    assert_eq!(with(&mails, &["To: alice@example.org", "Laptop", "was created"]), 1, "{mails:?}");

    assert_eq!(propfind(&url, Ipv4Addr::LOCALHOST, WINDOWS, "alice", &laptop), 207);
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(with(&mails, &["Laptop", "first time", "Windows Explorer", "127.0.0.1"]), 1);

    // Cached uses from the same network mail nothing; one from 127.0.0.2 is a new network.
    for _ in 0..3 {
        assert_eq!(propfind(&url, Ipv4Addr::LOCALHOST, WINDOWS, "alice", &laptop), 207);
    }
    assert_eq!(propfind(&url, Ipv4Addr::new(127, 0, 0, 2), WINDOWS, "alice", &laptop), 207);
    let mails = smtp.wait_for(3);
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert_eq!(with(&mails, &["Laptop", "new network", "127.0.0.2"]), 1, "{mails:?}");

    // A Finder password used by curl: a different client (and, from 127.0.0.3, a new network).
    let (_, mac) = create_app_password(server.dir(), "alice", "Mac");
    smtp.wait_for(4);
    assert_eq!(propfind(&url, Ipv4Addr::LOCALHOST, FINDER, "alice", &mac), 207);
    smtp.wait_for(5);
    assert_eq!(propfind(&url, Ipv4Addr::new(127, 0, 0, 3), CURL, "alice", &mac), 207);
    let mails = smtp.wait_for(7);
    assert_eq!(mails.len(), 7, "{mails:?}");
    assert_eq!(with(&mails, &["Mac", "different client", "macOS Finder", "curl"]), 1, "{mails:?}");
    assert_eq!(with(&mails, &["Mac", "new network", "127.0.0.3"]), 1, "{mails:?}");

    // Revoked by an admin (the CLI): a security mail; revoked by its owner would not be.
    let list = crate::util::list_app_passwords(server.dir(), Some("alice"));
    let mac_id = list.iter().find(|p| p["name"] == "Mac").unwrap()["id"].as_str().unwrap();
    ok(&server.cli(&["app-password", "revoke", "alice", mac_id]));
    let mails = smtp.wait_for(8);
    assert_eq!(mails.len(), 8, "{mails:?}");
    assert_eq!(with(&mails, &["Mac", "revoked by an administrator"]), 1, "{mails:?}");
    assert_no_secret(&mails, &[&laptop, &mac]);

    let status: Value = serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
    assert_eq!(status["mail"]["sent"], 8, "{status}");
    assert_eq!(status["mail"]["enabled"], true, "{status}");
}

#[test]
fn a_french_user_gets_french_mails_and_can_turn_the_informational_ones_off() {
    let smtp = Smtp::start();
    let server = TestServer::start();
    add_user_with_password(&server, "bob", "bob-primary-password-1");
    configure(server.dir(), &smtp.url(), "bob");
    let api = format!("{}/api/v1", base(&server));
    let http = reqwest::blocking::Client::new();
    let login = http
        .post(format!("{api}/session"))
        .header("Content-Type", "application/json")
        .body(json!({ "user": "bob", "password": "bob-primary-password-1" }).to_string())
        .send()
        .unwrap();
    let cookie = crate::util::session_cookie(login.headers()).expect("a session cookie");
    let login: Value = serde_json::from_str(&login.text().unwrap()).unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_string();
    let set = |body: Value| {
        let res = http
            .put(format!("{api}/me/email"))
            .header("Cookie", format!("davgate_session={cookie}"))
            .header("X-CSRF-Token", &csrf)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        serde_json::from_str::<Value>(&res.text().unwrap()).unwrap()
    };
    let user = set(json!({ "email": "bob@example.org", "language": "fr" }));
    assert_eq!(user["user"]["mail"]["lang"], "fr", "{user}");

    let (_, pw) = create_app_password(server.dir(), "bob", "Téléphone");
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("nommé « Téléphone » a été créé"), "{}", mails[0]);

    // Informational off: a first use mails nothing, a new network still does.
    set(json!({ "email": "bob@example.org", "informational": false }));
    assert_eq!(propfind(&base(&server), Ipv4Addr::LOCALHOST, CURL, "bob", &pw), 207);
    assert_eq!(propfind(&base(&server), Ipv4Addr::new(127, 0, 0, 2), CURL, "bob", &pw), 207);
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("depuis un réseau inhabituel")), "{mails:?}");
    assert_no_secret(&mails, &[&pw]);
}

#[test]
fn with_the_smtp_server_down_webdav_works_and_the_mails_arrive_once_it_is_back() {
    let smtp = Smtp::start();
    let url = smtp.url();
    let (port, maildir) = smtp.stop();
    let data = tempfile::tempdir().unwrap();
    let server = InProcess::start_in(data, InProcess::same_store);
    let dir = server.data.path();
    cli(dir, &["user", "add", "carol"]);
    configure(dir, &url, "carol");
    let (_, pw) = create_app_password(dir, "carol", "Laptop");
    let started = Instant::now();
    assert_eq!(propfind(&server.base, Ipv4Addr::LOCALHOST, WINDOWS, "carol", &pw), 207);
    assert!(started.elapsed() < Duration::from_secs(5), "a request waited for the mail");
    std::thread::sleep(Duration::from_secs(2));
    assert!(messages_in(&maildir.path().join("box")).is_empty());

    let smtp = Smtp::start_on(port, maildir);
    // The retry is due 30 s after the failure on the server's clock, then a minute after that.
    for _ in 0..3 {
        server.clock.advance(Duration::from_secs(61));
        if smtp.messages().len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(with(&mails, &["Laptop", "was created"]), 1);
    assert_eq!(with(&mails, &["Laptop", "Windows Explorer"]), 1);
    assert_no_secret(&mails, &[&pw]);
}

#[test]
fn a_user_sets_their_address_and_turns_informational_mails_off_on_the_profile() {
    let server = TestServer::start();
    add_user_with_password(&server, "dora", "dora-primary-password-1");
    let root = base(&server);
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{root}/api/v1/session"))
        .header("Content-Type", "application/json")
        .body(json!({ "user": "dora", "password": "dora-primary-password-1" }).to_string())
        .send()
        .unwrap();
    let cookie = format!(
        "davgate_session={}",
        crate::util::session_cookie(login.headers()).expect("a session cookie")
    );
    let page = |lang: &str| {
        let res = http
            .get(format!("{root}/profile"))
            .header("Cookie", &cookie)
            .header("Accept-Language", lang)
            .send()
            .unwrap();
        res.text().unwrap()
    };
    let french = page("fr");
    assert!(french.contains("Adresse e-mail") && french.contains("Langue des e-mails"));
    let english = page("en");
    assert!(english.contains("E-mail address") && english.contains("Informational e-mails"));
    assert!(english.contains(r#"name="informational" value="on" checked"#), "on by default");
    let csrf = english.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap();
    let form = [("csrf", csrf), ("email", " dora@example.org "), ("language", "fr")];
    let res = http
        .post(format!("{root}/profile/email"))
        .header("Cookie", &cookie)
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().unwrap());
    let users: Value = serde_json::from_str(&ok(&server.cli(&["user", "list", "--json"]))).unwrap();
    let dora = users.as_array().unwrap().iter().find(|u| u["name"] == "dora").unwrap().clone();
    assert_eq!(dora["email"], "dora@example.org", "{dora}");
    assert_eq!(dora["mail"], json!({ "informational": false, "lang": "fr" }), "{dora}");
    assert!(!page("en").contains(r#"name="informational" value="on" checked"#));
}

#[test]
fn an_owner_is_told_once_a_week_before_their_app_password_expires() {
    let smtp = Smtp::start();
    let data = tempfile::tempdir().unwrap();
    let server = InProcess::start_in(data, InProcess::same_store);
    let dir = server.data.path();
    cli(dir, &["user", "add", "erin"]);
    configure(dir, &smtp.url(), "erin");
    let create = ["app-password", "create", "erin", "Backup NAS", "--expires", "10d", "--json"];
    let created: Value = serde_json::from_str(&ok(&cli(dir, &create))).unwrap();
    let password = created["password"].as_str().unwrap();
    let mails = smtp.wait_for(1);
    assert_eq!(with(&mails, &["Backup NAS", "was created"]), 1, "{mails:?}");

    // Three days and an hour later it expires in under a week: the next sweep (every 10 s on
    // the server's own timer) tells its owner, once.
    server.clock.advance(Duration::from_secs(3 * 24 * 3600 + 3600));
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(with(&mails, &["Backup NAS", "expires on", "create a new app password"]), 1);
    assert_no_secret(&mails, &[password]);
    let events = ok(&cli(dir, &["audit", "--user", "erin", "--json"]));
    assert_eq!(events.matches("app_password_expiring").count(), 1, "{events}");
}

#[test]
fn a_finder_password_used_by_curl_from_the_same_machine_is_told_once() {
    let smtp = Smtp::start();
    let data = tempfile::tempdir().unwrap();
    let server = InProcess::start_in(data, InProcess::same_store);
    let dir = server.data.path();
    cli(dir, &["user", "add", "finn"]);
    configure(dir, &smtp.url(), "finn");
    let (_, mac) = create_app_password(dir, "finn", "Mac");
    assert_eq!(propfind(&server.base, Ipv4Addr::LOCALHOST, FINDER, "finn", &mac), 207);
    let mails = smtp.wait_for(2);
    assert_eq!(with(&mails, &["Mac", "first time", "macOS Finder"]), 1, "{mails:?}");

    // A minute later (the network's use is written at most once a minute), curl on the same
    // address: another kind of client than at first.
    server.clock.advance(Duration::from_secs(61));
    assert_eq!(propfind(&server.base, Ipv4Addr::LOCALHOST, CURL, "finn", &mac), 207);
    let mails = smtp.wait_for(3);
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert_eq!(with(&mails, &["Mac", "different client", "macOS Finder", "curl"]), 1);
    assert_eq!(with(&mails, &["new network"]), 0, "127.0.0.1 is no new network: {mails:?}");

    // curl staying is not news.
    server.clock.advance(Duration::from_secs(61));
    assert_eq!(propfind(&server.base, Ipv4Addr::LOCALHOST, CURL, "finn", &mac), 207);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.messages().len(), 3, "{:?}", smtp.messages());
    assert_no_secret(&smtp.messages(), &[&mac]);
}
