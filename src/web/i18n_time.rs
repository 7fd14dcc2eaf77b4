//! Dates and times the web pages can show in the visitor's language, e.g. the profile page's
//! "valid until tomorrow at 17:51" / "demain à 17:51", plus picking that language from the
//! `Accept-Language` header; hand-written so no locale database is needed.

use chrono::{DateTime, Datelike, TimeZone, Timelike};
use std::fmt::Display;

/// The languages the web pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English, the default when nothing better is known.
    En,
    /// French.
    Fr,
}

/// Bytes of an `Accept-Language` value that are read at all (a real one is a few dozen).
const MAX_HEADER_BYTES: usize = 4096;
/// Non-empty entries of an `Accept-Language` value that are read at all.
const MAX_ENTRIES: usize = 32;

/// A weight in thousandths: RFC 9110 q-values have at most three decimals, so this is exact.
type Weight = u16;
/// The weight of an entry without `;q=`.
const FULL_WEIGHT: Weight = 1000;

impl Lang {
    /// Every language, in the order the switcher shows them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The BCP 47 tag: "en" / "fr" (used in <html lang>, the cookie value and the switch URL).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// Parses "en"/"fr" (case-insensitive, also "fr-CA", "en_US"); None otherwise.
    pub fn from_code(code: &str) -> Option<Lang> {
        let mut subtags = code.split(['-', '_']);
        let primary = subtags.next()?;
        let lang = Lang::ALL.into_iter().find(|lang| primary.eq_ignore_ascii_case(lang.code()))?;
        // Region, script or variant subtags are accepted but must look like subtags.
        let well_formed = subtags.all(|tag| {
            (1..=8).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        well_formed.then_some(lang)
    }

    /// Picks the best language from an Accept-Language header value (RFC 9110 q-values, e.g.
    /// "fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"); q=0 excludes; ties keep header order; malformed
    /// parts are skipped; None/empty/nothing known → Lang::En. Must never panic on any input
    /// and must cap work (ignore anything past the first 32 entries / 4096 bytes).
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let header = if header.len() > MAX_HEADER_BYTES {
            // Cut at the last comma inside the limit so no half-read entry counts. A comma is
            // ASCII, so its index is always a char boundary and the slice cannot panic.
            let kept = header.as_bytes().iter().take(MAX_HEADER_BYTES).rposition(|&b| b == b',');
            header.get(..kept.unwrap_or(0)).unwrap_or("")
        } else {
            header
        };

        // Best (weight, position) per language from entries naming it, and from `*`.
        let mut named: [Option<(Weight, usize)>; Lang::ALL.len()] = [None; Lang::ALL.len()];
        let mut wildcard: Option<(Weight, usize)> = None;
        let entries = header.split(',').map(str::trim).filter(|entry| !entry.is_empty());
        for (position, entry) in entries.take(MAX_ENTRIES).enumerate() {
            let Some((range, weight)) = parse_entry(entry) else {
                continue;
            };
            let slot = if range == "*" {
                &mut wildcard
            } else if let Some(slot) = Lang::from_code(range).and_then(|l| named.get_mut(l.index()))
            {
                slot
            } else {
                continue;
            };
            // Keep the highest weight; on equal weights the earlier entry stays.
            if slot.is_none_or(|(best, _)| weight > best) {
                *slot = Some((weight, position));
            }
        }

        let mut winner: Option<(Weight, usize, Lang)> = None;
        for lang in Lang::ALL {
            // `*` only speaks for languages the header does not name (RFC 4647, 3.3.1).
            let Some((weight, position)) = named.get(lang.index()).copied().flatten().or(wildcard)
            else {
                continue;
            };
            if weight == 0 {
                continue;
            }
            let better = winner.is_none_or(|(best, first, _)| {
                weight > best || (weight == best && position < first)
            });
            if better {
                winner = Some((weight, position, lang));
            }
        }
        winner.map_or(Lang::En, |(_, _, lang)| lang)
    }

    /// This language's place in `Lang::ALL`, for per-language tables.
    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Fr => 1,
        }
    }
}

/// Splits one `Accept-Language` entry into its language range and weight; None if malformed.
fn parse_entry(entry: &str) -> Option<(&str, Weight)> {
    let mut parts = entry.split(';');
    let range = parts.next()?.trim();
    if range.is_empty() {
        return None;
    }
    let mut weight = None;
    for param in parts.map(str::trim).filter(|param| !param.is_empty()) {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            if weight.is_some() {
                return None;
            }
            weight = Some(parse_qvalue(value.trim())?);
        }
    }
    Some((range, weight.unwrap_or(FULL_WEIGHT)))
}

/// Parses an RFC 9110 qvalue (`0`, `0.5`, `0.125`, `1`, `1.000`) into thousandths.
fn parse_qvalue(text: &str) -> Option<Weight> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: Weight = 0;
    for (digit, scale) in fraction.bytes().zip([100, 10, 1]) {
        thousandths += Weight::from(digit - b'0') * scale;
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL_WEIGHT),
        _ => None,
    }
}

/// "25 Nov 2026, 17:51" (en) / "25 nov. 2026, 17:51" (fr): an absolute date-time for tables.
pub fn absolute<Tz: TimeZone>(lang: Lang, when: &DateTime<Tz>) -> String
where
    Tz::Offset: Display,
{
    format!(
        "{} {} {}, {}",
        when.day(),
        month_abbreviation(lang, when.month0()),
        when.year(),
        hh_mm(when)
    )
}

/// A relative phrase for `when` as seen at `now` (both in the same time zone, the server's
/// local one in production; tests use FixedOffset/Utc):
pub fn relative<Tz: TimeZone>(lang: Lang, when: &DateTime<Tz>, now: &DateTime<Tz>) -> String
where
    Tz::Offset: Display,
{
    // Calendar days are those of `now`'s zone, even if `when` carries another offset.
    let when = when.with_timezone(&now.timezone());
    let seconds = when.naive_utc().signed_duration_since(now.naive_utc()).num_seconds();
    let future = seconds > 0;
    let seconds = seconds.unsigned_abs();
    if seconds < 60 {
        return match lang {
            Lang::En => "just now",
            Lang::Fr => "à l’instant",
        }
        .to_owned();
    }
    if seconds < 60 * 60 {
        return counted(lang, future, seconds / 60, Unit::Minute);
    }

    let days = when.date_naive().signed_duration_since(now.date_naive()).num_days();
    let time = hh_mm(&when);
    match (days, lang) {
        (0, Lang::En) => format!("today at {time}"),
        (0, Lang::Fr) => format!("aujourd’hui à {time}"),
        (1, Lang::En) => format!("tomorrow at {time}"),
        (1, Lang::Fr) => format!("demain à {time}"),
        (-1, Lang::En) => format!("yesterday at {time}"),
        (-1, Lang::Fr) => format!("hier à {time}"),
        _ => {
            let future = days > 0;
            let days = days.unsigned_abs();
            let (count, unit) = match days {
                0..=6 => (days, Unit::Day),
                7..=59 => (days / 7, Unit::Week),
                // Two years are 730 days.
                60..=729 => (days / 30, Unit::Month),
                _ => (days / 365, Unit::Year),
            };
            counted(lang, future, count, unit)
        }
    }
}

/// The units a relative phrase counts in.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Minute,
    Day,
    Week,
    Month,
    Year,
}

/// "in 3 days" / "3 days ago" / "dans 3 jours" / "il y a 3 jours", singular for a count of 1.
fn counted(lang: Lang, future: bool, count: u64, unit: Unit) -> String {
    let one = count == 1;
    let word = match (lang, unit) {
        (_, Unit::Minute) if one => "minute",
        (_, Unit::Minute) => "minutes",
        (Lang::En, Unit::Day) if one => "day",
        (Lang::En, Unit::Day) => "days",
        (Lang::En, Unit::Week) if one => "week",
        (Lang::En, Unit::Week) => "weeks",
        (Lang::En, Unit::Month) if one => "month",
        (Lang::En, Unit::Month) => "months",
        (Lang::En, Unit::Year) if one => "year",
        (Lang::En, Unit::Year) => "years",
        (Lang::Fr, Unit::Day) if one => "jour",
        (Lang::Fr, Unit::Day) => "jours",
        (Lang::Fr, Unit::Week) if one => "semaine",
        (Lang::Fr, Unit::Week) => "semaines",
        (Lang::Fr, Unit::Month) => "mois",
        (Lang::Fr, Unit::Year) if one => "an",
        (Lang::Fr, Unit::Year) => "ans",
    };
    match (lang, future) {
        (Lang::En, true) => format!("in {count} {word}"),
        (Lang::En, false) => format!("{count} {word} ago"),
        (Lang::Fr, true) => format!("dans {count} {word}"),
        (Lang::Fr, false) => format!("il y a {count} {word}"),
    }
}

/// The 24-hour "HH:MM" both languages use.
fn hh_mm<Tz: TimeZone>(when: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", when.hour(), when.minute())
}

/// The short month name for a zero-based month (0 = January).
fn month_abbreviation(lang: Lang, month0: u32) -> &'static str {
    const EN: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const FR: [&str; 12] = [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ];
    let names = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    usize::try_from(month0).ok().and_then(|index| names.get(index)).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, FixedOffset, Utc};

    /// A date-time in a +01:00 zone, so calendar days differ from UTC ones near midnight.
    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{text}+01:00")).expect("test date")
    }

    /// Asserts the English and French phrases for `when` seen at `now`.
    fn says(now: &str, when: &str, en: &str, fr: &str) {
        let (now, when) = (at(now), at(when));
        assert_eq!(relative(Lang::En, &when, &now), en, "en, now {now}, when {when}");
        assert_eq!(relative(Lang::Fr, &when, &now), fr, "fr, now {now}, when {when}");
    }

    /// Asserts the phrases for `when = now + offset`, with `now` at 2026-11-25 17:51.
    fn says_after(offset: Duration, en: &str, fr: &str) {
        let now = at("2026-11-25T17:51:00");
        let when = now + offset;
        assert_eq!(relative(Lang::En, &when, &now), en, "en, offset {offset}");
        assert_eq!(relative(Lang::Fr, &when, &now), fr, "fr, offset {offset}");
    }

    #[test]
    fn codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::En.code(), "en");
        assert_eq!(Lang::Fr.code(), "fr");
    }

    #[test]
    fn from_code_accepts_case_and_subtags() {
        for (code, lang) in [
            ("en", Lang::En),
            ("EN", Lang::En),
            ("en_US", Lang::En),
            ("en-GB", Lang::En),
            ("fr", Lang::Fr),
            ("Fr", Lang::Fr),
            ("fr-CA", Lang::Fr),
            ("fr_ch", Lang::Fr),
            ("fr-Latn-FR", Lang::Fr),
        ] {
            assert_eq!(Lang::from_code(code), Some(lang), "{code}");
        }
    }

    #[test]
    fn from_code_refuses_everything_else() {
        for code in [
            "",
            "e",
            "de",
            "eng",
            "french",
            "fr-",
            "-fr",
            "fr--CA",
            " fr",
            "fr ",
            "fr-toolongtag",
            "fr-ç",
            "*",
        ] {
            assert_eq!(Lang::from_code(code), None, "{code:?}");
        }
    }

    #[test]
    fn negotiate_picks_by_weight_then_order() {
        for (header, lang) in [
            (None, Lang::En),
            (Some(""), Lang::En),
            (Some("   "), Lang::En),
            (Some("fr"), Lang::Fr),
            (Some("FR-ca"), Lang::Fr),
            (Some("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr),
            (Some("en-US,en;q=0.9,fr;q=0.8"), Lang::En),
            (Some("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"), Lang::Fr),
            (Some("de, fr;q=0.5"), Lang::Fr),
            (Some("de, it"), Lang::En),
            (Some("fr;q=0, en"), Lang::En),
            (Some("en;q=0.1, fr;q=0.8"), Lang::Fr),
            (Some("en;q=0.1 , fr ; q=0.8"), Lang::Fr),
            (Some("en;q=0.5, fr;q=0.5"), Lang::En),
            (Some("fr;q=0.5, en;q=0.5"), Lang::Fr),
            (Some("fr;q=0.500, en;q=0.5"), Lang::Fr),
            (Some("en;q=0.499, fr;q=0.5"), Lang::Fr),
            (Some("fr;q=0.8;level=1, en;q=0.5"), Lang::Fr),
            (Some("fr;Q=1.000, en"), Lang::Fr),
        ] {
            assert_eq!(Lang::negotiate(header), lang, "{header:?}");
        }
    }

    #[test]
    fn negotiate_wildcard_covers_only_unnamed_languages() {
        for (header, lang) in [
            ("*", Lang::En),
            ("*;q=0", Lang::En),
            ("de, *;q=0.5", Lang::En),
            ("en;q=0, *", Lang::Fr),
            ("fr;q=0, *", Lang::En),
            ("en;q=0.1, *;q=0.5", Lang::Fr),
            ("en;q=0, fr;q=0, *", Lang::En),
        ] {
            assert_eq!(Lang::negotiate(Some(header)), lang, "{header}");
        }
    }

    #[test]
    fn negotiate_skips_malformed_parts() {
        for (header, lang) in [
            (";;;q=,,", Lang::En),
            (",,,", Lang::En),
            (";q=1", Lang::En),
            ("fr;q=1.5", Lang::En),
            ("fr;q=2", Lang::En),
            ("fr;q=1.001", Lang::En),
            ("fr;q=0.1234", Lang::En),
            ("fr;q=-0.5", Lang::En),
            ("fr;q=.5", Lang::En),
            ("fr;q=abc", Lang::En),
            ("fr;q=", Lang::En),
            ("fr;q=0.5;q=0.6", Lang::En),
            ("fr;nonsense", Lang::En),
            ("fr;q=abc, en;q=0.1", Lang::En),
            ("fr;q=1.5, de, fr;q=0.2", Lang::Fr),
            ("français, fr", Lang::Fr),
            ("fr;", Lang::Fr),
            ("en;q=0.2, fr;q=1.", Lang::Fr),
        ] {
            assert_eq!(Lang::negotiate(Some(header)), lang, "{header}");
        }
    }

    #[test]
    fn negotiate_caps_its_work() {
        let commas = ",".repeat(100 * 1024);
        assert_eq!(Lang::negotiate(Some(&commas)), Lang::En);
        assert_eq!(Lang::negotiate(Some(&format!("{commas}fr"))), Lang::En);

        // Entries past the 32nd are ignored.
        let thirty_one = vec!["de"; 31].join(", ");
        assert_eq!(Lang::negotiate(Some(&format!("{thirty_one}, fr"))), Lang::Fr);
        let thirty_two = vec!["de"; 32].join(", ");
        assert_eq!(Lang::negotiate(Some(&format!("{thirty_two}, fr"))), Lang::En);

        // Bytes past the 4096th are ignored, and a half-read entry does not count.
        let padded = format!("de{}", " ".repeat(MAX_HEADER_BYTES - 10));
        assert_eq!(Lang::negotiate(Some(&format!("{padded}, fr"))), Lang::Fr);
        let padded = format!("de{}", " ".repeat(MAX_HEADER_BYTES));
        assert_eq!(Lang::negotiate(Some(&format!("{padded}, fr"))), Lang::En);
        let split_entry = format!("{},fr-CA", "x".repeat(MAX_HEADER_BYTES - 3));
        assert_eq!(Lang::negotiate(Some(&split_entry)), Lang::En);

        // Multi-byte characters across the cut must not panic.
        for shift in 0..4 {
            let text = format!("{}{}", "x".repeat(shift), "é,€,😀".repeat(2000));
            assert_eq!(Lang::negotiate(Some(&text)), Lang::En);
        }
    }

    #[test]
    fn negotiate_never_panics_on_noise() {
        const PIECES: [&str; 16] =
            ["fr", "en", "*", ",", ";", "q", "=", "0", "1", ".", " ", "-", "_", "é", "😀", "9"];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(PIECES[(state % 16) as usize]);
            }
            let _ = Lang::negotiate(Some(&text));
        }
    }

    #[test]
    fn absolute_dates_for_tables() {
        let when = at("2026-11-25T17:51:00");
        assert_eq!(absolute(Lang::En, &when), "25 Nov 2026, 17:51");
        assert_eq!(absolute(Lang::Fr, &when), "25 nov. 2026, 17:51");
        let when = at("2026-02-05T08:03:59");
        assert_eq!(absolute(Lang::En, &when), "5 Feb 2026, 08:03");
        assert_eq!(absolute(Lang::Fr, &when), "5 févr. 2026, 08:03");
        let when = Utc.with_ymd_and_hms(2027, 8, 1, 0, 0, 0).single().expect("test date");
        assert_eq!(absolute(Lang::En, &when), "1 Aug 2027, 00:00");
        assert_eq!(absolute(Lang::Fr, &when), "1 août 2027, 00:00");
    }

    #[test]
    fn absolute_month_names() {
        let en =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let fr = [
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
            "nov.", "déc.",
        ];
        for (month, (en, fr)) in (1..=12).zip(en.into_iter().zip(fr)) {
            let when = Utc.with_ymd_and_hms(2026, month, 9, 23, 59, 0).single().expect("test date");
            assert_eq!(absolute(Lang::En, &when), format!("9 {en} 2026, 23:59"));
            assert_eq!(absolute(Lang::Fr, &when), format!("9 {fr} 2026, 23:59"));
        }
    }

    #[test]
    fn relative_just_now() {
        says_after(Duration::zero(), "just now", "à l’instant");
        says_after(Duration::seconds(59), "just now", "à l’instant");
        says_after(Duration::seconds(-59), "just now", "à l’instant");
        says_after(Duration::milliseconds(59_999), "just now", "à l’instant");
    }

    #[test]
    fn relative_minutes() {
        says_after(Duration::seconds(60), "in 1 minute", "dans 1 minute");
        says_after(Duration::seconds(-60), "1 minute ago", "il y a 1 minute");
        says_after(Duration::seconds(119), "in 1 minute", "dans 1 minute");
        says_after(Duration::minutes(5), "in 5 minutes", "dans 5 minutes");
        says_after(Duration::minutes(-5), "5 minutes ago", "il y a 5 minutes");
        says_after(Duration::minutes(59), "in 59 minutes", "dans 59 minutes");
        says_after(Duration::minutes(-59), "59 minutes ago", "il y a 59 minutes");
        says_after(Duration::seconds(3599), "in 59 minutes", "dans 59 minutes");
    }

    #[test]
    fn relative_minutes_win_across_midnight() {
        says("2026-11-25T23:50:00", "2026-11-26T00:10:00", "in 20 minutes", "dans 20 minutes");
        says("2026-11-26T00:10:00", "2026-11-25T23:50:00", "20 minutes ago", "il y a 20 minutes");
    }

    #[test]
    fn relative_today() {
        says_after(Duration::minutes(60), "today at 18:51", "aujourd’hui à 18:51");
        says_after(Duration::minutes(-60), "today at 16:51", "aujourd’hui à 16:51");
        says("2026-11-25T00:00:00", "2026-11-25T23:59:00", "today at 23:59", "aujourd’hui à 23:59");
        says("2026-11-25T23:59:00", "2026-11-25T00:00:00", "today at 00:00", "aujourd’hui à 00:00");
    }

    #[test]
    fn relative_tomorrow() {
        says("2026-11-25T10:00:00", "2026-11-26T09:00:00", "tomorrow at 09:00", "demain à 09:00");
        says("2026-11-25T17:00:00", "2026-11-26T17:51:00", "tomorrow at 17:51", "demain à 17:51");
        says("2026-11-25T23:50:00", "2026-11-26T00:50:00", "tomorrow at 00:50", "demain à 00:50");
        says("2026-11-25T00:00:00", "2026-11-26T23:59:00", "tomorrow at 23:59", "demain à 23:59");
        // Across a month and a year end.
        says("2026-11-30T12:00:00", "2026-12-01T08:00:00", "tomorrow at 08:00", "demain à 08:00");
        says("2026-12-31T12:00:00", "2027-01-01T08:00:00", "tomorrow at 08:00", "demain à 08:00");
    }

    #[test]
    fn relative_yesterday() {
        says("2026-11-25T10:00:00", "2026-11-24T23:59:00", "yesterday at 23:59", "hier à 23:59");
        says("2026-11-25T23:59:00", "2026-11-24T00:00:00", "yesterday at 00:00", "hier à 00:00");
        says("2026-03-01T00:30:00", "2026-02-28T22:00:00", "yesterday at 22:00", "hier à 22:00");
    }

    #[test]
    fn relative_days_count_calendar_days() {
        says("2026-11-25T23:00:00", "2026-11-27T00:30:00", "in 2 days", "dans 2 jours");
        says("2026-11-25T12:00:00", "2026-11-28T12:00:00", "in 3 days", "dans 3 jours");
        says("2026-11-25T12:00:00", "2026-12-01T23:59:00", "in 6 days", "dans 6 jours");
        says("2026-11-27T00:30:00", "2026-11-25T23:00:00", "2 days ago", "il y a 2 jours");
        says("2026-11-25T12:00:00", "2026-11-22T12:00:00", "3 days ago", "il y a 3 jours");
        says("2026-11-25T12:00:00", "2026-11-19T00:00:00", "6 days ago", "il y a 6 jours");
    }

    #[test]
    fn relative_weeks() {
        says_after(Duration::days(7), "in 1 week", "dans 1 semaine");
        says_after(Duration::days(-7), "1 week ago", "il y a 1 semaine");
        says_after(Duration::days(13), "in 1 week", "dans 1 semaine");
        says_after(Duration::days(14), "in 2 weeks", "dans 2 semaines");
        says_after(Duration::days(-20), "2 weeks ago", "il y a 2 semaines");
        says_after(Duration::days(59), "in 8 weeks", "dans 8 semaines");
        says_after(Duration::days(-59), "8 weeks ago", "il y a 8 semaines");
    }

    #[test]
    fn relative_months() {
        says_after(Duration::days(60), "in 2 months", "dans 2 mois");
        says_after(Duration::days(-60), "2 months ago", "il y a 2 mois");
        says_after(Duration::days(90), "in 3 months", "dans 3 mois");
        says_after(Duration::days(-90), "3 months ago", "il y a 3 mois");
        says_after(Duration::days(729), "in 24 months", "dans 24 mois");
        says_after(Duration::days(-729), "24 months ago", "il y a 24 mois");
    }

    #[test]
    fn relative_years() {
        says_after(Duration::days(730), "in 2 years", "dans 2 ans");
        says_after(Duration::days(-730), "2 years ago", "il y a 2 ans");
        says_after(Duration::days(1100), "in 3 years", "dans 3 ans");
        says_after(Duration::days(-1100), "3 years ago", "il y a 3 ans");
    }

    #[test]
    fn relative_singular_forms() {
        // A month or a year of one is out of reach of `relative`'s thresholds; the wording exists.
        assert_eq!(counted(Lang::En, true, 1, Unit::Month), "in 1 month");
        assert_eq!(counted(Lang::Fr, true, 1, Unit::Month), "dans 1 mois");
        assert_eq!(counted(Lang::En, false, 1, Unit::Month), "1 month ago");
        assert_eq!(counted(Lang::Fr, false, 1, Unit::Month), "il y a 1 mois");
        assert_eq!(counted(Lang::En, true, 1, Unit::Year), "in 1 year");
        assert_eq!(counted(Lang::Fr, true, 1, Unit::Year), "dans 1 an");
        assert_eq!(counted(Lang::En, false, 1, Unit::Year), "1 year ago");
        assert_eq!(counted(Lang::Fr, false, 1, Unit::Year), "il y a 1 an");
        assert_eq!(counted(Lang::En, true, 1, Unit::Day), "in 1 day");
        assert_eq!(counted(Lang::Fr, false, 1, Unit::Day), "il y a 1 jour");
    }

    #[test]
    fn relative_uses_the_zone_of_now() {
        // 23:30 and 00:45 the next day in +01:00 are the same UTC day, yet "tomorrow" here.
        says("2026-11-25T23:30:00", "2026-11-26T00:45:00", "tomorrow at 00:45", "demain à 00:45");
        // `when` given in UTC is read in `now`'s zone.
        let now = at("2026-11-25T23:30:00");
        let when = DateTime::parse_from_rfc3339("2026-11-25T23:45:00+00:00").expect("test date");
        assert_eq!(relative(Lang::En, &when, &now), "tomorrow at 00:45");
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 17, 51, 0).single().expect("test date");
        let when = now + Duration::days(1);
        assert_eq!(relative(Lang::Fr, &when, &now), "demain à 17:51");
    }

    #[test]
    fn relative_at_the_edges_of_time_does_not_panic() {
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(relative(Lang::En, &max, &min).starts_with("in "));
        assert!(relative(Lang::Fr, &min, &max).starts_with("il y a "));
        assert!(!absolute(Lang::En, &min).is_empty());
    }
}
