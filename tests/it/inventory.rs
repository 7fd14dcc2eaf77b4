//! The admin inventory: every user's app passwords in one list (API, CSV, CLI, the page),
//! filtered, and the bulk revoke that revokes a set only when its size is the one confirmed.

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use crate::util::*;

const API: &str = "/api/v1";
const EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19041";
/// A name a spreadsheet would run as a formula.
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";

/// A signed-in web session.
struct Session<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
}

impl<'a> Session<'a> {
    fn open(server: &'a TestServer, user: &str, password: &str) -> Self {
        let res = server
            .request("POST", &format!("{API}/session"))
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .expect("sign in");
        assert_eq!(res.status(), 200);
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().expect("body")).expect("JSON");
        let csrf = body["csrf_token"].as_str().expect("csrf_token").to_string();
        Session { server, cookie, csrf }
    }

    fn admin(server: &'a TestServer) -> Self {
        Self::open(server, "admin", &first_admin_password(server))
    }

    fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.server
            .request(method, path)
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
    }

    /// GET an API path: (status, body text).
    fn get(&self, path: &str) -> (u16, String) {
        let res = self.request("GET", &format!("{API}{path}")).send().expect("GET");
        (res.status().as_u16(), res.text().expect("body"))
    }

    fn json(&self, path: &str) -> Value {
        let (status, text) = self.get(path);
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    fn revoke(&self, body: Value) -> (u16, Value) {
        let res = self
            .request("POST", &format!("{API}/app-passwords/revoke"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("POST");
        let status = res.status().as_u16();
        (status, serde_json::from_str(&res.text().expect("body")).expect("JSON"))
    }
}

/// The ids of a listing, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

/// alice: "laptop" used by Windows Explorer, and a formula-named one never used; bob: a
/// read-only password confined to /Scans, never used. Answers (laptop, formula, scanner) as
/// (id, password).
fn three_passwords(server: &TestServer) -> [(String, String); 3] {
    server.add_user("alice");
    server.add_user("bob");
    let laptop = create_app_password(server.dir(), "alice", "laptop");
    let formula = create_app_password(server.dir(), "alice", FORMULA);
    let out = ok(&server.cli(&[
        "app-password",
        "create",
        "bob",
        "scanner",
        "--read-only",
        "--folder",
        "/Scans",
        "--json",
    ]));
    let made: Value = serde_json::from_str(&out).expect("JSON");
    let scanner =
        (made["id"].as_str().unwrap().to_string(), made["password"].as_str().unwrap().to_string());
    let res = server
        .as_user("alice", &laptop.1, "PROPFIND", "/dav/")
        .header("Depth", "0")
        .header("User-Agent", EXPLORER)
        .send();
    assert_eq!(status(res), 207);
    // The first use is recorded before the answer; the listing sees it.
    [laptop, formula, scanner]
}

#[test]
fn an_admin_lists_every_users_app_passwords_filtered_in_the_api_and_the_cli() {
    let server = TestServer::start();
    let [laptop, formula, scanner] = three_passwords(&server);
    let admin = Session::admin(&server);
    let all = admin.json("/app-passwords");
    assert_eq!((&all["total"], &all["revocable"]), (&json!(3), &json!(3)), "{all}");
    assert_eq!(ids(&all["app_passwords"]).len(), 3);
    let listed =
        |query: &str| ids(&admin.json(&format!("/app-passwords?{query}"))["app_passwords"]);
    assert_eq!(listed("never_used=true"), vec![formula.0.clone(), scanner.0.clone()]);
    assert_eq!(listed("user=alice"), vec![laptop.0.clone(), formula.0.clone()]);
    assert_eq!(listed("access_method=windows%20explorer"), vec![laptop.0.clone()]);
    assert_eq!(listed("access_method=none"), vec![formula.0.clone(), scanner.0.clone()]);
    assert_eq!(listed("scope=read_only,folder"), vec![scanner.0.clone()]);
    assert_eq!(listed("scope=whole_home&user=alice").len(), 2);
    assert_eq!(listed("status=active").len(), 3);
    assert!(listed("status=revoked").is_empty());
    assert!(listed("created_before=2000-01-01").is_empty());
    assert_eq!(listed("created_before=2999-01-01").len(), 3);
    assert_eq!(listed("used_before=2999-01-01"), vec![laptop.0.clone()]);
    assert!(listed("used_before=2000-01-01T00:00:00Z").is_empty());
    let page = admin.json("/app-passwords?limit=1&offset=1");
    assert_eq!((&page["total"], ids(&page["app_passwords"])), (&json!(3), vec![formula.0.clone()]));
    for bad in ["status=gone", "scope=everything", "used_before=yesterday", "user=a/b"] {
        let (status, text) = admin.get(&format!("/app-passwords?{bad}"));
        assert_eq!(status, 400, "{bad}: {text}");
    }
    let (status, _) = admin.get("/app-passwords?user=ghost");
    assert_eq!(status, 404, "an unknown user is said so");

    // The CLI shows the same set, through the running server's socket.
    let out = ok(&server.cli(&["app-password", "list", "--all-users", "--never-used", "--json"]));
    let cli: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(ids(&cli), vec![formula.0.clone(), scanner.0.clone()]);
    let out = ok(&server.cli(&["app-password", "list", "--all-users", "--scope", "read_only"]));
    assert!(out.contains("scanner") && out.contains("bob") && !out.contains("laptop"), "{out}");
    let refused = refused(&server.cli(&["app-password", "list", "--all-users", "--status", "x"]));
    assert!(refused.contains("not a status"), "{refused}");
    let help = ok(&server.cli(&["app-password", "list", "--help"]));
    for flag in ["--all-users", "--never-used", "--used-before", "--created-before", "--csv"] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}

#[test]
fn the_csv_export_holds_the_set_and_defuses_cells_that_read_as_formulas() {
    let server = TestServer::start();
    let [laptop, formula, _] = three_passwords(&server);
    let admin = Session::admin(&server);
    let res = admin.request("GET", &format!("{API}/app-passwords.csv?user=alice")).send().unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let csv = res.text().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "a header and two passwords: {csv}");
    assert!(lines[0].starts_with("user,id,name,access_method,access,folder"), "{}", lines[0]);
    assert!(
        lines[1].starts_with(&format!("alice,{},laptop,Windows Explorer,read_write,", laptop.0))
    );
    let defused =
        format!("alice,{},\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",", formula.0);
    assert!(lines[2].starts_with(&defused), "{}", lines[2]);
    assert!(!csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"), "{csv}");
    let (status, same) = admin.get("/app-passwords?user=alice&format=csv");
    assert_eq!((status, same), (200, csv.clone()), "?format=csv is the same export");
    let cli = ok(&server.cli(&["app-password", "list", "--all-users", "--user", "alice", "--csv"]));
    assert_eq!(cli, csv, "the CLI writes the same bytes");
}

#[test]
fn a_bulk_revoke_refuses_a_wrong_count_and_revokes_the_set_for_the_right_one() {
    let server = TestServer::start();
    let [laptop, formula, scanner] = three_passwords(&server);
    let admin = Session::admin(&server);
    let (status, body) = admin.revoke(json!({ "never_used": true, "expected_count": 3 }));
    assert_eq!(status, 409, "{body}");
    assert_eq!((&body["error"], &body["actual_count"]), (&json!("count_differs"), &json!(2)));
    let active = admin.json("/app-passwords?status=active");
    assert_eq!(active["total"], 3, "nothing was revoked: {active}");

    let (status, body) = admin.revoke(json!({ "never_used": true, "expected_count": 2 }));
    assert_eq!((status, &body["revoked"]), (200, &json!(2)), "{body}");
    assert_eq!(server.probe("alice", &formula.1), 401, "a revoked password opens nothing");
    assert_eq!(server.probe("bob", &scanner.1), 401);
    assert_eq!(server.probe("alice", &laptop.1), 207, "the used one still works");
    let revoked = admin.json("/app-passwords?status=revoked");
    assert_eq!(ids(&revoked["app_passwords"]), vec![formula.0.clone(), scanner.0.clone()]);
    // Revoked ones are no longer revocable: the same filter now holds none to revoke.
    assert_eq!(admin.json("/app-passwords?never_used=true")["revocable"], 0);

    // Each revocation is in the audit log, by the admin, as one revoke is.
    let events = admin.json("/audit?user=bob");
    let event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "app_password_revoked")
        .cloned()
        .expect("a revoked event for bob's password");
    assert_eq!((&event["actor_kind"], &event["actor"]), (&json!("admin"), &json!("admin")));
    assert_eq!(event["app_password"], scanner.0.as_str());

    // The CLI's bulk revoke: a wrong --expect revokes nothing; the right one revokes.
    let wrong = refused(&server.cli(&[
        "app-password",
        "revoke",
        "--all-users",
        "--user",
        "alice",
        "--expect",
        "5",
    ]));
    assert!(wrong.contains("hold 1 app password(s) to revoke, not 5"), "{wrong}");
    assert_eq!(server.probe("alice", &laptop.1), 207);
    let out = ok(&server.cli(&[
        "app-password",
        "revoke",
        "--all-users",
        "--user",
        "alice",
        "--expect",
        "1",
    ]));
    assert!(out.contains("Revoked 1 app password(s)"), "{out}");
    assert_eq!(server.probe("alice", &laptop.1), 401);
    let needs = server.cli(&["app-password", "revoke", "--all-users"]);
    let stderr = String::from_utf8_lossy(&needs.stderr);
    assert!(!needs.status.success() && stderr.contains("--expect"), "needs its count: {stderr}");
}

#[test]
fn a_non_admin_gets_403_on_the_inventory_and_its_bulk_revoke() {
    let server = TestServer::start();
    let [laptop, ..] = three_passwords(&server);
    add_user_with_password(&server, "carol", "carol-primary-password-1");
    let carol = Session::open(&server, "carol", "carol-primary-password-1");
    for path in ["/app-passwords", "/app-passwords.csv", "/app-passwords?format=csv"] {
        assert_eq!(carol.get(path).0, 403, "{path}");
    }
    let (status, body) = carol.revoke(json!({ "expected_count": 3 }));
    assert_eq!((status, &body["error"]), (403, &json!("forbidden")));
    let page = carol.request("GET", "/admin/app-passwords").send().unwrap();
    assert_eq!(page.status(), 403);
    let post = carol
        .request("POST", "/admin/app-passwords/revoke")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}&expected_count=3", carol.csrf))
        .send()
        .unwrap();
    assert_eq!(post.status(), 403);
    assert_eq!(server.probe("alice", &laptop.1), 207, "nothing was revoked");
}

#[test]
fn the_app_passwords_screen_filters_and_confirms_a_bulk_revoke_by_its_number() {
    let server = TestServer::start();
    let [laptop, formula, scanner] = three_passwords(&server);
    let admin = Session::admin(&server);
    let page = |path: &str| {
        let res = admin.request("GET", path).send().unwrap();
        (res.status().as_u16(), res.text().unwrap())
    };
    let (status, html) = page("/admin/app-passwords?never_used=true");
    assert_eq!(status, 200);
    assert!(html.contains("Matching app passwords: 2"), "{html}");
    assert!(html.contains("Revoke these 2"), "{html}");
    assert!(html.contains("/api/v1/app-passwords.csv?never_used=true"), "{html}");
    assert!(html.contains(&scanner.0) && html.contains(&formula.0) && !html.contains(&laptop.0));
    assert!(html.contains("href=\"/admin/app-passwords\""), "the nav links the screen");
    let fr = server
        .request("GET", "/admin/app-passwords?never_used=true")
        .header("Cookie", format!("davgate_session={}; davgate_lang=fr", admin.cookie))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(fr.contains("Mots de passe d’application correspondants : 2"), "{fr}");
    assert!(fr.contains("Révoquer ces 2"), "{fr}");
    let (status, confirm) = page("/admin/app-passwords/revoke?never_used=true");
    assert_eq!(status, 200);
    assert!(confirm.contains("Revoke these 2 app passwords?"), "{confirm}");
    let post = |count: usize| {
        admin
            .request("POST", "/admin/app-passwords/revoke")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("csrf={}&never_used=true&expected_count={count}", admin.csrf))
            .send()
            .unwrap()
    };
    let changed = post(3);
    assert_eq!(changed.status(), 409);
    assert!(changed.text().unwrap().contains("it now holds 2 app passwords to revoke"));
    assert_eq!(server.probe("bob", &scanner.1), 207, "nothing was revoked");
    let forged = admin
        .request("POST", "/admin/app-passwords/revoke")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=wrong&never_used=true&expected_count=1")
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403, "the form needs the session's CSRF token");
    // Bob's scanner is used now (the probe above): the never-used set holds one.
    let done = post(1);
    // Answered with a redirect (followed here) back to the same filtered screen.
    assert_eq!(done.status(), 200);
    let landed = done.url().clone();
    assert_eq!(landed.path(), "/admin/app-passwords");
    assert!(landed.query().unwrap_or_default().contains("revoked=1"), "{landed}");
    assert!(done.text().unwrap().contains("App passwords revoked: 1."));
    assert_eq!(server.probe("alice", &formula.1), 401);
    assert_eq!(server.probe("alice", &laptop.1), 207);
}
