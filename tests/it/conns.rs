//! A kept-alive connection holds no buffer while it waits for its next request (hyper patch in
//! vendor/hyper, rustls patch in vendor/rustls for TLS), and each connection is served by its
//! own protocol's state: what a client sees must not change. Raw sockets for HTTP/1
//! (pipelining, a large head after idling), `openssl s_client` for one TLS connection that
//! idles between requests, curl for the protocols a TLS client may name through ALPN, or not
//! name at all.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(server: &TestServer) -> TcpStream {
    let host = server.base.split_once("://").map(|(_, h)| h).expect("a base URL");
    let stream = TcpStream::connect(host).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// Reads `count` whole responses (heads and `Content-Length` bodies) and returns their status
/// lines and bodies, in order.
fn responses(stream: &mut impl Read, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < count && started.elapsed() < Duration::from_secs(20) {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
                })
                .map_or(0, |v| v.trim().parse::<usize>().expect("a length"));
            if buf.len() >= end + 4 + length {
                let body = buf[end + 4..end + 4 + length].to_vec();
                buf.drain(..end + 4 + length);
                out.push((head.lines().next().unwrap_or_default().to_owned(), body));
                continue;
            }
        }
        let mut chunk = [0; 16384];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    out
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

/// A server with alice's `a.txt` and `b.txt`, and the `Authorization` header line for her.
fn alice_with_files() -> (TestServer, String) {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "conns");
    std::fs::create_dir_all(server.home("alice")).unwrap();
    std::fs::write(server.home("alice").join("a.txt"), b"first file").unwrap();
    std::fs::write(server.home("alice").join("b.txt"), b"second").unwrap();
    let auth = format!("Authorization: {}\r\n", basic_header("alice", &pw));
    (server, auth)
}

#[test]
fn a_kept_alive_connection_serves_a_head_larger_than_its_first_read_after_idling() {
    let (server, auth) = alice_with_files();
    let mut stream = connect(&server);
    stream.write_all(get("/dav/a.txt", &auth).as_bytes()).unwrap();
    assert_eq!(responses(&mut stream, 1)[0].1, b"first file");
    std::thread::sleep(Duration::from_millis(300));
    // 20 KB of headers: more than the 8 KiB an idle connection reads before it allocates.
    let padding: String = (0..40).map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(500))).collect();
    stream.write_all(get("/dav/b.txt", &format!("{auth}{padding}")).as_bytes()).unwrap();
    let got = responses(&mut stream, 1);
    assert_eq!((got[0].0.as_str(), got[0].1.as_slice()), ("HTTP/1.1 200 OK", &b"second"[..]));
    stream.write_all(get("/dav/a.txt", &auth).as_bytes()).unwrap();
    assert_eq!(responses(&mut stream, 1)[0].1, b"first file");
}

#[test]
fn a_head_under_64_kib_is_served_and_a_much_longer_one_is_refused_with_431() {
    let (server, auth) = alice_with_files();
    let pad = |n: usize| -> String {
        (0..n).map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(1000))).collect()
    };
    let mut stream = connect(&server);
    // 60 headers of 1 KB: under the 64 KiB an HTTP/1 connection buffers.
    stream.write_all(get("/dav/a.txt", &format!("{auth}{}", pad(60))).as_bytes()).unwrap();
    let got = responses(&mut stream, 1);
    assert_eq!((got[0].0.as_str(), got[0].1.as_slice()), ("HTTP/1.1 200 OK", &b"first file"[..]));
    let mut stream = connect(&server);
    // 140 KB: well over it (hyper checks between reads, so a head may end a little past it).
    // The head is refused as a whole, not cut and served.
    let _ = stream.write_all(get("/dav/a.txt", &format!("{auth}{}", pad(140))).as_bytes());
    let got = responses(&mut stream, 1);
    assert_eq!(
        got.first().map(|r| r.0.as_str()),
        Some("HTTP/1.1 431 Request Header Fields Too Large")
    );
}

#[test]
fn pipelined_requests_are_all_answered_in_order_and_the_connection_stays_open() {
    let (server, auth) = alice_with_files();
    let mut stream = connect(&server);
    let batch =
        [get("/dav/a.txt", &auth), get("/dav/b.txt", &auth), get("/dav/a.txt", &auth)].concat();
    stream.write_all(batch.as_bytes()).unwrap();
    let got = responses(&mut stream, 3);
    let statuses: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(statuses, ["HTTP/1.1 200 OK"; 3]);
    let bodies: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(bodies, [&b"first file"[..], b"second", b"first file"]);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(get("/dav/a.txt", &auth).as_bytes()).unwrap();
    assert_eq!(responses(&mut stream, 1)[0].1, b"first file");
}

/// A server on a fresh self-signed certificate, with the directory that holds it.
fn tls_server() -> (tempfile::TempDir, TestServer) {
    let (dir, cert, key) = self_signed_certificate();
    let (cert, key) = (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string());
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    (dir, server)
}

#[test]
fn a_kept_alive_tls_connection_serves_a_large_head_and_an_upload_after_idling() {
    use std::process::{Command, Stdio};
    let (_dir, server) = tls_server();
    server.add_user("alice");
    let pw = server.app_password("alice", "conns");
    std::fs::create_dir_all(server.home("alice")).unwrap();
    std::fs::write(server.home("alice").join("a.txt"), b"first file").unwrap();
    let auth = format!("Authorization: {}\r\n", basic_header("alice", &pw));
    let host = server.base.strip_prefix("https://").expect("an HTTPS server");
    // One TLS connection for the whole test: s_client ends when the server closes it (at the
    // latest when the test server stops).
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-ign_eof", "-alpn", "http/1.1"])
        .args(["-connect", host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    let mut to_server = client.stdin.take().unwrap();
    let mut from_server = client.stdout.take().unwrap();
    to_server.write_all(get("/dav/a.txt", &auth).as_bytes()).unwrap();
    assert_eq!(responses(&mut from_server, 1)[0].1, b"first file");
    std::thread::sleep(Duration::from_millis(300));
    // 20 KB of headers, then a 300 KB body: many TLS records into a read buffer that the idle
    // connection gave back.
    let padding: String = (0..40).map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(500))).collect();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let put = format!(
        "PUT /dav/up.bin HTTP/1.1\r\nHost: localhost\r\n{auth}{padding}Content-Length: {}\r\n\r\n",
        body.len()
    );
    to_server.write_all(put.as_bytes()).unwrap();
    to_server.write_all(&body).unwrap();
    assert_eq!(responses(&mut from_server, 1)[0].0, "HTTP/1.1 201 Created");
    std::thread::sleep(Duration::from_millis(300));
    to_server.write_all(get("/dav/up.bin", &auth).as_bytes()).unwrap();
    let got = responses(&mut from_server, 1);
    assert_eq!(got[0].0, "HTTP/1.1 200 OK");
    assert!(got[0].1 == body, "the upload read back over the same connection differs");
    drop(to_server);
    let _ = client.kill();
    let _ = client.wait();
}

/// The HTTP version and status curl saw for `/healthz` over HTTPS with `flags`.
fn curl_version(server: &TestServer, flags: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .args(flags)
        .arg(format!("{}/healthz", server.base))
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tls_clients_get_the_protocol_they_named_and_one_naming_none_gets_http1() {
    let (_dir, server) = tls_server();
    assert_eq!(curl_version(&server, &["--http2"]), "2 200");
    assert_eq!(curl_version(&server, &["--http1.1"]), "1.1 200");
    assert_eq!(curl_version(&server, &["--http1.1", "--no-alpn"]), "1.1 200");
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}
