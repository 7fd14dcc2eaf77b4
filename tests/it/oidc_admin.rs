//! The admin's single sign-on surfaces: the providers in the API (`/api/v1/oidc/providers`,
//! the client secret write-only) and in the Settings page, the public list of providers, an
//! account's login method and linked identity (API and the admin's user page), against a real
//! server — and a real test provider where one must be discovered.

use crate::oidc_site::Sso;
use crate::pages::Visitor;
use crate::util::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// A client secret that must never appear in any answer, page or log.
const SECRET: &str = "very-secret-client-value-4711";
/// An issuer on loopback that answers nothing: the provider stays unavailable.
const DEAD_ISSUER: &str = "http://127.0.0.1:9/realms/corp";

/// A signed-in API session: its cookie and CSRF token.
struct Api<'a> {
    server: &'a TestServer,
    client: Client,
    cookie: String,
    csrf: String,
}

/// What the server answered: status and body text.
struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    /// Asserts the status; the JSON body (null when empty).
    fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert!(!self.text.contains(SECRET), "the secret is in an answer: {}", self.text);
        if self.text.is_empty() { Value::Null } else { serde_json::from_str(&self.text).unwrap() }
    }

    /// Asserts a refusal with this status and API code; its message.
    fn refused(&self, status: u16, code: &str) -> String {
        let body = self.expect(status);
        assert_eq!(body["error"], code, "{body}");
        body["message"].as_str().unwrap().to_string()
    }
}

impl<'a> Api<'a> {
    fn login(server: &'a TestServer, user: &str, password: &str) -> Self {
        let client = Client::new();
        let res = client
            .post(format!("{}/api/v1/session", server.base))
            .header("Content-Type", "application/json")
            .body(json!({ "user": user, "password": password }).to_string())
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let cookie = session_cookie(res.headers()).expect("a session cookie");
        let body: Value = serde_json::from_str(&res.text().unwrap()).unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        Api { server, client, cookie, csrf }
    }

    fn admin(server: &'a TestServer) -> Self {
        Self::login(server, "admin", &first_admin_password(server))
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.server.base))
            .header("Cookie", format!("davgate_session={}", self.cookie))
            .header("X-CSRF-Token", &self.csrf);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let res = request.send().unwrap();
        Answer { status: res.status().as_u16(), text: res.text().unwrap() }
    }
}

fn json_of(res: reqwest::blocking::Response) -> Value {
    serde_json::from_str(&res.text().unwrap()).unwrap()
}

/// A provider's fields as the API takes them.
fn corp(secret: Option<&str>) -> Value {
    let mut body = json!({
        "display_name": "Contoso",
        "issuer": DEAD_ISSUER,
        "client_id": "davgate",
        "allowed_domains": ["contoso.example"],
        "admin_groups": ["davgate-admins"],
        "auto_provision": true,
    });
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    body
}

#[test]
fn an_admin_adds_edits_and_removes_a_provider_whose_secret_never_comes_back() {
    let server = TestServer::start();
    let admin = Api::admin(&server);
    assert_eq!(admin.call("GET", "/oidc/providers", None).expect(200), json!({ "providers": [] }));

    let added = admin.call("PUT", "/oidc/providers/corp", Some(corp(Some(SECRET)))).expect(200);
    assert_eq!(added["id"], "corp");
    assert_eq!(added["display_name"], "Contoso");
    assert_eq!(added["client_secret"], "stored");
    assert_eq!(added["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(added["allowed_domains"], json!(["contoso.example"]));
    assert_eq!(added["auto_provision"], true);
    assert_eq!(added["state"], "unavailable", "nothing answers at {DEAD_ISSUER}");

    // An edit that sends no secret keeps the stored one.
    let mut edit = corp(None);
    edit["display_name"] = json!("Contoso Ltd");
    edit["enabled"] = json!(false);
    let edited = admin.call("PUT", "/oidc/providers/corp", Some(edit)).expect(200);
    assert_eq!(edited["display_name"], "Contoso Ltd");
    assert_eq!(edited["client_secret"], "stored");
    assert_eq!(edited["enabled"], false);
    assert_eq!(edited["state"], "disabled");
    let listed = admin.call("GET", "/oidc/providers", None).expect(200);
    assert_eq!(listed["providers"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["providers"][0]["display_name"], "Contoso Ltd");
    let stored = ok(&server.cli(&["oidc", "list", "--json"]));
    assert!(stored.contains("Contoso Ltd") && !stored.contains(SECRET), "{stored}");

    // Refusals name what is wrong, and change nothing.
    let mut entra = corp(Some(SECRET));
    entra["issuer"] = json!("https://login.microsoftonline.com/common/v2.0");
    let why = admin.call("PUT", "/oidc/providers/corp", Some(entra)).refused(400, "invalid");
    assert!(why.contains("tenant"), "{why}");
    let why = admin.call("PUT", "/oidc/providers/new", Some(corp(None))).refused(400, "invalid");
    assert!(why.contains("secret"), "{why}");
    admin.call("PUT", "/oidc/providers/Bad_Id", Some(corp(Some(SECRET)))).refused(400, "invalid");
    admin
        .call("PUT", "/oidc/providers/corp", Some(json!({ "issuer": 3 })))
        .refused(400, "bad_body");
    assert_eq!(admin.call("GET", "/oidc/providers/corp", None).expect(200)["enabled"], false);
    admin.call("GET", "/oidc/providers/nope", None).refused(404, "not_found");

    admin.call("DELETE", "/oidc/providers/corp", None).expect(204);
    admin.call("GET", "/oidc/providers/corp", None).refused(404, "not_found");
    admin.call("DELETE", "/oidc/providers/corp", None).refused(404, "not_found");
    assert!(!server.log().contains(SECRET), "the secret is in the log");
}

#[test]
fn a_non_admin_is_refused_on_every_single_sign_on_admin_route() {
    let server = TestServer::start();
    let admin = Api::admin(&server);
    admin.call("PUT", "/oidc/providers/corp", Some(corp(Some(SECRET)))).expect(200);
    add_user_with_password(&server, "bob", "bob-primary-password-1");
    let bob = Api::login(&server, "bob", "bob-primary-password-1");
    let attempts = [
        ("GET", "/oidc/providers", None),
        ("GET", "/oidc/providers/corp", None),
        ("PUT", "/oidc/providers/corp", Some(corp(Some("another-secret-value")))),
        ("DELETE", "/oidc/providers/corp", None),
        ("PUT", "/users/bob/login-method", Some(json!({ "login": "both" }))),
        ("POST", "/users/bob/identity", Some(json!({ "provider": "corp", "subject": "b" }))),
        ("DELETE", "/users/bob/identity", None),
        (
            "POST",
            "/users",
            Some(json!({ "name": "eve", "sso": { "provider": "corp", "subject": "e" } })),
        ),
    ];
    for (method, path, body) in attempts {
        bob.call(method, path, body).refused(403, "forbidden");
    }
    let corp = admin.call("GET", "/oidc/providers/corp", None).expect(200);
    assert_eq!(corp["display_name"], "Contoso");
    let bob_now = admin.call("GET", "/users/bob", None).expect(200);
    assert_eq!((&bob_now["login"], &bob_now["external"]), (&json!("password"), &Value::Null));
    admin.call("GET", "/users/eve", None).refused(404, "not_found");
}

#[test]
fn an_admin_sets_the_login_method_and_links_and_unlinks_an_identity() {
    let server = TestServer::start();
    let admin = Api::admin(&server);
    admin.call("PUT", "/oidc/providers/corp", Some(corp(Some(SECRET)))).expect(200);
    add_user_with_password(&server, "alice", "alice-primary-password-1");
    add_user_with_password(&server, "bob", "bob-primary-password-1");

    let method = |login: &str| json!({ "login": login });
    let alice = admin.call("PUT", "/users/alice/login-method", Some(method("sso"))).expect(200);
    assert_eq!(alice["login"], "sso");
    admin.call("PUT", "/users/alice/login-method", Some(method("magic"))).refused(400, "invalid");
    admin.call("PUT", "/users/nobody/login-method", Some(method("sso"))).refused(404, "not_found");
    admin.call("PUT", "/users/alice/login-method", Some(method("password"))).expect(200);

    let link = |provider: &str, subject: &str| json!({ "provider": provider, "subject": subject });
    let linked = admin.call("POST", "/users/alice/identity", Some(link("corp", "a-1"))).expect(200);
    assert_eq!(linked["login"], "both", "a password account keeps its password");
    assert_eq!(linked["external"]["provider"], "corp");
    assert_eq!(linked["external"]["issuer"], DEAD_ISSUER);
    assert_eq!(linked["external"]["subject"], "a-1");
    assert_eq!(linked["external"]["last_sso_at"], Value::Null);
    let msg = admin
        .call("POST", "/users/bob/identity", Some(link("corp", "a-1")))
        .refused(409, "conflict");
    assert!(msg.contains("alice") || msg.contains("linked"), "{msg}");
    admin.call("POST", "/users/bob/identity", Some(link("other", "b"))).refused(404, "not_found");
    assert_eq!(admin.call("GET", "/users/bob", None).expect(200)["external"], Value::Null);

    let unlinked = admin.call("DELETE", "/users/alice/identity", None).expect(200);
    assert_eq!(unlinked["external"], Value::Null);
    // The identity is free again.
    admin.call("POST", "/users/bob/identity", Some(link("corp", "a-1"))).expect(200);

    // An account pre-created for an e-mail: no password, `sso`, linked at its first sign-in.
    let body =
        json!({ "name": "Carol", "sso": { "provider": "corp", "email": "Carol@Contoso.example" } });
    let created = admin.call("POST", "/users", Some(body)).expect(201);
    assert_eq!(created["password"], Value::Null);
    assert_eq!(created["user"]["name"], "carol");
    assert_eq!(created["user"]["login"], "sso");
    assert_eq!(created["user"]["external"]["email"], "carol@contoso.example");
    assert_eq!(created["user"]["external"]["subject"], Value::Null);
    let both =
        json!({ "name": "dan", "sso": { "provider": "corp", "email": "d@x", "subject": "d" } });
    admin.call("POST", "/users", Some(both)).refused(400, "bad_body");
    let unknown = json!({ "name": "dan", "sso": { "provider": "nope", "subject": "d" } });
    admin.call("POST", "/users", Some(unknown)).refused(404, "not_found");
}

#[test]
fn the_public_provider_list_names_the_providers_one_can_sign_in_with() {
    // Without a discovered provider (and without --public-url) the list is empty, for anyone.
    let server = TestServer::start();
    let anonymous = Client::new().get(format!("{}/api/v1/auth/providers", server.base));
    let res = anonymous.send().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res), json!({ "providers": [] }));

    let Some(sso) = Sso::start(&[]) else { return };
    let res = Client::new().get(format!("{}/api/v1/auth/providers", sso.base())).send().unwrap();
    assert_eq!(res.status(), 200);
    let body = json_of(res);
    assert_eq!(body, json!({ "providers": [{ "id": "test", "display_name": "Test IdP" }] }));
    // The admin sees it available, with where its secret comes from only.
    let admin = Api::admin(&sso.server);
    let listed = admin.call("GET", "/oidc/providers", None).expect(200);
    assert_eq!(listed["providers"][0]["state"], "available", "{listed}");
    assert_eq!(listed["providers"][0]["client_secret"], "file", "{listed}");
}

/// The provider form's fields for `corp` at the dead issuer, with `extra` after them.
fn provider_form<'f>(extra: &[(&'f str, &'f str)]) -> Vec<(&'f str, &'f str)> {
    let mut fields = vec![
        ("id", "corp"),
        ("display_name", "Contoso"),
        ("issuer", DEAD_ISSUER),
        ("client_id", "davgate"),
        ("scopes", "openid, email, profile"),
        ("username_claim", "preferred_username"),
        ("groups_claim", "groups"),
        ("allowed_domains", "contoso.example, fabrikam.example"),
        ("auto_provision", "true"),
        ("enabled", "true"),
    ];
    fields.extend_from_slice(extra);
    fields
}

#[test]
fn the_settings_page_adds_edits_and_removes_a_provider_without_ever_showing_its_secret() {
    let server = TestServer::start();
    let mut admin = Visitor::admin(&server);
    let settings = admin.get("/admin/settings");
    settings.shows(200, &["Single sign-on", "Identity providers", "No identity provider yet."]);
    settings.shows(200, &["Provider sign-in needed at least every", "--public-url"]);
    assert_eq!(settings.value("sso_reauth_interval"), "30d");
    assert_eq!(settings.value("sso_recheck_interval"), "1d");
    assert_eq!(settings.value("sso_clock_skew"), "1m");

    let form = admin.get("/admin/settings/sso/new");
    form.shows(200, &["Add a provider", "Client secret", "Never shown again after saving."]);
    assert!(form.tag("client_secret").contains("type=\"password\""));
    admin
        .post("/admin/settings/sso", &provider_form(&[("client_secret", SECRET)]))
        .redirects_to("/admin/settings?done=saved#sso");
    let settings = admin.get("/admin/settings?done=saved");
    settings.shows(200, &["Contoso", DEAD_ISSUER, "Unavailable"]).lacks(&[SECRET]);

    // The edit form is filled with everything but the secret.
    let edit = admin.get("/admin/settings/sso/corp");
    edit.shows(200, &["Edit Contoso", "A secret is stored.", "Leave empty to keep"])
        .lacks(&[SECRET]);
    assert_eq!(edit.value("client_secret"), "");
    assert_eq!(edit.value("issuer"), DEAD_ISSUER);
    assert_eq!(edit.value("allowed_domains"), "contoso.example, fabrikam.example");
    assert!(edit.checked("auto_provision") && edit.checked("enabled"));
    assert!(!edit.checked("refresh_check"));
    let fields = provider_form(&[("display_name", "Contoso Ltd"), ("client_secret", "")]);
    let fields: Vec<_> = fields.into_iter().filter(|(k, _)| *k != "enabled").collect();
    admin.post("/admin/settings/sso", &fields).redirects_to("/admin/settings?done=saved#sso");
    let stored = ok(&server.cli(&["oidc", "list", "--json"]));
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored[0]["display_name"], "Contoso Ltd");
    assert_eq!(stored[0]["client_secret"], "stored", "an empty secret field keeps the secret");
    assert_eq!(stored[0]["enabled"], false, "the unchecked box turned it off");
    admin.get("/admin/settings").shows(200, &["Contoso Ltd", "Turned off"]);

    // A refused form comes back with what was typed, the reason, and no secret.
    admin.get("/admin/settings/sso/new");
    let entra = "https://login.microsoftonline.com/common/v2.0";
    let fields = provider_form(&[("id", "entra"), ("issuer", entra), ("client_secret", SECRET)]);
    let refused = admin.post("/admin/settings/sso", &fields);
    refused.shows(400, &["These identity provider settings are not valid.", "tenant"]);
    refused.lacks(&[SECRET]);
    assert_eq!(refused.value("issuer"), entra);
    assert_eq!(refused.value("client_secret"), "");

    let confirm = admin.get("/admin/settings/sso/corp/remove");
    confirm.shows(200, &["Remove the identity provider Contoso Ltd?", "Its accounts stay"]);
    admin
        .post("/admin/settings/sso/corp/remove", &[])
        .redirects_to("/admin/settings?done=saved#sso");
    admin.get("/admin/settings").shows(200, &["No identity provider yet."]);
    admin.get("/admin/settings/sso/corp").shows(404, &["No identity provider has this id."]);

    // The three settings save with the rest, in their units.
    let settings = admin.get("/admin/settings");
    let mut fields = vec![("sso_reauth_interval", "7d"), ("sso_clock_skew", "10m")];
    for key in ["login_throttle", "propfind_depth_infinity"] {
        if settings.checked(key) {
            fields.push((key, "true"));
        }
    }
    let refused = admin.post("/admin/settings", &fields);
    refused.shows(400, &[]);
    assert_eq!(refused.value("sso_clock_skew"), "1m", "over 5 minutes: refused");
    fields.retain(|(k, _)| *k != "sso_clock_skew");
    admin.post("/admin/settings", &fields).redirects_to("/admin/settings?done=saved");
    assert_eq!(admin.get("/admin/settings").value("sso_reauth_interval"), "7d");
    assert!(!server.log().contains(SECRET), "the secret is in the log");
}

#[test]
fn the_single_sign_on_settings_speak_french() {
    let server = TestServer::start();
    let mut admin = Visitor::speaking(&server, "fr-FR,fr;q=0.9");
    admin.sign_in("admin", &first_admin_password(&server));
    admin.get("/admin/settings").shows(
        200,
        &[
            "Authentification unique",
            "Fournisseurs d’identité",
            "Aucun fournisseur d’identité pour l’instant.",
            "Connexion par le fournisseur exigée au moins tous les",
        ],
    );
    admin.get("/admin/settings/sso/new").shows(200, &["Ajouter un fournisseur", "Secret client"]);
    admin
        .get("/admin/settings/sso/nope")
        .shows(404, &["Aucun fournisseur d’identité n’a cet identifiant."]);
}

#[test]
fn the_admin_user_page_sets_the_login_method_and_links_and_unlinks_an_identity() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-primary-password-1");
    let mut admin = Visitor::admin(&server);
    admin.get("/admin/settings/sso/new");
    admin.post("/admin/settings/sso", &provider_form(&[("client_secret", SECRET)]));

    let page = admin.get("/admin/users/alice");
    page.shows(200, &["Sign-in method", "Linked identity", "No identity is linked."]);
    assert!(page.html.contains("<option value=\"password\" selected>"), "{}", page.html);
    admin
        .post("/admin/users/alice/login-method", &[("login", "both")])
        .redirects_to("/admin/users/alice?done=saved");
    let page = admin.get("/admin/users/alice");
    assert!(page.html.contains("<option value=\"both\" selected>"), "{}", page.html);

    admin
        .post("/admin/users/alice/link", &[("provider", "corp"), ("subject", "alice-sub")])
        .redirects_to("/admin/users/alice?done=saved");
    let page = admin.get("/admin/users/alice");
    page.shows(200, &["alice-sub", "Last sign-in through the provider", "Never", "Unlink"]);
    // The same identity for another account is refused.
    add_user_with_password(&server, "bob", "bob-primary-password-1");
    admin.get("/admin/users/bob");
    let taken =
        admin.post("/admin/users/bob/link", &[("provider", "corp"), ("subject", "alice-sub")]);
    taken.shows(409, &["This identity is already linked to another account."]);

    admin.get("/admin/users/alice");
    admin.post("/admin/users/alice/unlink", &[]).redirects_to("/admin/users/alice?done=saved");
    admin.get("/admin/users/alice").shows(200, &["No identity is linked."]).lacks(&["alice-sub"]);

    // The add-user form pre-creates an account for an e-mail at a provider.
    let users = admin.get("/admin");
    users.shows(200, &["Signs in with", "A password", "Contoso"]);
    let fields = [("name", "carol"), ("sso", "corp"), ("identity", "carol@contoso.example")];
    admin.post("/admin/users", &fields).redirects_to("/admin/users/carol?done=saved");
    let carol = admin.get("/admin/users/carol");
    carol.shows(200, &["carol@contoso.example", "Waiting for the first sign-in", "Contoso"]);
    assert!(carol.html.contains("<option value=\"sso\" selected>"), "{}", carol.html);
    assert!(!carol.html.contains(SECRET));
}

#[test]
fn a_non_admin_reaches_none_of_the_single_sign_on_pages() {
    let server = TestServer::start();
    let mut admin = Visitor::admin(&server);
    admin.get("/admin/settings/sso/new");
    admin.post("/admin/settings/sso", &provider_form(&[("client_secret", SECRET)]));
    add_user_with_password(&server, "bob", "bob-primary-password-1");
    let mut bob = Visitor::signed_in(&server, "bob", "bob-primary-password-1");
    for path in
        ["/admin/settings/sso/new", "/admin/settings/sso/corp", "/admin/settings/sso/corp/remove"]
    {
        bob.get(path).shows(403, &[]).lacks(&[SECRET, DEAD_ISSUER]);
    }
    bob.get("/profile");
    let fields =
        provider_form(&[("client_secret", "another-secret-value"), ("display_name", "Evil")]);
    bob.post("/admin/settings/sso", &fields).shows(403, &[]);
    bob.post("/admin/settings/sso/corp/remove", &[]).shows(403, &[]);
    bob.post("/admin/users/bob/login-method", &[("login", "sso")]).shows(403, &[]);
    bob.post("/admin/users/bob/link", &[("provider", "corp"), ("subject", "b")]).shows(403, &[]);
    let stored = ok(&server.cli(&["oidc", "list", "--json"]));
    assert!(stored.contains("Contoso") && !stored.contains("Evil"), "{stored}");
}

#[test]
fn the_settings_single_sign_on_part_in_a_browser() {
    use crate::browser::{Browser, ChromeDriver, runtime};
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    let api = Api::admin(&server);
    api.call("PUT", "/oidc/providers/corp", Some(corp(Some(SECRET)))).expect(200);
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));
    rt.block_on(async {
        b.sign_in_to_profile("admin", &first_admin_password(&server)).await;
        b.goto("/admin/settings").await;
        let part = b.text("section[aria-labelledby=sso]").await;
        for shown in ["Single sign-on", "Identity providers", "Contoso", "Unavailable"] {
            assert!(part.contains(shown), "{shown:?} is not in the part:\n{part}");
        }
        assert!(!b.source().await.contains(SECRET));
        b.screenshot_of("section[aria-labelledby=sso]", "settings-sso").await;
        b.goto("/admin/settings/sso/corp").await;
        assert_eq!(b.text("h1").await, "Edit Contoso");
        b.screenshot("settings-sso-edit", false).await;
    });
    rt.block_on(b.close());
}
