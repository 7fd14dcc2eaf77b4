//! The app-password format: `dgp-` and nine groups of five characters, for example
//! `dgp-7k2mq-x9c4a-...`.
//!
//! - Characters come from Crockford's base 32 in lower case ([`ALPHABET`]): no `i l o u`, so a
//!   password copied by hand into a Windows dialog survives; input is case-insensitive and the
//!   look-alikes `o`→`0`, `i`/`l`→`1` are folded back.
//! - The first 10 characters are the public id (50 bits): a login finds its one record by it and
//!   verifies one argon2id hash, never one per password the user owns.
//! - The next 28 are the secret: 140 bits from the operating system's CSPRNG.
//! - The last 7 are a CRC-32 of everything before them: a typo is refused before any hashing,
//!   and a leaked password can be told from noise by a secret scanner (regex
//!   `dgp-[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5}){8}`, then the checksum).

use rand::rand_core::TryRng;
use rand::rngs::SysRng;

use crate::store::{ALPHABET, AppPasswordId};

/// The fixed prefix that marks a davgate app password.
pub const PREFIX: &str = "dgp";
const SECRET_LEN: usize = 28;
const CHECK_LEN: usize = 7;
const BODY_LEN: usize = AppPasswordId::LEN + SECRET_LEN + CHECK_LEN;
const GROUP: usize = 5;

pub use crate::secret::Secret;

/// A freshly drawn app password.
#[derive(Debug)]
pub struct Generated {
    /// Its public id.
    pub id: AppPasswordId,
    /// The secret part (hashed for storage).
    pub secret: Secret,
    /// The whole password as the user types it; shown once.
    pub password: Secret,
}

/// An app password as presented by a client: checked for shape and checksum, not yet verified.
#[derive(Debug)]
pub struct Presented {
    /// Which record to look up.
    pub id: AppPasswordId,
    /// What to verify against that record's hash.
    pub secret: Secret,
}

/// Why a presented string is not an app password (it may be a primary password, or a typo).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No `dgp-` prefix, wrong length or a character outside the alphabet.
    #[error("not a davgate app password")]
    Shape,
    /// Well formed, but the checksum does not match: a typo.
    #[error("app password checksum mismatch (a typo?)")]
    Checksum,
}

/// Draws a new app password from the operating system's CSPRNG.
pub fn generate() -> Result<Generated, rand::rngs::SysError> {
    let mut bytes = [0u8; AppPasswordId::LEN + SECRET_LEN];
    SysRng.try_fill_bytes(&mut bytes)?;
    // 256 is a multiple of 32, so taking 5 bits of each byte keeps every symbol equally likely.
    let chars: String = bytes.iter().map(|&b| char::from(symbol(b.into()))).collect();
    let (id, secret) = chars.split_at(AppPasswordId::LEN);
    let body = format!("{chars}{}", checksum(&chars));
    let groups: Vec<&str> =
        body.as_bytes().chunks(GROUP).map(|g| std::str::from_utf8(g).unwrap_or_default()).collect();
    #[expect(clippy::expect_used, reason = "ten characters drawn from ALPHABET always form an id")]
    let id = AppPasswordId::parse(id).expect("ten characters drawn from ALPHABET form an id");
    Ok(Generated {
        id,
        secret: Secret::new(secret.to_string()),
        password: Secret::new(format!("{PREFIX}-{}", groups.join("-"))),
    })
}

/// Draws a primary password: 20 characters in four dash-separated groups (100 bits).
pub fn primary_password() -> Result<Secret, rand::rngs::SysError> {
    let mut bytes = [0u8; 20];
    SysRng.try_fill_bytes(&mut bytes)?;
    let chars: Vec<u8> = bytes.iter().map(|&b| symbol(b.into())).collect();
    let groups: Vec<&str> =
        chars.chunks(GROUP).map(|g| std::str::from_utf8(g).unwrap_or_default()).collect();
    Ok(Secret::new(groups.join("-")))
}

/// Parses what a client sent as a password. Cheap: no hashing.
pub fn parse(input: &str) -> Result<Presented, TokenError> {
    let folded = input.trim().to_ascii_lowercase();
    let rest = folded
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix(['-', '_']))
        .ok_or(TokenError::Shape)?;
    let mut body = String::with_capacity(BODY_LEN);
    for c in rest.chars() {
        match c {
            '-' | ' ' => {}
            'o' => body.push('0'),
            'i' | 'l' => body.push('1'),
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => body.push(c),
            _ => return Err(TokenError::Shape),
        }
        if body.len() > BODY_LEN {
            return Err(TokenError::Shape);
        }
    }
    if body.len() != BODY_LEN {
        return Err(TokenError::Shape);
    }
    let (payload, check) = body.split_at(BODY_LEN - CHECK_LEN);
    if checksum(payload) != check {
        return Err(TokenError::Checksum);
    }
    let (id, secret) = payload.split_at(AppPasswordId::LEN);
    Ok(Presented {
        id: AppPasswordId::parse(id).map_err(|_| TokenError::Shape)?,
        secret: Secret::new(secret.to_string()),
    })
}

/// CRC-32 of prefix and payload, as 7 base-32 characters (35 bits, the top 3 always zero).
fn checksum(payload: &str) -> String {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(PREFIX.as_bytes());
    hasher.update(payload.as_bytes());
    let crc = hasher.finalize();
    (0..CHECK_LEN).rev().map(|i| char::from(symbol(crc >> (5 * i)))).collect()
}

/// The base-32 symbol of the low 5 bits of `bits`.
#[expect(clippy::indexing_slicing, reason = "a 5-bit index is below ALPHABET's 32 symbols")]
fn symbol(bits: u32) -> u8 {
    ALPHABET[(bits & 31) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_password_parses_back_to_its_id_and_secret() {
        let g = generate().unwrap();
        let p = parse(g.password.expose()).unwrap();
        assert_eq!(p.id, g.id);
        assert_eq!(p.secret, g.secret);
        assert!(g.password.expose().starts_with("dgp-"));
        assert_eq!(g.password.expose().len(), 4 + 45 + 8);
    }

    #[test]
    fn typing_is_forgiving_but_typos_are_caught() {
        let g = generate().unwrap();
        let pw = g.password.expose();
        assert!(parse(&pw.to_uppercase()).is_ok());
        assert!(parse(&pw.replace('-', "")).is_err(), "prefix needs its separator");
        assert!(parse(&format!("dgp-{}", &pw[4..].replace('-', ""))).is_ok());
        // Change one character of the secret: the checksum refuses it.
        let mut chars: Vec<char> = pw.chars().collect();
        let i = 20;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        if typo != pw {
            assert_eq!(parse(&typo).unwrap_err(), TokenError::Checksum);
        }
    }

    #[test]
    fn other_strings_are_not_app_passwords() {
        for s in
            ["", "hunter2", "dgp-", "dgp-abc", "dgp-ééééé", &format!("dgp-{}", "0".repeat(400))]
        {
            assert_eq!(parse(s).unwrap_err(), TokenError::Shape, "{s:?}");
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let g = generate().unwrap();
        assert!(!format!("{g:?}").contains(g.secret.expose()));
    }

    #[test]
    fn a_secret_crosses_serde_as_its_plain_text_but_debug_still_hides_it() {
        let secret = Secret::new("s3cret-value".into());
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"s3cret-value\"");
        let back: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(back, secret);
        assert!(!format!("{back:?}").contains("s3cret"));
    }
}
