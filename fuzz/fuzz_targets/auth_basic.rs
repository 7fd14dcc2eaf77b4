//! `davgate::internal::parse_basic`: the `Authorization: Basic …` header parser.
//!
//! Checks, on any bytes:
//! - it never panics, and refuses anything over 1024 bytes;
//! - a parsed user name never contains `:` (the split is at the first colon);
//! - what it returns, encoded again as `Basic base64(user:password)`, parses to the same.
//!
//! And, reading the input as a user name and a password: the header built from them (with the
//! scheme in a case chosen by the input) parses back to exactly them.
#![no_main]

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use davgate::internal::parse_basic as parse;
use libfuzzer_sys::fuzz_target;

/// The limit in `src/auth/basic.rs`.
const MAX_HEADER: usize = 1024;

fn header(scheme: &str, user: &str, password: &str) -> String {
    format!("{scheme} {}", BASE64_STANDARD.encode(format!("{user}:{password}")))
}

fuzz_target!(|data: &[u8]| {
    // 1. Raw header bytes.
    let parsed = parse(data);
    if data.len() > MAX_HEADER {
        assert!(parsed.is_none(), "a header over {MAX_HEADER} bytes was accepted");
    }
    if let Some(c) = &parsed {
        assert!(!c.user.contains(':'), "user {:?} holds a colon", c.user);
        let again = header("Basic", &c.user, c.password.expose());
        if again.len() <= MAX_HEADER {
            let back = parse(again.as_bytes()).expect("re-encoded credentials refused");
            assert_eq!(back.user, c.user);
            assert_eq!(back.password.expose(), c.password.expose());
        }
    }

    // 2. The input as credentials: first byte = scheme case + where user ends.
    let Some((&control, rest)) = data.split_first() else { return };
    let split = usize::from(control >> 3).min(rest.len());
    let user: String = String::from_utf8_lossy(&rest[..split]).replace(':', "");
    let password = String::from_utf8_lossy(&rest[split..]).into_owned();
    let scheme: String = "basic"
        .chars()
        .enumerate()
        .map(|(i, ch)| if control & (1 << i.min(2)) != 0 { ch.to_ascii_uppercase() } else { ch })
        .collect();
    let built = header(&scheme, &user, &password);
    let back = parse(built.as_bytes());
    if built.len() > MAX_HEADER {
        assert!(back.is_none());
    } else {
        let back = back.unwrap_or_else(|| panic!("well-formed header {built:?} refused"));
        assert_eq!(back.user, user);
        assert_eq!(back.password.expose(), password);
    }
});
