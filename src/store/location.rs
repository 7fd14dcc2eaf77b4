//! Where the store lives: `--store` / `DAVGATE_STORE`, parsed once.
//!
//! Absent or `redb`: the embedded file in the data directory, as always. `postgres://…` (or
//! `postgresql://…`, libpq's URL form): a PostgreSQL database that several nodes share.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Store;

/// A parsed store location.
#[derive(Clone)]
pub enum Location {
    /// The redb file at this path.
    Redb(PathBuf),
    /// A PostgreSQL database (its URL may hold a password: never shown, see `Debug`).
    Postgres(Box<tokio_postgres::Config>),
}

/// Why a `--store` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// Neither `redb` nor a PostgreSQL URL.
    #[error("--store: '{0}' is neither 'redb' nor a postgres://user@host:port/db URL")]
    Unknown(String),
    /// The URL does not parse (the message names no password: tokio-postgres does not echo it).
    #[error("--store: not a PostgreSQL URL: {0}")]
    Url(tokio_postgres::Error),
    /// The URL asks for TLS, which this build does not speak to PostgreSQL yet.
    #[error(
        "--store: sslmode=require is not supported yet; reach PostgreSQL over a trusted network or a local socket (sslmode=disable)"
    )]
    TlsUnsupported,
}

impl Location {
    /// Parses a `--store` value; `data_dir` holds the redb file when that is the choice.
    pub fn parse(value: Option<&str>, data_dir: &Path) -> Result<Self, LocationError> {
        let value = value.map(str::trim).unwrap_or("");
        if value.is_empty() || value == "redb" {
            return Ok(Location::Redb(data_dir.join(Store::FILE_NAME)));
        }
        if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
            return Err(LocationError::Unknown(crate::log_safe::escaped(redacted(value))));
        }
        let config: tokio_postgres::Config = value.parse().map_err(LocationError::Url)?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(LocationError::TlsUnsupported);
        }
        Ok(Location::Postgres(Box::new(config)))
    }

    /// True for the shared store: the CLI then opens the database itself, no socket needed.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

/// The part of an unrecognised value before any `@`, which could be a password.
fn redacted(value: &str) -> &str {
    value.rsplit_once('@').map_or(value, |(_, host)| host)
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Redb(path) => f.debug_tuple("Redb").field(path).finish(),
            Location::Postgres(config) => f
                .debug_struct("Postgres")
                .field("user", &config.get_user())
                .field("hosts", &config.get_hosts())
                .field("ports", &config.get_ports())
                .field("dbname", &config.get_dbname())
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_redb_is_the_file_in_the_data_directory() {
        let dir = Path::new("/data");
        for value in [None, Some(""), Some("redb")] {
            let Location::Redb(path) = Location::parse(value, dir).unwrap() else { panic!() };
            assert_eq!(path, dir.join(Store::FILE_NAME));
        }
    }

    #[test]
    fn a_postgres_url_is_the_shared_store_and_its_password_is_never_shown() {
        let url = "postgres://dg:hunter2@127.0.0.1:5432/davgate";
        let location = Location::parse(Some(url), Path::new("/data")).unwrap();
        assert!(location.is_shared());
        let shown = format!("{location:?}");
        assert!(shown.contains("davgate") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn tls_and_unknown_stores_are_refused_in_one_line() {
        let refused = |v: &str| Location::parse(Some(v), Path::new("/d")).unwrap_err().to_string();
        assert!(refused("postgres://a@h/db?sslmode=require").contains("sslmode=require"));
        let unknown = refused("mysql://u:secret@h/db");
        assert!(unknown.contains("neither") && !unknown.contains("secret"), "{unknown}");
    }
}
