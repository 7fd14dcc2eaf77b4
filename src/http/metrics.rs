//! `/metrics` over HTTP: on the main listener behind a bearer token, or on a listener of its own.
//!
//! Off unless asked for: without a token the main listener answers `/metrics` as any unknown
//! path (the pages' 404). The token is compared in constant time (both sides hashed first, so
//! that not even its length shows) and never logged: a wrong or missing one is a 401. The
//! listener of its own serves plain HTTP, `/metrics` only, to whoever reaches it: bind it where
//! only Prometheus can. [`Counted`] counts the bytes of every client connection.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use super::response::{self, Body};
use super::{Error, health};
use crate::auth::token::Secret;
use crate::metrics::{CONTENT_TYPE as METRICS_TYPE, Metrics, Surface};

/// The path Prometheus scrapes.
pub const PATH: &str = "/metrics";

/// Which surface a request path belongs to, for the request series.
pub fn surface(path: &str) -> Surface {
    if crate::dav::is_mount_path(path) {
        Surface::Dav
    } else if path.starts_with("/api/") {
        Surface::Api
    } else if health::is_probe(path) || path == PATH {
        Surface::Monitoring
    } else {
        Surface::Web
    }
}

/// `/metrics` on the main listener: answered only with the bearer token.
pub struct Guarded {
    metrics: Metrics,
    /// SHA-256 of the token; `None`: metrics are not served here.
    token: Option<[u8; 32]>,
}

impl Guarded {
    /// Serves `metrics` to requests bearing `token`; with no token, not at all.
    pub fn new(metrics: Metrics, token: Option<&Secret>) -> Self {
        Self { metrics, token: token.map(|t| digest(t.expose().as_bytes())) }
    }

    /// The answer to a GET or HEAD of `/metrics` when a token is set, else `None`.
    pub fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response<Body>> {
        let token = self.token.as_ref()?;
        if path != PATH || (method != Method::GET && method != Method::HEAD) {
            return None;
        }
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .map(|t| digest(t.trim_ascii()));
        if presented.is_some_and(|p| bool::from(p.ct_eq(token))) {
            return Some(scrape(&self.metrics));
        }
        let mut res = response::text(StatusCode::UNAUTHORIZED, "A bearer token is required.\n");
        let challenge = HeaderValue::from_static("Bearer realm=\"davgate metrics\"");
        res.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        Some(res)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// 200 with the metrics text.
fn scrape(metrics: &Metrics) -> Response<Body> {
    let mut res = response::text(StatusCode::OK, metrics.render());
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_TYPE));
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A plain-HTTP listener that serves `/metrics` and nothing else.
pub struct MetricsListener {
    tcp: TcpListener,
}

impl MetricsListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, Error> {
        let tcp = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        Ok(Self { tcp })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves until the task running it is aborted (when the server stops); a scrape cut off
    /// then is cheap to repeat.
    pub async fn serve(self, metrics: Metrics) {
        loop {
            let stream = match self.tcp.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("metrics listener: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let res = if req.uri().path() == PATH
                    && (req.method() == Method::GET || req.method() == Method::HEAD)
                {
                    scrape(&metrics)
                } else {
                    response::text(StatusCode::NOT_FOUND, "Only /metrics is served here.\n")
                };
                async move { Ok::<_, Infallible>(res) }
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let serving = builder.serve_connection(TokioIo::new(stream), service);
                // A scraper that stops reading must not hold a task forever.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(60), serving).await;
            });
        }
    }
}

/// Connection IO that counts the bytes it carries into [`Metrics`].
pub struct Counted<IO> {
    io: IO,
    metrics: Metrics,
}

impl<IO> Counted<IO> {
    /// Counts the reads and writes of `io`.
    pub fn new(io: IO, metrics: Metrics) -> Self {
        Self { io, metrics }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Counted<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            this.metrics.received(read);
        }
        poll
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Counted<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.metrics.sent(n);
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            this.metrics.sent(n);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn only_the_right_token_opens_the_metrics() {
        let guarded = Guarded::new(Metrics::default(), Some(&Secret::new("s3cret".into())));
        let status = |h: &HeaderMap| guarded.answer(&Method::GET, PATH, h).unwrap().status();
        assert_eq!(status(&bearer("s3cret")), StatusCode::OK);
        assert_eq!(status(&bearer("s3cre")), StatusCode::UNAUTHORIZED);
        assert_eq!(status(&HeaderMap::new()), StatusCode::UNAUTHORIZED);
        assert!(guarded.answer(&Method::GET, "/metricsx", &HeaderMap::new()).is_none());
    }

    #[test]
    fn without_a_token_the_main_listener_does_not_serve_metrics() {
        let guarded = Guarded::new(Metrics::default(), None);
        assert!(guarded.answer(&Method::GET, PATH, &bearer("anything")).is_none());
    }
}
