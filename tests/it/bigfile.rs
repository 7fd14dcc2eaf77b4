//! Big downloads: whole files and ranges arrive byte for byte over plain HTTP (mapped windows
//! of the file, sent with sendfile) and over HTTPS (copied), and a file cut short by another
//! program while it is being sent ends that one download, never the server.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `len` bytes of a pattern that shows any shifted or repeated window.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// A server with alice's `big.bin` of `len` bytes (uploaded over WebDAV), her app password and
/// the bytes.
fn serving(len: usize, extra: &[&str]) -> (TestServer, String, Vec<u8>) {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), extra);
    server.add_user("alice");
    let pw = server.app_password("alice", "big");
    let body = pattern(len);
    let res = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .put(format!("{}/dav/big.bin", server.base))
        .basic_auth("alice", Some(&pw))
        .body(body.clone())
        .send();
    assert_eq!(status(res), 201);
    (server, pw, body)
}

fn get(server: &TestServer, pw: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    // The self-signed test certificate is not one reqwest would accept.
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("{}/dav/big.bin", server.base);
    let mut req = client.get(url).basic_auth("alice", Some(pw));
    if let Some(range) = range {
        req = req.header("Range", range);
    }
    let res = req.send().unwrap();
    let code = res.status().as_u16();
    (code, res.bytes().unwrap().to_vec())
}

/// The whole file, ranges across the 2 MiB window boundaries, a suffix and two ranges at once.
fn downloads_are_exact(server: &TestServer, pw: &str, body: &[u8]) {
    let (code, got) = get(server, pw, None);
    assert_eq!(code, 200);
    assert!(got == body, "the whole file differs ({} of {} bytes)", got.len(), body.len());
    let (code, got) = get(server, pw, Some("bytes=1000-4195303"));
    assert_eq!(code, 206);
    assert!(got == body[1000..=4_195_303], "a range across windows differs");
    let (code, got) = get(server, pw, Some("bytes=-100"));
    assert_eq!(code, 206);
    assert!(got == body[body.len() - 100..], "the suffix differs");
    let (code, got) = get(server, pw, Some("bytes=0-9,3145728-3145737"));
    assert_eq!(code, 206);
    let find = |part: &[u8]| got.windows(part.len()).any(|w| w == part);
    assert!(find(&body[..10]) && find(&body[3_145_728..3_145_738]), "a part of two is missing");
}

#[test]
fn a_big_file_and_its_ranges_download_byte_for_byte_over_http() {
    let (server, pw, body) = serving(5 * 1024 * 1024 + 123, &[]);
    downloads_are_exact(&server, &pw, &body);
}

#[test]
fn a_big_file_no_longer_in_the_page_cache_downloads_byte_for_byte() {
    // Its windows are read in from the disk before they are sent, not found in memory.
    let (server, pw, body) = serving(5 * 1024 * 1024 + 123, &[]);
    let file = std::fs::File::open(server.home("alice").join("big.bin")).unwrap();
    file.sync_all().unwrap();
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    downloads_are_exact(&server, &pw, &body);
}

#[test]
fn twenty_four_downloads_at_once_each_arrive_byte_for_byte() {
    // Each has windows of its own in flight, all sent with sendfile from the one file: none
    // may get another's offset or bytes.
    let (server, pw, body) = serving(5 * 1024 * 1024 + 123, &[]);
    std::thread::scope(|scope| {
        let downloads: Vec<_> = (0..24).map(|_| scope.spawn(|| get(&server, &pw, None))).collect();
        for download in downloads {
            let (code, got) = download.join().unwrap();
            assert_eq!(code, 200);
            assert!(got == body, "a download differs ({} of {} bytes)", got.len(), body.len());
        }
    });
}

#[test]
fn a_big_file_and_its_ranges_download_byte_for_byte_over_https() {
    let (_tls, cert, key) = self_signed_certificate();
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let (server, pw, body) = serving(5 * 1024 * 1024 + 123, &args);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    downloads_are_exact(&server, &pw, &body);
}

#[test]
fn a_file_truncated_by_another_program_during_its_download_ends_only_that_download() {
    let len = 48 * 1024 * 1024;
    let (server, pw, _) = serving(len, &[]);
    let host = server.base.split_once("://").map(|(_, h)| h).unwrap().to_string();
    let mut stream = TcpStream::connect(&host).unwrap();
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{pw}"))
    };
    let head =
        format!("GET /dav/big.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut first = vec![0; 256 * 1024];
    stream.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..40]));
    // An admin's program cuts the file in place (davgate itself only ever replaces files).
    std::fs::OpenOptions::new()
        .write(true)
        .open(server.home("alice").join("big.bin"))
        .unwrap()
        .set_len(0)
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The download ends (cut short where a mapped window lost its pages, or padded with zeros
    // as dav-server does for a file shorter than it said): either way it ends.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(first.len() + rest.len() <= len + 1024, "more than the file arrived");
    // The server lives on and serves the file as it is now.
    let (code, got) = get(&server, &pw, None);
    assert_eq!((code, got.len()), (200, 0));
    assert_eq!(status(server.request("GET", "/healthz").send()), 200);
}
