//! Text that others read: what may appear in a name an admin sees, and how a string chosen by
//! someone else is made safe for a log line.
//!
//! The danger is not only newlines (a forged log line for fail2ban) but also the invisible
//! Unicode "format" characters: a right-to-left override (U+202E) makes `gpj.exe` read as
//! `exe.jpg` in a table, and zero-width characters make two names look the same. So the rule is
//! one predicate, [`is_invisible`], used both to refuse names and to escape log values. It lives
//! below every other module (the store, the admin operations and the HTTP layer all use it).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// True for characters that change how text around them is shown instead of showing
/// themselves: controls (Cc: tab, newline, escape...), format characters (Cf: bidi overrides
/// and isolates U+202A–U+202E, U+2066–U+2069, zero-width U+200B–U+200F, U+FEFF...) and the
/// line and paragraph separators (Zl, Zp).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// A client-chosen string (a user name from a login attempt) made safe for a fail2ban-style
/// line: at most 64 characters, every invisible character and quote replaced by `?`, so that
/// the quoted field can be neither closed nor visually reordered.
pub fn log_safe(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if is_invisible(c) || c == '\'' || c == '"' { '?' } else { c })
        .collect()
}

/// Longest value [`escaped`] writes before cutting it short.
const MAX_ESCAPED: usize = 200;

/// A value an admin typed (a setting, a name), for the audit log and for error messages:
/// invisible characters and backslashes written as Rust-style escapes (`\n`, `\u{202e}`), so
/// the line stays one line and shows exactly what was entered; cut after 200 characters.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_ESCAPED));
    for (n, c) in text.chars().enumerate() {
        if n == MAX_ESCAPED {
            out.push('…');
            break;
        }
        if is_invisible(c) || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_zero_width_and_controls_are_invisible_letters_are_not() {
        for c in ['\n', '\t', '\u{1b}', '\u{202e}', '\u{200b}', '\u{200f}', '\u{2066}', '\u{2069}']
        {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['\u{feff}', '\u{2028}', '\u{2029}', '\u{ad}', '\u{e0041}'] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', 'é', 'ß', '日', ' ', '-', '😀', 'א'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn log_safe_keeps_the_line_and_the_quotes() {
        assert_eq!(log_safe("ali'ce\n\u{202e}x\""), "ali?ce??x?");
        assert_eq!(log_safe(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn escaped_shows_what_was_typed_on_one_line() {
        assert_eq!(escaped("10m\nINFO forged"), "10m\\nINFO forged");
        assert_eq!(escaped("a\u{202e}b\\c"), "a\\u{202e}b\\\\c");
        assert_eq!(escaped("Büro 日本"), "Büro 日本");
        let long = escaped(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_ESCAPED + 1);
        assert!(long.ends_with('…'));
    }
}
