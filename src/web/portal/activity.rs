//! Reading the audit log on the web: a person's own recent activity, and (admins) anyone's.
//! Nothing here writes or removes an event.

use super::error::about;
use super::{Portal, PortalError, Viewer};
use crate::store::{AuditEvent, AuditQuery, UserName};

impl Portal {
    /// The time on the server's clock (what `since=7d` counts back from).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The viewer's own events, newest first: `before` the last id of the previous page.
    pub async fn activity(
        &self,
        viewer: &Viewer,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, PortalError> {
        let query =
            AuditQuery { subject: Some(viewer.user.name.clone()), since: None, before, limit };
        Ok(self.store.audit_events(query).await?)
    }

    /// The events `query` asks for, everyone's or one account's (admins only; others get 403
    /// whatever they ask).
    pub async fn audit(
        &self,
        viewer: &Viewer,
        user: Option<&str>,
        query: AuditQuery,
    ) -> Result<Vec<AuditEvent>, PortalError> {
        if !viewer.is_admin() {
            return Err(PortalError::Forbidden);
        }
        let subject = match user {
            Some(name) => Some(UserName::parse(name).map_err(about(name))?),
            None => None,
        };
        Ok(self.admin.audit_events(AuditQuery { subject, ..query }).await?)
    }
}
