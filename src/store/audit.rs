//! The audit log: what happened to whose credentials, by whom, from where. Append-only through
//! the product: the store offers appending (in batches, from [`super::audit_queue`]), reading
//! newest first and paged, and pruning what is older than `audit_retention`; no method edits
//! or deletes one event.
//!
//! On redb, `audit_events` maps a sequence number to the JSON event and
//! `audit_events_by_subject` indexes (subject user, sequence) so one user's page is read
//! without a scan; on PostgreSQL one table with an index per order does the same.

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use std::net::IpAddr;

use super::tables::{AUDIT_EVENTS, AUDIT_EVENTS_BY_SUBJECT};
use super::{Change, Result, Store, UserName, decode, encode};

/// Longest User-Agent an event keeps: enough to tell clients apart, bounded so one request
/// cannot grow the log.
pub const MAX_AUDIT_USER_AGENT: usize = 256;

/// Most events one page holds.
pub const MAX_AUDIT_PAGE: usize = 200;

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The account's owner, on their own account.
    User,
    /// An admin (on the pages, the API, the admin socket or the CLI).
    Admin,
    /// davgate itself (the throttle, a periodic task).
    System,
}

/// What happened. The wire and stored name is the snake_case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A web sign-in (the outcome says whether it worked; a failure's detail the reason class).
    SignIn,
    /// A second factor was enrolled by its owner.
    SecondFactorEnrolled,
    /// A second factor was turned off by its owner.
    SecondFactorRemoved,
    /// An admin removed an account's second factor.
    SecondFactorReset,
    /// An app password was made.
    AppPasswordCreated,
    /// An app password opened WebDAV for the first time.
    AppPasswordFirstUsed,
    /// An app password was revoked (the actor says by whom).
    AppPasswordRevoked,
    /// An app password was renamed.
    AppPasswordRenamed,
    /// An account was created.
    AccountCreated,
    /// An account was disabled.
    AccountDisabled,
    /// An account was enabled again.
    AccountEnabled,
    /// An account was removed.
    AccountRemoved,
    /// An admin set an account's primary password.
    PasswordReset,
    /// An account's quota changed.
    QuotaChanged,
    /// A server setting changed (old → new, secrets masked).
    SettingChanged,
    /// The sign-in throttle locked a (network, user) out.
    Lockout,
    /// An app password was used from a network it had not been used from (the detail names
    /// the network and the client).
    AppPasswordNewNetwork,
    /// An app password was used by another kind of client than at its first use (the detail
    /// names both).
    AppPasswordNewClient,
    /// An account's role changed (an SSO sign-in's groups promoted or demoted it).
    RoleChanged,
    /// An app password reached its expiry date.
    AppPasswordExpired,
    /// An app password will reach its expiry date within a week (told once, a week ahead).
    AppPasswordExpiring,
    /// An account was linked to an identity at a provider.
    IdentityLinked,
    /// An account's identity at a provider was unlinked.
    IdentityUnlinked,
    /// How an account signs in to the pages changed (password, sso, both).
    LoginMethodChanged,
    /// An identity provider was added or replaced.
    ProviderAdded,
    /// An identity provider was removed.
    ProviderRemoved,
}

impl EventKind {
    /// The stored and wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignIn => "sign_in",
            EventKind::SecondFactorEnrolled => "second_factor_enrolled",
            EventKind::SecondFactorRemoved => "second_factor_removed",
            EventKind::SecondFactorReset => "second_factor_reset",
            EventKind::AppPasswordCreated => "app_password_created",
            EventKind::AppPasswordFirstUsed => "app_password_first_used",
            EventKind::AppPasswordRevoked => "app_password_revoked",
            EventKind::AppPasswordRenamed => "app_password_renamed",
            EventKind::AccountCreated => "account_created",
            EventKind::AccountDisabled => "account_disabled",
            EventKind::AccountEnabled => "account_enabled",
            EventKind::AccountRemoved => "account_removed",
            EventKind::PasswordReset => "password_reset",
            EventKind::QuotaChanged => "quota_changed",
            EventKind::SettingChanged => "setting_changed",
            EventKind::Lockout => "lockout",
            EventKind::AppPasswordNewNetwork => "app_password_new_network",
            EventKind::AppPasswordNewClient => "app_password_new_client",
            EventKind::RoleChanged => "role_changed",
            EventKind::AppPasswordExpired => "app_password_expired",
            EventKind::AppPasswordExpiring => "app_password_expiring",
            EventKind::IdentityLinked => "identity_linked",
            EventKind::IdentityUnlinked => "identity_unlinked",
            EventKind::LoginMethodChanged => "login_method_changed",
            EventKind::ProviderAdded => "provider_added",
            EventKind::ProviderRemoved => "provider_removed",
        }
    }
}

/// Whether what was tried happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It did.
    Success,
    /// It was refused.
    Failure,
}

/// One event. `id` is the store's sequence number (0 until appended): newer events have larger
/// ids, and a page's last id is where the next page starts (`before`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// The store's sequence number.
    #[serde(default)]
    pub id: u64,
    /// When it happened (the server's clock).
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor_kind: ActorKind,
    /// Their account name; None for davgate itself or an unnamed admin (the CLI).
    pub actor: Option<String>,
    /// Whose account it concerns; None for server-wide events (settings).
    pub subject: Option<UserName>,
    /// The app password concerned, by id (never its secret).
    pub app_password: Option<String>,
    /// The client's address, where a request did it.
    pub address: Option<IpAddr>,
    /// The client's User-Agent, cut to [`MAX_AUDIT_USER_AGENT`] characters.
    pub user_agent: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// Whether it happened.
    pub outcome: Outcome,
    /// A few words more (a reason class, a setting's old and new value), never a secret.
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// A successful `kind` by `actor_kind`/`actor` at `at`, about nobody yet: fill in the rest.
    pub fn new(
        at: DateTime<Utc>,
        kind: EventKind,
        actor_kind: ActorKind,
        actor: Option<&str>,
    ) -> Self {
        Self {
            id: 0,
            at,
            actor_kind,
            actor: actor.map(str::to_string),
            subject: None,
            app_password: None,
            address: None,
            user_agent: None,
            kind,
            outcome: Outcome::Success,
            detail: serde_json::Value::Null,
        }
    }

    /// The same event about `subject`.
    pub fn about(self, subject: &UserName) -> Self {
        Self { subject: Some(subject.clone()), ..self }
    }

    /// The same event from a client at `address` with `user_agent` (control characters
    /// dropped, cut to [`MAX_AUDIT_USER_AGENT`]).
    pub fn from_client(self, address: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(MAX_AUDIT_USER_AGENT).collect());
        Self { address, user_agent, ..self }
    }
}

/// Which events a read answers: newest first, at most `limit`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuditQuery {
    /// Only events about this account.
    pub subject: Option<UserName>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events older than this id (the last id of the previous page).
    pub before: Option<u64>,
    /// At most this many (capped at [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self { subject: None, since: None, before: None, limit: 50 }
    }
}

impl Store {
    /// Appends `events` in one transaction, numbering them in order. Called by the audit
    /// queue's writer; everyone else calls [`Store::audit`].
    pub(super) async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditEvent>> {
        if events.is_empty() {
            return Ok(events);
        }
        if let Some(pg) = self.postgres() {
            return pg.append_audit(events).await;
        }
        self.write(Change::Harmless, move |txn| append(txn, events)).await
    }

    /// The events `query` asks for, newest first, after writing what this process still queues
    /// (so a change is in the log its own answer reads).
    pub async fn audit_events(&self, query: AuditQuery) -> Result<Vec<AuditEvent>> {
        self.audit_flush().await;
        let query = AuditQuery { limit: query.limit.clamp(1, MAX_AUDIT_PAGE), ..query };
        if let Some(pg) = self.postgres() {
            return pg.audit_events(&query).await;
        }
        self.read(move |txn| events(txn, &query)).await
    }

    /// Removes events older than `before` (the retention setting's cutoff), at most `max` at a
    /// time; answers how many went. The only deletion there is, and it takes the oldest first.
    pub async fn prune_audit(&self, before: DateTime<Utc>, max: usize) -> Result<u64> {
        if let Some(pg) = self.postgres() {
            return pg.prune_audit(before, max).await;
        }
        self.write(Change::Harmless, move |txn| prune(txn, before, max)).await
    }
}

/// Appends `events` in order; answers them with their ids.
fn append(txn: &WriteTransaction, mut events: Vec<AuditEvent>) -> Result<Vec<AuditEvent>> {
    let mut table = txn.open_table(AUDIT_EVENTS)?;
    let mut by_subject = txn.open_table(AUDIT_EVENTS_BY_SUBJECT)?;
    let first = table.last()?.map_or(1, |(k, _)| k.value() + 1);
    for (id, event) in (first..).zip(events.iter_mut()) {
        event.id = id;
        table.insert(id, encode(&*event)?.as_slice())?;
        if let Some(subject) = &event.subject {
            by_subject.insert((subject.as_str(), id), ())?;
        }
    }
    Ok(events)
}

fn events(txn: &ReadTransaction, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
    let table = txn.open_table(AUDIT_EVENTS)?;
    let index = txn.open_table(AUDIT_EVENTS_BY_SUBJECT)?;
    let before = query.before.unwrap_or(u64::MAX);
    let mut found = Vec::new();
    // Whether to read on: false once the page is full or the events are older than `since`.
    let mut take = |id: u64| -> Result<bool> {
        let Some(bytes) = table.get(id)? else { return Ok(true) };
        let event: AuditEvent = decode(bytes.value())?;
        if query.since.is_some_and(|since| event.at < since) {
            return Ok(false);
        }
        found.push(event);
        Ok(found.len() < query.limit)
    };
    match &query.subject {
        None => {
            for entry in table.range(..before)?.rev() {
                if !take(entry?.0.value())? {
                    break;
                }
            }
        }
        Some(subject) => {
            let who = subject.as_str();
            for entry in index.range((who, 0)..(who, before))?.rev() {
                if !take(entry?.0.value().1)? {
                    break;
                }
            }
        }
    }
    Ok(found)
}

fn prune(txn: &WriteTransaction, before: DateTime<Utc>, max: usize) -> Result<u64> {
    let mut table = txn.open_table(AUDIT_EVENTS)?;
    let mut old = Vec::new();
    for entry in table.iter()? {
        let (id, bytes) = entry?;
        let event: AuditEvent = decode(bytes.value())?;
        if event.at >= before || old.len() >= max {
            break;
        }
        old.push((id.value(), event.subject));
    }
    let mut by_subject = txn.open_table(AUDIT_EVENTS_BY_SUBJECT)?;
    for (id, subject) in &old {
        table.remove(id)?;
        if let Some(subject) = subject {
            by_subject.remove((subject.as_str(), *id))?;
        }
    }
    Ok(old.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{TestStore, conformance};
    use chrono::TimeDelta;

    fn event(at: DateTime<Utc>, kind: EventKind, subject: Option<&str>) -> AuditEvent {
        let event = AuditEvent::new(at, kind, ActorKind::Admin, None);
        match subject {
            Some(s) => event.about(&UserName::parse(s).unwrap()),
            None => event,
        }
    }

    /// Events read back newest first, a page at a time, everyone's or one account's, and
    /// through the queue as directly.
    async fn events_page_newest_first_per_user_and_globally(t: TestStore) {
        let store = t.store.clone();
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut batch = Vec::new();
        for i in 0..25 {
            let who = if i % 2 == 0 { "alice" } else { "bob" };
            batch.push(event(start + TimeDelta::seconds(i), EventKind::SignIn, Some(who)));
        }
        batch.push(event(start + TimeDelta::seconds(30), EventKind::SettingChanged, None));
        store.append_audit(batch).await.unwrap();
        let long_agent = "x".repeat(1000);
        store.audit(
            event(start + TimeDelta::seconds(40), EventKind::Lockout, Some("alice"))
                .from_client(Some([127, 0, 0, 2].into()), Some(&long_agent)),
        );

        let all = store.audit_events(AuditQuery { limit: 200, ..AuditQuery::default() }).await;
        let all = all.unwrap();
        assert_eq!(all.len(), 27);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id && w[0].at >= w[1].at));
        assert_eq!(all[0].kind, EventKind::Lockout, "the queued one is read back");
        assert_eq!(all[0].user_agent.as_ref().map(String::len), Some(MAX_AUDIT_USER_AGENT));

        let alice = Some(UserName::parse("alice").unwrap());
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let query = AuditQuery { subject: alice.clone(), since: None, before, limit: 5 };
            let page = store.audit_events(query).await.unwrap();
            if page.is_empty() {
                break;
            }
            before = page.last().map(|e| e.id);
            pages.extend(page);
        }
        assert_eq!(pages.len(), 14, "13 sign-ins and the lockout");
        assert!(pages.iter().all(|e| e.subject == alice));
        assert!(pages.windows(2).all(|w| w[0].id > w[1].id));

        let since = Some(start + TimeDelta::seconds(20));
        let recent = AuditQuery { subject: alice.clone(), since, before: None, limit: 50 };
        let recent = store.audit_events(recent).await.unwrap();
        assert_eq!(recent.len(), 4, "sign-ins at 20, 22, 24 and the lockout: {recent:#?}");
    }
    conformance!(events_page_newest_first_per_user_and_globally);

    /// The prune removes the oldest events, before the cutoff only, in bounded steps.
    async fn prune_takes_only_what_is_older_than_the_cutoff(t: TestStore) {
        let store = t.store.clone();
        // Whole seconds: PostgreSQL keeps microseconds.
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let batch = (0..10)
            .map(|i| event(start + TimeDelta::days(i), EventKind::AccountCreated, Some("carol")))
            .collect();
        store.append_audit(batch).await.unwrap();
        let cutoff = start + TimeDelta::days(6);
        assert_eq!(store.prune_audit(cutoff, 4).await.unwrap(), 4);
        assert_eq!(store.prune_audit(cutoff, 4).await.unwrap(), 2);
        assert_eq!(store.prune_audit(cutoff, 4).await.unwrap(), 0);
        let carol = Some(UserName::parse("carol").unwrap());
        let left = AuditQuery { subject: carol, limit: 50, ..AuditQuery::default() };
        let left = store.audit_events(left).await.unwrap();
        assert_eq!(left.len(), 4);
        assert!(left.iter().all(|e| e.at >= cutoff));
    }
    conformance!(prune_takes_only_what_is_older_than_the_cutoff);

    /// A subscriber is told each event once it is written, in order, and only those.
    async fn subscribers_hear_each_written_event_in_order(t: TestStore) {
        let store = t.store.clone();
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        store.audit(event(start, EventKind::AccountCreated, Some("dave")));
        store.audit_flush().await;
        let mut heard = store.subscribe_audit();
        for i in 1..=3 {
            store.audit(event(start + TimeDelta::seconds(i), EventKind::SignIn, Some("dave")));
        }
        store.audit_flush().await;
        let mut ids = Vec::new();
        for i in 1..=3 {
            let got = heard.try_recv().expect("written events are told before the flush ends");
            assert_eq!((got.kind, got.at), (EventKind::SignIn, start + TimeDelta::seconds(i)));
            ids.push(got.id);
        }
        let read = store.audit_events(AuditQuery { limit: 3, ..AuditQuery::default() }).await;
        let mut read: Vec<u64> = read.unwrap().iter().map(|e| e.id).collect();
        read.reverse();
        assert_eq!(ids, read, "told with the ids the log gave them");
        assert!(heard.try_recv().is_err(), "the event before the subscription is not told");
    }
    conformance!(subscribers_hear_each_written_event_in_order);
}
