//! The HTTP front end: listener, TLS, connection handling, graceful shutdown, access log.
//!
//! Each accepted connection is admitted by the [`limits::Registry`] (per-address and global
//! caps, idle timeouts), its IO goes through the [`fragment::FragmentGuard`] (HTTP/1) and a
//! write watch, and each request body gets a stall deadline ([`body::Deadline`]).

mod access_log;
mod body;
pub mod client_addr;
mod fragment;
pub mod health;
mod limits;
pub mod metrics;
pub mod prefix;
mod protocols;
pub mod response;
mod router;
mod tls;
mod zero_copy;

pub use access_log::{BadLogFormat, LogFormat};
pub use client_addr::{BadNetwork, TrustedProxies};
pub use limits::Limits;
pub use prefix::{BadPublicUrl, PublicPrefix};
pub use response::Body;
pub use router::App;
pub use tls::Certificates;

/// The fragment guard, public only so that `fuzz/fuzz_targets/fragment.rs` can drive it through
/// its real `AsyncRead`; not part of the embedding API.
pub use fragment::{FragmentGuard, Treatment, Verdict};

use body::{Deadline, Tracked};
use http::header::{CONNECTION, HeaderValue};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use limits::{Admitted, Registry, Tracker, Watched};
use protocols::Protocols;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use zero_copy::ZeroCopy;

/// Why the listener could not start: a port taken, a TLS file unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
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

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Connections the kernel may queue before they are accepted (tokio's default is 1,024): a
/// burst of connections from elsewhere must not push a new client's SYN out of the queue.
const LISTEN_BACKLOG: u32 = 4096;
/// How long a connection refused by the caps is held before it is closed: a client refused at
/// once would reconnect at once, and a few such loops fill the kernel's accept queue, so that
/// everyone else's new connections wait for a SYN retransmission (1 s).
const REFUSAL_HOLD: Duration = Duration::from_secs(1);

/// A bound listening socket, optionally with TLS.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    /// The pair the acceptor serves, to reload.
    certificates: Option<Arc<Certificates>>,
    limits: Limits,
}

impl Listener {
    /// Binds `addr`; with `tls` = (certificate, key) PEM files, serves HTTPS.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<(&Path, &Path)>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let certificates = tls.map(|(cert, key)| Certificates::load(cert, key)).transpose()?;
        let tls = certificates.as_ref().map(Certificates::acceptor).transpose()?;
        let tcp = listen(addr).map_err(|source| Error::Bind { addr, source })?;
        Ok(Self { tcp, tls, certificates, limits })
    }

    /// The certificate and key served, when serving HTTPS: reload them there.
    pub fn certificates(&self) -> Option<Arc<Certificates>> {
        self.certificates.clone()
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
        let limits = self.limits.clone().fit_to_fd_limit();
        let body_timeout = limits.body_timeout;
        let protocols = Arc::new(Protocols::new(limits.idle_timeout, limits.http2_plain));
        // At most this many refused connections are held at once (an eighth of the cap, so that
        // holding them can never exhaust file descriptors); beyond it, refusals close at once.
        let held = Arc::new(tokio::sync::Semaphore::new((limits.max_connections / 8).max(1)));
        let registry = Registry::new(limits);
        let reaper = tokio::spawn(Arc::clone(&registry).reap());
        tokio::pin!(shutdown);
        loop {
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
            let admitted = match registry.admit(peer.ip()) {
                Ok(admitted) => admitted,
                Err(why) => {
                    // Held a moment, then closed (the client may retry); nothing is logged per
                    // connection, so that a flood cannot fill the log.
                    tracing::debug!(%peer, "connection refused: {why}");
                    if let Ok(permit) = Arc::clone(&held).try_acquire_owned() {
                        tokio::spawn(async move {
                            tokio::time::sleep(REFUSAL_HOLD).await;
                            drop((stream, permit));
                        });
                    }
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                app: Arc::clone(&app),
                protocols: Arc::clone(&protocols),
                tls: self.tls.clone(),
                watcher: graceful.watcher(),
                peer,
                body_timeout,
            };
            tokio::spawn(connection.run(stream, admitted));
        }
        drop(self.tcp);
        registry.close_unused();
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; closing them");
        }
        reaper.abort();
    }
}

/// A listening socket on `addr` with a deep accept queue ([`LISTEN_BACKLOG`]).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's TcpListener::bind does: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

struct Connection {
    app: Arc<App>,
    protocols: Arc<Protocols>,
    tls: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl Connection {
    /// Serves the connection until it ends or the registry closes it.
    async fn run(self, stream: TcpStream, admitted: Admitted) {
        let tracker = Arc::clone(admitted.tracker());
        let _open = self.app.metrics.connection_opened();
        let peer = self.peer;
        // Nothing is allocated for a connection (TLS state, hyper's buffers, the large future
        // that serves it, boxed) before its first byte: a socket that only sits there costs
        // little more than the socket. The registry's first-request timeout closes it.
        let serve = async {
            // `readable()` may wake at once for a fresh socket; a one-byte peek waits for data
            // (0: the client left without a word).
            let mut first = [0; 1];
            if matches!(stream.peek(&mut first).await, Ok(n) if n > 0) {
                Box::pin(self.serve(stream, &tracker)).await;
            }
        };
        tokio::select! {
            () = serve => {}
            () = tracker.closed() => tracing::debug!(%peer, "connection closed: idle, stuck or making room"),
        }
        drop(admitted);
    }

    async fn serve(self, stream: TcpStream, tracker: &Arc<Tracker>) {
        let Connection { app, protocols, tls, watcher, peer, body_timeout } = self;
        // Plain connections send big files' mapped windows with sendfile (zero_copy).
        let stream = ZeroCopy::new(stream, tls.is_none());
        let stream = metrics::Counted::new(stream, app.metrics.clone());
        let verdict = Arc::new(Verdict::default());
        let context = Arc::new(Context {
            app,
            peer,
            tls: tls.is_some(),
            body_timeout,
            tracker: Arc::clone(tracker),
            verdict: Arc::clone(&verdict),
            requests: AtomicU64::new(0),
        });
        // Boxed: hyper keeps a slot the size of the service's future for the whole life of an
        // HTTP/1 connection, and the future that serves any request is tens of KB; boxed, an
        // idle kept-alive connection holds a pointer, and a request allocates only while it runs.
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let context = Arc::clone(&context);
            Box::pin(async move { Ok::<_, Infallible>(context.respond(req).await) })
        });
        // The connection's future is built inside the match and awaited after it: a local
        // borrowed in there (the TLS stream, for its ALPN) keeps its slot in this future until
        // its scope ends, so awaiting inside would keep ~1.2 KB per connection for its whole life.
        let serving = match tls {
            None => {
                let io = Watched::new(FragmentGuard::new(stream, verdict), Arc::clone(tracker));
                protocols.serve(protocols.plain(), watcher, io, service)
            }
            Some(acceptor) => {
                // Boxed: the handshake's state is freed once it is done.
                let handshake =
                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                let tls_stream = match Box::pin(handshake).await {
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
                // HTTP/2 has no request line: h2 itself refuses a `#` in `:path`.
                let alpn = tls_stream.get_ref().1.alpn_protocol();
                let known = Protocols::negotiated(alpn);
                let io = if alpn == Some(&b"h2"[..]) {
                    FragmentGuard::passthrough(tls_stream)
                } else {
                    FragmentGuard::new(tls_stream, verdict)
                };
                let io = Watched::new(io, Arc::clone(tracker));
                protocols.serve(known, watcher, io, service)
            }
        };
        if let Err(e) = serving.await {
            tracing::debug!(%peer, "connection ended: {e}");
        }
    }
}

/// What the requests of one connection share.
struct Context {
    app: Arc<App>,
    peer: SocketAddr,
    /// Whether the connection is HTTPS.
    tls: bool,
    body_timeout: Duration,
    tracker: Arc<Tracker>,
    verdict: Arc<Verdict>,
    /// Requests received so far on this connection.
    requests: AtomicU64,
}

impl Context {
    /// Runs the app for one request (unless the fragment guard says not to) and writes the
    /// access-log line.
    async fn respond(&self, req: hyper::Request<Incoming>) -> hyper::Response<Tracked<Body>> {
        let busy = self.tracker.begin();
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let started = Instant::now();
        let client =
            client_addr::resolve(&self.app.proxies, self.peer.ip(), self.tls, req.headers());
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let (mut res, user) = if self.verdict.treatment(n) == Treatment::Refuse {
            router::unfollowable()
        } else {
            let (mut parts, body) = req.into_parts();
            client_addr::apply_host(&client, &mut parts.headers);
            let req = hyper::Request::from_parts(parts, Deadline::new(body, self.body_timeout));
            self.app.handle(req, &client).await
        };
        // Asked again: the guard may have lost track while this request was being served.
        if self.verdict.treatment(n) != Treatment::Serve {
            res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let (status, elapsed) = (res.status().as_u16(), started.elapsed());
        let inner = self.app.public.strip(&path).unwrap_or(&path);
        self.app.metrics.request(metrics::surface(inner), &method, status, elapsed);
        let access = access_log::Access {
            client: client.addr,
            method: method.as_str(),
            path: &path,
            status,
            user: user.as_ref().map_or("-", |u| u.as_str()),
            ms: elapsed.as_secs_f64() * 1000.0,
        };
        let probe =
            health::is_probe(&path) || self.app.public.strip(&path).is_some_and(health::is_probe);
        access.log(self.app.log_format, probe);
        res.map(|body| Tracked::new(body, busy))
    }
}
