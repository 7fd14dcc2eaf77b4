//! The TOML config file: every global and `serve` flag is also a key, with the same parser.
//!
//! How: the keys are read off the clap definitions ([`keys`]), the file's values are checked
//! with each flag's own value parser and then set as the flags' *defaults* before the command
//! line is parsed. clap then applies flags > environment > default for us, so the file sits
//! exactly between the environment and the built-in defaults, and a flag added to `serve`
//! tomorrow is a key with nothing to write here.
//!
//! The file is `--config FILE` (`DAVGATE_CONFIG`), else `<data>/davgate.toml` when it exists.
//! Every refusal is one line naming the file and line ([`ConfigError`]); the command exits 2,
//! as clap does for a bad flag.

mod check;
mod error;
mod file;
mod keys;
mod secret;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::path::PathBuf;

pub(super) use check::{ConfigCommand, run};
pub use error::ConfigError;
use file::ConfigFile;
use keys::{Key, Scope};

/// What `--help` says about the config file.
pub(super) const HELP: &str = "Config file: every option above is also a key of a TOML file, \
named by --config FILE (DAVGATE_CONFIG), else <data>/davgate.toml when it exists: the flag's \
long name with '_' for '-' (listen = \"0.0.0.0:8080\", max_connections = 1000). Flags win over \
the environment, which wins over the file. `davgate config check` shows the result; \
`davgate config keys` lists every key.";

/// The configuration as parsed: what `config check` reports on.
pub(super) struct Loaded {
    /// The config file, if one was read.
    file: Option<ConfigFile>,
    /// Every key.
    keys: Vec<Key>,
    /// The command, the file's values set as its defaults.
    command: Command,
    /// The command line parsed with it.
    matches: ArgMatches,
}

impl Loaded {
    /// The public URL `serve` is given (`DAVGATE_PUBLIC_URL`, else the file's `public_url`):
    /// what `app-password create` fills into its connection lines. Commands other than `serve`
    /// have no `--public-url` of their own, so this reads the same sources `serve` would.
    pub(super) fn public_url(&self) -> Option<String> {
        let from_env = std::env::var("DAVGATE_PUBLIC_URL").ok().filter(|u| !u.trim().is_empty());
        from_env.or_else(|| {
            let entries = self.file.as_ref()?.entries.iter();
            entries.filter(|e| e.key.name == "public_url").find_map(|e| e.values.first().cloned())
        })
    }
}

/// Reads the config file (if any) and parses the command line over it. clap's own errors
/// (`--help` included) print and exit as usual.
pub(super) fn load(args: Vec<OsString>) -> Result<(super::Cli, Loaded), ConfigError> {
    let base = super::Cli::command();
    let keys = keys::keys(&base);
    let file = match locate(&base, &args) {
        Some((path, inside_data)) => Some(file::read(&path, inside_data, &keys)?),
        None => None,
    };
    if let Some(file) = &file {
        validate(&base, file)?;
    }
    let command = with_defaults(base, file.as_ref());
    let matches = command.clone().get_matches_from(args);
    if let (Some(file), Some(serve)) = (&file, matches.subcommand_matches("serve")) {
        together(&keys, file, &matches, serve)?;
    }
    let cli = super::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Ok((cli, Loaded { file, keys, command, matches }))
}

/// The config file to read and whether it was found in the data directory: `config check
/// FILE`, else `--config`/`DAVGATE_CONFIG`, else `<data>/davgate.toml` if it exists. A first,
/// forgiving parse finds them (a malformed command line is left to the real parse).
fn locate(base: &Command, args: &[OsString]) -> Option<(PathBuf, bool)> {
    let probe = base.clone().ignore_errors(true).try_get_matches_from(args).ok()?;
    let checked = probe
        .subcommand_matches("config")
        .and_then(|m| m.subcommand_matches("check"))
        .and_then(|m| m.get_one::<PathBuf>("file"));
    if let Some(path) = checked.or(probe.get_one::<PathBuf>("config")) {
        return Some((path.clone(), false));
    }
    let implicit = probe.get_one::<PathBuf>("data")?.join("davgate.toml");
    implicit.exists().then_some((implicit, true))
}

/// Runs every value of the file through its flag's value parser, so a bad value is refused
/// with its line even when a flag or the environment overrides it.
fn validate(base: &Command, file: &ConfigFile) -> Result<(), ConfigError> {
    for entry in &file.entries {
        let key = &entry.key;
        for value in entry.values.iter().filter(|_| !key.is_switch()) {
            if let Err(e) = parse_alone(base, key, value) {
                let reason = match std::error::Error::source(&e) {
                    Some(source) => source.to_string(),
                    None if key.is_secret() => "refused".to_string(),
                    None => first_lines(&e),
                };
                let shown = format!("{:?}", secret::masked(&key.name, value));
                return Err(ConfigError::BadValue {
                    at: entry.value_at.clone(),
                    key: key.name.clone(),
                    shown,
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// Parses `value` as `key`'s flag alone on a command line (clap keeps its value parsers to
/// itself), returning only the refusals of that value: a missing companion flag is
/// [`together`]'s to report.
fn parse_alone(base: &Command, key: &Key, value: &str) -> Result<(), clap::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let mut flag = OsString::from(format!("{}=", key.flag()));
    flag.push(value);
    let argv: Vec<OsString> = match key.scope {
        Scope::Global => vec!["davgate".into(), flag, "serve".into()],
        Scope::Serve => vec!["davgate".into(), "serve".into(), flag],
    };
    let Err(e) = base.clone().try_get_matches_from(argv) else {
        return Ok(());
    };
    let about_value = matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::InvalidUtf8
    );
    let ours = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => {
            arg.split([' ', '=']).next() == Some(key.flag().as_str())
        }
        _ => false,
    };
    if about_value && ours { Err(e) } else { Ok(()) }
}

/// `base` with the file's values as the defaults of their flags (a secret's default is kept
/// out of `--help`).
fn with_defaults(base: Command, file: Option<&ConfigFile>) -> Command {
    let entries = file.map(|f| f.entries.as_slice()).unwrap_or_default();
    entries.iter().fold(base, |command, entry| {
        let key = &entry.key;
        let (values, secret) = (entry.values.clone(), key.is_secret());
        let set = move |a: clap::Arg| {
            let hide = secret || a.is_hide_default_value_set();
            a.default_values(values).hide_default_value(hide)
        };
        let id = key.arg.get_id().clone();
        match key.scope {
            Scope::Global => command.mut_arg(id, set),
            Scope::Serve => command.mut_subcommand("serve", |s| s.mut_arg(id, set)),
        }
    })
}

/// clap checks `requires` and `conflicts_with` only between flags given explicitly, not
/// between defaults: so the effective values are parsed once more as explicit flags, and
/// `tls_cert` without `tls_key` in a file is refused as it is on the command line.
fn together(
    keys: &[Key],
    file: &ConfigFile,
    root: &ArgMatches,
    serve: &ArgMatches,
) -> Result<(), ConfigError> {
    let mut argv: Vec<OsString> = vec!["davgate".into()];
    let mut serve_argv: Vec<OsString> = vec!["serve".into()];
    for key in keys {
        let (matches, out) = match key.scope {
            Scope::Global => (root, &mut argv),
            Scope::Serve => (serve, &mut serve_argv),
        };
        let id = key.arg.get_id().as_str();
        let explicit = matches.value_source(id).is_some_and(|s| s != ValueSource::DefaultValue);
        if !explicit && !file.sets(key) {
            continue;
        }
        for raw in matches.get_raw(id).into_iter().flatten() {
            if key.is_switch() {
                if raw == "true" {
                    out.push(key.flag().into());
                }
            } else {
                let mut flag = OsString::from(format!("{}=", key.flag()));
                flag.push(raw);
                out.push(flag);
            }
        }
    }
    argv.extend(serve_argv);
    match super::Cli::command().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigError::Together { file: file.path.clone(), reason: first_lines(&e) }),
    }
}

/// clap's message without its `error: ` prefix and usage hint, on one line.
fn first_lines(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.split("\n\n").next().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}
