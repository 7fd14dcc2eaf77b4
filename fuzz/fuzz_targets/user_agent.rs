//! `davgate::internal::access_method`: User-Agent → the label stored with an app password.
//!
//! Checks, on any string (invalid UTF-8 is read lossily):
//! - it never panics and never returns an empty label;
//! - the label never holds a control character (it ends up in logs and listings);
//! - a label that is not one of the fixed names is at most 40 characters of printable ASCII
//!   with no space;
//! - surrounding whitespace does not change the label, and no User-Agent equals an empty one.
#![no_main]

use davgate::internal::access_method;
use libfuzzer_sys::fuzz_target;

/// The fixed labels of `src/auth/client.rs`, plus the one for a missing User-Agent.
const FIXED: &[&str] = &[
    "Microsoft Office",
    "Windows Explorer",
    "macOS Finder",
    "rclone",
    "davfs2",
    "cadaver",
    "litmus",
    "Nextcloud desktop",
    "DAVx5",
    "curl",
    "Unknown client",
];

fn check(label: &str, ua: Option<&str>) {
    assert!(!label.is_empty(), "empty label for {ua:?}");
    assert!(!label.chars().any(char::is_control), "control character in {label:?} for {ua:?}");
    if !FIXED.contains(&label) {
        assert!(label.len() <= 40, "label {label:?} is {} bytes long", label.len());
        assert!(label.bytes().all(|b| b.is_ascii_graphic()), "label {label:?} for {ua:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let ua = String::from_utf8_lossy(data);
    let label = access_method(Some(&ua));
    check(&label, Some(&ua));

    let padded = format!(" \t{ua}\r\n ");
    assert_eq!(access_method(Some(&padded)), label, "whitespace changed the label of {ua:?}");

    let none = access_method(None);
    check(&none, None);
    assert_eq!(none, access_method(Some("")));
});
