//! The `smtp_url` setting: where the security e-mails are handed over, and how securely.
//!
//! `smtps://user@host:465` (TLS from the first byte), `smtp://host:25?starttls=required` (or plain
//! `smtp://host:25`: STARTTLS is required by default), and, only towards a loopback host (a
//! relay on the same machine, a test server), `smtp://127.0.0.1:25?tls=none` with no
//! encryption at all. A password in the URL is refused: it goes in the write-only
//! `smtp_password` setting, so that the URL can be shown.

use std::fmt;
use std::net::IpAddr;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Implicit TLS (`smtps://`, usually port 465).
    Tls,
    /// STARTTLS, and the mail is not sent when the server does not offer it.
    StartTls,
    /// Nothing: only to a loopback host, and only when asked with `tls=none`.
    None,
}

/// A validated `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// The server's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// The user to authenticate as (with `smtp_password`), if any.
    pub user: Option<String>,
}

/// Why an `smtp_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    /// Not a URL, or not smtp/smtps, or without a host.
    #[error(
        "expected smtps://user@host:465, smtp://host:25?starttls=required or \
         smtp://127.0.0.1:25?tls=none"
    )]
    Malformed,
    /// A password inside the URL.
    #[error("put the password in smtp_password, not in the URL (the URL is shown)")]
    PasswordInUrl,
    /// `tls=none` towards a host that is not loopback.
    #[error("tls=none (no encryption) is only allowed to a loopback host such as 127.0.0.1")]
    PlainNotLoopback,
    /// A query parameter davgate does not know.
    #[error("unknown option '{0}' (known: starttls=required, tls=none)")]
    UnknownOption(String),
}

impl SmtpUrl {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Self, SmtpUrlError> {
        let url = url::Url::parse(text.trim()).map_err(|_| SmtpUrlError::Malformed)?;
        if url.password().is_some() {
            return Err(SmtpUrlError::PasswordInUrl);
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(SmtpUrlError::Malformed),
        };
        let (mut security, default_port) = match url.scheme() {
            "smtps" => (SmtpSecurity::Tls, 465),
            "smtp" => (SmtpSecurity::StartTls, 25),
            _ => return Err(SmtpUrlError::Malformed),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), security) {
                ("starttls", "required", SmtpSecurity::StartTls) => {}
                ("tls", "none", SmtpSecurity::StartTls) => security = SmtpSecurity::None,
                (key, value, _) => {
                    let shown: String = format!("{key}={value}")
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(60)
                        .collect();
                    return Err(SmtpUrlError::UnknownOption(shown));
                }
            }
        }
        if security == SmtpSecurity::None && !is_loopback(&host) {
            return Err(SmtpUrlError::PlainNotLoopback);
        }
        if !url.path().is_empty() && url.path() != "/" {
            return Err(SmtpUrlError::Malformed);
        }
        let user = Some(url.username()).filter(|u| !u.is_empty()).map(percent_decode);
        Ok(Self { host, port: url.port().unwrap_or(default_port), security, user })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("u={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

impl fmt::Display for SmtpUrl {
    /// The canonical form, as `settings get` shows it (never a password: none is kept here).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.security == SmtpSecurity::Tls { "smtps" } else { "smtp" };
        let user = self.user.as_deref().map(|u| format!("{}@", url_user(u))).unwrap_or_default();
        let host =
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let query = match self.security {
            SmtpSecurity::Tls => "",
            SmtpSecurity::StartTls => "?starttls=required",
            SmtpSecurity::None => "?tls=none",
        };
        write!(f, "{scheme}://{user}{host}:{}{query}", self.port)
    }
}

fn url_user(user: &str) -> String {
    url::form_urlencoded::byte_serialize(user.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_forms_parse_and_plain_text_is_only_for_loopback() {
        let tls = SmtpUrl::parse("smtps://mailer@mail.example.org:465").unwrap();
        assert_eq!(tls.security, SmtpSecurity::Tls);
        assert_eq!(tls.user.as_deref(), Some("mailer"));
        assert_eq!(tls.to_string(), "smtps://mailer@mail.example.org:465");
        let start = SmtpUrl::parse("smtp://mail.example.org:25?starttls=required").unwrap();
        assert_eq!((start.security, start.port), (SmtpSecurity::StartTls, 25));
        assert_eq!(
            SmtpUrl::parse("smtp://mail.example.org").unwrap().security,
            SmtpSecurity::StartTls
        );
        let plain = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!(plain.security, SmtpSecurity::None);
        assert_eq!(plain.to_string(), "smtp://127.0.0.1:2525?tls=none");
        assert_eq!(
            SmtpUrl::parse("smtp://mail.example.org?tls=none"),
            Err(SmtpUrlError::PlainNotLoopback)
        );
        assert_eq!(
            SmtpUrl::parse("smtps://u:pw@mail.example.org"),
            Err(SmtpUrlError::PasswordInUrl)
        );
        for bad in ["http://mail.example.org", "mail.example.org", "smtp://", "smtp://h?x=y"] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
