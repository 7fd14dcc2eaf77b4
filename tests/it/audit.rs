//! The audit log as its readers see it: each change to an account appears once, in order, with
//! who did it, from which address and with which User-Agent; nothing edits or removes an event;
//! no secret is ever in it; a cached WebDAV request writes nothing; the retention prunes on the
//! server's clock. Against the real binary (or the server in-process, for the clock).

use crate::util::*;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use std::time::Duration;

const API: &str = "/api/v1";

/// A signed-in web session whose requests all carry one User-Agent.
struct Session<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
    agent: String,
}

impl<'a> Session<'a> {
    fn open(server: &'a TestServer, user: &str, password: &str, agent: &str) -> Self {
        let body = json!({ "user": user, "password": password });
        let res = server
            .request("POST", &format!("{API}/session"))
            .header("User-Agent", agent)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "sign-in of {user}");
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        Session { server, cookie, csrf, agent: agent.to_string() }
    }

    fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.server
            .request(method, &format!("{API}{path}"))
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
            .header("User-Agent", &self.agent)
    }

    /// Sends and answers (status, JSON or null).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let res = request.send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn expect(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, answer) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    /// Every event the page at `path` and the ones after it hold, newest first.
    fn all_events(&self, path: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = match before {
                Some(b) => format!("{path}{sep}limit=7&before={b}"),
                None => format!("{path}{sep}limit=7"),
            };
            let answer = self.expect("GET", &page, None, 200);
            events.extend(answer["events"].as_array().unwrap().iter().cloned());
            match answer["next_before"].as_u64() {
                Some(b) => before = Some(b),
                None => return events,
            }
        }
    }
}

/// The kinds of `events`, oldest first.
fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().rev().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

/// The one event of `kind` (panics if there is none or more than one).
fn only<'e>(events: &'e [Value], kind: &str) -> &'e Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}: {events:#?}");
    found[0]
}

fn admin_session(server: &TestServer) -> Session<'_> {
    Session::open(server, "admin", &first_admin_password(server), "AdminBrowser/1.0")
}

#[test]
fn each_change_appears_once_in_order_with_its_actor_address_and_user_agent() {
    let server = TestServer::start();
    let admin = admin_session(&server);
    let created = admin.expect("POST", "/users", Some(json!({ "name": "alice" })), 201);
    let alice_primary = created["password"].as_str().unwrap().to_string();
    let wrong = server
        .request("POST", &format!("{API}/session"))
        .header("User-Agent", "Guesser/0.1")
        .header("Content-Type", "application/json")
        .body(json!({ "user": "alice", "password": "not-her-password" }).to_string())
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let alice = Session::open(&server, "alice", &alice_primary, "AliceBrowser/2.0");
    let made = alice.expect("POST", "/me/app-passwords", Some(json!({ "name": "Laptop" })), 201);
    let (id, password) = (made["id"].as_str().unwrap(), made["password"].as_str().unwrap());
    let used = server
        .as_user("alice", password, "PROPFIND", "/dav/")
        .header("Depth", "0")
        .header("User-Agent", "Microsoft-WebDAV-MiniRedir/10.0.19045")
        .send()
        .unwrap();
    assert_eq!(used.status(), 207);
    alice.expect("PATCH", &format!("/me/app-passwords/{id}"), Some(json!({ "name": "Desk" })), 200);
    admin.expect("DELETE", &format!("/users/alice/app-passwords/{id}"), None, 204);

    let events = admin.all_events("/audit?user=alice");
    assert_eq!(
        kinds(&events),
        [
            "account_created",
            "sign_in",
            "sign_in",
            "app_password_created",
            "app_password_first_used",
            "app_password_renamed",
            "app_password_revoked",
        ],
        "{events:#?}"
    );
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {ids:?}");
    for event in &events {
        assert_eq!(event["subject"], "alice", "{event}");
        assert_eq!(event["address"], "127.0.0.1", "{event}");
    }
    let account = only(&events, "account_created");
    assert_eq!((&account["actor_kind"], &account["actor"]), (&json!("admin"), &json!("admin")));
    assert_eq!(account["user_agent"], "AdminBrowser/1.0");
    let sign_ins: Vec<&Value> = events.iter().filter(|e| e["kind"] == "sign_in").collect();
    let (signed_in, failed) = (sign_ins[0], sign_ins[1]);
    assert_eq!(
        (&signed_in["outcome"], &signed_in["user_agent"]),
        (&json!("success"), &json!("AliceBrowser/2.0"))
    );
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["detail"]["reason"], "bad_credentials");
    assert_eq!(failed["user_agent"], "Guesser/0.1");
    let created = only(&events, "app_password_created");
    assert_eq!((&created["actor_kind"], &created["actor"]), (&json!("user"), &json!("alice")));
    assert_eq!(created["app_password"], id);
    let first = only(&events, "app_password_first_used");
    assert_eq!(first["user_agent"], "Microsoft-WebDAV-MiniRedir/10.0.19045");
    assert_eq!(first["app_password"], id);
    let renamed = only(&events, "app_password_renamed");
    assert_eq!(renamed["actor_kind"], "user");
    let revoked = only(&events, "app_password_revoked");
    assert_eq!((&revoked["actor_kind"], &revoked["actor"]), (&json!("admin"), &json!("admin")));
    assert_eq!(revoked["user_agent"], "AdminBrowser/1.0");

    // Alice reads the same history as her own activity; the CLI shows it too.
    assert_eq!(alice.all_events("/me/activity"), events);
    let cli: Vec<Value> =
        serde_json::from_str(&ok(&server.cli(&["audit", "--user", "alice", "--json"]))).unwrap();
    assert_eq!(cli, events);
    // She may not read anyone else's.
    alice.expect("GET", "/audit", None, 403);
}

#[test]
fn no_route_or_command_edits_or_deletes_an_event() {
    let server = TestServer::start();
    let admin = admin_session(&server);
    admin.expect("POST", "/users", Some(json!({ "name": "bob" })), 201);
    let before = admin.all_events("/audit");
    assert!(!before.is_empty());
    let first = before[0]["id"].as_u64().unwrap();
    for path in ["/audit", "/me/activity"] {
        for method in ["DELETE", "PUT", "PATCH", "POST"] {
            let (status, answer) = admin.call(method, path, Some(json!({ "kind": "nothing" })));
            assert_eq!(status, 405, "{method} {path}: {answer}");
        }
    }
    for method in ["GET", "DELETE", "PUT", "PATCH"] {
        let (status, _) = admin.call(method, &format!("/audit/{first}"), Some(json!({})));
        assert_eq!(status, 404, "{method} /audit/{first}");
    }
    // The CLI reads only: it has no command that takes an event away.
    let help = ok(&server.cli(&["audit", "--help"]));
    assert!(!help.contains("--delete") && !help.contains("--edit"), "{help}");
    let after = admin.all_events("/audit");
    assert_eq!(after, before, "the refused requests changed nothing");
}

#[test]
fn the_audit_log_never_holds_a_secret() {
    let server = TestServer::start();
    let admin_password = first_admin_password(&server);
    let admin = admin_session(&server);
    let mut secrets = vec![admin_password.clone()];
    let created = admin.expect("POST", "/users", Some(json!({ "name": "carol" })), 201);
    secrets.push(created["password"].as_str().unwrap().to_string());
    let reset = admin.expect("POST", "/users/carol/password", None, 200);
    let carol_primary = reset["password"].as_str().unwrap().to_string();
    secrets.push(carol_primary.clone());
    let carol = Session::open(&server, "carol", &carol_primary, "Carol/1");
    for name in ["Phone", "Laptop", "Backup script"] {
        let made = carol.expect("POST", "/me/app-passwords", Some(json!({ "name": name })), 201);
        let password = made["password"].as_str().unwrap().to_string();
        assert_eq!(server.probe("carol", &password), 207);
        secrets.push(password);
    }
    let (_, from_cli) = create_app_password(server.dir(), "carol", "From the CLI");
    assert_eq!(server.probe("carol", &from_cli), 207);
    secrets.push(from_cli);
    admin.expect("PUT", "/settings/login_max_failures", Some(json!({ "value": "7" })), 200);
    // A password typed where the name goes is no account: its failure names nobody.
    let typo = &secrets[2];
    let res = server
        .request("POST", &format!("{API}/session"))
        .header("Content-Type", "application/json")
        .body(json!({ "user": typo, "password": typo }).to_string())
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);

    let events = admin.all_events("/audit");
    let text = serde_json::to_string(&events).unwrap();
    let cli = ok(&server.cli(&["audit", "--json", "--limit", "200"]));
    let table = ok(&server.cli(&["audit", "--limit", "200"]));
    assert!(events.len() >= 10, "{events:#?}");
    for secret in &secrets {
        // The whole password, and (an app password's) its secret groups after the id.
        let tail = secret.strip_prefix("dgp-").and_then(|s| s.get(12..));
        for shown in [&text, &cli, &table] {
            assert!(!shown.contains(secret.as_str()), "a password in the log: {shown}");
            assert!(tail.is_none_or(|t| !shown.contains(t)), "a secret in the log: {shown}");
        }
    }
    let setting = only(&events, "setting_changed");
    assert_eq!(
        setting["detail"],
        json!({ "setting": "login_max_failures", "old": "10", "new": "7" })
    );
}

#[test]
fn a_cached_webdav_request_writes_no_event() {
    let server = TestServer::start();
    server.add_user("dave");
    let password = server.app_password("dave", "Sync");
    assert_eq!(server.probe("dave", &password), 207, "the first use, verified");
    let admin = admin_session(&server);
    let count = |admin: &Session| admin.all_events("/audit").len();
    let before = count(&admin);
    for _ in 0..200 {
        assert_eq!(server.probe("dave", &password), 207);
    }
    assert_eq!(count(&admin), before, "200 cached requests wrote nothing");
}

#[test]
fn retention_prunes_what_is_older_than_audit_retention_on_the_servers_clock() {
    let data = tempfile::tempdir().unwrap();
    let clock = davgate::ManualClock::new();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut options = davgate::ServerOptions::new(data.path());
    options.listen = "127.0.0.1:0".parse().unwrap();
    options.clock = clock.clock();
    let store = store_for(data.path());
    options.store = Some(davgate::StoreLocation::parse(store.as_deref(), data.path()).unwrap());
    let server = runtime.block_on(davgate::Server::start(options)).expect("the server starts");
    let admin = server.admin().clone();
    let name = |n: &str| davgate::UserName::parse(n).unwrap();
    let events = |user: &str| {
        let query =
            davgate::AuditQuery { subject: Some(name(user)), ..davgate::AuditQuery::default() };
        runtime.block_on(admin.audit_events(query)).unwrap()
    };
    runtime
        .block_on(admin.add_user(&name("old"), davgate::Role::User, davgate::NewPassword::Generate))
        .unwrap();
    clock.advance(Duration::from_secs(200 * 86_400));
    runtime
        .block_on(admin.add_user(&name("new"), davgate::Role::User, davgate::NewPassword::Generate))
        .unwrap();
    assert_eq!(runtime.block_on(admin.prune_audit()).unwrap(), 0, "nothing is a year old yet");
    clock.advance(Duration::from_secs(170 * 86_400));
    // The first admin's creation and old's, 370 days ago, go.
    assert_eq!(runtime.block_on(admin.prune_audit()).unwrap(), 2, "370 days on");
    assert!(events("old").is_empty());
    assert_eq!(events("new").len(), 1, "the 170-day-old event stays");
    runtime.block_on(admin.set_setting(davgate::SettingKey::AuditRetention, "30d")).unwrap();
    runtime.block_on(admin.prune_audit()).unwrap();
    assert!(events("new").is_empty(), "a shorter retention prunes at once");
    drop(server);
}

#[test]
fn the_profile_and_the_admin_user_page_show_recent_activity_in_the_visitors_language() {
    let server = TestServer::start();
    let admin = admin_session(&server);
    let created = admin.expect("POST", "/users", Some(json!({ "name": "erin" })), 201);
    let erin = Session::open(&server, "erin", created["password"].as_str().unwrap(), "Erin/1");
    let mut ids = Vec::new();
    for i in 0..22 {
        let name = format!("Device {i}");
        let made = erin.expect("POST", "/me/app-passwords", Some(json!({ "name": name })), 201);
        ids.push(made["id"].as_str().unwrap().to_string());
    }
    let (first, last) = (&ids[0], &ids[21]);
    let page = |session: &Session, path: &str, lang: &str| {
        let res = server
            .request("GET", path)
            .header("Cookie", format!("davgate_session={}; davgate_lang={lang}", session.cookie))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.text().unwrap()
    };
    let profile = page(&erin, "/profile", "en");
    assert!(profile.contains("Recent activity"), "{profile}");
    assert!(profile.contains(&format!("App password created · {last}")), "newest: {profile}");
    assert!(!profile.contains(&format!("created · {first}")), "an older one is on the next page");
    assert_eq!(profile.matches("<tr class=\"event\">").count(), 20, "one page");
    let older = profile
        .split("href=\"")
        .find_map(|s| s.strip_prefix("/profile?before="))
        .and_then(|s| s.split('#').next())
        .expect("a link to older activity")
        .to_string();
    let second = page(&erin, &format!("/profile?before={older}"), "fr");
    assert!(second.contains("Activité récente"), "{second}");
    assert!(second.contains("Compte créé"), "the oldest event: {second}");
    assert!(second.contains(&format!("Mot de passe d’application créé · {first}")), "{second}");
    assert!(second.contains("Connexion au site"), "{second}");
    assert_eq!(second.matches("<tr class=\"event\">").count(), 4);

    let on_admin_page = page(&admin, "/admin/users/erin", "en");
    assert!(on_admin_page.contains(&format!("App password created · {last}")), "{on_admin_page}");
    assert!(on_admin_page.contains("Recent activity"));
}
