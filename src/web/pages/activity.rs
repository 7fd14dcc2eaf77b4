//! The "Recent activity" list of the profile and of the admin's user page: a person's audit
//! events, newest first, a page at a time (`?before=<id>` for older ones).

use super::super::i18n_audit::{ActivityTexts, activity_texts, event_phrase};
use super::super::i18n_time::{Lang, absolute};
use crate::store::{ActorKind, AuditEvent, Outcome};

/// Events one page of the list shows.
pub(super) const PAGE: usize = 20;

/// One line of the list, as the page shows it.
pub(super) struct ActivityRow {
    /// RFC 3339, for `<time datetime>`.
    pub at_iso: String,
    /// In the visitor's language.
    pub at: String,
    /// What happened, in the visitor's language.
    pub what: String,
    /// Whether it was refused.
    pub failed: bool,
    /// Who did it: the account, or davgate.
    pub by: String,
    /// The client's address and User-Agent, if a request did it.
    pub from: String,
}

/// The list on one page: its rows, its words and where older events are.
pub(super) struct Activity {
    pub rows: Vec<ActivityRow>,
    pub a: &'static ActivityTexts,
    /// The link to the next (older) page, when this one is full.
    pub older: Option<String>,
    /// Whether this is an older page (then a link back to the newest).
    pub paged: bool,
}

impl Activity {
    /// The list of `events` (one page) for a page at `path`, in `lang`.
    pub(super) fn of(lang: Lang, path: &str, events: Vec<AuditEvent>, paged: bool) -> Self {
        let a = activity_texts(lang);
        let older = match events.last() {
            Some(last) if events.len() >= PAGE => Some(format!("{path}?before={}", last.id)),
            _ => None,
        };
        let rows = events.iter().map(|e| row(lang, a, e)).collect();
        Activity { rows, a, older, paged }
    }
}

fn row(lang: Lang, a: &ActivityTexts, e: &AuditEvent) -> ActivityRow {
    let by = match (e.actor_kind, &e.actor) {
        (ActorKind::System, _) | (_, None) => a.system.to_string(),
        (_, Some(name)) => name.clone(),
    };
    let from = match (&e.address, &e.user_agent) {
        (Some(ip), Some(agent)) if !agent.is_empty() => format!("{ip} · {agent}"),
        (Some(ip), _) => ip.to_string(),
        (None, _) => String::new(),
    };
    // By id, as the lists name a password: its name is the owner's word and may be gone.
    let phrase = event_phrase(lang, e.kind);
    let what = match &e.app_password {
        Some(id) => format!("{phrase} · {id}"),
        None => phrase.to_string(),
    };
    ActivityRow {
        at_iso: e.at.to_rfc3339(),
        at: absolute(lang, &e.at),
        what,
        failed: e.outcome == Outcome::Failure,
        by,
        from,
    }
}

/// `?before=` as a page asks it: a malformed one is the newest page.
pub(super) fn before(text: Option<String>) -> Option<u64> {
    text.and_then(|t| t.parse().ok())
}
