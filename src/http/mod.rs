//! The HTTP front end: listener, TLS, connection handling, graceful shutdown, access log.

mod fragment;
mod router;
mod tls;

pub use router::{App, log_safe};

use fragment::FragmentGuard;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Listener errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS file is missing or unusable.
    #[error("TLS file {file}: {reason}")]
    Tls {
        /// The certificate or key file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Limits that keep a flood of connections from exhausting memory.
const MAX_CONNECTIONS: usize = 1024;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound listening socket, optionally with TLS.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl Listener {
    /// Binds `addr`; with `tls` = (certificate, key) PEM files, serves HTTPS.
    pub async fn bind(addr: SocketAddr, tls: Option<(&Path, &Path)>) -> Result<Self, Error> {
        let tls = tls.map(|(cert, key)| tls::acceptor(cert, key)).transpose()?;
        let tcp = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        Ok(Self { tcp, tls })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// True when serving HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves connections until `shutdown` completes, then lets requests in progress finish
    /// (up to a grace period).
    pub async fn serve(self, app: Arc<App>, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.tcp.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: say so, back off, go on.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                app: Arc::clone(&app),
                builder: Arc::clone(&builder),
                tls: self.tls.clone(),
                watcher: graceful.watcher(),
                peer,
            };
            tokio::spawn(async move {
                connection.run(stream).await;
                drop(permit);
            });
        }
        drop(self.tcp);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
}

struct Connection {
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        let Connection { app, builder, tls, watcher, peer } = self;
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(respond(&app, req, peer).await) }
        });
        let result =
            match tls {
                None => {
                    let io = TokioIo::new(FragmentGuard::new(stream));
                    let conn = builder.serve_connection(io, service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let tls_stream =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, "TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    // HTTP/2 has no request line (its `:path` is parsed elsewhere): no guard.
                    let io = if tls_stream.get_ref().1.alpn_protocol() == Some(&b"h2"[..]) {
                        FragmentGuard::passthrough(tls_stream)
                    } else {
                        FragmentGuard::new(tls_stream)
                    };
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
        if let Err(e) = result {
            tracing::debug!(%peer, "connection ended: {e}");
        }
    }
}

/// Runs the app for one request and writes the access-log line.
async fn respond(
    app: &App,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<dav_server::body::Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (res, user) = app.handle(req, peer.ip()).await;
    tracing::info!(
        target: "davgate::access",
        "{method} {path} {} {} {:.1}ms",
        res.status().as_u16(),
        user.as_ref().map_or("-", |u| u.as_str()),
        started.elapsed().as_secs_f64() * 1000.0
    );
    res
}
