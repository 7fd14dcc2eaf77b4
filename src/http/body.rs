//! Body wrappers between hyper and the application.
//!
//! [`Deadline`] puts a deadline on a request body: a client that stops sending in the middle of
//! its body ends its request with an error of kind [`io::ErrorKind::TimedOut`] (the application
//! answers 408), instead of holding the request, a stream, a temporary file or buffered bytes
//! forever. Any other failure of the body (a malformed or cut-off chunked body, a body shorter
//! than its `Content-Length`, a stream reset by the client) becomes an error of kind
//! [`io::ErrorKind::InvalidData`]: the client's fault, answered 400, never a 5xx.
//!
//! [`Tracked`] keeps a request counted as in progress until its response body is done, so that
//! the connection registry never takes a connection in the middle of a download for an idle one.

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

use super::limits::Busy;

/// A request body that fails once the client has sent nothing for `timeout` while the
/// application waits for it (see the module documentation).
pub struct Deadline<B> {
    inner: B,
    timeout: Duration,
    /// Armed while the application waits; disarmed by every frame. The clock only runs while
    /// the body is polled, so a body not read yet (`Expect: 100-continue`, authentication
    /// first) cannot time out before its client was asked for it.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    done: bool,
}

impl<B> Deadline<B> {
    /// Wraps `inner` with a stall `timeout`.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self { inner, timeout, sleep: None, armed: false, done: false }
    }
}

/// Why a request body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The client sent nothing for this long.
    #[error("the request body stalled: nothing received for {0:?}")]
    Stalled(Duration),
    /// The body is malformed or was cut off.
    #[error("the request body is malformed or incomplete: {0}")]
    Broken(String),
}

impl<B> Body for Deadline<B>
where
    B: Body + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, io::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                let error = BodyError::Broken(e.to_string());
                Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, error))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = Instant::now() + this.timeout;
                let sleep =
                    this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.done = true;
                        let error = BodyError::Stalled(this.timeout);
                        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, error))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in progress until it is done or dropped.
pub struct Tracked<B> {
    inner: B,
    _busy: Busy,
}

impl<B> Tracked<B> {
    /// Wraps `inner`; `busy` is released with it.
    pub fn new(inner: B, busy: Busy) -> Self {
        Self { inner, _busy: busy }
    }
}

impl<B> Body for Tracked<B>
where
    B: Body + Unpin,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_stalled_body_times_out_and_a_flowing_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, io::Error>>(4);
        let stream = tokio_stream_from(rx);
        let mut body = Deadline::new(StreamBody::new(stream), Duration::from_millis(300));
        tx.send(Ok(Frame::data(Bytes::from_static(b"a")))).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "a");
        // Less than the timeout between frames: fine.
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            tx.send(Ok(Frame::data(Bytes::from_static(b"b")))).await.unwrap();
            tx
        });
        assert!(body.frame().await.unwrap().is_ok());
        let _tx = sender.await.unwrap();
        // Then nothing: a timeout.
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(body.frame().await.is_none());
    }

    /// A stream over an mpsc receiver (without pulling in tokio-stream).
    fn tokio_stream_from<T>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}
