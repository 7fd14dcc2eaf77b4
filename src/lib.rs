//! davgate: a WebDAV server that only app passwords open.
//!
//! A request's journey: [`http`] accepts a connection (plain or TLS) and routes each request by
//! path. Requests under `/dav/` meet the [`auth::Gate`] first: it reads the HTTP Basic
//! credential, recognises an app password by its public id, verifies its secret with argon2id on
//! a small dedicated thread pool (or finds it in the verified-credential cache), and records the
//! client's *access method* on first use. Only an [`auth::Authenticated`] value opens the
//! [`dav::Mount`], which serves the user's own home folder through dav-server, confined so that
//! no path or `Destination` leaves it. Everything durable lives in the [`store::Store`], one redb
//! file; the [`admin`] operations are the one place that changes it, reached by the CLI either
//! directly or, while a server runs, through a private unix socket.

pub mod admin;
pub mod auth;
pub(crate) mod bounded;
pub mod clock;
pub mod dav;
pub mod duration;
pub mod error;
pub(crate) mod fs_private;
pub mod http;
pub mod log_safe;

pub mod server;
pub mod size;
pub mod store;
pub mod web;

pub use error::Error;

pub use server::{Server, ServerOptions};
