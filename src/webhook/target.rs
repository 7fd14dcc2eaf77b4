//! Where the webhook POSTs: the `webhook_url` setting, checked when it is set so that a
//! delivery never leaves over plain HTTP for another machine.

use std::net::IpAddr;

/// Why a `webhook_url` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("not a URL")]
    NotAUrl,
    /// Plain HTTP to a host that is not this machine (the events would cross the network in
    /// clear), or a scheme other than http/https.
    #[error("the webhook URL must be https:// (http:// only to 127.0.0.1, ::1 or localhost)")]
    Insecure,
    /// A user name or password in the URL: the secret belongs in `webhook_secret`.
    #[error("the webhook URL may not hold a user name or password")]
    Credentials,
}

/// A checked webhook URL: https, or http to the loopback interface. Its `Debug` shows the
/// scheme and host only (a chat webhook's path is often its credential).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.0.host_str().unwrap_or("-");
        write!(f, "WebhookUrl({}://{host}/…)", self.0.scheme())
    }
}

impl WebhookUrl {
    /// The URL to POST to.
    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }
}

impl std::str::FromStr for WebhookUrl {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, TargetError> {
        let url = reqwest::Url::parse(s.trim()).map_err(|_| TargetError::NotAUrl)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let Some(host) = url.host_str() else { return Err(TargetError::NotAUrl) };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            _ => Err(TargetError::Insecure),
        }
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_accepted() {
        let good = [
            "https://siem.example/hook",
            "http://127.0.0.1:9/x",
            "http://[::1]/",
            "http://localhost:8/",
        ];
        for ok in good {
            assert!(ok.parse::<WebhookUrl>().is_ok(), "{ok}");
        }
        assert_eq!("http://siem.example/".parse::<WebhookUrl>(), Err(TargetError::Insecure));
        assert_eq!("http://10.0.0.1/".parse::<WebhookUrl>(), Err(TargetError::Insecure));
        assert_eq!("ftp://127.0.0.1/".parse::<WebhookUrl>(), Err(TargetError::Insecure));
        assert_eq!("https://u:p@x.example/".parse::<WebhookUrl>(), Err(TargetError::Credentials));
        assert_eq!("hook".parse::<WebhookUrl>(), Err(TargetError::NotAUrl));
    }
}
