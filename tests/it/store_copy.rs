//! `davgate store copy`: an embedded store moved into PostgreSQL keeps every account, app
//! password, second factor, setting and dead property; a non-empty target or a source a
//! server holds is refused in one line.

use davgate::internal::TestDatabase;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

use crate::util::{TestServer, cli, ok, refused, session_cookie};

const NS: &str = "http://example.com/davgate-test/";

/// The CLI on the redb file of `dir`, whatever store the suite runs on.
fn on_redb(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--store", "redb"];
    all.extend_from_slice(args);
    cli(dir, &all)
}

/// The CLI on the PostgreSQL store `url`, from a data directory of its own.
fn on_pg(url: &str, args: &[&str]) -> Output {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut all = vec!["--store", url];
    all.extend_from_slice(args);
    cli(elsewhere.path(), &all)
}

fn copy(from: &Path, url: &str) -> Output {
    let from = format!("redb:{}", from.display());
    let elsewhere = tempfile::tempdir().unwrap();
    cli(elsewhere.path(), &["store", "copy", "--from", &from, "--to", url])
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// `listing` with every time cut to microseconds, as PostgreSQL keeps them (redb keeps
/// nanoseconds): "12:16:07.705528198Z" → "12:16:07.705528Z".
fn in_micros(listing: &str) -> String {
    let mut out = String::with_capacity(listing.len());
    let mut digits = None::<usize>;
    for c in listing.chars() {
        match (c, digits) {
            ('.', _) => digits = Some(0),
            (d, Some(n)) if d.is_ascii_digit() => {
                digits = Some(n + 1);
                if n >= 6 {
                    continue;
                }
            }
            _ => digits = None,
        }
        out.push(c);
    }
    out
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A web session: POST /api/v1/session, then calls with its cookie and CSRF token.
struct Web<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
}

impl<'a> Web<'a> {
    /// Signs in; answers the session and whether a second factor is asked.
    fn login(server: &'a TestServer, user: &str, password: &str) -> (Self, bool) {
        let body = json!({ "user": user, "password": password }).to_string();
        let res = server
            .request("POST", "/api/v1/session")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        (Web { server, cookie, csrf }, body["second_factor_required"] == true)
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request: RequestBuilder = self
            .server
            .request("POST", &format!("/api/v1{path}"))
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        let res = request.send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn totp_code(secret: &[u8], at: u64) -> String {
    davgate::internal::totp_code_at(secret, at).unwrap()
}

#[test]
fn an_embedded_store_copied_to_postgres_keeps_its_app_passwords_second_factors_settings_and_properties()
 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDatabase::create()) else { return };
    let url = db.url().to_string();

    // Made on the embedded store, through a running server and its socket.
    let mut embedded = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", "redb"]);
    let dir = embedded.dir().to_path_buf();
    let primary = "alice-primary-password-1";
    ok(&embedded.cli_with_stdin(
        &["--store", "redb", "user", "add", "alice", "--password-stdin"],
        &format!("{primary}\n"),
    ));
    ok(&on_redb(&dir, &["user", "quota", "alice", "5M"]));
    let (web, second) = Web::login(&embedded, "alice", primary);
    assert!(!second);
    let (status, enrolment) = web.post("/me/totp", json!({}));
    assert_eq!(status, 200, "{enrolment}");
    let key = enrolment["manual_key"].as_str().unwrap().replace(' ', "");
    let secret = totp_rs::Secret::try_from_base32(&key).unwrap().as_bytes().to_vec();
    let confirmed_at = unix_now();
    let (status, _) =
        web.post("/me/totp/confirm", json!({ "code": totp_code(&secret, confirmed_at) }));
    assert_eq!(status, 204);
    let created = json_of(&on_redb(&dir, &["app-password", "create", "alice", "laptop", "--json"]));
    let password = created["password"].as_str().unwrap().to_string();
    on_redb(&dir, &["app-password", "create", "alice", "old phone", "--json"]);
    ok(&on_redb(&dir, &["settings", "set", "lock_timeout", "7m"]));
    let put = embedded.as_user("alice", &password, "PUT", "/dav/notes.txt").body("hi").send();
    assert_eq!(crate::util::status(put), 201);
    let patch = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:color xmlns:x="{NS}">teal</x:color></D:prop></D:set></D:propertyupdate>"#
    );
    let res = embedded.as_user("alice", &password, "PROPPATCH", "/dav/notes.txt").body(patch);
    assert_eq!(crate::util::status(res.send()), 207);

    // The server holds the file: refused, and the target stays empty.
    let line = refused(&copy(&dir, &url));
    assert!(line.contains("stop the server first"), "{line}");
    embedded.terminate().expect("the embedded server stops");

    let users_before = in_micros(&ok(&on_redb(&dir, &["user", "list", "--json"])));
    let passwords_before =
        in_micros(&ok(&on_redb(&dir, &["app-password", "list", "alice", "--json"])));
    let settings_before = ok(&on_redb(&dir, &["settings", "get", "--json"]));
    let history = |out: &Output| -> Vec<(Value, Value, Value)> {
        let events = json_of(out);
        let events = events.as_array().cloned().unwrap_or_default();
        events
            .into_iter()
            .map(|e| (e["kind"].clone(), e["subject"].clone(), e["actor_kind"].clone()))
            .collect()
    };
    let audit_before = history(&on_redb(&dir, &["audit", "--json", "--limit", "200"]));
    assert!(!audit_before.is_empty());

    let copied = copy(&dir, &url);
    let stdout = ok(&copied);
    assert!(stdout.contains("copied 2 users, 2 app passwords"), "{stdout}");
    let progress = String::from_utf8_lossy(&copied.stderr);
    assert!(progress.contains("copying dead properties: 1/1"), "{progress}");

    assert_eq!(ok(&on_pg(&url, &["user", "list", "--json"])), users_before);
    let passwords = ok(&on_pg(&url, &["app-password", "list", "alice", "--json"]));
    assert_eq!(passwords, passwords_before);
    assert!(passwords.contains("\"first_used_at\": \"20"), "first use came along: {passwords}");
    assert_eq!(ok(&on_pg(&url, &["settings", "get", "--json"])), settings_before);
    let audit_after = history(&on_pg(&url, &["audit", "--json", "--limit", "200"]));
    assert_eq!(audit_after, audit_before, "the audit log came along, in order");

    // A server on the shared store: the same app password, property and second factor.
    let shared = TestServer::start_with(tempfile::tempdir().unwrap(), &["--store", &url]);
    std::fs::create_dir_all(shared.home("alice")).unwrap();
    std::fs::write(shared.home("alice").join("notes.txt"), "hi").unwrap();
    assert_eq!(shared.probe("alice", &password), 207);
    let res = shared.as_user("alice", &password, "PROPFIND", "/dav/notes.txt").header("Depth", "0");
    let xml = res.send().unwrap().text().unwrap();
    assert!(xml.contains("teal</"), "{xml}");
    let (pending, second) = Web::login(&shared, "alice", primary);
    assert!(second, "the second factor came along");
    let replay = json!({ "code": totp_code(&secret, confirmed_at) });
    assert_eq!(pending.post("/session/totp", replay).0, 401, "an accepted code stays spent");
    let now = unix_now();
    let next = if now / 30 > confirmed_at / 30 { now } else { now + 30 };
    assert_eq!(pending.post("/session/totp", json!({ "code": totp_code(&secret, next) })).0, 200);

    // Into a store that now has accounts: refused in one line, nothing changed.
    let again = copy(&dir, &url);
    assert_ne!(again.status.code(), Some(0));
    let line = refused(&again);
    assert!(line.contains("not empty"), "{line}");
    let after = json_of(&on_pg(&url, &["app-password", "list", "alice", "--json"]));
    assert_eq!(after.as_array().map(Vec::len), Some(2), "nothing copied twice: {after}");
}

#[test]
fn store_copy_explains_itself_and_refuses_a_source_that_is_not_redb() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&cli(dir.path(), &["store", "copy", "--help"]));
    assert!(help.contains("--from") && help.contains("empty PostgreSQL store"), "{help}");
    let to = "postgres://dg@127.0.0.1:1/db";
    let line = refused(&cli(dir.path(), &["store", "copy", "--from", "/x", "--to", to]));
    assert!(line.contains("redb:PATH"), "{line}");
    let from = format!("redb:{}", dir.path().display());
    let line = refused(&cli(dir.path(), &["store", "copy", "--from", &from, "--to", to]));
    assert!(line.contains("no davgate store"), "{line}");
}

#[test]
fn an_embedded_store_copied_to_postgres_keeps_its_identity_providers_and_linked_accounts() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDatabase::create()) else { return };
    let url = db.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let secret = "client-secret-copied-along";
    let add = [
        "oidc",
        "add",
        "corp",
        "--issuer",
        "https://idp.contoso.example",
        "--client-id",
        "davgate",
        "--client-secret-stdin",
        "--name",
        "Contoso",
        "--admin-groups",
        "admins",
        "--refresh-check",
    ];
    let mut args = vec!["--store", "redb"];
    args.extend_from_slice(&add);
    let mut cmd = crate::util::davgate(dir.path());
    cmd.args(&args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{secret}").unwrap();
    ok(&child.wait_with_output().unwrap());
    ok(&on_redb(dir.path(), &["user", "add", "carol", "--sso", "corp", "--subject", "carol-sub"]));
    let providers_before = ok(&on_redb(dir.path(), &["oidc", "list", "--json"]));
    let users_before = ok(&on_redb(dir.path(), &["user", "list", "--json"]));

    let stdout = ok(&copy(dir.path(), &url));
    assert!(stdout.contains("1 identity providers"), "{stdout}");
    assert_eq!(ok(&on_pg(&url, &["oidc", "list", "--json"])), providers_before);
    assert!(providers_before.contains("\"stored\"") && !providers_before.contains(secret));
    let users = ok(&on_pg(&url, &["user", "list", "--json"]));
    assert_eq!(in_micros(&users), in_micros(&users_before));
    assert!(users.contains("carol-sub"), "{users}");
}
