//! The inventory as CSV (RFC 4180), for a spreadsheet: the API's export and the CLI's `--csv`
//! write the same bytes. Names are their owners' words, so every cell a spreadsheet could take
//! for a formula (one starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written
//! with a leading `'`, which spreadsheets show as text (OWASP's advice against CSV injection).

use super::views::AppPasswordView;

/// The header line's columns, in order.
const COLUMNS: [&str; 14] = [
    "user",
    "id",
    "name",
    "access_method",
    "access",
    "folder",
    "allow_from",
    "status",
    "created_at",
    "expires_at",
    "first_used_at",
    "last_used_at",
    "revoked_at",
    "networks",
];

/// `passwords` as CSV, a header line first, lines ended by CRLF.
pub fn inventory_csv(passwords: &[AppPasswordView]) -> String {
    let mut out = line(COLUMNS.iter().map(|c| c.to_string()));
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for p in passwords {
        out += &line(
            [
                p.user.clone(),
                p.id.clone(),
                p.name.clone(),
                p.access_method.clone().unwrap_or_default(),
                p.access.to_string(),
                p.folder.clone().unwrap_or_default(),
                p.allow_from.join(" "),
                p.status.to_string(),
                p.created_at.to_rfc3339(),
                time(p.expires_at),
                time(p.first_used_at),
                time(p.last_used_at),
                time(p.revoked_at),
                p.networks.len().to_string(),
            ]
            .into_iter(),
        );
    }
    out
}

fn line(cells: impl Iterator<Item = String>) -> String {
    let mut out = cells.map(|c| cell(&c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// One cell: defused if a spreadsheet would read a formula, quoted if it holds a comma, a
/// quote or a line break (quotes doubled).
fn cell(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_read_as_formulas_are_written_as_text_and_quotes_are_doubled() {
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("Laptop rclone"), "Laptop rclone");
        assert_eq!(cell(""), "");
        assert_eq!(line(["a".to_string(), "b".to_string()].into_iter()), "a,b\r\n");
    }
}
