//! `davgate::HumanDuration` (`FromStr`, `Display`, `as_seconds`): TTLs such as `90d`.
//!
//! Checks, on any string (invalid UTF-8 is read lossily):
//! - parsing never panics;
//! - it accepts exactly what an independent reading accepts (trimmed: ASCII digits then one of
//!   `d h m s` in either case, 1 s ..= 36500 d) and yields the same number of seconds;
//! - what it accepts prints (`Display`) as text that parses back to the same seconds, and that
//!   text is canonical (printing it again gives the same text);
//! - `as_chrono` agrees with `as_seconds`.
//!
//! And, reading 8 bytes of the input as a number of seconds in 1..=36500 d: `from_seconds`,
//! printed and parsed again, gives back that number.
#![no_main]

use davgate::HumanDuration;
use libfuzzer_sys::fuzz_target;

const MAX: u64 = 36_500 * 86_400;

/// An independent reading of the documented syntax.
fn expected(text: &str) -> Option<u64> {
    let t = text.trim();
    let unit_start = t.char_indices().last()?.0;
    let (digits, unit) = t.split_at(unit_start);
    let multiplier: u128 = match unit {
        "d" | "D" => 86_400,
        "h" | "H" => 3_600,
        "m" | "M" => 60,
        "s" | "S" => 1,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Compare without overflow: strip leading zeros, then a long number is out of range anyway.
    let significant = digits.trim_start_matches('0');
    if significant.len() > 30 {
        return None;
    }
    let n: u128 = if significant.is_empty() { 0 } else { significant.parse().ok()? };
    let seconds = n * multiplier;
    (1..=u128::from(MAX)).contains(&seconds).then_some(seconds as u64)
}

fn round_trip(d: HumanDuration, from: &str) {
    let secs = d.as_seconds();
    assert!((1..=MAX).contains(&secs), "{from:?} gave {secs} s");
    assert_eq!(d.as_chrono().num_seconds(), secs as i64);
    let shown = d.to_string();
    let back: HumanDuration =
        shown.parse().unwrap_or_else(|e| panic!("{from:?} printed as {shown:?}, refused: {e}"));
    assert_eq!(back.as_seconds(), secs, "{from:?} printed as {shown:?}");
    assert_eq!(back.to_string(), shown);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = text.parse::<HumanDuration>();
    assert_eq!(parsed.as_ref().ok().map(|d| d.as_seconds()), expected(&text), "{text:?}");
    if let Ok(d) = parsed {
        round_trip(d, &text);
    }

    if data.len() >= 8 {
        let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
        let secs = raw % MAX + 1;
        round_trip(HumanDuration::from_seconds(secs), &format!("from_seconds({secs})"));
    }
});
