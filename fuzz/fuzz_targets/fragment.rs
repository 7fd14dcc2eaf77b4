//! `davgate::internal::FragmentGuard`: the HTTP/1 framing below hyper that turns `#` into a space
//! inside request-targets.
//!
//! The input is a connection's bytes and the way they arrive: the first byte says how many read
//! sizes follow (low 5 bits), whether each read is preceded by a `Pending` (bit 6) and whether the
//! rest is expanded from tokens (bit 7, so that the fuzzer reaches deep framing quickly); the read
//! sizes (1..=256 each) repeat until the stream is used up. The guard is driven through its real
//! `AsyncRead`, over a reader that hands out exactly those reads.
//!
//! Checks, on any bytes and any split:
//! - the output has the input's length, and each byte is the input's, or a `#` made a space;
//! - the output and the verdict are the same as when the stream arrives in one read;
//! - against a reference reading of HTTP/1 written here (whole-buffer, strict, independent of the
//!   guard's state machine): up to where the reference stops understanding the stream, exactly the
//!   `#` bytes inside request-targets are spaces and nothing else changed; the guard does not give
//!   up on a request before the one where the reference gives up (so it never refuses a request
//!   the reference reads as plain HTTP/1), and never gives up on a stream the reference follows
//!   to the end; and nothing changes after a `CONNECT` or an `Upgrade:` header, where the stream
//!   may stop being HTTP/1.
#![no_main]

use davgate::internal::{FragmentGuard, Treatment, Verdict};
use libfuzzer_sys::fuzz_target;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// Pieces the token mode builds streams from: the words of HTTP/1 framing that the fuzzer
/// would take long to find byte by byte.
const TOKENS: &[&[u8]] = &[
    b"GET ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"PRI ",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b" HTTP/2.0\r\n",
    b"\r\n",
    b"\n",
    b"/a#b",
    b"#",
    b"Content-Length: ",
    b"content-length:",
    b"Transfer-Encoding: chunked\r\n",
    b"transfer-encoding: gzip, chunked\r\n",
    b"Upgrade: h2c\r\n",
    b"Host: x#y\r\n",
    b"0\r\n\r\n",
    b"5\r\n#####\r\n",
    b"3;e=#\r\n",
    b"12",
    b"0",
    b"\xff",
    b"\x80",
    b" ",
    b"\t",
    b":",
    b"X-A: #\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"%23",
    b"?q#",
    b"Content-Length: 5\r\n\r\n#####",
    b"0\r\nX-T: #\r\n\r\n",
];

/// A connection that hands out `data` in reads of the given sizes (cycled), optionally
/// answering `Pending` once before each read.
struct Reads<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
    pending: bool,
    pended: bool,
}

impl AsyncRead for Reads<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending && !this.pended {
            this.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pended = false;
        let size = this.sizes.get(this.next % this.sizes.len().max(1)).copied();
        this.next += 1;
        let n = size.unwrap_or(usize::MAX).min(this.data.len()).min(buf.remaining());
        let (now, rest) = this.data.split_at(n);
        buf.put_slice(now);
        this.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// Reads the whole stream through a guard; returns what the guard handed up and its verdict.
fn guarded(data: &[u8], sizes: Vec<usize>, pending: bool) -> (Vec<u8>, Arc<Verdict>) {
    let verdict = Arc::new(Verdict::default());
    let reads = Reads { data, sizes, next: 0, pending, pended: false };
    let mut guard = FragmentGuard::new(reads, verdict.clone());
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; data.len() + 1];
    // Each poll either pends once or reads at least one byte, so this ends.
    for _ in 0..=2 * data.len() + 2 {
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut guard).poll_read(&mut cx, &mut read) {
            Poll::Pending => continue,
            Poll::Ready(Ok(())) if read.filled().is_empty() => return (out, verdict),
            Poll::Ready(Ok(())) => out.extend_from_slice(read.filled()),
            Poll::Ready(Err(e)) => panic!("the guard failed a read: {e}"),
        }
    }
    panic!("the guard did not reach the end of {} bytes", data.len());
}

/// What the reference reading makes of a stream.
#[derive(Debug, Default)]
struct Reading {
    /// The request-targets it read (a prefix where it stopped inside one).
    targets: Vec<Range<usize>>,
    /// Where it stopped understanding the stream, and in which request (from 1); `None` if it
    /// followed the stream to its end.
    lost: Option<(usize, u64)>,
    /// Where the stream stops being HTTP/1 (a `CONNECT` tunnel, an `Upgrade:` request): no byte
    /// from there on may change, whatever it looks like.
    tunnel: Option<usize>,
}

/// Why the reference stopped.
enum Stop {
    /// The stream ended (possibly in the middle of a request).
    End,
    /// At this offset, the stream is not the plain HTTP/1 the reference reads.
    Lost(usize),
    /// At this offset, the stream may turn into another protocol: lost, and nothing after it
    /// may change.
    Tunnel(usize),
}

/// A strict whole-buffer reading of HTTP/1 requests (RFC 9112), written from the RFC and what
/// httparse and hyper accept, not from the guard: it gives up on anything unusual (`CONNECT`,
/// `PRI`, `Upgrade`, doubtful lengths, long lines, non-printable header values, chunk
/// extensions with odd bytes), which only makes its checks fewer, never wrong.
struct Reference<'a> {
    data: &'a [u8],
    at: usize,
    reading: Reading,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &s[start..end]
}

/// Whether `s` is (`complete`) or begins (not `complete`) a chunk-size line the reference reads:
/// 1 to 15 hex digits, then maybe `;` and a printable extension.
fn chunk_head(s: &[u8], complete: bool) -> bool {
    let (size, ext) = match s.iter().position(|&b| b == b';') {
        Some(semi) => (&s[..semi], Some(&s[semi + 1..])),
        None => (s, None),
    };
    let digits = size.len() <= 15 && size.iter().all(u8::is_ascii_hexdigit);
    let started = !size.is_empty() || (!complete && ext.is_none());
    let ext = ext.is_none_or(|e| e.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)));
    digits && started && ext
}

/// Whether `s` begins an HTTP-version line the reference reads.
fn version_start(s: &[u8]) -> bool {
    b"HTTP/1.1\r".starts_with(s) || b"HTTP/1.0\r".starts_with(s)
}

/// The longest header, trailer or chunk-size line the reference reads.
const LINE: usize = 4096;

impl<'a> Reference<'a> {
    fn read(data: &'a [u8]) -> Reading {
        let mut r = Reference { data, at: 0, reading: Reading::default() };
        let mut request = 1;
        loop {
            match r.request() {
                Ok(()) => request += 1,
                Err(Stop::End) => return r.reading,
                Err(Stop::Lost(at)) => {
                    r.reading.lost = Some((at, request));
                    return r.reading;
                }
                Err(Stop::Tunnel(at)) => {
                    r.reading.lost = Some((at, request));
                    r.reading.tunnel = Some(at);
                    return r.reading;
                }
            }
        }
    }

    fn peek(&self) -> Result<u8, Stop> {
        self.data.get(self.at).copied().ok_or(Stop::End)
    }

    /// The next line up to LF (without it, and without one CR before it). Where the stream ends
    /// before the LF, `partial` says whether what came is still the start of a line the
    /// reference reads (the stream ended) or not (lost there, as a byte-by-byte reader would be).
    fn line(&mut self, crlf: bool, partial: fn(&[u8]) -> bool) -> Result<&'a [u8], Stop> {
        let start = self.at;
        let rest = &self.data[start..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return if rest.len() > LINE || !partial(rest) {
                Err(Stop::Lost(start))
            } else {
                Err(Stop::End)
            };
        };
        if lf > LINE {
            return Err(Stop::Lost(start));
        }
        self.at = start + lf + 1;
        match rest[..lf].strip_suffix(b"\r") {
            Some(line) => Ok(line),
            None if crlf => Err(Stop::Lost(start)),
            None => Ok(&rest[..lf]),
        }
    }

    /// A `name: value` field line with a printable value; returns the name and trimmed value.
    fn field(line: &[u8]) -> Option<(&[u8], &[u8])> {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let printable = value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
        (!name.is_empty() && name.iter().all(|&b| is_tchar(b)) && printable)
            .then(|| (name, trim(value)))
    }

    fn request(&mut self) -> Result<(), Stop> {
        // Empty lines before a request line.
        loop {
            match self.peek()? {
                b'\n' => self.at += 1,
                b'\r' => match self.data.get(self.at + 1) {
                    None => return Err(Stop::End),
                    Some(b'\n') => self.at += 2,
                    Some(_) => return Err(Stop::Lost(self.at)),
                },
                _ => break,
            }
        }
        let start = self.at;
        // Method SP.
        let sp = loop {
            let b = self.peek()?;
            match b {
                b' ' if self.at > start => break self.at,
                b if is_tchar(b) => self.at += 1,
                _ => return Err(Stop::Lost(self.at)),
            }
        };
        let method = &self.data[start..sp];
        if method == b"CONNECT" {
            return Err(Stop::Tunnel(start));
        }
        if method == b"PRI" {
            return Err(Stop::Lost(start));
        }
        self.at += 1;
        // Request-target SP.
        let target = self.at;
        loop {
            match self.data.get(self.at) {
                None => {
                    self.reading.targets.push(target..self.at);
                    return Err(Stop::End);
                }
                Some(b' ') => break,
                Some(0x21..=0x7e | 0x80..=0xff) => self.at += 1,
                Some(_) => {
                    self.reading.targets.push(target..self.at);
                    return Err(Stop::Lost(self.at));
                }
            }
        }
        self.reading.targets.push(target..self.at);
        if self.at == target {
            return Err(Stop::Lost(target));
        }
        self.at += 1;
        // HTTP-version CRLF (or LF alone, as httparse accepts).
        let version_at = self.at;
        let http11 = match self.line(false, version_start)? {
            b"HTTP/1.1" => true,
            b"HTTP/1.0" => false,
            _ => return Err(Stop::Lost(version_at)),
        };
        // Header fields up to the empty line.
        let (mut length, mut chunked) = (None, false);
        loop {
            let line_at = self.at;
            let line = self.line(false, |_| true)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = Self::field(line).ok_or(Stop::Lost(line_at))?;
            if name.eq_ignore_ascii_case(b"upgrade") {
                return Err(Stop::Tunnel(line_at));
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let plain = (1..=18).contains(&value.len()) && value.iter().all(u8::is_ascii_digit);
                if !plain || length.is_some() || chunked {
                    return Err(Stop::Lost(line_at));
                }
                let text = std::str::from_utf8(value).map_err(|_| Stop::Lost(line_at))?;
                length = Some(text.parse::<usize>().map_err(|_| Stop::Lost(line_at))?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                if !value.eq_ignore_ascii_case(b"chunked") || !http11 || chunked || length.is_some()
                {
                    return Err(Stop::Lost(line_at));
                }
                chunked = true;
            }
        }
        // The body.
        if chunked { self.chunks() } else { self.skip(length.unwrap_or(0)) }
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        if self.data.len() - self.at < n {
            self.at = self.data.len();
            return Err(Stop::End);
        }
        self.at += n;
        Ok(())
    }

    fn chunks(&mut self) -> Result<(), Stop> {
        loop {
            let line_at = self.at;
            let line = self.line(true, |p| match p.strip_suffix(b"\r") {
                Some(head) => chunk_head(head, true),
                None => chunk_head(p, false),
            })?;
            if !chunk_head(line, true) {
                return Err(Stop::Lost(line_at));
            }
            let size = line.split(|&b| b == b';').next().unwrap_or(line);
            let text = std::str::from_utf8(size).map_err(|_| Stop::Lost(line_at))?;
            let size = usize::from_str_radix(text, 16).map_err(|_| Stop::Lost(line_at))?;
            if size == 0 {
                break;
            }
            self.skip(size)?;
            let end_at = self.at;
            if self.line(true, |p| p.is_empty() || p == b"\r")? != b"" {
                return Err(Stop::Lost(end_at));
            }
        }
        // Trailer fields up to the empty line.
        loop {
            let line_at = self.at;
            let line = self.line(true, |p| !p.strip_suffix(b"\r").unwrap_or(p).contains(&b'\r'))?;
            if line.is_empty() {
                return Ok(());
            }
            Self::field(line).ok_or(Stop::Lost(line_at))?;
        }
    }
}

/// The token mode: bytes below 0x80 stand for themselves, the others for a token.
fn expand(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 4);
    for &b in data {
        if b < 0x80 {
            out.push(b);
        } else {
            out.extend_from_slice(TOKENS[usize::from(b - 0x80) % TOKENS.len()]);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let count = usize::from(control & 0x1f).min(rest.len());
    let (sizes, payload) = rest.split_at(count);
    let sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s) + 1).collect();
    let input = if control & 0x80 != 0 { expand(payload) } else { payload.to_vec() };
    let show = String::from_utf8_lossy(&input);

    let (out, verdict) = guarded(&input, sizes.clone(), control & 0x40 != 0);
    assert_eq!(out.len(), input.len(), "length changed for {show:?}");
    for (i, (&a, &b)) in input.iter().zip(&out).enumerate() {
        assert!(a == b || (a == b'#' && b == b' '), "byte {i} {a:#x} became {b:#x} in {show:?}");
    }

    // The split does not matter.
    let (whole, whole_verdict) = guarded(&input, Vec::new(), false);
    assert_eq!(out, whole, "reads {sizes:?} gave another output than one read for {show:?}");
    let treatments = |v: &Verdict| (1..=64).map(|n| v.treatment(n)).collect::<Vec<_>>();
    assert_eq!(treatments(&verdict), treatments(&whole_verdict), "verdict for {show:?}");

    // Against the reference reading.
    let reading = Reference::read(&input);
    let understood = reading.lost.map_or(input.len(), |(at, _)| at);
    let mut in_target = vec![false; input.len()];
    for t in &reading.targets {
        in_target[t.clone()].fill(true);
    }
    for i in 0..understood {
        let expected = if in_target[i] && input[i] == b'#' { b' ' } else { input[i] };
        assert_eq!(out[i], expected, "byte {i} of {show:?} (reference: {reading:?})");
    }
    if let Some(at) = reading.tunnel {
        assert_eq!(out[at..], input[at..], "changed after a tunnel at byte {at} in {show:?}");
    }
    match reading.lost {
        None => assert_eq!(
            verdict.treatment(u64::MAX),
            Treatment::Serve,
            "the guard gave up on {show:?}, which the reference follows to the end"
        ),
        Some((at, n)) => assert_ne!(
            verdict.treatment(n),
            Treatment::Refuse,
            "the guard gave up before request {n} (the reference stops at byte {at}) in {show:?}"
        ),
    }
});
