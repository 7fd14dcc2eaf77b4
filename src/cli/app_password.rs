//! `davgate app-password ...`: one password per application, shown once, expiring.

use clap::Subcommand;

use super::output::{app_passwords_table, human_time, print, to_json};
use super::{CliError, user_name};
use davgate::{AppPasswordId, AppPasswordName};
use davgate::{Include, OpError};

/// What `davgate app-password` does.
#[derive(Debug, Subcommand)]
pub(super) enum AppPasswordCommand {
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

/// Runs one `app-password` command on the store and data directory `data`.
pub(super) async fn run(data: &super::Target, cmd: AppPasswordCommand) -> Result<(), CliError> {
    match cmd {
        AppPasswordCommand::Create { user, name, json } => {
            let owner = user_name(&user)?;
            let name = AppPasswordName::parse(&name).map_err(OpError::from)?;
            let created = data.client().await?.create_app_password(&owner, &name).await?;
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
                    created.password.expose(),
                    created.user
                ));
            }
        }
        AppPasswordCommand::List { user, all, json } => {
            let owner = user.as_deref().map(user_name).transpose()?;
            let include = if all { Include::All } else { Include::Active };
            let client = data.client().await?;
            let list = client.app_passwords(owner.as_ref(), include).await?;
            print(&if json { to_json(&list)? } else { app_passwords_table(&list, all) });
        }
        AppPasswordCommand::Revoke { user, id, all } => {
            let owner = user_name(&user)?;
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
