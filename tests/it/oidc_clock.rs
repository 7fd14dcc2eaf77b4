//! Single sign-on (issue 13) and time: `davgate::Server` in-process on a `ManualClock` (as
//! tests/it/clock.rs), with a public URL and the test provider, so that a month passes in no
//! time: an `sso` account's app passwords stop opening WebDAV once its owner has not signed in
//! through the provider for `sso_reauth_interval`, and a flow left ten minutes asks to start
//! again. Acceptance tests 10 (second half) and 12 (second half) of shared/research/oidc.md §5.

use crate::oidc_client::Headless;
use crate::oidc_op::{TestOp, json_of};
use crate::oidc_site::*;
use crate::util::*;
use serde_json::json;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// davgate in this process on a clock that moves when the test says, with provider "test".
pub(crate) struct ClockedSso {
    server: InProcess,
    site: Site,
    op: TestOp,
}

impl std::ops::Deref for ClockedSso {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.server
    }
}

impl ClockedSso {
    pub(crate) fn start(policy: &[&str]) -> Option<Self> {
        let site = Site::new();
        let op = site.provider(&people())?;
        let data = tempfile::tempdir().unwrap();
        site.add_provider(data.path(), PROVIDER, PROVIDER_NAME, &op, policy);
        let server = InProcess::start_in(data, |options| {
            options.listen = format!("127.0.0.1:{}", site.port).parse().unwrap();
            options.public_url = Some(site.base.clone());
            // The store the CLI (`oidc add` above) used: redb, or PostgreSQL in that pass.
            InProcess::same_store(options);
        });
        wait_until_offered(&site.base, &[PROVIDER_NAME]);
        Some(Self { server, site, op })
    }

    pub(crate) fn base(&self) -> &str {
        &self.site.base
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        ok(&cli(self.data.path(), args))
    }

    /// PROPFIND Depth 0 on /dav/ with Basic `user`:`password`.
    pub(crate) fn probe(&self, user: &str, password: &str) -> u16 {
        let client = reqwest::blocking::Client::new();
        let propfind = reqwest::Method::from_bytes(b"PROPFIND").unwrap();
        let req = client.request(propfind, format!("{}/dav/", self.base()));
        status(req.header("Depth", "0").basic_auth(user, Some(password)).send())
    }

    /// The next ID token is valid on both the server's clock and the system's: issued now (the
    /// system's time, in the server clock's past) and expiring five minutes after the server
    /// clock's now (in the system's future).
    pub(crate) fn next_token_valid_on_the_servers_clock(&self) {
        let server_now = self.clock.clock().now().timestamp();
        self.op.tamper(&json!({ "iat": chrono::Utc::now().timestamp(), "exp": server_now + 300 }));
    }
}

/// A new app password from the signed-in session of `b`.
fn app_password(b: &Headless, base: &str, name: &str) -> String {
    let session = json_of(b.client().get(format!("{base}/api/v1/session")).send().unwrap());
    let res = b
        .client()
        .post(format!("{base}/api/v1/me/app-passwords"))
        .header("X-CSRF-Token", session["csrf_token"].as_str().unwrap_or_default())
        .header("Content-Type", "application/json")
        .body(json!({ "name": name }).to_string())
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);
    json_of(res)["password"].as_str().unwrap().to_string()
}

/// 10 Past `sso_reauth_interval` without a provider sign-in, an `sso` account's app password
/// gets 401; it opens WebDAV again once its owner signs in through the provider.
#[test]
fn past_the_reauth_interval_app_passwords_get_401_until_the_owner_signs_in_again() {
    let Some(sso) = ClockedSso::start(&["--auto-provision", "--allowed-domains", "example.com"])
    else {
        return;
    };
    sso.cli(&["settings", "set", "sso_reauth_interval", "1d"]);
    let b = Headless::new();
    let page = b.sign_in(sso.base(), PROVIDER, "carol", "/profile");
    assert_on_profile(&b, &page, sso.base(), "carol");
    let password = app_password(&b, sso.base(), "Office laptop drive");
    assert_eq!(sso.probe("carol", &password), 207);

    sso.clock.advance(23 * HOUR);
    assert_eq!(sso.probe("carol", &password), 207, "within the interval");
    sso.clock.advance(2 * HOUR);
    assert_eq!(sso.probe("carol", &password), 401, "past the interval");

    sso.next_token_valid_on_the_servers_clock();
    let b = Headless::new();
    let page = b.sign_in(sso.base(), PROVIDER, "carol", "/profile");
    assert_on_profile(&b, &page, sso.base(), "carol");
    assert_eq!(sso.probe("carol", &password), 207, "after signing in again");
}

/// 12 A flow left more than ten minutes between davgate's link and the callback asks to try
/// again; within ten minutes it signs in.
#[test]
fn a_sign_in_left_more_than_ten_minutes_asks_to_try_again() {
    let Some(sso) = ClockedSso::start(&["--auto-provision", "--allowed-domains", "example.com"])
    else {
        return;
    };
    let b = Headless::new();
    let back = b.authorize(&b.begin(sso.base(), PROVIDER, "/profile"), "carol");
    sso.clock.advance(Duration::from_secs(11 * 60));
    assert_refused(&b, &b.finish(&back), sso.base(), Some(FLOW_MESSAGE));

    let b = Headless::new();
    let back = b.authorize(&b.begin(sso.base(), PROVIDER, "/profile"), "carol");
    sso.clock.advance(Duration::from_secs(9 * 60));
    sso.next_token_valid_on_the_servers_clock();
    let page = b.finish(&back);
    assert_on_profile(&b, &page, sso.base(), "carol");
}
