//! `davgate user ...`: accounts.

use clap::Subcommand;

use super::output::{print, to_json, users_table};
use super::{CliError, read_password, user_name};
use davgate::HumanSize;
use davgate::NewPassword;
use davgate::Role;
use davgate::{IdentityHint, LoginMethod, OpError, ProviderId};

/// What `davgate user` does.
#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create an account; prints its generated password once (unless --password-stdin).
    Add {
        /// Account name: 1-64 of a-z 0-9 . _ - (not starting with a dot).
        name: String,
        /// Make it an admin.
        #[arg(long)]
        admin: bool,
        /// Read the primary password from the first line of standard input.
        #[arg(long, conflicts_with = "sso")]
        password_stdin: bool,
        /// Sign in only through this identity provider (no password); identify the person with
        /// --email or --subject.
        #[arg(long, value_name = "PROVIDER")]
        sso: Option<String>,
        /// With --sso: link at the first sign-in whose e-mail is this one, verified.
        #[arg(long, requires = "sso", conflicts_with = "subject")]
        email: Option<String>,
        /// With --sso: the provider's subject (`sub`) of the person, linked at once.
        #[arg(long, requires = "sso")]
        subject: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Link an account to the identity SUBJECT at a provider (a password account becomes
    /// `both`: see login-method).
    Link {
        /// Account name.
        name: String,
        /// Provider id.
        provider: String,
        /// The provider's subject (`sub`) of the person.
        #[arg(long)]
        subject: String,
    },
    /// Unlink an account's identity-provider identity.
    Unlink {
        /// Account name.
        name: String,
    },
    /// How an account signs in to the pages: password, sso (the provider only) or both.
    #[command(name = "login-method")]
    LoginMethod {
        /// Account name.
        name: String,
        /// password, sso or both.
        #[arg(value_parser = ["password", "sso", "both"])]
        method: String,
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
        /// Files root the home is moved aside in, when no server runs (default: <data>/files;
        /// a running server uses its own).
        #[arg(long, env = "DAVGATE_FILES", value_name = "DIR")]
        files: Option<std::path::PathBuf>,
    },
    /// Limit how much a user's home may hold (e.g. 10G, 500M), or lift the limit with `none`.
    Quota {
        /// Account name.
        name: String,
        /// Size with a unit K, M, G or T (binary: 1K = 1024 bytes), or `none`.
        size: String,
    },
    /// Set where a user's security e-mails go, or clear it with `none` (then: the address
    /// their identity provider gives, if any).
    Email {
        /// Account name.
        name: String,
        /// An address (alice@example.org), or `none`.
        address: String,
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

/// Runs one `user` command on the store and data directory `data`.
pub(super) async fn run(data: &super::Target, cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Add { name, admin, sso: Some(provider), email, subject, json, .. } => {
            let role = if admin { Role::Admin } else { Role::User };
            let name = user_name(&name)?;
            let provider = ProviderId::parse(&provider).map_err(OpError::from)?;
            let hint = match (email, subject) {
                (Some(e), _) => IdentityHint::Email(e),
                (None, Some(s)) => IdentityHint::Subject(s),
                (None, None) => {
                    let message = "--sso needs --email or --subject".to_string();
                    return Err(OpError::InvalidProvider(message).into());
                }
            };
            let user = data.client().await?.add_sso_user(&name, role, &provider, hint).await?;
            if json {
                print(&to_json(&user)?);
            } else {
                print(&format!(
                    "Created {} '{}', signing in through '{provider}' only.\n",
                    user.role, user.name
                ));
            }
        }
        UserCommand::Link { name, provider, subject } => {
            let name = user_name(&name)?;
            let provider = ProviderId::parse(&provider).map_err(OpError::from)?;
            let user = data.client().await?.link_user(&name, &provider, subject).await?;
            print(&format!(
                "Linked '{}' to its identity at '{provider}' (login method: {}).\n",
                user.name, user.login
            ));
        }
        UserCommand::Unlink { name } => {
            let user = data.client().await?.unlink_user(&user_name(&name)?).await?;
            print(&format!("Unlinked the identity of '{}'.\n", user.name));
        }
        UserCommand::LoginMethod { name, method } => {
            let login = LoginMethod::parse(&method).unwrap_or_default();
            let name = user_name(&name)?;
            let user = data.client().await?.set_login_method(&name, login).await?;
            print(&format!("'{}' now signs in with: {}.\n", user.name, user.login));
        }
        UserCommand::Add { name, admin, password_stdin, json, .. } => {
            let password = new_password(password_stdin)?;
            let role = if admin { Role::Admin } else { Role::User };
            let name = user_name(&name)?;
            let created = data.client().await?.add_user(&name, role, password).await?;
            let (user, password) = (created.user, created.generated_password);
            if json {
                let password = password.as_ref().map(|p| p.expose());
                let value = serde_json::json!({
                    "name": user.name, "role": user.role, "password": password,
                });
                print(&format!("{value}\n"));
            } else {
                let mut text = format!("Created {} '{}'.\n", user.role, user.name);
                if let Some(p) = password {
                    text += &format!("Password (shown once): {}\n", p.expose());
                }
                print(&text);
            }
        }
        UserCommand::List { json } => {
            let users = data.client().await?.users().await?;
            print(&if json { to_json(&users)? } else { users_table(&users) });
        }
        UserCommand::Disable { name } => set_disabled(data, &name, true).await?,
        UserCommand::Enable { name } => set_disabled(data, &name, false).await?,
        UserCommand::Quota { name, size } => set_quota(data, &name, &size).await?,
        UserCommand::Email { name, address } => set_email(data, &name, &address).await?,
        UserCommand::ResetTwoFactor { name } => {
            let user = data.client().await?.reset_totp(&user_name(&name)?).await?;
            print(&reset_totp_done(&user.name));
        }
        UserCommand::Remove { name, files } => {
            let files = files.unwrap_or_else(|| davgate::default_files_root(&data.dir));
            let client = data.client_with_files(&files).await?;
            let removed = client.remove_user(&user_name(&name)?).await?;
            let name = removed.name;
            let files = match removed.files_moved_to {
                Some(path) => format!(
                    "Their files are kept in {path}: nothing serves them there, and a new \
                     account named '{name}' starts empty. Delete that folder when the files \
                     are no longer needed."
                ),
                None => "They had no files.".to_string(),
            };
            print(&format!(
                "Removed user '{name}' and {} app password(s). {files}\n",
                removed.app_passwords_removed
            ));
        }
        UserCommand::Passwd { name, password_stdin } => {
            let password = new_password(password_stdin)?;
            let name = user_name(&name)?;
            let changed = data.client().await?.set_password(&name, password).await?;
            let mut text = format!("Changed the password of '{}'.\n", changed.name);
            if let Some(p) = changed.generated_password {
                text += &format!("New password (shown once): {}\n", p.expose());
            }
            print(&text);
        }
    }
    Ok(())
}

/// The password from standard input under `--password-stdin`, else one davgate draws.
fn new_password(from_stdin: bool) -> Result<NewPassword, CliError> {
    Ok(if from_stdin { NewPassword::Given(read_password()?) } else { NewPassword::Generate })
}

/// What `user reset-2fa` says once it is done.
fn reset_totp_done(name: &str) -> String {
    format!(
        "Removed the second factor of '{name}': the web login asks for the password alone \
         until they enrol again.\n"
    )
}

async fn set_quota(data: &super::Target, name: &str, size: &str) -> Result<(), CliError> {
    let quota_bytes = match size.trim().to_ascii_lowercase().as_str() {
        "none" | "off" | "unlimited" => None,
        _ => Some(size.parse::<HumanSize>()?.0),
    };
    let name = user_name(name)?;
    let user = data.client().await?.set_quota(&name, quota_bytes).await?;
    let limit = user.quota_bytes.map_or_else(|| "no limit".into(), |q| HumanSize(q).to_string());
    print(&format!("Quota of '{}': {limit}.\n", user.name));
    Ok(())
}

async fn set_email(data: &super::Target, name: &str, address: &str) -> Result<(), CliError> {
    let email = match address.trim() {
        a if a.eq_ignore_ascii_case("none") => None,
        a => Some(davgate::EmailAddress::parse(a)?),
    };
    let user = data.client().await?.set_email(&user_name(name)?, email).await?;
    let to = user.mail_to.map_or_else(|| "no address".into(), |a| a.to_string());
    print(&format!(
        "Security e-mails of '{}': {to}.
",
        user.name
    ));
    Ok(())
}

async fn set_disabled(data: &super::Target, name: &str, disabled: bool) -> Result<(), CliError> {
    let name = user_name(name)?;
    let user = data.client().await?.set_user_disabled(&name, disabled).await?;
    let what = if disabled { "Disabled" } else { "Enabled" };
    let note =
        if disabled { " Its app passwords are refused until it is enabled again." } else { "" };
    print(&format!("{what} '{}'.{note}\n", user.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_2fa_sentence_has_single_spaces() {
        let text = reset_totp_done("alice");
        assert_eq!(
            text,
            "Removed the second factor of 'alice': the web login asks for the password alone \
             until they enrol again.\n"
        );
        assert!(!text.contains("  "), "{text:?}");
    }
}
