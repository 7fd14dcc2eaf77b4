//! SIGHUP reloads the TLS certificate and key: new connections get the new certificate, a
//! download in flight goes on untouched, and a bad new file keeps the old certificate.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// The SHA-256 fingerprint openssl gives for PEM text on its standard input.
fn fingerprint_of_pem(pem: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child.stdin.take().unwrap().write_all(pem).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().split_once('=').map(|(_, f)| f.to_string()).unwrap_or_default()
}

fn fingerprint_of_file(cert: &Path) -> String {
    fingerprint_of_pem(&std::fs::read(cert).unwrap())
}

/// The fingerprint of the certificate a new TLS connection to `base` is served.
fn served_fingerprint(base: &str) -> String {
    let addr = base.strip_prefix("https://").unwrap();
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect", addr, "-servername", "localhost"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl is installed");
    let served = fingerprint_of_pem(&out.stdout);
    assert!(!served.is_empty(), "no certificate from {addr}");
    served
}

fn hang_up(server: &TestServer) {
    let sent = Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(sent.success());
}

/// Waits (bounded) until the server's log has `n` lines containing `text`.
fn wait_for_log(server: &TestServer, text: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = server.log();
        if log.lines().filter(|l| l.contains(text)).count() >= n {
            return log;
        }
        assert!(Instant::now() < deadline, "no {n}× '{text}' in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections_without_breaking_a_download() {
    let (_a, cert, key) = self_signed_certificate();
    let (_b, cert_b, key_b) = self_signed_certificate();
    let (print_a, print_b) = (fingerprint_of_file(&cert), fingerprint_of_file(&cert_b));
    assert_ne!(print_a, print_b);
    let data = tempfile::tempdir().unwrap();
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let server = TestServer::start_with(data, &args);
    assert_eq!(served_fingerprint(&server.base), print_a);

    server.add_user("alice");
    let pw = server.app_password("alice", "laptop");
    let home = server.home("alice");
    std::fs::create_dir_all(&home).unwrap();
    let content: Vec<u8> =
        (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(home.join("big.bin"), &content).unwrap();
    let downloaded = tempfile::tempdir().unwrap();
    let out = downloaded.path().join("big.bin");
    // 32 MiB at 8 MB/s: about four seconds in flight, across the reload.
    let mut download = Command::new("curl")
        .args(["-sSk", "--limit-rate", "8M", "-o"])
        .arg(&out)
        .args(["-u", &format!("alice:{pw}"), &format!("{}/dav/big.bin", server.base)])
        .spawn()
        .expect("curl is installed");
    let started = Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(started.elapsed() < Duration::from_secs(20), "the download did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    std::fs::copy(&cert_b, &cert).unwrap();
    std::fs::copy(&key_b, &key).unwrap();
    hang_up(&server);
    let log = wait_for_log(&server, "TLS certificate reloaded", 1);
    assert!(log.contains(&print_b), "the info line names the new certificate:\n{log}");
    assert_eq!(served_fingerprint(&server.base), print_b, "a new connection gets B");
    assert!(download.try_wait().unwrap().is_none(), "the download was still in flight");
    let done = download.wait().unwrap();
    assert!(done.success(), "the download survived the reload");
    assert!(std::fs::read(&out).unwrap() == content, "the download arrived intact");

    // A broken certificate, then a key of another certificate: B stays, with one warning each.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    hang_up(&server);
    wait_for_log(&server, "TLS certificate not reloaded", 1);
    assert_eq!(served_fingerprint(&server.base), print_b);
    let (_c, cert_c, _key_c) = self_signed_certificate();
    std::fs::copy(&cert_c, &cert).unwrap();
    hang_up(&server);
    let log = wait_for_log(&server, "TLS certificate not reloaded", 2);
    assert!(log.contains("do not fit"), "the warning says why:\n{log}");
    assert_eq!(served_fingerprint(&server.base), print_b);
}
