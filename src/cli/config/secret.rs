//! Which values are secrets, and how `config check` shows them: never in clear.

use super::keys::is_secret;

/// What a secret is shown as.
const MASK: &str = "****";

/// Whether `value` of key `name` is a secret to keep out of files others can read. The store
/// is one only when its URL carries a password (`redb`, or a URL with certificate or peer
/// authentication, is not); a token or a password always is.
pub(super) fn holds_secret(name: &str, value: &str) -> bool {
    if name == "store" {
        return url_password(value).is_some() || value.contains("password=");
    }
    is_secret(name) && !value.is_empty()
}

/// `value` as `config check` prints it: a secret masked, a URL keeping everything but its
/// password.
pub(super) fn masked(name: &str, value: &str) -> String {
    if !is_secret(name) || value.is_empty() {
        return value.to_string();
    }
    if name != "store" {
        return MASK.to_string();
    }
    let mut shown = match url_password(value) {
        Some(range) => format!("{}{MASK}{}", &value[..range.start], &value[range.end..]),
        None => value.to_string(),
    };
    if let Some(start) = shown.find("password=").map(|i| i + "password=".len()) {
        let end = shown[start..].find(['&', ' ']).map_or(shown.len(), |i| start + i);
        shown.replace_range(start..end, MASK);
    }
    shown
}

/// The byte range of the password in `scheme://user:password@host…`, if there is one.
fn url_password(value: &str) -> Option<std::ops::Range<usize>> {
    let start = value.find("://")? + 3;
    let authority_end = value[start..].find(['/', '?']).map_or(value.len(), |i| start + i);
    let at = value[start..authority_end].rfind('@')? + start;
    let colon = value[start..at].find(':')? + start;
    Some(colon + 1..at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_shows_everything_but_its_password() {
        let url = "postgres://davgate:s3cr:et@db.example:5432/davgate?sslmode=require";
        assert_eq!(
            masked("store", url),
            "postgres://davgate:****@db.example:5432/davgate?sslmode=require"
        );
        assert_eq!(
            masked("store", "postgres://h/db?password=x&sslmode=disable"),
            "postgres://h/db?password=****&sslmode=disable"
        );
        assert_eq!(masked("store", "redb"), "redb");
        assert_eq!(masked("metrics_token", "abc"), "****");
        assert_eq!(masked("listen", "127.0.0.1:1"), "127.0.0.1:1");
    }

    #[test]
    fn a_store_without_a_password_is_no_secret_but_a_token_is() {
        assert!(!holds_secret("store", "redb"));
        assert!(!holds_secret("store", "postgres://davgate@db/davgate"));
        assert!(holds_secret("store", "postgres://davgate:pw@db/davgate"));
        assert!(holds_secret("store", "postgres://db/davgate?password=pw"));
        assert!(holds_secret("metrics_token", "t"));
        assert!(!holds_secret("listen", "x"));
    }
}
