//! `davgate store copy`: moving an embedded store into PostgreSQL.

use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

use super::CliError;

/// Commands on the store as a whole.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy an embedded store (users, app passwords with their hashes, TOTP, settings, dead
    /// properties) into an empty PostgreSQL store, in one transaction. Stop the server that
    /// uses the file first; a target that has any user or app password is refused.
    Copy {
        /// The embedded store: redb:PATH, PATH being the store file or the data directory
        /// holding it.
        #[arg(long, value_name = "redb:PATH")]
        from: String,
        /// The PostgreSQL store: postgres://user@host:port/db (its schema is created as a
        /// server's first start does).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Why `--from` was refused.
#[derive(Debug, thiserror::Error)]
#[error("--from: '{0}' is not redb:PATH (the store file or the data directory holding it)")]
pub struct NotRedb(String);

/// Runs a store command, printing a progress line per batch on standard error and the counts
/// on standard output.
pub async fn run(cmd: StoreCommand) -> Result<(), CliError> {
    let StoreCommand::Copy { from, to } = cmd;
    let source = match from.strip_prefix("redb:") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => return Err(NotRedb(davgate_escaped(&from)).into()),
    };
    let target = davgate::StoreLocation::parse(Some(&to), &source)?;
    let mut report = |p: davgate::CopyProgress| {
        let _ = writeln!(std::io::stderr(), "copying {}: {}/{}", p.table, p.done, p.total);
    };
    let counts = davgate::copy_store(&source, &target, &mut report).await?;
    println!(
        "copied {} users, {} app passwords, {} settings, {} dead properties, {} identity \
         providers, {} refresh tokens, {} audit events",
        counts.users,
        counts.app_passwords,
        counts.settings,
        counts.dead_props,
        counts.providers,
        counts.refresh_tokens,
        counts.audit_events
    );
    Ok(())
}

/// `value` with control characters shown escaped, so that the refusal cannot act on the
/// terminal it is printed to.
fn davgate_escaped(value: &str) -> String {
    value.escape_debug().to_string()
}
