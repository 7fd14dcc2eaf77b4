//! The TOML config file: precedence (flag > environment > file > default) seen in what the
//! server and `config check` say, and each refusal as the admin reads it.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{BIN, davgate};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes `text` to `dir/name` with permission bits `mode`.
fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Runs `serve SERVE_ARGS…` as `command` sets it up, returns the port its banner says it
/// listens on, and stops it.
fn listening_port(mut command: Command, serve_args: &[&str]) -> u16 {
    let mut child = command
        .arg("serve")
        .args(serve_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send(base.to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let base = base.expect("a 'listening on' line within 30 s");
    base.rsplit(':').next().unwrap().parse().unwrap()
}

/// `davgate --data DATA ARGS…` with no configuration from the test's own environment.
fn plain(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("DAVGATE_CONFIG")
        .env_remove("DAVGATE_STORE")
        .env_remove("DAVGATE_MAX_CONNECTIONS")
        .output()
        .unwrap()
}

/// The one line a refused configuration prints, after checking it exits 2.
fn refusal(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

/// `config check` succeeded: its output.
fn checked(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "config check failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `config check` line for `key`.
fn line_of<'a>(check: &'a str, key: &str) -> &'a str {
    check
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{check}"))
}

#[test]
fn the_file_sets_the_port_the_environment_overrides_it_and_a_flag_overrides_both() {
    let data = tempfile::tempdir().unwrap();
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let text = format!("# where davgate listens\nlisten = \"127.0.0.1:{file_port}\"\n");
    let config = write(data.path(), "site.toml", &text, 0o600);

    let mut from_file = davgate(data.path());
    from_file.arg("--config").arg(&config).env_remove("DAVGATE_LISTEN");
    assert_eq!(listening_port(from_file, &[]), file_port);

    let env_listen = format!("127.0.0.1:{env_port}");
    let mut from_env = davgate(data.path());
    from_env.env("DAVGATE_CONFIG", &config).env("DAVGATE_LISTEN", &env_listen);
    assert_eq!(listening_port(from_env, &[]), env_port);

    let mut from_flag = davgate(data.path());
    from_flag.env("DAVGATE_CONFIG", &config).env("DAVGATE_LISTEN", &env_listen);
    let flag_listen = format!("127.0.0.1:{flag_port}");
    assert_eq!(listening_port(from_flag, &["--listen", &flag_listen]), flag_port);
}

#[test]
fn the_data_directorys_davgate_toml_is_read_without_being_named() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    write(data.path(), "davgate.toml", &format!("listen = \"127.0.0.1:{port}\"\n"), 0o644);
    let mut serve = davgate(data.path());
    serve.env_remove("DAVGATE_CONFIG").env_remove("DAVGATE_LISTEN");
    assert_eq!(listening_port(serve, &[]), port);

    let check = checked(&plain(data.path(), &["config", "check"]));
    assert!(
        check
            .starts_with(&format!("# config file: {}", data.path().join("davgate.toml").display())),
        "{check}"
    );
    assert!(line_of(&check, "listen").ends_with("# file, line 1"), "{check}");
}

#[test]
fn config_check_shows_every_value_and_where_it_came_from() {
    let data = tempfile::tempdir().unwrap();
    let text = "max_connections = 77\nidle_timeout = \"2m\"\nhttp2_plain = true\n";
    let config = write(data.path(), "site.toml", text, 0o644);
    let out = Command::new(BIN)
        .args(["--data", &data.path().display().to_string(), "config", "check"])
        .arg(&config)
        .env("DAVGATE_MAX_CONNECTIONS", "55")
        .env_remove("DAVGATE_STORE")
        .output()
        .unwrap();
    let check = checked(&out);
    let max = line_of(&check, "max_connections");
    assert!(
        max.starts_with("max_connections = 55 ") && max.ends_with("# env DAVGATE_MAX_CONNECTIONS"),
        "{check}"
    );
    let idle = line_of(&check, "idle_timeout");
    assert!(
        idle.starts_with("idle_timeout = \"2m\"") && idle.ends_with("# file, line 2"),
        "{check}"
    );
    assert!(line_of(&check, "http2_plain").starts_with("http2_plain = true "), "{check}");
    assert!(line_of(&check, "max_uploads").ends_with("# default"), "{check}");
    assert!(line_of(&check, "data").ends_with("# flag --data"), "{check}");
    assert_eq!(line_of(&check, "tls_cert"), "# tls_cert is not set (default)");
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_the_nearest_key() {
    let data = tempfile::tempdir().unwrap();
    let text = "listen = \"127.0.0.1:0\"\n\nmax_conections = 5\n";
    let config = write(data.path(), "davgate.toml", text, 0o600);
    let line = refusal(&plain(data.path(), &["serve"]));
    let expected = format!(
        "davgate: {}:3:1: unknown key 'max_conections' (did you mean 'max_connections'?)",
        config.display()
    );
    assert_eq!(line.trim_end(), expected);
    refusal(&plain(data.path(), &["config", "check"]));
}

#[test]
fn a_bad_value_is_refused_with_its_line_and_the_parsers_reason() {
    let data = tempfile::tempdir().unwrap();
    let config = write(
        data.path(),
        "site.toml",
        "listen = \"127.0.0.1:0\"\nmax_connections = \"many\"\n",
        0o600,
    );
    let config = config.display().to_string();
    let line = refusal(&plain(data.path(), &["--config", &config, "serve"]));
    assert_eq!(
        line.trim_end(),
        format!(
            "davgate: {config}:2:19: max_connections = \"many\": invalid digit found in string"
        )
    );

    std::fs::write(&config, "idle_timeout = \"forever\"\n").unwrap();
    let line =
        refusal(&plain(data.path(), &["--config", &config, "serve", "--idle-timeout", "1m"]));
    assert!(
        line.starts_with(&format!(
            "davgate: {config}:1:16: idle_timeout = \"forever\": 'forever' is not a duration"
        )),
        "{line}"
    );

    std::fs::write(&config, "max_connections = [1, 2]\n").unwrap();
    let line = refusal(&plain(data.path(), &["--config", &config, "config", "check"]));
    assert_eq!(
        line.trim_end(),
        format!("davgate: {config}:1:19: max_connections: expected one value, found a list")
    );

    std::fs::write(&config, "tls_cert = \"cert.pem\"\n").unwrap();
    let line = refusal(&plain(data.path(), &["--config", &config, "serve"]));
    assert!(line.contains(&config) && line.contains("--tls-key"), "{line}");

    std::fs::write(&config, "listen = \"127.0.0.1:0\n").unwrap();
    let line = refusal(&plain(data.path(), &["--config", &config, "serve"]));
    assert!(
        line.starts_with(&format!("davgate: {config}:1:")) && line.contains("not valid TOML"),
        "{line}"
    );
}

#[test]
fn an_inline_secret_in_a_file_others_can_read_is_refused_until_chmod_600() {
    let data = tempfile::tempdir().unwrap();
    let text =
        "listen = \"127.0.0.1:0\"\nstore = \"postgres://davgate:hunter2@127.0.0.1:1/davgate\"\n";
    let config = write(data.path(), "site.toml", text, 0o644);
    let config = config.display().to_string();
    let line = refusal(&plain(data.path(), &["--config", &config, "config", "check"]));
    assert_eq!(
        line.trim_end(),
        format!(
            "davgate: {config}:2:1: store holds a secret, but {config} is readable by group or others: chmod 600 {config} (or read it from store_file)"
        )
    );

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let check = checked(&plain(data.path(), &["--config", &config, "config", "check"]));
    assert!(
        line_of(&check, "store")
            .starts_with("store = \"postgres://davgate:****@127.0.0.1:1/davgate\""),
        "{check}"
    );
    assert!(!check.contains("hunter2"), "{check}");
    let help = checked(&plain(data.path(), &["--config", &config, "serve", "--help"]));
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn a_secret_read_from_a_file_is_masked_and_a_secret_file_others_can_read_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let secret =
        write(data.path(), "store-url", "postgres://davgate:hunter2@127.0.0.1:1/davgate\n", 0o640);
    let text = format!("store_file = \"{}\"\n", secret.display());
    let config = write(data.path(), "davgate.toml", &text, 0o644);
    let line = refusal(&plain(data.path(), &["config", "check"]));
    let secret_shown = secret.display();
    assert_eq!(
        line.trim_end(),
        format!(
            "davgate: {}:1:14: store_file: {secret_shown} is readable by group or others: chmod 600 {secret_shown}",
            config.display()
        )
    );

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let check = checked(&plain(data.path(), &["config", "check"]));
    let store = line_of(&check, "store");
    assert!(
        store.starts_with("store = \"postgres://davgate:****@127.0.0.1:1/davgate\""),
        "{check}"
    );
    assert!(store.ends_with(&format!("# file, line 1 (from {secret_shown})")), "{check}");
    assert!(!check.contains("hunter2"), "{check}");
}

#[test]
fn a_runtime_setting_in_the_file_is_refused_with_the_settings_command() {
    let data = tempfile::tempdir().unwrap();
    write(data.path(), "davgate.toml", "listen = \"127.0.0.1:0\"\nlock_timeout = \"5m\"\n", 0o600);
    let line = refusal(&plain(data.path(), &["serve"]));
    assert!(line.contains("davgate.toml:2:1: 'lock_timeout' is a runtime setting"), "{line}");
    assert!(line.contains("davgate settings set lock_timeout VALUE"), "{line}");
}

#[test]
fn help_tells_of_the_config_file_and_config_keys_lists_every_serve_flag() {
    let data = tempfile::tempdir().unwrap();
    for args in [&["serve", "--help"][..], &["config", "--help"]] {
        let help = checked(&plain(data.path(), args));
        assert!(help.contains("Config file:") && help.contains("davgate.toml"), "{help}");
    }
    let keys = checked(&plain(data.path(), &["config", "keys"]));
    for row in [
        "| `listen` | `--listen` | `DAVGATE_LISTEN` | `127.0.0.1:8080` |",
        "| `max_connections` | `--max-connections` |",
    ] {
        assert!(keys.contains(row), "{row} in:\n{keys}");
    }
    assert!(keys.contains("may come from `store_file`"), "{keys}");
}
