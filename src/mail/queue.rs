//! The bounded queue of messages to send, and its one sender task: a message that fails is
//! tried again with exponential backoff (30 s, doubling, at most an hour apart) up to
//! [`MAX_ATTEMPTS`] times and for at most [`MAX_AGE_HOURS`], then given up and counted. Time is
//! the server's [`Clock`]: the task looks once a second whether a retry is due, so a test moves
//! a manual clock instead of waiting.

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

use super::messages::Message;
use super::transport::{self, Relay};
use crate::clock::Clock;
use crate::store::{EmailAddress, Store};

/// Messages waiting for their first attempt, at most.
pub const CAPACITY: usize = 256;
/// Messages waiting for a retry, at most (beyond: the oldest is given up).
const RETRYING: usize = 1024;
/// Attempts per message, at most.
pub const MAX_ATTEMPTS: u32 = 8;
/// A message older than this is given up.
pub const MAX_AGE_HOURS: i64 = 24;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 30;
/// The longest delay between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

/// One message on its way.
#[derive(Debug)]
pub struct Outgoing {
    /// The recipient.
    pub to: EmailAddress,
    /// What it says.
    pub message: Message,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    attempts: u32,
    due: DateTime<Utc>,
}

impl Outgoing {
    /// A message to send now.
    pub fn new(to: EmailAddress, message: Message, now: DateTime<Utc>) -> Self {
        Self { to, message, queued_at: now, attempts: 0, due: now }
    }
}

/// The counters `davgate status` shows.
#[derive(Debug, Default)]
pub struct Counters {
    pub(super) queued: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) last_error: Mutex<Option<&'static str>>,
}

/// The counters as `davgate status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailStats {
    /// Whether `smtp_url` and `smtp_from` are set (no e-mails otherwise).
    pub enabled: bool,
    /// Messages queued since start.
    pub queued: u64,
    /// Messages the SMTP server accepted.
    pub sent: u64,
    /// Messages given up after their retries (or refused for good).
    pub failed: u64,
    /// Messages not queued because the queue was full (or events missed by a lagging reader).
    pub dropped: u64,
    /// The class of the last failure (`connection`, `timeout`, `tls`, `rejected`, …).
    pub last_error: Option<String>,
}

impl Counters {
    /// A reading, with whether mail is configured now.
    pub fn stats(&self, enabled: bool) -> MailStats {
        let last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        MailStats {
            enabled,
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_error: last.map(str::to_string),
        }
    }

    fn failed_with(&self, class: &'static str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(class);
    }
}

/// The delay before attempt `attempts + 1`.
fn backoff(attempts: u32) -> chrono::Duration {
    let secs = FIRST_BACKOFF_SECS.saturating_mul(1 << attempts.saturating_sub(1).min(20));
    chrono::Duration::seconds(secs.min(MAX_BACKOFF_SECS))
}

/// The relay the settings name now, if e-mail is on.
pub fn relay(store: &Store) -> Option<Relay> {
    let settings = store.settings();
    Some(Relay {
        url: settings.smtp_url.clone()?,
        from: settings.smtp_from.clone()?,
        password: settings.smtp_password.clone(),
    })
}

/// Sends what arrives on `rx`, retrying failures on `clock`'s time.
pub async fn run(
    store: Store,
    clock: Clock,
    mut rx: mpsc::Receiver<Outgoing>,
    counters: std::sync::Arc<Counters>,
) {
    let mut waiting: VecDeque<Outgoing> = VecDeque::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(outgoing) => waiting.push_back(outgoing),
                None => return,
            },
            _ = tick.tick() => {}
        }
        let now = clock.now();
        let due: VecDeque<Outgoing> = {
            let (due, later) = waiting.drain(..).partition(|o| o.due <= now);
            waiting = later;
            due
        };
        for mut outgoing in due {
            let Some(relay) = relay(&store) else {
                // Mail was turned off meanwhile: nothing is sent, nothing kept.
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            outgoing.attempts += 1;
            match transport::send(&relay, &outgoing.to, &outgoing.message).await {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed_with(e.class());
                    let now = clock.now();
                    let too_old =
                        (now - outgoing.queued_at) > chrono::Duration::hours(MAX_AGE_HOURS);
                    if !e.retryable() || outgoing.attempts >= MAX_ATTEMPTS || too_old {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            class = e.class(),
                            attempts = outgoing.attempts,
                            "security e-mail given up: {e}"
                        );
                    } else {
                        tracing::warn!(
                            class = e.class(),
                            attempts = outgoing.attempts,
                            "security e-mail not sent, will retry: {e}"
                        );
                        outgoing.due = now + backoff(outgoing.attempts);
                        if waiting.len() >= RETRYING {
                            waiting.pop_front();
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        waiting.push_back(outgoing);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(1).num_seconds(), 30);
        assert_eq!(backoff(2).num_seconds(), 60);
        assert_eq!(backoff(3).num_seconds(), 120);
        assert_eq!(backoff(12).num_seconds(), 3600);
        assert_eq!(backoff(u32::MAX).num_seconds(), 3600);
    }
}
