//! Where the request being answered comes from, for the audit log: the web surface sets it once
//! per request ([`with_client`]) and whatever records an event on the way (an admin operation,
//! a sign-in) reads it ([`client`]), so that no operation's signature has to carry a client
//! address and User-Agent it has no other use for.

use std::net::IpAddr;

/// The client of the request in progress: its address and its User-Agent (if it sent one).
#[derive(Debug, Clone)]
pub struct Client {
    /// The peer's address (or the proxy's forwarded one, as the web surface sees it).
    pub address: IpAddr,
    /// The User-Agent header, as text.
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static CLIENT: Client;
}

/// Runs `work` as the answer to `client`'s request.
pub async fn with_client<T>(client: Client, work: impl std::future::Future<Output = T>) -> T {
    CLIENT.scope(client, work).await
}

/// The client of the request in progress, if this runs inside one ([`with_client`]).
pub fn client() -> Option<Client> {
    CLIENT.try_with(Clone::clone).ok()
}

/// Records that the sign-in throttle of `surface` (`"dav"`, `"web"`) locked `user` out from
/// the current client's network for `minutes`: one event by davgate itself, called by the
/// failure that reached the limit (the throttle's `Failure::locked`). It names the account only
/// when the name is one (a name that is none may be a password typed in the wrong field).
pub async fn lockout(
    store: &crate::store::Store,
    at: chrono::DateTime<chrono::Utc>,
    surface: &str,
    user: &str,
    failures: u32,
    minutes: u64,
) {
    use crate::store::{ActorKind, AuditEvent, EventKind, Outcome, UserName};
    let mut event = AuditEvent::new(at, EventKind::Lockout, ActorKind::System, None);
    if let Ok(name) = UserName::parse(user)
        && let Ok(Some(account)) = store.user(&name).await
    {
        event = event.about(&account.name);
    }
    event.outcome = Outcome::Failure;
    event.detail =
        serde_json::json!({ "surface": surface, "failures": failures, "minutes": minutes });
    store.audit(from_current_client(event));
}

/// `event` with the client of the request in progress, when there is one.
pub fn from_current_client(event: crate::store::AuditEvent) -> crate::store::AuditEvent {
    match client() {
        Some(c) => event.from_client(Some(c.address), c.user_agent.as_deref()),
        None => event,
    }
}
