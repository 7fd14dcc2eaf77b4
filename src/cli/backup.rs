//! `davgate backup` and `davgate restore`: a consistent copy of the embedded store, and putting
//! one back on a stopped server.

use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::output::print;
use super::{CliError, Target};
use davgate::{BackupError, Client, HumanSize, OpError, RestoreError, StoreLocation};

/// `davgate backup FILE`.
#[derive(Debug, Args)]
pub(super) struct BackupArgs {
    /// Where to write the backup (a new file, mode 0600: it holds the password hashes). With a
    /// server running, the server writes it: its user must be able to write that folder.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Replace FILE if it exists (by the whole new backup, never by part of one).
    #[arg(long)]
    force: bool,
}

/// `davgate restore FILE`.
#[derive(Debug, Args)]
pub(super) struct RestoreArgs {
    /// A file written by `davgate backup`.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Writes the backup: through the running server's admin socket, or on the store itself.
pub(super) async fn backup(data: &Target, args: BackupArgs) -> Result<(), CliError> {
    let StoreLocation::Redb(store) = &data.store else {
        return Err(OpError::from(BackupError::Postgres).into());
    };
    // A running server has its store file; without one, a missing file is a missing store (and
    // connecting would create an empty one).
    if !store.exists() {
        return Err(OpError::from(BackupError::NoStore(store.clone())).into());
    }
    progress(&format_args!("backing up {} to {}", store.display(), args.file.display()));
    let summary = data.client().await?.backup(&args.file, args.force).await?;
    print(&format!(
        "wrote {}: {} users, {} app passwords, {} dead properties ({})\n",
        summary.file.display(),
        summary.users,
        summary.app_passwords,
        summary.dead_props,
        HumanSize(summary.bytes)
    ));
    Ok(())
}

/// Puts the backup back as the data directory's store, refused while a server runs.
pub(super) async fn restore(data: &Target, args: RestoreArgs) -> Result<(), CliError> {
    if data.store.is_shared() {
        return Err(RestoreError::Postgres.into());
    }
    if Client::running(&data.dir).await.is_ok() {
        return Err(RestoreError::ServerRunning(data.dir.clone()).into());
    }
    progress(&format_args!("checking {}", args.file.display()));
    let (file, dir) = (args.file.clone(), data.dir.clone());
    let summary =
        tokio::task::spawn_blocking(move || davgate::restore(&file, &dir, chrono::Utc::now()))
            .await
            .map_err(|e| OpError::Internal(format!("the restore stopped: {e}")))??;
    let mut text = format!(
        "restored {} users, {} app passwords from {} into {}\n",
        summary.users,
        summary.app_passwords,
        args.file.display(),
        data.dir.display()
    );
    if let Some(kept) = &summary.kept {
        text += &format!("the replaced store is kept as {}\n", kept.display());
    }
    print(&text);
    Ok(())
}

/// A progress line on standard error, for a person watching: not when a script reads it, whose
/// refusals stay one line.
fn progress(line: &dyn std::fmt::Display) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = writeln!(err, "{line}");
    }
}
