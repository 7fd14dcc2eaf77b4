//! Signed webhooks as a receiver sees them: a real HTTP server started here on 127.0.0.1 (the
//! receiving side, not a stand-in for davgate's code) gets each audit event once, in order, as
//! JSON whose `X-Davgate-Signature` verifies with the secret and not with another; the body
//! never holds the secret; while the receiver is down WebDAV and the API answer as before and
//! the events arrive once it is back; a 4xx is not retried. Both stores (the binary follows
//! `DAVGATE_TEST_STORE`).

use crate::util::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// One POST as received: its headers (lower-case names) and raw body.
#[derive(Debug, Clone)]
struct Delivery {
    timestamp: u64,
    signature: String,
    body: Vec<u8>,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// A tiny HTTP/1.1 receiver on 127.0.0.1: records each request and answers `status`. It stops
/// accepting when dropped (the next connection to it is refused once the thread ends).
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Delivery>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn start(addr: &str, status: u16) -> Self {
        let listener = TcpListener::bind(addr).expect("the receiver binds");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, halt) = (Arc::clone(&got), Arc::clone(&stop));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !halt.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        if let Some(d) = serve_one(stream, status) {
                            seen.lock().unwrap().push(d);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver { addr, got, stop }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until the deliveries hold an event of each of `kinds`.
    fn wait_for(&self, kinds: &[&str], within: Duration) -> Vec<Delivery> {
        let until = Instant::now() + within;
        loop {
            let got = self.deliveries();
            let seen: Vec<String> = got.iter().map(|d| d.json()["kind"].to_string()).collect();
            if kinds.iter().all(|k| seen.contains(&format!("\"{k}\""))) {
                return got;
            }
            assert!(Instant::now() < until, "{kinds:?} did not arrive: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads one request from `stream`, answers `status` and closes.
fn serve_one(stream: std::net::TcpStream, status: u16) -> Option<Delivery> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(answer.as_bytes()).ok()?;
    Some(Delivery {
        timestamp: header("x-davgate-timestamp")?.parse().ok()?,
        signature: header("x-davgate-signature")?,
        body,
    })
}

fn hook_to(server: &TestServer, url: &str) {
    ok(&server.cli(&["settings", "set", "webhook_url", url]));
    ok(&server.cli(&["settings", "set", "webhook_secret", SECRET]));
}

fn kinds(got: &[Delivery]) -> Vec<String> {
    got.iter().map(|d| d.json()["kind"].as_str().unwrap_or("?").to_string()).collect()
}

fn status(server: &TestServer) -> Value {
    serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap()
}

#[test]
fn events_arrive_in_order_signed_with_the_secret_and_never_holding_it() {
    let receiver = Receiver::start("127.0.0.1:0", 200);
    let server = TestServer::start();
    hook_to(&server, &receiver.url());
    server.add_user("alice");
    let password = server.app_password("alice", "Laptop");
    ok(&server.cli(&["user", "disable", "alice"]));
    ok(&server.cli(&["user", "enable", "alice"]));
    let want = ["account_created", "app_password_created", "account_disabled", "account_enabled"];
    let got = receiver.wait_for(&want, Duration::from_secs(20));
    let got_kinds = kinds(&got);
    assert_eq!(got_kinds[0], "setting_changed", "the secret's setting, once it is set");
    assert_eq!(got[0].json()["detail"]["new"], "********");
    let tail: Vec<&str> = got_kinds[1..].iter().map(String::as_str).collect();
    assert_eq!(tail, want, "each once, in order");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    for d in &got {
        let body = String::from_utf8(d.body.clone()).unwrap();
        assert!(
            davgate::webhook::verify(SECRET.as_bytes(), d.timestamp, &d.body, &d.signature),
            "the signature verifies: {body}"
        );
        assert!(!davgate::webhook::verify(
            b"another-secret-entirely",
            d.timestamp,
            &d.body,
            &d.signature
        ));
        assert!(now.as_secs().abs_diff(d.timestamp) < 300, "a current timestamp");
        assert!(!body.contains(SECRET), "the body holds the secret: {body}");
        assert!(!body.contains(&password), "the body holds an app password: {body}");
        for field in ["at", "actor_kind", "kind", "outcome", "subject", "detail"] {
            assert!(d.json().get(field).is_some(), "{field} in {body}");
        }
    }
    let ids: Vec<u64> = got.iter().map(|d| d.json()["id"].as_u64().unwrap_or(0)).collect();
    assert!(ids[0] > 0 && ids.windows(2).all(|w| w[0] < w[1]), "the log's ids, in order: {ids:?}");
    let alice = &got[1].json();
    assert_eq!(
        (alice["subject"].as_str(), alice["actor_kind"].as_str()),
        (Some("alice"), Some("admin"))
    );
    let s = status(&server);
    assert!(s["webhook"]["sent"].as_u64().unwrap() >= 5, "{s}");
    assert_eq!(s["webhook"]["failed"], 0);
    assert_eq!(s["audit_dropped"], 0);
    let log = server.log();
    assert!(!log.contains(SECRET), "the server's log holds the webhook secret");
}

#[test]
fn a_receiver_that_is_down_slows_nothing_and_gets_the_events_once_it_is_back() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = TestServer::start();
    hook_to(&server, &format!("http://127.0.0.1:{port}/hook"));
    let started = Instant::now();
    server.add_user("bob");
    let password = server.app_password("bob", "Phone");
    for _ in 0..5 {
        assert_eq!(server.probe("bob", &password), 207);
    }
    let res = server.request("GET", "/").send().unwrap();
    assert!(res.status().as_u16() < 500, "the pages answer");
    assert!(started.elapsed() < Duration::from_secs(8), "requests waited for the webhook");
    std::thread::sleep(Duration::from_millis(1500));
    let receiver = Receiver::start(&format!("127.0.0.1:{port}"), 200);
    let want = ["account_created", "app_password_created", "app_password_first_used"];
    let got = receiver.wait_for(&want, Duration::from_secs(45));
    let got_kinds = kinds(&got);
    let ours: Vec<&str> =
        got_kinds.iter().map(String::as_str).filter(|k| want.contains(k)).collect();
    assert_eq!(ours, want, "each once, in order: {got_kinds:?}");
    for d in &got {
        assert!(davgate::webhook::verify(SECRET.as_bytes(), d.timestamp, &d.body, &d.signature));
    }
}

#[test]
fn a_receiver_refusing_with_a_4xx_is_not_asked_again() {
    let receiver = Receiver::start("127.0.0.1:0", 400);
    let server = TestServer::start();
    hook_to(&server, &receiver.url());
    server.add_user("carol");
    let got = receiver.wait_for(&["account_created"], Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(2500));
    let again = receiver.deliveries();
    assert_eq!(again.len(), got.len(), "a refused event was sent again: {:?}", kinds(&again));
    let s = status(&server);
    assert_eq!(s["webhook"]["failed"].as_u64(), Some(again.len() as u64), "{s}");
}

#[test]
fn the_webhook_url_must_be_https_or_loopback_and_the_secret_is_never_shown() {
    let server = TestServer::start();
    let refused_url =
        refused(&server.cli(&["settings", "set", "webhook_url", "http://siem.example/x"]));
    assert!(refused_url.contains("https"), "{refused_url}");
    ok(&server.cli(&["settings", "set", "webhook_url", "https://siem.example/hook"]));
    refused(&server.cli(&["settings", "set", "webhook_secret", "short"]));
    ok(&server.cli(&["settings", "set", "webhook_secret", SECRET]));
    let shown = ok(&server.cli(&["settings", "get"]));
    assert!(!shown.contains(SECRET), "settings get shows the secret: {shown}");
    assert!(shown.contains("********"), "{shown}");
    let events = ok(&server.cli(&["audit", "--json"]));
    assert!(!events.contains(SECRET), "the audit log holds the secret");
    assert!(!server.log().contains(SECRET), "the log holds the secret");
}
