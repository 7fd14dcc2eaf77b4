//! Refuses HTTP/1 requests whose request-target carries a URI fragment.
//!
//! A client must never send a fragment (`#...`) in a request-target, but some do. hyper parses
//! the target with the `http` crate, which silently cuts it at `#`, so the application would see
//! `DELETE /dav/frag/#ment` as `DELETE /dav/frag/` and delete a whole collection the client did
//! not name (litmus: "DELETE removed collection resource with Request-URI including fragment;
//! unsafe"). The application never learns that a fragment was there, so the fix has to sit below
//! hyper.
//!
//! [`FragmentGuard`] wraps a connection's IO. Reads follow HTTP/1.x message framing (RFC 9112:
//! request line, header fields, a body sized by `Content-Length` or chunked coding) and, only
//! inside a request line's request-target, replace each `#` byte with a space. The request line
//! then has a stray space and hyper itself answers `400 Bad Request` and closes the connection:
//! nothing is done to any resource. The rewrite is length-preserving and works byte by byte as
//! data arrives, so nothing is buffered and a request line split across reads is handled. Writes
//! pass straight through.
//!
//! Safety rule: nothing but a `#` in a request-target is ever changed, and a body byte never is.
//! Body bytes are counted, never scanned for requests. Whenever the framing is not plainly what
//! hyper would read (an invalid or conflicting `Content-Length`, a transfer coding other than
//! chunked, `Upgrade`, `CONNECT`, the HTTP/2 preface, an over-long header, a malformed chunk, any
//! byte the parser does not expect), the guard switches to passthrough for the rest of the
//! connection and never modifies anything again; hyper deals with the request as it would without
//! the guard.
//!
//! A connection the guard can no longer follow is not served any further: the guard counts the
//! requests it has seen begin and records, in the connection's shared [`Verdict`], the one during
//! which it lost track. The connection's service answers that request with `Connection: close`
//! and refuses any later one with 400 without running it, so nothing after an `Upgrade:`
//! request or an over-long `Content-Length` line is ever served unguarded. The HTTP/2 preface
//! (`PRI * HTTP/2.0`, h2c with prior knowledge) is not a loss: HTTP/2 refuses a `#` in `:path`
//! itself (see `vendor/h2/PATCHES.md`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest header line (or the part of it) kept for parsing; a longer `Content-Length`,
/// `Transfer-Encoding` or `Upgrade` line switches to passthrough.
const LINE_MAX: usize = 8 * 1024;
/// The longest method or HTTP-version kept for parsing: enough for `CONNECT` and `HTTP/1.1`.
const WORD_MAX: usize = 16;

/// Connection IO that makes hyper refuse HTTP/1 request-targets with a fragment (see the module
/// documentation).
#[derive(Debug)]
pub struct FragmentGuard<IO> {
    io: IO,
    scanner: Scanner,
    verdict: Arc<Verdict>,
}

impl<IO> FragmentGuard<IO> {
    /// Guards an HTTP/1 (or not yet known) connection, reporting to `verdict`.
    pub fn new(io: IO, verdict: Arc<Verdict>) -> Self {
        Self { io, scanner: Scanner::new(), verdict }
    }

    /// Wraps `io` without ever changing a byte: for connections that are not HTTP/1 (h2 chosen
    /// through ALPN), so that both kinds have the same type.
    pub fn passthrough(io: IO) -> Self {
        Self { io, scanner: Scanner::passthrough(), verdict: Arc::default() }
    }
}

/// What a connection's guard tells its service: whether, and during which request, it lost
/// track of the framing.
#[derive(Debug, Default)]
pub struct Verdict {
    /// 0 while the guard follows; else the number (from 1) of the request it lost track in.
    lost_in: AtomicU64,
}

/// How the service must treat a request, by the guard's [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The guard follows the connection: serve as usual.
    Serve,
    /// Serve this one, then close the connection: the guard cannot vouch for what follows.
    ServeThenClose,
    /// Do not serve: the guard lost track before this request began.
    Refuse,
}

impl Verdict {
    /// The treatment of the connection's `n`-th request (from 1).
    pub fn treatment(&self, n: u64) -> Treatment {
        match self.lost_in.load(Ordering::Acquire) {
            0 => Treatment::Serve,
            lost if n > lost => Treatment::Refuse,
            _ => Treatment::ServeThenClose,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FragmentGuard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        // Whatever the outcome, every byte handed up has been through the scanner.
        if let Some(new) = buf.filled_mut().get_mut(before..).filter(|new| !new.is_empty()) {
            this.scanner.scan(new);
            if let Some(n) = this.scanner.lost_in() {
                this.verdict.lost_in.store(n, Ordering::Release);
            }
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FragmentGuard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Where the scanner is in the stream of requests. Each state mirrors what hyper (httparse for
/// the head, hyper's decoders for the body) expects next; anything else is `Passthrough`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests: empty lines may come before a request line.
    Idle,
    /// A CR between requests: LF must follow.
    IdleLf,
    /// In the method (kept in `word`).
    Method,
    /// In the request-target: the only place anything is rewritten.
    Target,
    /// In the HTTP-version (kept in `word`), up to the end of the request line.
    Version,
    /// In a header line (kept in `line`), or at the empty line that ends the header section.
    Header,
    /// In a `Content-Length` body: this many bytes to go (never 0).
    Body(u64),
    /// Chunked: at the first digit of a chunk size.
    ChunkStart,
    /// Chunked: in the chunk size read so far.
    ChunkSize(u64),
    /// Chunked: whitespace after the chunk size.
    ChunkSpace(u64),
    /// Chunked: in a chunk extension, up to CR.
    ChunkExt(u64),
    /// Chunked: LF after the chunk-size line.
    ChunkSizeLf(u64),
    /// Chunked: in chunk data, this many bytes to go (never 0).
    ChunkData(u64),
    /// Chunked: CR after chunk data.
    ChunkDataCr,
    /// Chunked: LF after chunk data.
    ChunkDataLf,
    /// Chunked, after the last chunk: at the start of a trailer line or of the final CRLF.
    TrailerStart,
    /// In a trailer line, up to CR.
    Trailer,
    /// LF after a trailer line.
    TrailerLf,
    /// LF of the final CRLF: the request ends there.
    EndLf,
    /// Not following the framing any more: never change a byte again.
    Passthrough,
}

/// The HTTP/1 request framing state machine: [`Scanner::scan`] rewrites `#` in request-targets
/// of freshly read bytes, in place.
#[derive(Debug)]
struct Scanner {
    state: State,
    /// The method or the HTTP-version read so far (at most `WORD_MAX` bytes).
    word: Vec<u8>,
    /// The current header line (at most `LINE_MAX` bytes).
    line: Vec<u8>,
    /// The current header line is longer than `line`.
    line_cut: bool,
    /// The current request is HTTP/1.1 (not 1.0).
    http11: bool,
    /// The current request's `Content-Length`.
    content_length: Option<u64>,
    /// The current request has `Transfer-Encoding`: whether its last line ends in `chunked`.
    chunked: Option<bool>,
    /// Requests begun so far (the current one included).
    requests: u64,
    /// The current method is `PRI` (the start of the HTTP/2 preface).
    pri: bool,
    /// Passthrough is not a loss: the connection is not HTTP/1 (HTTP/2 preface, or ALPN h2).
    not_http1: bool,
}

impl Scanner {
    fn new() -> Self {
        Self {
            state: State::Idle,
            word: Vec::new(),
            line: Vec::new(),
            line_cut: false,
            http11: false,
            content_length: None,
            chunked: None,
            requests: 0,
            pri: false,
            not_http1: false,
        }
    }

    fn passthrough() -> Self {
        Self { state: State::Passthrough, not_http1: true, ..Self::new() }
    }

    /// The number (from 1) of the HTTP/1 request during which the scanner lost track.
    fn lost_in(&self) -> Option<u64> {
        (self.state == State::Passthrough && !self.not_http1).then_some(self.requests.max(1))
    }

    #[cfg(test)]
    fn is_passthrough(&self) -> bool {
        self.state == State::Passthrough
    }

    /// Follows the framing over `buf`, the next bytes of the connection, and replaces `#` with
    /// a space inside request-targets.
    fn scan(&mut self, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() {
            match self.state {
                State::Passthrough => return,
                State::Body(left) | State::ChunkData(left) => {
                    // Counted, never looked at.
                    let n = usize::try_from(left).map_or(buf.len() - i, |l| l.min(buf.len() - i));
                    i += n;
                    let left = left - n as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => {
                            self.next_request();
                            State::Idle
                        }
                        (State::Body(_), left) => State::Body(left),
                        (_, 0) => State::ChunkDataCr,
                        (_, left) => State::ChunkData(left),
                    };
                }
                State::Target => {
                    // The hot path of the head: only the target is ever changed.
                    for b in buf.iter_mut().skip(i) {
                        i += 1;
                        match *b {
                            b'#' => *b = b' ',
                            b' ' => {
                                self.word.clear();
                                self.state = State::Version;
                                break;
                            }
                            // What httparse accepts in a request-target.
                            0x21..=0x7e | 0x80..=0xff => {}
                            _ => {
                                self.state = State::Passthrough;
                                return;
                            }
                        }
                    }
                }
                _ => {
                    let Some(&b) = buf.get(i) else { return };
                    self.step(b);
                    i += 1;
                }
            }
        }
    }

    /// One byte outside the request-target and bodies.
    fn step(&mut self, b: u8) {
        self.state = match self.state {
            State::Idle => match b {
                b'\r' => State::IdleLf,
                b'\n' => State::Idle,
                b => {
                    // Whatever it is, hyper reads it as the start of the next request.
                    self.requests += 1;
                    if is_tchar(b) {
                        self.word.clear();
                        self.word.push(b);
                        State::Method
                    } else {
                        State::Passthrough
                    }
                }
            },
            State::IdleLf => match b {
                b'\n' => State::Idle,
                _ => {
                    self.requests += 1;
                    State::Passthrough
                }
            },
            State::Method => match b {
                // A tunnel: what follows is not HTTP.
                b' ' if self.word == b"CONNECT" => State::Passthrough,
                b' ' => {
                    self.pri = self.word == b"PRI";
                    State::Target
                }
                b if is_tchar(b) => {
                    if self.word.len() < WORD_MAX {
                        self.word.push(b);
                    }
                    State::Method
                }
                _ => State::Passthrough,
            },
            State::Version => match b {
                b'\n' => match self.word.strip_suffix(b"\r").unwrap_or(&self.word) {
                    b"HTTP/1.1" | b"HTTP/1.0" => {
                        self.http11 = self.word.starts_with(b"HTTP/1.1");
                        self.line.clear();
                        self.line_cut = false;
                        State::Header
                    }
                    // HTTP/2 prior knowledge (`PRI * HTTP/2.0`, a target `*` cannot hide a
                    // fragment), which HTTP/2 guards itself.
                    b"HTTP/2.0" if self.pri && self.requests == 1 => {
                        self.not_http1 = true;
                        State::Passthrough
                    }
                    // Not HTTP/1 at all.
                    _ => State::Passthrough,
                },
                _ if self.word.len() < WORD_MAX => {
                    self.word.push(b);
                    State::Version
                }
                _ => State::Passthrough,
            },
            State::Header => match b {
                b'\n' => self.header_line(),
                _ => {
                    if self.line.len() < LINE_MAX {
                        self.line.push(b);
                    } else {
                        self.line_cut = true;
                    }
                    State::Header
                }
            },
            State::ChunkStart => match hex(b) {
                Some(d) => State::ChunkSize(d),
                None => State::Passthrough,
            },
            State::ChunkSize(size) => match (b, hex(b)) {
                (_, Some(d)) => match size.checked_mul(16) {
                    Some(size) => State::ChunkSize(size + d),
                    None => State::Passthrough,
                },
                (b' ' | b'\t', _) => State::ChunkSpace(size),
                (b';', _) => State::ChunkExt(size),
                (b'\r', _) => State::ChunkSizeLf(size),
                _ => State::Passthrough,
            },
            State::ChunkSpace(size) => match b {
                b' ' | b'\t' => State::ChunkSpace(size),
                b';' => State::ChunkExt(size),
                b'\r' => State::ChunkSizeLf(size),
                _ => State::Passthrough,
            },
            State::ChunkExt(size) => match b {
                b'\r' => State::ChunkSizeLf(size),
                b'\n' => State::Passthrough,
                _ => State::ChunkExt(size),
            },
            State::ChunkSizeLf(size) => match (b, size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', size) => State::ChunkData(size),
                _ => State::Passthrough,
            },
            State::ChunkDataCr => match b {
                b'\r' => State::ChunkDataLf,
                _ => State::Passthrough,
            },
            State::ChunkDataLf => match b {
                b'\n' => State::ChunkStart,
                _ => State::Passthrough,
            },
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                _ => State::Trailer,
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                _ => State::Trailer,
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => State::Passthrough,
            },
            State::EndLf => match b {
                b'\n' => {
                    self.next_request();
                    State::Idle
                }
                _ => State::Passthrough,
            },
            // Handled by `scan`; never reached.
            State::Target | State::Body(_) | State::ChunkData(_) | State::Passthrough => {
                State::Passthrough
            }
        };
    }

    /// A header line (in `line`) has ended: records what matters for framing; at the empty line,
    /// decides how the body is framed.
    fn header_line(&mut self) -> State {
        let line = if self.line_cut {
            &self.line[..]
        } else {
            self.line.strip_suffix(b"\r").unwrap_or(&self.line)
        };
        if line.is_empty() && !self.line_cut {
            return self.body();
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return State::Passthrough;
        };
        let (name, colon_and_value) = line.split_at(colon);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return State::Passthrough;
        }
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if !(is("content-length") || is("transfer-encoding") || is("upgrade")) {
            self.line.clear();
            self.line_cut = false;
            return State::Header;
        }
        if self.line_cut || is("upgrade") {
            return State::Passthrough;
        }
        let value = trim(colon_and_value.get(1..).unwrap_or_default());
        if !value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return State::Passthrough;
        }
        if is("content-length") {
            match (digits(value), self.content_length) {
                (Some(n), None) => self.content_length = Some(n),
                (Some(n), Some(before)) if n == before => {}
                _ => return State::Passthrough,
            }
        } else {
            // As hyper reads it: the last Transfer-Encoding line counts, and only its last coding.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(value);
            self.chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
        }
        self.line.clear();
        self.line_cut = false;
        State::Header
    }

    /// The header section has ended: the state for the body, if any.
    fn body(&mut self) -> State {
        match (self.chunked, self.content_length) {
            (None, None | Some(0)) => {
                self.next_request();
                State::Idle
            }
            (None, Some(n)) => State::Body(n),
            (Some(true), None) if self.http11 => State::ChunkStart,
            // Not chunked (hyper refuses it), both framings at once, or chunked in HTTP/1.0.
            (Some(_), _) => State::Passthrough,
        }
    }

    /// Forgets the request that just ended, and frees what it needed: a kept-alive connection
    /// waiting for its next request holds no buffer.
    fn next_request(&mut self) {
        self.word = Vec::new();
        self.line = Vec::new();
        self.line_cut = false;
        self.http11 = false;
        self.content_length = None;
        self.chunked = None;
        self.pri = false;
    }
}

/// A token character (RFC 9110 §5.6.2), as in a method or a header name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn hex(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

/// Without leading and trailing spaces and tabs.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A decimal number of only digits, as hyper reads `Content-Length`.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `input` in one read, in every two-way split and in one-byte reads; all must agree.
    /// Returns the output and whether the scanner ended in passthrough.
    fn run(input: &[u8]) -> (Vec<u8>, bool) {
        let mut whole = input.to_vec();
        let mut scanner = Scanner::new();
        scanner.scan(&mut whole);
        let passthrough = scanner.is_passthrough();
        for split in 0..=input.len() {
            let mut out = input.to_vec();
            let (a, b) = out.split_at_mut(split);
            let mut scanner = Scanner::new();
            scanner.scan(a);
            scanner.scan(b);
            assert_eq!(out, whole, "split at {split}");
            assert_eq!(scanner.is_passthrough(), passthrough, "split at {split}");
        }
        let mut out = input.to_vec();
        let mut scanner = Scanner::new();
        for byte in out.chunks_mut(1) {
            scanner.scan(byte);
        }
        assert_eq!(out, whole, "one-byte reads");
        assert_eq!(scanner.is_passthrough(), passthrough, "one-byte reads");
        (whole, passthrough)
    }

    fn rewritten(input: &str) -> String {
        let (out, _) = run(input.as_bytes());
        String::from_utf8(out).unwrap()
    }

    /// Asserts that `input` ends in passthrough with nothing changed.
    fn untouched(input: &str) {
        let (out, passthrough) = run(input.as_bytes());
        assert_eq!(String::from_utf8(out).unwrap(), input);
        assert!(passthrough, "passthrough expected for {input:?}");
    }

    const DELETE_FRAGMENT: &str = "DELETE /dav/frag/#ment HTTP/1.1\r\nHost: h#st\r\n\r\n";
    const DELETE_REWRITTEN: &str = "DELETE /dav/frag/ ment HTTP/1.1\r\nHost: h#st\r\n\r\n";

    #[test]
    fn a_fragment_in_the_target_becomes_a_space_and_nothing_else_changes() {
        assert_eq!(rewritten(DELETE_FRAGMENT), DELETE_REWRITTEN);
        assert_eq!(
            rewritten("GET /a#b#c# HTTP/1.1\r\nX-Note: #1\r\n\r\n"),
            "GET /a b c  HTTP/1.1\r\nX-Note: #1\r\n\r\n"
        );
        // A `#` is a token character: in a method it stays.
        assert_eq!(rewritten("M#KCOL /x HTTP/1.1\r\n\r\n"), "M#KCOL /x HTTP/1.1\r\n\r\n");
        let (_, passthrough) = run(DELETE_FRAGMENT.as_bytes());
        assert!(!passthrough);
    }

    #[test]
    fn requests_without_a_fragment_are_untouched_and_followed() {
        let input = "\r\n\nPROPFIND /dav/a%23b HTTP/1.1\r\nDepth: 0\r\n\r\n\
                     GET /dav/x HTTP/1.0\nHost: x\n\n";
        let (out, passthrough) = run(input.as_bytes());
        assert_eq!(out, input.as_bytes());
        assert!(!passthrough);
    }

    #[test]
    fn empty_lines_and_lf_only_endings_are_tolerated() {
        assert_eq!(
            rewritten(
                "\r\n\r\nDELETE /a#b HTTP/1.1\nHost: x\nContent-Length: 2\n\n#\nGET /c#d HTTP/1.1\n\n"
            ),
            "\r\n\r\nDELETE /a b HTTP/1.1\nHost: x\nContent-Length: 2\n\n#\nGET /c d HTTP/1.1\n\n"
        );
    }

    #[test]
    fn a_content_length_body_is_never_touched_and_the_next_request_is_checked() {
        let body = "# not a target\r\nDELETE /x#y HTTP/1.1\r\nHost: x\r\n\r\n";
        let put = format!(
            "PUT /dav/f HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: {}\r\nContent-Length:{}  \r\n\r\n{body}",
            body.len(),
            body.len()
        );
        let input = format!("{put}{DELETE_FRAGMENT}");
        assert_eq!(rewritten(&input), format!("{put}{DELETE_REWRITTEN}"));
        // An empty body, then the next request.
        let empty = "PUT /e HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            rewritten(&format!("{empty}{DELETE_FRAGMENT}")),
            format!("{empty}{DELETE_REWRITTEN}")
        );
    }

    #[test]
    fn a_chunked_body_is_never_touched_and_the_next_request_is_checked() {
        let put = "PUT /dav/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, Chunked \r\n\r\n\
                   5;name=#v\r\n#a#b#\r\n\
                   18 \t; x=\"DELETE /x#y HTTP/1.1\"\r\nDELETE /x#y HTTP/1.1\r\n\r\n\r\n\
                   A\r\n0123456789\r\n\
                   0;last#\r\nX-Trailer: #t\r\nX-Other: GET /a#b HTTP/1.1\r\n\r\n";
        let input = format!("{put}{DELETE_FRAGMENT}");
        assert_eq!(rewritten(&input), format!("{put}{DELETE_REWRITTEN}"));
        // No extensions, no trailers.
        let plain = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n#\r\n\r\n0\r\n\r\n";
        assert_eq!(
            rewritten(&format!("{plain}{DELETE_FRAGMENT}")),
            format!("{plain}{DELETE_REWRITTEN}")
        );
    }

    #[test]
    fn a_long_irrelevant_header_is_skipped() {
        let long = format!("GET /a HTTP/1.1\r\nX-Long: {}#\r\n\r\n", "x".repeat(LINE_MAX + 10));
        assert_eq!(
            rewritten(&format!("{long}{DELETE_FRAGMENT}")),
            format!("{long}{DELETE_REWRITTEN}")
        );
    }

    #[test]
    fn h2_upgrade_connect_and_garbage_switch_to_passthrough() {
        let after = "GET /a#b HTTP/1.1\r\n\r\n";
        let cases = [
            // HTTP/2 prior knowledge.
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET /ws HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            // A TLS ClientHello on the plain port.
            "\u{16}\u{3}\u{1}\u{2}\0\u{1}",
            "GET / HTTP/3\r\n\r\n",
            "GET /\r\n\r\n",
            "GET /a\tb HTTP/1.1\r\n\r\n",
            " GET / HTTP/1.1\r\n\r\n",
            "\rGET / HTTP/1.1\r\n\r\n",
        ];
        for case in cases {
            untouched(&format!("{case}{after}"));
        }
    }

    #[test]
    fn doubtful_framing_switches_to_passthrough() {
        let after = "\r\n\r\nGET /a#b HTTP/1.1\r\n\r\n";
        let heads = [
            "Content-Length: 5, 5",
            "Content-Length: +5",
            "Content-Length: -1",
            "Content-Length: 0x10",
            "Content-Length:",
            "Content-Length: 99999999999999999999999",
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length : 5",
            " Content-Length: 5",
            "Content-Length 5",
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: chunked, gzip",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
            "Transfer-Encoding: chunked\r\nContent-Length: 5",
            "Content-Length: 5\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: chunk\u{e9}d",
        ];
        for head in heads {
            untouched(&format!("PUT /a HTTP/1.1\r\n{head}\r\n\r\n{after}"));
        }
        untouched(&format!(
            "PUT /a HTTP/1.1\r\nContent-Length: 1{}\r\n\r\n{after}",
            "0".repeat(LINE_MAX)
        ));
        // Chunked coding in HTTP/1.0.
        untouched(&format!(
            "PUT /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{after}"
        ));
        // Malformed chunked framing.
        let chunks = [
            "5\nhello\r\n0\r\n\r\n",
            "5\r\nhello\n0\r\n\r\n",
            "5\r\nhelloX\r\n0\r\n\r\n",
            "\r\n",
            "x\r\n",
            "5 5\r\nhello\r\n0\r\n\r\n",
            "5;a\nb\r\nhello\r\n0\r\n\r\n",
            "fffffffffffffffff\r\n",
            "0\r\nX: y\rZ",
            "0\r\n\rX",
        ];
        for chunk in chunks {
            untouched(&format!(
                "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{after}"
            ));
        }
    }

    /// The request the scanner lost track in, after reading `input` in one go.
    fn lost_in(input: &str) -> Option<u64> {
        let mut scanner = Scanner::new();
        scanner.scan(&mut input.as_bytes().to_vec());
        scanner.lost_in()
    }

    #[test]
    fn the_request_where_the_guard_lost_track_is_reported() {
        let get = "GET / HTTP/1.1\r\n\r\n";
        assert_eq!(lost_in(&format!("{get}{get}")), None);
        assert_eq!(lost_in("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), Some(1));
        let upgrade = format!("{get}\r\nGET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n{get}");
        assert_eq!(lost_in(&upgrade), Some(2));
        let long = format!("PUT /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", "0".repeat(9000));
        assert_eq!(lost_in(&format!("{get}{long}{get}")), Some(2));
        // Garbage where a request should begin is that request.
        assert_eq!(lost_in(&format!("{get} GET / HTTP/1.1\r\n\r\n")), Some(2));
        assert_eq!(lost_in(&format!("{get}\rX")), Some(2));
        // The HTTP/2 preface is HTTP/2's business, and so is a connection that chose h2.
        assert_eq!(lost_in("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), None);
        assert_eq!(lost_in(&format!("{get}PRI * HTTP/2.0\r\n\r\n")), Some(2));
        let mut h2 = Scanner::passthrough();
        h2.scan(&mut DELETE_FRAGMENT.as_bytes().to_vec());
        assert_eq!(h2.lost_in(), None);
    }

    #[test]
    fn a_verdict_closes_after_the_lost_request_and_refuses_the_next() {
        let verdict = Verdict::default();
        assert_eq!(verdict.treatment(7), Treatment::Serve);
        verdict.lost_in.store(2, Ordering::Release);
        assert_eq!(verdict.treatment(1), Treatment::ServeThenClose);
        assert_eq!(verdict.treatment(2), Treatment::ServeThenClose);
        assert_eq!(verdict.treatment(3), Treatment::Refuse);
    }

    #[test]
    fn a_passthrough_guard_changes_nothing() {
        let mut buf = DELETE_FRAGMENT.as_bytes().to_vec();
        Scanner::passthrough().scan(&mut buf);
        assert_eq!(buf, DELETE_FRAGMENT.as_bytes());
    }

    #[tokio::test]
    async fn the_guard_rewrites_what_it_reads_and_writes_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A tiny pipe: the request arrives in many small reads.
        let (mut client, server) = tokio::io::duplex(3);
        let mut guard = FragmentGuard::new(server, Arc::default());
        let writer = tokio::spawn(async move {
            client.write_all(DELETE_FRAGMENT.as_bytes()).await.unwrap();
            let mut reply = [0; 5];
            client.read_exact(&mut reply).await.unwrap();
            assert_eq!(&reply, b"HTTP/");
        });
        let mut got = vec![0; DELETE_FRAGMENT.len()];
        guard.read_exact(&mut got).await.unwrap();
        assert_eq!(got, DELETE_REWRITTEN.as_bytes());
        guard.write_all(b"HTTP/").await.unwrap();
        guard.flush().await.unwrap();
        writer.await.unwrap();
    }
}
