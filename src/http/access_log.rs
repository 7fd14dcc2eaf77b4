//! The access log: one line per request, with the client (after proxy resolution), method,
//! path, status, user and duration. As text (`client METHOD /path status user 1.2ms`, what
//! people and `grep` read) or, for log shippers, as fields of the JSON object per line that
//! `--log-format json` writes.

use std::net::IpAddr;
use std::str::FromStr;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default; fail2ban reads these).
    #[default]
    Text,
    /// One JSON object per line, each value in its own field.
    Json,
}

/// A `--log-format` that is neither `text` nor `json`.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a log format: text or json")]
pub struct BadLogFormat(String);

impl FromStr for LogFormat {
    type Err = BadLogFormat;

    fn from_str(text: &str) -> Result<Self, BadLogFormat> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(BadLogFormat(text.to_string())),
        }
    }
}

/// One request as the access log records it.
pub struct Access<'a> {
    /// The client's address, as resolved ([`super::client_addr`]).
    pub client: IpAddr,
    /// The request method.
    pub method: &'a str,
    /// The path as the client sent it (with any public prefix).
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// Who was authenticated, or `-`.
    pub user: &'a str,
    /// Time to the response head, in milliseconds.
    pub ms: f64,
}

impl Access<'_> {
    /// Writes the line; a health probe's only at debug level (load balancers probe every few
    /// seconds: their lines would drown everyone else's).
    pub fn log(&self, format: LogFormat, probe: bool) {
        let Access { client, method, path, status, user, ms } = *self;
        let ms = (ms * 10.0).round() / 10.0;
        macro_rules! line {
            ($level:ident) => {
                match format {
                    LogFormat::Text => tracing::$level!(
                        target: "davgate::access",
                        "{client} {method} {path} {status} {user} {ms:.1}ms"
                    ),
                    LogFormat::Json => tracing::$level!(
                        target: "davgate::access",
                        client = %client, method, path, status, user, ms
                    ),
                }
            };
        }
        if probe { line!(debug) } else { line!(info) }
    }
}
