//! `davgate::HumanSize` (`FromStr`, `Display`): quota sizes such as `10G`.
//!
//! Checks, on any string (invalid UTF-8 is read lossily):
//! - parsing never panics;
//! - what it accepts prints as text that parses back to the same number of bytes, and that
//!   text is canonical (printing it again gives the same text);
//! - an accepted text starts (after trimming) with an ASCII digit.
//!
//! And, reading 8 bytes of the input as any u64 (and that number shifted into whole K/M/G/T):
//! printed and parsed again, it gives back the same number.
#![no_main]

use davgate::HumanSize;
use libfuzzer_sys::fuzz_target;

fn round_trip(s: HumanSize, from: &str) {
    let shown = s.to_string();
    let back: HumanSize =
        shown.parse().unwrap_or_else(|e| panic!("{from:?} printed as {shown:?}, refused: {e}"));
    assert_eq!(back, s, "{from:?} printed as {shown:?}");
    assert_eq!(back.to_string(), shown);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = text.parse::<HumanSize>() {
        assert!(text.trim().starts_with(|c: char| c.is_ascii_digit()), "{text:?} accepted");
        round_trip(s, &text);
    }

    if data.len() >= 9 {
        let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
        round_trip(HumanSize(raw), &format!("HumanSize({raw})"));
        let shift = [0u32, 10, 20, 30, 40][usize::from(data[8] % 5)];
        let unit = raw >> shift << shift;
        round_trip(HumanSize(unit), &format!("HumanSize({unit})"));
    }
});
