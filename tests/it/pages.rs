//! The server-rendered pages through plain HTTP, as a browser without JavaScript uses them:
//! languages, security headers, the CSRF and cross-site checks on every form, the profile's app
//! passwords, the admin pages and the settings. What a person sees is what is checked: the
//! status, the texts on the page, where a form sends them next.

use crate::util::*;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a French browser sends.
const FRENCH: &str = "fr-FR,fr;q=0.9";
/// What an English browser sends.
const ENGLISH: &str = "en-US,en;q=0.9";
/// A Windows Explorer (mini-redirector) User-Agent.
const WINDOWS_EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";

/// The primary password the tests give `name`.
pub(crate) fn primary(name: &str) -> String {
    format!("{name}-primary-password-1")
}

/// Turns the HTML escapes of a template back into the characters a person reads.
fn unescape(html: &str) -> String {
    html.replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end` after it.
fn between<'h>(html: &'h str, start: &str, end: &str) -> Option<&'h str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

/// One answer of the server.
pub(crate) struct Page {
    pub(crate) status: u16,
    headers: HeaderMap,
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("an ASCII header"))
    }

    /// The page as a person reads it (escapes undone).
    pub(crate) fn text(&self) -> String {
        unescape(&self.html)
    }

    /// Asserts the status and that each of `texts` is on the page.
    pub(crate) fn shows(&self, status: u16, texts: &[&str]) -> &Self {
        assert_eq!(self.status, status, "unexpected status; the page:\n{}", self.html);
        let text = self.text();
        for wanted in texts {
            assert!(text.contains(wanted), "{wanted:?} is not on the page:\n{}", self.html);
        }
        self
    }

    /// Asserts that none of `texts` is on the page.
    pub(crate) fn lacks(&self, texts: &[&str]) -> &Self {
        let text = self.text();
        for unwanted in texts {
            assert!(!text.contains(unwanted), "{unwanted:?} is on the page:\n{}", self.html);
        }
        self
    }

    /// Asserts a 303 to `location`.
    pub(crate) fn redirects_to(&self, location: &str) {
        assert_eq!(self.status, 303, "not a redirect; the page:\n{}", self.html);
        assert_eq!(self.header("location"), Some(location));
    }

    /// The `lang` of the `<html>` element.
    pub(crate) fn lang(&self) -> &str {
        between(&self.html, "<html lang=\"", "\"").expect("an <html lang>")
    }

    /// The `<h1>`.
    pub(crate) fn heading(&self) -> String {
        unescape(between(&self.html, "<h1>", "</h1>").expect("an <h1>"))
    }

    /// The error message the page shows (`#error`), if any.
    pub(crate) fn error(&self) -> Option<String> {
        between(&self.html, "id=\"error\">", "</p>").map(unescape)
    }

    /// The success message the page shows, if any.
    pub(crate) fn flash(&self) -> Option<String> {
        between(&self.html, "class=\"flash\" role=\"status\">", "</p>").map(unescape)
    }

    /// The CSRF token the page's forms carry, if it has one.
    pub(crate) fn csrf(&self) -> Option<String> {
        between(&self.html, "<input type=\"hidden\" name=\"csrf\" value=\"", "\"").map(String::from)
    }

    /// The start tag of the element with this `id`.
    pub(crate) fn tag(&self, id: &str) -> &str {
        let at = self.html.find(&format!(" id=\"{id}\"")).unwrap_or_else(|| {
            panic!("no element #{id} on the page:\n{}", self.html);
        });
        let start = self.html[..at].rfind('<').expect("a start tag");
        let end = at + self.html[at..].find('>').expect("the tag's end");
        &self.html[start..=end]
    }

    /// The `value` of the input with this `id`.
    pub(crate) fn value(&self, id: &str) -> String {
        unescape(between(self.tag(id), "value=\"", "\"").unwrap_or_default())
    }

    /// Whether the checkbox with this `id` is checked.
    pub(crate) fn checked(&self, id: &str) -> bool {
        self.tag(id).contains(" checked")
    }

    /// The secret of the one-time dialog: the value of `#new-password`, after checking that it
    /// appears nowhere else in the HTML.
    pub(crate) fn secret(&self) -> String {
        assert!(self.html.contains("<dialog id=\"shown\""), "no dialog:\n{}", self.html);
        let secret = self.value("new-password");
        assert!(secret.len() >= 16, "no secret in the dialog: {secret:?}");
        // Besides its own box, only the dialog's "Connect your application" lines hold it.
        let outside = match self.html.split_once("<section class=\"connect\"") {
            Some((before, after)) => {
                let (connect, rest) = after.split_once("</section>").unwrap_or((after, ""));
                let dialog = between(&self.html, "<dialog", "</dialog>").unwrap_or_default();
                assert!(dialog.contains(connect), "the connect lines are outside the dialog");
                format!("{before}{rest}")
            }
            None => self.html.clone(),
        };
        assert_eq!(outside.matches(&secret).count(), 1, "the secret is not shown exactly once");
        secret
    }

    /// Asserts the headers every page carries.
    pub(crate) fn is_hardened(&self, what: &str) {
        let csp = self.header("content-security-policy").unwrap_or_else(|| panic!("{what}: CSP"));
        for directive in ["default-src 'none'", "script-src 'sha256-", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{what}: {directive} is not in {csp:?}");
        }
        // 'self' would let a script uploaded under /dav/ run on the pages.
        let script_src = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(!script_src.contains("'self'"), "{what}: {script_src:?}");
        assert!(!csp.contains("unsafe"), "{what}: {csp:?}");
        assert_eq!(self.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(self.header("referrer-policy"), Some("same-origin"), "{what}");
        assert_eq!(self.header("cache-control"), Some("no-store"), "{what}");
        if self.status != 303 {
            let kind = self.header("content-type");
            assert_eq!(kind, Some("text/html; charset=utf-8"), "{what}");
        }
    }
}

/// A browser without JavaScript: its own cookies, its language, the CSRF token of the last page
/// it saw; it does not follow redirects, so that each 303 can be checked.
pub(crate) struct Visitor<'a> {
    server: &'a TestServer,
    client: Client,
    cookies: BTreeMap<String, String>,
    accept_language: Option<&'static str>,
    csrf: String,
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(server: &'a TestServer) -> Self {
        let client = Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Visitor { server, client, cookies: BTreeMap::new(), accept_language: None, csrf: "".into() }
    }

    /// A visitor whose browser asks for pages in `accept_language`.
    pub(crate) fn speaking(server: &'a TestServer, accept_language: &'static str) -> Self {
        Visitor { accept_language: Some(accept_language), ..Self::new(server) }
    }

    /// A visitor signed in as `user` (no second factor), with the profile's CSRF token.
    pub(crate) fn signed_in(server: &'a TestServer, user: &str, password: &str) -> Self {
        let mut visitor = Self::new(server);
        visitor.sign_in(user, password);
        visitor
    }

    /// The first admin, signed in.
    pub(crate) fn admin(server: &'a TestServer) -> Self {
        Self::signed_in(server, "admin", &first_admin_password(server))
    }

    /// Signs in through the form; lands on the profile.
    pub(crate) fn sign_in(&mut self, user: &str, password: &str) {
        self.submit("/login", &[("user", user), ("password", password)], &[])
            .redirects_to("/profile");
        assert!(self.cookies.contains_key("davgate_session"), "no session cookie");
        self.get("/profile").shows(200, &[]);
    }

    pub(crate) fn session(&self) -> String {
        self.cookies.get("davgate_session").cloned().expect("a session")
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let mut request = self.client.request(method, format!("{}{path}", self.server.base));
        if !self.cookies.is_empty() {
            let cookies: Vec<String> =
                self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        if let Some(language) = self.accept_language {
            request = request.header(header::ACCEPT_LANGUAGE, language);
        }
        request
    }

    /// Sends `request`, keeps the cookies it sets and the CSRF token of the page.
    pub(crate) fn send(&mut self, request: RequestBuilder) -> Page {
        let res = request.send().expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let html = res.text().expect("body");
        for cookie in headers.get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().expect("an ASCII cookie");
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let page = Page { status, headers, html };
        if let Some(csrf) = page.csrf().filter(|c| !c.is_empty()) {
            self.csrf = csrf;
        }
        page
    }

    pub(crate) fn get(&mut self, path: &str) -> Page {
        self.send(self.request(reqwest::Method::GET, path))
    }

    /// Posts a form exactly as given, with extra request headers.
    pub(crate) fn submit(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.request(reqwest::Method::POST, path).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request)
    }

    /// Posts a form of the last page: its CSRF token, then `fields`.
    pub(crate) fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.submit(path, &all, &[])
    }
}

/// The app passwords of `user` as `app-password list --json` shows them (active ones).
fn active_app_passwords(server: &TestServer, user: &str) -> Vec<serde_json::Value> {
    let out = ok(&server.cli(&["app-password", "list", user, "--json"]));
    serde_json::from_str(&out).expect("a JSON list")
}

/// The user names `user list --json` shows.
fn user_names(server: &TestServer) -> Vec<String> {
    let out = ok(&server.cli(&["user", "list", "--json"]));
    let users: Vec<serde_json::Value> = serde_json::from_str(&out).expect("a JSON list");
    users.iter().map(|u| u["name"].as_str().expect("a name").to_string()).collect()
}

/// One setting's value as `settings get` prints it.
fn setting(server: &TestServer, key: &str) -> String {
    ok(&server.cli(&["settings", "get"]))
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {key} in settings get"))
}

#[test]
fn the_sign_in_page_speaks_the_browsers_language() {
    let server = TestServer::start();
    let english = Visitor::new(&server).get("/");
    english.shows(200, &["Sign in", "User name", "Password"]);
    assert_eq!(english.lang(), "en");
    assert_eq!(english.heading(), "Sign in");
    assert!(english.html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(english.html.contains("href=\"/lang/fr?next=%2F\""), "the switch to French");

    let french = Visitor::speaking(&server, FRENCH).get("/");
    french.shows(200, &["Connexion", "Nom d’utilisateur", "Mot de passe"]);
    assert_eq!(french.lang(), "fr");
    assert_eq!(french.heading(), "Connexion");
    french.lacks(&["Sign in", "User name"]);

    // A browser asking only for a language davgate does not speak gets English.
    let fallback = Visitor::speaking(&server, "de-DE,de;q=0.9").get("/");
    assert_eq!(fallback.lang(), "en");
}

#[test]
fn the_language_cookie_wins_and_follows_the_signed_in_pages() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    server.app_password("alice", "Work laptop");

    // A French browser chooses English: the cookie wins over Accept-Language.
    let mut visitor = Visitor::speaking(&server, FRENCH);
    let switch = visitor.get("/lang/en?next=/");
    switch.redirects_to("/");
    let cookie = switch.header("set-cookie").expect("a language cookie");
    assert!(cookie.starts_with("davgate_lang=en;") && cookie.contains("Path=/"), "{cookie}");
    let page = visitor.get("/");
    assert_eq!(page.lang(), "en");
    assert_eq!(page.heading(), "Sign in");

    // An English browser chooses French, from the sign-in page to the profile.
    let mut visitor = Visitor::speaking(&server, ENGLISH);
    visitor.get("/lang/fr?next=/").redirects_to("/");
    let page = visitor.get("/");
    assert_eq!(page.lang(), "fr");
    assert_eq!(page.heading(), "Connexion");
    visitor.sign_in("alice", &primary("alice"));
    let profile = visitor.get("/profile");
    profile.shows(200, &["Mon profil", "Mots de passe d’application", "Work laptop"]);
    assert_eq!(profile.lang(), "fr");
    // Created just now for the default 90 days; never used.
    profile.shows(200, &["dans 3 mois", "Non attribuée", "Jamais"]).lacks(&["in 3 months"]);

    // A new one from the French page: the dialog is French too.
    let created = visitor.post("/profile/app-passwords", &[("name", "Téléphone")]);
    created.shows(200, &["Votre nouveau mot de passe d’application", "Téléphone"]);
    created.shows(200, &["vous permet de vous connecter jusqu’au", "Il ne sera plus jamais"]);
    created.secret();

    // Back to English from the profile: the switch returns to the profile.
    visitor.get("/lang/en?next=/profile").redirects_to("/profile");
    let profile = visitor.get("/profile");
    assert_eq!(profile.lang(), "en");
    profile.shows(200, &["My profile", "in 3 months", "Not assigned", "Never"]);

    // A language the server does not know sets no cookie; a bogus cookie is ignored.
    let mut visitor = Visitor::speaking(&server, FRENCH);
    let switch = visitor.get("/lang/xx?next=/");
    switch.redirects_to("/");
    assert_eq!(switch.header("set-cookie"), None);
    visitor.cookies.insert("davgate_lang".into(), "xx".into());
    assert_eq!(visitor.get("/").lang(), "fr");
}

#[test]
fn the_language_switch_never_sends_anyone_to_another_site() {
    let server = TestServer::start();
    let mut visitor = Visitor::new(&server);
    for next in ["//evil.example", "https://evil.example", "/\\evil", "evil.example", "/\\/evil"] {
        let encoded = serde_urlencoded::to_string([("next", next)]).unwrap();
        let switch = visitor.get(&format!("/lang/fr?{encoded}"));
        assert_eq!(switch.status, 303, "{next}");
        assert_eq!(switch.header("location"), Some("/"), "next={next:?} must go to / instead");
    }
    // The same, sent without percent-encoding.
    for query in ["next=//evil.example", "next=https://evil.example/x", "next=/\\evil"] {
        let switch = visitor.get(&format!("/lang/fr?{query}"));
        assert_eq!(switch.header("location"), Some("/"), "{query} must go to / instead");
    }
    // A path on this site is kept, with its query.
    let encoded = serde_urlencoded::to_string([("next", "/admin/users/alice?tab=security")]);
    visitor
        .get(&format!("/lang/fr?{}", encoded.unwrap()))
        .redirects_to("/admin/users/alice?tab=security");
}

#[test]
fn the_language_switch_refuses_a_next_that_browsers_read_as_another_site() {
    // Browsers drop tabs and newlines from a URL (WHATWG URL parser): `/<TAB>/evil.example`
    // becomes `//evil.example`, another site.
    let server = TestServer::start();
    let mut visitor = Visitor::new(&server);
    let mut wrong = Vec::new();
    for next in ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example"] {
        let encoded = serde_urlencoded::to_string([("next", next)]).unwrap();
        let switch = visitor.get(&format!("/lang/fr?{encoded}"));
        let location = switch.header("location");
        if (switch.status, location) != (303, Some("/")) {
            wrong.push(format!("next={next:?}: {} with Location {location:?}", switch.status));
        }
    }
    assert!(wrong.is_empty(), "each must be a 303 to / instead:\n{}", wrong.join("\n"));
}

#[test]
fn a_wrong_password_stays_on_the_sign_in_page_and_signing_out_ends_the_session() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let mut visitor = Visitor::new(&server);
    let refused =
        visitor.submit("/login", &[("user", "alice"), ("password", "not-her-password")], &[]);
    refused.shows(401, &["Sign in"]);
    refused.is_hardened("the refused sign-in");
    assert_eq!(refused.error().as_deref(), Some("Wrong user name or password."));
    assert_eq!(refused.value("user"), "alice", "the typed user name is kept");
    assert_eq!(refused.value("password"), "", "the password is not sent back");
    assert_eq!(session_cookie(&refused.headers), None, "a refused sign-in opens no session");
    refused.lacks(&["not-her-password"]);

    // In French, the same refusal in French.
    let refused = Visitor::speaking(&server, FRENCH).submit(
        "/login",
        &[("user", "nobody"), ("password", "whatever")],
        &[],
    );
    refused.shows(401, &["Connexion"]);
    assert_eq!(refused.error().as_deref(), Some("Nom d’utilisateur ou mot de passe incorrect."));

    visitor.sign_in("alice", &primary("alice"));
    visitor.get("/").redirects_to("/profile");
    let profile = visitor.get("/profile");
    profile.shows(200, &["My profile", "alice", "Sign out"]);
    assert_eq!(profile.error(), None);

    // Sign out: back to the sign-in page, and the old cookie opens nothing any more.
    let token = visitor.session();
    visitor.post("/logout", &[]).redirects_to("/");
    assert!(!visitor.cookies.contains_key("davgate_session"), "the cookie is cleared");
    visitor.get("/").shows(200, &["Sign in"]);
    visitor.cookies.insert("davgate_session".into(), token);
    visitor.get("/profile").redirects_to("/");
}

#[test]
fn every_page_carries_the_security_headers_and_the_assets_their_types() {
    let server = TestServer::start();
    let mut anonymous = Visitor::new(&server);
    anonymous.get("/").is_hardened("GET / signed out");
    anonymous.get("/profile").is_hardened("GET /profile signed out");
    Visitor::new(&server).get("/lang/fr?next=/").is_hardened("the language switch");

    let mut admin = Visitor::admin(&server);
    for path in [
        "/",
        "/profile",
        "/admin",
        "/admin/users/admin",
        "/admin/users/admin?tab=security",
        "/admin/users/admin/remove",
        "/admin/settings",
        "/admin/users/nobody",
        "/no-such-page",
    ] {
        admin.get(path).is_hardened(&format!("GET {path}"));
    }
    let created = admin.post("/profile/app-passwords", &[("name", "Laptop")]);
    created.shows(200, &["Your new app password"]);
    created.is_hardened("the page that shows a new app password");
    let refused = admin.submit("/profile/app-passwords", &[("name", "x")], &[]);
    refused.shows(403, &["This form has expired"]).is_hardened("a CSRF refusal");

    let css = anonymous.get("/static/davgate.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.html.contains('{'), "a stylesheet");
    let js = anonymous.get("/static/davgate.js");
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(!js.html.is_empty());
    for asset in [&css, &js] {
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        assert!(asset.header("content-security-policy").is_some());
    }
    let page = anonymous.get("/");
    assert!(page.html.contains("href=\"/static/davgate.css\""));
    assert!(page.html.contains("src=\"/static/davgate.js\""));

    for path in ["/no-such-page", "/static/other.js", "/admin/users/admin/nothing/here"] {
        let missing = anonymous.get(path);
        missing.shows(404, &["Page not found", "Not found."]);
        assert_eq!(missing.heading(), "Page not found", "{path}");
        missing.is_hardened(path);
    }
    let missing = Visitor::speaking(&server, FRENCH).get("/no-such-page");
    missing.shows(404, &["Page introuvable"]);
}

#[test]
fn a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let (id, _) = create_app_password(server.dir(), "alice", "Work laptop");
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    // Her second session, e.g. on her phone: same user, another token.
    let other = Visitor::signed_in(&server, "alice", &primary("alice"));
    assert_ne!(alice.csrf, other.csrf);

    let create = "/profile/app-passwords";
    let revoke = format!("/profile/app-passwords/{id}/revoke");
    for (what, csrf) in [
        ("no token", None),
        ("an empty token", Some("")),
        ("another session's token", Some(other.csrf.as_str())),
        ("a made-up token", Some(&*"ab".repeat(32))),
    ] {
        let mut fields = vec![("name", "Sneaky")];
        fields.extend(csrf.map(|c| ("csrf", c)));
        let refused = alice.submit(create, &fields, &[]);
        refused.shows(403, &["This form has expired", "Reload the page and try again."]);
        refused.lacks(&["dgp-"]);
        let refused = alice.submit(&revoke, &fields[1..], &[]);
        assert_eq!(refused.status, 403, "revoke with {what}");
        let refused = alice.submit("/logout", &fields[1..], &[]);
        assert_eq!(refused.status, 403, "sign out with {what}");
    }
    let listed = active_app_passwords(&server, "alice");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "Work laptop");
    alice.get("/profile").shows(200, &["Work laptop"]).lacks(&["Sneaky"]);

    // With her own token, the same form works.
    alice.post(create, &[("name", "Phone")]).shows(200, &["Your new app password"]);
    assert_eq!(active_app_passwords(&server, "alice").len(), 2);
}

#[test]
fn cross_site_posts_are_refused_even_for_the_sign_in() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let password = primary("alice");
    let credentials = [("user", "alice"), ("password", password.as_str())];
    let mut visitor = Visitor::new(&server);
    for headers in [
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", "http://evil.example")],
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", server.base.as_str())],
    ] {
        let refused = visitor.submit("/login", &credentials, headers);
        refused.shows(403, &["This form has expired"]);
        assert_eq!(session_cookie(&refused.headers), None, "{headers:?} opened a session");
    }
    // What Chromium sends for the page's own form.
    let chromium = [("Sec-Fetch-Site", "same-origin"), ("Origin", "null")];
    visitor.submit("/login", &credentials, &chromium).redirects_to("/profile");
    visitor.get("/profile").shows(200, &["No app password is configured yet."]);

    let csrf = visitor.csrf.clone();
    let form = [("csrf", csrf.as_str()), ("name", "Laptop")];
    for headers in [
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
    ] {
        let refused = visitor.submit("/profile/app-passwords", &form, headers);
        refused.shows(403, &["This form has expired"]).lacks(&["dgp-"]);
    }
    assert!(active_app_passwords(&server, "alice").is_empty());

    let created = visitor.submit("/profile/app-passwords", &form, &chromium);
    created.shows(200, &["Your new app password"]).secret();
    let origin = [("Origin", server.base.as_str())];
    let form = [("csrf", csrf.as_str()), ("name", "Phone")];
    visitor.submit("/profile/app-passwords", &form, &origin).shows(200, &["Phone"]).secret();
    assert_eq!(active_app_passwords(&server, "alice").len(), 2);
}

#[test]
fn signed_out_a_form_post_goes_back_to_the_sign_in_page() {
    let server = TestServer::start();
    let mut visitor = Visitor::new(&server);
    let csrf = "ab".repeat(32);
    let form = [("csrf", csrf.as_str()), ("name", "Laptop")];
    visitor.submit("/profile/app-passwords", &form, &[]).redirects_to("/");
    visitor.submit("/admin/users", &[("name", "mallory")], &[]).redirects_to("/");
    visitor.get("/profile").redirects_to("/");
    visitor.get("/admin").redirects_to("/");

    // A made-up session cookie: the same, and the browser is told to forget it.
    visitor.cookies.insert("davgate_session".into(), "cd".repeat(32));
    let answer = visitor.submit("/profile/app-passwords", &form, &[]);
    answer.redirects_to("/");
    let cookie = answer.header("set-cookie").expect("the cookie is cleared");
    assert!(cookie.starts_with("davgate_session=;") && cookie.contains("Max-Age=0"), "{cookie}");
    assert!(!visitor.cookies.contains_key("davgate_session"));
    assert_eq!(user_names(&server), ["admin"]);
}

#[test]
fn a_user_creates_an_app_password_sees_it_once_and_revokes_it() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    let profile = alice.get("/profile");
    profile
        .shows(200, &["My profile", "No app password is configured yet.", "Add an app password"]);
    assert!(profile.html.contains("/dav/"), "the WebDAV address");
    profile.lacks(&["Users", "Settings"]);

    let created = alice.post("/profile/app-passwords", &[("name", "Work laptop")]);
    created.shows(200, &["Your new app password", "Work laptop", "Copy", "Done"]);
    created.shows(200, &["This app password lets you connect until "]);
    created.shows(200, &["It will never be shown again"]);
    let password = created.secret();
    assert!(password.starts_with("dgp-"), "{password}");

    let profile = alice.get("/profile");
    profile.shows(200, &["Work laptop", "Not assigned", "Never", "in 3 months"]);
    profile.lacks(&[&password, &password.replace('-', ""), "No app password is configured"]);
    assert!(!profile.html.contains("<dialog"), "the dialog is gone");
    assert!(!profile.html.contains("new-password"));

    // A client without a User-Agent uses it: the row says so, still without the secret.
    assert_eq!(server.probe("alice", &password), 207, "the new app password opens WebDAV");
    let profile = alice.get("/profile");
    profile.shows(200, &["Unknown client", "just now"]).lacks(&[&password, "Not assigned"]);

    for blank in ["", "   "] {
        let refused = alice.post("/profile/app-passwords", &[("name", blank)]);
        refused.shows(400, &[]);
        let error = refused.error().expect("an error message");
        assert!(error.starts_with("Give the app password a name"), "{error}");
        assert!(refused.html.contains("id=\"add-app-password\""), "the form is shown again");
        assert!(!refused.html.contains("<dialog"));
    }

    let refused = alice.post("/profile/app-passwords", &[("name", "Work laptop")]);
    refused.shows(409, &[]).lacks(&[&password]);
    assert_eq!(
        refused.error().as_deref(),
        Some("You already have an active app password with this name.")
    );
    assert_eq!(refused.value("name"), "Work laptop", "the typed name is kept");
    assert!(!refused.html.contains("<dialog"));
    assert_eq!(active_app_passwords(&server, "alice").len(), 1);

    let profile = alice.get("/profile");
    let id = between(&profile.html, "action=\"/profile/app-passwords/", "/revoke\"")
        .expect("a Revoke form")
        .to_string();
    let revoked = alice.post(&format!("/profile/app-passwords/{id}/revoke"), &[]);
    revoked.redirects_to("/profile?done=revoked");
    let profile = alice.get("/profile?done=revoked");
    assert_eq!(
        profile.flash().as_deref(),
        Some("The app password was revoked: its application can no longer connect.")
    );
    profile.shows(200, &["No app password is configured yet."]).lacks(&["Work laptop"]);
    assert_eq!(server.probe("alice", &password), 401, "a revoked app password opens WebDAV");

    // The name is free again once the old one is revoked.
    let again = alice.post("/profile/app-passwords", &[("name", "Work laptop")]);
    assert_ne!(again.shows(200, &["Your new app password"]).secret(), password);
}

#[test]
fn a_user_who_is_not_an_admin_gets_403_on_every_admin_page() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", &primary("alice"));
    let mut alice = Visitor::signed_in(&server, "alice", &primary("alice"));
    let profile = alice.get("/profile");
    assert!(!profile.html.contains("href=\"/admin\""), "no Users link for a user");
    for path in [
        "/admin",
        "/admin/users/alice",
        "/admin/users/admin",
        "/admin/users/admin?tab=security",
        "/admin/users/admin/remove",
        "/admin/settings",
    ] {
        let refused = alice.get(path);
        assert_eq!(refused.status, 403, "GET {path}");
        assert_eq!(refused.error().as_deref(), Some("You are not allowed to do this."), "{path}");
    }
    for (path, fields) in [
        ("/admin/users", &[("name", "mallory"), ("admin", "on")][..]),
        ("/admin/users/admin/disable", &[]),
        ("/admin/users/admin/password", &[]),
        ("/admin/users/admin/remove", &[]),
        ("/admin/settings", &[("app_credentials_ttl", "1d")]),
    ] {
        let refused = alice.post(path, fields);
        assert_eq!(refused.status, 403, "POST {path}");
        refused.shows(403, &["You are not allowed to do this."]).lacks(&["dgp-"]);
    }
    assert_eq!(user_names(&server), ["admin", "alice"]);
    assert_eq!(setting(&server, "app_credentials_ttl"), "90d");
    assert_eq!(setting(&server, "login_throttle"), "true");
}

#[test]
fn an_admin_adds_users_whose_password_is_shown_once() {
    let server = TestServer::start();
    let mut admin = Visitor::admin(&server);
    let users = admin.get("/admin");
    users.shows(200, &["Users", "Add a user", "Administrator"]);
    assert!(users.html.contains("data-user=\"admin\""));

    let created = admin.post("/admin/users", &[("name", "carol")]);
    created.shows(200, &["Created carol. Their password:", "it will never be shown again"]);
    let password = created.secret();
    assert!(created.html.contains("data-user=\"carol\""), "carol is listed under the dialog");
    let listed = admin.get("/admin");
    listed.lacks(&[&password]);
    assert!(listed.html.contains("data-user=\"carol\""));
    assert!(!listed.html.contains("<dialog"));

    // The password shown signs carol in.
    let mut carol = Visitor::signed_in(&server, "carol", &password);
    carol.get("/profile").shows(200, &["carol", "No app password is configured yet."]);
    assert_eq!(carol.get("/admin").status, 403, "carol was not made an admin");

    let refused = admin.post("/admin/users", &[("name", "a/b")]);
    refused.shows(400, &[]);
    let error = refused.error().expect("an error message");
    assert!(error.contains("'a/b' is not a valid user name"), "{error}");
    assert!(!refused.html.contains("<dialog"));

    let refused = admin.post("/admin/users", &[("name", "carol")]);
    refused.shows(409, &[]);
    let error = refused.error().expect("an error message");
    assert!(error.contains("a user named 'carol' already exists"), "{error}");
    assert!(!refused.html.contains("<dialog"));

    admin.post("/admin/users", &[("name", "dave"), ("admin", "on")]).secret();
    let dave = admin.get("/admin/users/dave");
    dave.shows(200, &["Edit user dave", "Administrator", "Active"]);
    assert_eq!(user_names(&server), ["admin", "carol", "dave"]);
}

#[test]
fn disabling_a_user_ends_their_session_and_enabling_lets_them_back_in() {
    let server = TestServer::start();
    add_user_with_password(&server, "bob", &primary("bob"));
    let mut bob = Visitor::signed_in(&server, "bob", &primary("bob"));
    let mut admin = Visitor::admin(&server);
    admin.get("/admin/users/bob").shows(200, &["Edit user bob", "Active", "Disable"]);

    admin.post("/admin/users/bob/disable", &[]).redirects_to("/admin/users/bob?done=disabled");
    let page = admin.get("/admin/users/bob?done=disabled");
    assert_eq!(page.flash().as_deref(), Some("The user was disabled."));
    page.shows(200, &["Disabled", "Enable"]);

    bob.get("/profile").redirects_to("/");
    let mut again = Visitor::new(&server);
    let refused = again.submit("/login", &[("user", "bob"), ("password", &primary("bob"))], &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.error().as_deref(), Some("Wrong user name or password."));

    admin.post("/admin/users/bob/enable", &[]).redirects_to("/admin/users/bob?done=enabled");
    let page = admin.get("/admin/users/bob?done=enabled");
    assert_eq!(page.flash().as_deref(), Some("The user was enabled."));
    page.shows(200, &["Active", "Disable"]);
    again.sign_in("bob", &primary("bob"));
}

#[test]
fn resetting_a_password_shows_the_new_one_once_and_the_old_one_stops_working() {
    let server = TestServer::start();
    add_user_with_password(&server, "bob", &primary("bob"));
    let mut bob = Visitor::signed_in(&server, "bob", &primary("bob"));
    let mut admin = Visitor::admin(&server);
    let reset = admin.post("/admin/users/bob/password", &[]);
    reset.shows(200, &["Reset password", "New password of bob:", "it will never be shown again"]);
    let password = reset.secret();
    assert!(reset.html.contains("href=\"/admin/users/bob\" id=\"done\""), "Done goes back");
    admin.get("/admin/users/bob").shows(200, &["Edit user bob"]).lacks(&[&password]);

    bob.get("/profile").redirects_to("/");
    let mut visitor = Visitor::new(&server);
    let refused = visitor.submit("/login", &[("user", "bob"), ("password", &primary("bob"))], &[]);
    assert_eq!(refused.status, 401, "the old password still signs in");
    visitor.sign_in("bob", &password);
}

#[test]
fn removing_a_user_asks_first_and_the_last_admin_stays() {
    let server = TestServer::start();
    server.add_user("bob");
    let bobs = server.app_password("bob", "Laptop");
    let mut admin = Visitor::admin(&server);

    let confirm = admin.get("/admin/users/bob/remove");
    confirm.shows(200, &["Remove user", "Remove bob and all their app passwords?", "Cancel"]);
    confirm.shows(200, &["Their files are kept aside on the server (files/.removed/)"]);
    assert!(confirm.html.contains("action=\"/admin/users/bob/remove\""));
    assert_eq!(user_names(&server), ["admin", "bob"], "asking removes nothing");

    admin.post("/admin/users/bob/remove", &[]).redirects_to("/admin?done=removed");
    let users = admin.get("/admin?done=removed");
    assert_eq!(users.flash().as_deref(), Some("The user was removed."));
    assert!(!users.html.contains("data-user=\"bob\""));
    assert_eq!(user_names(&server), ["admin"]);
    assert_eq!(server.probe("bob", &bobs), 401, "a removed user's app password opens WebDAV");
    let gone = admin.get("/admin/users/bob");
    assert_eq!(gone.status, 404);
    assert!(gone.error().is_some_and(|e| e.contains("bob")), "{}", gone.html);

    for action in ["remove", "disable"] {
        let refused = admin.post(&format!("/admin/users/admin/{action}"), &[]);
        refused.shows(409, &["That did not work"]);
        let error = refused.error().expect("an error message");
        assert!(error.contains("'admin' is the last enabled admin"), "{action}: {error}");
    }
    assert_eq!(user_names(&server), ["admin"]);
    admin.get("/admin/users/admin").shows(200, &["Active"]);
    admin.get("/profile").shows(200, &["My profile"]);
}

#[test]
fn the_security_tab_lists_active_connections_and_deletes_one() {
    let server = TestServer::start();
    server.add_user("alice");
    let (office_id, office) = create_app_password(server.dir(), "alice", "Office laptop drive");
    let (_, phone) = create_app_password(server.dir(), "alice", "Phone");
    let used = server
        .as_user("alice", &office, "PROPFIND", "/dav/")
        .header("Depth", "0")
        .header("User-Agent", WINDOWS_EXPLORER)
        .send();
    assert_eq!(status(used), 207);
    let mut admin = Visitor::admin(&server);

    let general = admin.get("/admin/users/alice");
    general.shows(200, &["Edit user alice", "General", "Security"]);
    general.lacks(&["Active connections"]);
    let security = admin.get("/admin/users/alice?tab=security");
    security.shows(200, &["Active connections", "Office laptop drive", "Phone"]);
    security.shows(200, &["Windows Explorer", "Not assigned", "in 3 months", "Delete all"]);
    assert_eq!(security.html.matches("<tr data-id=").count(), 2);

    let path = format!("/admin/users/alice/app-passwords/{office_id}/revoke");
    admin.post(&path, &[]).redirects_to("/admin/users/alice?tab=security&done=revoked");
    let security = admin.get("/admin/users/alice?tab=security&done=revoked");
    assert_eq!(
        security.flash().as_deref(),
        Some("The app password was revoked: its application can no longer connect.")
    );
    security.shows(200, &["Phone", "Not assigned"]).lacks(&["Office laptop drive"]);
    assert_eq!(security.html.matches("<tr data-id=").count(), 1);
    assert_eq!(server.probe("alice", &office), 401, "a deleted connection still opens WebDAV");
    assert_eq!(server.probe("alice", &phone), 207, "deleting one deleted another");
}

#[test]
fn the_settings_page_shows_validates_and_saves_the_settings() {
    let server = TestServer::start();
    let mut admin = Visitor::admin(&server);
    let page = admin.get("/admin/settings");
    page.shows(200, &["Settings", "App password lifetime", "Save"]);
    assert_eq!(page.value("app_credentials_ttl"), "90d");
    assert_eq!(page.value("login_max_failures"), "10");
    assert_eq!(page.value("lock_timeout"), "10m");
    assert!(page.checked("login_throttle"));
    assert!(!page.checked("propfind_depth_infinity"));
    assert!(page.html.contains("<option value=\"fsync\" selected>"));

    // The whole form as a browser posts it, with one wrong value and one good change.
    let wrong = admin.post(
        "/admin/settings",
        &[
            ("app_credentials_ttl", "abc"),
            ("login_throttle", "true"),
            ("login_max_failures", "5"),
            ("login_trusted_networks", ""),
            ("lock_timeout", "10m"),
            ("durability", "fsync"),
        ],
    );
    wrong.shows(400, &["Settings"]);
    let field = between(&wrong.html, "id=\"app_credentials_ttl\"", "id=\"login_throttle\"")
        .expect("the lifetime field");
    assert!(field.contains("role=\"alert\""), "no error next to the field:\n{field}");
    assert!(unescape(field).contains("'abc' is not a duration"), "{field}");
    assert_eq!(wrong.html.matches("role=\"alert\"").count(), 1, "one error only");
    assert_eq!(setting(&server, "app_credentials_ttl"), "90d", "the stored value stays");
    assert_eq!(wrong.value("login_max_failures"), "5", "the good change is not lost");
    assert_eq!(setting(&server, "login_max_failures"), "5");
    assert!(wrong.checked("login_throttle"));

    let saved = admin.post(
        "/admin/settings",
        &[
            ("app_credentials_ttl", "30d"),
            ("login_max_failures", "5"),
            ("login_trusted_networks", ""),
            ("lock_timeout", "10m"),
            ("durability", "fsync"),
            ("no_such_setting", "1"),
        ],
    );
    saved.redirects_to("/admin/settings?done=saved");
    let page = admin.get("/admin/settings?done=saved");
    assert_eq!(page.flash().as_deref(), Some("Settings saved."));
    assert_eq!(page.value("app_credentials_ttl"), "30d");
    assert!(!page.checked("login_throttle"));
    assert_eq!(setting(&server, "app_credentials_ttl"), "30d");
    assert_eq!(setting(&server, "login_throttle"), "false");
    assert_eq!(setting(&server, "lock_timeout"), "10m");
    assert_eq!(setting(&server, "durability"), "fsync");
    assert_eq!(setting(&server, "propfind_depth_infinity"), "false");
    assert!(!ok(&server.cli(&["settings", "get"])).contains("no_such_setting"));

    // The new lifetime applies to the next app password.
    let created = admin.post("/profile/app-passwords", &[("name", "Laptop")]);
    created.secret();
    admin.get("/profile").shows(200, &["in 4 weeks"]);
}

/// A form an admin posts that is refused, and the words each language gives the refusal.
struct RefusedForm {
    path: &'static str,
    fields: &'static [(&'static str, &'static str)],
    status: u16,
    in_french: &'static str,
    in_english: &'static str,
}

/// What a page shows for one refused form, with its status.
fn refusal_of(page: Page, status: u16) -> String {
    page.shows(status, &[]);
    page.error().expect("an error message")
}

const LAST_ADMIN_FR: &str = "« admin » est le dernier administrateur actif : nommez ou réactivez \
                             d’abord un autre administrateur.";
const LAST_ADMIN_EN: &str =
    "'admin' is the last enabled admin: make another user an admin, or enable one, first.";

#[test]
fn a_french_admin_reads_refusals_in_french_and_an_english_admin_in_english() {
    let server = TestServer::start();
    let password = first_admin_password(&server);
    let mut french = Visitor::speaking(&server, FRENCH);
    french.sign_in("admin", &password);
    // The language switch, from an English browser, gives the same French words.
    let mut switched = Visitor::speaking(&server, ENGLISH);
    switched.sign_in("admin", &password);
    switched.get("/lang/fr?next=/profile").redirects_to("/profile");
    let mut english = Visitor::speaking(&server, ENGLISH);
    english.sign_in("admin", &password);

    french.get("/profile");
    french.post("/profile/app-passwords", &[("name", "Laptop")]).secret();
    let cases = [
        RefusedForm {
            path: "/profile/app-passwords",
            fields: &[("name", "Laptop")],
            status: 409,
            in_french: "Vous avez déjà un mot de passe d’application actif portant ce nom.",
            in_english: "You already have an active app password with this name.",
        },
        RefusedForm {
            path: "/admin/users/admin/remove",
            fields: &[],
            status: 409,
            in_french: LAST_ADMIN_FR,
            in_english: LAST_ADMIN_EN,
        },
        RefusedForm {
            path: "/admin/users/admin/disable",
            fields: &[],
            status: 409,
            in_french: LAST_ADMIN_FR,
            in_english: LAST_ADMIN_EN,
        },
        RefusedForm {
            path: "/admin/users",
            fields: &[("name", "admin")],
            status: 409,
            in_french: "Choisissez un autre nom : un utilisateur nommé « admin » existe déjà.",
            in_english: "Choose another name: a user named 'admin' already exists.",
        },
        RefusedForm {
            path: "/admin/users",
            fields: &[("name", "a/b")],
            status: 400,
            in_french: "« a/b » n’est pas un nom d’utilisateur valable : utilisez 1 à 64 lettres \
                        a-z, chiffres, points, tirets ou tirets bas, sans commencer par un point.",
            in_english: "'a/b' is not a valid user name: use 1 to 64 letters a-z, digits, dots, \
                         dashes or underscores, and do not start with a dot.",
        },
    ];
    for RefusedForm { path, fields, status, in_french, in_english } in cases {
        for visitor in [&mut french, &mut switched] {
            let refused = visitor.post(path, fields);
            assert_eq!(refused.lang(), "fr", "{path}");
            assert_eq!(refusal_of(refused, status), in_french, "{path}");
        }
        let refused = english.post(path, fields);
        assert_eq!(refused.lang(), "en", "{path}");
        assert_eq!(refusal_of(refused, status), in_english, "{path}");
    }

    let gone = french.get("/admin/users/ghost");
    gone.shows(404, &["L’opération n’a pas abouti"]);
    assert_eq!(gone.error().as_deref(), Some("Aucun utilisateur ne s’appelle « ghost »."));
    let gone = english.get("/admin/users/ghost");
    gone.shows(404, &["That did not work"]);
    assert_eq!(gone.error().as_deref(), Some("There is no user named 'ghost'."));
    assert_eq!(user_names(&server), ["admin"], "nothing was removed or added");

    // The JSON API keeps the operation's own English sentence and its code, whatever the
    // browser's language.
    let csrf = french.csrf.clone();
    let res = french
        .request(reqwest::Method::DELETE, "/api/v1/users/admin")
        .header("x-csrf-token", csrf)
        .send()
        .expect("request");
    assert_eq!(res.status().as_u16(), 409);
    let body: serde_json::Value =
        serde_json::from_str(&res.text().expect("body")).expect("a JSON error");
    assert_eq!(body["error"], "conflict");
    assert_eq!(
        body["message"],
        "'admin' is the last enabled admin; create or enable another admin first"
    );
}
