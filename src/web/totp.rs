//! The web login's second factor: RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps, ±1 step), as
//! every authenticator app speaks it. Codes are checked by totp-rs; that a code is used once is
//! the store's job ([`crate::store::Store::accept_totp_step`]). The time is passed in
//! (`unix_time`, from the portal's [`crate::clock::Clock`]).

use qrcode::QrCode;
use qrcode::render::svg;
use rand::rand_core::TryRng;
use rand::rngs::SysRng;
use totp_rs::{Builder, Totp};

/// Bytes of a new shared secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
/// The issuer shown in the authenticator app.
pub const ISSUER: &str = "davgate";

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The OS random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(#[from] rand::rngs::SysError),
    /// totp-rs refused the parameters (cannot happen with ours, but is not unwrapped).
    #[error("cannot set up the second factor: {0}")]
    Setup(String),
}

/// Draws a new shared secret.
pub fn new_secret() -> Result<Vec<u8>, TotpError> {
    let mut secret = vec![0u8; SECRET_LEN];
    SysRng.try_fill_bytes(&mut secret)?;
    Ok(secret)
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| TotpError::Setup(e.to_string()))
}

/// The step whose code `code` is, if it matches one of the current step ±1 at `unix_time`.
/// Spaces in the code are ignored ("123 456").
pub fn check(secret: &[u8], code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, "x").ok()?.check(&code, unix_time)
}

/// The code of `unix_time` (tests and examples compute codes the way an app does).
pub fn code_at(secret: &[u8], unix_time: u64) -> Result<String, TotpError> {
    Ok(totp(secret, "x")?.generate(unix_time).to_string())
}

/// The secret in base 32, in groups of four, for typing into an app by hand.
pub fn manual_key(secret: &[u8]) -> String {
    let plain = totp_rs::Secret::from(secret.to_vec()).to_base32();
    let chars: Vec<char> = plain.trim_end_matches('=').chars().collect();
    chars.chunks(4).map(|g| g.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// The `otpauth://` URL an app reads from the QR code.
pub fn otpauth_url(secret: &[u8], account: &str) -> Result<String, TotpError> {
    totp(secret, account)?.to_url().map_err(|e| TotpError::Setup(e.to_string()))
}

/// The QR code of `url` as an inline SVG element (rendered here: no external service sees the
/// secret, and pages work without internet).
pub fn qr_svg(url: &str) -> Result<String, TotpError> {
    let code = QrCode::new(url.as_bytes()).map_err(|e| TotpError::Setup(e.to_string()))?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Inline in HTML: drop the XML declaration, keep the <svg> element.
    Ok(image.find("<svg").map_or(image.clone(), |at| image[at..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, 8 digits truncated to our 6: the secret "12345678901234567890".
    #[test]
    fn codes_match_the_rfc_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59).unwrap(), "287082");
        assert_eq!(code_at(secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(check(secret, "081804", 1_111_111_109), Some(1_111_111_109 / 30));
    }

    #[test]
    fn one_step_either_side_is_accepted_and_no_more() {
        let secret = new_secret().unwrap();
        let t = 1_800_000_000;
        for (offset, ok) in [(-60i64, false), (-30, true), (0, true), (30, true), (60, false)] {
            let code = code_at(&secret, (t as i64 + offset) as u64).unwrap();
            assert_eq!(check(&secret, &code, t).is_some(), ok, "offset {offset}");
        }
        let code = code_at(&secret, t).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(check(&secret, &spaced, t).is_some());
        assert!(check(&secret, "12345", t).is_none());
        assert!(check(&secret, "abcdef", t).is_none());
    }

    #[test]
    fn enrolment_material_is_well_formed() {
        let secret = new_secret().unwrap();
        assert_eq!(manual_key(&secret).replace(' ', "").len(), 32);
        let url = otpauth_url(&secret, "alice").unwrap();
        assert!(url.starts_with("otpauth://totp/davgate:alice?"), "{url}");
        let svg = qr_svg(&url).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
