//! litmus 0.13, the WebDAV conformance suite, against the real server with an app password.
//!
//! basic, copymove and http must pass entirely. props and locks may fail only on dead
//! properties (PROPPATCH), which the next milestone adds; any other failure fails this test.

use crate::util::*;
use std::process::Command;

/// Tests that fail only because dead properties are not stored yet.
const DEAD_PROPERTY_TESTS: &[&str] = &["propset", "propmanyns", "propget", "owner_modify"];

#[test]
fn litmus_passes_every_suite_but_dead_properties() {
    if Command::new("litmus").arg("--version").output().is_err() {
        if std::env::var_os("DAVGATE_SKIP_LITMUS").is_some() {
            eprintln!("litmus skipped (DAVGATE_SKIP_LITMUS is set)");
            return;
        }
        panic!(
            "litmus is not installed: run .ci/run, or apt-get install litmus (or set DAVGATE_SKIP_LITMUS=1)"
        );
    }
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "litmus");
    let url = format!("{}/dav/", server.base);
    // litmus writes debug.log and child.log where it runs: keep them in the temp dir.
    let out = Command::new("litmus")
        .args(["-k", &url, "alice", &pw])
        .current_dir(server.dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();

    let mut report = String::new();
    let mut unexpected = Vec::new();
    let (mut passed, mut run) = (0, 0);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("<- summary for `") {
            let suite = rest.split('\'').next().unwrap_or("?");
            let numbers: Vec<u32> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            // "of 16 tests run: 16 passed, 0 failed. 100.0%"
            run += numbers[0];
            passed += numbers[1];
            report += &format!(
                "  {suite:<9} {}/{} passed, {} failed\n",
                numbers[1], numbers[0], numbers[2]
            );
        }
        if line.contains("FAIL") {
            // " 6. propset.......... FAIL (...)": the test's name is the first word.
            let name = line
                .split(|c: char| c == '.' || c.is_whitespace())
                .find(|w| w.chars().any(char::is_alphabetic))
                .unwrap_or("");
            if !DEAD_PROPERTY_TESTS.contains(&name) {
                unexpected.push(line.trim().to_string());
            }
        }
    }
    eprintln!("litmus: {passed} of {run} tests passed\n{report}");
    assert!(run >= 88, "litmus ran fewer tests than expected:\n{text}");
    assert!(
        unexpected.is_empty(),
        "unexpected litmus failures:\n{}\n\nfull output:\n{text}",
        unexpected.join("\n")
    );
    for suite in ["basic", "copymove", "http"] {
        assert!(
            text.contains(&format!("summary for `{suite}'")),
            "suite {suite} did not run"
        );
    }
}
