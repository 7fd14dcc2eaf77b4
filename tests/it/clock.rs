//! Time as a user meets it (app-password expiry, the throttle's lockout, web session lifetimes,
//! lock timeouts) on a real server whose clock the test moves: `davgate::Server` in-process on a
//! `ManualClock`, driven over HTTP like a client and set up through the real CLI, which reaches
//! it over its admin socket. A day-long TTL takes no time, and no test races a slow machine.
//! (One end-to-end test with a real short TTL against the binary stays in `auth.rs`.)

use crate::util::*;
use chrono::{DateTime, Utc};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const SECOND: Duration = Duration::from_secs(1);

/// A server running in this process on a clock that moves only when the test says so.
struct Clocked {
    server: InProcess,
    client: Client,
}

impl std::ops::Deref for Clocked {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.server
    }
}

impl Clocked {
    fn start() -> Self {
        let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { server: InProcess::start(|_| {}), client }
    }

    /// Lets `by` pass on the server's clock.
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Moves the server's clock forward to `at` (to the next millisecond at or after it).
    fn advance_to(&self, at: DateTime<Utc>) {
        let ahead = (at - self.clock.clock().now()).to_std().expect("a time still to come");
        self.clock.advance(Duration::from_millis(ahead.as_nanos().div_ceil(1_000_000) as u64));
    }

    fn cli(&self, args: &[&str]) -> String {
        ok(&cli(self.data.path(), args))
    }

    /// An account whose web password is `password`.
    fn add_user_with_password(&self, name: &str, password: &str) {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(self.data.path())
            .args(["user", "add", name, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        ok(&child.wait_with_output().unwrap());
    }

    /// A new app password of `user`: (id, password).
    fn app_password(&self, user: &str, name: &str) -> (String, String) {
        create_app_password(self.data.path(), user, name)
    }

    /// When the app password `id` of `user` expires, as the listing says.
    fn expires_at(&self, user: &str, id: &str) -> DateTime<Utc> {
        let listed = list_app_passwords(self.data.path(), Some(user));
        let mine = listed.iter().find(|p| p["id"] == id).expect("listed");
        serde_json::from_value(mine["expires_at"].clone()).expect("an expiry time")
    }

    fn request(&self, method: &str, path: &str) -> RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// PROPFIND Depth 0 on `/dav/` as `user`: the status a client sees when it mounts.
    fn probe(&self, user: &str, password: &str) -> Response {
        let req = self.request("PROPFIND", "/dav/").header("Depth", "0");
        req.basic_auth(user, Some(password)).send().expect("an answer")
    }

    /// A web sign-in through the API: the answer's status and, on success, the session's
    /// (cookie, CSRF token).
    fn sign_in(&self, user: &str, password: &str) -> (u16, Option<(String, String)>) {
        let res = self
            .request("POST", "/api/v1/session")
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .expect("an answer");
        let code = res.status().as_u16();
        let cookie = session_cookie(res.headers());
        let body: Value = serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or_default();
        let csrf = body["csrf_token"].as_str().map(str::to_string);
        (code, cookie.zip(csrf))
    }

    /// A JSON call of the API in a session (cookie and CSRF token): the status it answers.
    fn call(&self, session: &(String, String), method: &str, path: &str, body: Value) -> u16 {
        let req = self.request(method, &format!("/api/v1{path}"));
        let req = req.header("Cookie", format!("davgate_session={}", session.0));
        let req = req.header("X-CSRF-Token", &session.1).header("Content-Type", "application/json");
        status(req.body(body.to_string()).send())
    }

    /// `GET /api/v1/session` with a session: 200 while it lasts, 401 once it is over.
    fn session_status(&self, (cookie, csrf): &(String, String)) -> u16 {
        let req = self.request("GET", "/api/v1/session");
        let req = req.header("Cookie", format!("davgate_session={cookie}"));
        status(req.header("X-CSRF-Token", csrf).send())
    }
}

#[test]
fn an_app_password_works_until_its_ttl_ends_and_not_from_that_moment_on() {
    let server = Clocked::start();
    server.cli(&["user", "add", "alice"]);
    server.cli(&["settings", "set", "app_credentials_ttl", "1d"]);
    let (id, pw) = server.app_password("alice", "laptop");
    let (unused_id, unused) = server.app_password("alice", "phone");
    assert_eq!(server.probe("alice", &pw).status(), 207, "verified, and cached from now on");
    let expires_at = server.expires_at("alice", &id);

    server.advance_to(expires_at - SECOND);
    assert_eq!(server.probe("alice", &pw).status(), 207, "one second before its TTL ends");
    server.advance_to(expires_at);
    assert_eq!(server.probe("alice", &pw).status(), 401, "the moment its TTL ends");
    assert_eq!(server.probe("alice", &pw).status(), 401, "and every retry after");

    // One never used before its TTL ended is refused at its first use, the same way.
    server.advance_to(server.expires_at("alice", &unused_id));
    assert_eq!(server.probe("alice", &unused).status(), 401);
}

#[test]
fn a_network_locked_out_of_webdav_is_let_in_again_once_the_lockout_has_passed() {
    let server = Clocked::start();
    server.cli(&["user", "add", "alice"]);
    server.cli(&["settings", "set", "login_max_failures", "3"]);
    let (_, pw) = server.app_password("alice", "laptop");
    let wrong = with_wrong_secret(&pw);
    // Three failures, then the one attempt a minute a lockout still verifies, then 429s.
    for _ in 0..4 {
        assert_eq!(server.probe("alice", &wrong).status(), 401);
    }
    let refused = server.probe("alice", &pw);
    assert_eq!(refused.status(), 429, "even the right password waits out the lockout");
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry), "Retry-After: {retry}");

    server.advance(Duration::from_secs(retry));
    assert_eq!(server.probe("alice", &pw).status(), 207, "let in once the lockout has passed");
}

#[test]
fn a_network_locked_out_of_the_web_sign_in_is_let_in_again_the_second_the_lockout_ends() {
    let server = Clocked::start();
    server.add_user_with_password("alice", "alicepassword1");
    server.cli(&["settings", "set", "login_max_failures", "3"]);
    for _ in 0..3 {
        assert_eq!(server.sign_in("alice", "wrong-password").0, 401);
    }
    assert_eq!(server.sign_in("alice", "alicepassword1").0, 429, "locked out");

    server.advance(15 * MINUTE - SECOND);
    assert_eq!(server.sign_in("alice", "alicepassword1").0, 429, "a second before the end");
    server.advance(SECOND);
    let (code, session) = server.sign_in("alice", "alicepassword1");
    assert_eq!(code, 200, "15 minutes after the last failure");
    assert_eq!(server.session_status(&session.unwrap()), 200);
}

#[test]
fn a_web_session_ends_after_an_hour_unused_or_twelve_hours_in_all() {
    let server = Clocked::start();
    server.add_user_with_password("alice", "alicepassword1");
    let (_, idle) = server.sign_in("alice", "alicepassword1");
    let (_, busy) = server.sign_in("alice", "alicepassword1");
    let (idle, busy) = (idle.unwrap(), busy.unwrap());

    server.advance(HOUR - SECOND);
    assert_eq!(server.session_status(&busy), 200, "used just before the hour was up");
    server.advance(SECOND);
    assert_eq!(server.session_status(&idle), 401, "unused for an hour: signed out");

    // Used every 50 minutes, the other lasts until 12 hours after the sign-in, not longer.
    let mut elapsed = HOUR;
    while elapsed + 50 * MINUTE < 12 * HOUR {
        server.advance(50 * MINUTE);
        elapsed += 50 * MINUTE;
        assert_eq!(server.session_status(&busy), 200, "in use, {elapsed:?} after sign-in");
    }
    server.advance(12 * HOUR - elapsed);
    assert_eq!(server.session_status(&busy), 401, "12 hours after the sign-in");
}

#[test]
fn the_second_factor_accepts_the_code_of_the_servers_time_not_of_another() {
    let server = Clocked::start();
    server.add_user_with_password("alice", "alicepassword1");
    let (_, session) = server.sign_in("alice", "alicepassword1");
    let session = session.unwrap();
    let res = server
        .request("POST", "/api/v1/me/totp")
        .header("Cookie", format!("davgate_session={}", session.0))
        .header("X-CSRF-Token", &session.1)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let enrolment: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
    let key = enrolment["manual_key"].as_str().unwrap().replace(' ', "");
    let secret = totp_rs::Secret::try_from_base32(&key).unwrap().as_bytes().to_vec();
    let code_at = |t: u64| davgate::internal::totp_code_at(&secret, t).unwrap();
    let server_time = || server.clock.clock().unix_seconds();
    let confirm = json!({ "code": code_at(server_time()) });
    assert_eq!(server.call(&session, "POST", "/me/totp/confirm", confirm), 204);

    // Ten minutes later on the server's clock: the code an app shows for a clock ten minutes
    // behind is refused, the one for the server's time is accepted.
    server.advance(10 * MINUTE);
    let (code, half_open) = server.sign_in("alice", "alicepassword1");
    assert_eq!(code, 200);
    let half_open = half_open.unwrap();
    let behind = json!({ "code": code_at(server_time() - 600) });
    assert_eq!(server.call(&half_open, "POST", "/session/totp", behind), 401);
    let current = json!({ "code": code_at(server_time()) });
    assert_eq!(server.call(&half_open, "POST", "/session/totp", current), 200);
}

/// A LOCK request body for an exclusive write lock owned by `owner`.
fn lockinfo(owner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>"#
    )
}

#[test]
fn an_abandoned_lock_guards_the_file_until_the_lock_timeout_and_then_is_gone() {
    let server = Clocked::start();
    server.cli(&["user", "add", "alice"]);
    server.cli(&["settings", "set", "lock_timeout", "1m"]);
    let (_, pw) = server.app_password("alice", "office");
    let alice = |method: &str, path: &str| {
        server.request(method, path).basic_auth("alice", Some(&pw)).header("Depth", "0")
    };
    let put = || status(alice("PUT", "/dav/Abandoned.docx").body("x").send());
    let discovery = || {
        let body = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#;
        let res = alice("PROPFIND", "/dav/Abandoned.docx").body(body).send().unwrap();
        assert_eq!(res.status().as_u16(), 207);
        res.text().unwrap()
    };
    // Office locks the name before it writes the file (201: an empty file is created).
    let locked = alice("LOCK", "/dav/Abandoned.docx")
        .header("User-Agent", "Microsoft Office Word 2014")
        .body(lockinfo("gone-client"))
        .send()
        .unwrap();
    assert_eq!(locked.status().as_u16(), 201);
    let token = locked.headers()["lock-token"].to_str().unwrap().trim_matches(['<', '>']);
    let token = token.to_string();
    let xml = locked.text().unwrap();
    assert!(xml.contains("Second-60"), "{xml}");
    assert_eq!(put(), 423, "a PUT without the token while it is locked");
    assert!(discovery().contains("gone-client"));

    server.advance(MINUTE - SECOND);
    assert_eq!(put(), 423, "still locked a second before the timeout");
    server.advance(SECOND);
    assert_eq!(put(), 204, "the expired lock still guards the file");
    let xml = discovery();
    assert!(!xml.contains("gone-client") && !xml.contains("activelock"), "{xml}");
    assert!(!xml.contains(&token), "{xml}");
}
