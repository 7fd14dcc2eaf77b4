//! `davgate oidc ...`: the company identity providers (OpenID Connect) accounts sign in with.

use clap::Subcommand;
use std::path::PathBuf;

use super::output::{print, to_json};
use super::{CliError, read_password};
use davgate::{ProviderId, ProviderInput, ProviderView};

/// What `davgate oidc` does.
#[derive(Debug, Subcommand)]
pub(super) enum OidcCommand {
    /// Add an identity provider (or replace the one with this id). Redirect URI to register at
    /// the provider: <public-url>/auth/oidc/callback.
    Add(Box<AddArgs>),
    /// List the identity providers (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an identity provider; accounts linked through it can no longer sign in with it.
    Remove {
        /// Provider id.
        id: String,
    },
    /// Run the refresh-token check now: accounts the provider refuses (invalid_grant) are
    /// disabled; an unreachable provider disables nobody.
    Recheck,
    /// Run discovery and fetch the signing keys of a provider; print its endpoints.
    Check {
        /// Provider id.
        id: String,
    },
}

/// `oidc add`'s options.
#[derive(Debug, clap::Args)]
pub(super) struct AddArgs {
    /// Provider id: 1-32 of a-z 0-9 - (it appears in /auth/oidc/login?provider=ID).
    id: String,
    /// Issuer URL: https (http only on loopback); for Entra ID the tenant's own issuer.
    #[arg(long)]
    issuer: String,
    /// Client id registered at the provider.
    #[arg(long)]
    client_id: String,
    /// Read the client secret from the first line of standard input.
    #[arg(
        long,
        conflicts_with = "client_secret_file",
        required_unless_present = "client_secret_file"
    )]
    client_secret_stdin: bool,
    /// A file holding the client secret, read at each use (never stored).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Text of the "Sign in with …" link (default: the id).
    #[arg(long)]
    name: Option<String>,
    /// Scopes, comma-separated (default: openid,email,profile).
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// Claim a provisioned account's name comes from (default: preferred_username).
    #[arg(long)]
    username_claim: Option<String>,
    /// Claim holding the groups (default: groups).
    #[arg(long)]
    groups_claim: Option<String>,
    /// E-mail domains accepted, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    allowed_domains: Vec<String>,
    /// Groups of which a member must be in one, comma-separated (default: none needed).
    #[arg(long, value_delimiter = ',')]
    allowed_groups: Vec<String>,
    /// Groups whose members are admins, recomputed at each sign-in, comma-separated.
    #[arg(long, value_delimiter = ',')]
    admin_groups: Vec<String>,
    /// Create an account at the first sign-in of an unknown identity with a verified e-mail.
    #[arg(long)]
    auto_provision: bool,
    /// Count Entra ID's `xms_edov` (the e-mail's domain is verified) as a verified e-mail.
    #[arg(long)]
    trust_xms_edov: bool,
    /// Keep a refresh token and check it periodically: a refusal disables the account.
    #[arg(long)]
    refresh_check: bool,
}

/// Runs one `oidc` command.
pub(super) async fn run(data: &super::Target, cmd: OidcCommand) -> Result<(), CliError> {
    match cmd {
        OidcCommand::Add(args) => {
            let input = input(*args)?;
            let view = data.client().await?.add_provider(input).await?;
            print(&format!(
                "Added identity provider '{}' ({}), issuer {}.\n",
                view.id, view.display_name, view.issuer
            ));
        }
        OidcCommand::List { json } => {
            let list = data.client().await?.providers().await?;
            print(&if json { to_json(&list)? } else { table(&list) });
        }
        OidcCommand::Remove { id } => {
            let id = ProviderId::parse(&id).map_err(davgate::OpError::from)?;
            data.client().await?.remove_provider(&id).await?;
            print(&format!("Removed identity provider '{id}'.\n"));
        }
        OidcCommand::Recheck => {
            let done = data.client().await?.recheck_sso().await?;
            let mut text = format!(
                "Refresh check: {} accepted, {} disabled, {} not checked.\n",
                done.accepted,
                done.disabled.len(),
                done.unchecked
            );
            for name in &done.disabled {
                text += &format!("Disabled '{name}': its identity provider refused it.\n");
            }
            print(&text);
        }
        OidcCommand::Check { id } => {
            let id = ProviderId::parse(&id).map_err(davgate::OpError::from)?;
            let list = data.client().await?.providers().await?;
            let Some(p) = list.iter().find(|p| p.id == id.as_str()) else {
                let message = format!("no identity provider with the id '{id}'");
                return Err(davgate::OpError::UnknownProvider(message).into());
            };
            let http = davgate::oidc::http::client().map_err(CliError::Oidc)?;
            let found = davgate::oidc::discovery::discover(&p.issuer, &http, chrono::Utc::now())
                .await
                .map_err(|e| CliError::Discovery(Box::new(e)))?;
            let mut text = format!("Discovery of '{id}' succeeded.\n");
            for (name, value) in davgate::oidc::discovery::endpoints(&found) {
                text += &format!("{name}: {value}\n");
            }
            print(&text);
        }
    }
    Ok(())
}

fn input(a: AddArgs) -> Result<ProviderInput, CliError> {
    let client_secret = if a.client_secret_stdin { Some(read_password()?) } else { None };
    let client_secret_file = a
        .client_secret_file
        .map(|f| {
            std::path::absolute(&f)
                .map_err(|source| CliError::Io { context: "resolving the secret file", source })
        })
        .transpose()?;
    Ok(ProviderInput {
        id: a.id,
        display_name: a.name,
        issuer: a.issuer,
        client_id: a.client_id,
        client_secret,
        client_secret_file,
        scopes: a.scopes,
        username_claim: a.username_claim,
        groups_claim: a.groups_claim,
        allowed_domains: a.allowed_domains,
        allowed_groups: a.allowed_groups,
        admin_groups: a.admin_groups,
        auto_provision: a.auto_provision,
        trust_xms_edov: a.trust_xms_edov,
        refresh_check: a.refresh_check,
        enabled: None,
    })
}

fn table(list: &[ProviderView]) -> String {
    if list.is_empty() {
        return "No identity provider.\n".into();
    }
    let mut out = String::new();
    for p in list {
        let mut flags = Vec::new();
        if p.auto_provision {
            flags.push("auto-provision");
        }
        if p.refresh_check {
            flags.push("refresh-check");
        }
        if p.trust_xms_edov {
            flags.push("trust-xms-edov");
        }
        out += &format!(
            "{}  {}  issuer={}  client_id={}  secret={}  scopes={}",
            p.id,
            p.display_name,
            p.issuer,
            p.client_id,
            p.client_secret,
            p.scopes.join(",")
        );
        for (key, list) in [
            ("allowed_domains", &p.allowed_domains),
            ("allowed_groups", &p.allowed_groups),
            ("admin_groups", &p.admin_groups),
        ] {
            if !list.is_empty() {
                out += &format!("  {key}={}", list.join(","));
            }
        }
        if !flags.is_empty() {
            out += &format!("  {}", flags.join(" "));
        }
        out += "\n";
    }
    out
}
