//! A whole davgate server: data directory, store, gate, mount, listener and admin channel.
//!
//! This is what `davgate serve` runs and what a program embedding davgate starts (see
//! `examples/embedded.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::admin::homes::default_files_root;
use crate::admin::{Admin, ServerStatus, socket::AdminChannel};
use crate::auth::token::Secret;
use crate::auth::{Gate, GateOptions};
use crate::clock::Clock;
use crate::dav::limits::DavLimits;
use crate::dav::{Mount, TempNames};
use crate::error::Error;
use crate::fs_private::create_private_dir;
use crate::http::health::Health;
use crate::http::metrics::{Guarded, MetricsListener};
use crate::http::{App, Certificates, Limits, Listener, LogFormat, PublicPrefix, TrustedProxies};
use crate::metrics::{Metrics, MetricsOptions, Readings};
use crate::node::NodeId;
use crate::store::{Store, UserName};
use crate::web::Web;
use crate::web::portal::Portal;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The data directory: `davgate.redb`, `files/<user>/` (unless `files_root` says otherwise),
    /// `admin.sock`.
    pub data_dir: PathBuf,
    /// Where the homes live, one folder per user: `<data>/files` when `None`. Several nodes may
    /// share one (on a coherent filesystem), each with its own data directory.
    pub files_root: Option<PathBuf>,
    /// This node's name in logs and upload temporary files: the host name and the port of
    /// `listen` when `None` ([`NodeId::default_for`]; port 0 stays 0, so that a restart is the
    /// same node). Unique among the nodes sharing a files root.
    pub node_id: Option<NodeId>,
    /// Where the store is: None for the redb file in `data_dir`; a PostgreSQL location for a
    /// store shared by several nodes.
    pub store: Option<crate::store::Location>,
    /// The bucket holding every user's files instead of `files_root` (`--files s3://…`); needs
    /// the PostgreSQL store, where their names and folders live.
    pub objects: Option<crate::objectfs::ObjectsLocation>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain and private key, to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Verification threads and cache size.
    pub gate: GateOptions,
    /// Uploads in flight and folder nesting allowed over WebDAV.
    pub dav: DavLimits,
    /// Connection caps and timeouts.
    pub limits: Limits,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-*` headers are believed (none by
    /// default: then the TCP peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// The path everything is served under, from the public URL (none by default).
    pub public_prefix: PublicPrefix,
    /// The public URL itself (`--public-url`): single sign-on's redirect URI is built from it,
    /// never from the Host header; without it no identity provider is offered.
    pub public_url: Option<String>,
    /// How the access log is written.
    pub log_format: LogFormat,
    /// Where Prometheus reads `/metrics`: nowhere unless asked.
    pub metrics: MetricsOptions,
    /// Where every decision by time reads it (expiry, throttle windows, sessions, locks, the
    /// TOTP step): the system's clocks, or a test's [`crate::clock::ManualClock`].
    pub clock: Clock,
    /// Benchmark builds only: serve this user's home without any authentication, to measure
    /// what the gate costs. Never present in a normal build.
    #[cfg(feature = "bench")]
    pub bench_bypass_user: Option<crate::store::UserName>,
}

impl ServerOptions {
    /// The files root in force: `files_root`, or `<data>/files`.
    pub fn files_root(&self) -> PathBuf {
        self.files_root.clone().unwrap_or_else(|| default_files_root(&self.data_dir))
    }

    /// Defaults for `data_dir`: loopback port 8080, no TLS.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            files_root: None,
            node_id: None,
            store: None,
            objects: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            gate: GateOptions::default(),
            dav: DavLimits::default(),
            limits: Limits::default(),
            trusted_proxies: TrustedProxies::default(),
            public_prefix: PublicPrefix::default(),
            public_url: None,
            log_format: LogFormat::default(),
            metrics: MetricsOptions::default(),
            clock: Clock::system(),
            #[cfg(feature = "bench")]
            bench_bypass_user: None,
        }
    }
}

/// A started server, bound and ready; [`Server::run`] serves until shutdown.
pub struct Server {
    listener: Listener,
    app: Arc<App>,
    channel: AdminChannel,
    store: Store,
    admin: Admin,
    first_admin: Option<(UserName, Secret)>,
    node_id: NodeId,
    files_root: PathBuf,
    scrape_listener: Option<MetricsListener>,
    metrics: Metrics,
}

/// Reloads the TLS certificate and key of a running server from their files (what SIGHUP does).
#[derive(Clone, Debug)]
pub struct TlsReload(Arc<Certificates>);

impl TlsReload {
    /// Reads the files again: new connections get the new pair, open ones keep theirs. A pair
    /// that cannot be used keeps the old one in force. Logs either way (info or warn) and
    /// returns the new certificate's SHA-256 fingerprint.
    pub async fn reload(&self) -> Result<String, crate::http::Error> {
        let certificates = Arc::clone(&self.0);
        let done = tokio::task::spawn_blocking(move || certificates.reload()).await;
        let done = done.unwrap_or_else(|e| {
            let reason = format!("the reload stopped: {e}");
            Err(crate::http::Error::Tls { file: self.0.cert_file().to_path_buf(), reason })
        });
        match &done {
            Ok(print) => tracing::info!(
                "TLS certificate reloaded from {}: SHA-256 fingerprint {print}",
                self.0.cert_file().display()
            ),
            Err(e) => tracing::warn!("TLS certificate not reloaded, the current one stays: {e}"),
        }
        done
    }
}

/// Single sign-on: the providers' registry, kept current by a task of its own (discovery
/// failing marks a provider unavailable, never stops the server).
fn start_sso(
    store: &Store,
    clock: &Clock,
    public_url: Option<&str>,
) -> Result<Arc<crate::web::portal::Sso>, Error> {
    let http = crate::oidc::http::client()
        .map_err(|e| Error::io("starting single sign-on", std::io::Error::other(e)))?;
    let registry =
        Arc::new(crate::oidc::Registry::new(store.clone(), http, clock.clone(), public_url));
    registry.spawn();
    Ok(Arc::new(crate::web::portal::Sso::new(registry, store)))
}

/// The periodic refresh-token check (`sso_recheck_interval`, read before each wait), which
/// asks nothing of anyone while no refresh token is kept.
fn spawn_recheck(store: Store, admin: Admin) {
    tokio::spawn(async move {
        loop {
            let interval = store.settings().sso_recheck_interval.as_seconds().max(60);
            tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
            if store.refresh_tokens().await.is_ok_and(|t| !t.is_empty()) {
                let _ = admin.recheck_sso().await;
            }
        }
    });
}

/// Name of the account created when a server starts on an empty store.
pub const FIRST_ADMIN: &str = "admin";

impl Server {
    /// Opens the data directory and store, creates the first admin if there is no account yet,
    /// binds the listener and the admin socket. Needs a tokio runtime.
    pub async fn start(options: ServerOptions) -> Result<Self, Error> {
        let data = options.data_dir.clone();
        let files = options.files_root();
        create_private_dir(&files)
            .map_err(|e| Error::io(format!("cannot create {}", files.display()), e))?;
        // The port asked for, not the one bound: a restart on port 0 is still the same node.
        let port = options.listen.port();
        let node_id = options.node_id.clone().unwrap_or_else(|| NodeId::default_for(port));
        let temps = TempNames::new(node_id.clone());
        remove_leftovers(&temps, &files, &node_id).await;
        let location = (options.store.clone())
            .unwrap_or_else(|| crate::store::Location::Redb(data.join(Store::FILE_NAME)));
        let clock = options.clock.clone();
        let store = Store::open_node(&location, &node_id, clock.clone()).await?;
        let metrics = Metrics::default();
        let gate = Gate::start(store.clone(), &options.gate, clock.clone(), metrics.clone())
            .map_err(|e| Error::io("starting the auth gate", std::io::Error::other(e)))?;
        let gate = Arc::new(gate);
        let started_at = clock.now();
        let watched = Arc::clone(&gate);
        let mailer = crate::mail::Mailer::start(store.clone(), clock.clone());
        let (audited, webhook) =
            (store.clone(), crate::webhook::Webhook::start(&store, clock.clone()));
        let hooked = webhook.clone();
        let mut admin = Admin::new(store.clone(), gate.hasher(), clock.clone(), files.clone())
            .with_status(move || ServerStatus {
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at,
                gate: watched.stats(),
                mail: mailer.stats(),
                audit_dropped: audited.audit_dropped(),
                webhook: hooked.stats(),
            });
        let first_admin = UserName::parse(FIRST_ADMIN).map_err(crate::store::Error::from)?;
        let first_admin = admin
            .add_first_admin(&first_admin)
            .await?
            .and_then(|created| Some((first_admin, created.generated_password?)));
        let tls = options.tls.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let listener = Listener::bind(options.listen, tls, options.limits.clone()).await?;
        let public = options.public_prefix.clone();
        let mut dav = options.dav;
        let transport_copies = options.tls.is_some() || options.limits.http2_plain;
        dav.get_chunk = Some(dav.get_chunk_for(transport_copies));
        let mut mount = Mount::new(files.clone(), store.clone(), dav, temps, clock.clone())
            .under(public.as_str());
        if let Some(location) = &options.objects {
            let objects = crate::objectfs::start(location, &store, &clock, &node_id)?;
            tracing::info!("node {node_id} keeps files in {}", location.display());
            admin = admin.with_objects(&objects);
            mount = mount.with_objects(objects);
        }
        let locks = mount.locks();
        let admin = admin.on_revocation(move |user, ids| locks.release_taken_by(user, ids));
        let sso = start_sso(&store, &clock, options.public_url.as_deref())?;
        spawn_recheck(store.clone(), admin.clone());
        crate::admin::spawn_audit_prune(admin.clone());
        crate::admin::spawn_expiry_sweep(admin.clone());
        let portal =
            Portal::new(store.clone(), admin.clone(), gate.verifier(), gate.budget(), clock)
                .with_sso(sso);
        let web = Web::new(portal, &public);
        let health = Health::new(store.clone());
        let (queue, verifications) = (gate.verifier(), gate.verification_counter());
        let uploads = mount.uploads_counter();
        metrics.set_readings(Readings {
            argon2_queue: Box::new(move || queue.queue_depth() as u64),
            argon2_verifications: Box::new(move || verifications.get()),
            uploads_in_flight: Box::new(move || uploads() as u64),
        });
        let scrape = Guarded::new(metrics.clone(), options.metrics.token.as_ref());
        let scrape_listener = match options.metrics.listen {
            Some(addr) => Some(MetricsListener::bind(addr).await?),
            None => None,
        };
        let app = Arc::new(App {
            gate,
            mount,
            web,
            health,
            proxies: options.trusted_proxies.clone(),
            public,
            log_format: options.log_format,
            metrics: metrics.clone(),
            scrape,
            #[cfg(feature = "bench")]
            bench_bypass: options.bench_bypass_user.clone(),
        });
        let channel = AdminChannel::open(&data, &admin).map_err(|e| {
            Error::io(format!("cannot open the admin socket in {}", data.display()), e)
        })?;
        tracing::info!("node {node_id} serving files in {}", files.display());
        Ok(Self {
            listener,
            app,
            channel,
            store,
            admin,
            first_admin,
            node_id,
            files_root: files,
            scrape_listener,
            metrics,
        })
    }

    /// This node's name (given, or the host name and port).
    pub fn node_id(&self) -> &NodeId {
        &self.node_id
    }

    /// The folder holding the homes, maybe shared with other nodes.
    pub fn files_root(&self) -> &std::path::Path {
        &self.files_root
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address of the metrics listener of its own, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.scrape_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What reloads the certificate and key, when serving HTTPS.
    pub fn tls_reload(&self) -> Option<TlsReload> {
        self.listener.certificates().map(TlsReload)
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.listener.is_tls() { "https" } else { "http" }
    }

    /// The account created at this start, with its password (to show once), if the store was empty.
    pub fn first_admin(&self) -> Option<(&UserName, &Secret)> {
        self.first_admin.as_ref().map(|(n, s)| (n, s))
    }

    /// The admin operations (the same ones as the CLI) on this server's store, hashing on its
    /// bounded argon2 pool. Clone it to keep it after [`Server::run`] took the server.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The store, for embedding programs that manage accounts themselves.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A live count of argon2 verifications, still readable after [`Server::run`] took the server.
    pub fn verification_counter(&self) -> crate::auth::verify::VerificationCounter {
        self.app.gate.verification_counter()
    }

    /// Serves until `shutdown` completes, then drains requests and removes the admin socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server { listener, app, channel, scrape_listener, metrics, store, .. } = self;
        let scraping = scrape_listener.map(|l| tokio::spawn(l.serve(metrics)));
        listener.serve(app, shutdown).await;
        // What the requests recorded is in the log before the server says it stopped.
        store.audit_flush().await;
        if let Some(task) = scraping {
            task.abort();
        }
        drop(channel);
    }
}

/// Uploads cut off by a crash of this node left temporary files: nothing can be writing them
/// now. Other nodes' recent ones may be uploads in flight and stay (see [`TempNames`]).
/// Wall-clock time, not the injected clock: file times are the kernel's.
async fn remove_leftovers(temps: &TempNames, files: &std::path::Path, node: &NodeId) {
    let (temps, root) = (temps.clone(), files.to_path_buf());
    let now = std::time::SystemTime::now();
    match tokio::task::spawn_blocking(move || temps.remove_leftovers(&root, now)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(
            "node {node}: removed {n} unfinished upload(s) left by a previous run or a stale node"
        ),
        Ok(Err(e)) => tracing::warn!("cannot clean unfinished uploads in {}: {e}", files.display()),
        Err(e) => tracing::warn!("cannot clean unfinished uploads: {e}"),
    }
}
