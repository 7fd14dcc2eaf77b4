//! `GET /healthz` and `GET /readyz`: what a load balancer or an orchestrator asks a node.
//!
//! `/healthz` answers 200 as long as the process serves requests (a liveness probe: restart the
//! node if it stops answering). `/readyz` answers 200 only when the store answers a cheap read
//! too, else 503 with `Retry-After` (a readiness probe: send no traffic to this node for now).
//! Neither needs credentials or says more than one line of plain text, and the access log
//! records them at debug level only: a probe every second would otherwise drown the log.

use http::header::{CACHE_CONTROL, HeaderValue, RETRY_AFTER};
use http::{Method, Response, StatusCode};
use std::time::Duration;

use super::response::{self, Body};
use crate::store::Store;

/// The liveness probe's path.
pub const HEALTHZ: &str = "/healthz";
/// The readiness probe's path.
pub const READYZ: &str = "/readyz";

/// Longest the readiness probe waits for the store before it answers 503.
const STORE_DEADLINE: Duration = Duration::from_secs(2);

/// Seconds a load balancer is told to wait before it asks again after a 503.
const RETRY_SECONDS: u32 = 5;

/// True for the probes' paths (whatever the method), which the access log keeps at debug.
pub fn is_probe(path: &str) -> bool {
    path == HEALTHZ || path == READYZ
}

/// Answers the probes over one store.
pub struct Health {
    store: Store,
}

impl Health {
    /// Probes reading `store` to say whether the node is ready.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The probe's answer to a GET or HEAD of its path, or `None` for any other request.
    pub async fn answer(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let mut res = match path {
            HEALTHZ => response::text(StatusCode::OK, "ok\n"),
            READYZ => self.readiness().await,
            _ => return None,
        };
        res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(res)
    }

    /// 200 if the store answers a cheap read within [`STORE_DEADLINE`], else 503.
    async fn readiness(&self) -> Response<Body> {
        let why = match tokio::time::timeout(STORE_DEADLINE, self.store.has_users()).await {
            Ok(Ok(_)) => return response::text(StatusCode::OK, "ready\n"),
            Ok(Err(e)) => format!("the store failed: {e}"),
            Err(_) => "the store does not answer".to_string(),
        };
        tracing::warn!("not ready: {why}");
        let mut res = response::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store is unavailable; try again\n",
        );
        res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_SECONDS));
        res
    }
}
