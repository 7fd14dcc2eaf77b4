//! `davgate::internal::parse_app_password` (and `generate`): the app-password format
//! `dgp-xxxxx-…` (nine groups of five: 10 id + 28 secret + 7 CRC-32 check characters).
//!
//! Checks, with an oracle written here from the documented format (Crockford base 32 in lower
//! case, input case-insensitive, `o`→`0` and `i`/`l`→`1` folded, `-` and spaces ignored after
//! the `dgp-`/`dgp_` prefix, CRC-32 over `dgp` + the 38 payload characters):
//! - on any string, `parse` never panics and agrees with the oracle: the same id and secret,
//!   or the same refusal (`Shape` or `Checksum`);
//! - on a valid password built from the input bytes: it parses to its id and secret, and so
//!   do its upper-case form, its form without dashes, with spaces for dashes, with look-alike
//!   letters typed for `0`/`1`;
//! - one edit of the part after `dgp-` (a character replaced, deleted or inserted, or two
//!   payload characters swapped) is refused — unless the edit folds away (a separator for a
//!   separator, a look-alike, a change of case), in which case it parses to the same;
//! - once per process: 1000 passwords from `generate()` parse back to their id and secret,
//!   and their check characters are what the oracle computes (so the oracle is the real one).
#![no_main]

use davgate::internal::ALPHABET;
use davgate::internal::{TokenError, generate, parse_app_password as parse};
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

const ID_LEN: usize = 10;
const PAYLOAD_LEN: usize = 38;
const BODY_LEN: usize = 45;

fn checksum(payload: &str) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(b"dgp");
    h.update(payload.as_bytes());
    let crc = h.finalize();
    (0..7).rev().map(|i| ALPHABET[((crc >> (5 * i)) & 31) as usize] as char).collect()
}

/// The 45 canonical body characters, or why the text is not even shaped like a password.
fn canonical(input: &str) -> Result<String, TokenError> {
    let lower = input.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("dgp-")
        .or_else(|| lower.strip_prefix("dgp_"))
        .ok_or(TokenError::Shape)?;
    let mut body = String::new();
    for c in rest.chars() {
        match c {
            '-' | ' ' => {}
            'o' => body.push('0'),
            'i' | 'l' => body.push('1'),
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => body.push(c),
            _ => return Err(TokenError::Shape),
        }
    }
    if body.len() == BODY_LEN { Ok(body) } else { Err(TokenError::Shape) }
}

/// What `parse` should return: (id, secret) or the error.
fn oracle(input: &str) -> Result<(String, String), TokenError> {
    let body = canonical(input)?;
    let (payload, check) = body.split_at(PAYLOAD_LEN);
    if checksum(payload) != check {
        return Err(TokenError::Checksum);
    }
    Ok((payload[..ID_LEN].to_string(), payload[ID_LEN..].to_string()))
}

fn actual(input: &str) -> Result<(String, String), TokenError> {
    parse(input).map(|p| (p.id.as_str().to_string(), p.secret.expose().to_string()))
}

/// `dgp-` and the body in groups of five.
fn format_password(body: &str) -> String {
    let groups: Vec<&str> = (0..BODY_LEN / 5).map(|i| &body[i * 5..i * 5 + 5]).collect();
    format!("dgp-{}", groups.join("-"))
}

/// A character to put into a password: mostly ASCII, sometimes a separator or non-ASCII.
fn pick_char(b: u8) -> char {
    match b {
        0..=127 => b as char,
        128..=191 => ALPHABET[usize::from(b & 31)] as char,
        192..=223 => ['-', ' ', '_', 'O', 'I', 'L', 'o', 'i', 'l', 'U', 'u'][usize::from(b % 11)],
        _ => ['\u{a0}', 'é', '\u{2003}', 'ο', '０', 'ı', 'İ', '\u{feff}'][usize::from(b % 8)],
    }
}

static GENERATED: Once = Once::new();

fn check_generate() {
    for _ in 0..1000 {
        let g = generate().expect("the OS random source works");
        let pw = g.password.expose();
        let p = parse(pw).unwrap_or_else(|e| panic!("generated {pw:?} refused: {e}"));
        assert_eq!(p.id, g.id, "{pw:?}");
        assert_eq!(p.secret, g.secret, "{pw:?}");
        let body = canonical(pw).expect("generated password has the documented shape");
        assert_eq!(format_password(&body), pw, "generated password is not in canonical form");
        assert_eq!(checksum(&body[..PAYLOAD_LEN]), body[PAYLOAD_LEN..], "oracle CRC differs");
    }
}

fuzz_target!(|data: &[u8]| {
    GENERATED.call_once(check_generate);

    // 1. Any string: parse agrees with the oracle.
    let text = String::from_utf8_lossy(data);
    assert_eq!(actual(&text), oracle(&text), "{text:?}");
    // The same with the prefix in place, so the body parser is reached more often.
    let prefixed = format!("dgp-{text}");
    assert_eq!(actual(&prefixed), oracle(&prefixed), "{prefixed:?}");

    // 2. A valid password built from the first 38 bytes; the rest drives edits.
    if data.len() < PAYLOAD_LEN {
        return;
    }
    let (seed, edits) = data.split_at(PAYLOAD_LEN);
    let payload: String = seed.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    let body = format!("{payload}{}", checksum(&payload));
    let pw = format_password(&body);
    let want = Ok((payload[..ID_LEN].to_string(), payload[ID_LEN..].to_string()));
    assert_eq!(actual(&pw), want, "{pw:?}");
    let after = &pw[4..];
    for variant in [
        pw.to_uppercase(),
        format!("dgp-{}", after.replace('-', "")),
        format!("DGP_{}", after.replace('-', " ")),
        format!("  {}\t", pw.replace('0', "o").replace('1', "l")),
        pw.replace('1', "I"),
    ] {
        assert_eq!(actual(&variant), want, "{variant:?} (from {pw:?})");
    }

    // 3. One edit per pair of bytes (at most 32), each applied alone to the valid password.
    for pair in edits.chunks_exact(2).take(32) {
        let (op, arg) = (pair[0], pair[1]);
        let mut chars: Vec<char> = after.chars().collect();
        let pos = usize::from(op >> 2) % chars.len();
        match op & 3 {
            0 => chars[pos] = pick_char(arg),
            1 => {
                chars.remove(pos);
            }
            2 => chars.insert(pos, pick_char(arg)),
            _ => {
                // Swap two payload characters: CRC-32 catches every error within 32 bits.
                let payload_positions: Vec<usize> = (0..chars.len())
                    .filter(|&i| chars[i] != '-' && i - i / 6 < PAYLOAD_LEN)
                    .collect();
                let a = payload_positions[usize::from(op >> 2) % payload_positions.len()];
                let b = payload_positions[usize::from(arg) % payload_positions.len()];
                chars.swap(a, b);
            }
        }
        let edited = format!("dgp-{}", chars.into_iter().collect::<String>());
        let got = actual(&edited);
        if canonical(&edited).as_deref() == Ok(body.as_str()) {
            assert_eq!(got, want, "harmless edit {edited:?} of {pw:?}");
        } else {
            assert!(got.is_err(), "edit {edited:?} of {pw:?} accepted as {got:?}");
        }
    }
});
