//! `davgate settings ...` and `davgate status`: the server's settings and its live state.

use clap::Subcommand;

use super::CliError;
use super::output::{human_time, print, to_json};
use davgate::SettingKey;
use davgate::{Client, OpError};

/// What `davgate settings` does.
#[derive(Debug, Subcommand)]
pub(super) enum SettingsCommand {
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

/// Runs one `settings` command on the store and data directory `data`.
pub(super) async fn run(data: &super::Target, cmd: SettingsCommand) -> Result<(), CliError> {
    let setting = |key: &str| key.parse::<SettingKey>().map_err(OpError::from);
    let (settings, only, json) = match cmd {
        SettingsCommand::Get { key, json } => {
            let only = key.as_deref().map(setting).transpose()?;
            (data.client().await?.settings().await?, only, json)
        }
        SettingsCommand::Set { key, value } => {
            let key = setting(&key)?;
            (data.client().await?.set_setting(key, &value).await?, Some(key), false)
        }
    };
    match only {
        Some(key) => {
            let value = settings.get(key).ok_or_else(|| {
                OpError::UnexpectedReply(format!("the server did not send the setting '{key}'"))
            })?;
            if json {
                print(&format!("{}\n", serde_json::json!({ key.name(): value })));
            } else {
                print(&format!("{value}\n"));
            }
        }
        None if json => {
            let map: serde_json::Map<String, serde_json::Value> =
                settings.iter().map(|(k, v)| (k.name().to_string(), v.into())).collect();
            print(&format!("{}\n", serde_json::Value::Object(map)));
        }
        None => print(&settings.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>()),
    }
    Ok(())
}

/// `davgate status`: only a running server has one.
pub(super) async fn status(data: &super::Target, json: bool) -> Result<(), CliError> {
    let s = Client::running(&data.dir).await?.status().await?;
    if json {
        print(&to_json(&s)?);
        return Ok(());
    }
    let up = chrono::Utc::now() - s.started_at;
    print(&format!(
        "davgate {} serving {} since {} (up {}h{:02}m)\n\
         argon2 verifications:        {}\n\
         verified credentials cached: {}\n\
         (network, user) pairs with recent failures: {}\n\
         networks that spent part of their argon2 budget: {}\n\
         refused by an app password's address limit: {}\n\
         security e-mails: {}, {} queued, {} sent, {} failed, {} dropped{}\n\
         audit events dropped (queue full): {}\n\
         webhook events sent / failed / dropped: {} / {} / {}\n",
        s.version,
        data.dir.display(),
        human_time(s.started_at),
        up.num_hours(),
        up.num_minutes() % 60,
        s.gate.argon2_verifications,
        s.gate.cached_credentials,
        s.gate.throttled_keys,
        s.gate.budget_networks,
        s.gate.address_refusals,
        if s.mail.enabled { "on" } else { "off (no smtp_url or smtp_from)" },
        s.mail.queued,
        s.mail.sent,
        s.mail.failed,
        s.mail.dropped,
        s.mail.last_error.as_deref().map(|c| format!(", last error: {c}")).unwrap_or_default(),
        s.audit_dropped,
        s.webhook.sent,
        s.webhook.failed,
        s.webhook.dropped
    ));
    Ok(())
}
