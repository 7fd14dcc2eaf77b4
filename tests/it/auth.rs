//! The gate: only a valid, unexpired, unrevoked app password of the named user opens /dav/.

use crate::util::*;
use std::time::Duration;

const CHALLENGE: &str = "Basic realm=\"davgate\", charset=\"UTF-8\"";

/// Status, challenge header and body of a refused request, which must all look the same.
fn refusal(server: &TestServer, user: &str, password: &str) -> (u16, String, String) {
    let res = server.as_user(user, password, "GET", "/dav/").send().expect("request");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status().as_u16(), challenge, res.text().unwrap())
}

#[test]
fn an_app_password_opens_the_users_home() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let put = server.as_user("alice", &pw, "PUT", "/dav/notes.txt").body("hello").send();
    assert_eq!(status(put), 201);
    let got = server.as_user("alice", &pw, "GET", "/dav/notes.txt").send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.text().unwrap(), "hello");
    assert_eq!(std::fs::read_to_string(server.home("alice").join("notes.txt")).unwrap(), "hello");
    let listing = server.as_user("alice", &pw, "PROPFIND", "/dav/").header("Depth", "1").send();
    assert_eq!(status(listing), 207);
}

#[test]
fn the_primary_password_never_opens_webdav() {
    let server = TestServer::start();
    ok(&server.cli_with_stdin(&["user", "add", "alice", "--password-stdin"], "primary-pass-123\n"));
    server.app_password("alice", "laptop");
    let (code, challenge, _) = refusal(&server, "alice", "primary-pass-123");
    assert_eq!(code, 401);
    assert_eq!(challenge, CHALLENGE);
    // The exact line fail2ban reads: plain text, no colour codes, in a file.
    let log = server.log();
    let line = "Login failed: 'alice' (Remote IP: '127.0.0.1') not an app password";
    assert!(log.contains(line), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file");
    assert!(!server.log().contains("primary-pass-123"), "a password reached the log");
}

#[test]
fn wrong_secret_wrong_owner_and_unknown_user_look_the_same() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let alice_pw = server.app_password("alice", "laptop");
    let bob_pw = server.app_password("bob", "phone");
    let wrong_secret = refusal(&server, "alice", &with_wrong_secret(&alice_pw));
    let wrong_owner = refusal(&server, "alice", &bob_pw);
    let unknown_user = refusal(&server, "mallory", &alice_pw);
    let no_credentials = server.request("GET", "/dav/").send().unwrap();
    assert_eq!(wrong_secret.0, 401);
    assert_eq!(wrong_secret.1, CHALLENGE);
    assert_eq!(wrong_secret, wrong_owner);
    assert_eq!(wrong_secret, unknown_user);
    assert_eq!(no_credentials.status().as_u16(), 401);
    // Bob's password still works for bob, and alice's for alice: nothing was locked.
    assert_eq!(server.probe("bob", &bob_pw), 207);
    assert_eq!(server.probe("alice", &alice_pw), 207);
    let log = server.log();
    for password in [&alice_pw, &bob_pw] {
        assert!(!log.contains(password.as_str()), "a password reached the log");
    }
}

/// The one test that waits out a real TTL, on the binary and the system's clock: the
/// boundaries are tested on a clock the test moves (clock.rs); this one shows that the server,
/// the gate and the listing all read the real time.
#[test]
fn an_app_password_expires_after_the_ttl_in_force_at_creation() {
    let server = TestServer::start();
    server.add_user("alice");
    ok(&server.cli(&["settings", "set", "app_credentials_ttl", "2s"]));
    let pw = server.app_password("alice", "short-lived");
    ok(&server.cli(&["settings", "set", "app_credentials_ttl", "90d"]));
    let probe = || server.probe("alice", &pw);
    assert_eq!(probe(), 207);
    std::thread::sleep(Duration::from_millis(2_300));
    assert_eq!(probe(), 401);
    let listed = list_app_passwords(server.dir(), Some("alice"));
    assert_eq!(listed[0]["status"], "expired");
}

#[test]
fn a_revoke_through_the_cli_takes_effect_on_the_next_request() {
    let server = TestServer::start();
    server.add_user("alice");
    let (id, pw) = create_app_password(server.dir(), "alice", "laptop");
    let (_, other) = create_app_password(server.dir(), "alice", "phone");
    for _ in 0..3 {
        // Cached after the first: the revoke must still win.
        assert_eq!(server.probe("alice", &pw), 207);
    }
    ok(&server.cli(&["app-password", "revoke", "alice", &id]));
    assert_eq!(server.probe("alice", &pw), 401);
    assert_eq!(server.probe("alice", &other), 207);
    ok(&server.cli(&["app-password", "revoke", "alice", "--all"]));
    assert_eq!(server.probe("alice", &other), 401);
}

#[test]
fn disabling_a_user_locks_out_their_app_passwords_until_enabled() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let probe = || server.probe("alice", &pw);
    assert_eq!(probe(), 207);
    ok(&server.cli(&["user", "disable", "alice"]));
    assert_eq!(probe(), 401);
    ok(&server.cli(&["user", "enable", "alice"]));
    assert_eq!(probe(), 207);
}

#[test]
fn the_first_client_is_recorded_and_never_replaced() {
    let server = TestServer::start();
    server.add_user("alice");
    let clients = [
        ("litmus/0.13 neon/0.32.5", "litmus"),
        ("rclone/v1.60.1", "rclone"),
        ("Microsoft-WebDAV-MiniRedir/10.0.19041", "Windows Explorer"),
    ];
    let mut passwords = Vec::new();
    for (ua, label) in clients {
        let (id, pw) = create_app_password(server.dir(), "alice", label);
        let before = list_app_passwords(server.dir(), Some("alice"));
        let mine = before.iter().find(|p| p["id"] == id.as_str()).unwrap();
        assert!(mine["access_method"].is_null(), "not assigned before first use");
        let res = server
            .as_user("alice", &pw, "PROPFIND", "/dav/")
            .header("Depth", "0")
            .header("User-Agent", ua)
            .send();
        assert_eq!(status(res), 207);
        passwords.push((id, pw, ua, label));
    }
    // A later, different client does not change what was recorded.
    for (_, pw, _, _) in &passwords {
        let res = server
            .as_user("alice", pw, "PROPFIND", "/dav/")
            .header("Depth", "0")
            .header("User-Agent", "curl/8.7.1")
            .send();
        assert_eq!(status(res), 207);
    }
    let listed = list_app_passwords(server.dir(), Some("alice"));
    for (id, _, ua, label) in &passwords {
        let p = listed.iter().find(|p| p["id"] == id.as_str()).unwrap();
        assert_eq!(p["access_method"], *label);
        assert_eq!(p["user_agent"], *ua);
        assert!(p["first_used_at"].is_string());
        assert!(p["last_used_at"].is_string());
    }
    let table = ok(&server.cli(&["app-password", "list", "alice"]));
    assert!(table.contains("Windows Explorer"), "{table}");
}

#[test]
fn passwords_are_case_insensitive_and_forgive_missing_dashes() {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let shouted = pw.to_uppercase();
    let undashed = format!("dgp-{}", pw["dgp-".len()..].replace('-', ""));
    for variant in [&shouted, &undashed] {
        let res = server.as_user("Alice", variant, "PROPFIND", "/dav/").header("Depth", "0").send();
        assert_eq!(status(res), 207, "{variant}");
    }
}

#[test]
fn the_store_file_never_holds_a_secret() {
    let mut server = TestServer::start();
    server.add_user("alice");
    let passwords: Vec<String> =
        (0..3).map(|i| server.app_password("alice", &format!("app {i}"))).collect();
    for pw in &passwords {
        server.as_user("alice", pw, "PROPFIND", "/dav/").header("Depth", "0").send().unwrap();
    }
    server.terminate();
    let bytes = std::fs::read(server.dir().join("davgate.redb")).unwrap();
    let haystack = String::from_utf8_lossy(&bytes).to_lowercase();
    for pw in &passwords {
        let body: String = pw["dgp-".len()..].chars().filter(|c| *c != '-').collect();
        let secret = &body[10..38];
        for needle in [pw.as_str(), body.as_str(), secret, &secret[..12]] {
            assert!(!haystack.contains(needle), "the store holds part of a secret: {needle}");
        }
        assert!(
            haystack.contains(&body[..10]),
            "the public id is stored (sanity check of the search)"
        );
    }
}
