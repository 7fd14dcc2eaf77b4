//! Human durations for settings such as `app_credentials_ttl`: `90d`, `12h`, `30m`, `45s`.
//!
//! One number and one unit, nothing else: an admin reading `90d` in a listing knows exactly what
//! was set, and a typo such as `90` or `9O d` is refused instead of guessed at.

use std::fmt;
use std::str::FromStr;

/// A whole number of seconds, written and read as `<n><unit>` with unit `d`, `h`, `m` or `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration {
    seconds: u64,
}

/// Why a duration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// The text is not a positive number followed by one of `d`, `h`, `m`, `s`.
    #[error(
        "'{0}' is not a duration: write a positive whole number and a unit, e.g. 90d, 12h, 30m or 45s"
    )]
    Syntax(String),
    /// The number is too large to mean anything (over 100 years).
    #[error("'{0}' is too long: the longest accepted duration is 36500d")]
    TooLong(String),
}

impl HumanDuration {
    /// The longest accepted duration: 100 years, far beyond any sane credential lifetime.
    pub const MAX_SECONDS: u64 = 36_500 * 86_400;

    /// A duration of `seconds` (must be 1..=MAX_SECONDS; used for defaults).
    pub const fn from_seconds(seconds: u64) -> Self {
        Self { seconds }
    }

    /// The length in seconds.
    pub fn as_seconds(self) -> u64 {
        self.seconds
    }

    /// The length as a chrono duration, for date arithmetic.
    pub fn as_chrono(self) -> chrono::TimeDelta {
        // MAX_SECONDS fits comfortably in an i64.
        chrono::TimeDelta::seconds(self.seconds as i64)
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || DurationError::Syntax(crate::log_safe::escaped(text));
        let trimmed = text.trim();
        let unit = trimmed.chars().last().ok_or_else(syntax)?;
        let multiplier = match unit.to_ascii_lowercase() {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(syntax()),
        };
        let digits = &trimmed[..trimmed.len() - unit.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let too_long = || DurationError::TooLong(crate::log_safe::escaped(text));
        let number: u64 = digits.parse().map_err(|_| too_long())?;
        let seconds = number.checked_mul(multiplier).ok_or_else(too_long)?;
        if seconds == 0 {
            return Err(syntax());
        }
        if seconds > Self::MAX_SECONDS {
            return Err(too_long());
        }
        Ok(Self { seconds })
    }
}

impl fmt::Display for HumanDuration {
    /// The largest unit that divides the duration exactly, so `7776000` seconds prints as `90d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match s {
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3_600) => write!(f, "{}h", s / 3_600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        for (text, seconds) in [("90d", 7_776_000), ("12h", 43_200), ("30m", 1_800), ("45s", 45)] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().as_seconds(), seconds);
        }
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!(HumanDuration::from_seconds(7_776_000).to_string(), "90d");
        assert_eq!(HumanDuration::from_seconds(90).to_string(), "90s");
        assert_eq!(HumanDuration::from_seconds(7_200).to_string(), "2h");
    }

    #[test]
    fn refuses_what_is_not_one_number_and_one_unit() {
        for bad in ["", "abc", "90", "d", "-5d", "1.5h", "0s", "5w", "9 0d", "1d2h", "５d"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(
            "99999999999999999999d".parse::<HumanDuration>(),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!("36501d".parse::<HumanDuration>(), Err(DurationError::TooLong(_))));
    }
}
