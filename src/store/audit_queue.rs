//! The audit log's writer: events go into a bounded queue and one task writes what arrived
//! together in one transaction, as last-used times are, so recording an event never waits for
//! the store. A full queue drops the event and counts it (with a warning) rather than making
//! the request wait.
//!
//! The writer starts with the first event, on the runtime that sends it, and holds the store
//! only weakly: it ends when the last handle on the store is dropped.
//!
//! Once a batch is written, its events are also broadcast to whoever subscribed on this node
//! ([`Store::subscribe_audit`]: the security e-mails, the webhooks). Each node broadcasts the
//! events it recorded itself, so in a cluster an event is told once. A subscriber that falls
//! behind by more than [`SUBSCRIBER_CAPACITY`] events loses the oldest (and is told how many);
//! it can never slow the writer down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::audit::AuditEvent;
use super::{Backend, Store};

/// Events the queue holds at most before it drops.
const CAPACITY: usize = 4096;
/// Events written in one transaction at most.
const BATCH: usize = 256;
/// Written events a subscriber may lag behind before it loses the oldest.
const SUBSCRIBER_CAPACITY: usize = 1024;

/// What the writer is sent.
enum Message {
    /// An event to append.
    Event(Box<AuditEvent>),
    /// Answered once everything sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// The queue in front of the writer, one per store (shared by its clones).
pub(super) struct AuditQueue {
    sender: OnceLock<mpsc::Sender<Message>>,
    dropped: AtomicU64,
    /// Written events, for this node's subscribers.
    written: broadcast::Sender<Arc<AuditEvent>>,
}

impl Default for AuditQueue {
    fn default() -> Self {
        AuditQueue {
            sender: OnceLock::new(),
            dropped: AtomicU64::new(0),
            written: broadcast::Sender::new(SUBSCRIBER_CAPACITY),
        }
    }
}

/// The store's backend without keeping it open.
enum WeakBackend {
    Redb(Weak<super::Redb>),
    Postgres(Weak<super::pg::Pg>),
}

impl WeakBackend {
    fn of(backend: &Backend) -> Self {
        match backend {
            Backend::Redb(r) => WeakBackend::Redb(Arc::downgrade(r)),
            Backend::Postgres(p) => WeakBackend::Postgres(Arc::downgrade(p)),
        }
    }

    /// A store handle for one batch (its own queue stays idle), if the store is still open.
    fn upgrade(&self) -> Option<Store> {
        let backend = match self {
            WeakBackend::Redb(r) => Backend::Redb(r.upgrade()?),
            WeakBackend::Postgres(p) => Backend::Postgres(p.upgrade()?),
        };
        Some(Store { backend, audit: Arc::default() })
    }
}

impl Store {
    /// Records `event` in the audit log without waiting: queued for the writer, or dropped and
    /// counted ([`Store::audit_dropped`]) when the queue is full or there is no runtime.
    pub fn audit(&self, event: AuditEvent) {
        let queue = &self.audit;
        let sender = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => queue.sender.get_or_init(|| {
                let (tx, rx) = mpsc::channel(CAPACITY);
                runtime.spawn(write(WeakBackend::of(&self.backend), queue.written.clone(), rx));
                tx
            }),
            Err(_) => match queue.sender.get() {
                Some(sender) => sender,
                None => return queue.drop_one("no runtime"),
            },
        };
        if sender.try_send(Message::Event(Box::new(event))).is_err() {
            queue.drop_one("the queue is full");
        }
    }

    /// Waits until every event queued so far is written (a read of the log, the CLI before it
    /// exits, a server stopping).
    pub async fn audit_flush(&self) {
        let Some(sender) = self.audit.sender.get() else { return };
        let (tx, rx) = oneshot::channel();
        if sender.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Every event this node writes from now on, once it is in the log, with its id.
    /// A receiver that lags more than `SUBSCRIBER_CAPACITY` (1,024) events behind gets
    /// `RecvError::Lagged(n)` and continues with the newest.
    pub fn subscribe_audit(&self) -> broadcast::Receiver<Arc<AuditEvent>> {
        self.audit.written.subscribe()
    }

    /// Audit events dropped since start (the queue was full): shown in `davgate status`.
    pub fn audit_dropped(&self) -> u64 {
        self.audit.dropped.load(Ordering::Relaxed)
    }
}

impl AuditQueue {
    fn drop_one(&self, why: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The first, then one line per thousand: a flood must not flood the log too.
        if dropped == 1 || dropped.is_multiple_of(1000) {
            tracing::warn!("audit event dropped ({why}); {dropped} dropped since start");
        }
    }
}

/// Owns every audit write: appends what arrived together, tells the subscribers, then answers
/// the flushes among it (so a flush also means the subscribers have been sent what preceded it).
async fn write(
    store: WeakBackend,
    written: broadcast::Sender<Arc<AuditEvent>>,
    mut rx: mpsc::Receiver<Message>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Event(event) => events.push(*event),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !events.is_empty() {
            let Some(store) = store.upgrade() else { return };
            let count = events.len();
            match store.append_audit(events).await {
                Ok(events) if written.receiver_count() > 0 => {
                    for event in events {
                        // No receiver left is fine: nobody is listening any more.
                        let _ = written.send(Arc::new(event));
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!("cannot write {count} audit events: {e}"),
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
