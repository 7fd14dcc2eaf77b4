//! A browser without a person, for single sign-on: a cookie-keeping HTTP client that signs in
//! through the test provider (tests/it/oidc_op.rs) as a person would — davgate's "Sign in with"
//! link, the provider's login form, back to davgate's callback, its "Signing you in…" refresh —
//! and stops at any step a test wants to alter (a replayed callback, an edited `state`).

use reqwest::Url;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::Duration;

/// One answer, never followed: where it came from and what it said.
pub struct Page {
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header, made absolute against the page's address.
    pub fn location(&self) -> Option<String> {
        let to = self.headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
        Some(Url::parse(&self.url).ok()?.join(to).ok()?.to_string())
    }

    /// The target of a `<meta http-equiv="refresh" content="0;url=…">`, made absolute.
    pub fn meta_refresh(&self) -> Option<String> {
        let at = self.body.find("http-equiv=\"refresh\"")?;
        let tag = &self.body[self.body[..at].rfind('<')?..];
        let tag = &tag[..tag.find('>')?];
        let content = tag.split("content=\"").nth(1)?.split('"').next()?;
        let target = content.split_once("url=").or_else(|| content.split_once("URL="))?.1;
        let target = target.replace("&amp;", "&");
        Some(Url::parse(&self.url).ok()?.join(&target).ok()?.to_string())
    }

    /// Asserts that the page shows every one of `texts`, with the page in the message.
    pub fn shows(&self, texts: &[&str]) -> &Self {
        for text in texts {
            assert!(
                self.body.contains(text),
                "{} ({}) lacks {text:?}:\n{}",
                self.url,
                self.status,
                self.body
            );
        }
        self
    }
}

/// A query parameter of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A browser without a person: keeps cookies per host, follows nothing by itself.
pub struct Headless {
    http: Client,
}

impl Default for Headless {
    fn default() -> Self {
        Self::new()
    }
}

impl Headless {
    /// A fresh browser (no cookie at all).
    pub fn new() -> Self {
        let http = Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { http }
    }

    /// Its HTTP client, cookies included, for API calls in the session it signed in to.
    pub fn client(&self) -> &Client {
        &self.http
    }

    /// GET `url`, not followed.
    pub fn get(&self, url: &str) -> Page {
        self.page(url, self.http.get(url))
    }

    /// POST a form to `url`, not followed.
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        self.page(url, self.http.post(url).form(form))
    }

    fn page(&self, url: &str, request: reqwest::blocking::RequestBuilder) -> Page {
        let res = request.send().unwrap_or_else(|e| panic!("{url}: {e}"));
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        Page { url: url.to_string(), status, headers, body: res.text().unwrap_or_default() }
    }

    /// Follows redirects from `url` while they stay on its origin; returns the last page
    /// fetched, or the redirect that leaves (its `location()` says where to).
    pub fn follow(&self, url: &str) -> Page {
        let mut page = self.get(url);
        for _ in 0..10 {
            let Some(next) = page.location().filter(|_| (300..400).contains(&page.status)) else {
                return page;
            };
            if origin(&next) != origin(url) {
                return page;
            }
            page = self.get(&next);
        }
        panic!("more than 10 redirects from {url}");
    }

    /// Clicks "Sign in with …": `GET {base}/auth/oidc/login?provider=ID&next=NEXT`, which must
    /// send the browser to the provider; returns that address.
    pub fn begin(&self, base: &str, provider: &str, next: &str) -> String {
        let mut url = Url::parse(&format!("{base}/auth/oidc/login")).unwrap();
        url.query_pairs_mut().append_pair("provider", provider).append_pair("next", next);
        let page = self.get(url.as_str());
        assert!((300..400).contains(&page.status), "no redirect to the provider:\n{}", page.body);
        page.location().expect("a Location to the provider")
    }

    /// At the provider, from its authorization address: signs in as `login` on its form
    /// (consenting if asked) and returns the address it sends the browser back to, unvisited:
    /// `…/auth/oidc/callback?code=…&state=…&iss=…` (or `error=…`).
    pub fn authorize(&self, authorize_url: &str, login: &str) -> String {
        let op = origin(authorize_url);
        let mut page = self.follow(authorize_url);
        for _ in 0..5 {
            if let Some(next) = page.location().filter(|next| origin(next) != op) {
                return next;
            }
            let action = form_action(&page).unwrap_or_else(|| {
                panic!("no form at the provider ({} {}):\n{}", page.url, page.status, page.body)
            });
            let answer = if page.body.contains("name=\"login\"") {
                self.post_form(&action, &[("prompt", "login"), ("login", login), ("password", "x")])
            } else if page.body.contains("value=\"consent\"") {
                self.post_form(&action, &[("prompt", "consent")])
            } else {
                panic!("an unexpected form at the provider:\n{}", page.body);
            };
            page = match answer.location() {
                Some(next) if origin(&next) == op => self.follow(&next),
                _ => answer,
            };
        }
        panic!("the provider never sent the browser back: {}\n{}", page.url, page.body);
    }

    /// At the provider: cancels its login form ("[ Cancel ]"), so that it sends the browser
    /// back with `error=access_denied`; returns that address, unvisited.
    pub fn cancel(&self, authorize_url: &str) -> String {
        let page = self.follow(authorize_url);
        let uid_url = page.url.trim_end_matches('/').to_string();
        let aborted = self.follow(&format!("{uid_url}/abort"));
        aborted.location().unwrap_or_else(|| panic!("no redirect after cancel:\n{}", aborted.body))
    }

    /// Back at davgate with the provider's answer: GET the callback, then, when it is the
    /// 200 "Signing you in…" page, its meta refresh (and redirects on davgate). Returns the
    /// page the person ends on.
    pub fn finish(&self, callback_url: &str) -> Page {
        let page = self.get(callback_url);
        match page.meta_refresh().filter(|_| page.status == 200) {
            Some(next) => self.follow(&next),
            None => page,
        }
    }

    /// The whole sign-in through `provider` as `login`, landing where davgate sends them.
    pub fn sign_in(&self, base: &str, provider: &str, login: &str, next: &str) -> Page {
        let at_op = self.begin(base, provider, next);
        let back = self.authorize(&at_op, login);
        self.finish(&back)
    }

    /// Who this browser's session is signed in as on davgate (`GET /api/v1/session`), if any.
    pub fn signed_in_as(&self, base: &str) -> Option<String> {
        let page = self.get(&format!("{base}/api/v1/session"));
        if page.status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&page.body).ok()?;
        v["user"]["name"].as_str().map(str::to_string)
    }
}

/// `scheme://host:port` of an address.
pub fn origin(url: &str) -> String {
    Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// The absolute address the first `<form action="…">` on the page posts to.
fn form_action(page: &Page) -> Option<String> {
    let form = &page.body[page.body.find("<form")?..];
    let form = &form[..form.find('>')?];
    let action = form.split("action=\"").nth(1)?.split('"').next()?.replace("&amp;", "&");
    Some(Url::parse(&page.url).ok()?.join(&action).ok()?.to_string())
}
