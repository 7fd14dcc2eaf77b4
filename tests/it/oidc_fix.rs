//! Single sign-on, the second round: the pages of a provider not ready yet and of a token
//! davgate refused (worded so that nobody blames the provider), the web throttle on the flow
//! routes, and a full flow table.

use crate::oidc_client::Headless;
use crate::oidc_site::*;
use crate::util::*;

/// A provider whose discovery cannot succeed (nothing listens at its issuer) is shown as not
/// available right now, in English and French, with a Retry-After and no flow cookie.
#[test]
fn a_provider_that_cannot_be_reached_says_sign_in_is_not_available_right_now() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new();
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("client-secret");
    std::fs::write(&secret, "s\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret = secret.to_str().unwrap().to_string();
    let add = [
        "oidc",
        "add",
        "corp",
        "--issuer",
        "http://127.0.0.2:9",
        "--client-id",
        "davgate",
        "--client-secret-file",
        &secret,
        "--name",
        "Corp",
    ];
    ok(&cli(data.path(), &add));
    let server = site.serve(data);
    for (lang, words) in [
        ("en", "Sign-in with Corp is not available right now. Try again in a minute."),
        (
            "fr",
            "La connexion avec Corp n&#39;est pas disponible pour le moment. Réessayez dans une minute.",
        ),
    ] {
        let res = server.request("GET", "/auth/oidc/login?provider=corp&next=/profile");
        let res = res.header("Accept-Language", lang).send().unwrap();
        assert_eq!(res.status().as_u16(), 503, "{lang}");
        assert!(res.headers().get("retry-after").is_some(), "no Retry-After");
        let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
        assert!(!format!("{cookies:?}").contains("davgate_oidc="), "a flow cookie: {cookies:?}");
        let text = res.text().unwrap();
        assert!(text.contains(words), "{lang}:\n{text}");
        assert!(!text.contains("another browser"), "{lang}: the lost-flow message:\n{text}");
    }
}

/// The start of a sign-in, as a browser sends it: the status and the page.
fn begin(b: &Headless, base: &str) -> crate::oidc_client::Page {
    b.get(&format!("{base}/auth/oidc/login?provider={PROVIDER}&next=/profile"))
}

/// One address starting sign-ins it never finishes is held back after ten (the sign-in
/// throttle's failures), callbacks included; a finished sign-in clears the count.
#[test]
fn one_address_starting_sign_ins_it_never_finishes_is_held_back() {
    let Some(sso) = Sso::start(&[]) else { return };
    let base = sso.base();
    ok(&sso.server.cli(&["user", "add", "carol", "--sso", PROVIDER, "--subject", "carol"]));
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");

    let b = Headless::new();
    let kept = b.authorize(&b.begin(base, PROVIDER, "/profile"), "carol");
    for i in 1..10 {
        assert_eq!(begin(&Headless::new(), base).status, 303, "start {i}");
    }
    let held = begin(&Headless::new(), base);
    assert_eq!(held.status, 429, "{}", held.body);
    held.shows(&["Too many sign-in attempts. Try again later."]);
    assert!(held.headers.get("retry-after").is_some());
    let refused = b.finish(&kept);
    assert_eq!(refused.status, 429, "the callback is held back too:\n{}", refused.body);
    assert_eq!(b.signed_in_as(base), None);
}

/// With the throttle off for this network (a trusted one), a flood of started sign-ins fills
/// the flow table: the oldest flow is forgotten and its callback asks to try again (a page,
/// never a 500); the newest still signs in.
#[test]
fn a_full_flow_table_forgets_the_oldest_flow_with_a_page_and_keeps_the_newest() {
    let Some(sso) = Sso::start(&[]) else { return };
    let base = sso.base();
    ok(&sso.server.cli(&["user", "add", "carol", "--sso", PROVIDER, "--subject", "carol"]));
    ok(&sso.server.cli(&["settings", "set", "login_trusted_networks", "127.0.0.0/8"]));

    let oldest = Headless::new();
    let oldest_back = oldest.authorize(&oldest.begin(base, PROVIDER, "/profile"), "carol");
    let flood = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for i in 0..1_000 {
        let res =
            flood.get(format!("{base}/auth/oidc/login?provider={PROVIDER}&next=/")).send().unwrap();
        assert_eq!(res.status().as_u16(), 303, "flood start {i}");
    }
    let page = oldest.finish(&oldest_back);
    assert_refused(&oldest, &page, base, Some(FLOW_MESSAGE));
    assert!(sso.server.log().contains("flows in progress, the oldest was forgotten"));

    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
}

/// POST /api/v1/me/app-passwords from the signed-in session of `b`: the status and the body.
fn create_app_password(b: &Headless, base: &str, name: &str) -> (u16, serde_json::Value) {
    let session =
        crate::oidc_op::json_of(b.client().get(format!("{base}/api/v1/session")).send().unwrap());
    let res = b
        .client()
        .post(format!("{base}/api/v1/me/app-passwords"))
        .header("X-CSRF-Token", session["csrf_token"].as_str().unwrap_or_default())
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "name": name }).to_string())
        .send()
        .unwrap();
    (res.status().as_u16(), crate::oidc_op::json_of(res))
}

/// An `sso` account creates app passwords within 15 minutes of its provider sign-in; past that
/// the profile offers "Sign in with Test IdP again to create an app password" instead of the
/// form, the API refuses, and the round trip through the provider allows it again.
#[test]
fn an_app_password_needs_a_provider_sign_in_less_than_15_minutes_old() {
    use crate::oidc_clock::ClockedSso;
    let policy = ["--auto-provision", "--allowed-domains", "example.com"];
    let Some(sso) = ClockedSso::start(&policy) else { return };
    let base = sso.base();
    let b = Headless::new();
    assert_on_profile(&b, &b.sign_in(base, PROVIDER, "carol", "/profile"), base, "carol");
    let (status, body) = create_app_password(&b, base, "Office laptop drive");
    assert_eq!(status, 201, "{body}");
    sso.clock.advance(std::time::Duration::from_secs(14 * 60));
    assert_eq!(create_app_password(&b, base, "Phone").0, 201, "at 14 minutes");

    sso.clock.advance(std::time::Duration::from_secs(2 * 60));
    let (status, body) = create_app_password(&b, base, "Tablet");
    assert_eq!((status, body["error"].as_str()), (403, Some("sign_in_again")), "{body}");
    let page = b.get(&format!("{base}/profile"));
    assert_eq!(page.status, 200, "still signed in:\n{}", page.body);
    page.shows(&[
        "Sign in with Test IdP again to create an app password",
        "href=\"/auth/oidc/login?provider=test&#38;next=%2Fprofile\"",
    ]);
    assert!(
        !page.body.contains("action=\"/profile/app-passwords\""),
        "the create form is still offered:\n{}",
        page.body
    );

    sso.next_token_valid_on_the_servers_clock();
    let page = b.sign_in(base, PROVIDER, "carol", "/profile");
    assert_on_profile(&b, &page, base, "carol");
    assert!(!page.body.contains("again to create an app password"), "{}", page.body);
    assert_eq!(create_app_password(&b, base, "Tablet").0, 201, "after signing in again");
}

/// Two nodes on one PostgreSQL database behind one public address (a balancer without
/// stickiness): a sign-in started on one node finishes on the other, once. PostgreSQL pass only
/// (`DAVGATE_TEST_STORE=postgres`): on the embedded store there is one node.
#[test]
fn a_sign_in_started_on_one_node_finishes_on_the_other() {
    let site = Site::new();
    let data = tempfile::tempdir().unwrap();
    let Some(url) = store_for(data.path()) else { return };
    let Some(op) = site.provider(&people()) else { return };
    site.add_provider(data.path(), PROVIDER, PROVIDER_NAME, &op, &[]);
    let one = site.serve(data);
    let two_port = crate::oidc_op::free_port();
    let two = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        &format!("127.0.0.1:{two_port}"),
        &["--store", &url, "--public-url", &site.base],
    );
    let _logs = crate::oidc_site::LogsOnPanic(&one, &[&op]);
    wait_until_offered(&one.base, &[PROVIDER_NAME]);
    wait_until_offered(&two.base, &[PROVIDER_NAME]);
    ok(&one.cli(&["user", "add", "carol", "--sso", PROVIDER, "--subject", "carol"]));

    let b = Headless::new();
    let back = b.authorize(&b.begin(&one.base, PROVIDER, "/profile"), "carol");
    // The balancer sends the provider's redirect to the other node (cookies ignore the port).
    let elsewhere = back.replacen(&one.base, &two.base, 1);
    assert_ne!(elsewhere, back);
    let page = b.finish(&elsewhere);
    assert_on_profile(&b, &page, &two.base, "carol");
    assert_eq!(b.signed_in_as(&one.base).as_deref(), Some("carol"), "the session on node one");
    let replayed = b.get(&back);
    assert!(
        (400..500).contains(&replayed.status),
        "replayed on the first node: {}",
        replayed.status
    );
    replayed.shows(&[FLOW_MESSAGE]);
}
