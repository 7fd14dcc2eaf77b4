//! The fail2ban line: a failed sign-in on either surface (WebDAV or the web page) leaves a line
//! the README's `failregex` matches, so one jail bans a brute force on both.

use crate::util::*;
use reqwest::blocking::Client;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

/// The `failregex` the README gives for fail2ban, read from the README itself so that this test
/// fails when the two drift apart.
fn readme_failregex() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let at = readme.find("`failregex` of `").expect("the README gives a fail2ban failregex");
    let rest = &readme[at + "`failregex` of `".len()..];
    rest[..rest.find('`').expect("a closing backtick")].to_string()
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address is this machine).
fn client_from(local: &str) -> Client {
    let local: IpAddr = local.parse().unwrap();
    Client::builder().local_address(local).timeout(Duration::from_secs(60)).build().unwrap()
}

/// Runs Debian's `fail2ban-regex` with `failregex` over `log`: the addresses it would ban, one per
/// matched line. None if it is missing and `DAVGATE_SKIP_FAIL2BAN` is set.
fn fail2ban_hosts(log: &str, failregex: &str) -> Option<Vec<String>> {
    if Command::new("fail2ban-regex").arg("--version").output().is_err() {
        if std::env::var_os("DAVGATE_SKIP_FAIL2BAN").is_some() {
            eprintln!("fail2ban test skipped (DAVGATE_SKIP_FAIL2BAN is set)");
            return None;
        }
        panic!(
            "fail2ban-regex is not installed: run .ci/run, or apt-get install fail2ban \
             (or set DAVGATE_SKIP_FAIL2BAN=1)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("davgate.log");
    std::fs::write(&file, log).unwrap();
    let out = Command::new("fail2ban-regex")
        .args(["--out", "ip"])
        .arg(&file)
        .arg(failregex)
        .output()
        .expect("run fail2ban-regex");
    assert!(out.status.success(), "fail2ban-regex: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect())
}

#[test]
fn fail2ban_bans_the_address_of_a_failed_webdav_and_a_failed_web_sign_in() {
    let server = TestServer::start();
    add_user_with_password(&server, "alice", "alice-password-1");
    let app = server.app_password("alice", "laptop");

    // A wrong app password over WebDAV from one address...
    let dav = client_from("127.0.0.3")
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("{}/dav/", server.base))
        .basic_auth("alice", Some(with_wrong_secret(&app)))
        .header("Depth", "0")
        .send()
        .unwrap();
    assert_eq!(dav.status().as_u16(), 401);
    // ...and a wrong password on the web sign-in from another.
    let web = client_from("127.0.0.4")
        .post(format!("{}/api/v1/session", server.base))
        .header("Content-Type", "application/json")
        .body(r#"{"user":"alice","password":"not-her-password"}"#)
        .send()
        .unwrap();
    assert_eq!(web.status().as_u16(), 401);

    let log = server.log();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("Login failed")).collect();
    assert_eq!(failed.len(), 2, "one line per failed sign-in:\n{log}");
    assert!(failed.iter().any(|l| l.contains(") web: ")), "the web line names its surface: {log}");
    let Some(mut hosts) = fail2ban_hosts(&log, &readme_failregex()) else { return };
    hosts.sort();
    assert_eq!(hosts, ["127.0.0.3", "127.0.0.4"], "what fail2ban matched in:\n{log}");
}
