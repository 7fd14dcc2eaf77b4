//! Behind a real reverse proxy: Debian's nginx on loopback, configured from
//! `examples/proxies/nginx.conf` (ports and paths substituted), in front of the real server.
//! litmus and a 1 GiB upload pass through it; the throttle, the failed-login line and the
//! access log see the client nginx forwards (and only because davgate trusts nginx); a path
//! prefix serves WebDAV, the pages and the API; `--log-format json` writes JSON objects.

use crate::uploads::{Generator, Hashing, hex};
use crate::util::*;
use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use sha2::Digest;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";
/// nginx never outlives this, whatever happens to the test.
const NGINX_LIFETIME: &str = "1200";

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An nginx process in front of a davgate, stopped (by PID) when dropped.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Nginx {
    /// Whether nginx can run: panics when it is missing, unless `DAVGATE_SKIP_NGINX` is set.
    fn available() -> bool {
        if Command::new(NGINX).arg("-v").output().is_err() {
            if std::env::var_os("DAVGATE_SKIP_NGINX").is_some() {
                eprintln!("nginx skipped (DAVGATE_SKIP_NGINX is set)");
                return false;
            }
            panic!(
                "nginx is not installed: run .ci/run, or apt-get install nginx-light (or set DAVGATE_SKIP_NGINX=1)"
            );
        }
        true
    }

    /// nginx on `port`, passing `location` (`/`, `/webdav/`) to the davgate at `upstream`.
    fn start(port: u16, upstream: &str, location: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = config(dir.path(), port, upstream, location);
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("timeout")
            .arg(NGINX_LIFETIME)
            .arg(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("startup.log"))
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, dir, base: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(15) {
                panic!("nginx did not start within 15 s:\n{}", nginx.errors());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    fn errors(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("startup.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `timeout` passes the TERM on to nginx, whose master stops its worker.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// examples/proxies/nginx.conf with the lines marked `# UPSTREAM`, `# LISTEN`, ... set for a
/// test: its own ports, and every file nginx writes in `dir`.
fn config(dir: &Path, port: u16, upstream: &str, location: &str) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/proxies/nginx.conf");
    let text = std::fs::read_to_string(example).unwrap();
    let d = dir.display();
    for sub in ["body", "proxy"] {
        let sub = dir.join(sub);
        std::fs::create_dir_all(&sub).unwrap();
        // Workers run as nobody when the test runs as root.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o777);
        std::fs::set_permissions(&sub, open).unwrap();
    }
    let mut out = String::new();
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let first = line.split_whitespace().next().unwrap_or_default();
        let replaced = if line.ends_with("# UPSTREAM") {
            format!("server {upstream};")
        } else if line.ends_with("# LISTEN") {
            format!("listen 127.0.0.1:{port};")
        } else if line.ends_with("# PID_FILE") {
            format!("pid {d}/nginx.pid;")
        } else if line.ends_with("# ERROR_LOG") {
            format!("error_log {d}/error.log warn;")
        } else if line.ends_with("# ACCESS_LOG") {
            format!("access_log {d}/access.log;")
        } else if line.ends_with("# TEMP_DIR") {
            let sub = if first.starts_with("client_body") { "body" } else { "proxy" };
            format!("{first} {d}/{sub};")
        } else if line.ends_with("# LOCATION") {
            format!("location {location} {{")
        } else {
            out += line;
            out.push('\n');
            continue;
        };
        out += &format!("{indent}{replaced}\n");
    }
    assert!(out.contains(&format!("listen 127.0.0.1:{port};")), "the example lost its markers");
    out
}

/// The `host:port` of a TestServer.
fn authority(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// davgate trusting the local nginx, with nginx in front on `/`.
fn behind_nginx(extra: &[&str]) -> Option<(TestServer, Nginx)> {
    if !Nginx::available() {
        return None;
    }
    let mut args = vec!["--trusted-proxies", "127.0.0.1/32,::1/128"];
    args.extend_from_slice(extra);
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), &args);
    let nginx = Nginx::start(free_port(), &authority(&server), "/");
    Some((server, nginx))
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(900)).build().unwrap()
}

/// Signs the admin in through the page at `base`, claiming `X-Forwarded-Proto: https`; returns
/// the session cookie the 303 sets.
fn https_sign_in_cookie(base: &str, admin: &str) -> String {
    let res = client()
        .post(format!("{base}/login"))
        .header("X-Forwarded-Proto", "https")
        .form(&[("user", "admin"), ("password", admin)])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    res.headers()["set-cookie"].to_str().unwrap().to_string()
}

/// PROPFIND Depth 0 on `url` as alice, from the client `forwarded_for` says.
fn propfind_from(url: &str, password: &str, forwarded_for: &str) -> u16 {
    let res = client()
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), url)
        .basic_auth("alice", Some(password))
        .header("Depth", "0")
        .header("X-Forwarded-For", forwarded_for)
        .send();
    status(res)
}

#[test]
fn litmus_passes_every_test_of_the_five_suites_through_nginx() {
    if !crate::litmus::available() {
        return;
    }
    let Some((server, nginx)) = behind_nginx(&[]) else { return };
    server.add_user("alice");
    let pw = server.app_password("alice", "litmus");
    crate::litmus::assert_passes(&format!("{}/dav/", nginx.base), "alice", &pw, server.dir());
}

#[test]
fn litmus_passes_every_test_under_a_path_prefix_through_nginx() {
    if !crate::litmus::available() || !Nginx::available() {
        return;
    }
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/webdav/");
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        &["--trusted-proxies", "127.0.0.1/32", "--public-url", &public],
    );
    let _nginx = Nginx::start(port, &authority(&server), "/webdav/");
    server.add_user("alice");
    let pw = server.app_password("alice", "litmus");
    crate::litmus::assert_passes(&format!("{public}dav/"), "alice", &pw, server.dir());
}

#[test]
fn a_1_gib_upload_streams_through_nginx_and_arrives_whole() {
    const LEN: u64 = 1 << 30;
    let Some((server, nginx)) = behind_nginx(&[]) else { return };
    server.add_user("alice");
    let pw = server.app_password("alice", "big");
    // The bytes are what is checked, not the disk's fsync speed.
    ok(&server.cli(&["settings", "set", "durability", "fast"]));
    let url = format!("{}/dav/big.bin", nginx.base);
    let (generator, digest) = Generator::new(17, LEN);
    let put = client()
        .put(&url)
        .basic_auth("alice", Some(&pw))
        .body(reqwest::blocking::Body::sized(generator, LEN))
        .send()
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "{}", nginx.errors());
    let sent = digest.try_recv().expect("the whole body was generated");
    let file: PathBuf = server.home("alice").join("big.bin");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), LEN, "size on disk");
    let mut res = client().get(&url).basic_auth("alice", Some(&pw)).send().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut received = Hashing::default();
    res.copy_to(&mut received).unwrap();
    assert_eq!(received.len, LEN);
    assert_eq!(hex(&received.hasher.finalize()), sent, "the bytes that came back");
    let deleted = client().delete(&url).basic_auth("alice", Some(&pw)).send();
    assert_eq!(status(deleted), 204);
    assert!(!file.exists());
    // nginx spooled nothing: the body went through as it came.
    let spooled = std::fs::read_dir(nginx.dir.path().join("body")).unwrap().count();
    assert_eq!(spooled, 0, "nginx buffered the upload");
}

#[test]
fn the_throttle_locks_out_the_forwarded_attacker_while_the_user_signs_in_from_elsewhere() {
    let Some((server, nginx)) = behind_nginx(&[]) else { return };
    server.add_user("alice");
    ok(&server.cli(&["settings", "set", "login_max_failures", "3"]));
    let pw = server.app_password("alice", "laptop");
    let url = format!("{}/dav/", nginx.base);
    let wrong = with_wrong_secret(&pw);
    // nginx appends its own peer (127.0.0.1, trusted): the attacker is the address before it.
    for _ in 0..4 {
        assert_eq!(propfind_from(&url, &wrong, "203.0.113.66"), 401);
    }
    assert_eq!(propfind_from(&url, &wrong, "203.0.113.66"), 429);
    // A right password not verified yet from the attacker's address waits too...
    let fresh = server.app_password("alice", "phone");
    assert_eq!(propfind_from(&url, &fresh, "203.0.113.66"), 429);
    // ...but alice, from her own network, signs in.
    assert_eq!(propfind_from(&url, &fresh, "198.51.100.7"), 207);
    let log = server.log();
    assert!(log.contains("Login failed: 'alice' (Remote IP: '203.0.113.66')"), "{log}");
    assert!(log.contains("Login throttled: 'alice' (Remote IP: '203.0.113.66')"), "{log}");
    assert!(!log.contains("Remote IP: '127.0.0.1'"), "{log}");
    // Every access line names the forwarded client.
    assert!(log.contains("203.0.113.66 PROPFIND /dav/ 429 -"), "{log}");
    assert!(log.contains("198.51.100.7 PROPFIND /dav/ 207 alice"), "{log}");
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // A proxy is trusted, but not the loopback peer the requests come from.
    let server =
        TestServer::start_with(tempfile::tempdir().unwrap(), &["--trusted-proxies", "10.0.0.0/8"]);
    server.add_user("alice");
    ok(&server.cli(&["settings", "set", "login_max_failures", "3"]));
    let pw = server.app_password("alice", "laptop");
    let url = format!("{}/dav/", server.base);
    let wrong = with_wrong_secret(&pw);
    // A new made-up address for every guess: the throttle still counts them all for the peer.
    for n in 0..4 {
        assert_eq!(propfind_from(&url, &wrong, &format!("203.0.113.{n}")), 401);
    }
    assert_eq!(propfind_from(&url, &wrong, "203.0.113.200"), 429);
    let fresh = server.app_password("alice", "phone");
    let res = client()
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &url)
        .basic_auth("alice", Some(&fresh))
        .header("Depth", "0")
        .header("Forwarded", "for=198.51.100.7;proto=https")
        .header("X-Forwarded-For", "198.51.100.7")
        .send();
    assert_eq!(status(res), 429, "a claimed other address is not another client");
    let log = server.log();
    assert!(log.contains("Login throttled: 'alice' (Remote IP: '127.0.0.1')"), "{log}");
    assert!(!log.contains("203.0.113.") && !log.contains("198.51.100.7"), "{log}");
    // Nor does a claimed https make the sign-in cookie Secure.
    let admin = first_admin_password(&server);
    let cookie = https_sign_in_cookie(&server.base, &admin);
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[test]
fn a_trusted_proxy_saying_https_makes_the_cookies_secure() {
    let Some((server, nginx)) = behind_nginx(&[]) else { return };
    let admin = first_admin_password(&server);
    // nginx overwrites X-Forwarded-Proto with its own scheme (http), so the claim is davgate's
    // own test of the header: sent to davgate by its trusted peer (a client on 127.0.0.1).
    let cookie = https_sign_in_cookie(&server.base, &admin);
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Through nginx on plain http: not Secure (the browser would drop it).
    let cookie = https_sign_in_cookie(&nginx.base, &admin);
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[test]
fn a_path_prefix_serves_webdav_the_pages_and_the_api_through_nginx() {
    if !Nginx::available() {
        return;
    }
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/webdav/");
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        &["--trusted-proxies", "127.0.0.1/32", "--public-url", &public],
    );
    assert!(server.banner.contains(&format!("WebDAV:  {public}dav/")), "{}", server.banner);
    let nginx = Nginx::start(port, &authority(&server), "/webdav/");
    server.add_user("alice");
    let pw = server.app_password("alice", "prefix");
    let dav = format!("{public}dav/");
    let http = client();
    let method = |m: &[u8]| reqwest::Method::from_bytes(m).unwrap();

    // WebDAV: upload, list (hrefs under the prefix), move with full and path-only Destinations.
    let put = http.put(format!("{dav}a.txt")).basic_auth("alice", Some(&pw)).body("hello");
    assert_eq!(status(put.send()), 201, "{}", nginx.errors());
    let listing = http
        .request(method(b"PROPFIND"), &dav)
        .basic_auth("alice", Some(&pw))
        .header("Depth", "1")
        .send()
        .unwrap();
    assert_eq!(listing.status().as_u16(), 207);
    let xml = listing.text().unwrap();
    let hrefs: Vec<&str> = xml
        .split("href>")
        .filter_map(|s| s.strip_suffix("</D:").or_else(|| s.strip_suffix("</d:")))
        .collect();
    assert!(hrefs.contains(&"/webdav/dav/") && hrefs.contains(&"/webdav/dav/a.txt"), "{xml}");
    assert!(hrefs.iter().all(|h| h.starts_with("/webdav/dav/")), "{xml}");
    let moved = http
        .request(method(b"MOVE"), format!("{dav}a.txt"))
        .basic_auth("alice", Some(&pw))
        .header("Destination", format!("{dav}b.txt"))
        .send();
    assert_eq!(status(moved), 201);
    let moved = http
        .request(method(b"MOVE"), format!("{dav}b.txt"))
        .basic_auth("alice", Some(&pw))
        .header("Destination", "/webdav/dav/c.txt")
        .send();
    assert_eq!(status(moved), 201);
    let outside = http
        .request(method(b"MOVE"), format!("{dav}c.txt"))
        .basic_auth("alice", Some(&pw))
        .header("Destination", "/dav/d.txt")
        .send();
    assert_eq!(status(outside), 403, "a Destination outside the prefix");
    let got = http.get(format!("{dav}c.txt")).basic_auth("alice", Some(&pw)).send().unwrap();
    assert_eq!(got.text().unwrap(), "hello");
    assert!(server.home("alice").join("c.txt").exists());
    // Outside the prefix nothing is served.
    let bare = http.get(format!("{}/dav/c.txt", server.base)).basic_auth("alice", Some(&pw));
    assert_eq!(status(bare.send()), 404);

    // The pages: the form and its assets under the prefix, then sign-in lands there too.
    let login = http.get(&public).send().unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let html = login.text().unwrap();
    assert!(html.contains("action=\"/webdav/login\""), "{html}");
    assert!(!html.contains("href=\"/assets") && !html.contains("src=\"/assets"), "{html}");
    let admin = first_admin_password(&server);
    let signed = http
        .post(format!("{public}login"))
        .form(&[("user", "admin"), ("password", admin.as_str())])
        .send()
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303);
    assert_eq!(signed.headers()["location"], "/webdav/profile");
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Path=/webdav/;"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let profile = http.get(format!("{public}profile")).header("Cookie", &session).send().unwrap();
    assert_eq!(profile.status().as_u16(), 200);
    let html = profile.text().unwrap();
    assert!(html.contains(&dav), "the profile shows the public WebDAV address:\n{html}");
    for asset in html.split("src=\"").skip(1).filter_map(|s| s.split('"').next()) {
        let url = format!("http://127.0.0.1:{port}{asset}");
        assert_eq!(status(http.get(&url).send()), 200, "{url}");
    }

    // The API.
    let me = http.get(format!("{public}api/v1/session")).header("Cookie", &session).send();
    let me: serde_json::Value = serde_json::from_str(&me.unwrap().text().unwrap()).unwrap();
    assert_eq!(me["user"]["name"], "admin");
    assert_eq!(status(http.get(format!("{public}api/v1/session")).send()), 401);
    // Health, under the prefix and at the server's own path.
    assert_eq!(status(http.get(format!("{public}healthz")).send()), 200);
    assert_eq!(status(http.get(format!("{}/healthz", server.base)).send()), 200);
}

#[test]
fn json_log_lines_parse_and_carry_the_forwarded_client() {
    let Some((server, nginx)) = behind_nginx(&["--log-format", "json"]) else { return };
    server.add_user("alice");
    let pw = server.app_password("alice", "json");
    assert_eq!(propfind_from(&format!("{}/dav/", nginx.base), &pw, "192.0.2.44"), 207);
    let wrong = with_wrong_secret(&pw);
    assert_eq!(propfind_from(&format!("{}/dav/", nginx.base), &wrong, "192.0.2.45"), 401);
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "davgate::access" && l["user"] == "alice")
        .unwrap_or_else(|| panic!("no access line for alice:\n{log}"));
    assert_eq!(access["client"], "192.0.2.44");
    assert_eq!(access["method"], "PROPFIND");
    assert_eq!(access["path"], "/dav/");
    assert_eq!(access["status"], 207);
    assert!(access["ms"].as_f64().is_some(), "{access}");
    assert_eq!(access["level"], "INFO");
    let failed = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("Login failed")))
        .unwrap_or_else(|| panic!("no failed-login line:\n{log}"));
    assert_eq!(failed["target"], "davgate::auth");
    let message = failed["message"].as_str().unwrap();
    assert!(message.starts_with("Login failed: 'alice' (Remote IP: '192.0.2.45')"), "{message}");
}
