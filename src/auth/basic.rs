//! Reading `Authorization: Basic …`: pure, cheap, and safe on any input (it is fuzzed).
//!
//! The heavy lifting is `http-auth-basic` (scheme, base64, UTF-8, split at the first `:` so a
//! password may contain colons); this adds the limits a server facing the internet wants.

use super::token::Secret;

/// Longest header value considered: an app password fits in a fraction of it.
const MAX_HEADER: usize = 1024;

/// The user name and password a client sent.
#[derive(Debug)]
pub struct BasicCredentials {
    /// As sent (compared case-insensitively later).
    pub user: String,
    /// Never logged.
    pub password: Secret,
}

/// Parses an `Authorization` header value; None if it is not well-formed Basic credentials.
pub fn parse(header: &[u8]) -> Option<BasicCredentials> {
    if header.len() > MAX_HEADER {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?;
    let credentials = http_auth_basic::Credentials::from_header(text.to_string()).ok()?;
    Some(BasicCredentials {
        user: credentials.user_id,
        password: Secret::new(credentials.password),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_basic_credentials_and_nothing_else() {
        // "alice:pa:ss" in base64: the password keeps its colon.
        let c = parse(b"Basic YWxpY2U6cGE6c3M=").unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("alice", "pa:ss"));
        assert!(parse(b"basic YWxpY2U6cGE6c3M=").is_some(), "the scheme is case-insensitive");
        for bad in [&b""[..], b"Bearer abc", b"Basic", b"Basic !!!", b"Basic YWxpY2U=", b"\xff\xfe"]
        {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        let huge = format!("Basic {}", "A".repeat(4096));
        assert!(parse(huge.as_bytes()).is_none());
    }
}
