//! Reading a web request body into memory, within a size cap and a server-wide budget.
//!
//! Forms and JSON are read whole before they are handled. Each body is capped at
//! [`MAX_BODY`](super::MAX_BODY), and all the bodies held at once share one [`Budget`]: a body's
//! bytes are counted as they arrive and stay counted until its request is answered. When the
//! budget is spent, the request is refused at once (503) instead of growing memory, so thousands
//! of sign-in bodies left hanging (each ends after the listener's body timeout anyway) cannot
//! cost more than the budget.

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use std::pin::pin;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::MAX_BODY;

/// Bytes of web request bodies held in memory at once, server-wide.
pub const BUDGET: usize = 8 * 1024 * 1024;

/// The shared budget (see the module documentation).
pub struct Budget(Arc<Semaphore>);

impl Default for Budget {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(BUDGET)))
    }
}

/// A body's share of the budget, given back when dropped (with the request).
#[derive(Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Longer than `MAX_BODY`.
    TooLarge,
    /// The client stopped sending (the listener's body timeout).
    Stalled,
    /// Malformed or cut off.
    Broken,
    /// The budget is spent.
    Busy,
}

/// Reads `body` whole, counting it against `budget`.
pub async fn collect<B>(body: B, budget: &Budget) -> Result<(Bytes, Held), Refusal>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(Refusal::TooLarge);
    }
    let mut body = pin!(body);
    let mut held = Held::default();
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| refusal(&e))?;
        let Ok(mut data) = frame.into_data() else { continue };
        let n = data.remaining();
        if out.len() + n > MAX_BODY {
            return Err(Refusal::TooLarge);
        }
        // n <= MAX_BODY (64 KiB): it fits a u32.
        let share =
            Arc::clone(&budget.0).try_acquire_many_owned(n as u32).map_err(|_| Refusal::Busy)?;
        match &mut held.0 {
            Some(permit) => permit.merge(share),
            None => held.0 = Some(share),
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            out.extend_from_slice(chunk);
            let len = chunk.len();
            data.advance(len);
        }
    }
    Ok((out.freeze(), held))
}

/// A body error: stalled when the listener's deadline says so, otherwise broken.
fn refusal(e: &(dyn std::error::Error + 'static)) -> Refusal {
    match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::TimedOut) => Refusal::Stalled,
        _ => Refusal::Broken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn bodies_count_against_the_budget_until_dropped() {
        let budget = Budget(Arc::new(Semaphore::new(10)));
        let (bytes, held) =
            collect(Full::new(Bytes::from_static(b"12345678")), &budget).await.unwrap();
        assert_eq!(bytes, "12345678");
        let refused = collect(Full::new(Bytes::from_static(b"abc")), &budget).await;
        assert_eq!(refused.err(), Some(Refusal::Busy));
        drop(held);
        assert!(collect(Full::new(Bytes::from_static(b"abc")), &budget).await.is_ok());
        let large = Full::new(Bytes::from(vec![0; MAX_BODY + 1]));
        assert_eq!(collect(large, &Budget::default()).await.err(), Some(Refusal::TooLarge));
    }
}
