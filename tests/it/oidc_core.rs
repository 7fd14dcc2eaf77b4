//! Single sign-on as far as it can be met without an identity provider: the provider settings
//! the CLI refuses, an `sso` account's password that never signs in, the re-authentication
//! rule on the server's clock, and the flow routes' pages when no flow exists. The flows
//! against a real OpenID Provider are in the OP-driven tests.

use crate::util::*;
use reqwest::blocking::Client;
use serde_json::json;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// `oidc add ID` with the secret on standard input, on `server`.
fn add_provider(server: &TestServer, id: &str, issuer: &str) -> std::process::Output {
    let args = ["oidc", "add", id, "--issuer", issuer, "--client-id", "davgate"];
    let mut args = args.to_vec();
    args.push("--client-secret-stdin");
    server.cli_with_stdin(&args, "the-client-secret\n")
}

#[test]
fn oidc_add_refuses_a_shared_entra_issuer_and_plain_http_off_loopback_in_one_line() {
    let server = TestServer::start();
    for (issuer, words) in [
        ("https://login.microsoftonline.com/common/v2.0", "tenant's issuer"),
        ("https://login.microsoftonline.com/organizations/v2.0", "tenant's issuer"),
        ("https://login.microsoftonline.com/consumers/v2.0", "tenant's issuer"),
        ("http://idp.example.com", "must use https"),
    ] {
        let out = add_provider(&server, "corp", issuer);
        let message = refused(&out);
        assert!(message.contains(words), "{issuer}: {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
    let listed = ok(&server.cli(&["oidc", "list"]));
    assert!(listed.contains("No identity provider"), "{listed}");
}

#[test]
fn a_providers_secret_is_never_shown_back() {
    let server = TestServer::start();
    ok(&add_provider(&server, "corp", "http://127.0.0.2:9"));
    for args in [&["oidc", "list"][..], &["oidc", "list", "--json"][..]] {
        let listed = ok(&server.cli(args));
        assert!(listed.contains("corp"), "{listed}");
        assert!(!listed.contains("the-client-secret"), "{listed}");
    }
    assert!(!server.log().contains("the-client-secret"));
    // Its discovery fails (nothing listens there): the server keeps serving, no link offered.
    let page = server.request("GET", "/").send().unwrap().text().unwrap();
    assert!(!page.contains("/auth/oidc/login"), "an unavailable provider was offered");
}

#[test]
fn an_sso_accounts_password_gets_the_wrong_password_answer_on_the_page_and_the_api() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-password-1");
    let browser = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = |password: &str| {
        let res = browser
            .post(format!("{}/login", server.base))
            .form(&[("user", "alice"), ("password", password)])
            .send()
            .unwrap();
        let status = res.status().as_u16();
        (status, session_cookie(res.headers()).is_some(), res.text().unwrap())
    };
    let api = |password: &str| {
        let body = json!({ "user": "alice", "password": password }).to_string();
        let req =
            server.request("POST", "/api/v1/session").header("Content-Type", "application/json");
        let res = req.body(body).send().unwrap();
        (res.status().as_u16(), res.text().unwrap())
    };
    assert!(page("alice-password-1").1, "a password account signs in");
    let (wrong_status, _, wrong_page) = page("not-her-password");
    let (wrong_api_status, wrong_api) = api("not-her-password");

    ok(&server.cli(&["user", "login-method", "alice", "sso"]));
    let (status, session, text) = page("alice-password-1");
    assert_eq!((status, session), (wrong_status, false));
    assert_eq!(text, wrong_page, "the page must not tell an sso account apart");
    assert_eq!(api("alice-password-1"), (wrong_api_status, wrong_api));

    ok(&server.cli(&["user", "login-method", "alice", "both"]));
    assert!(page("alice-password-1").1, "break-glass: both signs in with the password");
}

#[test]
fn the_callback_without_a_flow_is_a_page_not_a_session() {
    let server = TestServer::start();
    let res = server.request("GET", "/auth/oidc/callback?code=x&state=y").send().unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(session_cookie(res.headers()).is_none());
    let text = res.text().unwrap();
    assert!(text.contains("started in another browser"), "{text}");
    let res = server
        .request("GET", "/auth/oidc/login?provider=nobody")
        .header("Accept-Language", "fr")
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.text().unwrap().contains("commencée dans un autre navigateur"));
}

/// A server in this process on a clock the test moves (as tests/it/clock.rs does).
struct Clocked {
    server: InProcess,
    client: Client,
}

impl std::ops::Deref for Clocked {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.server
    }
}

impl Clocked {
    fn start() -> Self {
        let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { server: InProcess::start(|_| {}), client }
    }

    fn cli(&self, args: &[&str]) -> String {
        ok(&cli(self.data.path(), args))
    }

    fn probe(&self, user: &str, password: &str) -> u16 {
        let method = reqwest::Method::from_bytes(b"PROPFIND").unwrap();
        let req = self.client.request(method, format!("{}/dav/", self.base)).header("Depth", "0");
        status(req.basic_auth(user, Some(password)).send())
    }
}

#[test]
fn an_sso_accounts_app_passwords_stop_once_its_owner_has_not_signed_in_for_the_interval() {
    let server = Clocked::start();
    let secret_file = server.data.path().join("secret");
    std::fs::write(&secret_file, "s\n").unwrap();
    let file = secret_file.to_str().unwrap();
    let provider = ["oidc", "add", "corp", "--issuer", "http://127.0.0.2:9", "--client-id", "x"];
    server.cli(&[&provider[..], &["--client-secret-file", file]].concat());
    server.cli(&["user", "add", "carol", "--sso", "corp", "--subject", "sub-carol"]);
    server.cli(&["user", "add", "alice"]);
    server.cli(&["settings", "set", "sso_reauth_interval", "2d"]);
    let (_, carols) = create_app_password(server.data.path(), "carol", "laptop");
    let (_, alices) = create_app_password(server.data.path(), "alice", "laptop");
    assert_eq!(server.probe("carol", &carols), 207, "verified, and cached from now on");

    server.clock.advance(DAY);
    assert_eq!(server.probe("carol", &carols), 207, "one day without a sign-in");
    server.clock.advance(DAY + Duration::from_secs(1));
    assert_eq!(server.probe("carol", &carols), 401, "cached, yet past the interval");
    assert_eq!(server.probe("carol", &carols), 401, "and every retry after");
    assert_eq!(server.probe("alice", &alices), 207, "a password account is not concerned");

    // The rule is off with 0, and concerns only accounts that sign in through the provider.
    server.cli(&["settings", "set", "sso_reauth_interval", "0"]);
    assert_eq!(server.probe("carol", &carols), 207);
    server.cli(&["settings", "set", "sso_reauth_interval", "1d"]);
    assert_eq!(server.probe("carol", &carols), 401);
    server.cli(&["user", "login-method", "carol", "both"]);
    assert_eq!(server.probe("carol", &carols), 207);
}
