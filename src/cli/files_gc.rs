//! `davgate files gc`: runs the running server's garbage collector of files on object storage
//! once, now, and prints what it removed (through the admin socket: only the server holds the
//! bucket's keys).

use super::output::{print, to_json};
use super::{CliError, Target};
use davgate::Collected;

/// Runs `files gc`.
pub(super) async fn run(data: &Target, json: bool) -> Result<(), CliError> {
    let done = davgate::Client::running(&data.dir).await?.collect_garbage().await?;
    print(&if json { to_json(&done)? } else { summary(&done) });
    Ok(())
}

/// What a person reads: the counts, then each removed key on a line of its own.
fn summary(done: &Collected) -> String {
    if !done.ran {
        return "another node is collecting right now: nothing done here\n".to_string();
    }
    let mut text = format!(
        "removed {} blob(s); {} upload(s) left pending by a stopped node taken; {} multipart \
         upload(s) aborted; {} left for the next pass\n",
        done.removed.len(),
        done.abandoned_uploads,
        done.aborted_multipart_uploads,
        done.left
    );
    for key in &done.removed {
        text += &format!("  {key}\n");
    }
    text
}
