//! The top-level error: what the binary turns into one line on stderr and an exit code.

use crate::{admin, http, store};

/// Anything that can stop a davgate command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credential store could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// An admin operation was refused (unknown user, bad name, ...).
    #[error(transparent)]
    Admin(#[from] admin::OpError),
    /// The HTTP listener or its TLS configuration failed.
    #[error(transparent)]
    Http(#[from] http::Error),
    /// Files on object storage cannot be served as configured.
    #[error(transparent)]
    Objects(#[from] crate::objectfs::StartError),
    /// `--files s3://…` cannot be read (or its credentials are missing).
    #[error(transparent)]
    ObjectsLocation(#[from] crate::objectfs::LocationError),
    /// A file or folder of the data directory could not be used.
    #[error("{context}: {source}")]
    Io {
        /// What davgate was doing.
        context: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what davgate was doing at the time.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// The process exit code: 1 for anything refused or failed (clap uses 2 for usage errors).
    pub fn exit_code(&self) -> i32 {
        1
    }
}
