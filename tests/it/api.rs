//! The JSON API under /api/v1/: every route, who may call it, what it answers, and what a
//! refusal looks like (status and `{"error", "message"}`), against a real server.

use crate::util::*;
use chrono::{DateTime, Utc};
use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const API: &str = "/api/v1";

/// Every route of src/web/api.rs as (method, path template), with the placeholders named as the
/// handler binds them. `the_openapi_document_describes_every_route` checks this list against
/// the source and the document.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/session"),
    ("POST", "/session/totp"),
    ("GET", "/session"),
    ("DELETE", "/session"),
    ("POST", "/me/password"),
    ("GET", "/me/app-passwords"),
    ("POST", "/me/app-passwords"),
    ("DELETE", "/me/app-passwords/{id}"),
    ("PATCH", "/me/app-passwords/{id}"),
    ("GET", "/users/{name}/app-passwords"),
    ("POST", "/users/{name}/app-passwords"),
    ("DELETE", "/users/{name}/app-passwords"),
    ("DELETE", "/users/{name}/app-passwords/{id}"),
    ("PATCH", "/users/{name}/app-passwords/{id}"),
    ("POST", "/me/totp"),
    ("POST", "/me/totp/confirm"),
    ("POST", "/me/totp/disable"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/{name}"),
    ("PATCH", "/users/{name}"),
    ("DELETE", "/users/{name}"),
    ("POST", "/users/{name}/password"),
    ("DELETE", "/users/{name}/totp"),
    ("PUT", "/me/email"),
    ("PUT", "/users/{name}/email"),
    ("GET", "/settings"),
    ("PUT", "/settings/{key}"),
    ("GET", "/auth/providers"),
    ("GET", "/oidc/providers"),
    ("GET", "/oidc/providers/{id}"),
    ("PUT", "/oidc/providers/{id}"),
    ("DELETE", "/oidc/providers/{id}"),
    ("PUT", "/users/{name}/login-method"),
    ("POST", "/users/{name}/identity"),
    ("DELETE", "/users/{name}/identity"),
    ("GET", "/me/activity"),
    ("GET", "/audit"),
    ("GET", "/app-passwords"),
    ("GET", "/app-passwords.csv"),
    ("POST", "/app-passwords/revoke"),
];

/// A well-formed app-password id that names nothing.
const NO_SUCH_ID: &str = "0000000000";

/// What the server answered.
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {:?}", self.status, self.text))
    }

    /// Asserts the status and returns the JSON body (null for an empty one).
    fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        if self.text.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts a JSON error with this status and code; returns its message.
    fn refused(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        let content_type = self.headers.get("content-type").map(|v| v.to_str().unwrap());
        assert_eq!(content_type, Some("application/json"), "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        let message = body["message"].as_str().expect("a message").to_string();
        assert!(!message.is_empty(), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "only error and message: {body}");
        message
    }
}

fn send(request: RequestBuilder) -> Answer {
    let res = request.send().expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().expect("body");
    Answer { status, headers, text }
}

/// A JSON body on a request.
fn with_json(request: RequestBuilder, body: &Value) -> RequestBuilder {
    request.header("Content-Type", "application/json").body(body.to_string())
}

/// A request to `API + path` with no session.
fn anonymous(server: &TestServer, method: &str, path: &str) -> RequestBuilder {
    server.request(method, &format!("{API}{path}"))
}

/// A signed-in (or half-open) web session: its cookie and CSRF token.
struct Web<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
}

impl<'a> Web<'a> {
    /// The session a login answer opened.
    fn from_login(server: &'a TestServer, answer: &Answer) -> Self {
        let cookie = session_cookie(&answer.headers).expect("a session cookie");
        let csrf = answer.json()["csrf_token"].as_str().expect("csrf_token").to_string();
        Web { server, cookie, csrf }
    }

    /// A request carrying the session cookie only.
    fn bare(&self, method: &str, path: &str) -> RequestBuilder {
        anonymous(self.server, method, path)
            .header("Cookie", format!("davgate_session={}", self.cookie))
    }

    /// A request with the cookie and the CSRF token, as the pages' script sends it.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let request = self.bare(method, path).header("X-CSRF-Token", &self.csrf);
        send(match body {
            Some(body) => with_json(request, &body),
            None => request,
        })
    }

    fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body))
    }

    fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None)
    }

    /// POST `{"name": name}` to an app-password collection: the 201 body.
    fn create_app_password(&self, path: &str, name: &str) -> Value {
        let created = self.post(path, json!({ "name": name })).expect(201);
        assert_eq!(created["name"], name);
        created
    }
}

/// The primary password the tests give `name`.
fn primary(name: &str) -> String {
    format!("{name}-primary-password-1")
}

/// POST /session.
fn try_login(server: &TestServer, user: &str, password: &str) -> Answer {
    let body = json!({ "user": user, "password": password });
    send(with_json(anonymous(server, "POST", "/session"), &body))
}

/// Signs in (no second factor expected).
fn login<'a>(server: &'a TestServer, user: &str, password: &str) -> Web<'a> {
    let answer = try_login(server, user, password);
    let body = answer.expect(200);
    assert_eq!(body["second_factor_required"], false, "{body}");
    Web::from_login(server, &answer)
}

/// Signs in as the first admin.
fn admin(server: &TestServer) -> Web<'_> {
    login(server, "admin", &first_admin_password(server))
}

/// Creates a user with a known primary password and signs them in.
fn new_user<'a>(server: &'a TestServer, name: &str) -> Web<'a> {
    add_user_with_password(server, name, &primary(name));
    login(server, name, &primary(name))
}

/// The ids in an `{"app_passwords": [...]}` listing.
fn ids(listing: &Value) -> Vec<String> {
    listing["app_passwords"]
        .as_array()
        .expect("app_passwords")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("an RFC 3339 time")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The TOTP secret behind an enrolment's manual key, as an authenticator app reads it.
fn totp_secret(enrolment: &Value) -> Vec<u8> {
    let key = enrolment["manual_key"].as_str().expect("manual_key").replace(' ', "");
    totp_rs::Secret::try_from_base32(&key).expect("base 32").as_bytes().to_vec()
}

/// The code an app shows at `unix_time`.
fn code_at(secret: &[u8], unix_time: u64) -> String {
    davgate::internal::totp_code_at(secret, unix_time).expect("a code")
}

/// A well-formed code that matches none of the steps the server accepts now.
fn wrong_code(secret: &[u8]) -> String {
    let now = unix_now();
    let valid: Vec<String> = (0..5).map(|i| code_at(secret, now + 30 * i - 60)).collect();
    (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap()
}

#[test]
fn without_a_session_every_route_but_login_is_401_signed_out() {
    let server = TestServer::start();
    let bogus_cookie = format!("davgate_session={}", "ab".repeat(32));
    for (method, template) in ROUTES {
        // Signing in, and the list of providers the sign-in page offers, need no session.
        if matches!((*method, *template), ("POST", "/session") | ("GET", "/auth/providers")) {
            continue;
        }
        let path = template
            .replace("{name}", "admin")
            .replace("{id}", NO_SUCH_ID)
            .replace("{key}", "login_max_failures");
        let body = json!({ "name": "x", "code": "123456", "disabled": true, "value": "3" });
        let what = format!("{method} {path}");
        let plain = send(with_json(anonymous(&server, method, &path), &body));
        plain.refused(401, "signed_out");
        let cookie = plain.headers.get("set-cookie").map(|v| v.to_str().unwrap().to_string());
        assert!(cookie.is_some_and(|c| c.contains("Max-Age=0")), "{what}: the cookie is cleared");
        // A made-up session token, with a made-up CSRF token, is no better.
        let forged = anonymous(&server, method, &path)
            .header("Cookie", &bogus_cookie)
            .header("X-CSRF-Token", "ab".repeat(32));
        send(with_json(forged, &body)).refused(401, "signed_out");
    }
    // The refusals changed nothing: the admin is still the only account, the settings as they were.
    let admin = admin(&server);
    let users = admin.get("/users").expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(admin.get("/settings").expect(200)["settings"]["login_max_failures"], "10");
}

#[test]
fn login_opens_a_session_and_logout_ends_it() {
    let server = TestServer::start();
    let answer = try_login(&server, "admin", &first_admin_password(&server));
    let body = answer.expect(200);
    assert_eq!(body["user"], "admin");
    assert_eq!(body["second_factor_required"], false);
    let csrf = body["csrf_token"].as_str().unwrap();
    assert!(csrf.len() == 64 && csrf.bytes().all(|b| b.is_ascii_hexdigit()), "{csrf}");
    let set_cookie = answer.headers["set-cookie"].to_str().unwrap();
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert_eq!(answer.headers["cache-control"], "no-store");
    let web = Web::from_login(&server, &answer);
    assert_ne!(web.cookie, web.csrf);

    let session = web.get("/session").expect(200);
    assert_eq!(session["csrf_token"], csrf);
    assert_eq!(session["user"]["name"], "admin");
    assert_eq!(session["user"]["role"], "admin");
    assert_eq!(session["user"]["disabled"], false);
    assert_eq!(session["user"]["two_factor"], false);
    assert!(session["user"]["created_at"].is_string(), "{session}");
    // A user name is case-insensitive at login too.
    let shouted = try_login(&server, "ADMIN", &first_admin_password(&server));
    assert_eq!(shouted.expect(200)["user"], "admin");

    let logout = web.delete("/session");
    logout.expect(204);
    assert!(logout.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    web.get("/session").refused(401, "signed_out");
    web.get("/me/app-passwords").refused(401, "signed_out");
}

#[test]
fn wrong_password_unknown_user_and_disabled_account_get_the_same_refusal() {
    let server = TestServer::start();
    let admin = admin(&server);
    let alice = new_user(&server, "alice");

    let wrong = try_login(&server, "alice", "not-her-password");
    let message = wrong.refused(401, "bad_credentials");
    assert!(session_cookie(&wrong.headers).is_none(), "no session for a refusal");
    let unknown = try_login(&server, "mallory", "whatever-password");
    assert_eq!(unknown.refused(401, "bad_credentials"), message);
    let invalid_name = try_login(&server, "../etc", "whatever-password");
    assert_eq!(invalid_name.refused(401, "bad_credentials"), message);

    let disabled =
        admin.call("PATCH", "/users/alice", Some(json!({ "disabled": true }))).expect(200);
    assert_eq!(disabled["name"], "alice");
    assert_eq!(disabled["disabled"], true);
    // Disabling ends her sessions at once, and her right password no longer signs her in.
    alice.get("/session").refused(401, "signed_out");
    let refused = try_login(&server, "alice", &primary("alice"));
    assert_eq!(refused.refused(401, "bad_credentials"), message);

    let enabled = admin.call("PATCH", "/users/alice", Some(json!({ "disabled": false })));
    assert_eq!(enabled.expect(200)["disabled"], false);
    login(&server, "alice", &primary("alice")).get("/session").expect(200);

    let log = server.log();
    assert!(log.contains("Login failed: 'alice' (Remote IP: '127.0.0.1') web: "), "{log}");
    assert!(log.contains("Login failed: 'mallory' (Remote IP: '127.0.0.1') web: "), "{log}");
    assert!(!log.contains("not-her-password") && !log.contains(&primary("alice")));
}

/// Alice's own list once its only password shows the network it was used from: that is
/// written in the background, within a second or so of the first use, and two listings read
/// before and after it differ.
fn listing_with_its_network(alice: &Web<'_>) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let listing = alice.get("/me/app-passwords").expect(200);
        let seen =
            listing["app_passwords"][0]["networks"].as_array().is_some_and(|n| !n.is_empty());
        if seen || std::time::Instant::now() > deadline {
            return listing;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn my_app_passwords_are_created_listed_used_and_revoked() {
    let server = TestServer::start();
    let alice = new_user(&server, "alice");
    assert_eq!(alice.get("/me/app-passwords").expect(200), json!({ "app_passwords": [] }));

    let before = Utc::now();
    let created = alice.create_app_password("/me/app-passwords", "Office laptop drive");
    let (id, password) = (created["id"].as_str().unwrap(), created["password"].as_str().unwrap());
    assert_eq!(created["user"], "alice");
    assert_eq!(id.len(), 10);
    assert!(password.starts_with(&format!("dgp-{}-{}-", &id[..5], &id[5..])), "{password}");
    let ttl = time(&created["expires_at"]) - before;
    assert!((ttl.num_hours() - 90 * 24).abs() <= 1, "90 days by default: {ttl}");

    // It opens WebDAV, and the first use is recorded.
    assert_eq!(server.probe("alice", password), 207);
    let listing = listing_with_its_network(&alice);
    assert_eq!(ids(&listing), [id]);
    let listed = &listing["app_passwords"][0];
    assert_eq!(listed["name"], "Office laptop drive");
    assert_eq!(listed["user"], "alice");
    assert_eq!(listed["status"], "active");
    assert_eq!(listed["expires_at"], created["expires_at"]);
    assert!(listed["first_used_at"].is_string() && listed["revoked_at"].is_null(), "{listed}");
    assert_eq!(listed["networks"][0]["network"], "127.0.0.1/32", "{listed}");
    // The same list under the user's own name.
    assert_eq!(alice.get("/users/alice/app-passwords").expect(200), listing);

    // Names are unique per user and must be printable.
    alice
        .post("/me/app-passwords", json!({ "name": "Office laptop drive" }))
        .refused(409, "conflict");
    alice.post("/me/app-passwords", json!({ "name": "" })).refused(400, "invalid");
    alice.post("/me/app-passwords", json!({ "label": "x" })).refused(400, "bad_body");
    // An id that names nothing, and one that is not an id.
    alice.delete(&format!("/me/app-passwords/{NO_SUCH_ID}")).refused(404, "not_found");
    alice.delete("/me/app-passwords/nope").refused(400, "invalid");

    let phone = alice.create_app_password("/users/alice/app-passwords", "Phone");
    assert_eq!(phone["user"], "alice");
    assert_eq!(server.probe("alice", phone["password"].as_str().unwrap()), 207);

    alice.delete(&format!("/me/app-passwords/{id}")).expect(204);
    assert_eq!(server.probe("alice", password), 401, "revoked on the very next request");
    assert_eq!(server.probe("alice", phone["password"].as_str().unwrap()), 207);
    assert_eq!(ids(&alice.get("/me/app-passwords").expect(200)), [phone["id"].as_str().unwrap()]);
    // Revoking one's own app password through /users/{me}/... works the same.
    let phone_id = phone["id"].as_str().unwrap();
    alice.delete(&format!("/users/alice/app-passwords/{phone_id}")).expect(204);
    assert_eq!(server.probe("alice", phone["password"].as_str().unwrap()), 401);
    assert_eq!(alice.get("/me/app-passwords").expect(200), json!({ "app_passwords": [] }));
}

#[test]
fn the_secret_appears_only_in_the_create_response() {
    let server = TestServer::start();
    let admin = admin(&server);
    let alice = new_user(&server, "alice");
    let mine = alice.create_app_password("/me/app-passwords", "Office laptop drive");
    let by_admin = admin.create_app_password("/users/alice/app-passwords", "Phone");
    assert_eq!(by_admin["user"], "alice");
    let created = admin.post("/users", json!({ "name": "bob" })).expect(201);
    let bob_primary = created["password"].as_str().unwrap().to_string();
    let mut secrets: Vec<String> = Vec::new();
    for pw in [&mine, &by_admin].map(|c| c["password"].as_str().unwrap()) {
        // Used once, so that the listings show everything they can (first use, client).
        assert_eq!(server.probe("alice", pw), 207);
        let undashed: String = pw["dgp-".len()..].chars().filter(|c| *c != '-').collect();
        secrets.extend([pw, &pw[15..], &pw[16..], &undashed[10..38]].map(str::to_string));
    }

    let views = [
        alice.get("/me/app-passwords"),
        alice.get("/users/alice/app-passwords"),
        alice.get("/users/alice"),
        alice.get("/session"),
        admin.get("/users/alice/app-passwords"),
        admin.get("/users/alice"),
        admin.get("/users/bob"),
        admin.get("/users"),
        admin.get("/session"),
        admin.get("/settings"),
    ];
    for view in &views {
        view.expect(200);
        let text = view.text.to_lowercase();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a listing shows a secret: {}", view.text);
        }
        assert!(!text.contains(&bob_primary.to_lowercase()), "a primary password: {}", view.text);
    }
    // The listings do show the app passwords (the search above looked in the right place).
    for listing in &views[..2] {
        let listed = ids(&listing.json());
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&mine["id"].as_str().unwrap().to_string()));
    }
    let log = server.log().to_lowercase();
    for secret in secrets.iter().chain([&bob_primary, &primary("alice")]) {
        assert!(!log.contains(&secret.to_lowercase()), "the log holds a secret: {secret}");
    }
}

#[test]
fn a_user_cannot_list_create_or_revoke_another_users_app_passwords() {
    let server = TestServer::start();
    let alice = new_user(&server, "alice");
    let bob = new_user(&server, "bob");
    let created = alice.create_app_password("/me/app-passwords", "Office laptop drive");
    let (id, password) = (created["id"].as_str().unwrap(), created["password"].as_str().unwrap());

    for owner in ["alice", "nobody"] {
        // The same 403 whether or not the account exists.
        bob.get(&format!("/users/{owner}/app-passwords")).refused(403, "forbidden");
        bob.post(&format!("/users/{owner}/app-passwords"), json!({ "name": "Bob's way in" }))
            .refused(403, "forbidden");
        bob.delete(&format!("/users/{owner}/app-passwords/{id}")).refused(403, "forbidden");
        bob.delete(&format!("/users/{owner}/app-passwords")).refused(403, "forbidden");
    }
    // Her id under bob's own name names nothing of his.
    bob.delete(&format!("/me/app-passwords/{id}")).refused(404, "not_found");
    bob.delete(&format!("/users/bob/app-passwords/{id}")).refused(404, "not_found");

    assert_eq!(server.probe("alice", password), 207, "her app password still works");
    assert_eq!(ids(&alice.get("/me/app-passwords").expect(200)), [id]);
    assert_eq!(bob.get("/me/app-passwords").expect(200), json!({ "app_passwords": [] }));
    assert_eq!(bob.get("/users/bob/app-passwords").expect(200), json!({ "app_passwords": [] }));
}

#[test]
fn an_admin_manages_any_users_app_passwords() {
    let server = TestServer::start();
    let admin = admin(&server);
    server.add_user("bob");
    let (cli_id, cli_pw) = create_app_password(server.dir(), "bob", "rclone");

    let created = admin.create_app_password("/users/bob/app-passwords", "Bob's laptop");
    assert_eq!(created["user"], "bob");
    let (id, password) = (created["id"].as_str().unwrap(), created["password"].as_str().unwrap());
    assert_eq!(server.probe("bob", password), 207);
    let listing = admin.get("/users/bob/app-passwords").expect(200);
    let listed: BTreeSet<String> = ids(&listing).into_iter().collect();
    assert_eq!(listed, BTreeSet::from([cli_id.clone(), id.to_string()]));
    assert!(listing["app_passwords"].as_array().unwrap().iter().all(|p| p["user"] == "bob"));
    // The admin's own list is theirs only.
    assert_eq!(admin.get("/me/app-passwords").expect(200), json!({ "app_passwords": [] }));

    admin.delete(&format!("/users/bob/app-passwords/{id}")).expect(204);
    assert_eq!(server.probe("bob", password), 401);
    assert_eq!(server.probe("bob", &cli_pw), 207);

    let third = admin.create_app_password("/users/bob/app-passwords", "Phone");
    let third_pw = third["password"].as_str().unwrap();
    assert_eq!(admin.delete("/users/bob/app-passwords").expect(200), json!({ "revoked": 2 }));
    assert_eq!(server.probe("bob", &cli_pw), 401);
    assert_eq!(server.probe("bob", third_pw), 401);
    assert_eq!(admin.get("/users/bob/app-passwords").expect(200), json!({ "app_passwords": [] }));
    assert_eq!(admin.delete("/users/bob/app-passwords").expect(200), json!({ "revoked": 0 }));

    admin.get("/users/nobody/app-passwords").refused(404, "not_found");
    admin.post("/users/nobody/app-passwords", json!({ "name": "x" })).refused(404, "not_found");
    admin.delete(&format!("/users/bob/app-passwords/{NO_SUCH_ID}")).refused(404, "not_found");
}

#[test]
fn a_non_admin_gets_403_on_every_admin_route() {
    let server = TestServer::start();
    let admin = admin(&server);
    add_user_with_password(&server, "alice", &primary("alice"));
    let bob = new_user(&server, "bob");

    let attempts: [(&str, &str, Option<Value>); 9] = [
        ("GET", "/users", None),
        ("POST", "/users", Some(json!({ "name": "eve", "admin": true }))),
        ("GET", "/users/alice", None),
        ("PATCH", "/users/alice", Some(json!({ "disabled": true }))),
        ("DELETE", "/users/alice", None),
        ("POST", "/users/alice/password", None),
        ("DELETE", "/users/alice/totp", None),
        ("GET", "/settings", None),
        ("PUT", "/settings/login_max_failures", Some(json!({ "value": "1" }))),
    ];
    for (method, path, body) in attempts {
        let answer = bob.call(method, path, body);
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text);
        answer.refused(403, "forbidden");
    }
    // Nor on the admin routes about himself that only admins may use.
    bob.call("PATCH", "/users/bob", Some(json!({ "disabled": true }))).refused(403, "forbidden");
    bob.post("/users/bob/password", json!({})).refused(403, "forbidden");
    bob.delete("/users/bob").refused(403, "forbidden");
    // His own account he may read.
    let own = bob.get("/users/bob").expect(200);
    assert_eq!((&own["name"], &own["role"]), (&json!("bob"), &json!("user")));

    // Nothing changed.
    let users = admin.get("/users").expect(200);
    let names: Vec<&str> =
        users["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{users}");
    assert!(!names.contains(&"eve"));
    assert_eq!(admin.get("/users/alice").expect(200)["disabled"], false);
    assert_eq!(admin.get("/settings").expect(200)["settings"]["login_max_failures"], "10");
    login(&server, "alice", &primary("alice"));
    bob.get("/session").expect(200);
}

#[test]
fn an_admin_creates_disables_resets_and_removes_accounts() {
    let server = TestServer::start();
    let admin = admin(&server);

    let created = admin.post("/users", json!({ "name": "Carol" })).expect(201);
    assert_eq!(created["user"]["name"], "carol", "names are folded to lower case");
    assert_eq!(created["user"]["role"], "user");
    assert_eq!(created["user"]["disabled"], false);
    assert_eq!(created["user"]["two_factor"], false);
    assert!(created["user"]["quota_bytes"].is_null());
    let first = created["password"].as_str().unwrap().to_string();
    let carol = login(&server, "carol", &first);
    let dave = admin.post("/users", json!({ "name": "dave", "admin": true })).expect(201);
    assert_eq!(dave["user"]["role"], "admin");

    admin.post("/users", json!({ "name": "carol" })).refused(409, "conflict");
    admin.post("/users", json!({ "name": "../etc" })).refused(400, "invalid");
    admin.post("/users", json!({ "admin": true })).refused(400, "bad_body");

    let users = admin.get("/users").expect(200);
    let names: BTreeSet<&str> =
        users["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["admin", "carol", "dave"]));
    assert_eq!(admin.get("/users/carol").expect(200), created["user"]);
    admin.get("/users/nobody").refused(404, "not_found");
    admin
        .call("PATCH", "/users/nobody", Some(json!({ "disabled": true })))
        .refused(404, "not_found");
    admin.call("PATCH", "/users/carol", Some(json!({ "disable": true }))).refused(400, "bad_body");

    let disabled = admin.call("PATCH", "/users/carol", Some(json!({ "disabled": true })));
    assert_eq!(disabled.expect(200)["disabled"], true);
    carol.get("/session").refused(401, "signed_out");
    let enabled = admin.call("PATCH", "/users/carol", Some(json!({ "disabled": false })));
    assert_eq!(enabled.expect(200)["disabled"], false);

    // A new primary password: shown once, the old one stops, her sessions end.
    let carol = login(&server, "carol", &first);
    let reset = admin.post("/users/carol/password", json!({})).expect(200);
    let second = reset["password"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(reset.as_object().unwrap().len(), 1, "{reset}");
    carol.get("/session").refused(401, "signed_out");
    try_login(&server, "carol", &first).refused(401, "bad_credentials");
    let carol = login(&server, "carol", &second);
    admin.post("/users/nobody/password", json!({})).refused(404, "not_found");

    // Removal: her app passwords go with her account, and her session ends.
    let app = carol.create_app_password("/me/app-passwords", "Laptop");
    let app_pw = app["password"].as_str().unwrap();
    assert_eq!(server.probe("carol", app_pw), 207);
    assert_eq!(admin.delete("/users/carol").expect(200), json!({ "app_passwords_removed": 1 }));
    assert_eq!(server.probe("carol", app_pw), 401);
    carol.get("/session").refused(401, "signed_out");
    admin.get("/users/carol").refused(404, "not_found");
    admin.delete("/users/carol").refused(404, "not_found");

    // The last admin cannot be removed.
    assert_eq!(admin.delete("/users/dave").expect(200), json!({ "app_passwords_removed": 0 }));
    admin.delete("/users/admin").refused(409, "conflict");
    let last = admin.call("PATCH", "/users/admin", Some(json!({ "disabled": true })));
    last.refused(409, "conflict");
    admin.get("/session").expect(200);
}

#[test]
fn settings_are_read_and_changed_by_an_admin() {
    let server = TestServer::start();
    let admin = admin(&server);
    let settings = admin.get("/settings").expect(200);
    let map = settings["settings"].as_object().unwrap();
    let keys: BTreeSet<&str> = map.keys().map(String::as_str).collect();
    let expected = [
        "app_credentials_activation_window",
        "app_credentials_idle_ttl",
        "app_credentials_max_per_user",
        "app_credentials_max_ttl",
        "app_credentials_ttl",
        "durability",
        "lock_timeout",
        "login_max_failures",
        "login_throttle",
        "login_trusted_networks",
        "propfind_depth_infinity",
        "sso_clock_skew",
        "sso_reauth_interval",
        "sso_recheck_interval",
        "audit_retention",
        "smtp_url",
        "smtp_from",
        "smtp_password",
        "webhook_url",
        "webhook_secret",
    ];
    assert_eq!(keys, BTreeSet::from(expected));
    assert!(map.values().all(Value::is_string), "every value is text: {settings}");
    assert_eq!(map["app_credentials_ttl"], "90d");
    assert_eq!(map["app_credentials_max_ttl"], "365d");
    assert_eq!(map["app_credentials_idle_ttl"], "off");
    assert_eq!(map["app_credentials_max_per_user"], "50");

    let changed =
        admin.call("PUT", "/settings/app_credentials_ttl", Some(json!({ "value": "2d" })));
    assert_eq!(changed.expect(200)["settings"]["app_credentials_ttl"], "2d");
    let before = Utc::now();
    let created = admin.create_app_password("/me/app-passwords", "Short-lived");
    let ttl = time(&created["expires_at"]) - before;
    assert!((ttl.num_seconds() - 2 * 86_400).abs() <= 60, "about 2 days: {ttl}");
    let listed = &admin.get("/me/app-passwords").expect(200)["app_passwords"][0];
    let span = time(&listed["expires_at"]) - time(&listed["created_at"]);
    assert!((span.num_seconds() - 2 * 86_400).abs() <= 1, "{listed}");

    let bad = admin.call("PUT", "/settings/app_credentials_ttl", Some(json!({ "value": "abc" })));
    bad.refused(400, "invalid");
    admin
        .call("PUT", "/settings/no_such_setting", Some(json!({ "value": "1" })))
        .refused(404, "not_found");
    admin
        .call("PUT", "/settings/login_max_failures", Some(json!({ "val": "1" })))
        .refused(400, "bad_body");
    // A JSON number is taken as its text.
    let number = admin.call("PUT", "/settings/login_max_failures", Some(json!({ "value": 5 })));
    assert_eq!(number.expect(200)["settings"]["login_max_failures"], "5");
    let now = admin.get("/settings").expect(200);
    assert_eq!(now["settings"]["app_credentials_ttl"], "2d", "the refused value changed nothing");
    let cli = ok(&server.cli(&["settings", "get", "app_credentials_ttl"]));
    assert!(cli.contains("2d"), "{cli}");
}

#[test]
fn repeated_failed_logins_are_throttled_apart_from_webdav() {
    let server = TestServer::start();
    let admin = admin(&server);
    let set = admin.call("PUT", "/settings/login_max_failures", Some(json!({ "value": "3" })));
    assert_eq!(set.expect(200)["settings"]["login_max_failures"], "3");
    add_user_with_password(&server, "alice", &primary("alice"));
    add_user_with_password(&server, "bob", &primary("bob"));

    for _ in 0..3 {
        try_login(&server, "alice", "wrong-password").refused(401, "bad_credentials");
    }
    // Locked out: refused before any argon2 runs. Unlike WebDAV's, the web lockout lets no
    // attempt a minute through (that would be a guess a minute at a password a person chose).
    let refused = try_login(&server, "alice", "wrong-password");
    refused.refused(429, "throttled");
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After: {retry}");
    assert!(session_cookie(&refused.headers).is_none());
    // Even the right password waits.
    try_login(&server, "alice", &primary("alice")).refused(429, "throttled");
    // Each refusal leaves WebDAV's throttled line, so fail2ban sees the lockout too.
    let log = server.log();
    let line = "Login throttled: 'alice' (Remote IP: '127.0.0.1') web: too many failures";
    assert!(log.matches(line).count() >= 2, "no '{line}' line in:\n{log}");

    // Another user on the same network signs in; alice's WebDAV, counted apart, is not locked:
    // even an app password never verified before opens it at once.
    login(&server, "bob", &primary("bob"));
    let fresh = server.app_password("alice", "laptop");
    assert_eq!(server.probe("alice", &fresh), 207);
}

#[test]
fn a_second_factor_is_enrolled_asked_at_login_never_replayed_and_reset_by_an_admin() {
    let server = TestServer::start();
    let admin = admin(&server);
    let alice = new_user(&server, "alice");

    alice.post("/me/totp/confirm", json!({ "code": "123456" })).refused(400, "invalid");
    let enrolment = alice.post("/me/totp", json!({})).expect(200);
    let key = enrolment["manual_key"].as_str().unwrap();
    let groups: Vec<&str> = key.split(' ').collect();
    assert!(groups.len() == 8 && groups.iter().all(|g| g.len() == 4), "{key}");
    let url = enrolment["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/davgate:alice?"), "{url}");
    assert!(url.contains(&format!("secret={}", key.replace(' ', ""))), "{url}");
    assert!(enrolment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let secret = totp_secret(&enrolment);

    alice.post("/me/totp/confirm", json!({ "code": wrong_code(&secret) })).refused(401, "bad_code");
    alice.post("/me/totp/confirm", json!({ "code": "12345" })).refused(401, "bad_code");
    assert_eq!(alice.get("/session").expect(200)["user"]["two_factor"], false);
    alice.post("/me/totp/confirm", json!({ "code": code_at(&secret, unix_now()) })).expect(204);
    assert_eq!(alice.get("/session").expect(200)["user"]["two_factor"], true);
    assert_eq!(admin.get("/users/alice").expect(200)["two_factor"], true);
    alice.post("/me/totp", json!({})).refused(409, "conflict");

    // The password alone now opens only a half-open session.
    let answer = try_login(&server, "alice", &primary("alice"));
    let body = answer.expect(200);
    assert_eq!(body["second_factor_required"], true);
    assert_eq!(body["user"], "alice");
    let pending = Web::from_login(&server, &answer);
    pending.get("/session").refused(401, "signed_out");
    pending.get("/me/app-passwords").refused(401, "signed_out");
    pending.post("/me/app-passwords", json!({ "name": "x" })).refused(401, "signed_out");
    pending.post("/me/totp/disable", json!({ "code": "000000" })).refused(401, "signed_out");
    // The code step wants the half-open session's CSRF token too.
    let code = code_at(&secret, unix_now() + 30);
    let no_token = with_json(pending.bare("POST", "/session/totp"), &json!({ "code": code }));
    send(no_token).refused(403, "csrf");
    pending.post("/session/totp", json!({ "code": wrong_code(&secret) })).refused(401, "bad_code");
    let signed_in = pending.post("/session/totp", json!({ "code": code }));
    let body = signed_in.expect(200);
    assert_eq!(body["second_factor_required"], false);
    assert_eq!(body["user"], "alice");
    let full = Web::from_login(&server, &signed_in);
    assert_ne!(full.cookie, pending.cookie, "a new session token after the second factor");
    assert_eq!(full.get("/session").expect(200)["user"]["name"], "alice");
    full.create_app_password("/me/app-passwords", "Laptop");
    // The half-open session is gone.
    pending.post("/session/totp", json!({ "code": code })).refused(401, "signed_out");

    // The same code again, in another login: refused.
    let again = try_login(&server, "alice", &primary("alice"));
    assert_eq!(again.expect(200)["second_factor_required"], true);
    let replay = Web::from_login(&server, &again);
    replay.post("/session/totp", json!({ "code": code })).refused(401, "bad_code");

    // She lost her phone: an admin takes the second factor off.
    let reset = admin.delete("/users/alice/totp").expect(200);
    assert_eq!(reset["name"], "alice");
    assert_eq!(reset["two_factor"], false);
    login(&server, "alice", &primary("alice"));
    admin.delete("/users/nobody/totp").refused(404, "not_found");
}

#[test]
fn a_second_factor_is_turned_off_with_a_code_and_wrong_codes_end_a_half_open_session() {
    let server = TestServer::start();
    let bob = new_user(&server, "bob");
    bob.post("/me/totp/disable", json!({ "code": "123456" })).refused(400, "invalid");
    let enrol = |web: &Web| {
        let secret = totp_secret(&web.post("/me/totp", json!({})).expect(200));
        let code = code_at(&secret, unix_now());
        web.post("/me/totp/confirm", json!({ "code": code })).expect(204);
        (secret, code)
    };

    let (secret, used) = enrol(&bob);
    bob.post("/me/totp/disable", json!({ "code": wrong_code(&secret) })).refused(401, "bad_code");
    // The code that confirmed the enrolment is used up.
    bob.post("/me/totp/disable", json!({ "code": used })).refused(401, "bad_code");
    assert_eq!(bob.get("/session").expect(200)["user"]["two_factor"], true);
    bob.post("/me/totp/disable", json!({ "code": code_at(&secret, unix_now() + 30) })).expect(204);
    assert_eq!(bob.get("/session").expect(200)["user"]["two_factor"], false);
    login(&server, "bob", &primary("bob"));

    // On again; a half-open session takes five wrong codes at most, then it is dropped. (The
    // throttle, which would hold each wrong answer back longer and longer, is off for speed.)
    ok(&server.cli(&["settings", "set", "login_throttle", "false"]));
    let (secret, _) = enrol(&bob);
    let answer = try_login(&server, "bob", &primary("bob"));
    assert_eq!(answer.expect(200)["second_factor_required"], true);
    let pending = Web::from_login(&server, &answer);
    let wrong = wrong_code(&secret);
    for _ in 0..4 {
        pending.post("/session/totp", json!({ "code": wrong })).refused(401, "bad_code");
    }
    pending.post("/session/totp", json!({ "code": wrong })).refused(401, "signed_out");
    let right = code_at(&secret, unix_now() + 30);
    pending.post("/session/totp", json!({ "code": right })).refused(401, "signed_out");
    // A new login with the right code gets in.
    let answer = try_login(&server, "bob", &primary("bob"));
    let next = Web::from_login(&server, &answer);
    assert_eq!(next.post("/session/totp", json!({ "code": right })).expect(200)["user"], "bob");
}

#[test]
fn cross_site_and_csrf_less_changes_are_refused_and_change_nothing() {
    let server = TestServer::start();
    let admin = admin(&server);
    let alice = new_user(&server, "alice");
    let body = json!({ "name": "Sneaky" }).to_string();
    let create = || alice.bare("POST", "/me/app-passwords").body(body.clone());

    send(create()).refused(403, "csrf");
    send(create().header("X-CSRF-Token", "0".repeat(64))).refused(403, "csrf");
    send(create().header("X-CSRF-Token", "")).refused(403, "csrf");
    // Another session's token is no good either.
    send(create().header("X-CSRF-Token", &admin.csrf)).refused(403, "csrf");
    let with_token = || create().header("X-CSRF-Token", &alice.csrf);
    send(with_token().header("Origin", "http://evil.example")).refused(403, "cross_site");
    send(with_token().header("Sec-Fetch-Site", "cross-site")).refused(403, "cross_site");
    assert_eq!(alice.get("/me/app-passwords").expect(200), json!({ "app_passwords": [] }));

    // A logout or a settings change without the token does nothing either.
    send(alice.bare("DELETE", "/session")).refused(403, "csrf");
    alice.get("/session").expect(200);
    let put =
        with_json(admin.bare("PUT", "/settings/login_max_failures"), &json!({ "value": "1" }));
    send(put).refused(403, "csrf");
    let evil_put =
        with_json(admin.bare("PUT", "/settings/login_max_failures"), &json!({ "value": "1" }))
            .header("X-CSRF-Token", &admin.csrf)
            .header("Origin", "http://evil.example");
    send(evil_put).refused(403, "cross_site");
    assert_eq!(admin.get("/settings").expect(200)["settings"]["login_max_failures"], "10");
    // Nor can another site sign a browser in (login CSRF).
    let login_body = json!({ "user": "alice", "password": primary("alice") });
    let forged = with_json(anonymous(&server, "POST", "/session"), &login_body)
        .header("Origin", "http://evil.example");
    let answer = send(forged);
    answer.refused(403, "cross_site");
    assert!(session_cookie(&answer.headers).is_none());

    // From the server's own origin, with the token, it works.
    let same_origin = with_token().header("Origin", &server.base);
    let created = send(same_origin.header("Sec-Fetch-Site", "same-origin")).expect(201);
    assert_eq!(ids(&alice.get("/me/app-passwords").expect(200)), [created["id"].as_str().unwrap()]);
}

#[test]
fn malformed_requests_get_json_errors() {
    let server = TestServer::start();
    let alice = new_user(&server, "alice");

    let big = vec![b'a'; 64 * 1024 + 1];
    let too_large = anonymous(&server, "POST", "/session").body(big.clone());
    send(too_large).refused(413, "too_large");
    let too_large = alice.bare("POST", "/me/app-passwords").header("X-CSRF-Token", &alice.csrf);
    send(too_large.body(big)).refused(413, "too_large");
    // Just under the limit is read (and then refused as not JSON).
    let near = alice.bare("POST", "/me/app-passwords").header("X-CSRF-Token", &alice.csrf);
    let answer = send(near.body(format!("{{\"name\": \"{}\"}}", "a".repeat(64 * 1024 - 20))));
    answer.refused(400, "invalid");

    send(anonymous(&server, "POST", "/session").body("{not json")).refused(400, "bad_body");
    send(anonymous(&server, "POST", "/session").body("")).refused(400, "bad_body");
    let missing = with_json(anonymous(&server, "POST", "/session"), &json!({ "user": "alice" }));
    send(missing).refused(400, "bad_body");
    let broken = alice.bare("POST", "/me/app-passwords").header("X-CSRF-Token", &alice.csrf);
    send(broken.body("{\"name\":")).refused(400, "bad_body");
    alice.post("/me/totp/confirm", json!({ "code": 123456 })).refused(400, "bad_body");

    alice.get("/nothing-here").refused(404, "no_route");
    alice.get("/me").refused(404, "no_route");
    send(server.request("GET", "/api/v2/session")).refused(404, "no_route");

    alice.get("/session/totp").refused(405, "method");
    alice.call("PUT", "/session", None).refused(405, "method");
    alice.post("/settings", json!({})).refused(405, "method");
    alice.get("/me/totp").refused(405, "method");
    alice.call("PATCH", "/me/app-passwords", Some(json!({}))).refused(405, "method");
    // Every API answer carries the hardening headers.
    let answer = alice.get("/session");
    answer.expect(200);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers["content-type"], "application/json");
}

#[test]
fn a_path_that_no_method_takes_is_404_not_405() {
    let server = TestServer::start();
    let alice = new_user(&server, "alice");
    // 405 says "this path exists with another method"; these exist with none.
    for path in ["/users/alice/app-passwords/0000000000/x", "/me/totp/nope", "/settings/a/b"] {
        alice.get(path).refused(404, "no_route");
    }
}

/// The (method, path template) pairs the API's router matches, read from its source (the
/// router and its single sign-on part): a quoted segment is literal, a bound one (`name`, `id`,
/// `key`) a `{placeholder}`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let source = ["/src/web/api.rs", "/src/web/api/sso.rs", "/src/web/api/inventory.rs"]
        .map(|file| {
            let path = format!("{}{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
        .join("\n");
    let mut routes = BTreeSet::new();
    for line in source.lines() {
        let Some(at) = line.find("Method::") else { continue };
        let rest = &line[at + "Method::".len()..];
        let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else { continue };
        let method = rest[..rest.find(',').expect("a pattern")].to_string();
        let path: String = rest[open + 1..close]
            .split(',')
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('"') {
                Some(literal) => format!("/{}", literal.trim_end_matches('"')),
                None => format!("/{{{s}}}"),
            })
            .collect();
        routes.insert((method, path));
    }
    routes
}

#[test]
fn the_openapi_document_describes_every_route() {
    let listed: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(listed.len(), ROUTES.len(), "a route listed twice");
    assert_eq!(routes_in_source(), listed, "ROUTES is out of date with src/web/api.rs");

    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    assert!(doc.starts_with("openapi: 3.1."), "an OpenAPI 3.1 document");
    for (method, template) in ROUTES {
        let key = format!("  {API}{template}:");
        let start = doc
            .lines()
            .position(|l| l == key)
            .unwrap_or_else(|| panic!("docs/openapi.yaml has no path {API}{template}"));
        // The path's block: the lines indented deeper than its key.
        let block: Vec<&str> = doc
            .lines()
            .skip(start + 1)
            .take_while(|l| l.is_empty() || l.starts_with("   "))
            .collect();
        let operation = format!("    {}:", method.to_lowercase());
        assert!(
            block.contains(&operation.as_str()),
            "docs/openapi.yaml has no {method} under {API}{template}"
        );
    }
    for schema in
        ["Error", "UserView", "AppPasswordView", "CreatedAppPassword", "Enrolment", "ProviderView"]
    {
        assert!(doc.contains(&format!("    {schema}:")), "no schema {schema}");
    }
    assert!(doc.contains("davgate_session") && doc.contains("X-CSRF-Token"));
}

#[test]
fn a_user_sets_their_own_email_and_only_an_admin_sets_someone_elses() {
    let server = TestServer::start();
    let admin = admin(&server);
    let alice = new_user(&server, "alice");
    let bob = new_user(&server, "bob");
    let put = |web: &Web, path: &str, email: Value| {
        web.call("PUT", path, Some(json!({ "email": email })))
    };
    let set = put(&alice, "/me/email", json!("alice@example.org")).expect(200);
    assert_eq!(
        (&set["user"]["email"], &set["user"]["mail_to"]),
        (&json!("alice@example.org"), &json!("alice@example.org"))
    );
    put(&alice, "/me/email", json!("Alice <alice@example.org>")).refused(400, "invalid");
    put(&alice, "/me/email", json!("a@example.org\r\nBcc: eve@example.org"))
        .refused(400, "invalid");
    put(&bob, "/users/alice/email", json!("eve@example.org")).refused(403, "forbidden");
    assert_eq!(admin.get("/users/alice").expect(200)["email"], "alice@example.org");
    let changed = put(&admin, "/users/alice/email", json!("a.smith@example.org")).expect(200);
    assert_eq!(changed["user"]["email"], "a.smith@example.org");
    let cleared = put(&alice, "/users/alice/email", Value::Null).expect(200);
    assert_eq!(
        (&cleared["user"]["email"], &cleared["user"]["mail_to"]),
        (&Value::Null, &Value::Null)
    );
}
