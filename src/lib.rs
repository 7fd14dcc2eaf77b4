//! davgate: a WebDAV server that only app passwords open.
//!
//! A request's journey: `http` accepts a connection (plain or TLS) and routes each request by
//! path. Requests under `/dav/` meet the auth `Gate` first: it reads the HTTP Basic credential,
//! recognises an app password by its public id, verifies its secret with argon2id on a small
//! dedicated thread pool (or finds it in the verified-credential cache), and records the client's
//! *access method* on first use. Only an `Authenticated` value opens the dav `Mount`, which serves
//! the user's own home folder through dav-server, confined so that no path or `Destination`
//! leaves it. Everything durable lives in the `Store` (one redb file), whose change feed tells the
//! gate and the mount at once when a credential may have been taken away; the [`Admin`]
//! operations are the one place that changes accounts, reached by the pages, the JSON API, the
//! admin socket and the CLI (through a [`Client`]).
//!
//! The modules are private: what a program embedding davgate (and the `davgate` binary, which is
//! one) may use is the block of re-exports below.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use davgate::{AppPasswordName, AppPasswordSpec, Server, ServerOptions, UserName};
//!
//! let server = Server::start(ServerOptions::new("/var/lib/davgate")).await?;
//! let alice = UserName::parse("alice")?;
//! let created = server
//!     .admin()
//!     .create_app_password(&alice, &AppPasswordSpec::named(AppPasswordName::parse("rclone on the NAS")?))
//!     .await?;
//! println!("shown once: {}", created.password.expose());
//! server.run(std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod admin;
mod audit;
mod auth;
mod bounded;
mod clock;
mod connect;
mod dav;
mod duration;
mod error;
mod fs_private;
mod http;
mod log_safe;
mod mail;
mod metrics;
mod node;
mod objectfs;
pub mod oidc;
mod secret;
mod server;
mod size;
mod store;
mod upload_context;
mod web;
pub mod webhook;

pub use admin::homes::default_files_root;
pub use admin::{
    Admin, AppPasswordSpec, AppPasswordView, Audit, Client, CreatedAppPassword, Include,
    MIN_PASSWORD_LEN, NewPassword, OpError, PasswordChanged, ServerStatus, SettingValues,
    UserCreated, UserRemoved, UserView,
};
pub use admin::{BulkRevoke, FilterError, Inventory, InventoryFilter, ScopeTrait, inventory_csv};
pub use admin::{IdentityHint, ProviderInput, ProviderView};
pub use auth::GateOptions;
pub use auth::token::Secret;
pub use clock::{Clock, ManualClock};
pub use connect::{ConnectClient, ConnectLine, connect_lines, dav_url};
pub use dav::limits::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_UPLOADS, DavLimits};
pub use duration::{DurationError, HumanDuration};
pub use error::Error;
pub use http::{
    BadLogFormat, BadNetwork, BadPublicUrl, Error as HttpError, Limits, LogFormat, PublicPrefix,
    TrustedProxies,
};
pub use metrics::MetricsOptions;
pub use node::{NodeId, NodeIdError};
/// `davgate files copy`: a local files root moved into a bucket.
pub use objectfs::import::{ImportError, ImportProgress, ImportSummary, import_files};
pub use objectfs::{
    Collected, LocationError as ObjectsLocationError, ObjectsLocation, ProcessEnvironment,
};
pub use server::TlsReload;
pub use server::{FIRST_ADMIN, Server, ServerOptions};
pub use size::{HumanSize, SizeError};
pub use store::{
    Access, AppPasswordId, AppPasswordName, AppPasswordStatus, Error as StoreError, Lifetime,
    Location as StoreLocation, LocationError as StoreLocationError, NameError, Role, Scope,
    ScopeError, ScopeFolder, SettingKey, UserName,
};
/// The audit log: its events and the queries that read them.
pub use store::{ActorKind, AuditEvent, AuditQuery, EventKind, MAX_AUDIT_PAGE, Outcome};
/// `davgate backup` and `restore`: a consistent copy of the embedded store, and putting one
/// back on a stopped server.
pub use store::{BackupError, BackupSummary, RestoreError, RestoreSummary, restore};
/// `davgate store copy` moves an embedded store into PostgreSQL; the binary reaches it here,
/// as any program embedding davgate that automates the move may.
pub use store::{CopyCounts, CopyError, CopyProgress, copy_store};
/// Where security e-mails go: `davgate user email` validates an address with it.
pub use store::{EmailAddress, EmailError};
pub use store::{ExternalIdentity, LoginMethod, ProviderId};

/// What the fuzz targets and the integration tests reach below the embedding API: the parsers of
/// client input and a few test oracles. Not a stable interface.
#[doc(hidden)]
pub mod internal {
    pub use crate::auth::basic::parse as parse_basic;
    pub use crate::auth::client::access_method;
    pub use crate::auth::token::{TokenError, generate, parse as parse_app_password};
    pub use crate::http::{FragmentGuard, Treatment, Verdict};
    pub use crate::store::ALPHABET;
    pub use crate::store::test_database::TestDatabase;
    pub use crate::web::totp::code_at as totp_code_at;
}
