//! Serving under a path prefix: with `--public-url https://files.example.com/webdav/`, a
//! reverse proxy passes `/webdav/...` through, and everything (WebDAV at `/webdav/dav/`, the
//! pages, the API, the assets, health) answers there. Inside the server nothing knows: the
//! prefix comes off each request here (its path and its `Destination`), and goes back on what
//! the web surface sends (redirects, cookie paths, the links of its pages). WebDAV's own hrefs
//! are written by the mount with the prefix ([`PublicPrefix::as_str`]).
//!
//! A leaf: it names nothing else of the crate.

use http::header::{HeaderValue, LOCATION, SET_COOKIE};
use http::{HeaderMap, Request, Uri};

/// The path prefix of the public URL, without its final `/` (`/webdav`); empty for none. It
/// keeps the URL's origin too (`https://files.example.com`): the lines a page or the CLI gives
/// to connect an application name the address users reach, not the one the server listens on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicPrefix(String, String);

/// A `--public-url` that is no absolute http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "'{0}' is not a public URL: give scheme, host and maybe a path, e.g. https://files.example.com/webdav/"
)]
pub struct BadPublicUrl(String);

const DESTINATION: &str = "destination";
/// Where a `Destination` outside the prefix is pointed: outside `/dav/`, so it is refused (403).
const OUTSIDE: &str = "/";

impl PublicPrefix {
    /// The prefix of `url` (`https://host/webdav/` gives `/webdav`).
    pub fn of_url(url: &str) -> Result<Self, BadPublicUrl> {
        let bad = || BadPublicUrl(url.to_string());
        let uri = url.parse::<Uri>().map_err(|_| bad())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad());
        }
        if uri.query().is_some() || uri.path().contains("//") || uri.path().contains('%') {
            return Err(bad());
        }
        let origin = match uri.authority() {
            Some(authority) => format!("{}://{authority}", uri.scheme_str().unwrap_or("https")),
            None => return Err(bad()),
        };
        Ok(Self(uri.path().trim_end_matches('/').to_string(), origin))
    }

    /// The public URL without its final `/` (`https://files.example.com/webdav`); None when
    /// no `--public-url` was given.
    pub fn url(&self) -> Option<String> {
        (!self.1.is_empty()).then(|| format!("{}{}", self.1, self.0))
    }

    /// The prefix (`/webdav`, or empty).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path inside the server for a public `path`; None when it is outside the prefix.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        if self.0.is_empty() {
            return Some(path);
        }
        match path.strip_prefix(self.0.as_str())? {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }

    /// Takes the prefix off a request's path and `Destination`; false when the path is outside
    /// it (the caller answers 404). A `Destination` outside the prefix is pointed where the
    /// mount refuses it.
    pub fn inward<B>(&self, req: &mut Request<B>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(inner) = self.strip(req.uri().path()) else { return false };
        let inner = match req.uri().query() {
            Some(query) => format!("{inner}?{query}"),
            None => inner.to_string(),
        };
        let Ok(uri) = inner.parse::<Uri>() else { return false };
        *req.uri_mut() = uri;
        let destination = req.headers().get(DESTINATION).and_then(|v| v.to_str().ok());
        if let Some(destination) = destination.map(str::to_string) {
            let path = if destination.starts_with('/') {
                Some(destination)
            } else {
                destination.parse::<Uri>().ok().map(|u| u.path().to_string())
            };
            let inner = path.as_deref().and_then(|p| self.strip(p)).unwrap_or(OUTSIDE);
            if let Ok(value) = HeaderValue::from_str(inner) {
                req.headers_mut().insert(DESTINATION, value);
            }
        }
        true
    }

    /// Puts the prefix back on what a web response points to: its `Location` and its cookies'
    /// `Path`.
    pub fn outward_headers(&self, headers: &mut HeaderMap) {
        if self.0.is_empty() {
            return;
        }
        if let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok())
            && location.starts_with('/')
            && !location.starts_with("//")
            && let Ok(value) = HeaderValue::from_str(&format!("{}{location}", self.0))
        {
            headers.insert(LOCATION, value);
        }
        let cookies: Vec<HeaderValue> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| HeaderValue::from_str(&c.replace("; Path=/", &self.cookie_path())).ok())
            .collect();
        if !cookies.is_empty() {
            headers.remove(SET_COOKIE);
            for cookie in cookies {
                headers.append(SET_COOKIE, cookie);
            }
        }
    }

    fn cookie_path(&self) -> String {
        format!("; Path={}/", self.0)
    }

    /// A page with the prefix put before every server-absolute link (`href`, `src`, `action`,
    /// `data-done`): the templates write `/profile`, the browser must ask `/webdav/profile`.
    pub fn outward_html(&self, html: &str) -> String {
        let mut out = html.to_string();
        for attribute in ["href", "src", "action", "data-done"] {
            let from = format!("{attribute}=\"/");
            let to = format!("{attribute}=\"{}/", self.0);
            out = out.replace(&from, &to).replace(&format!("{to}/"), &format!("{from}/"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> PublicPrefix {
        PublicPrefix::of_url("https://files.example.com/webdav/").unwrap()
    }

    #[test]
    fn the_public_url_is_kept_for_the_connection_lines() {
        assert_eq!(prefix().url().as_deref(), Some("https://files.example.com/webdav"));
        let bare = PublicPrefix::of_url("http://nas.local:8080").unwrap();
        assert_eq!(bare.url().as_deref(), Some("http://nas.local:8080"));
        assert_eq!(PublicPrefix::default().url(), None);
    }

    #[test]
    fn the_public_url_gives_the_prefix() {
        assert_eq!(prefix().as_str(), "/webdav");
        assert_eq!(PublicPrefix::of_url("https://files.example.com").unwrap().as_str(), "");
        assert_eq!(PublicPrefix::of_url("http://h:8080/").unwrap().as_str(), "");
        for bad in ["files.example.com/webdav", "ftp://h/", "/webdav/", "https://h/a?b", "x y"] {
            assert!(PublicPrefix::of_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_paths_under_the_prefix_are_served() {
        assert_eq!(prefix().strip("/webdav"), Some("/"));
        assert_eq!(prefix().strip("/webdav/dav/a"), Some("/dav/a"));
        assert_eq!(prefix().strip("/webdavx/dav/a"), None);
        assert_eq!(prefix().strip("/dav/a"), None);
        assert_eq!(PublicPrefix::default().strip("/dav/a"), Some("/dav/a"));
    }

    #[test]
    fn a_request_loses_the_prefix_and_its_destination_too() {
        let cases = [
            ("https://files.example.com/webdav/dav/b", "/dav/b"),
            ("/webdav/dav/b", "/dav/b"),
            ("/dav/b", "/"),
            ("http://elsewhere/other/dav/b", "/"),
        ];
        for (destination, inner) in cases {
            let mut req = Request::builder()
                .uri("/webdav/dav/a?x=1")
                .header(DESTINATION, destination)
                .body(())
                .unwrap();
            assert!(prefix().inward(&mut req));
            assert_eq!(req.uri().to_string(), "/dav/a?x=1");
            assert_eq!(req.headers()[DESTINATION], inner, "{destination}");
        }
        let mut req = Request::builder().uri("/dav/a").body(()).unwrap();
        assert!(!prefix().inward(&mut req));
    }

    #[test]
    fn redirects_cookies_and_links_get_the_prefix_back() {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("/profile?done=1"));
        headers.append(SET_COOKIE, HeaderValue::from_static("a=1; Path=/; HttpOnly"));
        headers.append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
        prefix().outward_headers(&mut headers);
        assert_eq!(headers[LOCATION], "/webdav/profile?done=1");
        let cookies: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; Path=/webdav/; HttpOnly", "b=2; Path=/webdav/"]);
        let html = r#"<a href="/profile"><img src="/assets/x.png"><form action="/sign-in"><a href="//cdn/x"><a href="https://x/">"#;
        assert_eq!(
            prefix().outward_html(html),
            r#"<a href="/webdav/profile"><img src="/webdav/assets/x.png"><form action="/webdav/sign-in"><a href="//cdn/x"><a href="https://x/">"#
        );
    }
}
