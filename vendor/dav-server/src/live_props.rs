//! davgate patch: the live properties of a PROPFIND written straight as bytes.
//!
//! `PropWriter::build_prop` builds an xmltree `Element` for every property of every entry (a
//! prefix, a name and a text `String` each, a `HashMap` of them per entry), formats dates through
//! `headers`/`chrono` into fresh `String`s and rebuilds the same `supportedlock` tree each time:
//! most of a large listing's CPU time was allocation. Here each property a request names is
//! classified once per request ([`Plan`]), with its tags and the bytes of its "missing" form
//! rendered up front; per entry only the value is formatted, into a stack buffer. What the
//! classification does not know (`current-user-principal`, CalDAV/CardDAV) still goes through
//! `build_prop`. The bytes are those the old writer produced (tested in `handle_props`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xmltree::Element;

use crate::util::{http_time, systemtime_to_rfc3339_without_nanosecond};

const NS_APACHE_URI: &str = "http://apache.org/dav/props/";
const NS_DAV_URI: &str = "DAV:";
const NS_MS_URI: &str = "urn:schemas-microsoft-com:";

/// Which live property a requested element is, as far as the fast path writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Live {
    CreationDate,
    /// `displayname`, `getcontentlanguage`: a dead property when asked for by name.
    DeadOrMissing,
    GetEtag,
    GetContentLength,
    GetContentType,
    GetLastModified,
    ResourceType,
    SupportedLock,
    LockDiscovery,
    QuotaAvailable,
    QuotaUsed,
    Executable,
    Win32CreationTime,
    Win32LastAccessTime,
    Win32LastModifiedTime,
    Win32FileAttributes,
    /// Another `urn:schemas-microsoft-com:` name: a stored value or missing.
    MsOther,
    /// A property of no namespace we know: a dead property when asked for by name.
    Dead,
    /// Known to be missing whatever the resource (an unknown `DAV:` or Apache name).
    Missing,
    /// Left to `build_prop`.
    Legacy,
}

impl Live {
    /// Whether this property looks into the entry's dead properties (`by_name`: the request is
    /// a `<prop>`, not `allprop`).
    pub(crate) fn reads_dead(self, by_name: bool) -> bool {
        match self {
            Live::Win32CreationTime
            | Live::Win32LastAccessTime
            | Live::Win32LastModifiedTime
            | Live::Win32FileAttributes
            | Live::MsOther => true,
            Live::DeadOrMissing | Live::Dead => by_name,
            _ => false,
        }
    }
}

/// One requested property, classified once per request.
pub(crate) struct Plan {
    pub(crate) live: Live,
    /// `<P:name>` and `</P:name>`, with the prefix the old writer gave it.
    pub(crate) open: Box<[u8]>,
    pub(crate) close: Box<[u8]>,
    /// What the old writer wrote for it when missing (404).
    pub(crate) missing: Box<[u8]>,
}

/// Classifies `prop`; `render` gives the bytes the old writer wrote for an element.
pub(crate) fn plan(prop: &Element, render: &mut impl FnMut(&Element) -> Vec<u8>) -> Plan {
    let (pfx, live) = match prop.namespace.as_deref() {
        Some(NS_DAV_URI) => ("D", match prop.name.as_str() {
            "creationdate" => Live::CreationDate,
            "displayname" | "getcontentlanguage" => Live::DeadOrMissing,
            "getetag" => Live::GetEtag,
            "getcontentlength" => Live::GetContentLength,
            "getcontenttype" => Live::GetContentType,
            "getlastmodified" => Live::GetLastModified,
            "resourcetype" => Live::ResourceType,
            "current-user-principal" => Live::Legacy,
            "supportedlock" => Live::SupportedLock,
            "lockdiscovery" => Live::LockDiscovery,
            "quota-available-bytes" => Live::QuotaAvailable,
            "quota-used-bytes" => Live::QuotaUsed,
            _ => Live::Missing,
        }),
        Some(NS_APACHE_URI) => ("A", match prop.name.as_str() {
            "executable" => Live::Executable,
            _ => Live::Missing,
        }),
        Some(NS_MS_URI) => ("Z", match prop.name.as_str() {
            "Win32CreationTime" => Live::Win32CreationTime,
            "Win32LastAccessTime" => Live::Win32LastAccessTime,
            "Win32LastModifiedTime" => Live::Win32LastModifiedTime,
            "Win32FileAttributes" => Live::Win32FileAttributes,
            _ => Live::MsOther,
        }),
        _ => ("", Live::Dead),
    };
    let open = format!("<{pfx}:{}>", prop.name).into_bytes();
    let close = format!("</{pfx}:{}>", prop.name).into_bytes();
    // build_prop's missing form: the name with the prefix above, or the element as asked.
    let missing = if pfx.is_empty() { render(prop) } else { [&open[..], &close[..]].concat() };
    Plan { live, open: open.into(), close: close.into(), missing: missing.into() }
}

/// The room [`http_date`] and [`rfc3339`] need.
pub(crate) type DateBuf = [u8; 29];

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, usize, usize) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as usize;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn two(out: &mut [u8], v: u64) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn four(out: &mut [u8], v: u64) {
    two(&mut out[..2], v / 100);
    two(&mut out[2..4], v % 100);
}

/// `t` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), clamped to 1970-9999 as
/// `systemtime_to_httpdate` clamps it.
pub(crate) fn http_date(t: SystemTime, out: &mut DateBuf) -> &[u8] {
    let secs = http_time(t).duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let days = secs / 86_400;
    let (year, month, day) = civil(days as i64);
    let sod = secs % 86_400;
    out.copy_from_slice(b"Thu, 01 Jan 1970 00:00:00 GMT");
    out[..3].copy_from_slice(DAYS[((days + 4) % 7) as usize]);
    two(&mut out[5..7], day as u64);
    out[8..11].copy_from_slice(MONTHS[month - 1]);
    four(&mut out[12..16], year as u64);
    two(&mut out[17..19], sod / 3600);
    two(&mut out[20..22], sod / 60 % 60);
    two(&mut out[23..25], sod % 60);
    &out[..]
}

/// `t` as RFC 3339 without fractions (`1996-12-19T16:39:57Z`), as
/// `systemtime_to_rfc3339_without_nanosecond` writes it; outside 1970-9999 through that one.
pub(crate) fn rfc3339(t: SystemTime, out: &mut DateBuf) -> std::borrow::Cow<'_, [u8]> {
    let Some(secs) = t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()) else {
        return systemtime_to_rfc3339_without_nanosecond(t).into_bytes().into();
    };
    let days = secs / 86_400;
    let (year, month, day) = civil(days as i64);
    if year > 9999 {
        return systemtime_to_rfc3339_without_nanosecond(t).into_bytes().into();
    }
    let sod = secs % 86_400;
    out[..20].copy_from_slice(b"1970-01-01T00:00:00Z");
    four(&mut out[..4], year as u64);
    two(&mut out[5..7], month as u64);
    two(&mut out[8..10], day as u64);
    two(&mut out[11..13], sod / 3600);
    two(&mut out[14..16], sod / 60 % 60);
    two(&mut out[17..19], sod % 60);
    out[..20].into()
}

/// `v` in decimal, zero-padded to `width` digits, at the end of `out`.
pub(crate) fn decimal(out: &mut [u8; 24], mut v: u64, width: usize) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 && out.len() - i >= width {
            break;
        }
    }
    &out[i..]
}

/// `v` in lowercase hexadecimal, zero-padded to `width` digits, at the end of `out`.
pub(crate) fn hex(out: &mut [u8; 24], mut v: u64, width: usize) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
        if v == 0 && out.len() - i >= width {
            break;
        }
    }
    &out[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::systemtime_to_httpdate;

    fn times() -> Vec<SystemTime> {
        let mut v = vec![
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::from_secs(1),
            UNIX_EPOCH - Duration::from_nanos(500),
            UNIX_EPOCH + Duration::from_secs(253_402_300_799),
            UNIX_EPOCH + Duration::from_secs(253_402_300_800),
            UNIX_EPOCH + Duration::from_secs(951_782_400), // 2000-02-29
            UNIX_EPOCH + Duration::new(1_764_620_000, 999_999_999),
        ];
        // A spread of instants over 1970-2400 (a fixed LCG: the same every run).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            v.push(UNIX_EPOCH + Duration::new((x >> 11) % 13_569_465_600, (x % 1_000_000_000) as u32));
        }
        v
    }

    #[test]
    fn dates_are_formatted_as_the_old_writer_formatted_them() {
        let mut buf = [0; 29];
        for t in times() {
            let http = std::str::from_utf8(http_date(t, &mut buf)).unwrap().to_string();
            assert_eq!(http, systemtime_to_httpdate(t), "{t:?}");
            let iso = String::from_utf8(rfc3339(t, &mut buf).into_owned()).unwrap();
            assert_eq!(iso, systemtime_to_rfc3339_without_nanosecond(t), "{t:?}");
        }
    }

    #[test]
    fn numbers_are_formatted_as_format_formats_them() {
        let mut buf = [0; 24];
        for v in [0, 1, 9, 10, 255, 4096, 123_456_789, u64::MAX] {
            assert_eq!(decimal(&mut buf, v, 0), v.to_string().as_bytes());
            assert_eq!(decimal(&mut buf, v, 14), format!("{v:014}").as_bytes());
            assert_eq!(hex(&mut buf, v, 8), format!("{v:08x}").as_bytes());
            assert_eq!(hex(&mut buf, v, 0), format!("{v:x}").as_bytes());
        }
    }
}

#[cfg(test)]
#[path = "live_props_tests.rs"]
mod writer_tests;
