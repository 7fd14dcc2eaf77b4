//! What the server counts for Prometheus, and its `/metrics` text.
//!
//! Every series is an atomic in a fixed array, indexed by labels that come from short fixed
//! lists (surface, method, status class, authentication outcome): recording is a few relaxed
//! atomic additions, with no lock, no allocation and no map lookup, and the number of series is
//! bounded whatever the clients send (no user names, paths or addresses become labels). Values
//! that other parts already keep (the argon2 queue, uploads in flight) are read only when
//! scraped, through [`Readings`]. Each server has its own [`Metrics`] (no global registry), so
//! servers started in one process count apart. prometheus-client, the Prometheus project's Rust
//! client, writes the text format ([`Metrics::render`]).

mod encode;
pub mod histogram;

use http::Method;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use histogram::Histogram;

/// The `Content-Type` of [`Metrics::render`]: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Where `/metrics` is served; neither (the default): nowhere.
#[derive(Debug, Clone, Default)]
pub struct MetricsOptions {
    /// A listener of its own: plain HTTP, `/metrics` only, no token.
    pub listen: Option<std::net::SocketAddr>,
    /// On the main listener, to requests bearing this token (`Authorization: Bearer`).
    pub token: Option<crate::secret::Secret>,
}

/// Which part of the server answered a request: a label of the request series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// WebDAV, under `/dav/`.
    Dav,
    /// The pages.
    Web,
    /// The JSON API, under `/api/`.
    Api,
    /// Health probes and metrics scrapes: kept apart so that they do not drown the rest.
    Monitoring,
}

impl Surface {
    const ALL: [Surface; 4] = [Surface::Dav, Surface::Web, Surface::Api, Surface::Monitoring];

    fn label(self) -> &'static str {
        match self {
            Surface::Dav => "dav",
            Surface::Web => "web",
            Surface::Api => "api",
            Surface::Monitoring => "monitoring",
        }
    }
}

/// Methods counted by name; any other is counted as `other`.
const METHODS: [&str; 15] = [
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "POST",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
];
const METHOD_SLOTS: usize = METHODS.len() + 1;
/// 1xx to 5xx.
const CLASSES: usize = 5;
const REQUEST_SLOTS: usize = Surface::ALL.len() * METHOD_SLOTS * CLASSES;

/// How the WebDAV gate answered one request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // Each variant is named after the gate's reason of the same name.
pub enum AuthOutcome {
    /// Found in the cache of verified credentials (no argon2).
    Cached,
    /// Verified with argon2 and cached.
    Verified,
    NoCredentials,
    Malformed,
    NotAppPassword,
    UnknownId,
    WrongSecret,
    WrongUser,
    Expired,
    Revoked,
    IdleExpired,
    NeverActivated,
    Disabled,
    Unavailable,
    Busy,
    Throttled,
    OverBudget,
    /// A scoped app password used from outside its allowed networks.
    AddressNotAllowed,
}

impl AuthOutcome {
    const ALL: [AuthOutcome; 18] = [
        AuthOutcome::Cached,
        AuthOutcome::Verified,
        AuthOutcome::NoCredentials,
        AuthOutcome::Malformed,
        AuthOutcome::NotAppPassword,
        AuthOutcome::UnknownId,
        AuthOutcome::WrongSecret,
        AuthOutcome::WrongUser,
        AuthOutcome::Expired,
        AuthOutcome::Revoked,
        AuthOutcome::IdleExpired,
        AuthOutcome::NeverActivated,
        AuthOutcome::Disabled,
        AuthOutcome::Unavailable,
        AuthOutcome::Busy,
        AuthOutcome::Throttled,
        AuthOutcome::OverBudget,
        AuthOutcome::AddressNotAllowed,
    ];

    /// The `outcome` label and, for a refusal, the `reason` label.
    fn labels(self) -> (&'static str, Option<&'static str>) {
        match self {
            AuthOutcome::Cached => ("cached", None),
            AuthOutcome::Verified => ("verified", None),
            AuthOutcome::NoCredentials => ("refused", Some("no_credentials")),
            AuthOutcome::Malformed => ("refused", Some("malformed")),
            AuthOutcome::NotAppPassword => ("refused", Some("not_app_password")),
            AuthOutcome::UnknownId => ("refused", Some("unknown")),
            AuthOutcome::WrongSecret => ("refused", Some("wrong_secret")),
            AuthOutcome::WrongUser => ("refused", Some("wrong_user")),
            AuthOutcome::Expired => ("refused", Some("expired")),
            AuthOutcome::Revoked => ("refused", Some("revoked")),
            AuthOutcome::IdleExpired => ("refused", Some("idle_expired")),
            AuthOutcome::NeverActivated => ("refused", Some("never_activated")),
            AuthOutcome::Disabled => ("refused", Some("disabled")),
            AuthOutcome::Unavailable => ("refused", Some("store_unavailable")),
            AuthOutcome::Busy => ("refused", Some("argon2_busy")),
            AuthOutcome::Throttled => ("throttled", Some("failures")),
            AuthOutcome::OverBudget => ("throttled", Some("network_budget")),
            AuthOutcome::AddressNotAllowed => ("refused", Some("address_not_allowed")),
        }
    }
}

/// Values kept elsewhere, read when scraped (never on a request's path).
pub struct Readings {
    /// argon2 jobs queued and not yet taken by a thread.
    pub argon2_queue: Box<dyn Fn() -> u64 + Send + Sync>,
    /// argon2 verifications since start (real and dummy).
    pub argon2_verifications: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Uploads (PUT, COPY) in flight.
    pub uploads_in_flight: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// One server's counters. Cheap to clone (one `Arc`); every clone counts into the same series.
#[derive(Clone)]
pub struct Metrics {
    counts: Arc<Counts>,
    registry: Arc<Registry>,
}

/// The atomics behind [`Metrics`].
struct Counts {
    requests: [AtomicU64; REQUEST_SLOTS],
    latency: [Histogram; Surface::ALL.len()],
    auth: [AtomicU64; AuthOutcome::ALL.len()],
    credential_lookups: Histogram,
    connections_open: AtomicI64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    readings: OnceLock<Readings>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let counts = Arc::new(Counts {
            requests: [const { AtomicU64::new(0) }; REQUEST_SLOTS],
            latency: [const { Histogram::new() }; Surface::ALL.len()],
            auth: [const { AtomicU64::new(0) }; AuthOutcome::ALL.len()],
            credential_lookups: Histogram::new(),
            connections_open: AtomicI64::new(0),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            readings: OnceLock::new(),
        });
        let mut registry = Registry::with_prefix("davgate");
        registry.register_collector(Box::new(encode::Collect(Arc::clone(&counts))));
        Self { counts, registry: Arc::new(registry) }
    }
}

impl Metrics {
    /// Counts one answered request: its surface, method, status class and time to the
    /// response head.
    pub fn request(&self, surface: Surface, method: &Method, status: u16, elapsed: Duration) {
        let method = METHODS.iter().position(|m| *m == method.as_str()).unwrap_or(METHODS.len());
        let class = usize::from(status / 100).clamp(1, CLASSES) - 1;
        let slot = (surface as usize * METHOD_SLOTS + method) * CLASSES + class;
        if let Some(counter) = self.counts.requests.get(slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(histogram) = self.counts.latency.get(surface as usize) {
            histogram.observe(elapsed);
        }
    }

    /// Counts one answer of the WebDAV gate.
    pub fn auth(&self, outcome: AuthOutcome) {
        if let Some(counter) = self.counts.auth.get(outcome as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many WebDAV sign-ins ended with `outcome` since start (for `davgate status`).
    pub fn auth_count(&self, outcome: AuthOutcome) -> u64 {
        self.counts.auth.get(outcome as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Records how long one credential lookup in the store took (the reads the cache misses).
    pub fn credential_lookup(&self, elapsed: Duration) {
        self.counts.credential_lookups.observe(elapsed);
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.counts.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(&self.counts))
    }

    /// Counts bytes read from clients (on the wire: TLS included).
    pub fn received(&self, bytes: usize) {
        self.counts.bytes_received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts bytes written to clients (on the wire: TLS included).
    pub fn sent(&self, bytes: usize) {
        self.counts.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Sets where the scrape reads the values kept elsewhere; only the first call counts.
    pub fn set_readings(&self, readings: Readings) {
        let _ = self.counts.readings.set(readings);
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail; an encoder error would only cut the text short.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!("metrics could not be written in full: {e}");
        }
        text
    }
}

/// A connection counted as open (see [`Metrics::connection_opened`]).
pub struct OpenConnection(Arc<Counts>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_counted_under_its_surface_method_and_class() {
        let metrics = Metrics::default();
        metrics.request(Surface::Dav, &Method::PUT, 201, Duration::from_millis(2));
        metrics.request(Surface::Dav, &Method::PUT, 204, Duration::from_millis(2));
        let weird = Method::from_bytes(b"BREW").unwrap();
        metrics.request(Surface::Web, &weird, 404, Duration::from_millis(2));
        let text = metrics.render();
        assert!(
            text.contains(
                r#"davgate_http_requests_total{surface="dav",method="PUT",status="2xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"davgate_http_requests_total{surface="web",method="other",status="4xx"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn two_servers_do_not_share_counters() {
        let (one, two) = (Metrics::default(), Metrics::default());
        one.auth(AuthOutcome::WrongSecret);
        assert!(one.render().contains(r#"outcome="refused",reason="wrong_secret"} 1"#));
        assert!(two.render().contains(r#"outcome="refused",reason="wrong_secret"} 0"#));
    }

    #[test]
    fn an_open_connection_is_counted_until_it_is_dropped() {
        let metrics = Metrics::default();
        let open = metrics.connection_opened();
        assert!(metrics.render().contains("davgate_connections_open 1\n"));
        drop(open);
        assert!(metrics.render().contains("davgate_connections_open 0\n"));
    }
}
