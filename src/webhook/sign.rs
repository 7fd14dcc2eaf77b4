//! The webhook signature, for davgate and for receivers.
//!
//! Each POST carries `X-Davgate-Timestamp: <unix seconds>` and
//! `X-Davgate-Signature: sha256=<hex>`, where `<hex>` is the lower-case hex HMAC-SHA256, keyed
//! with the `webhook_secret` setting, of the bytes `"{timestamp}.{body}"` (the timestamp as
//! sent, a dot, then the raw body). A receiver recomputes it over the raw body it read (before
//! parsing the JSON), compares in constant time (`hmac`'s `verify_slice`, Python's
//! `hmac.compare_digest`, Node's `crypto.timingSafeEqual`), and refuses a timestamp more than a
//! few minutes from its own clock, so that a recorded delivery cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header with the unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Davgate-Timestamp";
/// The header with `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Davgate-Signature";

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Davgate-Signature` value of `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(7 + tag.len() * 2);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `header` (an `X-Davgate-Signature` value) signs `body` at `timestamp` with `secret`,
/// compared in constant time: what a receiver written in Rust runs.
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else { return false };
    let Some(tag) = decode_hex(hex) else { return false };
    mac(secret, timestamp, body).verify_slice(&tag).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let body = br#"{"kind":"sign_in"}"#;
        let sig = signature(b"s3cret", 1_800_000_000, body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify(b"s3cret", 1_800_000_000, body, &sig));
        assert!(!verify(b"other", 1_800_000_000, body, &sig), "another secret");
        assert!(!verify(b"s3cret", 1_800_000_001, body, &sig), "another timestamp");
        assert!(!verify(b"s3cret", 1_800_000_000, b"{}", &sig), "another body");
        assert!(!verify(b"s3cret", 1_800_000_000, body, "sha256=zz"), "not hex");
    }

    /// The RFC 4231 test case 2 shape, through the documented "{timestamp}.{body}" input.
    #[test]
    fn the_signed_bytes_are_the_timestamp_a_dot_and_the_body() {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"key").unwrap();
        mac.update(b"42.hello");
        let expected = mac.finalize().into_bytes();
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signature(b"key", 42, b"hello"), format!("sha256={hex}"));
    }
}
