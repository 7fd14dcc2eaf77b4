//! Web sessions and the sign-in throttle in the store: a restart of the server signs nobody out
//! (on both stores: run with `DAVGATE_TEST_STORE=postgres` too), and two nodes on one PostgreSQL
//! database share the sessions (a cookie made on one works on the other, a sign-out on one is
//! refused on the other) and the failure counts (ten wrong passwords spread over both lock the
//! user out on both).

use davgate::internal::TestDatabase;
use reqwest::blocking::Client;
use reqwest::header::COOKIE;
use std::time::Duration;

use crate::util::*;

/// A client that shows redirects instead of following them.
fn browser() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Signs in through the web form on `base`; the session cookie's value.
fn sign_in(base: &str, user: &str, password: &str) -> String {
    let res = browser()
        .post(format!("{base}/login"))
        .form(&[("user", user), ("password", password)])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "the form signs in and redirects");
    session_cookie(res.headers()).expect("a session cookie")
}

/// The status of the profile page with `cookie` (200 signed in, a redirect to sign in if not).
fn profile(base: &str, cookie: &str) -> u16 {
    let res = browser()
        .get(format!("{base}/profile"))
        .header(COOKIE, format!("davgate_session={cookie}"))
        .send()
        .unwrap();
    res.status().as_u16()
}

/// Signs out through the web form on `base` (the profile page's CSRF token, then `/logout`).
fn sign_out(base: &str, cookie: &str) {
    let client = browser();
    let page = client
        .get(format!("{base}/profile"))
        .header(COOKIE, format!("davgate_session={cookie}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let marker = "<input type=\"hidden\" name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let res = client
        .post(format!("{base}/logout"))
        .header(COOKIE, format!("davgate_session={cookie}"))
        .form(&[("csrf", csrf)])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "signed out");
}

#[test]
fn a_web_session_still_works_after_the_server_restarts() {
    let mut server = TestServer::start();
    let password = first_admin_password(&server);
    let cookie = sign_in(&server.base, "admin", &password);
    assert_eq!(profile(&server.base, &cookie), 200);
    assert!(server.terminate().is_some_and(|s| s.success()), "a clean stop");
    let data = std::mem::replace(&mut server.data, tempfile::tempdir().unwrap());
    drop(server);
    let restarted = TestServer::start_with(data, &[]);
    assert_eq!(profile(&restarted.base, &cookie), 200, "still signed in after the restart");
    sign_out(&restarted.base, &cookie);
    assert_ne!(profile(&restarted.base, &cookie), 200, "signed out");
}

/// Two servers on one fresh PostgreSQL database, each with its own data directory, and the
/// first admin's password; None when PostgreSQL tests are skipped.
fn two_nodes() -> Option<(TestDatabase, TestServer, TestServer, String)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create())?;
    let url = db.url().to_string();
    let one = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &url]);
    let password = first_admin_password(&one);
    let two = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &url]);
    Some((db, one, two, password))
}

#[test]
fn a_cookie_made_on_one_node_works_on_the_other_and_a_sign_out_there_holds_on_both() {
    let Some((_db, one, two, password)) = two_nodes() else { return };
    let cookie = sign_in(&one.base, "admin", &password);
    assert_eq!(profile(&two.base, &cookie), 200, "node 2 knows node 1's session");
    sign_out(&two.base, &cookie);
    assert_ne!(profile(&one.base, &cookie), 200, "signed out on node 2: refused on node 1");
    assert_ne!(profile(&two.base, &cookie), 200);
}

#[test]
fn ten_wrong_passwords_spread_over_two_nodes_lock_the_user_out_on_both() {
    let Some((db, one, two, _)) = two_nodes() else { return };
    let url = db.url().to_string();
    let elsewhere = tempfile::tempdir().unwrap();
    ok(&cli(elsewhere.path(), &["--store", &url, "user", "add", "alice"]));
    let password = one.app_password("alice", "laptop");
    // Sent at once (each failure's answer is held back up to 25 s, so one after the other would
    // take over a minute), half to each node, each with another wrong secret. The eleventh is
    // the one attempt a minute a WebDAV lockout still verifies (tests/it/throttle.rs).
    let guesses: Vec<_> = (0..11)
        .map(|i| {
            let base = if i % 2 == 0 { one.base.clone() } else { two.base.clone() };
            let wrong = with_wrong_secret_n(&password, i);
            std::thread::spawn(move || {
                let res = browser()
                    .request(
                        reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                        format!("{base}/dav/"),
                    )
                    .basic_auth("alice", Some(wrong))
                    .header("Depth", "0")
                    .send()
                    .unwrap();
                res.status().as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(statuses, vec![401; 11], "every guess was verified and refused");
    for node in [&one, &two] {
        let res = node
            .as_user("alice", &with_wrong_secret_n(&password, 99), "PROPFIND", "/dav/")
            .header("Depth", "0")
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 429, "locked out on {}", node.base);
        assert!(res.headers().contains_key("retry-after"));
        // Even the right password waits: the lockout holds for every uncached attempt.
        assert_eq!(node.probe("alice", &password), 429);
    }
}
