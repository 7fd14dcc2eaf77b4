//! Single sign-on (issue 13), the accounts: what a provider sign-in may open (a linked or
//! provisioned account, its WebDAV through app passwords), what it may never (an unverified or
//! foreign e-mail, a password), and what the company's provider decides (admin groups, a
//! disabled person). Numbers: the acceptance list in shared/research/oidc.md §5.

use crate::oidc_client::Headless;
use crate::oidc_op::json_of;
use crate::oidc_site::*;
use crate::util::*;
use serde_json::json;

const WINDOWS_EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
/// The test provider (like Keycloak or Authentik) releases `groups` only for the scope of that
/// name, which the admin adds to davgate's default `openid,email,profile`.
const GROUP_SCOPES: &str = "openid,email,profile,groups";

/// Creates an app password from the signed-in session of `b` (the profile's API), once shown.
fn create_app_password(b: &Headless, base: &str, name: &str) -> String {
    let session = json_of(b.client().get(format!("{base}/api/v1/session")).send().unwrap());
    let csrf = session["csrf_token"].as_str().expect("a CSRF token").to_string();
    let res = b
        .client()
        .post(format!("{base}/api/v1/me/app-passwords"))
        .header("X-CSRF-Token", csrf)
        .header("Content-Type", "application/json")
        .body(json!({ "name": name }).to_string())
        .send()
        .unwrap();
    assert_eq!(res.status(), 201, "create an app password");
    json_of(res)["password"].as_str().expect("the password, shown once").to_string()
}

/// 2 ★ An account that signed in through the provider creates an app password and mounts
/// WebDAV with it (PROPFIND 207, PUT 201, the access method recorded); Basic with anything
/// else is 401.
#[test]
fn a_provider_account_creates_an_app_password_and_mounts_webdav_with_it() {
    let Some(sso) = Sso::start(&["--auto-provision", "--allowed-domains", "example.com"]) else {
        return;
    };
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    assert_eq!(user(&sso.server, "carol")["disabled"], false);
    let password = create_app_password(&b, sso.base(), "Office laptop drive");

    let listing = sso.server.as_user("carol", &password, "PROPFIND", "/dav/").header("Depth", "1");
    assert_eq!(status(listing.header("User-Agent", WINDOWS_EXPLORER).send()), 207);
    let put = sso.server.as_user("carol", &password, "PUT", "/dav/report.txt");
    assert_eq!(status(put.header("User-Agent", WINDOWS_EXPLORER).body("a report\n").send()), 201);
    let listed = list_app_passwords(sso.server.dir(), Some("carol"));
    assert_eq!(listed.len(), 1);
    assert!(!listed[0]["access_method"].is_null(), "no access method recorded: {}", listed[0]);

    for wrong in ["", "carol", "x", &with_wrong_secret(&password)] {
        assert_eq!(sso.server.probe("carol", wrong), 401, "Basic carol:{wrong:?}");
    }
}

/// 6 ★ An e-mail the provider did not verify provisions nothing even with auto-provisioning
/// on, and never links the existing account that has that e-mail.
#[test]
fn an_unverified_email_neither_provisions_nor_links_an_account() {
    let policy = ["--auto-provision", "--allowed-domains", "gmail.com,example.com"];
    let Some(sso) = Sso::start(&policy) else { return };
    let base = sso.base();
    let message = "Your identity provider did not confirm your e-mail address.";
    let before = user_names(&sso.server);
    let (b, page) = sso.sign_in("bob");
    assert_refused(&b, &page, base, Some(message));
    assert_eq!(user_names(&sso.server), before, "an account for an unverified e-mail");

    ok(&sso.server.cli(&["user", "add", "robert", "--sso", PROVIDER, "--email", "bob@gmail.com"]));
    let before = user_names(&sso.server);
    let (b, page) = sso.sign_in("bob");
    assert_refused(&b, &page, base, Some(message));
    assert_eq!(user_names(&sso.server), before);
    // Still not linked: a verified sign-in of another person is not robert either.
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
}

/// 7 ★ A verified e-mail of a domain not allowed, and a person in no allowed group, are
/// refused with no account; a person of the domain and group is provisioned.
#[test]
fn a_domain_or_a_group_not_allowed_is_refused_without_an_account() {
    let policy = [
        "--auto-provision",
        "--allowed-domains",
        "example.com",
        "--allowed-groups",
        "davgate-staff",
        "--scopes",
        GROUP_SCOPES,
    ];
    let Some(sso) = Sso::start(&policy) else { return };
    let base = sso.base();
    let before = user_names(&sso.server);
    let (b, page) = sso.sign_in("dave");
    assert_refused(&b, &page, base, Some("Accounts of this domain are not accepted here."));
    let (b, page) = sso.sign_in("erin");
    assert_refused(&b, &page, base, Some("Your account is not in a group allowed here."));
    assert_eq!(user_names(&sso.server), before, "an account for a refused sign-in");

    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, base, "carol");
    assert!(user_names(&sso.server).contains(&"carol".to_string()));
}

/// 8 ★ An `sso` account's password never signs in, on the page or the API: the same answer
/// as a wrong password of a password account.
#[test]
fn a_provider_accounts_password_never_signs_in_on_the_page_or_the_api() {
    let Some(sso) = Sso::start(&[]) else { return };
    ok(&sso.server.cli(&["user", "add", "carol", "--sso", PROVIDER, "--subject", "carol"]));
    ok(&sso.server.cli(&["user", "login-method", "carol", "sso"]));
    add_user_with_password(&sso.server, "alice", "alice-pass-123");

    let page_answer = |user: &str, password: &str| {
        let b = Headless::new();
        let res = b
            .client()
            .post(format!("{}/login", sso.base()))
            .header("Origin", sso.base())
            .form(&[("user", user), ("password", password)])
            .send()
            .unwrap();
        let (code, cookie) = (res.status().as_u16(), session_cookie(res.headers()));
        (code, cookie, res.text().unwrap())
    };
    let (wrong, _, wrong_page) = page_answer("alice", "not-her-password");
    assert!(wrong_page.contains("Wrong user name or password."), "{wrong_page}");
    for password in ["", "carol", "alice-pass-123", "x"] {
        let (code, cookie, body) = page_answer("carol", password);
        assert_eq!(code, wrong, "POST /login as carol with {password:?}");
        assert!(cookie.is_none(), "a session for carol's password {password:?}");
        assert!(body.contains("Wrong user name or password."), "{body}");
    }

    let api = |user: &str, password: &str| {
        let res = sso
            .server
            .request("POST", "/api/v1/session")
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .unwrap();
        (res.status().as_u16(), session_cookie(res.headers()), json_of(res)["error"].clone())
    };
    let wrong = api("alice", "not-her-password");
    assert_eq!(wrong.0, 401);
    for password in ["", "carol", "x"] {
        assert_eq!(api("carol", password), wrong, "POST /api/v1/session as carol");
    }
}

/// 9 The provider's admin group makes the account an admin at sign-in; out of the group, the
/// next sign-in makes it a user again.
#[test]
fn the_providers_admin_group_promotes_and_demotes_at_each_sign_in() {
    let policy = ["--auto-provision", "--allowed-domains", "example.com"];
    let groups = ["--admin-groups", "davgate-admins", "--scopes", GROUP_SCOPES];
    let Some(sso) = Sso::start(&[&policy[..], &groups].concat()) else {
        return;
    };
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    assert_eq!(user(&sso.server, "carol")["role"], "admin");

    let claims = json!({ "email": "carol@example.com", "email_verified": true, "groups": ["davgate-staff"] });
    sso.op.set_user("carol", &claims);
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    assert_eq!(user(&sso.server, "carol")["role"], "user");
}

/// 10 The provider disables carol: with the refresh-token check, `davgate oidc recheck`
/// disables her account, her app password gets 401 and her session is over.
#[test]
fn the_provider_disabling_a_person_disables_the_account_and_its_app_passwords() {
    let policy = ["--auto-provision", "--allowed-domains", "example.com", "--refresh-check"];
    let Some(sso) = Sso::start(&policy) else { return };
    let (b, page) = sso.sign_in("carol");
    assert_on_profile(&b, &page, sso.base(), "carol");
    let password = create_app_password(&b, sso.base(), "Office laptop drive");
    assert_eq!(sso.server.probe("carol", &password), 207);

    ok(&sso.server.cli(&["oidc", "recheck"]));
    assert_eq!(
        user(&sso.server, "carol")["disabled"],
        false,
        "a recheck disabled an active person"
    );
    assert_eq!(sso.server.probe("carol", &password), 207);

    sso.op.set_user("carol", &json!({ "disabled": true }));
    ok(&sso.server.cli(&["oidc", "recheck"]));
    assert_eq!(user(&sso.server, "carol")["disabled"], true, "{:?}", users(&sso.server));
    assert_eq!(sso.server.probe("carol", &password), 401);
    assert_eq!(b.signed_in_as(sso.base()), None, "her session outlived the account");
}

/// 14 `oidc add` refuses an Entra ID issuer that is not a tenant's, and plain http off the
/// loopback; nothing is added.
#[test]
fn oidc_add_refuses_entra_common_issuers_and_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s\n").unwrap();
    let add = |issuer: &str| {
        let args = ["oidc", "add", "corp", "--issuer", issuer, "--client-id", "davgate"];
        cli(dir.path(), &[&args[..], &["--client-secret-file", secret.to_str().unwrap()]].concat())
    };
    for tenancy in ["common", "organizations", "consumers"] {
        let line = refused(&add(&format!("https://login.microsoftonline.com/{tenancy}/v2.0")));
        assert!(line.contains("tenant"), "{line}");
    }
    let line = refused(&add("http://idp.example.com"));
    assert!(line.contains("https"), "{line}");
    let listed = ok(&cli(dir.path(), &["oidc", "list"]));
    assert!(!listed.contains("corp"), "{listed}");
    // A tenant's own issuer is accepted.
    ok(&add("https://login.microsoftonline.com/8c5b3e0e-1111-4222-8333-944445555666/v2.0"));
    let listed = ok(&cli(dir.path(), &["oidc", "list"]));
    assert!(listed.contains("corp"), "{listed}");
}
