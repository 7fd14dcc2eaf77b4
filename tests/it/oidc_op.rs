//! The test OpenID Provider (tests/oidc-op/test-op.mjs: panva's `oidc-provider`, a real,
//! certified authorization server) as a fixture; tests/it/oidc_client.rs signs in through it.
//!
//! The provider listens on 127.0.0.2, davgate on 127.0.0.1: two sites for a browser, as a real
//! identity provider is (SameSite ignores ports). It needs Node.js and `npm ci --prefix
//! tests/oidc-op` (.ci/run does both); without node the tests are skipped, except in CI.

use reqwest::blocking::Client;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The client the provider registers (the secret is the test script's, public on purpose).
pub const CLIENT_ID: &str = "davgate";
pub const CLIENT_SECRET: &str = "test-secret";
/// The provider's life bound (the script also ends when the test process goes away).
const LIFETIME_SECONDS: &str = "900";

/// Whether the provider can run. Node.js missing skips the test with a message, unless in CI
/// (`CI=true`), where a missing tool is a failure; node present without the npm packages is a
/// failure everywhere (the fix is one command).
pub fn available() -> bool {
    if Command::new("node").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "node is not installed, and CI=true: .ci/run installs it (apt-get install nodejs npm)"
            );
        }
        eprintln!("OpenID Connect test skipped: node is not installed (.ci/run installs it)");
        return false;
    }
    assert!(
        op_dir().join("node_modules/oidc-provider").is_dir(),
        "the test OpenID Provider's packages are missing: run npm ci --prefix tests/oidc-op"
    );
    true
}

fn op_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-op")
}

/// A running test provider, killed (by its PID) when dropped.
pub struct TestOp {
    child: Child,
    /// Held open: the script exits when it closes, so a test killed before Drop leaves nothing.
    _stdin: ChildStdin,
    /// `http://127.0.0.2:PORT`, from the script's first stdout line.
    pub issuer: String,
    log: tempfile::NamedTempFile,
    http: Client,
}

impl TestOp {
    /// Starts a provider knowing `users` (login → claims; a login not listed gets
    /// `LOGIN@example.com`, verified, no group) that sends codes to `redirect_uris` only.
    /// None when [`available`] says to skip.
    pub fn start(users: &Value, redirect_uris: &[&str]) -> Option<Self> {
        if !available() {
            return None;
        }
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("node")
            .arg(op_dir().join("test-op.mjs"))
            .env("OP_USERS", users.to_string())
            .env("OP_REDIRECT_URIS", redirect_uris.join(","))
            .env("OP_CLIENT_ID", CLIENT_ID)
            .env("OP_CLIENT_SECRET", CLIENT_SECRET)
            .env("OP_LIFETIME_SECONDS", LIFETIME_SECONDS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start node tests/oidc-op/test-op.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            lines.for_each(drop); // keep the pipe drained
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).ok().flatten();
        let Some(issuer) = first.as_deref().and_then(|l| l.strip_prefix("test OP listening: "))
        else {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the test OP did not start (first line {first:?}); its stderr:\n{err}");
        };
        let issuer = issuer.trim().to_string();
        let http = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Some(Self { child, _stdin: stdin, issuer, log, http })
    }

    /// What the provider printed on stderr (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Its discovery document.
    pub fn discovery(&self) -> Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let res = self.http.get(url).send().unwrap();
        assert_eq!(res.status(), 200, "discovery");
        json_of(res)
    }

    fn hook(&self, path: &str, body: &Value) {
        let url = format!("{}/_test/{path}", self.issuer);
        let res = self.http.post(url).body(body.to_string()).send().unwrap();
        assert_eq!(res.status(), 204, "/_test/{path}: {}", self.log());
    }

    /// Merges `claims` into the payload of the next ID token the provider issues, re-signed
    /// with its key: `{"iss": "http://evil"}`, `{"exp": 1000000000}`, `{"nonce": "x"}`.
    pub fn tamper(&self, claims: &Value) {
        self.hook("tamper", claims);
    }

    /// Replaces what the provider knows of `login` from now on; `{"disabled": true}` refuses
    /// its sign-ins and its refresh tokens (`invalid_grant`).
    pub fn set_user(&self, login: &str, claims: &Value) {
        self.hook("user", &serde_json::json!({ "login": login, "claims": claims }));
    }

    /// A new signing key with a new key id; the old key leaves the provider's JWKS.
    pub fn rotate_key(&self) {
        self.hook("rotate", &Value::Null);
    }
}

/// A JSON answer's body.
pub fn json_of(res: reqwest::blocking::Response) -> Value {
    let text = res.text().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

impl Drop for TestOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (davgate's, chosen before the provider must know its
/// redirect URI).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A PKCE pair (verifier, S256 challenge), as an RP makes one.
fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let hash = sha2::Sha256::digest(verifier.as_bytes());
    (verifier, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash))
}

/// The payload and header of a JWT, unverified (the provider's own token, read back).
fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let part = |i: usize| -> Value {
        let b64 = token.split('.').nth(i).expect("a JWT");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).expect("base64url");
        serde_json::from_slice(&raw).expect("JSON")
    };
    (part(0), part(1))
}

/// An authorization request to `op` as an RP makes one (PKCE S256, state `the-state`, nonce
/// `the-nonce`), sending the code to `callback`: (its address, the PKCE verifier).
pub fn authorization_request(op: &TestOp, callback: &str) -> (String, String) {
    let discovery = op.discovery();
    let (verifier, challenge) = pkce();
    let mut url =
        reqwest::Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", callback)
        .append_pair("scope", "openid email profile groups")
        .append_pair("state", "the-state")
        .append_pair("nonce", "the-nonce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    (url.to_string(), verifier)
}

/// What an RP does by hand: an authorization request for `login` through the headless client
/// (up to the redirect to the callback, not followed: nothing listens there), then the code
/// exchange. Returns the callback's address and the token answer.
fn code_flow(op: &TestOp, callback: &str, login: &str) -> (String, Value) {
    let discovery = op.discovery();
    let (url, verifier) = authorization_request(op, callback);
    let back = crate::oidc_client::Headless::new().authorize(&url, login);
    let code = crate::oidc_client::query_param(&back, "code").unwrap_or_else(|| panic!("{back}"));
    let res = Client::new()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", callback),
            ("code_verifier", &verifier),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200, "code exchange");
    (back, json_of(res))
}

/// The harness itself, today, without davgate's side: the provider starts on 127.0.0.2, its
/// discovery is what davgate relies on, the headless sign-in ends at the callback with `code`,
/// `state` and `iss`, and every hook (tamper, disable, rotate) changes what it answers.
#[test]
fn the_test_provider_signs_a_person_in_and_sends_them_back_with_code_state_and_iss() {
    let callback = format!("http://127.0.0.1:{}/auth/oidc/callback", free_port());
    let users = serde_json::json!({
        "carol": { "email": "carol@example.com", "email_verified": true, "groups": ["davgate-admins"] },
    });
    let Some(op) = TestOp::start(&users, &[&callback]) else { return };
    assert!(op.issuer.starts_with("http://127.0.0.2:"), "{}", op.issuer);
    let discovery = op.discovery();
    assert_eq!(discovery["issuer"], op.issuer.as_str());
    assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);

    let (back, tokens) = code_flow(&op, &callback, "carol");
    assert!(back.starts_with(&format!("{callback}?")), "back to {back}");
    assert_eq!(crate::oidc_client::query_param(&back, "state").as_deref(), Some("the-state"));
    assert_eq!(crate::oidc_client::query_param(&back, "iss").as_deref(), Some(op.issuer.as_str()));
    let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!((&claims["sub"], &claims["iss"]), (&"carol".into(), &op.issuer.as_str().into()));
    assert_eq!(claims["nonce"], "the-nonce");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["groups"], serde_json::json!(["davgate-admins"]));
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();

    // The next ID token alone is tampered, and still signed by the provider's key.
    op.tamper(&serde_json::json!({ "iss": "http://evil.example", "exp": 1_000_000_000 }));
    let (_, tampered) = code_flow(&op, &callback, "carol");
    let (again, claims) = jwt_parts(tampered["id_token"].as_str().unwrap());
    assert_eq!(
        (&claims["iss"], &claims["exp"]),
        (&"http://evil.example".into(), &1_000_000_000.into())
    );
    assert_eq!(again["kid"], header["kid"]);
    let (_, clean) = code_flow(&op, &callback, "carol");
    assert_eq!(jwt_parts(clean["id_token"].as_str().unwrap()).1["iss"], op.issuer.as_str());

    // A new key: a new kid in the JWKS and on the next token.
    op.rotate_key();
    let (_, rotated) = code_flow(&op, &callback, "carol");
    let kid = jwt_parts(rotated["id_token"].as_str().unwrap()).0["kid"].clone();
    assert_ne!(kid, header["kid"]);
    let jwks = json_of(Client::new().get(discovery["jwks_uri"].as_str().unwrap()).send().unwrap());
    assert_eq!(
        jwks["keys"].as_array().map(|k| k.iter().map(|k| &k["kid"]).collect::<Vec<_>>()),
        Some(vec![&kid])
    );

    // The refresh token works until the provider disables carol: then `invalid_grant`.
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap().to_string();
    let refresh_with = |token: &str| {
        Client::new()
            .post(&token_endpoint)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
            .unwrap()
    };
    let refreshed = refresh_with(&refresh);
    let status = refreshed.status();
    let answer = json_of(refreshed);
    assert_eq!(status, 200, "refresh before the user is disabled: {answer}\n{}", op.log());
    // A rotated refresh token replaces the old one, if the provider rotates it.
    let refresh = answer["refresh_token"].as_str().map_or(refresh, str::to_string);
    op.set_user("carol", &serde_json::json!({ "disabled": true }));
    let refused = refresh_with(&refresh);
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused)["error"], "invalid_grant");
}
