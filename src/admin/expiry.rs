//! "App password expired" in the audit log: a periodic sweep (not the first refused use, which
//! may never come, and which every node and every restart would see anew) asks the store for
//! the passwords that expired since the last sweep of any node ([`Store::take_expired`]) and
//! records one event for each, by davgate itself, on the operations' clock.
//!
//! [`Store::take_expired`]: crate::store::Store::take_expired

use super::{Admin, OpError};
use crate::store::{ActorKind, AuditEvent, EventKind};

/// How often the server looks for passwords that expired.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Admin {
    /// Records an `app_password_expired` event for each password that expired since the last
    /// sweep; answers how many.
    pub async fn tell_expired(&self) -> Result<usize, OpError> {
        let now = self.clock().now();
        let expired = self.store().take_expired(now).await?;
        for e in &expired {
            let mut event =
                AuditEvent::new(now, EventKind::AppPasswordExpired, ActorKind::System, None)
                    .about(&e.owner);
            event.app_password = Some(e.id.to_string());
            event.detail = serde_json::json!({ "expires_at": e.expires_at });
            self.store().audit(event);
        }
        Ok(expired.len())
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
