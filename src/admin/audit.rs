//! The audit log's admin side: reading it (the CLI's `davgate audit`, the API, the pages) and
//! the retention prune, on the operations' clock so that tests can move time.

use super::{Admin, OpError};
use crate::store::{AuditEvent, AuditQuery, UserName};

/// Events pruned in one transaction at most: a year of backlog goes in several short ones.
const PRUNE_BATCH: usize = 10_000;

/// How often the server prunes the audit log.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Admin {
    /// The audit events `query` asks for, newest first (everyone's, or one account's).
    pub async fn audit_events(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, OpError> {
        if let Some(user) = &query.subject {
            // An unknown name is said so, not answered with an empty page (a typo'd --user).
            if self.store().user(user).await?.is_none() && !self.has_history(user).await? {
                return Err(crate::store::Error::UnknownUser(user.to_string()).into());
            }
        }
        Ok(self.store().audit_events(query).await?)
    }

    /// Whether the log holds events about `user` (a removed account keeps its history).
    async fn has_history(&self, user: &UserName) -> Result<bool, OpError> {
        let query = AuditQuery { subject: Some(user.clone()), limit: 1, ..AuditQuery::default() };
        Ok(!self.store().audit_events(query).await?.is_empty())
    }

    /// Removes the events older than `audit_retention` (on the operations' clock); answers how
    /// many went.
    pub async fn prune_audit(&self) -> Result<u64, OpError> {
        let retention = self.store().settings().audit_retention.as_chrono();
        let cutoff = self.clock().now() - retention;
        let mut pruned = 0;
        loop {
            let went = self.store().prune_audit(cutoff, PRUNE_BATCH).await?;
            pruned += went;
            if went < PRUNE_BATCH as u64 {
                break;
            }
        }
        if pruned > 0 {
            tracing::info!("audit log: {pruned} events older than the retention removed");
        }
        Ok(pruned)
    }
}

/// The server's periodic prune: once at start, then hourly.
pub(crate) fn spawn_prune(admin: Admin) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = admin.prune_audit().await {
                tracing::warn!("cannot prune the audit log: {e}");
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    });
}
