//! Issue 14's policy through the API, the CLI and the pages, against the real server: the
//! per-user cap, creation with each scope and its refusals, rename, the CLI's SCOPE column, the
//! Settings page's policy fields, and a scoped password never opening the pages or the API.

use crate::pages::{Visitor, primary};
use crate::util::*;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

/// A signed-in API session: the cookie and the CSRF token, as the pages' script holds them.
pub(crate) struct Api<'a> {
    pub(crate) server: &'a TestServer,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl<'a> Api<'a> {
    /// Signs `user` in with `password` through `POST /api/v1/session`.
    pub(crate) fn sign_in(server: &'a TestServer, user: &str, password: &str) -> Self {
        let res = server
            .request("POST", "/api/v1/session")
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "sign-in of {user}");
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
        let csrf = body["csrf_token"].as_str().expect("csrf_token").to_string();
        Api { server, cookie, csrf }
    }

    pub(crate) fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.server
            .request(method, &format!("/api/v1{path}"))
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
    }

    /// Sends `body` (if any); the status and the JSON answer (null when empty).
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let res = request.send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

/// Asserts a JSON refusal of this status and code; its message.
fn refused(answer: (u16, Value), status: u16, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    answer.1["message"].as_str().unwrap().to_string()
}

fn alice(server: &TestServer) -> Api<'_> {
    add_user_with_password(server, "alice", &primary("alice"));
    Api::sign_in(server, "alice", &primary("alice"))
}

#[test]
fn one_password_over_the_per_user_cap_is_refused_saying_how_many_exist() {
    let server = TestServer::start();
    let api = alice(&server);
    ok(&server.cli(&["settings", "set", "app_credentials_max_per_user", "2"]));
    ok(&server.cli(&["app-password", "create", "alice", "laptop"]));
    assert_eq!(api.call("POST", "/me/app-passwords", Some(json!({ "name": "phone" }))).0, 201);
    let said = refused(
        api.call("POST", "/me/app-passwords", Some(json!({ "name": "tablet" }))),
        409,
        "conflict",
    );
    assert!(said.contains("already has 2 app passwords"), "{said}");
    let said = crate::util::refused(&server.cli(&["app-password", "create", "alice", "tablet"]));
    assert!(said.contains("already has 2 app passwords"), "{said}");
    // A revoked one no longer counts.
    let laptop = list_app_passwords(server.dir(), Some("alice"))
        .into_iter()
        .find(|p| p["name"] == "laptop")
        .unwrap();
    ok(&server.cli(&["app-password", "revoke", "alice", laptop["id"].as_str().unwrap()]));
    assert_eq!(api.call("POST", "/me/app-passwords", Some(json!({ "name": "tablet" }))).0, 201);
}

#[test]
fn the_api_creates_each_scope_and_webdav_applies_it() {
    let server = TestServer::start();
    let api = alice(&server);
    let create = |body: Value| api.call("POST", "/me/app-passwords", Some(body));
    let (code, frame) = create(json!({
        "name": "frame", "expires": "30d", "access": "read_only", "folder": "/Photos"
    }));
    assert_eq!(code, 201, "{frame}");
    assert_eq!(frame["scope"]["access"], "read_only");
    assert_eq!(frame["scope"]["folder"], "/Photos");
    let (code_s, scanner) =
        create(json!({ "name": "scanner", "access": "upload_only", "folder": "/Scans" }));
    assert_eq!(code_s, 201, "{scanner}");
    let (code_o, office) =
        create(json!({ "name": "office", "allow_from": ["10.0.0.0/8", "2001:db8::/48"] }));
    assert_eq!(code_o, 201, "{office}");
    let (code_1, one) = create(json!({ "name": "backup", "allow_from": "192.0.2.10" }));
    assert_eq!(code_1, 201, "{one}");

    let (_, listing) = api.call("GET", "/me/app-passwords", None);
    let by = |name: &str| {
        listing["app_passwords"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned()
    };
    let listed = by("frame").unwrap();
    assert_eq!(
        (listed["access"].as_str(), listed["folder"].as_str()),
        (Some("read_only"), Some("/Photos"))
    );
    assert!(listed["expires_at"].is_string() && listed["status"] == "active", "{listed}");
    assert_eq!(by("scanner").unwrap()["access"], "upload_only");
    assert_eq!(by("office").unwrap()["allow_from"], json!(["10.0.0.0/8", "2001:db8::/48"]));
    assert!(by("backup").unwrap()["allow_from"][0].as_str().unwrap().starts_with("192.0.2.10"));

    let frame_pw = frame["password"].as_str().unwrap();
    let put = server.as_user("alice", frame_pw, "PUT", "/dav/x.txt").body("x").send();
    assert_eq!(status(put), 403, "read-only");
    let scanner_pw = scanner["password"].as_str().unwrap();
    let put = server.as_user("alice", scanner_pw, "PUT", "/dav/scan.pdf").body("%PDF").send();
    assert_eq!(status(put), 201);
    assert!(server.home("alice").join("Scans/scan.pdf").is_file(), "in its folder");
    assert_eq!(server.probe("alice", office["password"].as_str().unwrap()), 401, "not from 10/8");
}

#[test]
fn the_api_refuses_a_bad_folder_network_access_or_lifetime_naming_the_maximum() {
    let server = TestServer::start();
    let api = alice(&server);
    let create = |body: Value| api.call("POST", "/me/app-passwords", Some(body));
    let said = refused(create(json!({ "name": "x", "folder": "/a/../b" })), 400, "bad_body");
    assert!(said.contains("/a/../b") && said.contains("/Projects"), "{said}");
    let said =
        refused(create(json!({ "name": "x", "allow_from": "10.0.0.300/8" })), 400, "bad_body");
    assert!(said.contains("10.0.0.300/8"), "{said}");
    refused(create(json!({ "name": "x", "access": "everything" })), 400, "bad_body");
    // A lifetime the policy refuses is the operation's refusal (`invalid`), naming the maximum.
    let said = refused(create(json!({ "name": "x", "expires": "400d" })), 400, "invalid");
    assert!(said.contains("app_credentials_max_ttl") && said.contains("365"), "{said}");
    let said = refused(create(json!({ "name": "x", "expires": "never" })), 400, "invalid");
    assert!(said.contains("must expire") && said.contains("365"), "{said}");
    refused(create(json!({ "name": "x", "scope": "all" })), 400, "bad_body");
    let (_, listing) = api.call("GET", "/me/app-passwords", None);
    assert_eq!(listing["app_passwords"], json!([]), "nothing was made");

    ok(&server.cli(&["settings", "set", "app_credentials_max_ttl", "none"]));
    let (status, never) = create(json!({ "name": "forever", "expires": "never" }));
    assert_eq!(status, 201, "{never}");
    assert!(never["expires_at"].is_null(), "{never}");
}

#[test]
fn a_password_is_renamed_by_its_owner_and_an_admin_but_never_to_a_name_in_use() {
    let server = TestServer::start();
    let api = alice(&server);
    let (_, frame) = api.call("POST", "/me/app-passwords", Some(json!({ "name": "frame" })));
    api.call("POST", "/me/app-passwords", Some(json!({ "name": "phone" })));
    let id = frame["id"].as_str().unwrap();
    let path = format!("/me/app-passwords/{id}");
    let (status, renamed) = api.call("PATCH", &path, Some(json!({ "name": "kitchen frame" })));
    assert_eq!((status, renamed["name"].as_str()), (200, Some("kitchen frame")), "{renamed}");
    refused(api.call("PATCH", &path, Some(json!({ "name": "phone" }))), 409, "conflict");
    let admin = Api::sign_in(&server, "admin", &first_admin_password(&server));
    let path = format!("/users/alice/app-passwords/{id}");
    let (status, renamed) = admin.call("PATCH", &path, Some(json!({ "name": "hall frame" })));
    assert_eq!((status, renamed["name"].as_str()), (200, Some("hall frame")), "{renamed}");
    let names: Vec<String> = list_app_passwords(server.dir(), Some("alice"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["hall frame", "phone"]);
    // The password itself still works, its scope untouched.
    assert_eq!(server.probe("alice", frame["password"].as_str().unwrap()), 207);
}

#[test]
fn the_cli_list_shows_each_passwords_scope() {
    let server = TestServer::start();
    server.add_user("alice");
    ok(&server.cli(&["app-password", "create", "alice", "laptop"]));
    let args = ["app-password", "create", "alice", "frame", "--read-only", "--folder", "/Photos"];
    ok(&server.cli(&args));
    let args = ["app-password", "create", "alice", "office", "--allow-from", "10.0.0.0/8"];
    ok(&server.cli(&args));
    let out = ok(&server.cli(&["app-password", "list", "alice"]));
    let header = out.lines().next().unwrap();
    assert!(header.contains("SCOPE"), "{out}");
    let row = |name: &str| out.lines().find(|l| l.contains(name)).unwrap().to_string();
    assert!(row("laptop").contains("read_write"), "{out}");
    assert!(row("frame").contains("read_only /Photos"), "{out}");
    assert!(row("office").contains("read_write from 10.0.0.0/8"), "{out}");
}

#[test]
fn a_scoped_app_password_never_opens_the_pages_or_the_api() {
    let server = TestServer::start();
    server.add_user("alice");
    let args = ["app-password", "create", "alice", "frame", "--read-only", "--folder", "/Photos"];
    ok(&server.cli(&args));
    let (_, full) = create_app_password(server.dir(), "alice", "laptop");
    let scoped = {
        let out = ok(&server.cli(&[
            "app-password",
            "create",
            "alice",
            "camera",
            "--upload-only",
            "--json",
        ]));
        let created: Value = serde_json::from_str(&out).unwrap();
        created["password"].as_str().unwrap().to_string()
    };
    assert_eq!(server.probe("alice", &scoped), 207, "it opens WebDAV");
    for password in [&scoped, &full] {
        // The pages answer as to a stranger: the sign-in form (the profile redirects to it).
        for path in ["/", "/profile"] {
            let page = server.as_user("alice", password, "GET", path).send().unwrap();
            assert_eq!(page.status().as_u16(), 200, "{path}");
            let html = page.text().unwrap();
            assert!(html.contains("name=\"password\""), "{path}: the sign-in form");
            assert!(!html.contains("/logout") && !html.contains("app-password-list"), "{path}");
        }
        for path in ["/api/v1/session", "/api/v1/me/app-passwords"] {
            let res = server.as_user("alice", password, "GET", path).send().unwrap();
            assert_eq!(res.status().as_u16(), 401, "{path}");
            let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
            assert_eq!(body["error"], "signed_out", "{path}");
        }
    }
}

#[test]
fn the_settings_page_shows_and_changes_the_four_policy_settings_with_their_units() {
    let server = TestServer::start();
    let mut admin = Visitor::admin(&server);
    let page = admin.get("/admin/settings");
    page.shows(200, &["Longest app password lifetime", "Unused app passwords expire after"]);
    page.shows(200, &["Activation window", "App passwords per user (at most, 1 to 10000)"]);
    page.shows(200, &["d (days), h (hours)"]);
    assert_eq!(page.value("app_credentials_max_ttl"), "365d");
    assert_eq!(page.value("app_credentials_idle_ttl"), "off");
    assert_eq!(page.value("app_credentials_activation_window"), "off");
    assert_eq!(page.value("app_credentials_max_per_user"), "50");

    admin
        .post(
            "/admin/settings",
            &[
                ("app_credentials_ttl", "90d"),
                ("app_credentials_max_ttl", "180d"),
                ("app_credentials_idle_ttl", "30d"),
                ("app_credentials_activation_window", "12h"),
                ("app_credentials_max_per_user", "5"),
                ("login_max_failures", "10"),
                ("lock_timeout", "10m"),
                ("durability", "fsync"),
                ("login_throttle", "true"),
            ],
        )
        .redirects_to("/admin/settings?done=saved");
    let shown = ok(&server.cli(&["settings", "get"]));
    for line in ["max_ttl = 180d", "idle_ttl = 30d", "window = 12h", "per_user = 5"] {
        assert!(shown.contains(line), "{line} in:\n{shown}");
    }
    let page = admin.get("/admin/settings");
    assert_eq!(page.value("app_credentials_max_per_user"), "5");
    assert_eq!(page.value("app_credentials_activation_window"), "12h");

    let refused = admin.post(
        "/admin/settings",
        &[("app_credentials_idle_ttl", "soon"), ("app_credentials_max_per_user", "0")],
    );
    refused.shows(400, &["1 to 10000"]);
    let page = admin.get("/admin/settings");
    assert_eq!(page.value("app_credentials_idle_ttl"), "30d", "a refused value changes nothing");
    assert_eq!(page.value("app_credentials_max_per_user"), "5");

    let mut fr = Visitor::speaking(&server, "fr");
    fr.sign_in("admin", &first_admin_password(&server));
    fr.get("/admin/settings").shows(200, &["Délai d’activation", "au plus, de 1 à 10000"]);
}

#[test]
fn davgate_status_counts_the_refusals_of_an_address_limit_and_scoped_refusals_read_in_one_line() {
    let server = TestServer::start();
    server.add_user("alice");
    let args = ["app-password", "create", "alice", "office", "--allow-from", "10.0.0.0/8"];
    let office: Value = {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&ok(&server.cli(&args))).unwrap()
    };
    let office = office["password"].as_str().unwrap();
    assert_eq!(server.probe("alice", office), 401);
    assert_eq!(server.probe("alice", office), 401);
    let shown = ok(&server.cli(&["status"]));
    assert!(shown.contains("refused by an app password's address limit: 2"), "{shown}");
    let json: Value = serde_json::from_str(&ok(&server.cli(&["status", "--json"]))).unwrap();
    assert_eq!(json["address_refusals"], 2, "{json}");

    let args = ["app-password", "create", "alice", "frame", "--read-only", "--json"];
    let frame: Value = serde_json::from_str(&ok(&server.cli(&args))).unwrap();
    let put = server.as_user("alice", frame["password"].as_str().unwrap(), "PUT", "/dav/a.txt");
    let res = put.body("x").send().unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let text = res.text().unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains("read-only") && text.contains("nothing can be saved"), "{text}");
}
