//! A Request-URI with a fragment (`#...`) is refused with 400 instead of acting on the URI cut
//! at `#`: `DELETE /dav/frag/#ment` must not delete `/dav/frag/`. Raw sockets, because no HTTP
//! client sends a fragment; bodies that contain `#` and request-like lines come back intact.

use crate::util::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A raw connection to the server, with the Basic credential of `user`.
struct Raw {
    reader: BufReader<TcpStream>,
    host: String,
    auth: String,
}

impl Raw {
    fn connect(server: &TestServer, user: &str, password: &str) -> Self {
        let host = server.base.strip_prefix("http://").expect("a plain HTTP server").to_string();
        let stream = TcpStream::connect(&host).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Self {
            reader: BufReader::new(stream),
            host,
            auth: base64(format!("{user}:{password}").as_bytes()),
        }
    }

    /// The head of a request (request line and headers, with Host and Authorization), without
    /// the empty line that ends it.
    fn head(&self, request_line: &str) -> String {
        format!("{request_line}\r\nHost: {}\r\nAuthorization: Basic {}\r\n", self.host, self.auth)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Reads one response: its status line and its body.
    fn response(&mut self) -> (String, Vec<u8>) {
        let mut status = String::new();
        self.reader.read_line(&mut status).expect("status line");
        let (mut length, mut chunked) = (None, false);
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header");
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().expect("a length"));
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).expect("chunk size");
                let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).expect("chunk");
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        (status.trim_end().to_string(), body)
    }

    /// True when the server has closed the connection.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(0))
    }
}

/// Standard base64 with padding, for the Basic credential.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn alice() -> (TestServer, String) {
    let server = TestServer::start();
    server.add_user("alice");
    let pw = server.app_password("alice", "raw");
    (server, pw)
}

fn propfind(server: &TestServer, pw: &str, path: &str) -> u16 {
    status(server.as_user("alice", pw, "PROPFIND", path).header("Depth", "0").send())
}

#[test]
fn base64_is_standard() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"alice:x?~"), "YWxpY2U6eD9+");
}

#[test]
fn a_delete_with_a_fragment_is_refused_and_deletes_nothing() {
    let (server, pw) = alice();
    for path in ["/dav/frag/", "/dav/gone/"] {
        assert_eq!(status(server.as_user("alice", &pw, "MKCOL", path).send()), 201);
    }
    let put = server.as_user("alice", &pw, "PUT", "/dav/frag/keep.txt");
    assert_eq!(status(put.body("kept").send()), 201);

    let mut raw = Raw::connect(&server, "alice", &pw);
    let request = raw.head("DELETE /dav/frag/#ment HTTP/1.1") + "\r\n";
    raw.send(request.as_bytes());
    let (status_line, _) = raw.response();
    assert!(status_line.starts_with("HTTP/1.1 400 "), "{status_line}");
    assert!(raw.closed(), "the connection ends after the 400");
    assert_eq!(propfind(&server, &pw, "/dav/frag/"), 207);
    let kept = server.as_user("alice", &pw, "GET", "/dav/frag/keep.txt").send().unwrap();
    assert_eq!(kept.text().unwrap(), "kept");

    // The same raw request without the fragment does delete: the 400 came from the fragment.
    let mut raw = Raw::connect(&server, "alice", &pw);
    let request = raw.head("DELETE /dav/gone/ HTTP/1.1") + "\r\n";
    raw.send(request.as_bytes());
    let (status_line, _) = raw.response();
    assert!(status_line.starts_with("HTTP/1.1 204 "), "{status_line}");
    assert_eq!(propfind(&server, &pw, "/dav/gone/"), 404);
}

#[test]
fn bodies_with_hashes_and_request_lines_pass_intact_on_a_keep_alive_connection() {
    let (server, pw) = alice();
    assert_eq!(status(server.as_user("alice", &pw, "MKCOL", "/dav/frag/").send()), 201);
    let body = format!(
        "# notes\r\nDELETE /dav/frag/#ment HTTP/1.1\r\nHost: {}\r\n\r\nGET /a#b HTTP/1.1\n\n#",
        server.base
    );
    let mut raw = Raw::connect(&server, "alice", &pw);

    // Content-Length, then chunked with an extension and a trailer, then a GET of each, then a
    // DELETE with a fragment: all pipelined in one write.
    let mut requests = raw.head("PUT /dav/length.txt HTTP/1.1");
    requests += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    requests += &raw.head("PUT /dav/chunked.txt HTTP/1.1");
    requests += "Transfer-Encoding: chunked\r\n\r\n";
    let (first, second) = body.split_at(10);
    requests += &format!("{:x};note=#x\r\n{first}\r\n", first.len());
    requests += &format!("{:X}\r\n{second}\r\n", second.len());
    requests += "0\r\nX-Trailer: GET /#x HTTP/1.1\r\n\r\n";
    for path in ["/dav/length.txt", "/dav/chunked.txt"] {
        requests += &(raw.head(&format!("GET {path} HTTP/1.1")) + "\r\n");
    }
    requests += &(raw.head("DELETE /dav/frag/#ment HTTP/1.1") + "\r\n");
    raw.send(requests.as_bytes());

    for _ in 0..2 {
        let (status_line, _) = raw.response();
        assert!(status_line.starts_with("HTTP/1.1 201 "), "{status_line}");
    }
    for _ in 0..2 {
        let (status_line, got) = raw.response();
        assert!(status_line.starts_with("HTTP/1.1 200 "), "{status_line}");
        assert_eq!(String::from_utf8(got).unwrap(), body);
    }
    let (status_line, _) = raw.response();
    assert!(status_line.starts_with("HTTP/1.1 400 "), "{status_line}");
    assert!(raw.closed());
    assert_eq!(propfind(&server, &pw, "/dav/frag/"), 207);
    for path in ["/dav/length.txt", "/dav/chunked.txt"] {
        let on_disk = std::fs::read(server.home("alice").join(&path["/dav/".len()..])).unwrap();
        assert_eq!(on_disk, body.as_bytes(), "{path} on disk");
    }
}
