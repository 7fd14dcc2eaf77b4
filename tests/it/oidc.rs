//! Single sign-on (issue 13), the flow: a real OpenID Provider on 127.0.0.2 (tests/it/oidc_op.rs)
//! and davgate on 127.0.0.1, a person signing in through a headless client
//! (tests/it/oidc_client.rs). Every altered step is refused with a page, no session and no
//! account; the numbers are those of the acceptance list in shared/research/oidc.md §5.
//! Accounts and policy: tests/it/oidc_accounts.rs; in Chromium: tests/it/oidc_browser.rs.

use crate::oidc_client::{Headless, query_param};
use crate::oidc_op::TestOp;
use crate::oidc_site::*;
use serde_json::json;

/// `url` with the query parameter `name` set to `value` (added if absent).
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into(), v.into())).collect();
    url.query_pairs_mut().clear().extend_pairs(kept).append_pair(name, value);
    url.to_string()
}

/// `url` without the query parameter `name`.
fn without_param(url: &str, name: &str) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into(), v.into())).collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    url.to_string()
}

/// Seconds since the epoch, as the provider and davgate read them.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// 3 ★ An altered `state`, a missing flow cookie (the callback opened in another browser), a
/// replayed callback and a wrong nonce sign nobody in and make no account, although carol
/// could be provisioned: the clean sign-in at the end does.
#[test]
fn an_altered_state_a_lost_flow_cookie_a_replay_or_a_wrong_nonce_signs_nobody_in() {
    let policy = ["--auto-provision", "--allowed-domains", "example.com"];
    let Some(sso) = Sso::start(&policy) else { return };
    let before = user_names(&sso.server);
    let base = sso.base();

    let b = Headless::new();
    let back = b.authorize(&b.begin(base, PROVIDER, "/profile"), "carol");
    let state = query_param(&back, "state").expect("a state");
    let altered = with_param(&back, "state", &format!("{state}x"));
    assert_refused(&b, &b.finish(&altered), base, Some(FLOW_MESSAGE));

    let b = Headless::new();
    let back = b.authorize(&b.begin(base, PROVIDER, "/profile"), "carol");
    let elsewhere = Headless::new();
    assert_refused(&elsewhere, &elsewhere.finish(&back), base, Some(FLOW_MESSAGE));

    sso.op.tamper(&json!({ "nonce": "not-the-one-davgate-sent" }));
    let (b, page) = sso.sign_in("carol");
    assert_refused(&b, &page, base, Some(VERIFY_MESSAGE));
    assert_eq!(user_names(&sso.server), before, "an account made by a refused sign-in");

    // The clean sign-in works, once: its callback opened again is refused, no new session.
    let b = Headless::new();
    let back = b.authorize(&b.begin(base, PROVIDER, "/profile"), "carol");
    let page = b.finish(&back);
    assert_on_profile(&b, &page, base, "carol");
    let replayed = b.get(&back);
    assert!(
        (400..500).contains(&replayed.status),
        "replay: {}\n{}",
        replayed.status,
        replayed.body
    );
    replayed.shows(&[FLOW_MESSAGE]);
    assert!(crate::util::session_cookie(&replayed.headers).is_none(), "a session from a replay");
    let stranger = Headless::new();
    assert_refused(&stranger, &stranger.finish(&back), base, Some(FLOW_MESSAGE));
}

/// 4 ★ A wrong issuer in the ID token, an edited `iss` parameter, and a code from another
/// provider than the one the flow started with are refused.
#[test]
fn a_wrong_issuer_in_the_token_or_the_iss_parameter_or_another_providers_code_is_refused() {
    let site = Site::new();
    let Some(a) = site.provider(&people()) else { return };
    let Some(other) = site.provider(&people()) else { return };
    let data = tempfile::tempdir().unwrap();
    site.add_provider(data.path(), PROVIDER, PROVIDER_NAME, &a, &[]);
    site.add_provider(data.path(), "other", "Other IdP", &other, &[]);
    let server = site.serve(data);
    wait_until_offered(&server.base, &[PROVIDER_NAME, "Other IdP"]);
    let _logs = LogsOnPanic(&server, &[&a, &other]);
    crate::util::ok(&server.cli(&[
        "user",
        "add",
        "carol",
        "--sso",
        PROVIDER,
        "--subject",
        "carol",
    ]));
    let base = server.base.as_str();

    a.tamper(&json!({ "iss": "http://evil.example" }));
    let b = Headless::new();
    let page = b.sign_in(base, PROVIDER, "carol", "/profile");
    assert_refused(&b, &page, base, Some(VERIFY_MESSAGE));

    let b = Headless::new();
    let back = b.authorize(&b.begin(base, PROVIDER, "/profile"), "carol");
    assert_eq!(query_param(&back, "iss").as_deref(), Some(a.issuer.as_str()));
    let edited = with_param(&back, "iss", &other.issuer);
    assert_refused(&b, &b.finish(&edited), base, None);

    // The flow starts with "test"; the code comes from "other" (its own flow in a second
    // browser), with or without other's `iss`.
    for keep_iss in [true, false] {
        let victim = Headless::new();
        let at_a = victim.begin(base, PROVIDER, "/profile");
        let state = query_param(&at_a, "state").expect("a state to the provider");
        let attacker = Headless::new();
        let from_other = attacker.authorize(&attacker.begin(base, "other", "/profile"), "carol");
        let mut mixed = with_param(&from_other, "state", &state);
        if !keep_iss {
            mixed = without_param(&mixed, "iss");
        }
        assert_refused(&victim, &victim.finish(&mixed), base, None);
    }

    // Both providers work when nothing is altered (the refusals were not a broken setup).
    let b = Headless::new();
    assert_on_profile(&b, &b.sign_in(base, PROVIDER, "carol", "/profile"), base, "carol");
}

/// 5 ★ An expired ID token is refused, one 30 s past its expiry is accepted (clock skew), and
/// one issued ten minutes in the future is refused.
#[test]
fn an_expired_id_token_is_refused_30_s_past_expiry_is_accepted_and_a_future_iat_is_refused() {
    let Some(sso) = Sso::start(&[]) else { return };
    let base = sso.base();
    crate::util::ok(&sso.server.cli(&[
        "user",
        "add",
        "carol",
        "--sso",
        PROVIDER,
        "--subject",
        "carol",
    ]));

    sso.op.tamper(&json!({ "exp": 1_000_000_000 }));
    let (b, page) = sso.sign_in("carol");
    assert_refused(&b, &page, base, Some(VERIFY_MESSAGE));
    assert!(!page.body.contains("refused the sign-in"), "blames the provider:\n{}", page.body);

    sso.op.tamper(&json!({ "iat": now() + 600 }));
    let (b, page) = sso.sign_in("carol");
    assert_refused(&b, &page, base, Some(VERIFY_MESSAGE));

    sso.op.tamper(&json!({ "exp": now() - 30 }));
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
}

/// 11 `next` off the site (`//evil.example`, a tab, an absolute address) lands on `/`; a path
/// on the site is kept.
#[test]
fn a_next_address_off_the_site_lands_on_the_home_page() {
    let Some(sso) = Sso::start(&[]) else { return };
    let base = sso.base();
    crate::util::ok(&sso.server.cli(&[
        "user",
        "add",
        "carol",
        "--sso",
        PROVIDER,
        "--subject",
        "carol",
    ]));
    for (next, lands) in [
        ("//evil.example", "/"),
        ("/\tevil.example", "/"),
        ("/\t/evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/profile", "/profile"),
    ] {
        let b = Headless::new();
        let back = b.authorize(&b.begin(base, PROVIDER, next), "carol");
        let page = b.get(&back);
        assert_eq!(page.status, 200, "next={next:?}:\n{}", page.body);
        page.shows(&["Signing you in…"]);
        assert_eq!(page.meta_refresh(), Some(format!("{base}{lands}")), "next={next:?}");
        assert!(!page.body.contains("evil.example"), "next={next:?} on the page:\n{}", page.body);
    }
}

/// 12 The provider answering `error=access_denied` (the person cancels) shows a page, not a
/// 500; a flow cut by a davgate restart asks to try again (on the embedded store: on
/// PostgreSQL the flow is in the database and the sign-in finishes).
#[test]
fn the_provider_refusing_shows_a_page_and_a_flow_lost_in_a_restart_asks_to_try_again() {
    let Some(mut sso) = Sso::start(&[]) else { return };
    crate::util::ok(&sso.server.cli(&[
        "user",
        "add",
        "carol",
        "--sso",
        PROVIDER,
        "--subject",
        "carol",
    ]));

    let b = Headless::new();
    let back = b.cancel(&b.begin(sso.base(), PROVIDER, "/profile"));
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert_refused(
        &b,
        &b.finish(&back),
        sso.base(),
        Some(&format!("{PROVIDER_NAME} refused the sign-in.")),
    );

    // A restart loses the flows kept in memory (the embedded store); on PostgreSQL they are in
    // the shared store and survive it (oidc-fix: a cluster needs no affinity for the callback).
    let b = Headless::new();
    let back = b.authorize(&b.begin(sso.base(), PROVIDER, "/profile"), "carol");
    sso.restart();
    let page = b.finish(&back);
    if crate::util::store_for(sso.server.data.path()).is_some() {
        assert_on_profile(&b, &page, sso.base(), "carol");
    } else {
        assert_refused(&b, &page, sso.base(), Some(FLOW_MESSAGE));
    }
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
}

/// 13 The sign-in page offers the provider as a link (a form posting to it would be blocked by
/// `form-action 'self'`), and a provider whose signing key changed still signs people in (one
/// JWKS refetch on the unknown key id).
#[test]
fn the_sign_in_page_links_to_the_provider_and_a_new_signing_key_is_fetched() {
    let Some(sso) = Sso::start(&[]) else { return };
    let base = sso.base();
    crate::util::ok(&sso.server.cli(&[
        "user",
        "add",
        "carol",
        "--sso",
        PROVIDER,
        "--subject",
        "carol",
    ]));

    let page = Headless::new().get(&format!("{base}/"));
    page.shows(&[
        &format!("Sign in with {PROVIDER_NAME}"),
        "href=\"/auth/oidc/login?provider=test",
    ]);
    assert!(
        !page.body.contains("action=\"/auth/oidc"),
        "a form aimed at /auth/oidc:\n{}",
        page.body
    );

    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
    sso.op.rotate_key();
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
}

/// Two providers at once each have their own issuer (a harness check for test 4: the mix-up
/// test means nothing if both answered with the same issuer).
#[test]
fn two_test_providers_have_two_issuers() {
    let site = Site::new();
    let Some(a) = site.provider(&people()) else { return };
    let Some(b) = TestOp::start(&people(), &[&site.callback()]) else { return };
    assert_ne!(a.issuer, b.issuer);
    assert_eq!(a.discovery()["issuer"], a.issuer.as_str());
    assert_eq!(b.discovery()["issuer"], b.issuer.as_str());
}
