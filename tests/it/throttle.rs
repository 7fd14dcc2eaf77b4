//! Brute-force throttling: guesses for one user from one network are slowed, then refused with
//! 429, while that user's verified apps, other users, stale clients and trusted networks carry on.

use crate::util::*;

/// A server where alice has a verified (cached) app password, and the lockout comes after 3.
fn throttled_server() -> (TestServer, String) {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    ok(&server.cli(&["settings", "set", "login_max_failures", "3"]));
    let pw = server.app_password("alice", "laptop");
    assert_eq!(server.probe("alice", &pw), 207, "verified once, then cached");
    (server, pw)
}

fn guess(server: &TestServer, password: &str) -> reqwest::blocking::Response {
    server.as_user("alice", password, "PROPFIND", "/dav/").header("Depth", "0").send().unwrap()
}

#[test]
fn repeated_guesses_are_refused_with_429_but_the_users_verified_app_carries_on() {
    let (server, pw) = throttled_server();
    let wrong = with_wrong_secret(&pw);
    // Three failures, then the one attempt a minute a lockout still verifies, then 429s.
    for _ in 0..4 {
        assert_eq!(guess(&server, &wrong).status().as_u16(), 401);
    }
    let refused = guess(&server, &wrong);
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()["connection"], "close", "a refused client must reconnect");
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After: {retry}");
    // Even the right secret of an app not verified yet waits for the next minute's attempt:
    // nothing else is verified meanwhile.
    let fresh = server.app_password("alice", "phone");
    assert_eq!(guess(&server, &fresh).status().as_u16(), 429);
    // The laptop, verified before, is not slowed or refused; bob, same network, is not affected.
    assert_eq!(server.probe("alice", &pw), 207);
    let bob = server.app_password("bob", "laptop");
    assert_eq!(server.probe("bob", &bob), 207);
    assert!(server.log().contains("Login throttled: 'alice' (Remote IP: '127.0.0.1')"));
}

#[test]
fn a_stale_client_retrying_a_revoked_password_locks_nobody_out() {
    let (server, pw) = throttled_server();
    let (old_id, old) = create_app_password(server.dir(), "alice", "old laptop");
    ok(&server.cli(&["app-password", "revoke", "alice", &old_id]));
    for _ in 0..20 {
        assert_eq!(
            guess(&server, &old).status().as_u16(),
            401,
            "a revoked password is a cheap 401"
        );
    }
    // Those 20 retries counted for nothing: a new app of alice's verifies at once.
    let fresh = server.app_password("alice", "phone");
    assert_eq!(guess(&server, &fresh).status().as_u16(), 207);
    assert_eq!(server.probe("alice", &pw), 207);
}

#[test]
fn a_success_starts_the_count_over() {
    let (server, pw) = throttled_server();
    let wrong = with_wrong_secret(&pw);
    for _ in 0..2 {
        assert_eq!(guess(&server, &wrong).status().as_u16(), 401);
    }
    let fresh = server.app_password("alice", "phone");
    assert_eq!(guess(&server, &fresh).status().as_u16(), 207);
    for _ in 0..4 {
        assert_eq!(guess(&server, &wrong).status().as_u16(), 401, "the count started over");
    }
    assert_eq!(guess(&server, &wrong).status().as_u16(), 429);
}

#[test]
fn trusted_networks_and_a_disabled_throttle_are_never_refused() {
    let (server, pw) = throttled_server();
    let wrong = with_wrong_secret(&pw);
    ok(&server.cli(&["settings", "set", "login_trusted_networks", "127.0.0.0/8,::1"]));
    for _ in 0..5 {
        assert_eq!(guess(&server, &wrong).status().as_u16(), 401);
    }
    ok(&server.cli(&["settings", "set", "login_trusted_networks", ""]));
    ok(&server.cli(&["settings", "set", "login_throttle", "false"]));
    for _ in 0..5 {
        assert_eq!(guess(&server, &wrong).status().as_u16(), 401);
    }
    let line = refused(&server.cli(&["settings", "set", "login_trusted_networks", "10.0.0.0/33"]));
    assert!(line.contains("login_trusted_networks"), "{line}");
}

#[test]
fn parallel_guesses_cannot_outrun_the_count() {
    let (server, pw) = throttled_server();
    let verifications = || -> u64 {
        let status: serde_json::Value =
            serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
        status["argon2_verifications"].as_u64().unwrap()
    };
    let before = verifications();
    // 32 different wrong secrets at once (so that no two share a verification).
    let wrong: Vec<String> = (0..32).map(|n| with_wrong_secret_n(&pw, n)).collect();
    let codes: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> =
            wrong.iter().map(|w| scope.spawn(|| guess(&server, w).status().as_u16())).collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    assert!(codes.iter().all(|c| *c == 401 || *c == 429), "{codes:?}");
    let spent = verifications() - before;
    // Three failures allowed, plus the one-a-minute attempt of a lockout: never one per connection.
    assert_eq!(spent, 4, "argon2 verifications for 32 parallel guesses");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 28, "{codes:?}");
}
