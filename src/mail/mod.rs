//! Security e-mails: the audit events this node writes ([`Store::subscribe_audit`]) become
//! messages to the account's owner — an app password created, used for the first time, used
//! from a new network, used by a different kind of client, revoked by an admin — in their
//! language, naming the password and never holding a secret.
//!
//! Nothing here is on a request's path: the dispatcher reads the broadcast after the events are
//! written, and the messages wait in a bounded queue ([`queue`]) for the one sender task, which
//! retries with backoff. Off while `smtp_url` or `smtp_from` is empty.

mod messages;
mod queue;
mod transport;
pub(crate) mod url;

pub use messages::MailKind;
pub use queue::MailStats;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc};

use crate::clock::Clock;
use crate::store::{AppPasswordId, AuditEvent, Store};

/// The running e-mail tasks, as the server keeps them: for `davgate status`.
#[derive(Clone)]
pub struct Mailer {
    store: Store,
    counters: Arc<queue::Counters>,
}

impl Mailer {
    /// Subscribes to the audit events and starts the sender. Needs a tokio runtime.
    pub fn start(store: Store, clock: Clock) -> Self {
        let counters = Arc::new(queue::Counters::default());
        let (tx, rx) = mpsc::channel(queue::CAPACITY);
        tokio::spawn(queue::run(store.clone(), clock.clone(), rx, Arc::clone(&counters)));
        let events = store.subscribe_audit();
        tokio::spawn(dispatch(store.clone(), clock, events, tx, Arc::clone(&counters)));
        Self { store, counters }
    }

    /// The counters, and whether e-mail is configured.
    pub fn stats(&self) -> MailStats {
        self.counters.stats(queue::relay(&self.store).is_some())
    }
}

/// Turns each written event into at most one queued message.
async fn dispatch(
    store: Store,
    clock: Clock,
    mut events: broadcast::Receiver<Arc<AuditEvent>>,
    tx: mpsc::Sender<queue::Outgoing>,
    counters: Arc<queue::Counters>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if let Some(outgoing) = outgoing(&store, &clock, &event).await {
                    if tx.try_send(outgoing).is_ok() {
                        counters.queued.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("security e-mail dropped: the queue is full");
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                counters.dropped.fetch_add(missed, Ordering::Relaxed);
                tracing::warn!("{missed} audit events missed by the e-mails (too many at once)");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The message `event` calls for, if e-mail is on, it is one that is mailed, its subject has an
/// address, and (for an informational one) has not turned them off.
async fn outgoing(store: &Store, clock: &Clock, event: &AuditEvent) -> Option<queue::Outgoing> {
    queue::relay(store)?;
    let kind = MailKind::of(event)?;
    let user = match store.user(event.subject.as_ref()?).await {
        Ok(user) => user?,
        Err(e) => {
            tracing::warn!("security e-mail not sent: cannot read the account: {e}");
            return None;
        }
    };
    if kind.informational() && !user.mail.informational {
        return None;
    }
    let to = user.mail_to()?;
    let name = password_name(store, event).await;
    let message = messages::compose(kind, user.mail.lang, &name, event);
    Some(queue::Outgoing::new(to, message, clock.now()))
}

/// The name its owner gave the event's app password (its id if it cannot be read).
async fn password_name(store: &Store, event: &AuditEvent) -> String {
    if let Some(name) = event.detail.get("name").and_then(|n| n.as_str()) {
        return name.to_string();
    }
    let Some(id) = event.app_password.as_deref() else { return String::new() };
    let record = match AppPasswordId::parse(id) {
        Ok(id) => store.login_record(&id).await.ok().flatten(),
        Err(_) => None,
    };
    record.map_or_else(|| id.to_string(), |r| r.password.name)
}
