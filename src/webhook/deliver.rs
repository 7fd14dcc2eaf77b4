//! Delivering one event: POST the JSON with its timestamp and signature; a 2xx is done, a 4xx
//! is the receiver's final word (not retried, except 408 and 429, which ask to come back
//! later), a 5xx, a timeout or a refused connection is retried after 1 s, 2 s, 4 s… (at most
//! [`MAX_BACKOFF`] apart, [`ATTEMPTS`] tries in all). Redirects are not followed. Failures are
//! logged with the receiver's host only: a chat webhook's path is often its credential.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

use super::{Counters, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use crate::clock::Clock;
use crate::store::{AuditEvent, Store};

/// Tries per event, the first included.
pub const ATTEMPTS: u32 = 8;
/// The wait before the first retry; each next one doubles.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one POST may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one try came to.
enum Tried {
    /// Accepted, or turned off meanwhile: nothing more to do.
    Done,
    /// Refused for good.
    Refused(reqwest::StatusCode),
    /// Worth another try.
    Again(String),
}

/// Delivers the queued events one after the other, in order, until the queue closes.
pub(super) async fn run(
    store: Store,
    clock: Clock,
    mut queue: mpsc::Receiver<Arc<AuditEvent>>,
    counters: Arc<Counters>,
) {
    let http = match client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("webhook: no HTTP client, webhooks are off: {e}");
            return;
        }
    };
    while let Some(event) = queue.recv().await {
        deliver(&store, &clock, &http, &event, &counters).await;
    }
}

fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(concat!("davgate-webhook/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One event, with its retries.
async fn deliver(
    store: &Store,
    clock: &Clock,
    http: &reqwest::Client,
    event: &AuditEvent,
    counters: &Counters,
) {
    let body = match serde_json::to_vec(event) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!("webhook: cannot encode a {} event: {e}", event.kind.as_str());
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match try_once(store, clock, http, &body).await {
            Tried::Done => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Tried::Refused(status) => {
                tracing::warn!(
                    "webhook: the receiver refused a {} event ({status}); not retried",
                    event.kind.as_str()
                );
                counters.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Tried::Again(why) => last = why,
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    tracing::warn!(
        "webhook: gave up on a {} event after {ATTEMPTS} tries: {last}",
        event.kind.as_str()
    );
    counters.failed.fetch_add(1, Ordering::Relaxed);
}

/// One POST, with the settings in force now (a changed URL or secret applies to the next try).
async fn try_once(store: &Store, clock: &Clock, http: &reqwest::Client, body: &[u8]) -> Tried {
    let settings = store.settings();
    let (Some(url), Some(secret)) = (&settings.webhook_url, &settings.webhook_secret) else {
        return Tried::Done; // Turned off meanwhile: the event is not owed to anyone.
    };
    let timestamp = clock.unix_seconds();
    let signed = signature(secret.expose().as_bytes(), timestamp, body);
    let host = url.url().host_str().unwrap_or("-").to_string();
    let sent = http
        .post(url.url().clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signed)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let status = answer.status();
            if status.is_success() {
                Tried::Done
            } else if status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                tracing::warn!("webhook: {host} answered {status}; will retry");
                Tried::Again(format!("{host} answered {status}"))
            } else {
                Tried::Refused(status)
            }
        }
        Err(e) => {
            // Without the URL: reqwest's error text names it, path included.
            let why = if e.is_timeout() { "timed out" } else { "could not be reached" };
            tracing::warn!("webhook: {host} {why}; will retry");
            Tried::Again(format!("{host} {why}"))
        }
    }
}
