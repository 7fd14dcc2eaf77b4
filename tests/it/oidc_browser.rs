//! Single sign-on (issue 13) in headless Chromium (the driver of tests/it/browser.rs): the
//! "Sign in with Test IdP" link, the provider's own login form on another site (127.0.0.2),
//! back on the profile signed in — which proves the Lax flow cookie, the 200 "Signing you in…"
//! refresh and the Strict session cookie together — in English and in French; then an app
//! password made in the profile's dialog opens WebDAV. Acceptance tests 1 and 2 of
//! shared/research/oidc.md §5.

use crate::browser::{Browser, ChromeDriver, runtime};
use crate::oidc_site::*;
use crate::util::*;

const WINDOWS_EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";

/// At the provider: its login form, as carol would fill it (any password signs in there).
async fn sign_in_at_the_provider(b: &Browser, login: &str) {
    b.find("input[name=login]").await;
    assert!(b.eval("location.host").await.as_str().unwrap_or_default().starts_with("127.0.0.2:"));
    b.fill("input[name=login]", login).await;
    b.fill("input[name=password]", "any password").await;
    b.click("button[type=submit]").await;
    // Back through davgate's callback page and its refresh, to the profile.
    b.find("#app-passwords").await;
}

/// 1 ★ and 2 ★ carol signs in through the provider in Chromium, lands on her profile, which
/// names the provider (and offers no two-factor set-up: the provider owns it), creates
/// "Office laptop drive" in the one-time dialog and maps the drive with it.
#[test]
fn a_person_signs_in_with_the_company_provider_in_chromium_and_maps_a_drive() {
    let Some(sso) = Sso::start(&["--auto-provision", "--allowed-domains", "example.com"]) else {
        return;
    };
    let Some(driver) = ChromeDriver::start() else { return };
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, sso.base()));
    let password = rt.block_on(async {
        b.goto("/").await;
        assert_eq!(b.text("h1").await, "Sign in");
        let link = format!("//a[normalize-space()='Sign in with {PROVIDER_NAME}']");
        b.find_xpath(&link).await;
        b.click("a[href^='/auth/oidc/login?provider=test']").await;
        sign_in_at_the_provider(&b, "carol").await;
        assert_eq!(b.path().await, "/profile");
        assert_eq!(b.text("header .who").await, "carol");
        let page = b.text("main").await;
        assert!(page.contains(&format!("Signed in with {PROVIDER_NAME}")), "{page}");
        assert!(
            page.contains(&format!("Two-factor sign-in is managed by {PROVIDER_NAME}.")),
            "{page}"
        );
        assert!(!b.exists("#set-up-totp").await, "TOTP offered to a provider account");
        b.screenshot("sso-profile", false).await;

        let password = b.create_app_password("Office laptop drive").await;
        b.done(&password).await;
        assert_eq!(b.method("Office laptop drive").await, "Not assigned");
        password
    });

    let listing = sso.server.as_user("carol", &password, "PROPFIND", "/dav/").header("Depth", "1");
    assert_eq!(status(listing.header("User-Agent", WINDOWS_EXPLORER).send()), 207);
    let put = sso.server.as_user("carol", &password, "PUT", "/dav/report.txt");
    assert_eq!(status(put.header("User-Agent", WINDOWS_EXPLORER).body("a report\n").send()), 201);
    rt.block_on(async {
        b.goto("/profile").await;
        assert_eq!(b.method("Office laptop drive").await, "Windows Explorer");
    });
    rt.block_on(b.close());
}

/// 1 ★ in French: the link says "Se connecter avec Test IdP" and the profile it lands on is
/// French.
#[test]
fn the_provider_link_and_the_profile_it_lands_on_are_french_in_french() {
    let Some(sso) = Sso::start(&["--auto-provision", "--allowed-domains", "example.com"]) else {
        return;
    };
    let Some(driver) = ChromeDriver::start() else { return };
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, sso.base()));
    rt.block_on(async {
        b.goto("/").await;
        b.click("a[hreflang=fr]").await;
        b.wait_until("the page in French", "document.documentElement.lang === 'fr'").await;
        assert_eq!(b.text("h1").await, "Connexion");
        let link = format!("//a[normalize-space()='Se connecter avec {PROVIDER_NAME}']");
        b.find_xpath(&link).await;
        b.click("a[href^='/auth/oidc/login?provider=test']").await;
        sign_in_at_the_provider(&b, "carol").await;
        assert_eq!(b.path().await, "/profile");
        assert_eq!(b.eval("document.documentElement.lang").await, "fr");
        assert_eq!(b.text("h1").await, "Mon profil");
        let page = b.text("main").await;
        assert!(page.contains(&format!("Connecté avec {PROVIDER_NAME}")), "{page}");
    });
    rt.block_on(b.close());
}

/// A stand-in for davgate's callback on 127.0.0.1: answers every request 200 "ok" for a
/// minute, so the browser has a page to land on.
fn stand_in_callback(port: u16) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                    let mut head = [0u8; 4096];
                    let _ = stream.read(&mut head);
                    let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\
                                  Connection: close\r\n\r\nok";
                    let _ = stream.write_all(answer.as_bytes());
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    });
}

/// The harness in Chromium, today, without davgate's side: the provider's login form on
/// 127.0.0.2 takes carol's login with the selectors the tests above use, and sends the browser
/// back to the callback on 127.0.0.1 with `code`, `state` and `iss`.
#[test]
fn the_test_providers_login_form_works_in_chromium_and_sends_the_browser_back() {
    let site = Site::new();
    let Some(op) = site.provider(&people()) else { return };
    let Some(driver) = ChromeDriver::start() else { return };
    stand_in_callback(site.port);
    let (authorize, _) = crate::oidc_op::authorization_request(&op, &site.callback());
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &op.issuer));
    let back = rt.block_on(async {
        b.goto(authorize.strip_prefix(op.issuer.as_str()).unwrap()).await;
        b.find("input[name=login]").await;
        b.fill("input[name=login]", "carol").await;
        b.fill("input[name=password]", "any password").await;
        b.click("button[type=submit]").await;
        b.wait_until("back on 127.0.0.1", "location.host.startsWith('127.0.0.1:')").await;
        b.eval("location.href").await.as_str().unwrap_or_default().to_string()
    });
    rt.block_on(b.close());
    assert!(back.starts_with(&format!("{}?", site.callback())), "{back}");
    let param = |name| crate::oidc_client::query_param(&back, name);
    assert!(param("code").is_some_and(|c| !c.is_empty()), "{back}");
    assert_eq!(param("state").as_deref(), Some("the-state"));
    assert_eq!(param("iss").as_deref(), Some(op.issuer.as_str()));
}
