//! Reading a config file: TOML with positions, each entry matched to a key, secrets read from
//! `*_file` keys, and the file's permissions checked for secrets written inline.
//!
//! The `toml` crate (the toml-rs project, what Cargo itself parses with) gives every key and
//! value its byte span through `toml::Spanned`, so each refusal can name its line.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::{At, ConfigError};
use super::keys::{Key, is_secret, nearest};
use super::secret;
use toml::{Spanned, Value};

/// Permission bits that let group or others read a file.
const OTHERS: u32 = 0o077;

/// One `key = value` of the file, resolved to its key (its `Debug` masks secrets).
#[derive(Clone)]
pub(super) struct Entry {
    /// The key it sets.
    pub key: Key,
    /// The value(s), as a command line would give them.
    pub values: Vec<String>,
    /// Where it was written.
    pub at: At,
    /// Where its value starts.
    pub value_at: At,
    /// The secret's file, for `KEY_file`.
    pub secret_file: Option<PathBuf>,
}

/// A config file, read and checked.
#[derive(Debug, Clone)]
pub(super) struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> =
            self.values.iter().map(|v| secret::masked(&self.key.name, v)).collect();
        f.debug_struct("Entry")
            .field("key", &self.key.name)
            .field("values", &shown)
            .field("at", &self.at)
            .field("secret_file", &self.secret_file)
            .finish_non_exhaustive()
    }
}

impl ConfigFile {
    /// The entry for `key`, if the file sets it.
    pub fn entry(&self, key: &Key) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.name == key.name)
    }

    /// Whether the file sets `key`.
    pub fn sets(&self, key: &Key) -> bool {
        self.entry(key).is_some()
    }
}

/// Reads `path`; `inside_data` says it was found as `<data>/davgate.toml` (so it cannot move
/// the data directory it lies in).
pub(super) fn read(
    path: &Path,
    inside_data: bool,
    keys: &[Key],
) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })?;
    let mode = mode(path)?;
    let table: BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            at: At::of(path, &text, e.span().map_or(0, |s| s.start)),
            message: e.message().trim_end().replace('\n', "; "),
        })?;
    let mut written: Vec<_> = table.into_iter().collect();
    written.sort_by_key(|(k, _)| k.span().start);
    let mut entries: Vec<Entry> = Vec::new();
    for (name, value) in written {
        let at = At::of(path, &text, name.span().start);
        let value_at = At::of(path, &text, value.span().start);
        let entry = entry(name.get_ref(), value.get_ref(), [at, value_at], keys, inside_data)?;
        if let Some(other) = entries.iter().find(|e| e.key.name == entry.key.name) {
            let (key, other) = (entry.key.name.clone(), other.at.line);
            return Err(ConfigError::Twice { at: entry.at, key, other });
        }
        let inline = entry.secret_file.is_none()
            && entry.key.is_secret()
            && entry.values.iter().any(|v| secret::holds_secret(&entry.key.name, v));
        if inline && mode & OTHERS != 0 {
            return Err(ConfigError::InlineSecret { at: entry.at, key: entry.key.name.clone() });
        }
        entries.push(entry);
    }
    Ok(ConfigFile { path: path.to_path_buf(), entries })
}

/// Resolves one `name = value`.
fn entry(
    name: &str,
    value: &Value,
    [at, value_at]: [At; 2],
    keys: &[Key],
    inside_data: bool,
) -> Result<Entry, ConfigError> {
    let find = |n: &str| keys.iter().find(|k| k.name == n).cloned();
    if name == "config" {
        let why = "a config file cannot name another one";
        return Err(ConfigError::NotHere { at, key: name.into(), why });
    }
    if name == "data" && inside_data {
        let why = "this file lies in the data directory; name it with --config FILE to set data";
        return Err(ConfigError::NotHere { at, key: name.into(), why });
    }
    if let Some(key) = find(name) {
        let values = values(&key, value, &value_at)?;
        return Ok(Entry { key, values, at, value_at, secret_file: None });
    }
    if let Some(key) = name.strip_suffix("_file").filter(|k| is_secret(k)).and_then(find) {
        let Value::String(file) = value else {
            let found = type_name(value);
            return Err(ConfigError::WrongType {
                at: value_at,
                key: name.into(),
                expected: "a file name",
                found,
            });
        };
        let file = PathBuf::from(file);
        let content = read_secret(&file, &value_at, &key.name)?;
        return Ok(Entry { key, values: vec![content], at, value_at, secret_file: Some(file) });
    }
    if name.parse::<davgate::SettingKey>().is_ok() {
        return Err(ConfigError::StoreSetting { at, key: name.into() });
    }
    let hint = nearest(name, keys).map(str::to_string);
    Err(ConfigError::UnknownKey { at, key: name.into(), hint })
}

/// The value(s) a TOML value gives the flag, as command-line text.
fn values(key: &Key, value: &Value, at: &At) -> Result<Vec<String>, ConfigError> {
    let wrong = |expected, found| ConfigError::WrongType {
        at: at.clone(),
        key: key.name.clone(),
        expected,
        found,
    };
    match value {
        Value::Array(items) if key.takes_list() => items
            .iter()
            .map(|item| {
                scalar(item).ok_or_else(|| wrong("a list of strings or numbers", type_name(item)))
            })
            .collect(),
        Value::Array(_) => Err(wrong("one value", "a list")),
        _ if key.is_switch() && !matches!(value, Value::Boolean(_)) => {
            Err(wrong("true or false", type_name(value)))
        }
        _ => scalar(value)
            .map(|v| vec![v])
            .ok_or_else(|| wrong("a string, a number or true/false", type_name(value))),
    }
}

/// A string, number or boolean as text; `None` for tables, dates and lists.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Datetime(_) | Value::Array(_) | Value::Table(_) => None,
    }
}

/// The TOML type of a value, as the refusals name it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table (sections are not used: write every key at the top)",
    }
}

/// A `KEY_file` secret: its content without one trailing newline; refused if others may read it.
fn read_secret(file: &Path, at: &At, key: &str) -> Result<String, ConfigError> {
    if mode(file)? & OTHERS != 0 {
        return Err(ConfigError::OpenSecretFile {
            at: at.clone(),
            key: key.into(),
            secret: file.into(),
        });
    }
    let text = std::fs::read_to_string(file)
        .map_err(|source| ConfigError::Read { file: file.to_path_buf(), source })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
}

/// The permission bits of `path`.
fn mode(path: &Path) -> Result<u32, ConfigError> {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn an_entrys_debug_masks_a_secret() {
        let keys = super::super::keys::keys(&crate::cli::Cli::command());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("davgate.toml");
        std::fs::write(&path, "store = \"postgres://u:hunter2@h/db\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = read(&path, true, &keys).unwrap();
        let debug = format!("{file:?}");
        assert!(!debug.contains("hunter2") && debug.contains("u:****@h"), "{debug}");
    }
}
