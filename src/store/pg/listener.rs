//! Following the shared generation: `LISTEN` for other nodes' changes, and a poll that never
//! lets this node's feed fall far behind when notifications are lost.
//!
//! One task per store, on its own connection (LISTEN needs a session of its own, never a
//! pooled one). On a notification, and every [`POLL`] whatever happens, it polls (on the pool:
//! heartbeat, acknowledgement and the generation with the settings, `nodes.rs`) and publishes
//! what is newer. So
//! the feed is at most [`POLL`] plus one query behind the database even while the listening
//! connection is down: a node that lost its notifications is slower to see a revoke, never
//! blind to it. Reconnecting listens first and reads second (a notification sent in between
//! is not lost), backing off from 100 ms to [`MAX_BACKOFF`]. The task ends once the store is
//! dropped.

use futures_util::StreamExt;
use std::sync::Weak;
use std::time::Duration;
use tokio_postgres::AsyncMessage;

use super::tls::Tls;
use super::{CHANNEL, Pg};

/// The longest the feed may trail the database: every node re-reads the generation this
/// often, notification or not.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// The longest pause between two attempts to reconnect the listening connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts following for the store behind `pg` (on the current runtime).
pub(super) fn spawn(pg: Weak<Pg>, config: tokio_postgres::Config, tls: Tls) {
    tokio::spawn(follow(pg, config, tls));
}

/// Re-reads and publishes; false once the store is gone (the task then ends).
async fn refresh(pg: &Weak<Pg>) -> bool {
    let Some(pg) = pg.upgrade() else { return false };
    if let Err(e) = pg.refresh().await {
        tracing::warn!("cannot read the store's generation: {e}");
    }
    true
}

async fn follow(pg: Weak<Pg>, config: tokio_postgres::Config, tls: Tls) {
    let mut backoff = Duration::from_millis(100);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let statement = format!("LISTEN {CHANNEL}");
                let listen = client.batch_execute(&statement);
                tokio::pin!(listen);
                let listening = loop {
                    tokio::select! {
                        done = &mut listen => break done.is_ok(),
                        message = messages.next() => if !matches!(message, Some(Ok(_))) {
                            break false;
                        },
                    }
                };
                if listening {
                    backoff = Duration::from_millis(100);
                    if !refresh(&pg).await {
                        return;
                    }
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(Ok(AsyncMessage::Notification(_))) => {
                                    if !refresh(&pg).await { return; }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(e)) => {
                                    tracing::warn!("the store's notification connection failed: {e}");
                                    break;
                                }
                                None => break,
                            },
                            _ = tick.tick() => if !refresh(&pg).await { return; },
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("cannot listen for the store's changes: {e}"),
        }
        // Down: keep polling while waiting to reconnect.
        let retry = tokio::time::sleep(backoff);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = &mut retry => break,
                _ = tick.tick() => if !refresh(&pg).await { return; },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
