//! Command-line interface: `serve`, `user`, `app-password`, `settings`, `status`, `store`,
//! `files`, `backup`, `restore`, `config`.
//!
//! One file per job: the server ([`serve`]), each group of admin commands, and what they print
//! ([`output`]). Admin commands reach the operations through a [`davgate::Client`] (the running
//! server's socket, or the store itself) and print their typed results; every refusal or failure
//! becomes one [`CliError`] line and a non-zero exit. The options may also come from a TOML
//! file ([`config`]), read before the command line is parsed.

mod app_password;
mod audit;
mod backup;
mod config;
mod files;
mod files_gc;
mod inventory;
mod oidc;
mod output;
mod serve;
mod settings;
mod store;
mod user;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::BufRead;
use std::path::PathBuf;

use davgate::OpError;
use davgate::Secret;
use davgate::UserName;

/// davgate: a WebDAV server for people whose accounts have a second factor.
///
/// WebDAV clients (Windows Explorer, macOS Finder, rclone, davfs2, cadaver) speak only HTTP
/// Basic auth, so each application gets its own app password. Only app passwords open
/// /dav/; the account's own password never does.
#[derive(Debug, Parser)]
#[command(name = "davgate", version, propagate_version = true, after_help = config::HELP)]
pub struct Cli {
    /// TOML config file: every option is also a key (default: <data>/davgate.toml when it
    /// exists). Flags and the environment win over it.
    #[arg(long, global = true, env = "DAVGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: the store (davgate.redb) and each user's files (files/<user>/).
    #[arg(
        long,
        global = true,
        env = "DAVGATE_DATA",
        default_value = "./storage",
        value_name = "DIR"
    )]
    data: PathBuf,
    /// Where the accounts, app passwords and settings live: 'redb' (the file in the data
    /// directory, the default) or postgres://user@host:port/db, shared by several nodes (the
    /// CLI then opens the database itself, with or without a server running).
    #[arg(long, global = true, env = "DAVGATE_STORE", value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: WebDAV under /dav/, the profile and admin pages and the JSON API at / (creates an 'admin' account on first start).
    #[command(after_help = config::HELP)]
    Serve(Box<serve::ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage the company identity providers (OpenID Connect single sign-on).
    #[command(subcommand)]
    Oidc(oidc::OidcCommand),
    /// Manage app passwords: one per application, shown once, expiring.
    #[command(subcommand, name = "app-password")]
    AppPassword(app_password::AppPasswordCommand),
    /// Show or change server settings.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// Work on the store as a whole (move an embedded store to PostgreSQL).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Work on the users' files (copy a local files root into an S3 bucket, collect its garbage).
    #[command(subcommand)]
    Files(files::FilesCommand),
    /// Write a consistent copy of the embedded store to FILE, while the server runs (the
    /// server writes it) or not; PostgreSQL is backed up with pg_dump instead.
    Backup(backup::BackupArgs),
    /// Put a backup written by `davgate backup` back as the store of a stopped server (the
    /// replaced store is kept beside it as davgate.redb.before-restore-<time>).
    Restore(backup::RestoreArgs),
    /// Check the config file and show the effective configuration, or list every key.
    #[command(subcommand, after_help = config::HELP)]
    Config(config::ConfigCommand),
    /// Show the audit log, newest first: who created, used, revoked or changed what.
    Audit(audit::AuditArgs),
    /// Show what the running server is doing (verifications, cache, throttled clients).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Why a command failed: printed as one line (`davgate: ...`) before a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not start or serve.
    #[error(transparent)]
    Server(#[from] davgate::Error),
    /// An admin operation was refused or failed (here or in the running server).
    #[error(transparent)]
    Admin(#[from] OpError),
    /// `--store` is neither `redb` nor a usable PostgreSQL URL.
    #[error(transparent)]
    Store(#[from] davgate::StoreLocationError),
    /// A size on the command line is malformed.
    #[error(transparent)]
    Size(#[from] davgate::SizeError),
    /// An e-mail address on the command line is malformed.
    #[error(transparent)]
    Email(#[from] davgate::EmailError),
    /// `store copy` was refused or failed (nothing was copied).
    #[error(transparent)]
    Copy(#[from] davgate::CopyError),
    /// `files copy` was refused or stopped (what it committed stays; run it again).
    #[error(transparent)]
    FilesCopy(#[from] davgate::ImportError),
    /// `store copy --from` is not `redb:PATH`.
    #[error(transparent)]
    NotRedb(#[from] store::NotRedb),
    /// `restore` was refused or failed (the store is as it was).
    #[error(transparent)]
    Restore(#[from] davgate::RestoreError),
    /// The config file was refused (exit 2, as for a bad flag).
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The HTTP client for the identity providers could not be set up.
    #[error(transparent)]
    Oidc(davgate::oidc::http::ClientError),
    /// `oidc check`: the provider's discovery failed.
    #[error(transparent)]
    Discovery(Box<davgate::oidc::DiscoveryError>),
    /// An inventory filter on the command line is malformed.
    #[error(transparent)]
    Filter(#[from] davgate::FilterError),
    /// `app-password revoke --all-users --expect N`: the filters hold another number.
    #[error(
        "the filters hold {actual} app password(s) to revoke, not {expected}: nothing was \
         revoked (list them with 'app-password list --all-users' and the same filters, then \
         confirm with --expect {actual})"
    )]
    CountDiffers {
        /// What --expect said.
        expected: usize,
        /// How many the filters hold.
        actual: usize,
    },
    /// A listing could not be written as JSON.
    #[error("cannot write the answer as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Standard input could not be read, or the CLI's runtime could not start.
    #[error("{context}: {source}")]
    Io {
        /// What the CLI was doing.
        context: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code: 1 for anything refused or failed, 2 for a refused config file
    /// (as clap for a bad flag).
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Server(e) => e.exit_code(),
            CliError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// Reads the config file, parses the command line `args` over it and runs the command.
pub fn start(args: Vec<OsString>) -> Result<(), CliError> {
    let (cli, loaded) = config::load(args)?;
    run(cli, &loaded)
}

/// Runs the parsed command.
fn run(cli: Cli, loaded: &config::Loaded) -> Result<(), CliError> {
    let store = davgate::StoreLocation::parse(cli.store.as_deref(), &cli.data)?;
    let data = Target { dir: cli.data, store };
    match cli.command {
        Command::Serve(args) => Ok(serve::serve(data.dir, data.store, *args)?),
        Command::User(cmd) => block_on(user::run(&data, cmd)),
        Command::AppPassword(cmd) => {
            block_on(app_password::run(&data, cmd, loaded.public_url().as_deref()))
        }
        Command::Oidc(cmd) => block_on(oidc::run(&data, cmd)),
        Command::Settings(cmd) => block_on(settings::run(&data, cmd)),
        Command::Audit(args) => block_on(audit::run(&data, args)),
        Command::Status { json } => block_on(settings::status(&data, json)),
        Command::Store(cmd) => block_on(store::run(cmd)),
        Command::Files(cmd) => block_on(files::run(&data, cmd)),
        Command::Backup(args) => block_on(backup::backup(&data, args)),
        Command::Restore(args) => block_on(backup::restore(&data, args)),
        Command::Config(cmd) => config::run(cmd, loaded),
    }
}

/// What an admin command works on: the data directory and the store chosen with `--store`.
struct Target {
    dir: PathBuf,
    store: davgate::StoreLocation,
}

impl Target {
    /// The operations, through the running server or on the store itself.
    async fn client(&self) -> Result<davgate::Client, OpError> {
        davgate::Client::connect(&self.dir, &self.store).await
    }

    /// [`Target::client`], with the homes under `files` (for `user remove`).
    async fn client_with_files(&self, files: &std::path::Path) -> Result<davgate::Client, OpError> {
        davgate::Client::connect_with_files(&self.dir, &self.store, files).await
    }
}

/// Runs one admin command to its end, on a small runtime of its own (the store's work and the
/// hashing go to its blocking threads).
fn block_on(command: impl Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io { context: "starting the runtime", source })?
        .block_on(command)
}

/// A user name typed on the command line, checked before anything is opened.
fn user_name(name: &str) -> Result<UserName, OpError> {
    Ok(UserName::parse(name)?)
}

/// Reads a password from the first line of standard input (without its line ending).
fn read_password() -> Result<Secret, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|source| CliError::Io {
        context: "reading the password from standard input",
        source,
    })?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r']).to_string()))
}
