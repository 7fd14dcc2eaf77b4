//! `davgate serve`: the server in the foreground, its banner, its logging and its signals.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::output::print;
use davgate::HumanDuration;
use davgate::{Error, NodeId, Server, ServerOptions};

/// The server's flags, each with its `DAVGATE_*` environment twin.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address and port to listen on (use 0.0.0.0:8080 to accept other machines).
    #[arg(long, env = "DAVGATE_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// PEM certificate chain: serve HTTPS (Windows Explorer needs it for Basic auth).
    #[arg(long, env = "DAVGATE_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert. Both files are read again on SIGHUP.
    #[arg(long, env = "DAVGATE_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics: plain HTTP, nothing else there, no
    /// token (bind it where only Prometheus reaches it). Off by default.
    #[arg(long, env = "DAVGATE_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Serve /metrics on the main listener to requests bearing the token in FILE
    /// (Authorization: Bearer TOKEN). Off by default.
    #[arg(long, env = "DAVGATE_METRICS_TOKEN_FILE", value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Folder holding each user's files (default: <data>/files). Several nodes may share one
    /// on a coherent filesystem (NFSv4, CephFS), each with its own --data. Or a bucket:
    /// s3://BUCKET[/PREFIX]?endpoint=URL&region=R (with --store postgres://…; keys from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY_FILE).
    #[arg(long, env = "DAVGATE_FILES", value_name = "DIR|s3://…")]
    files: Option<PathBuf>,
    /// This node's name in logs and in upload temporary files (default: host name and port,
    /// e.g. web1:8080); unique among nodes sharing --files.
    #[arg(long, env = "DAVGATE_NODE_ID", value_name = "NAME")]
    node_id: Option<NodeId>,
    /// Uploads (PUT, COPY) in flight at once, server-wide; more are answered 503 (each holds
    /// a temporary file open).
    #[arg(long, env = "DAVGATE_MAX_UPLOADS", value_name = "N", default_value_t = davgate::DEFAULT_MAX_UPLOADS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_uploads: u64,
    /// Most levels of folders below /dav/ for anything created, copied or moved (deeper: 403).
    #[arg(long, env = "DAVGATE_MAX_DEPTH", value_name = "N", default_value_t = davgate::DEFAULT_MAX_DEPTH as u64, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    max_depth: u64,
    /// Connections open at once, in all; when full, the connection idle the longest is closed
    /// to make room (lowered to fit the file descriptor limit).
    #[arg(long, env = "DAVGATE_MAX_CONNECTIONS", default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Connections open at once from one IPv4 address or IPv6 /64 (raise it behind a reverse
    /// proxy or for an office behind one NAT address).
    #[arg(long, env = "DAVGATE_MAX_CONNECTIONS_PER_IP", default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// Close a connection with no request in progress after this long (e.g. 30s, 2m). Windows'
    /// WebClient and Finder keep connections for minutes between requests; past the limit the
    /// connection idle the longest gives way anyway, so a long timeout costs nothing when busy.
    #[arg(long, env = "DAVGATE_IDLE_TIMEOUT", default_value = "2m", value_name = "DURATION")]
    idle_timeout: HumanDuration,
    /// End a request whose body sends nothing for this long (408), and a connection whose
    /// client reads nothing of a response for this long.
    #[arg(long, env = "DAVGATE_BODY_TIMEOUT", default_value = "30s", value_name = "DURATION")]
    body_timeout: HumanDuration,
    /// Reverse proxies in front of davgate (comma-separated networks, e.g.
    /// 127.0.0.1/32,10.0.0.0/8,::1/128): only from these peers are `Forwarded` and
    /// `X-Forwarded-For/-Proto/-Host` believed for the client's address, scheme and host
    /// (default: none, the peer is the client).
    #[arg(long, env = "DAVGATE_TRUSTED_PROXIES", value_name = "NETS", value_parser = parse_proxies)]
    trusted_proxies: Option<davgate::TrustedProxies>,
    /// The URL users reach davgate at, when it differs from --listen (behind a reverse proxy),
    /// e.g. https://files.example.com/webdav/. A path in it is a prefix everything is served
    /// under: WebDAV at <prefix>dav/, the pages, the API, the assets and health.
    #[arg(long, env = "DAVGATE_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// Log lines as `text` (for people, journald and fail2ban) or `json` (one object per line,
    /// for log shippers).
    #[arg(long, env = "DAVGATE_LOG_FORMAT", default_value = "text", value_name = "FORMAT",
          value_parser = parse_log_format)]
    log_format: davgate::LogFormat,
    /// Also serve HTTP/2 with prior knowledge (h2c) on a plain-HTTP listener (HTTPS always
    /// offers HTTP/2).
    #[arg(long, env = "DAVGATE_HTTP2_PLAIN")]
    http2_plain: bool,
    /// Benchmark only: verify with argon2 on every request (no credential cache).
    #[cfg(feature = "bench")]
    #[arg(long, hide = true)]
    bench_no_auth_cache: bool,
    /// Benchmark only: the size of a GET's chunks in bytes (from 1 MiB up over plain HTTP:
    /// mapped windows; default: chosen from the transport).
    #[cfg(feature = "bench")]
    #[arg(long, hide = true, value_name = "BYTES")]
    bench_get_chunk: Option<usize>,
    /// Benchmark only: bytes of files mapped at once, process-wide, for GET over plain HTTP/1.1
    /// (default: dav_server::localfs_mapped::MAPPED_BUDGET).
    #[cfg(feature = "bench")]
    #[arg(long, hide = true, value_name = "BYTES")]
    bench_mapped_budget: Option<usize>,
    /// Benchmark only: serve USER's home to every request, with no authentication at all.
    #[cfg(feature = "bench")]
    #[arg(long, hide = true, value_name = "USER")]
    bench_bypass_gate: Option<String>,
}

pub(super) fn serve(
    data: PathBuf,
    store: davgate::StoreLocation,
    args: ServeArgs,
) -> Result<(), Error> {
    init_logging(args.log_format);
    let mut options = ServerOptions::new(data.clone());
    options.log_format = args.log_format;
    options.trusted_proxies = args.trusted_proxies.unwrap_or_default();
    if let Some(url) = &args.public_url {
        // Checked by clap already.
        options.public_prefix = davgate::PublicPrefix::of_url(url).unwrap_or_default();
        options.public_url = Some(url.clone());
    }
    options.store = Some(store);
    options.listen = args.listen;
    match args.files.as_deref().and_then(|f| f.to_str()) {
        Some(url) if davgate::ObjectsLocation::is_object_url(url) => {
            let env = davgate::ProcessEnvironment;
            options.objects = Some(davgate::ObjectsLocation::parse(url, &env)?);
        }
        _ => options.files_root = args.files,
    }
    options.node_id = args.node_id;
    options.tls = args.tls_cert.zip(args.tls_key);
    options.metrics.listen = args.metrics_listen;
    options.metrics.token = args.metrics_token_file.as_deref().map(read_token).transpose()?;
    // Both are range-checked by clap, far below usize::MAX.
    options.dav.max_uploads = usize::try_from(args.max_uploads).unwrap_or(usize::MAX);
    options.dav.max_depth = usize::try_from(args.max_depth).unwrap_or(usize::MAX);
    let seconds = |d: HumanDuration| std::time::Duration::from_secs(d.as_seconds());
    options.limits = davgate::Limits {
        max_connections: args.max_connections as usize,
        max_connections_per_address: args.max_connections_per_ip as usize,
        idle_timeout: seconds(args.idle_timeout),
        body_timeout: seconds(args.body_timeout),
        http2_plain: args.http2_plain,
    };
    #[cfg(feature = "bench")]
    if args.bench_no_auth_cache {
        options.gate.cache_capacity = 0;
    }
    #[cfg(feature = "bench")]
    if let Some(chunk) = args.bench_get_chunk {
        options.dav.get_chunk = Some(chunk);
    }
    #[cfg(feature = "bench")]
    if let Some(budget) = args.bench_mapped_budget {
        dav_server::localfs_mapped::set_mapped_budget(budget);
    }
    #[cfg(feature = "bench")]
    if let Some(user) = args.bench_bypass_gate {
        let user = davgate::UserName::parse(&user).map_err(davgate::StoreError::from)?;
        options.bench_bypass_user = Some(user);
    }
    // File operations block (dav-server's LocalFs runs them in place): capping the threads that
    // may block at once bounds memory under load (each has a stack and a malloc arena), where
    // tokio's default of 512 let a GET flood grow the process past 90 MiB.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .map_err(|e| Error::io("starting the runtime", e))?;
    runtime.block_on(async move {
        let bucket = options.objects.as_ref().map(|o| o.display());
        let server = Server::start(options).await?;
        let base = format!("{}://{}", server.scheme(), server.local_addr());
        let mut text = format!("davgate {} serving {}\n", env!("CARGO_PKG_VERSION"), data.display());
        match &args.public_url {
            Some(url) => {
                let url = url.trim_end_matches('/');
                text += &format!("  WebDAV:  {url}/dav/\n  public:  {url}/\n  listening on {base}\n");
            }
            None => text += &format!("  WebDAV:  {base}/dav/\n  listening on {base}\n"),
        }
        let files = bucket.unwrap_or_else(|| server.files_root().display().to_string());
        text += &format!("  node:    {}\n  files:   {files}\n", server.node_id());
        if let Some(addr) = server.metrics_addr() {
            text += &format!("  metrics: http://{addr}/metrics\n");
        }
        if let Some((name, password)) = server.first_admin() {
            text += &format!(
                "\nFirst start: created the admin account.\n  user:     {name}\n  password: {}\n\
                 This password is shown once. It is the account's own password: it does not open WebDAV.\n",
                password.expose()
            );
        }
        text += &format!(
            "\nTo mount your files, sign in at {base}/ and add an app password under \
             \"App passwords\",\nor create one in another terminal:\n  \
             davgate --data {} app-password create admin \"My laptop\"\n\
             then connect to {base}/dav/ with the user name and that app password.\n",
            shell_quote(&data.display().to_string())
        );
        print(&text);
        tokio::spawn(reload_on_hangup(server.tls_reload()));
        server.run(shutdown_signal()).await;
        eprintln!("davgate: stopped");
        Ok(())
    })
}

/// Threads that may block on file I/O at once (see `serve`).
const MAX_BLOCKING_THREADS: usize = 32;

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn parse_proxies(text: &str) -> Result<davgate::TrustedProxies, davgate::BadNetwork> {
    text.parse()
}

fn parse_public_url(text: &str) -> Result<String, davgate::BadPublicUrl> {
    davgate::PublicPrefix::of_url(text).map(|_| text.to_string())
}

fn parse_log_format(text: &str) -> Result<davgate::LogFormat, davgate::BadLogFormat> {
    text.parse()
}

fn init_logging(format: davgate::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,dav_server=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // One object per line, every field at the top level (`message` for prose lines).
        davgate::LogFormat::Json => builder.json().flatten_event(true).init(),
        davgate::LogFormat::Text => {
            // Colours only on a terminal: `docker logs`, journald and fail2ban read plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).init()
        }
    }
}

/// The metrics token: the file's first line, which must not be empty.
fn read_token(file: &std::path::Path) -> Result<davgate::Secret, Error> {
    let context = || format!("cannot read the metrics token file {}", file.display());
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(context(), e))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        let empty = std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty");
        return Err(Error::io(context(), empty));
    }
    Ok(davgate::Secret::new(token.to_string()))
}

/// On each SIGHUP, reads the TLS certificate and key again (a plain-HTTP server has none and
/// says so). SIGHUP no longer ends the server: `systemctl reload` and certbot's deploy hooks
/// send it to have a renewed certificate served without dropping a connection.
async fn reload_on_hangup(tls: Option<davgate::TlsReload>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else { return };
    while hangup.recv().await.is_some() {
        match &tls {
            // The outcome is logged by the reload itself.
            Some(tls) => drop(tls.reload().await),
            None => tracing::info!("SIGHUP: no TLS certificate to reload (serving plain HTTP)"),
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    eprintln!("davgate: shutting down (waiting for requests in progress)");
}
