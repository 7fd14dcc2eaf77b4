//! Why a config file was refused: one line naming the file and the line (and column), as a
//! compiler does, so an admin goes straight to the mistake.

use std::fmt;
use std::path::PathBuf;

/// A place in a config file, printed `FILE:LINE:COLUMN`.
#[derive(Debug, Clone)]
pub struct At {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl At {
    /// The line and column of byte `offset` of `text`.
    pub fn of(file: &std::path::Path, text: &str, offset: usize) -> Self {
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        At { file: file.to_path_buf(), line, column }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why the configuration was refused (the command exits 2, as for a bad flag).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file (or a `*_file` secret) could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not TOML.
    #[error("{at}: not valid TOML: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: At,
        /// The parser's reason.
        message: String,
    },
    /// No flag has this name.
    #[error("{at}: unknown key '{key}'{}", hint.as_ref().map(|h| format!(" (did you mean '{h}'?)")).unwrap_or_default())]
    UnknownKey {
        /// Where.
        at: At,
        /// The key as written.
        key: String,
        /// The nearest known key.
        hint: Option<String>,
    },
    /// A runtime setting: it lives in the store, where every node reads it.
    #[error(
        "{at}: '{key}' is a runtime setting kept in the store, not in the config file: run `davgate settings set {key} VALUE`"
    )]
    StoreSetting {
        /// Where.
        at: At,
        /// The setting.
        key: String,
    },
    /// A name that cannot be set from this file.
    #[error("{at}: '{key}' cannot be set here: {why}")]
    NotHere {
        /// Where.
        at: At,
        /// The key.
        key: String,
        /// What to do instead.
        why: &'static str,
    },
    /// A TOML value of a type no flag takes (a table, a date, a list for a single value).
    #[error("{at}: {key}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        at: At,
        /// The key.
        key: String,
        /// What the flag takes.
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// The flag's own parser refused the value.
    #[error("{at}: {key} = {shown}: {reason}")]
    BadValue {
        /// Where.
        at: At,
        /// The key.
        key: String,
        /// The value, or `****` for a secret.
        shown: String,
        /// The parser's reason.
        reason: String,
    },
    /// The flags, taken together, are refused (e.g. `tls_cert` without `tls_key`).
    #[error("{}: {reason}", file.display())]
    Together {
        /// The file.
        file: PathBuf,
        /// clap's reason, naming the flags.
        reason: String,
    },
    /// Both `KEY` and `KEY_file`.
    #[error("{at}: {key} is also set at line {other}: keep one of {key} and {key}_file")]
    Twice {
        /// Where.
        at: At,
        /// The key.
        key: String,
        /// The other line.
        other: usize,
    },
    /// A secret written in a file others may read.
    #[error("{at}: {key} holds a secret, but {} is readable by group or others: chmod 600 {} (or read it from {key}_file)", at.file.display(), at.file.display())]
    InlineSecret {
        /// Where.
        at: At,
        /// The key.
        key: String,
    },
    /// A `*_file` secret others may read.
    #[error("{at}: {key}_file: {} is readable by group or others: chmod 600 {}", secret.display(), secret.display())]
    OpenSecretFile {
        /// Where.
        at: At,
        /// The key.
        key: String,
        /// The secret's file.
        secret: PathBuf,
    },
}
