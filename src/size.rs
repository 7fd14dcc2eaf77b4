//! Human sizes for quotas: `500M`, `10G`, `1T`, `1048576` (binary units: 1K = 1024 bytes).

use std::fmt;
use std::str::FromStr;

/// A number of bytes, read as `<n>[K|M|G|T]` (optionally with `B`/`iB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanSize(pub u64);

/// Why a size was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "'{0}' is not a size: write a whole number with an optional unit K, M, G or T, e.g. 500M or 10G"
)]
pub struct SizeError(String);

impl FromStr for HumanSize {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SizeError(crate::log_safe::escaped(text));
        let upper = text.trim().to_ascii_uppercase();
        let number_end = upper.find(|c: char| !c.is_ascii_digit()).unwrap_or(upper.len());
        let (digits, unit) = upper.split_at(number_end);
        let shift = match unit.trim() {
            "" | "B" => 0,
            "K" | "KB" | "KIB" => 10,
            "M" | "MB" | "MIB" => 20,
            "G" | "GB" | "GIB" => 30,
            "T" | "TB" | "TIB" => 40,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        n.checked_mul(1 << shift).map(HumanSize).ok_or_else(bad)
    }
}

impl fmt::Display for HumanSize {
    /// The largest binary unit that divides the size exactly: `10G`, `1536K`, `1000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if n != 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::HumanSize;

    #[test]
    fn sizes_read_and_print_in_binary_units() {
        assert_eq!("500M".parse(), Ok(HumanSize(500 << 20)));
        assert_eq!("10g".parse(), Ok(HumanSize(10 << 30)));
        assert_eq!("2 GiB".parse(), Ok(HumanSize(2 << 30)));
        assert_eq!("1048576".parse(), Ok(HumanSize(1 << 20)));
        assert_eq!(HumanSize(10 << 30).to_string(), "10G");
        assert_eq!(HumanSize(1000).to_string(), "1000");
        for bad in ["", "M", "-1G", "1.5G", "10X", "99999999999T"] {
            assert!(bad.parse::<HumanSize>().is_err(), "{bad:?}");
        }
    }
}
