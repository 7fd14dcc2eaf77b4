//! `davgate config check` and `davgate config keys`: the effective configuration and where
//! each value came from, and the reference of every key (generated from the flags).

use clap::Subcommand;
use clap::parser::ValueSource;
use std::path::PathBuf;

use super::keys::{Key, Scope};
use super::{Loaded, secret, together};
use crate::cli::CliError;
use crate::cli::output::print;

/// What `davgate config` does.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a config file with the rules `serve` applies, then print every key with its
    /// effective value and where it came from (flag, env, file, default), secrets masked.
    Check {
        /// The file to check (default: --config, else <data>/davgate.toml if it exists).
        file: Option<PathBuf>,
    },
    /// Print every config key: its flag, environment variable, default and meaning, as a
    /// Markdown table.
    Keys,
}

/// Runs a `config` command on what [`super::load`] read.
pub fn run(cmd: ConfigCommand, loaded: &Loaded) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Check { .. } => check(loaded),
        ConfigCommand::Keys => {
            print(&reference(&loaded.keys));
            Ok(())
        }
    }
}

/// `config check`: the configuration `serve` would run with.
fn check(loaded: &Loaded) -> Result<(), CliError> {
    let where_ = || match &loaded.file {
        Some(file) => file.path.clone(),
        None => PathBuf::from("the environment"),
    };
    let serve = loaded.command.clone().try_get_matches_from(["davgate", "serve"]);
    let serve = serve.map_err(|e| super::ConfigError::Together {
        file: where_(),
        reason: super::first_lines(&e),
    })?;
    let serve = serve.subcommand_matches("serve").cloned().unwrap_or_default();
    if let Some(file) = &loaded.file {
        together(&loaded.keys, file, &loaded.matches, &serve)?;
    }
    let mut text = match &loaded.file {
        Some(file) => format!("# config file: {}\n", file.path.display()),
        None => {
            "# no config file (--config FILE, DAVGATE_CONFIG or <data>/davgate.toml)\n".to_string()
        }
    };
    for key in &loaded.keys {
        let matches = if key.scope == Scope::Global { &loaded.matches } else { &serve };
        let id = key.arg.get_id().as_str();
        let values: Vec<String> = matches
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|v| secret::masked(&key.name, &v.to_string_lossy()))
            .collect();
        let source = source(key, loaded, matches.value_source(id));
        if values.is_empty() {
            text += &format!("# {} is not set ({source})\n", key.name);
        } else {
            let line = format!("{} = {}", key.name, toml_value(key, &values));
            text += &format!("{line:<44} # {source}\n");
        }
    }
    print(&text);
    Ok(())
}

/// Where a value came from, as `config check` says it.
fn source(key: &Key, loaded: &Loaded, source: Option<ValueSource>) -> String {
    let env = || key.arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let entry = loaded.file.as_ref().and_then(|f| f.entry(key));
    match (source, entry) {
        (Some(ValueSource::CommandLine), _) => format!("flag {}", key.flag()),
        (Some(ValueSource::EnvVariable), _) => format!("env {}", env()),
        (_, Some(entry)) => match &entry.secret_file {
            Some(secret) => format!("file, line {} (from {})", entry.at.line, secret.display()),
            None => format!("file, line {}", entry.at.line),
        },
        _ => "default".to_string(),
    }
}

/// The values as TOML: numbers and switches bare, the rest quoted, several as a list.
fn toml_value(key: &Key, values: &[String]) -> String {
    let one = |v: &String| {
        if v.parse::<i64>().is_ok() || (key.is_switch() && (v == "true" || v == "false")) {
            v.clone()
        } else {
            quote(v)
        }
    };
    match values {
        [v] if !key.takes_list() => one(v),
        _ => format!("[{}]", values.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

/// A TOML basic string.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if c.is_control() => out += &format!("\\u{:04X}", u32::from(c)),
            c => out.push(c),
        }
    }
    out + "\""
}

/// `config keys`: the reference table, from the flags' own help and defaults.
fn reference(keys: &[Key]) -> String {
    let mut text =
        String::from("| key | flag | environment | default | meaning |\n|---|---|---|---|---|\n");
    for key in keys {
        let env =
            key.arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_default();
        let defaults: Vec<String> =
            key.arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
        let default = match (defaults.is_empty(), key.is_switch()) {
            (false, _) => format!("`{}`", defaults.join(",")),
            (true, true) => "`false`".to_string(),
            (true, false) => "not set".to_string(),
        };
        let help = key.arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let mut help = help.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
        if !help.ends_with('.') {
            help.push('.');
        }
        if key.is_secret() {
            help +=
                &format!(" Secret: masked by `config check`; may come from `{}_file`.", key.name);
        }
        let scope = if key.scope == Scope::Global { " (every command)" } else { "" };
        text +=
            &format!("| `{}` | `{}` | {env} | {default} | {help}{scope} |\n", key.name, key.flag());
    }
    text
}
