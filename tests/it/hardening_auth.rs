//! Issue 9, the sign-in findings of the red team (10–14, 20): ending access really ends it, one
//! address cannot monopolise argon2 or erase a lockout, one user cannot sign others out, the
//! second factor's five tries are five, and names and logs show what was typed.

use crate::util::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;

const API: &str = "/api/v1";

/// A blocking client whose connections leave from `local` (127.0.0.1, 127.0.0.2...).
fn client_from(local: &str) -> Client {
    let local: IpAddr = local.parse().unwrap();
    Client::builder().local_address(local).timeout(Duration::from_secs(60)).build().unwrap()
}

/// POST /api/v1/session from `client`: (status, session cookie, body).
fn sign_in(
    client: &Client,
    server: &TestServer,
    user: &str,
    password: &str,
) -> (u16, Option<String>, Value) {
    let res = client
        .post(format!("{}{API}/session", server.base))
        .header("Content-Type", "application/json")
        .body(json!({ "user": user, "password": password }).to_string())
        .send()
        .unwrap();
    let status = res.status().as_u16();
    let cookie = session_cookie(res.headers());
    let body = res.text().unwrap();
    (status, cookie, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// GET /api/v1/session with a session cookie: 200 while the session lives.
fn session_status(server: &TestServer, cookie: &str) -> u16 {
    let res = server
        .request("GET", &format!("{API}/session"))
        .header("Cookie", format!("davgate_session={cookie}"))
        .send();
    status(res)
}

/// A session's cookie and CSRF token, after signing in from 127.0.0.1.
fn signed_in(server: &TestServer, user: &str, password: &str) -> (String, String) {
    let (code, cookie, body) = sign_in(&client_from("127.0.0.1"), server, user, password);
    assert_eq!(code, 200, "{body}");
    (cookie.expect("a session cookie"), body["csrf_token"].as_str().unwrap().to_string())
}

/// A state-changing API call in a session.
fn call(
    server: &TestServer,
    session: &(String, String),
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let res = server
        .request(method, &format!("{API}{path}"))
        .header("Cookie", format!("davgate_session={}", session.0))
        .header("X-CSRF-Token", &session.1)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.text().unwrap()).unwrap_or(Value::Null))
}

/// The `n`th made-up app password: well formed, valid checksum, an id nobody has. Each costs
/// the server one argon2 verification, as the red team's forged tokens did.
fn forged_token(n: usize) -> String {
    let id: String =
        (0..10).map(|i| TOKEN_ALPHABET[((n >> (5 * (i % 6))) % 32) ^ i] as char).collect();
    with_checksum(&format!("{id}{}", "q".repeat(28)))
}

/// PROPFIND /dav/ from `client`: the status a mounting client sees.
fn mount(
    client: &Client,
    server: &TestServer,
    user: &str,
    password: &str,
) -> reqwest::blocking::Response {
    client
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("{}/dav/", server.base))
        .header("Depth", "0")
        .basic_auth(user, Some(password))
        .send()
        .unwrap()
}

fn argon2_verifications(server: &TestServer) -> u64 {
    let status: Value = serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
    status["argon2_verifications"].as_u64().unwrap()
}

#[test]
fn a_password_changed_through_the_cli_ends_the_users_web_sessions() {
    let server = TestServer::start();
    add_user_with_password(&server, "bob", "bobpassword12");
    add_user_with_password(&server, "carol", "carolpassword1");
    let bob = signed_in(&server, "bob", "bobpassword12");
    let carol = signed_in(&server, "carol", "carolpassword1");
    assert_eq!(session_status(&server, &bob.0), 200);

    // The server runs, so the CLI goes through the admin socket.
    ok(&server.cli_with_stdin(&["user", "passwd", "bob", "--password-stdin"], "bobpassword99\n"));
    assert_eq!(session_status(&server, &bob.0), 401, "the old session is over");
    let (code, _) = call(&server, &bob, "POST", "/me/app-passwords", json!({ "name": "x" }));
    assert_eq!(code, 401, "and can no longer mint app passwords");
    assert_eq!(session_status(&server, &carol.0), 200, "other users keep theirs");
    // A generated password (no stdin) ends them too; the new password opens a new session.
    let bob = signed_in(&server, "bob", "bobpassword99");
    ok(&server.cli(&["user", "passwd", "bob"]));
    assert_eq!(session_status(&server, &bob.0), 401);
}

#[test]
fn a_flood_of_user_names_from_one_address_gets_429_while_another_address_signs_in() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alicepassword1");
    let alice_app = server.app_password("alice", "laptop");
    let before = argon2_verifications(&server);
    let flood = client_from("127.0.0.1");
    let started = std::time::Instant::now();
    // 96 made-up names with forged tokens, 12 connections at a time.
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..12)
            .map(|w| {
                let (flood, server) = (&flood, &server);
                scope.spawn(move || {
                    (0..8)
                        .map(|i| {
                            let n = w * 8 + i;
                            let res =
                                mount(flood, server, &format!("sprayed{n}"), &forged_token(n));
                            let retry = res.headers().get("retry-after");
                            (res.status().as_u16(), retry.map(|v| v.to_str().unwrap().to_string()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs();
    let refused: Vec<_> = answers.iter().filter(|(code, _)| *code == 429).collect();
    assert!(answers.iter().all(|(code, _)| *code == 401 || *code == 429), "{answers:?}");
    assert!(refused.len() >= 96 - 30 - elapsed as usize - 2, "{} refused", refused.len());
    assert!(refused.iter().all(|(_, retry)| retry.is_some()), "429 says when to retry");
    let spent = argon2_verifications(&server) - before;
    assert!(spent <= 30 + elapsed + 2, "{spent} argon2 verifications in {elapsed} s");
    assert!(server.log().contains("too many sign-in attempts from this network"));

    // The same address is out of budget on the web sign-in too (one budget for both)...
    let web: Vec<u16> =
        (0..4).map(|n| sign_in(&flood, &server, &format!("web{n}"), "guess").0).collect();
    assert!(web.contains(&429), "{web:?}");
    let logged =
        server.log().lines().any(|l| l.contains("Login throttled: 'web") && l.contains(" web: "));
    assert!(logged, "the web refusal is logged");
    // ...while another address signs in and mounts as if nothing happened.
    let office = client_from("127.0.0.2");
    assert_eq!(sign_in(&office, &server, "alice", "alicepassword1").0, 200);
    assert_eq!(mount(&office, &server, "alice", &alice_app).status().as_u16(), 207);
}

#[test]
fn twenty_one_sign_ins_of_alice_drop_her_oldest_session_and_never_bobs() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alicepassword1");
    add_user_with_password(&server, "bob", "bobpassword12");
    let bob = signed_in(&server, "bob", "bobpassword12");
    let alice: Vec<(String, String)> =
        (0..21).map(|_| signed_in(&server, "alice", "alicepassword1")).collect();
    assert_eq!(session_status(&server, &alice[0].0), 401, "alice's oldest session went");
    for session in &alice[1..] {
        assert_eq!(session_status(&server, &session.0), 200);
    }
    assert_eq!(session_status(&server, &bob.0), 200, "bob is still signed in");
}

#[test]
fn racing_second_factor_codes_on_one_half_open_session_check_at_most_five() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alicepassword1");
    // The per-user throttle would also bound this race: take it out of the picture.
    ok(&server.cli(&["settings", "set", "login_trusted_networks", "127.0.0.0/8"]));
    let alice = signed_in(&server, "alice", "alicepassword1");
    let (code, enrolment) = call(&server, &alice, "POST", "/me/totp", json!({}));
    assert_eq!(code, 200, "{enrolment}");
    let key = enrolment["manual_key"].as_str().unwrap().replace(' ', "");
    let secret = totp_rs::Secret::try_from_base32(&key).unwrap().as_bytes().to_vec();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code_at = |t: u64| davgate::internal::totp_code_at(&secret, t).unwrap();
    let (code, _) =
        call(&server, &alice, "POST", "/me/totp/confirm", json!({ "code": code_at(now) }));
    assert_eq!(code, 204);
    let valid: Vec<String> = (0..6).map(|i| code_at(now + 30 * i - 60)).collect();
    let wrong = (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap();

    let (code, cookie, body) =
        sign_in(&client_from("127.0.0.1"), &server, "alice", "alicepassword1");
    assert_eq!((code, body["second_factor_required"].as_bool()), (200, Some(true)), "{body}");
    let half_open = (cookie.unwrap(), body["csrf_token"].as_str().unwrap().to_string());
    let codes: Vec<u16> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..40)
            .map(|_| {
                let (server, half_open, wrong) = (&server, &half_open, &wrong);
                scope.spawn(move || {
                    call(server, half_open, "POST", "/session/totp", json!({ "code": wrong })).0
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(codes.iter().all(|c| *c == 401), "{codes:?}");
    let checked = server.log().matches("wrong second-factor code").count();
    assert_eq!(checked, 5, "codes checked in one half-open session");
}

#[test]
fn invisible_formatting_characters_are_refused_in_names_with_a_message() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alicepassword1");
    let alice = signed_in(&server, "alice", "alicepassword1");
    let (code, body) = call(
        &server,
        &alice,
        "POST",
        "/me/app-passwords",
        json!({ "name": "Laptop\u{202e}gpj.exe" }),
    );
    assert_eq!(code, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("right-to-left") && message.contains("\\u{202e}"), "{message}");
    assert!(!message.contains('\u{202e}'), "the refused name is echoed escaped: {message:?}");
    let (code, _) =
        call(&server, &alice, "POST", "/me/app-passwords", json!({ "name": "a\u{200b}b" }));
    assert_eq!(code, 400, "zero-width space");
    let (code, _) =
        call(&server, &alice, "POST", "/me/app-passwords", json!({ "name": "Büro 日本" }));
    assert_eq!(code, 201, "other scripts are welcome");

    let line = refused(&server.cli(&["app-password", "create", "alice", "x\u{2066}y\u{2069}"]));
    assert!(line.contains("invisible formatting characters"), "{line}");
    let line = refused(&server.cli(&["user", "add", "ali\u{202e}ce"]));
    assert!(line.contains("not a valid user name") && line.contains("\\u{202e}"), "{line}");
    assert!(!line.contains('\u{202e}'), "{line:?}");
}

#[test]
fn an_admin_value_with_a_newline_never_forges_a_log_line() {
    let server = TestServer::start();
    let forged =
        "10m\nWARN davgate::auth: Login failed: 'root' (Remote IP: '203.0.113.66') wrong secret";
    // Through the admin socket: refused, on one line, showing the newline as \n.
    let line = refused(&server.cli(&["settings", "set", "lock_timeout", forged]));
    assert!(line.contains("10m\\nWARN"), "{line}");
    // Through the API as the admin: the same.
    let admin = signed_in(&server, "admin", &first_admin_password(&server));
    let (code, body) =
        call(&server, &admin, "PUT", "/settings/lock_timeout", json!({ "value": forged }));
    assert_eq!(code, 400, "{body}");
    let (code, _) = call(&server, &admin, "POST", "/users", json!({ "name": "eve\nWARN forged" }));
    assert_eq!(code, 400);
    // A valid change is logged, once, after it was made.
    let (code, _) =
        call(&server, &admin, "PUT", "/settings/lock_timeout", json!({ "value": "5m" }));
    assert_eq!(code, 200);
    let log = server.log();
    assert!(log.contains("web: admin settings set lock_timeout 5m"), "{log}");
    // Real lines start with a timestamp; a forged one would start with the injected text.
    assert!(!log.lines().any(|l| l.starts_with("WARN")), "{log}");
}

/// In process, so that the throttle's table can be made small enough to fill in a test (the
/// binary tracks 100,000 keys): the same server, the same loopback HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_survives_a_flood_of_made_up_user_names() {
    use davgate::NewPassword;
    use davgate::{AppPasswordName, Role, SettingKey, UserName};
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let mut options = davgate::ServerOptions::new(dir.path());
    options.listen = "127.0.0.1:0".parse().unwrap();
    options.gate.throttle_keys = 300;
    let server = davgate::Server::start(options).await.unwrap();
    let (admin, bob) = (server.admin(), UserName::parse("bob").unwrap());
    admin.add_user(&bob, Role::User, NewPassword::Generate).await.unwrap();
    admin.set_setting(SettingKey::LoginMaxFailures, "3").await.unwrap();
    let laptop = AppPasswordName::parse("laptop").unwrap();
    let created = admin
        .create_app_password(&bob, &davgate::AppPasswordSpec::named(laptop))
        .await
        .expect("created");
    let url = format!("http://{}/dav/", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let propfind = |user: String, password: String| {
        client
            .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &url)
            .header("Depth", "0")
            .basic_auth(user, Some(password))
            .send()
    };
    let wrong = with_wrong_secret(created.password.expose());
    let guess = || async { propfind("bob".into(), wrong.clone()).await.unwrap().status().as_u16() };
    // Three failures, the lockout's one attempt a minute, then 429.
    for _ in 0..4 {
        assert_eq!(guess().await, 401);
    }
    assert_eq!(guess().await, 429, "bob is locked out");

    // 1,000 made-up names, each failing once: three times the table's size.
    let flood = futures_util::stream::iter(0..1_000)
        .map(|n| propfind(format!("made-up-{n}"), "x".into()))
        .buffer_unordered(50)
        .collect::<Vec<_>>()
        .await;
    assert!(flood.iter().all(|r| r.as_ref().unwrap().status() == 401));
    assert_eq!(guess().await, 429, "the lockout was not evicted");
    let _ = stop.send(());
    serving.await.unwrap();
}
