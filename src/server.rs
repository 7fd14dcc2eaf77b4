//! A whole davgate server: data directory, store, gate, mount, listener and admin channel.
//!
//! This is what `davgate serve` runs and what a program embedding davgate starts (see
//! `examples/embedded.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::admin::{Admin, ServerStatus, socket::AdminChannel};
use crate::auth::token::Secret;
use crate::auth::{Gate, GateOptions};
use crate::clock::Clock;
use crate::dav::limits::DavLimits;
use crate::dav::{Mount, remove_leftovers};
use crate::error::Error;
use crate::fs_private::create_private_dir;
use crate::http::{App, Limits, Listener};
use crate::store::{Store, UserName};
use crate::web::Web;
use crate::web::portal::Portal;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The data directory: `davgate.redb`, `files/<user>/`, `admin.sock`.
    pub data_dir: PathBuf,
    /// Where the store is: None for the redb file in `data_dir`; a PostgreSQL location for a
    /// store shared by several nodes.
    pub store: Option<crate::store::Location>,
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
    /// Where every decision by time reads it (expiry, throttle windows, sessions, locks, the
    /// TOTP step): the system's clocks, or a test's [`crate::clock::ManualClock`].
    pub clock: Clock,
    /// Benchmark builds only: serve this user's home without any authentication, to measure
    /// what the gate costs. Never present in a normal build.
    #[cfg(feature = "bench")]
    pub bench_bypass_user: Option<crate::store::UserName>,
}

impl ServerOptions {
    /// Defaults for `data_dir`: loopback port 8080, no TLS.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            gate: GateOptions::default(),
            dav: DavLimits::default(),
            limits: Limits::default(),
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
}

/// Name of the account created when a server starts on an empty store.
pub const FIRST_ADMIN: &str = "admin";

impl Server {
    /// Opens the data directory and store, creates the first admin if there is no account yet,
    /// binds the listener and the admin socket. Needs a tokio runtime.
    pub async fn start(options: ServerOptions) -> Result<Self, Error> {
        let data = options.data_dir.clone();
        let files = data.join("files");
        create_private_dir(&files)
            .map_err(|e| Error::io(format!("cannot create {}", files.display()), e))?;
        // Uploads cut off by a crash left temporary files: nothing can be writing them now.
        let leftovers = files.clone();
        match tokio::task::spawn_blocking(move || remove_leftovers(&leftovers)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("removed {n} unfinished upload(s) left by a previous run"),
            Ok(Err(e)) => {
                tracing::warn!("cannot clean unfinished uploads in {}: {e}", files.display())
            }
            Err(e) => tracing::warn!("cannot clean unfinished uploads: {e}"),
        }
        let location = (options.store.clone())
            .unwrap_or_else(|| crate::store::Location::Redb(data.join(Store::FILE_NAME)));
        let store = Store::open(&location).await?;
        let clock = options.clock.clone();
        let gate = Gate::start(store.clone(), &options.gate, clock.clone())
            .map_err(|e| Error::io("starting the auth gate", std::io::Error::other(e)))?;
        let gate = Arc::new(gate);
        let started_at = clock.now();
        let watched = Arc::clone(&gate);
        let admin = Admin::new(store.clone(), gate.hasher(), clock.clone())
            .with_files_root(files.clone())
            .with_status(move || ServerStatus {
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at,
                gate: watched.stats(),
            });
        let first_admin = UserName::parse(FIRST_ADMIN).map_err(crate::store::Error::from)?;
        let first_admin = admin
            .add_first_admin(&first_admin)
            .await?
            .and_then(|created| Some((first_admin, created.generated_password?)));
        let tls = options.tls.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let listener = Listener::bind(options.listen, tls, options.limits.clone()).await?;
        let mount = Mount::new(files, store.clone(), options.dav, clock.clone());
        let portal =
            Portal::new(store.clone(), admin.clone(), gate.verifier(), gate.budget(), clock);
        let web = Web::new(portal, listener.is_tls());
        #[cfg(feature = "bench")]
        let app =
            Arc::new(App { gate, mount, web, bench_bypass: options.bench_bypass_user.clone() });
        #[cfg(not(feature = "bench"))]
        let app = Arc::new(App { gate, mount, web });
        let channel = AdminChannel::open(&data, &admin).map_err(|e| {
            Error::io(format!("cannot open the admin socket in {}", data.display()), e)
        })?;
        Ok(Self { listener, app, channel, store, admin, first_admin })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
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
        let Server { listener, app, channel, .. } = self;
        listener.serve(app, shutdown).await;
        drop(channel);
    }
}
