//! Which HTTP protocol serves a connection, with the settings every connection of a listener
//! shares.
//!
//! Each protocol has its own hyper builder, so that a connection's state is only that of its
//! protocol: hyper-util's auto builder, which detects the version from the first bytes, keeps
//! room for an HTTP/2 connection in every HTTP/1 one (kilobytes, for each idle kept-alive
//! connection). It is used only where the version is not known beforehand: h2c with prior
//! knowledge (`--http2-plain`), and TLS clients that named no protocol through ALPN.

use super::body::Tracked;
use super::response::Body;
use futures_util::TryFutureExt;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// HTTP/2 limits. With them, what one connection can make the server hold is bounded whatever
/// its streams do: at most 512 KiB of request data not yet read by the application (the
/// connection window), and per stream at most 64 KiB of response data queued for a client that
/// does not read. A ping every 20 s unanswered for 20 s closes a dead connection.
const H2_MAX_STREAMS: u32 = 16;
const H2_STREAM_WINDOW: u32 = 256 * 1024;
const H2_CONNECTION_WINDOW: u32 = 512 * 1024;
const H2_MAX_SEND_BUFFER: usize = 64 * 1024;
const H2_MAX_HEADER_LIST: u32 = 16 * 1024;
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The most an HTTP/1 connection buffers either way: its request head (a longer one gets 431
/// Request Header Fields Too Large; hyper checks between reads, so a head may end a little past
/// it; HTTP/2 allows 16 KiB) and the response bytes queued ahead of the socket, since hyper
/// polls the body again only once the queue is below it. hyper's default, 408 KiB, let each of
/// 32 clients listing a folder of 1,000 files at once hold ~0.7 MiB of listing in the server
/// while it waited for the client to read (`bench/compare.sh`).
const H1_MAX_BUFFER: usize = 64 * 1024;

/// What a connection's protocol is known to be before its first byte is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// HTTP/1: plain HTTP without h2c, or ALPN `http/1.1`.
    Http1,
    /// HTTP/2: ALPN `h2`.
    Http2,
    /// Either: detected from the first bytes (h2c allowed, or a TLS client without ALPN).
    Detect,
}

/// The protocol settings shared by every connection of a listener.
pub struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    detect: auto::Builder<TokioExecutor>,
    /// Plain HTTP may be HTTP/2 with prior knowledge (`--http2-plain`).
    http2_plain: bool,
}

/// The HTTP/2 limits above, on hyper's own builder or on the auto builder's HTTP/2 half: the
/// two have the same methods but no common trait.
macro_rules! http2_limits {
    ($builder:expr) => {
        $builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .max_send_buf_size(H2_MAX_SEND_BUFFER)
            .max_header_list_size(H2_MAX_HEADER_LIST)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT)
    };
}

/// hyper's HTTP/1 head timer also runs while a kept-alive connection waits for its next
/// request, so it must be the idle timeout: anything shorter closed every idle connection
/// after it, whatever --idle-timeout said. A head trickled in counts as idle time too. Its
/// buffers stop at [`H1_MAX_BUFFER`].
macro_rules! http1_limits {
    ($builder:expr, $idle:expr) => {
        $builder.timer(TokioTimer::new()).header_read_timeout($idle).max_buf_size(H1_MAX_BUFFER)
    };
}

impl Protocols {
    /// The settings for connections idle at most `idle_timeout`; h2c only if `http2_plain`.
    pub fn new(idle_timeout: Duration, http2_plain: bool) -> Self {
        let mut http1 = http1::Builder::new();
        http1_limits!(http1, idle_timeout);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2_limits!(http2);
        let mut detect = auto::Builder::new(TokioExecutor::new());
        http1_limits!(detect.http1(), idle_timeout);
        http2_limits!(detect.http2());
        Self { http1, http2, detect, http2_plain }
    }

    /// What a plain-HTTP connection is.
    pub fn plain(&self) -> Known {
        if self.http2_plain { Known::Detect } else { Known::Http1 }
    }

    /// What a TLS connection is, from the protocol its client chose through ALPN.
    pub fn negotiated(alpn: Option<&[u8]>) -> Known {
        match alpn {
            Some(b"h2") => Known::Http2,
            Some(_) => Known::Http1,
            None => Known::Detect,
        }
    }

    /// Serves `io` as `known` until the connection ends or the server shuts down.
    ///
    /// Not an `async fn`: its future would keep a slot for `io` (for a TLS stream, kilobytes) for
    /// the connection's whole life, beside the copy inside hyper's connection. The one
    /// allocation a connection keeps is hyper's connection itself, boxed at its own size.
    pub fn serve<IO, S>(
        &self,
        known: Known,
        watcher: Watcher,
        io: IO,
        service: S,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + '_>>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: hyper::service::Service<
                hyper::Request<Incoming>,
                Response = hyper::Response<Tracked<Body>>,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let io = TokioIo::new(io);
        match known {
            Known::Http1 => {
                let conn = self.http1.serve_connection(io, service);
                Box::pin(watcher.watch(conn).map_err(BoxError::from))
            }
            Known::Http2 => {
                let conn = self.http2.serve_connection(io, service);
                Box::pin(watcher.watch(conn).map_err(BoxError::from))
            }
            Known::Detect => Box::pin(watcher.watch(self.detect.serve_connection(io, service))),
        }
    }
}

/// Why a connection ended with an error (for the debug log).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
