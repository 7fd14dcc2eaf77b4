//! Where the store lives: `--store` / `DAVGATE_STORE`, parsed once.
//!
//! Absent or `redb`: the embedded file in the data directory, as always. `postgres://…` (or
//! `postgresql://…`, libpq's URL form): a PostgreSQL database that several nodes share, over
//! TLS as its `sslmode` and `sslrootcert` say (see `pg/tls.rs` for what each mode checks).

use std::fmt;
use std::path::{Path, PathBuf};

use super::Store;
use super::pg::tls::{Roots, TlsPolicy, Verify};
use tokio_postgres::config::SslMode;

/// A parsed store location.
#[derive(Clone)]
pub enum Location {
    /// The redb file at this path.
    Redb(PathBuf),
    /// A PostgreSQL database (its URL may hold a password: never shown, see `Debug`).
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL database and how to reach it: the connection settings and the TLS policy.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    tls: TlsPolicy,
}

impl PgTarget {
    /// `config` with libpq's default TLS policy (`prefer`).
    pub(crate) fn new(config: tokio_postgres::Config) -> Self {
        Self { config, tls: TlsPolicy::default() }
    }

    /// The connection settings (host, user, database, …).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// What the URL asked of TLS.
    pub(crate) fn tls(&self) -> &TlsPolicy {
        &self.tls
    }
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
    /// An `sslmode` libpq does not have (or `allow`, which davgate does not offer).
    #[error("--store: sslmode={0} is not one of disable, prefer, require, verify-ca, verify-full")]
    SslMode(String),
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
        let (url, sslmode, sslrootcert) = tls_parameters(value);
        let mut config: tokio_postgres::Config = url.parse().map_err(LocationError::Url)?;
        let (mode, verify) = match sslmode.as_deref() {
            None | Some("prefer") => (SslMode::Prefer, Verify::Nothing),
            Some("disable") => (SslMode::Disable, Verify::Nothing),
            // libpq: `require` with a root certificate verifies as `verify-ca`.
            Some("require") if sslrootcert.is_some() => (SslMode::Require, Verify::Chain),
            Some("require") => (SslMode::Require, Verify::Nothing),
            Some("verify-ca") => (SslMode::Require, Verify::Chain),
            Some("verify-full") => (SslMode::Require, Verify::ChainAndName),
            Some(other) => {
                return Err(LocationError::SslMode(crate::log_safe::escaped(other)));
            }
        };
        config.ssl_mode(mode);
        let roots = match sslrootcert {
            None => Roots::System,
            Some(s) if s == "system" => Roots::System,
            Some(file) => Roots::File(PathBuf::from(file)),
        };
        Ok(Location::Postgres(Box::new(PgTarget {
            config,
            tls: TlsPolicy { mode, verify, roots },
        })))
    }

    /// True for the shared store: the CLI then opens the database itself, no socket needed.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres knows neither
/// `verify-*` nor `sslrootcert`): the rest of the URL as written, and the two values decoded.
fn tls_parameters(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None, None) };
    let (mut kept, mut sslmode, mut sslrootcert) = (Vec::new(), None, None);
    for pair in query.split('&') {
        let decoded: Vec<(String, String)> = serde_urlencoded::from_str(pair).unwrap_or_default();
        match decoded.into_iter().next() {
            Some((key, value)) if key == "sslmode" => sslmode = Some(value),
            Some((key, value)) if key == "sslrootcert" => sslrootcert = Some(value),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, sslmode, sslrootcert)
}

/// The part of an unrecognised value before any `@`, which could be a password.
fn redacted(value: &str) -> &str {
    value.rsplit_once('@').map_or(value, |(_, host)| host)
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Redb(path) => f.debug_tuple("Redb").field(path).finish(),
            Location::Postgres(target) => f
                .debug_struct("Postgres")
                .field("user", &target.config.get_user())
                .field("hosts", &target.config.get_hosts())
                .field("ports", &target.config.get_ports())
                .field("dbname", &target.config.get_dbname())
                .field("tls", &target.tls)
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
    fn unknown_ssl_modes_and_unknown_stores_are_refused_in_one_line() {
        let refused = |v: &str| Location::parse(Some(v), Path::new("/d")).unwrap_err().to_string();
        let mode = refused("postgres://a@h/db?sslmode=allow");
        assert!(mode.contains("sslmode=allow") && mode.contains("verify-full"), "{mode}");
        let unknown = refused("mysql://u:secret@h/db");
        assert!(unknown.contains("neither") && !unknown.contains("secret"), "{unknown}");
    }

    fn tls_of(url: &str) -> TlsPolicy {
        let Location::Postgres(t) = Location::parse(Some(url), Path::new("/d")).unwrap() else {
            panic!("not PostgreSQL")
        };
        assert_eq!(t.config.get_ssl_mode(), t.tls.mode);
        t.tls
    }

    #[test]
    fn each_ssl_mode_means_what_it_means_in_libpq() {
        let base = "postgres://a@h:5432/db";
        assert_eq!(tls_of(base), TlsPolicy::default());
        assert_eq!(tls_of(&format!("{base}?sslmode=disable")).mode, SslMode::Disable);
        let require = tls_of(&format!("{base}?sslmode=require"));
        assert_eq!((require.mode, require.verify), (SslMode::Require, Verify::Nothing));
        let with_root = tls_of(&format!("{base}?sslmode=require&sslrootcert=%2Fetc%2Fca.pem"));
        assert_eq!(with_root.verify, Verify::Chain);
        assert_eq!(with_root.roots, Roots::File("/etc/ca.pem".into()));
        assert_eq!(tls_of(&format!("{base}?sslmode=verify-ca")).verify, Verify::Chain);
        let full =
            tls_of(&format!("{base}?connect_timeout=3&sslmode=verify-full&sslrootcert=system"));
        assert_eq!((full.verify, full.roots), (Verify::ChainAndName, Roots::System));
    }

    #[test]
    fn the_other_parameters_of_the_url_are_kept() {
        let url = "postgres://a@h/db?connect_timeout=3&sslmode=verify-full&application_name=x";
        let Location::Postgres(t) = Location::parse(Some(url), Path::new("/d")).unwrap() else {
            panic!()
        };
        assert_eq!(t.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(3)));
        assert_eq!(t.config.get_application_name(), Some("x"));
    }
}
