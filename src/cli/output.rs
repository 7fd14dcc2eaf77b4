//! What the CLI prints: tables for people, JSON for scripts, times in UTC.

use chrono::{DateTime, Utc};
use std::io::Write;

use super::CliError;
use davgate::HumanSize;
use davgate::{AppPasswordView, UserView};

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(super) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `value` as pretty JSON and a newline. A value that cannot be written as JSON is an error:
/// a script must never read an empty listing as "nothing there".
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// A time as the tables show it.
pub(super) fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `user list`.
pub(super) fn users_table(users: &[UserView]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let status = if u.disabled { "disabled" } else { "enabled" };
            vec![
                u.name.clone(),
                u.role.to_string(),
                status.into(),
                u.quota_bytes.map_or_else(|| "none".into(), |q| HumanSize(q).to_string()),
                login_cell(u),
                human_time(u.created_at),
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "STATUS", "QUOTA", "LOGIN", "CREATED"], &rows)
}

/// The LOGIN column: the method, and the provider of a linked (or pending) identity.
fn login_cell(u: &UserView) -> String {
    match &u.external {
        Some(x) if x.subject.is_some() => format!("{} ({})", u.login, x.provider),
        Some(x) => format!("{} ({}, pending)", u.login, x.provider),
        None => u.login.to_string(),
    }
}

/// `app-password list`, with a STATUS column under `--all`.
pub(super) fn app_passwords_table(list: &[AppPasswordView], with_status: bool) -> String {
    if list.is_empty() {
        return "No app password.\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let mut row = vec![
                p.id.clone(),
                p.user.clone(),
                p.name.clone(),
                scope_cell(p),
                p.access_method.clone().unwrap_or_else(|| "Not assigned".into()),
                p.expires_at.map_or_else(|| "never".into(), human_time),
                p.last_used_at.map_or_else(|| "never".into(), human_time),
            ];
            if with_status {
                row.push(p.status.to_string());
            }
            row
        })
        .collect();
    let mut headers =
        vec!["ID", "USER", "NAME", "SCOPE", "ACCESS METHOD", "VALID UNTIL", "LAST USED"];
    if with_status {
        headers.push("STATUS");
    }
    table(&headers, &rows)
}

/// An app password's scope in one cell: `read_only /Projects from 10.0.0.0/8`.
fn scope_cell(p: &AppPasswordView) -> String {
    let mut cell = p.access.as_str().to_string();
    if let Some(folder) = &p.folder {
        cell.push(' ');
        cell.push_str(folder);
    }
    if !p.allow_from.is_empty() {
        cell.push_str(" from ");
        cell.push_str(&p.allow_from.join(","));
    }
    cell
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value serde refuses to write (as a map with a non-string key would be).
    struct Unwritable;

    impl serde::Serialize for Unwritable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("this value cannot be written"))
        }
    }

    #[test]
    fn a_listing_that_cannot_be_written_as_json_is_an_error_not_an_empty_line() {
        let e = to_json(&vec![Unwritable]).unwrap_err();
        assert!(matches!(e, CliError::Json(_)), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("this value cannot be written"), "{e}");
    }

    #[test]
    fn json_listings_parse_back() {
        let user = UserView {
            name: "alice".into(),
            role: davgate::Role::User,
            created_at: Utc::now(),
            disabled: false,
            quota_bytes: Some(10),
            two_factor: true,
            login: Default::default(),
            external: None,
            email: None,
            mail_to: None,
            mail: Default::default(),
        };
        let text = to_json(&vec![user]).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[0]["name"], "alice");
        assert!(text.ends_with("}\n]\n"), "{text}");
    }
}
