//! The config file's keys, derived from the clap definitions: nothing to write per key.
//!
//! A key is a flag's long name with `-` written `_` (`--max-connections` → `max_connections`),
//! taken from the global flags and from `serve`'s. So a flag added to `serve` (or a global
//! one) is a config key the moment it exists, with the same value parser, and the file's value
//! becomes that flag's default (see [`super::apply`]).

use clap::{Arg, ArgAction, Command};

/// Flags that are not keys: the file cannot name another config file.
const NOT_KEYS: &[&str] = &["config", "help", "version"];

/// Where a key's flag lives in the command tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// A global flag (`--data`, `--store`): every command reads it.
    Global,
    /// A `serve` flag: only the server reads it.
    Serve,
}

/// One config key and the clap argument it feeds.
#[derive(Debug, Clone)]
pub(super) struct Key {
    /// The name written in the file.
    pub name: String,
    /// The flag, with its value parser and its environment twin.
    pub arg: Arg,
    /// Which command owns the flag.
    pub scope: Scope,
}

impl Key {
    /// Whether the value may be a list (`[…]` in the file): flags that may be repeated or take
    /// several values.
    pub fn takes_list(&self) -> bool {
        matches!(self.arg.get_action(), ArgAction::Append)
            || self.arg.get_num_args().is_some_and(|n| n.max_values() > 1)
            || self.arg.get_value_delimiter().is_some()
    }

    /// Whether the flag is an on/off switch (`http2_plain = true`).
    pub fn is_switch(&self) -> bool {
        matches!(self.arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
    }

    /// The flag as typed on a command line, `--max-connections`.
    pub fn flag(&self) -> String {
        format!("--{}", self.arg.get_long().unwrap_or_default())
    }

    /// The secret rule (see [`is_secret`]).
    pub fn is_secret(&self) -> bool {
        is_secret(&self.name)
    }
}

/// Every key: the global flags of `cli`, then `serve`'s, in their declaration order.
pub(super) fn keys(cli: &Command) -> Vec<Key> {
    let global = cli.get_arguments().map(|a| (a, Scope::Global));
    let serve = cli
        .find_subcommand("serve")
        .into_iter()
        .flat_map(|s| s.get_arguments())
        .map(|a| (a, Scope::Serve));
    global
        .chain(serve)
        .filter_map(|(arg, scope)| {
            let long = arg.get_long()?;
            if arg.is_positional() || arg.is_hide_set() || NOT_KEYS.contains(&long) {
                return None;
            }
            Some(Key { name: key_name(long), arg: arg.clone(), scope })
        })
        .collect()
}

/// `--max-connections` → `max_connections`.
pub(super) fn key_name(long: &str) -> String {
    long.replace('-', "_")
}

/// Keys whose value is a secret: masked by `config check`, readable from `KEY_file`, and
/// refused inline in a file others can read. The store URL may hold a password; any key named
/// `…token` or `…password` (e.g. a metrics bearer token) is one.
pub(super) fn is_secret(name: &str) -> bool {
    name == "store" || name.ends_with("token") || name.ends_with("password")
}

/// The known key closest to a misspelt one, if it is close enough to be what was meant.
pub(super) fn nearest<'a>(name: &str, keys: &'a [Key]) -> Option<&'a str> {
    keys.iter()
        .map(|k| (distance(name, &k.name), k.name.as_str()))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, on characters, one row of the table at a time.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut next = Vec::with_capacity(row.len());
        next.push(i + 1);
        for ((cb, up_left), up) in b.iter().zip(&row).zip(row.iter().skip(1)) {
            let left = next.last().copied().unwrap_or(0);
            next.push((up_left + usize::from(ca != *cb)).min(up + 1).min(left + 1));
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn names(cli: &Command) -> Vec<String> {
        keys(cli).into_iter().map(|k| k.name).collect()
    }

    #[test]
    fn a_key_is_the_long_flag_name_with_underscores() {
        assert_eq!(key_name("max-connections-per-ip"), "max_connections_per_ip");
        let names = names(&crate::cli::Cli::command());
        for key in ["data", "store", "listen", "tls_cert", "tls_key", "files", "node_id"] {
            assert!(names.iter().any(|n| n == key), "{key} missing from {names:?}");
        }
        for key in ["max_connections", "max_connections_per_ip", "idle_timeout", "http2_plain"] {
            assert!(names.iter().any(|n| n == key), "{key} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n == "config" || n == "help" || n == "version"));
    }

    #[test]
    fn every_visible_serve_flag_is_a_key() {
        let cli = crate::cli::Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        let keys = keys(&cli);
        for arg in serve.get_arguments().filter(|a| !a.is_hide_set()) {
            let long = arg.get_long().unwrap();
            let key = keys.iter().find(|k| k.name == key_name(long)).unwrap();
            assert_eq!(key.scope, Scope::Serve);
            assert_eq!(key.flag(), format!("--{long}"));
        }
    }

    #[test]
    fn a_new_serve_flag_is_a_key_with_nothing_else_to_write() {
        let cli = Command::new("davgate")
            .arg(Arg::new("data").long("data"))
            .subcommand(Command::new("serve").arg(Arg::new("metrics_token").long("metrics-token")));
        let keys = keys(&cli);
        let token = keys.iter().find(|k| k.name == "metrics_token").unwrap();
        assert_eq!(token.scope, Scope::Serve);
        assert!(token.is_secret());
        assert_eq!(keys[0].scope, Scope::Global);
    }

    #[test]
    fn secrets_are_the_store_and_tokens_and_passwords() {
        assert!(is_secret("store"));
        assert!(is_secret("metrics_token"));
        assert!(is_secret("smtp_password"));
        assert!(!is_secret("listen"));
        assert!(!is_secret("tls_key"), "a path to the key, not the key");
    }

    #[test]
    fn a_misspelt_key_suggests_the_nearest_and_nonsense_suggests_nothing() {
        let keys = keys(&crate::cli::Cli::command());
        assert_eq!(nearest("max_conections", &keys), Some("max_connections"));
        assert_eq!(nearest("listen", &keys), Some("listen"));
        assert_eq!(nearest("colour_scheme", &keys), None);
    }
}
