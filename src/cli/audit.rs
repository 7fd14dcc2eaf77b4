//! `davgate audit`: the audit log, newest first, through the running server or on the store.

use clap::Args;

use super::output::{human_time, print, to_json};
use super::{CliError, Target};
use davgate::{AuditEvent, AuditQuery, HumanDuration};

/// What `davgate audit` shows.
#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    /// Only events about this account.
    #[arg(long)]
    user: Option<String>,
    /// Only events this recent (`7d`, `12h`, `30m`).
    #[arg(long)]
    since: Option<HumanDuration>,
    /// At most this many events (1 to 200).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `davgate audit`.
pub(super) async fn run(data: &Target, args: AuditArgs) -> Result<(), CliError> {
    let subject = match args.user.as_deref() {
        Some(name) => Some(super::user_name(name)?),
        None => None,
    };
    let since = args.since.map(|d| chrono::Utc::now() - d.as_chrono());
    let query = AuditQuery { subject, since, before: None, limit: args.limit };
    let events = data.client().await?.audit_events(query).await?;
    if args.json {
        print(&to_json(&events)?);
    } else {
        print(&events.iter().map(line).collect::<String>());
    }
    Ok(())
}

/// One event as a line: time, outcome, kind, whose, by whom, from where.
fn line(e: &AuditEvent) -> String {
    let outcome = if e.outcome == davgate::Outcome::Success { "ok" } else { "FAILED" };
    let subject = e.subject.as_ref().map_or("-", |s| s.as_str());
    let actor = e.actor.as_deref().unwrap_or("-");
    let mut text = format!(
        "{}  {:<6} {:<24} user={subject} by={actor} ({:?})",
        human_time(e.at),
        outcome,
        e.kind.as_str(),
        e.actor_kind
    );
    if let Some(id) = &e.app_password {
        text += &format!(" app-password={id}");
    }
    if let Some(address) = e.address {
        text += &format!(" from={address}");
    }
    if !e.detail.is_null() {
        text += &format!(" {}", e.detail);
    }
    // Every value comes from the store; a stored name never forges a second line.
    text.replace(['\n', '\r'], " ") + "\n"
}
