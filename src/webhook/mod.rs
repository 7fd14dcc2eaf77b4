//! Signed webhooks: every audit event this node writes, POSTed as JSON to the admin's
//! `webhook_url`, signed with `webhook_secret` ([`sign`] documents the scheme for receivers),
//! for SIEMs and chat alerts.
//!
//! A listener task hears the written events ([`crate::store::Store::subscribe_audit`]) and puts
//! them in a bounded queue; one sender task delivers them in order ([`deliver`]), retrying a
//! 5xx or a timeout with exponential backoff a bounded number of times. Nothing here is on a
//! request's path: a receiver that is slow or down fills the queue, then events are dropped
//! and counted (`davgate status`), and requests go on as before. Both tasks end with the
//! server (they are aborted when the last [`Webhook`] handle goes).

pub mod deliver;
pub mod sign;
pub mod target;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{broadcast, mpsc};

use crate::clock::Clock;
use crate::store::{AuditEvent, Settings, Store};
pub use sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify};
pub use target::{TargetError, WebhookUrl};

/// Events waiting for delivery at most; beyond, new ones are dropped (and counted).
const QUEUE: usize = 1024;

/// The webhook's counters since start, for `davgate status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookStats {
    /// Events the receiver accepted (a 2xx).
    pub sent: u64,
    /// Events given up on: refused (a 4xx), or still failing after the last retry.
    pub failed: u64,
    /// Events never sent because the queue was full (the receiver is slow or down).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn drop_some(&self, n: u64) {
        let before = self.dropped.fetch_add(n, Ordering::Relaxed);
        // The first drop, then one line per thousand.
        if before == 0 || (before + n) / 1000 > before / 1000 {
            tracing::warn!(
                "webhook: {} events dropped since start (the queue is full)",
                before + n
            );
        }
    }
}

/// The running webhook of a server: a handle on its counters. Dropping the last one stops it.
#[derive(Debug, Clone)]
pub struct Webhook {
    counters: Arc<Counters>,
    _tasks: Arc<Tasks>,
}

/// The two tasks, aborted when the webhook goes (they hold the store).
#[derive(Debug)]
struct Tasks([tokio::task::AbortHandle; 2]);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Webhook {
    /// Starts listening to `store`'s audit events; `clock` dates the signatures. Events are
    /// only queued while both `webhook_url` and `webhook_secret` are set.
    pub fn start(store: &Store, clock: Clock) -> Self {
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let heard = store.subscribe_audit();
        let listen = tokio::spawn(listen(store.clone(), heard, tx, Arc::clone(&counters)));
        let send = tokio::spawn(deliver::run(store.clone(), clock, rx, Arc::clone(&counters)));
        let tasks = Tasks([listen.abort_handle(), send.abort_handle()]);
        Self { counters, _tasks: Arc::new(tasks) }
    }

    /// The counters since start.
    pub fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        WebhookStats {
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Whether the settings ask for webhooks (a URL and a secret: nothing is sent unsigned).
pub(crate) fn configured(settings: &Settings) -> bool {
    settings.webhook_url.is_some() && settings.webhook_secret.is_some()
}

/// Moves each written event into the delivery queue, or counts it dropped.
async fn listen(
    store: Store,
    mut heard: broadcast::Receiver<Arc<AuditEvent>>,
    queue: mpsc::Sender<Arc<AuditEvent>>,
    counters: Arc<Counters>,
) {
    loop {
        match heard.recv().await {
            Ok(event) => {
                if configured(&store.settings()) && queue.try_send(event).is_err() {
                    counters.drop_some(1);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                if configured(&store.settings()) {
                    counters.drop_some(n);
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
