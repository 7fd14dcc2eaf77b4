//! `davgate app-password ...`: one password per application, shown once, expiring.

use clap::Subcommand;

use super::inventory::{self, Format, InventoryArgs};
use super::output::{app_passwords_table, human_time, print, to_json};
use super::{CliError, user_name};
use davgate::{Access, AppPasswordId, AppPasswordName, DurationError, Scope, ScopeFolder};
use davgate::{AppPasswordSpec, Include, OpError};

/// What `davgate app-password` does.
#[derive(Debug, Subcommand)]
pub(super) enum AppPasswordCommand {
    /// Create an app password for USER named NAME; prints the password once. Its scope
    /// (--read-only, --upload-only, --folder, --allow-from) is fixed for its life.
    Create {
        /// Owner.
        user: String,
        /// What it is for, e.g. "Office laptop drive".
        name: String,
        /// Lifetime: a duration such as 30d or 12h, `never` (only where
        /// app_credentials_max_ttl is none), or `default` (app_credentials_ttl).
        #[arg(long, default_value = "default", value_name = "DURATION|never")]
        expires: String,
        /// Only GET, HEAD, OPTIONS and PROPFIND: nothing can be changed with it.
        #[arg(long, conflicts_with = "upload_only")]
        read_only: bool,
        /// Only PUT of new files and MKCOL: no reading back, no overwrite, no delete.
        #[arg(long)]
        upload_only: bool,
        /// Serve only this folder of the home as the password's /dav/, e.g. /Projects.
        #[arg(long, value_name = "/FOLDER")]
        folder: Option<String>,
        /// Accept it only from these networks, e.g. 10.0.0.0/8,2001:db8::/48.
        #[arg(long, value_name = "CIDR,...")]
        allow_from: Option<String>,
        /// Print {"id","name","password","expires_at","scope"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List active app passwords, of USER or of everyone; with --all-users, the admin
    /// inventory: every password of every user (revoked and expired ones too) that the
    /// filters hold.
    List {
        /// Only this user's.
        #[arg(conflicts_with = "all_users")]
        user: Option<String>,
        /// Include revoked and expired ones.
        #[arg(long)]
        all: bool,
        /// The inventory across all users, filtered by the options below.
        #[arg(long)]
        all_users: bool,
        #[command(flatten)]
        filters: InventoryArgs,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV (with --all-users): a header line, then one line per password.
        #[arg(long, requires = "all_users")]
        csv: bool,
    },
    /// Rename app password ID of USER to NAME (only its name: create a new one to change its
    /// scope or expiry).
    Rename {
        /// Owner.
        user: String,
        /// The id shown by 'app-password list'.
        id: String,
        /// The new name.
        name: String,
    },
    /// Revoke one app password of USER by ID, or all of them with --all; with --all-users,
    /// every password of every user that the filters hold, if --expect says how many.
    Revoke {
        /// Owner.
        #[arg(required_unless_present = "all_users", conflicts_with = "all_users")]
        user: Option<String>,
        /// The id shown by 'app-password list'.
        #[arg(required_unless_present_any = ["all", "all_users"], conflicts_with = "all")]
        id: Option<String>,
        /// Revoke every active app password of USER.
        #[arg(long)]
        all: bool,
        /// Revoke what the filters hold across all users (as 'list --all-users' shows it).
        #[arg(long, requires = "expect")]
        all_users: bool,
        #[command(flatten)]
        filters: InventoryArgs,
        /// How many passwords not yet revoked the filters hold: if they hold another number,
        /// nothing is revoked.
        #[arg(long, value_name = "N", requires = "all_users")]
        expect: Option<usize>,
    },
}

/// "Connect your application" as the CLI prints it: the URL is `--public-url`'s, which the CLI
/// knows only from the environment or the config file; without it, a placeholder to replace.
fn connect_text(public_url: Option<&str>, user: &str, password: &str) -> String {
    let url = davgate::dav_url(public_url.unwrap_or("https://YOUR-SERVER"));
    let mut text = String::from("\nConnect your application:\n");
    for line in davgate::connect_lines(&url, user, password) {
        text += &format!("\n  {}:\n    {}\n", client_label(line.client), line.text);
    }
    if public_url.is_none() {
        text += "\n(Replace YOUR-SERVER with the address users reach davgate at; set --public-url \
                 to have it filled in.)\n";
    }
    text
}

/// Which application a connection line is for, as the CLI (in English) names it.
fn client_label(client: davgate::ConnectClient) -> &'static str {
    match client {
        davgate::ConnectClient::Windows => "Windows (command prompt)",
        davgate::ConnectClient::Finder => "macOS Finder (Go > Connect to Server)",
        davgate::ConnectClient::Rclone => "rclone",
        davgate::ConnectClient::Davfs2 => "Linux davfs2, a line of /etc/davfs2/secrets",
        davgate::ConnectClient::Cadaver => "cadaver, a line of ~/.netrc",
    }
}

/// Runs one `app-password` command on the store and data directory `data`; `public_url` is the
/// server's `--public-url`, if configured (the connection lines of `create` name it).
pub(super) async fn run(
    data: &super::Target,
    cmd: AppPasswordCommand,
    public_url: Option<&str>,
) -> Result<(), CliError> {
    match cmd {
        AppPasswordCommand::Create {
            user,
            name,
            expires,
            read_only,
            upload_only,
            folder,
            allow_from,
            json,
        } => {
            let owner = user_name(&user)?;
            let access = match (read_only, upload_only) {
                (true, _) => Access::ReadOnly,
                (_, true) => Access::UploadOnly,
                _ => Access::ReadWrite,
            };
            let spec = AppPasswordSpec {
                name: AppPasswordName::parse(&name).map_err(OpError::from)?,
                lifetime: expires.parse().map_err(|e: DurationError| {
                    OpError::InvalidLifetime(format!("--expires: {e}"))
                })?,
                scope: Scope {
                    access,
                    folder: folder
                        .as_deref()
                        .map(ScopeFolder::parse)
                        .transpose()
                        .map_err(OpError::from)?
                        .flatten(),
                    allow_from: allow_from
                        .as_deref()
                        .map(Scope::parse_networks)
                        .transpose()
                        .map_err(OpError::from)?
                        .unwrap_or_default(),
                },
            };
            let created = data.client().await?.create_app_password(&owner, &spec).await?;
            if json {
                let value = serde_json::json!({
                    "id": created.id, "name": created.name,
                    "password": created.password, "expires_at": created.expires_at,
                    "scope": created.scope,
                });
                print(&format!("{value}\n"));
            } else {
                let until = created.expires_at.map_or_else(
                    || "with no expiry".into(),
                    |at| format!("valid until {}", human_time(at)),
                );
                print(&format!(
                    "Created app password '{}' for {} (id {}), {until}.\n\
                     Password (shown once; it cannot be shown again):\n\n    {}\n\n\
                     Sign in to /dav/ with the user name '{}' and this password.\n",
                    created.name,
                    created.user,
                    created.id,
                    created.password.expose(),
                    created.user
                ));
                print(&connect_text(public_url, &created.user, created.password.expose()));
            }
        }
        AppPasswordCommand::List { all_users: true, filters, json, csv, .. } => {
            let format = match (json, csv) {
                (true, _) => Format::Json,
                (_, true) => Format::Csv,
                _ => Format::Table,
            };
            inventory::list(data, &filters, format).await?;
        }
        AppPasswordCommand::List { user, all, json, .. } => {
            let owner = user.as_deref().map(user_name).transpose()?;
            let include = if all { Include::All } else { Include::Active };
            let client = data.client().await?;
            let list = client.app_passwords(owner.as_ref(), include).await?;
            print(&if json { to_json(&list)? } else { app_passwords_table(&list, all) });
        }
        AppPasswordCommand::Rename { user, id, name } => {
            let owner = user_name(&user)?;
            let id = AppPasswordId::parse(&id).map_err(OpError::from)?;
            let name = AppPasswordName::parse(&name).map_err(OpError::from)?;
            let renamed = data.client().await?.rename_app_password(&owner, &id, &name).await?;
            print(&format!(
                "Renamed app password {} of '{owner}' to '{}'.\n",
                renamed.id, renamed.name
            ));
        }
        AppPasswordCommand::Revoke { all_users: true, filters, expect, .. } => {
            inventory::revoke(data, &filters, expect.unwrap_or_default()).await?;
        }
        AppPasswordCommand::Revoke { user, id, all, .. } => {
            let owner = user_name(user.as_deref().unwrap_or_default())?;
            let count = match (id, all) {
                (Some(id), false) => {
                    let id = AppPasswordId::parse(&id).map_err(OpError::from)?;
                    data.client().await?.revoke_app_password(&owner, &id).await?;
                    1
                }
                _ => data.client().await?.revoke_all_app_passwords(&owner).await?,
            };
            print(&format!("Revoked {count} app password(s) of '{owner}'.\n"));
        }
    }
    Ok(())
}
