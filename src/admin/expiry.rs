//! "App password expired" and "expires within a week" in the audit log: a periodic sweep (not
//! the first refused use, which may never come, and which every node and every restart would
//! see anew) asks the store for the passwords that expired, or came within [`EXPIRY_NOTICE`] of
//! expiring, since the last sweep of any node ([`Store::take_expired`],
//! [`Store::take_expiring`]) and records one event for each, by davgate itself, on the
//! operations' clock. The e-mails follow from the events.
//!
//! [`Store::take_expired`]: crate::store::Store::take_expired
//! [`Store::take_expiring`]: crate::store::Store::take_expiring

use super::{Admin, OpError};
use crate::store::{ActorKind, AuditEvent, EventKind};

/// How often the server looks for passwords that expired.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// How long before its expiry an app password's owner is told it is coming (and can make a new
/// one before their client stops connecting).
pub const EXPIRY_NOTICE: chrono::TimeDelta = chrono::TimeDelta::days(7);

impl Admin {
    /// Records an `app_password_expired` event for each password that expired since the last
    /// sweep, and an `app_password_expiring` one for each that came within [`EXPIRY_NOTICE`];
    /// answers how many events.
    pub async fn tell_expired(&self) -> Result<usize, OpError> {
        let now = self.clock().now();
        let expired = self.store().take_expired(now).await?;
        let expiring = self.store().take_expiring(now, EXPIRY_NOTICE).await?;
        let told = [
            (EventKind::AppPasswordExpired, &expired),
            (EventKind::AppPasswordExpiring, &expiring),
        ];
        for (kind, passwords) in told {
            for e in passwords {
                let mut event = AuditEvent::new(now, kind, ActorKind::System, None).about(&e.owner);
                event.app_password = Some(e.id.to_string());
                event.detail = serde_json::json!({ "expires_at": e.expires_at });
                self.store().audit(event);
            }
        }
        Ok(expired.len() + expiring.len())
    }
}

/// The server's periodic sweep, every [`SWEEP_EVERY`].
pub(crate) fn spawn_sweep(admin: Admin) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = admin.tell_expired().await {
                tracing::warn!("cannot look for expired app passwords: {e}");
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    });
}
