//! davgate set up for single sign-on against the test provider (tests/it/oidc_op.rs): the port
//! is chosen first, since the provider must know davgate's redirect URI
//! (`{public_url}/auth/oidc/callback`) and davgate the provider's issuer; the provider is added
//! with `davgate oidc add` before `serve` starts, so that discovery runs at start.

use crate::oidc_client::{Headless, Page};
use crate::oidc_op::{CLIENT_ID, CLIENT_SECRET, TestOp, free_port};
use crate::util::*;
use serde_json::{Value, json};
use std::path::Path;

/// The provider id and the name the sign-in page shows.
pub const PROVIDER: &str = "test";
pub const PROVIDER_NAME: &str = "Test IdP";

/// The provider's people: carol (verified, an admin group), bob (e-mail not verified), dave
/// (verified, another domain), erin (verified, a group not allowed). Anyone else signs in as
/// `LOGIN@example.com`, verified, in no group.
pub fn people() -> Value {
    json!({
        "carol": { "email": "carol@example.com", "email_verified": true,
                   "groups": ["davgate-staff", "davgate-admins"] },
        "bob": { "email": "bob@gmail.com", "email_verified": false, "groups": ["davgate-staff"] },
        "dave": { "email": "dave@other.test", "email_verified": true, "groups": ["davgate-staff"] },
        "erin": { "email": "erin@example.com", "email_verified": true, "groups": ["interns"] },
    })
}

/// Where davgate will listen, known before it starts; holds the client-secret file.
pub struct Site {
    pub port: u16,
    pub base: String,
    secrets: tempfile::TempDir,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    /// A free port on 127.0.0.1 and the secret file davgate reads the client secret from.
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let port = free_port();
        let secrets = tempfile::tempdir().unwrap();
        let file = secrets.path().join("client-secret");
        std::fs::write(&file, format!("{CLIENT_SECRET}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self { port, base: format!("http://127.0.0.1:{port}"), secrets }
    }

    /// davgate's redirect URI.
    pub fn callback(&self) -> String {
        format!("{}/auth/oidc/callback", self.base)
    }

    /// A test provider that sends codes to this site only; None: skipped (no node).
    pub fn provider(&self, people: &Value) -> Option<TestOp> {
        TestOp::start(people, &[&self.callback()])
    }

    /// `davgate oidc add ID --issuer … --client-id … --client-secret-file … --name NAME POLICY…`
    /// on the data directory `data`.
    pub fn add_provider(&self, data: &Path, id: &str, name: &str, op: &TestOp, policy: &[&str]) {
        let secret = self.secrets.path().join("client-secret");
        let mut args = vec!["oidc", "add", id, "--issuer", &op.issuer, "--client-id", CLIENT_ID];
        args.extend(["--client-secret-file", secret.to_str().unwrap(), "--name", name]);
        args.extend(policy);
        ok(&cli(data, &args));
    }

    /// `davgate serve` on this site's port with `--public-url`.
    pub fn serve(&self, data: tempfile::TempDir) -> TestServer {
        let listen = format!("127.0.0.1:{}", self.port);
        TestServer::start_on(data, &listen, &["--public-url", &self.base])
    }
}

/// davgate with the provider "test" ("Test IdP") and its test provider.
pub struct Sso {
    pub server: TestServer,
    pub op: TestOp,
    pub site: Site,
}

impl Sso {
    /// The provider with `policy` (`--auto-provision`, `--allowed-domains example.com`…) and
    /// [`people`]. None when the provider cannot run here (no node, outside CI).
    pub fn start(policy: &[&str]) -> Option<Self> {
        let site = Site::new();
        let op = site.provider(&people())?;
        let data = tempfile::tempdir().unwrap();
        site.add_provider(data.path(), PROVIDER, PROVIDER_NAME, &op, policy);
        let server = site.serve(data);
        wait_until_offered(&server.base, &[PROVIDER_NAME]);
        Some(Self { server, op, site })
    }

    pub fn base(&self) -> &str {
        &self.server.base
    }

    /// `login` signs in through the provider in a fresh browser, asking for `/profile`.
    pub fn sign_in(&self, login: &str) -> (Headless, Page) {
        let browser = Headless::new();
        let page = browser.sign_in(self.base(), PROVIDER, login, "/profile");
        (browser, page)
    }

    /// Stops davgate (SIGKILL) and starts it again on the same data and port.
    pub fn restart(&mut self) {
        let _ = self.server.kill_hard();
        let data = std::mem::replace(&mut self.server.data, tempfile::tempdir().unwrap());
        self.server = self.site.serve(data);
        wait_until_offered(&self.server.base, &[PROVIDER_NAME]);
    }
}

impl Drop for Sso {
    /// A failed test shows why davgate and the provider refused (their logs hold no token).
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("davgate's log:\n{}\ntest OP's log:\n{}", self.server.log(), self.op.log());
        }
    }
}

/// Shows davgate's and the providers' logs when the test fails (for a setup without [`Sso`]).
pub struct LogsOnPanic<'a>(pub &'a TestServer, pub &'a [&'a TestOp]);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("davgate's log:\n{}", self.0.log());
            for op in self.1 {
                eprintln!("test OP {}'s log:\n{}", op.issuer, op.log());
            }
        }
    }
}

/// Waits (10 s at most) until the sign-in page offers "Sign in with NAME" for each of `names`:
/// davgate is ready before discovery ends, and a provider not yet discovered is not offered.
pub fn wait_until_offered(base: &str, names: &[&str]) {
    let started = std::time::Instant::now();
    loop {
        let page = Headless::new().get(&format!("{base}/"));
        if names.iter().all(|n| page.body.contains(&format!("Sign in with {n}"))) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the sign-in page never offered {names:?}:\n{}",
            page.body
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The account names `user list --json` shows.
pub fn user_names(server: &TestServer) -> Vec<String> {
    users(server).iter().map(|u| u["name"].as_str().unwrap().to_string()).collect()
}

/// `user list --json`.
pub fn users(server: &TestServer) -> Vec<Value> {
    serde_json::from_str(&ok(&server.cli(&["user", "list", "--json"]))).unwrap()
}

/// One account as `user list --json` shows it.
pub fn user(server: &TestServer, name: &str) -> Value {
    let all = users(server);
    all.into_iter().find(|u| u["name"] == name).unwrap_or_else(|| panic!("no account {name}"))
}

/// The sign-in ended on the profile, signed in as `name`.
pub fn assert_on_profile(browser: &Headless, page: &Page, base: &str, name: &str) {
    assert_eq!(
        (page.status, page.url.as_str()),
        (200, format!("{base}/profile").as_str()),
        "not on the profile:\n{}",
        page.body
    );
    page.shows(&["My profile"]);
    assert_eq!(browser.signed_in_as(base).as_deref(), Some(name), "the session's user");
}

/// The sign-in was refused: a message page (4xx, not a 500), `message` on it when given, no
/// session cookie set, and this browser signed in as nobody.
pub fn assert_refused(browser: &Headless, page: &Page, base: &str, message: Option<&str>) {
    assert!((400..500).contains(&page.status), "{} {}:\n{}", page.status, page.url, page.body);
    page.shows(&["<h1"]);
    if let Some(message) = message {
        page.shows(&[message]);
    }
    assert!(session_cookie(&page.headers).is_none(), "a session cookie on a refusal");
    assert_eq!(browser.signed_in_as(base), None, "signed in after a refusal");
}

/// `err_sso_verify`, English: davgate refused the ID token (nonce, issuer, times, signature).
pub const VERIFY_MESSAGE: &str =
    "The sign-in could not be verified. Try again; if it keeps failing, tell your administrator.";

/// `err_sso_flow`, English.
pub const FLOW_MESSAGE: &str =
    "The sign-in took too long or was started in another browser. Try again.";
