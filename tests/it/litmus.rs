//! litmus 0.13, the WebDAV conformance suite, against the real server with an app password:
//! all five suites (basic, copymove, props, locks, http), every test must pass with no warning.

use crate::util::*;
use std::process::Command;

#[test]
fn litmus_passes_every_test_of_the_five_suites() {
    if !available() {
        return;
    }
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "litmus");
    assert_passes(&format!("{}/dav/", server.base), "alice", &pw, server.dir());
}

/// Whether litmus can run: panics when it is missing, unless `DAVGATE_SKIP_LITMUS` is set.
pub fn available() -> bool {
    if Command::new("litmus").arg("--version").output().is_err() {
        if std::env::var_os("DAVGATE_SKIP_LITMUS").is_some() {
            eprintln!("litmus skipped (DAVGATE_SKIP_LITMUS is set)");
            return false;
        }
        panic!(
            "litmus is not installed: run .ci/run, or apt-get install litmus (or set DAVGATE_SKIP_LITMUS=1)"
        );
    }
    true
}

/// Runs the five suites against `url` as `user`, in `scratch` (litmus writes its logs where it
/// runs), and asserts 104/104 with no warning.
pub fn assert_passes(url: &str, user: &str, password: &str, scratch: &std::path::Path) {
    let out = Command::new("litmus")
        .args(["-k", url, user, password])
        .current_dir(scratch)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();

    let mut report = String::new();
    let (mut passed, mut run, mut failed) = (0, 0, 0);
    for line in text.lines() {
        // "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%"
        if let Some(rest) = line.strip_prefix("<- summary for `") {
            let suite = rest.split('\'').next().unwrap_or("?");
            let n: Vec<u32> =
                rest.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            (run, passed, failed) = (run + n[0], passed + n[1], failed + n[2]);
            report += &format!("  {suite:<9} {}/{} passed, {} failed\n", n[1], n[0], n[2]);
        }
    }
    let warnings = text.matches("WARNING:").count();
    eprintln!(
        "litmus on {url}: {passed} of {run} tests passed, {failed} failed, {warnings} warnings\n{report}"
    );
    for suite in ["basic", "copymove", "props", "locks", "http"] {
        assert!(
            text.contains(&format!("summary for `{suite}'")),
            "suite {suite} did not run:\n{text}"
        );
    }
    assert_eq!((passed, run, failed), (104, 104, 0), "litmus failures:\n{text}");
    let warned: Vec<&str> = text.lines().filter(|l| l.contains("WARNING")).collect();
    assert!(warned.is_empty(), "litmus warnings:\n{}\n\nfull output:\n{text}", warned.join("\n"));
}
