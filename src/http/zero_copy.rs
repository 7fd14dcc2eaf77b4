//! Big files over plain HTTP/1.1 sent with `sendfile(2)`.
//!
//! A GET of a large local file hands hyper mapped windows of the file
//! (`dav_server::localfs_mapped`). Written with `writev`, the kernel would copy every byte out
//! of the mapping into the socket; this writer recognises a slice of such a window and sends
//! its file range with `sendfile` instead, which passes page-cache pages to the socket without
//! a copy (what nginx does with `sendfile on`). Everything else (headers, small bodies, TLS
//! records) is written as it comes. hyper sees an ordinary socket that wrote some bytes.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use dav_server::localfs_mapped::{MappedSource, mapped_source};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream whose writes of mapped file windows go out with `sendfile`.
pub struct ZeroCopy {
    stream: TcpStream,
    /// Off for a TLS connection: rustls writes its own records, never a window.
    enabled: bool,
}

impl ZeroCopy {
    /// `stream`, sending windows with `sendfile` when `enabled`.
    pub fn new(stream: TcpStream, enabled: bool) -> Self {
        Self { stream, enabled }
    }

    /// Sends `source` (part of it, as the socket takes it) once the socket is writable.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        source: &MappedSource,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            let mut offset = source.offset;
            let sent = self.stream.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(&self.stream, &*source.file, Some(&mut offset), source.len)
                    .map_err(io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // 0 from a file cut shorter meanwhile: hyper ends the response (write zero).
                other => return Poll::Ready(other),
            }
        }
    }
}

impl AsyncRead for ZeroCopy {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopy {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.enabled
            && let Some(source) = mapped_source(buf.as_ptr(), buf.len())
        {
            return this.poll_sendfile(cx, &source);
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    /// The slices before the first window go out together with `writev`; a window first in
    /// line goes out with `sendfile`. Each call writes one or the other, so hyper's count of
    /// bytes written stays exact.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first_window = |(i, buf): (usize, &IoSlice<'_>)| {
            mapped_source(buf.as_ptr(), buf.len()).map(|source| (i, source))
        };
        let window =
            if this.enabled { bufs.iter().enumerate().find_map(first_window) } else { None };
        match window {
            Some((0, source)) => this.poll_sendfile(cx, &source),
            Some((first, _)) => {
                let before = bufs.get(..first).unwrap_or(bufs);
                Pin::new(&mut this.stream).poll_write_vectored(cx, before)
            }
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
