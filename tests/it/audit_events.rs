//! The audit events of the throttle, of single sign-on administration and of the CLI, as an
//! admin reads them (`davgate audit --json`): each appears once, in order, with who did it and
//! from which address and User-Agent; the log holds no password; no command edits or deletes
//! an event; and a load of cached WebDAV requests writes none. Against the real binary.

use crate::util::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Every event (at most 200), oldest first, optionally about `user` only.
fn events(server: &TestServer, user: Option<&str>) -> Vec<Value> {
    let mut args = vec!["audit", "--json", "--limit", "200"];
    if let Some(user) = user {
        args.extend(["--user", user]);
    }
    let out = ok(&server.cli(&args));
    let mut events: Vec<Value> = serde_json::from_str(&out).expect("audit --json is JSON");
    events.reverse();
    events
}

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["kind"].as_str().unwrap_or("?").to_string()).collect()
}

/// A web sign-in attempt with `agent`: its status.
fn web_sign_in(server: &TestServer, user: &str, password: &str, agent: &str) -> u16 {
    let body = json!({ "user": user, "password": password });
    let res = server
        .request("POST", "/api/v1/session")
        .header("User-Agent", agent)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    res.status().as_u16()
}

fn propfind(server: &TestServer, user: &str, password: &str, agent: &str) -> u16 {
    let res = server
        .as_user(user, password, "PROPFIND", "/dav/")
        .header("Depth", "0")
        .header("User-Agent", agent)
        .send()
        .unwrap();
    res.status().as_u16()
}

#[test]
fn a_lockout_is_recorded_once_per_surface_with_the_guessers_address_and_user_agent() {
    let server = TestServer::start();
    ok(&server.cli(&["settings", "set", "login_max_failures", "3"]));
    let primary = "bobs-primary-password-1";
    add_user_with_password(&server, "bob", primary);
    let app = server.app_password("bob", "Laptop");
    for _ in 0..3 {
        assert_eq!(web_sign_in(&server, "bob", "wrong-guess", "Guesser/0.1"), 401);
    }
    assert_eq!(web_sign_in(&server, "bob", "wrong-guess", "Guesser/0.1"), 429, "locked out");
    assert_eq!(web_sign_in(&server, "bob", primary, "Guesser/0.1"), 429, "even the right one");
    let wrong: Vec<String> = (0..5).map(|n| with_wrong_secret_n(&app, n)).collect();
    for guess in &wrong[..3] {
        assert_eq!(propfind(&server, "bob", guess, "curl/8.5.0"), 401);
    }
    // The one attempt a minute WebDAV lets through a lockout fails too: no second event.
    assert_eq!(propfind(&server, "bob", &wrong[3], "curl/8.5.0"), 401);
    assert_eq!(propfind(&server, "bob", &wrong[4], "curl/8.5.0"), 429);

    let bobs = events(&server, Some("bob"));
    let seen: Vec<(String, String)> = bobs
        .iter()
        .filter(|e| e["kind"] == "sign_in" || e["kind"] == "lockout")
        .map(|e| {
            let reason = e["detail"]["reason"].as_str().or(e["detail"]["surface"].as_str());
            (e["kind"].as_str().unwrap().to_string(), reason.unwrap_or("-").to_string())
        })
        .collect();
    let want = [
        ("sign_in", "bad_credentials"),
        ("sign_in", "bad_credentials"),
        ("sign_in", "bad_credentials"),
        ("lockout", "web"),
        ("sign_in", "throttled"),
        ("sign_in", "throttled"),
        ("lockout", "dav"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(k, r)| (k.to_string(), r.to_string())).collect();
    assert_eq!(seen, want, "{bobs:#?}");
    for lockout in bobs.iter().filter(|e| e["kind"] == "lockout") {
        assert_eq!(lockout["actor_kind"], "system");
        assert_eq!(lockout["outcome"], "failure");
        assert_eq!(lockout["address"], "127.0.0.1");
        assert_eq!(lockout["detail"]["failures"], 3);
        let agent =
            if lockout["detail"]["surface"] == "web" { "Guesser/0.1" } else { "curl/8.5.0" };
        assert_eq!(lockout["user_agent"], agent);
    }
    let all = serde_json::to_string(&events(&server, None)).unwrap();
    let secret = app.rsplit('_').next().unwrap_or(&app);
    let guesses = wrong.iter().map(String::as_str);
    for never in [primary, app.as_str(), secret, "wrong-guess"].into_iter().chain(guesses) {
        assert!(!all.contains(never), "the audit log holds '{never}'");
    }
}

#[test]
fn single_sign_on_administration_is_recorded_without_the_client_secret() {
    let server = TestServer::start();
    let secret = "the-oidc-client-secret-42";
    let file = server.dir().join("oidc-secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.to_str().unwrap();
    let issuer = "http://127.0.0.2:9";
    let add = ["oidc", "add", "corp", "--issuer", issuer, "--client-id", "x"];
    ok(&server.cli(&[&add[..], &["--client-secret-file", file]].concat()));
    ok(&server.cli(&["user", "add", "carol", "--sso", "corp", "--subject", "sub-carol"]));
    server.add_user("dave");
    ok(&server.cli(&["user", "link", "dave", "corp", "--subject", "sub-dave"]));
    ok(&server.cli(&["user", "login-method", "dave", "sso"]));
    ok(&server.cli(&["user", "unlink", "dave"]));
    ok(&server.cli(&["oidc", "remove", "corp"]));

    let all = events(&server, None);
    let sso: Vec<&Value> = all
        .iter()
        .filter(|e| {
            let k = e["kind"].as_str().unwrap_or("");
            k.starts_with("provider_")
                || k.starts_with("identity_")
                || k == "login_method_changed"
                || (k == "account_created" && e["subject"] == "carol")
        })
        .collect();
    let got: Vec<(&str, &str)> = sso
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["subject"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        got,
        [
            ("provider_added", "-"),
            ("account_created", "carol"),
            ("identity_linked", "dave"),
            ("login_method_changed", "dave"),
            ("identity_unlinked", "dave"),
            ("provider_removed", "-"),
        ],
        "{all:#?}"
    );
    for e in &sso {
        assert_eq!(e["actor_kind"], "admin", "the CLI is an admin: {e}");
    }
    assert_eq!(sso[0]["detail"]["provider"], "corp");
    assert_eq!(sso[1]["detail"]["login"], "sso");
    assert_eq!(sso[3]["detail"]["old"], "both", "linking made a password account 'both'");
    assert_eq!(sso[3]["detail"]["new"], "sso");
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(secret), "the client secret is in the audit log");
}

#[test]
fn no_command_edits_or_deletes_an_audit_event() {
    let server = TestServer::start();
    server.add_user("erin");
    let before = events(&server, None);
    assert!(!before.is_empty());
    let id = before[0]["id"].to_string();
    for args in [
        vec!["audit", "delete", id.as_str()],
        vec!["audit", "remove", id.as_str()],
        vec!["audit", "edit", id.as_str()],
        vec!["audit", "prune"],
        vec!["audit", "clear"],
    ] {
        let out = server.cli(&args);
        assert!(!out.status.success(), "davgate {args:?} was accepted");
    }
    let help = ok(&server.cli(&["audit", "--help"]));
    for word in ["delete", "remove", "edit", "clear"] {
        assert!(!help.to_lowercase().contains(word), "`audit --help` offers '{word}': {help}");
    }
    assert_eq!(events(&server, None), before, "nothing changed");
}

#[test]
fn ten_seconds_of_cached_webdav_requests_write_no_audit_event() {
    let server = TestServer::start();
    server.add_user("frank");
    let password = server.app_password("frank", "Load");
    let put = server.as_user("frank", &password, "PUT", "/dav/4k.bin").body(vec![7u8; 4096]);
    assert!(put.send().unwrap().status().is_success());
    assert_eq!(propfind(&server, "frank", &password, "Load/1.0"), 207, "verified and cached");
    let before = events(&server, None);
    let until = Instant::now() + Duration::from_secs(10);
    let requests: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let res = server.as_user("frank", &password, "GET", "/dav/4k.bin");
                        let res = res.header("User-Agent", "Load/1.0").send().unwrap();
                        assert_eq!(res.status(), 200);
                        assert_eq!(res.bytes().unwrap().len(), 4096);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert!(requests > 100, "only {requests} requests in 10 s");
    let after = events(&server, None);
    assert_eq!(kinds(&after), kinds(&before), "{requests} cached GETs wrote events");
    assert_eq!(after.len(), before.len());
}

/// The events about `user` on the in-process server's store (through its admin socket).
fn events_in(server: &InProcess, user: &str) -> Vec<Value> {
    let args = ["audit", "--json", "--limit", "200", "--user", user];
    let mut events: Vec<Value> =
        serde_json::from_str(&ok(&cli(server.data.path(), &args))).unwrap();
    events.reverse();
    events
}

#[test]
fn an_app_password_that_expires_is_recorded_once_by_davgate_itself() {
    let server = InProcess::start(InProcess::same_store);
    let data = server.data.path();
    ok(&cli(data, &["settings", "set", "app_credentials_ttl", "1h"]));
    ok(&cli(data, &["user", "add", "gina"]));
    let (id, _) = create_app_password(data, "gina", "Tablet");
    let (kept, _) = create_app_password(data, "gina", "Revoked first");
    ok(&cli(data, &["app-password", "revoke", "gina", &kept]));
    server.clock.advance(Duration::from_secs(2 * 3600));
    let until = Instant::now() + Duration::from_secs(30);
    let expired = loop {
        let events = events_in(&server, "gina");
        let expired: Vec<Value> =
            events.into_iter().filter(|e| e["kind"] == "app_password_expired").collect();
        if !expired.is_empty() || Instant::now() > until {
            break expired;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(expired.len(), 1, "{expired:#?}");
    assert_eq!(expired[0]["app_password"], id.as_str());
    assert_eq!(expired[0]["actor_kind"], "system");
    // Later sweeps tell nothing more.
    std::thread::sleep(Duration::from_secs(11));
    server.clock.advance(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(11));
    let again = events_in(&server, "gina");
    assert_eq!(kinds(&again).iter().filter(|k| *k == "app_password_expired").count(), 1);
}
