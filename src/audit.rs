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

/// `event` with the client of the request in progress, when there is one.
pub fn from_current_client(event: crate::store::AuditEvent) -> crate::store::AuditEvent {
    match client() {
        Some(c) => event.from_client(Some(c.address), c.user_agent.as_deref()),
        None => event,
    }
}
