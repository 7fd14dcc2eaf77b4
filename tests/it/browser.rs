//! The web pages in a real browser: headless Chromium driven over WebDriver (chromedriver) with
//! fantoccini. Each step checks what a person sees: headings, messages, table cells, dialogs.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them); without chromedriver the
//! tests fail, unless `DAVGATE_SKIP_BROWSER` is set. Screenshots go to `target/screenshots/`;
//! with `DAVGATE_UPDATE_SCREENSHOTS=1` the ones the docs show are also written to `docs/`.

use crate::util::*;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page may take to show what a step waits for.
const TIMEOUT: Duration = Duration::from_secs(10);
const CHROMIUM: &str = "/usr/bin/chromium";
const WINDOWS_EXPLORER: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
const RCLONE: &str = "rclone/v1.60.1";

/// A `chromedriver` on a free loopback port, in its own process group so that dropping it ends
/// the browsers it started too, even when a test panics.
pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts chromedriver, or returns None when it is missing and DAVGATE_SKIP_BROWSER is set.
    pub(crate) fn start() -> Option<Self> {
        use std::os::unix::process::CommandExt;
        if Command::new("chromedriver").arg("--version").output().is_err() {
            if std::env::var_os("DAVGATE_SKIP_BROWSER").is_some() {
                eprintln!("browser test skipped (DAVGATE_SKIP_BROWSER is set)");
                return None;
            }
            panic!(
                "chromedriver is not installed: run .ci/run, or apt-get install chromium \
                 chromium-driver (or set DAVGATE_SKIP_BROWSER=1)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < TIMEOUT, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(driver)
    }

    /// Sends `signal` to chromedriver's process group (itself and the browsers it started).
    fn signal_group(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// A tokio runtime for the browser steps; the WebDAV steps (blocking reqwest) run between its
/// `block_on` calls.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// One browser window on one server.
pub(crate) struct Browser {
    c: Client,
    base: String,
}

impl Browser {
    pub(crate) async fn open(driver: &ChromeDriver, base: &str) -> Self {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--window-size=1200,900",
                    "--lang=en-US",
                ],
                "prefs": { "intl.accept_languages": "en-US,en" },
            },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session in headless Chromium");
        Self { c, base: base.to_string() }
    }

    pub(crate) async fn close(self) {
        let _ = self.c.close().await;
    }

    /// Where the browser is and what the page says, for failure messages.
    pub(crate) async fn context(&self) -> String {
        let url = self.c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let text = self
            .c
            .execute("return document.body ? document.body.innerText : ''", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        format!("at {url}; the page shows:\n{text}")
    }

    pub(crate) async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.c.goto(&url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    pub(crate) async fn path(&self) -> String {
        let url = self.c.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub(crate) async fn find(&self, css: &str) -> Element {
        match self.c.wait().at_most(TIMEOUT).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no element {css} ({e}) {}", self.context().await),
        }
    }

    pub(crate) async fn find_xpath(&self, xpath: &str) -> Element {
        match self.c.wait().at_most(TIMEOUT).for_element(Locator::XPath(xpath)).await {
            Ok(e) => e,
            Err(e) => panic!("no element {xpath} ({e}) {}", self.context().await),
        }
    }

    pub(crate) async fn exists(&self, css: &str) -> bool {
        !self.c.find_all(Locator::Css(css)).await.expect("find_all").is_empty()
    }

    /// The visible text of the element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Clicks a link or button that loads a page, and waits for the new page to be loaded (the
    /// old one is marked first, so a page that looks the same is not taken for the new one).
    pub(crate) async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.click_element(element, css).await;
    }

    pub(crate) async fn click_element(&self, element: Element, what: &str) {
        self.mark_page().await;
        if let Err(e) = element.click().await {
            panic!("cannot click {what}: {e} {}", self.context().await);
        }
        self.wait_for_new_page(&format!("clicking {what}")).await;
    }

    /// Marks the page, so that [`Self::wait_for_new_page`] can tell when another replaced it.
    pub(crate) async fn mark_page(&self) {
        self.c.execute("window.__davgateOldPage = true;", vec![]).await.expect("mark the page");
    }

    pub(crate) async fn wait_for_new_page(&self, after: &str) {
        self.wait_until(
            &format!("a new page after {after}"),
            "!window.__davgateOldPage && document.readyState === 'complete'",
        )
        .await;
    }

    /// Types `value` into the empty field `css`.
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    /// Evaluates a JavaScript expression.
    pub(crate) async fn eval(&self, expr: &str) -> serde_json::Value {
        self.c.execute(&format!("return ({expr});"), vec![]).await.expect("script")
    }

    /// Waits until the JavaScript expression `expr` is true on the page.
    pub(crate) async fn wait_until(&self, what: &str, expr: &str) {
        let started = Instant::now();
        loop {
            let script = format!("return !!({expr});");
            if let Ok(serde_json::Value::Bool(true)) = self.c.execute(&script, vec![]).await {
                return;
            }
            if started.elapsed() > TIMEOUT {
                panic!("waited {TIMEOUT:?} for {what} ({expr}) {}", self.context().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn source(&self) -> String {
        self.c.source().await.expect("page source")
    }

    /// Saves a screenshot of the window as target/screenshots/<name>.png, and as docs/<name>.png
    /// too when `docs` is true and DAVGATE_UPDATE_SCREENSHOTS=1.
    pub(crate) async fn screenshot(&self, name: &str, docs: bool) {
        let png = self.c.screenshot().await.expect("screenshot");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("target").join("screenshots")];
        if docs && std::env::var("DAVGATE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            dirs.push(root.join("docs"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }

    /// Saves a screenshot of the element `css` alone as target/screenshots/<name>.png.
    pub(crate) async fn screenshot_of(&self, css: &str, name: &str) {
        let png = self.find(css).await.screenshot().await.expect("element screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
    }

    /// Signs in with a password from the sign-in page; the caller checks where it lands.
    pub(crate) async fn sign_in(&self, user: &str, password: &str) {
        self.goto("/").await;
        assert_eq!(self.text("h1").await, "Sign in", "{}", self.context().await);
        self.fill("#user", user).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]").await;
    }

    /// Signs in a user without a second factor and checks that the profile opens.
    pub(crate) async fn sign_in_to_profile(&self, user: &str, password: &str) {
        self.sign_in(user, password).await;
        self.find("#app-passwords").await;
        assert_eq!(self.path().await, "/profile");
        assert_eq!(self.text("header .who").await, user);
    }

    pub(crate) async fn sign_out(&self) {
        self.click("form[action='/logout'] button[type=submit]").await;
        assert_eq!(self.text("h1").await, "Sign in", "{}", self.context().await);
        assert!(!self.exists("header .who").await, "still signed in after signing out");
    }

    /// The row of the app password `name` in the list on the page.
    pub(crate) async fn row(&self, name: &str) -> Element {
        self.find_xpath(&row_xpath(name)).await
    }

    /// The text of cell `css` in the row of `name`.
    pub(crate) async fn cell(&self, name: &str, css: &str) -> String {
        let row = self.row(name).await;
        let cell = row.find(Locator::Css(css)).await.expect("cell");
        cell.text().await.expect("cell text")
    }

    /// The access method of a password's row: the first line of its cell (the networks it was
    /// used from follow on their own lines).
    pub(crate) async fn method(&self, name: &str) -> String {
        let cell = self.cell(name, "td.method").await;
        cell.lines().next().unwrap_or_default().to_string()
    }

    /// The names in the app-password list, in order.
    pub(crate) async fn listed_names(&self) -> Vec<String> {
        let cells = self.c.find_all(Locator::Css("#app-password-list td.name")).await.unwrap();
        let mut names = Vec::new();
        for cell in cells {
            names.push(cell.text().await.unwrap());
        }
        names
    }

    /// Creates an app password from the profile and reads it from the one-time dialog, leaving
    /// the dialog open.
    pub(crate) async fn create_app_password(&self, name: &str) -> String {
        self.fill("#name", name).await;
        self.click("#add-app-password button[type=submit]").await;
        self.find("#shown").await;
        self.wait_until(
            "the dialog to be modal",
            "document.querySelector('#shown').matches(':modal')",
        )
        .await;
        assert_eq!(self.text("#shown-title").await, "Your new app password");
        assert_eq!(self.text("#shown-subject").await, name);
        let password = self.find("#new-password").await.prop("value").await.unwrap().unwrap();
        assert!(password.starts_with("dgp-"), "not an app password: {password:?}");
        password
    }

    /// Clicks Done in the one-time dialog and checks that the secret left the page.
    pub(crate) async fn done(&self, secret: &str) {
        self.click("#done").await;
        self.secret_is_gone(secret).await;
    }

    /// Closes the one-time dialog with the Escape key: the page's script takes the secret away.
    pub(crate) async fn escape(&self, secret: &str) {
        self.mark_page().await;
        let field = self.find("#new-password").await;
        field.send_keys(&Key::Escape.to_string()).await.expect("press Escape");
        self.wait_for_new_page("Escape in the dialog").await;
        self.secret_is_gone(secret).await;
    }

    pub(crate) async fn secret_is_gone(&self, secret: &str) {
        assert!(!self.exists("#shown").await, "the dialog is still there");
        self.find("#app-password-list").await;
        // Done is a GET form with no field: the address may be "/profile?".
        assert_eq!(self.c.current_url().await.unwrap().path(), "/profile");
        assert!(!self.source().await.contains(secret), "the secret is still in the page");
    }
}

/// An XPath to the list row whose name cell is exactly `name`.
fn row_xpath(name: &str) -> String {
    format!("//tr[td[contains(@class,'name') and normalize-space()='{name}']]")
}

/// The base-32 key shown for manual entry, as secret bytes.
fn decode_key(shown: &str) -> Vec<u8> {
    let key: String = shown.split_whitespace().collect();
    assert_eq!(key.len(), 32, "a 160-bit key in base 32: {shown:?}");
    totp_rs::Secret::try_from_base32(&key).expect("a base-32 key").to_vec()
}

fn code(secret: &[u8], unix_time: u64) -> String {
    davgate::internal::totp_code_at(secret, unix_time).expect("a code")
}

fn now() -> u64 {
    davgate::Clock::system().unix_seconds()
}

/// A six-digit code that no step near now accepts.
fn wrong_code(secret: &[u8]) -> String {
    let near: Vec<String> = (0..=8).map(|i| code(secret, now() + i * 30 - 120)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 137_911) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// A PROPFIND Depth 1 on /dav/ and a PUT as a WebDAV client with `user_agent`: (207, 201).
fn use_over_webdav(server: &TestServer, user: &str, password: &str, user_agent: &str, file: &str) {
    let listing = server
        .as_user(user, password, "PROPFIND", "/dav/")
        .header("Depth", "1")
        .header("User-Agent", user_agent)
        .send();
    assert_eq!(status(listing), 207, "PROPFIND as {user_agent}");
    let put = server
        .as_user(user, password, "PUT", &format!("/dav/{file}"))
        .header("User-Agent", user_agent)
        .body("a small file\n")
        .send();
    assert_eq!(status(put), 201, "PUT as {user_agent}");
}

fn step(name: &str) {
    eprintln!("browser: {name}");
}

#[test]
fn a_user_turns_on_two_factor_and_manages_app_passwords_in_the_browser() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-pass-123");
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));

    step("1. alice signs in with her password and sets up two-factor sign-in");
    rt.block_on(async {
        b.sign_in_to_profile("alice", "alice-pass-123").await;
        assert_eq!(b.text("h1").await, "My profile");
        assert_eq!(b.text("#no-app-passwords").await, "No app password is configured yet.");
        assert!(
            b.text("#two-factor + p").await.contains("Signing in asks for your password only.")
        );
        b.click("#set-up-totp").await;
        let secret = decode_key(&b.text("#totp-key").await);
        assert!(b.exists(".qr svg").await, "a QR code is shown");
        b.screenshot_of("section[aria-labelledby=two-factor]", "set-up-two-factor").await;
        b.fill("#totp-code", &code(&secret, now())).await;
        b.click("form[action='/profile/totp/confirm'] button[type=submit]").await;
        assert_eq!(b.text(".flash").await, "Two-factor sign-in is on.");
        assert!(!b.exists("#totp-key").await, "the key is still shown once confirmed");
        assert!(
            b.text("#two-factor + p").await.contains("asks for a code from your authenticator app")
        );

        step("1. she signs out and in again: password, then a wrong code, then the right one");
        b.sign_out().await;
        b.sign_in("alice", "alice-pass-123").await;
        assert_eq!(b.text("h1").await, "Two-factor sign-in");
        assert!(!b.exists("header .who").await, "signed in before the second factor");
        b.fill("#code", &wrong_code(&secret)).await;
        b.click("form[action='/login/code'] button[type=submit]").await;
        assert_eq!(
            b.text("#error").await,
            "Wrong or already used code. Wait for the next one and try again."
        );
        assert_eq!(b.text("h1").await, "Two-factor sign-in");
        b.screenshot("two-factor-code-error", false).await;
        // The enrolment used this step's code: the app's next code is the one that works.
        b.fill("#code", &code(&secret, now() + 30)).await;
        b.click("form[action='/login/code'] button[type=submit]").await;
        b.find("#app-passwords").await;
        assert_eq!(b.path().await, "/profile");
        assert_eq!(b.text("header .who").await, "alice");
        assert!(!b.exists("#error").await);
    });

    step("2. she creates \"Office laptop drive\": the dialog shows it once");
    let office = rt.block_on(async {
        let office = b.create_app_password("Office laptop drive").await;
        let dialog = b.text("#shown").await;
        let until = dialog
            .split_once("This app password lets you connect until ")
            .and_then(|(_, rest)| rest.split_once(';'))
            .map(|(date, _)| date.to_string())
            .unwrap_or_else(|| panic!("no \"lets you connect until <date>;\" in {dialog:?}"));
        assert!(dialog.contains("It will never be shown again"), "{dialog}");
        let warning = b.text("#shown p.warning").await;
        assert!(warning.starts_with("It will never be shown again"), "{warning}");
        b.screenshot("create-app-password", true).await;
        b.done(&office).await;
        assert_eq!(b.listed_names().await, ["Office laptop drive"]);
        assert_eq!(b.method("Office laptop drive").await, "Not assigned");
        assert_eq!(b.cell("Office laptop drive", "td.last-used").await, "Never");
        // The dialog's date is the row's expiry: 90 days (the default lifetime) from now.
        assert_eq!(b.cell("Office laptop drive", "td.expires time").await, until);
        let row = b.row("Office laptop drive").await;
        let time = row.find(Locator::Css("td.expires time")).await.unwrap();
        let iso = time.attr("datetime").await.unwrap().expect("a datetime attribute");
        let expires = chrono::DateTime::parse_from_rfc3339(&iso).expect("an RFC 3339 expiry");
        let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
        assert!((89..=90).contains(&days), "expires {iso}, not 90 days from now");
        office
    });

    step("3. Windows Explorer uses it; two more app passwords for a realistic list");
    use_over_webdav(&server, "alice", &office, WINDOWS_EXPLORER, "report.txt");
    let rclone = rt.block_on(async {
        let rclone = b.create_app_password("rclone backup").await;
        b.done(&rclone).await;
        let phone = b.create_app_password("Phone").await;
        b.escape(&phone).await;
        rclone
    });
    use_over_webdav(&server, "alice", &rclone, RCLONE, "backup.txt");
    rt.block_on(async {
        b.goto("/profile").await;
        b.find("#app-password-list").await;
        assert_eq!(b.method("Office laptop drive").await, "Windows Explorer");
        let used = b.cell("Office laptop drive", "td.method").await;
        assert!(used.contains("Used from 127.0.0.1/32 (Windows Explorer)"), "{used}");
        assert_eq!(b.method("rclone backup").await, "rclone");
        assert_eq!(b.method("Phone").await, "Not assigned");
        assert_ne!(b.cell("Office laptop drive", "td.last-used").await, "Never");
        assert_eq!(b.cell("Phone", "td.last-used").await, "Never");
        let mut names = b.listed_names().await;
        names.sort();
        assert_eq!(names, ["Office laptop drive", "Phone", "rclone backup"]);
        b.screenshot("profile-app-passwords", true).await;
    });

    step("4. she revokes \"Office laptop drive\": gone from the list, refused over WebDAV");
    rt.block_on(async {
        let row = b.row("Office laptop drive").await;
        let revoke = row.find(Locator::Css("button.danger")).await.expect("a Revoke button");
        assert_eq!(revoke.text().await.unwrap(), "Revoke");
        b.click_element(revoke, "Revoke").await;
        assert_eq!(
            b.text(".flash").await,
            "The app password was revoked: its application can no longer connect."
        );
        let mut names = b.listed_names().await;
        names.sort();
        assert_eq!(names, ["Phone", "rclone backup"]);
        let gone = b.c.find_all(Locator::XPath(&row_xpath("Office laptop drive"))).await.unwrap();
        assert!(gone.is_empty(), "the revoked app password is still listed");
    });
    assert_eq!(server.probe("alice", &office), 401, "a revoked app password still opens WebDAV");
    assert_eq!(server.probe("alice", &rclone), 207, "revoking one app password revoked another");

    rt.block_on(b.close());
}

#[test]
fn an_admin_deletes_every_connection_of_a_user_from_the_security_tab() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    server.add_user("alice");
    let office = server.app_password("alice", "Office laptop drive");
    let rclone = server.app_password("alice", "rclone backup");
    let phone = server.app_password("alice", "Phone");
    use_over_webdav(&server, "alice", &office, WINDOWS_EXPLORER, "report.txt");
    use_over_webdav(&server, "alice", &rclone, RCLONE, "backup.txt");
    let admin = first_admin_password(&server);
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));

    step("5. the admin signs in (no second factor) and opens alice's Security tab");
    rt.block_on(async {
        b.sign_in_to_profile("admin", &admin).await;
        b.click("header nav a[href='/admin']").await;
        assert_eq!(b.text("h1").await, "Users");
        b.screenshot("admin-users", false).await;
        b.click("tr[data-user=alice] a").await;
        assert_eq!(b.text("h1").await, "Edit user alice");
        assert_eq!(b.path().await, "/admin/users/alice");
        b.screenshot("admin-user-general", false).await;
        b.click("#security-tab").await;
        assert_eq!(b.path().await, "/admin/users/alice?tab=security");
        assert_eq!(
            b.find("#security-tab").await.attr("aria-current").await.unwrap().as_deref(),
            Some("page")
        );
        assert_eq!(b.text("#connections").await, "Active connections");
        let list = b.text("#connection-list").await;
        for shown in [
            "Office laptop drive",
            "rclone backup",
            "Phone",
            "Windows Explorer",
            "rclone",
            "Not assigned",
        ] {
            assert!(list.contains(shown), "{shown:?} is not in the connections:\n{list}");
        }
        let rows = b.c.find_all(Locator::Css("#connection-list tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 3);
        b.screenshot("admin-security-tab", false).await;

        step("5. Delete all: no connection left");
        b.click("#delete-all").await;
        assert_eq!(b.text("#no-connections").await, "No active connection.");
        assert_eq!(b.text(".flash").await, "Every app password of this user was revoked.");
        assert!(!b.exists("#connection-list").await);
        b.screenshot("admin-security-tab-empty", false).await;
        b.click("header nav a[href='/admin/settings']").await;
        assert_eq!(b.text("h1").await, "Settings");
        b.screenshot("admin-settings", false).await;
    });
    for (name, password) in
        [("Office laptop drive", &office), ("rclone backup", &rclone), ("Phone", &phone)]
    {
        assert_eq!(server.probe("alice", password), 401, "{name} still opens WebDAV");
    }

    rt.block_on(b.close());
}

/// Whether the element matching `css` is shown (WebDriver's "displayed": not `display: none`).
async fn displayed(b: &Browser, css: &str) -> bool {
    b.find(css).await.is_displayed().await.expect("is displayed")
}

/// Asserts that the element matching `css` ends within `width` px: seen without scrolling sideways.
async fn assert_on_screen(b: &Browser, css: &str, width: u64) {
    let right = format!("document.querySelector({css:?}).getBoundingClientRect().right");
    let right = b.eval(&right).await.as_f64().unwrap();
    assert!(right <= width as f64, "{css} ends at {right} px, past the {width} px screen");
}

#[test]
fn on_a_phone_the_delete_buttons_and_the_two_factor_column_stay_visible() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-pass-123");
    server.app_password("alice", "Phone");
    let admin = first_admin_password(&server);
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));
    rt.block_on(async {
        b.c.set_window_size(360, 800).await.expect("a narrow window");
        b.sign_in_to_profile("admin", &admin).await;
        // The page's width without a scroll bar: what a phone shows.
        let width = b.eval("document.documentElement.clientWidth").await.as_u64().unwrap();
        assert!(width <= 640, "the window is {width} px wide, not a phone's");

        step("the users list on a phone: the two-factor state is there");
        b.click("header nav a[href='/admin']").await;
        assert!(displayed(&b, "#users thead th:nth-child(4)").await, "{}", b.context().await);
        assert_eq!(b.text("#users thead th:nth-child(4)").await, "TWO-FACTOR SIGN-IN");
        assert_eq!(b.text("tr[data-user=alice] td:nth-child(4)").await, "Off");
        assert_on_screen(&b, "tr[data-user=alice] td a", width).await;
        b.screenshot("narrow-admin-users", false).await;

        step("alice's Security tab on a phone: each connection's Delete button is there");
        b.goto("/admin/users/alice?tab=security").await;
        let delete = "#connection-list tbody tr button.danger";
        assert!(displayed(&b, delete).await, "{}", b.context().await);
        assert_eq!(b.text(delete).await, "Delete");
        assert_on_screen(&b, delete, width).await;
        b.screenshot("narrow-admin-security-tab", false).await;
        b.sign_out().await;

        step("alice's own list on a phone: only the last-used column goes");
        b.sign_in_to_profile("alice", "alice-pass-123").await;
        assert!(!displayed(&b, "#app-password-list td.last-used").await);
        assert!(displayed(&b, "#app-password-list td.name").await);
        assert!(displayed(&b, "#app-password-list tbody tr button").await);
        b.screenshot("narrow-profile", false).await;
    });
    rt.block_on(b.close());
}

#[test]
fn the_language_link_switches_the_pages_to_french() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-pass-123");
    server.app_password("alice", "Office laptop drive");
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));

    step("6. the sign-in page in English, then in French with the language link");
    rt.block_on(async {
        b.goto("/").await;
        assert_eq!(b.eval("document.documentElement.lang").await, "en");
        assert_eq!(b.text("h1").await, "Sign in");
        b.click("a[hreflang=fr]").await;
        b.wait_until("the page in French", "document.documentElement.lang === 'fr'").await;
        assert_eq!(b.text("h1").await, "Connexion");
        assert_eq!(b.path().await, "/");
        assert_eq!(b.text("label[for=user]").await, "Nom d’utilisateur");
        b.screenshot("sign-in-fr", false).await;
        assert_eq!(
            b.find("a[hreflang=fr]").await.attr("aria-current").await.unwrap().as_deref(),
            Some("true")
        );

        step("6. signed in, the profile is French, relative dates included");
        b.fill("#user", "alice").await;
        b.fill("#password", "alice-pass-123").await;
        b.click("form[action='/login'] button[type=submit]").await;
        b.find("#app-passwords").await;
        assert_eq!(b.eval("document.documentElement.lang").await, "fr");
        assert_eq!(b.text("h1").await, "Mon profil");
        assert_eq!(b.text("#app-passwords").await, "Mots de passe d’application");
        assert_eq!(b.text("#two-factor").await, "Double authentification");
        assert_eq!(b.method("Office laptop drive").await, "Non attribuée");
        assert_eq!(b.cell("Office laptop drive", "td.last-used").await, "Jamais");
        let expires = b.cell("Office laptop drive", "td.expires .muted").await;
        assert!(expires.contains("dans"), "not a French relative date: {expires:?}");
        assert_eq!(b.text("form[action='/logout'] button").await, "Se déconnecter");
        b.screenshot("profile-fr", false).await;

        step("6. and back to English");
        b.click("a[hreflang=en]").await;
        b.wait_until("the page in English", "document.documentElement.lang === 'en'").await;
        assert_eq!(b.path().await, "/profile");
        assert_eq!(b.text("#app-passwords").await, "App passwords");
        let expires = b.cell("Office laptop drive", "td.expires .muted").await;
        assert!(expires.starts_with("in "), "not an English relative date: {expires:?}");
    });

    rt.block_on(b.close());
}

/// A script that, run with a signed-in admin's session on the pages' origin, creates an admin
/// account and drops its password into the uploader's files (the red team's drive-by).
const TAKEOVER: &str = "document.title='ran';(async()=>{const o=location.origin;\
 const s=await (await fetch(o+'/api/v1/session')).json();\
 const r=await fetch(o+'/api/v1/users',{method:'POST',headers:{'X-CSRF-Token':s.csrf_token,\
 'Content-Type':'application/json'},body:JSON.stringify({name:'NAME',admin:true})});\
 await fetch(o+'/dav/NAME.txt',{method:'PUT',body:await r.text()});})()";

#[test]
fn a_signed_in_admin_who_opens_an_uploaded_page_runs_none_of_its_script() {
    let Some(driver) = ChromeDriver::start() else { return };
    let server = TestServer::start();
    server.add_user("alice");
    let alice = server.app_password("alice", "drive");
    let planted = [
        ("report.html", "pwned", format!("<script>{}</script>", TAKEOVER.replace("NAME", "pwned"))),
        (
            "Report.HTM",
            "pwned2",
            format!("<script>{}</script>", TAKEOVER.replace("NAME", "pwned2")),
        ),
        (
            "logo.svg",
            "pwned3",
            format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>{}</script></svg>",
                TAKEOVER.replace("NAME", "pwned3")
            ),
        ),
    ];
    for (file, _, body) in &planted {
        let put =
            server.as_user("alice", &alice, "PUT", &format!("/dav/{file}")).body(body.clone());
        assert_eq!(status(put.send()), 201, "upload {file}");
    }
    let admin = first_admin_password(&server);
    let rt = runtime();
    let b = rt.block_on(Browser::open(&driver, &server.base));
    rt.block_on(b.sign_in_to_profile("admin", &admin));
    let with_credentials = server.base.replacen("http://", &format!("http://alice:{alice}@"), 1);
    for (file, account, _) in &planted {
        step(&format!("the admin follows a link to alice's {file}"));
        rt.block_on(async {
            // The browser downloads the file instead of showing it: the navigation may be
            // reported as aborted, and the page stays where it was.
            let _ = b.c.goto(&format!("{with_credentials}/dav/{file}")).await;
            let title = b.eval("document.title").await;
            assert_ne!(title, "ran", "{file} ran as a page: {}", b.context().await);
        });
        // Had it run, the account and the loot would appear within moments.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            assert!(!server.home("alice").join(format!("{account}.txt")).exists(), "{file} ran");
            std::thread::sleep(Duration::from_millis(100));
        }
        let users = ok(&server.cli(&["user", "list"]));
        assert!(!users.contains(account), "{file} created an account:\n{users}");
    }
    // (The pages' own script still runs under its hash: the one-time dialog tests above see it
    // turn the dialog modal.)
    rt.block_on(b.close());
}
