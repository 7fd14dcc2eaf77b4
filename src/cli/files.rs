//! `davgate files …`: work on the files themselves, wherever they are kept (`files copy`
//! moves a local files root into a bucket, `files gc` collects the bucket's garbage now).

use clap::{Args, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::output::print;
use super::{CliError, Target};
use davgate::{ImportProgress, ObjectsLocation, ProcessEnvironment};

/// Commands on the users' files.
#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Copy a local files root (one folder per account, as `serve --files DIR` keeps it) into
    /// a bucket, so that `serve --files s3://…` serves the same files with the same
    /// modification times; dead properties and locks are in the store already and stay.
    ///
    /// Needs --store postgres://… (the same store the server uses): the names and folders go
    /// there, the contents into the bucket. The keys come from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE), as for `serve`.
    ///
    /// Run it again at any time: files already in the bucket with the same size and time are
    /// skipped, changed ones are uploaded again, and the blobs of a run that was killed
    /// half-way are removed first. Nothing in the bucket is ever deleted by it. It refuses,
    /// before writing anything, a file the bucket holds in another version that a server on
    /// the bucket wrote (stop that server's users, or move the file aside, first).
    #[command(after_help = COPY_EXAMPLE)]
    Copy(CopyArgs),
    /// Collect the bucket's garbage now, on the running server, and print what went.
    ///
    /// Removes the blobs nothing points at any more (replaced or deleted contents past their
    /// 15-minute grace period, uploads that never finished) and aborts the multipart uploads a
    /// killed node left open. The server does this by itself every minute, one node of a
    /// cluster at a time.
    Gc {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

const COPY_EXAMPLE: &str = "Example (a server stopped, or serving the local root meanwhile):
  davgate --store postgres://davgate@db/davgate files copy --from /srv/davgate/files \\
      --to 's3://files/davgate?endpoint=https://s3.eu-west-1.amazonaws.com&region=eu-west-1'
then: davgate serve --store postgres://… --files 's3://files/davgate?endpoint=…&region=…'";

/// `files copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The local files root: one folder per account (default root of a server: <data>/files).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The bucket: s3://BUCKET[/PREFIX]?endpoint=URL&region=R, as `serve --files` takes it.
    #[arg(long, value_name = "s3://…")]
    to: String,
}

/// Runs a files command.
pub(super) async fn run(data: &Target, cmd: FilesCommand) -> Result<(), CliError> {
    let args = match cmd {
        FilesCommand::Copy(args) => args,
        FilesCommand::Gc { json } => return super::files_gc::run(data, json).await,
    };
    let location = ObjectsLocation::parse(&args.to, &ProcessEnvironment)
        .map_err(|e| CliError::Server(e.into()))?;
    let progress = Arc::new(ImportProgress::default());
    let ticker = tokio::spawn(show_progress(Arc::clone(&progress)));
    let done = davgate::import_files(&args.from, &data.store, &location, &progress).await;
    ticker.abort();
    let _ = ticker.await;
    let summary = done?;
    line(&progress, true);
    let mut text = format!(
        "copied {} files ({}) into {}, {} already there ({}), {} folders created; homes: {}\n",
        summary.copied.0,
        size(summary.copied.1),
        location.display(),
        summary.skipped.0,
        size(summary.skipped.1),
        summary.folders,
        summary.users,
    );
    if summary.leftovers > 0 {
        text += &format!("removed {} blobs a stopped run had left\n", summary.leftovers);
    }
    for name in &summary.not_homes {
        text += &format!("skipped {name}/: no account of that name\n");
    }
    print(&text);
    Ok(())
}

/// Redraws the progress line four times a second while the copy runs.
async fn show_progress(progress: Arc<ImportProgress>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = (u64::MAX, u64::MAX);
    loop {
        tick.tick().await;
        let now = (
            progress.files_done.load(Ordering::Relaxed),
            progress.bytes_done.load(Ordering::Relaxed),
        );
        if now != last && progress.files_total.load(Ordering::Relaxed) > 0 {
            line(&progress, false);
            last = now;
        }
    }
}

/// One progress line on standard error: redrawn in place on a terminal, a new line otherwise
/// (`last` ends it).
fn line(progress: &ImportProgress, last: bool) {
    let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    let text = format!(
        "files {}/{}, {} of {}",
        get(&progress.files_done),
        get(&progress.files_total),
        size(get(&progress.bytes_done)),
        size(get(&progress.bytes_total)),
    );
    let mut err = std::io::stderr();
    let _ = if err.is_terminal() {
        write!(err, "\r\x1b[K{text}{}", if last { "\n" } else { "" })
    } else {
        writeln!(err, "{text}")
    };
}

/// Bytes for a person: `512 B`, `3.4 MiB`, `1.2 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"TiB"))
}
