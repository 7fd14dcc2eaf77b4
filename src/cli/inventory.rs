//! `davgate app-password list --all-users [filters]` and `app-password revoke --all-users
//! [filters] --expect N`: the admin inventory on the command line, through the running server's
//! admin socket or on the store, as the other commands.

use clap::Args;

use super::output::{app_passwords_table, print, to_json};
use super::{CliError, Target};
use davgate::{BulkRevoke, InventoryFilter, inventory_csv};

/// The inventory's filters; every one given must hold.
#[derive(Debug, Args)]
pub(super) struct InventoryArgs {
    /// Only this user's.
    #[arg(long = "user", id = "owner", value_name = "USER", requires = "all_users")]
    owner: Option<String>,
    /// Only those first used by this client ("Windows Explorer", "rclone"; `none`: unused).
    #[arg(long, value_name = "CLIENT", requires = "all_users")]
    access_method: Option<String>,
    /// Only those of this status: active, expired, expired_unused, expired_never_used, revoked.
    #[arg(long, value_name = "STATUS", requires = "all_users")]
    status: Option<String>,
    /// Only those whose scope has all these traits: read_write, read_only, upload_only,
    /// folder, whole_home (comma-separated).
    #[arg(long, value_name = "TRAIT,...", requires = "all_users")]
    scope: Option<String>,
    /// Only those last used before DATE (2026-03-01, an RFC 3339 time, or 90d for 90 days ago).
    #[arg(long, value_name = "DATE", requires = "all_users")]
    used_before: Option<String>,
    /// Only those never used.
    #[arg(long, requires = "all_users")]
    never_used: bool,
    /// Only those created before DATE (as --used-before).
    #[arg(long, value_name = "DATE", requires = "all_users")]
    created_before: Option<String>,
}

impl InventoryArgs {
    fn filter(&self) -> Result<InventoryFilter, CliError> {
        let now = chrono::Utc::now();
        let date = |field: &'static str, text: &Option<String>| {
            text.as_deref().map(|t| InventoryFilter::parse_date(field, t, now)).transpose()
        };
        Ok(InventoryFilter {
            user: self.owner.as_deref().map(InventoryFilter::parse_user).transpose()?,
            access_method: self.access_method.clone(),
            status: self.status.as_deref().map(InventoryFilter::parse_status).transpose()?,
            scope: match &self.scope {
                Some(s) => InventoryFilter::parse_scope(s)?,
                None => Vec::new(),
            },
            used_before: date("--used-before", &self.used_before)?,
            never_used: self.never_used,
            created_before: date("--created-before", &self.created_before)?,
        })
    }
}

/// How the listing is printed.
pub(super) enum Format {
    Table,
    Json,
    Csv,
}

/// Prints every password the filters hold, everyone's.
pub(super) async fn list(
    data: &Target,
    args: &InventoryArgs,
    format: Format,
) -> Result<(), CliError> {
    let filter = args.filter()?;
    let inventory = data.client().await?.inventory(&filter, 0, usize::MAX).await?;
    print(&match format {
        Format::Json => to_json(&inventory.app_passwords)?,
        Format::Csv => inventory_csv(&inventory.app_passwords),
        Format::Table => app_passwords_table(&inventory.app_passwords, true),
    });
    Ok(())
}

/// Revokes what the filters hold if it is `expect` passwords not revoked yet; else nothing.
pub(super) async fn revoke(
    data: &Target,
    args: &InventoryArgs,
    expect: usize,
) -> Result<(), CliError> {
    let filter = args.filter()?;
    match data.client().await?.bulk_revoke(&filter, expect).await? {
        BulkRevoke::Revoked { count } => {
            print(&format!("Revoked {count} app password(s).\n"));
            Ok(())
        }
        BulkRevoke::CountDiffers { expected, actual } => {
            Err(CliError::CountDiffers { expected, actual })
        }
    }
}
