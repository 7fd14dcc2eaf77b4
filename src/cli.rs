//! Command-line interface: `serve`, `user`, `app-password`, `settings`.

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use davgate::admin::{self, AppPasswordView, Reply, Request, UserView};
use davgate::duration::HumanDuration;
use davgate::size::HumanSize;
use davgate::{Error, Server, ServerOptions};

/// davgate: a WebDAV server for people whose accounts have a second factor.
///
/// WebDAV clients (Windows Explorer, macOS Finder, rclone, davfs2, cadaver) speak only HTTP
/// Basic auth, so each application gets its own app password. Only app passwords open
/// /dav/; the account's own password never does.
#[derive(Debug, Parser)]
#[command(name = "davgate", version, propagate_version = true)]
pub struct Cli {
    /// Data directory: the store (davgate.redb) and each user's files (files/<user>/).
    #[arg(
        long,
        global = true,
        env = "DAVGATE_DATA",
        default_value = "./storage",
        value_name = "DIR"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: WebDAV under /dav/, the profile and admin pages and the JSON API at / (creates an 'admin' account on first start).
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage app passwords: one per application, shown once, expiring.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCommand),
    /// Show or change server settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Show what the running server is doing (verifications, cache, throttled clients).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on (use 0.0.0.0:8080 to accept other machines).
    #[arg(long, env = "DAVGATE_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// PEM certificate chain: serve HTTPS (Windows Explorer needs it for Basic auth).
    #[arg(long, env = "DAVGATE_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "DAVGATE_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Uploads (PUT, COPY) in flight at once, server-wide; more are answered 503 (each holds
    /// a temporary file open).
    #[arg(long, env = "DAVGATE_MAX_UPLOADS", value_name = "N", default_value_t = davgate::dav::limits::DEFAULT_MAX_UPLOADS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_uploads: u64,
    /// Most levels of folders below /dav/ for anything created, copied or moved (deeper: 403).
    #[arg(long, env = "DAVGATE_MAX_DEPTH", value_name = "N", default_value_t = davgate::dav::limits::DEFAULT_MAX_DEPTH as u64, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    max_depth: u64,
    /// Connections open at once, in all; when full, the connection idle the longest is closed
    /// to make room (lowered to fit the file descriptor limit).
    #[arg(long, env = "DAVGATE_MAX_CONNECTIONS", default_value_t = 4096, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Connections open at once from one IPv4 address or IPv6 /64 (raise it behind a reverse
    /// proxy or for an office behind one NAT address).
    #[arg(long, env = "DAVGATE_MAX_CONNECTIONS_PER_IP", default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// Close a connection with no request in progress after this long (e.g. 30s, 2m).
    #[arg(long, env = "DAVGATE_IDLE_TIMEOUT", default_value = "30s", value_name = "DURATION")]
    idle_timeout: HumanDuration,
    /// End a request whose body sends nothing for this long (408), and a connection whose
    /// client reads nothing of a response for this long.
    #[arg(long, env = "DAVGATE_BODY_TIMEOUT", default_value = "30s", value_name = "DURATION")]
    body_timeout: HumanDuration,
    /// Also serve HTTP/2 with prior knowledge (h2c) on a plain-HTTP listener (HTTPS always
    /// offers HTTP/2).
    #[arg(long, env = "DAVGATE_HTTP2_PLAIN")]
    http2_plain: bool,
    /// Benchmark only: verify with argon2 on every request (no credential cache).
    #[cfg(feature = "bench")]
    #[arg(long, hide = true)]
    bench_no_auth_cache: bool,
    /// Benchmark only: serve USER's home to every request, with no authentication at all.
    #[cfg(feature = "bench")]
    #[arg(long, hide = true, value_name = "USER")]
    bench_bypass_gate: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; prints its generated password once (unless --password-stdin).
    Add {
        /// Account name: 1-64 of a-z 0-9 . _ - (not starting with a dot).
        name: String,
        /// Make it an admin.
        #[arg(long)]
        admin: bool,
        /// Read the primary password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its app passwords stop working at once.
    Disable {
        /// Account name.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Account name.
        name: String,
    },
    /// Remove an account and its app passwords (its files stay on disk).
    Remove {
        /// Account name.
        name: String,
    },
    /// Limit how much a user's home may hold (e.g. 10G, 500M), or lift the limit with `none`.
    Quota {
        /// Account name.
        name: String,
        /// Size with a unit K, M, G or T (binary: 1K = 1024 bytes), or `none`.
        size: String,
    },
    /// Remove a user's second factor (a lost phone): the web login then asks for the password
    /// alone until they enrol again from their profile.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// Account name.
        name: String,
    },
    /// Set a new primary password (generated and printed once, unless --password-stdin).
    Passwd {
        /// Account name.
        name: String,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AppPasswordCommand {
    /// Create an app password for USER named NAME; prints the password once.
    Create {
        /// Owner.
        user: String,
        /// What it is for, e.g. "Office laptop drive".
        name: String,
        /// Print {"id","name","password","expires_at"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List active app passwords, of USER or of everyone.
    List {
        /// Only this user's.
        user: Option<String>,
        /// Include revoked and expired ones.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one app password of USER by ID, or all of them with --all.
    Revoke {
        /// Owner.
        user: String,
        /// The id shown by 'app-password list'.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Revoke every active app password of USER.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    /// Show all settings, or the value of one.
    Get {
        /// A setting name, e.g. app_credentials_ttl.
        key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a setting, e.g. `settings set app_credentials_ttl 30d` (units d, h, m, s).
    Set {
        /// Setting name.
        key: String,
        /// New value.
        value: String,
    },
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), Error> {
    let data = cli.data;
    match cli.command {
        Command::Serve(args) => serve(data, args),
        Command::User(cmd) => user(&data, cmd),
        Command::AppPassword(cmd) => app_password(&data, cmd),
        Command::Settings(cmd) => settings(&data, cmd),
        Command::Status { json } => status(&data, json),
    }
}

fn serve(data: PathBuf, args: ServeArgs) -> Result<(), Error> {
    init_logging();
    let mut options = ServerOptions::new(data.clone());
    options.listen = args.listen;
    options.tls = args.tls_cert.zip(args.tls_key);
    // Both are range-checked by clap, far below usize::MAX.
    options.dav.max_uploads = usize::try_from(args.max_uploads).unwrap_or(usize::MAX);
    options.dav.max_depth = usize::try_from(args.max_depth).unwrap_or(usize::MAX);
    let seconds = |d: HumanDuration| std::time::Duration::from_secs(d.as_seconds());
    options.limits = davgate::http::Limits {
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
    if let Some(user) = args.bench_bypass_gate {
        let user = davgate::store::UserName::parse(&user).map_err(davgate::store::Error::from)?;
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
        let server = Server::start(options).await?;
        let base = format!("{}://{}", server.scheme(), server.local_addr());
        let mut text = format!("davgate {} serving {}\n", env!("CARGO_PKG_VERSION"), data.display());
        text += &format!("  WebDAV:  {base}/dav/\n  listening on {base}\n");
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
        server.run(shutdown_signal()).await;
        eprintln!("davgate: stopped");
        Ok(())
    })
}

/// Threads that may block on file I/O at once (see `serve`).
const MAX_BLOCKING_THREADS: usize = 32;

fn user(data: &std::path::Path, cmd: UserCommand) -> Result<(), Error> {
    match cmd {
        UserCommand::Add { name, admin, password_stdin, json } => {
            let password = password_stdin.then(read_password).transpose()?;
            let Reply::UserCreated { user, generated_password } =
                admin::run(data, Request::UserAdd { name, admin, password })?
            else {
                return Ok(());
            };
            if json {
                let value = serde_json::json!({
                    "name": user.name, "role": user.role, "password": generated_password,
                });
                print(&format!("{value}\n"));
            } else {
                let mut text = format!("Created {} '{}'.\n", user.role, user.name);
                if let Some(p) = generated_password {
                    text += &format!("Password (shown once): {p}\n");
                }
                print(&text);
            }
        }
        UserCommand::List { json } => {
            if let Reply::Users { users } = admin::run(data, Request::UserList)? {
                print(&if json { to_json(&users) } else { users_table(&users) });
            }
        }
        UserCommand::Disable { name } => set_disabled(data, name, true)?,
        UserCommand::Quota { name, size } => set_quota(data, name, &size)?,
        UserCommand::Enable { name } => set_disabled(data, name, false)?,
        UserCommand::ResetTwoFactor { name } => {
            if let Reply::User { user } = admin::run(data, Request::UserResetTotp { name })? {
                print(&format!(
                    "Removed the second factor of '{}': the web login asks for the password alone                      until they enrol again.\n",
                    user.name
                ));
            }
        }
        UserCommand::Remove { name } => {
            if let Reply::UserRemoved { name, app_passwords_removed, files_moved_to } =
                admin::run(data, Request::UserRemove { name })?
            {
                let files = match files_moved_to {
                    Some(path) => format!(
                        "Their files are kept in {path}: nothing serves them there, and a new \
                         account named '{name}' starts empty. Delete that folder when the files \
                         are no longer needed."
                    ),
                    None => "They had no files.".to_string(),
                };
                print(&format!(
                    "Removed user '{name}' and {app_passwords_removed} app password(s). {files}\n"
                ));
            }
        }
        UserCommand::Passwd { name, password_stdin } => {
            let password = password_stdin.then(read_password).transpose()?;
            if let Reply::PasswordChanged { name, generated_password } =
                admin::run(data, Request::UserPasswd { name, password })?
            {
                let mut text = format!("Changed the password of '{name}'.\n");
                if let Some(p) = generated_password {
                    text += &format!("New password (shown once): {p}\n");
                }
                print(&text);
            }
        }
    }
    Ok(())
}

fn status(data: &std::path::Path, json: bool) -> Result<(), Error> {
    if let Reply::Status(s) = admin::run(data, Request::Status)? {
        if json {
            print(&to_json(&s));
        } else {
            let up = chrono::Utc::now() - s.started_at;
            print(&format!(
                "davgate {} serving {} since {} (up {}h{:02}m)\n\
                 argon2 verifications:        {}\n\
                 verified credentials cached: {}\n\
                 (network, user) pairs with recent failures: {}\n\
                 networks that spent part of their argon2 budget: {}\n",
                s.version,
                data.display(),
                human_time(s.started_at),
                up.num_hours(),
                up.num_minutes() % 60,
                s.gate.argon2_verifications,
                s.gate.cached_credentials,
                s.gate.throttled_keys,
                s.gate.budget_networks
            ));
        }
    }
    Ok(())
}

fn set_quota(data: &std::path::Path, name: String, size: &str) -> Result<(), Error> {
    let quota_bytes = match size.trim().to_ascii_lowercase().as_str() {
        "none" | "off" | "unlimited" => None,
        _ => Some(size.parse::<HumanSize>().map_err(admin::Error::from)?.0),
    };
    if let Reply::User { user } = admin::run(data, Request::UserQuota { name, quota_bytes })? {
        let limit =
            user.quota_bytes.map_or_else(|| "no limit".into(), |q| HumanSize(q).to_string());
        print(&format!("Quota of '{}': {limit}.\n", user.name));
    }
    Ok(())
}

fn set_disabled(data: &std::path::Path, name: String, disabled: bool) -> Result<(), Error> {
    if let Reply::User { user } = admin::run(data, Request::UserSetDisabled { name, disabled })? {
        let what = if disabled { "Disabled" } else { "Enabled" };
        let note =
            if disabled { " Its app passwords are refused until it is enabled again." } else { "" };
        print(&format!("{what} '{}'.{note}\n", user.name));
    }
    Ok(())
}

fn app_password(data: &std::path::Path, cmd: AppPasswordCommand) -> Result<(), Error> {
    match cmd {
        AppPasswordCommand::Create { user, name, json } => {
            if let Reply::AppPasswordCreated(created) =
                admin::run(data, Request::AppPasswordCreate { user, name })?
            {
                if json {
                    let value = serde_json::json!({
                        "id": created.id, "name": created.name,
                        "password": created.password, "expires_at": created.expires_at,
                    });
                    print(&format!("{value}\n"));
                } else {
                    print(&format!(
                        "Created app password '{}' for {} (id {}), valid until {}.\n\
                         Password (shown once; it cannot be shown again):\n\n    {}\n\n\
                         Sign in to /dav/ with the user name '{}' and this password.\n",
                        created.name,
                        created.user,
                        created.id,
                        human_time(created.expires_at),
                        created.password,
                        created.user
                    ));
                }
            }
        }
        AppPasswordCommand::List { user, all, json } => {
            if let Reply::AppPasswords { app_passwords } =
                admin::run(data, Request::AppPasswordList { user, all })?
            {
                print(&if json {
                    to_json(&app_passwords)
                } else {
                    app_passwords_table(&app_passwords, all)
                });
            }
        }
        AppPasswordCommand::Revoke { user, id, all } => {
            let request = match (id, all) {
                (Some(id), false) => Request::AppPasswordRevoke { user: user.clone(), id },
                _ => Request::AppPasswordRevokeAll { user: user.clone() },
            };
            if let Reply::Revoked { count } = admin::run(data, request)? {
                print(&format!("Revoked {count} app password(s) of '{user}'.\n"));
            }
        }
    }
    Ok(())
}

fn settings(data: &std::path::Path, cmd: SettingsCommand) -> Result<(), Error> {
    let (request, only, json) = match cmd {
        SettingsCommand::Get { key, json } => (Request::SettingsGet, key, json),
        SettingsCommand::Set { key, value } => {
            (Request::SettingsSet { key: key.clone(), value }, Some(key), false)
        }
    };
    let Reply::Settings { settings } = admin::run(data, request)? else {
        return Ok(());
    };
    if let Some(key) = only {
        let key = key.trim();
        match settings.iter().find(|(k, _)| k == key) {
            Some((k, v)) if json => print(&format!("{}\n", serde_json::json!({ k: v }))),
            Some((_, v)) => print(&format!("{v}\n")),
            None => {
                let known: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
                let reason =
                    format!("unknown setting '{key}'; known settings: {}", known.join(", "));
                return Err(admin::Error::Remote(reason).into());
            }
        }
    } else if json {
        let map: serde_json::Map<String, serde_json::Value> =
            settings.into_iter().map(|(k, v)| (k, v.into())).collect();
        print(&format!("{}\n", serde_json::Value::Object(map)));
    } else {
        print(&settings.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>());
    }
    Ok(())
}

fn users_table(users: &[UserView]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let status = if u.disabled { "disabled" } else { "enabled" };
            vec![
                u.name.clone(),
                u.role.clone(),
                status.into(),
                u.quota_bytes.map_or_else(|| "none".into(), |q| HumanSize(q).to_string()),
                human_time(u.created_at),
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "STATUS", "QUOTA", "CREATED"], &rows)
}

fn app_passwords_table(list: &[AppPasswordView], with_status: bool) -> String {
    if list.is_empty() {
        return "No app password.\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let mut row = vec![
                p.id.clone(),
                p.user.clone(),
                p.name.clone(),
                p.access_method.clone().unwrap_or_else(|| "Not assigned".into()),
                human_time(p.expires_at),
                p.last_used_at.map_or_else(|| "never".into(), human_time),
            ];
            if with_status {
                row.push(p.status.clone());
            }
            row
        })
        .collect();
    let mut headers = vec!["ID", "USER", "NAME", "ACCESS METHOD", "VALID UNTIL", "LAST USED"];
    if with_status {
        headers.push("STATUS");
    }
    table(&headers, &rows)
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).map(|s| s + "\n").unwrap_or_default()
}

/// Reads a password from the first line of standard input (without its line ending).
fn read_password() -> Result<String, Error> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the password from standard input", e))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,dav_server=warn"));
    // Colours only on a terminal: `docker logs`, journald and fail2ban read plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
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
