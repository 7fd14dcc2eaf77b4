//! A latency histogram that records with a few atomic increments: no lock, no allocation.
//!
//! prometheus-client's own `Histogram` takes a lock per observation; on the request path that
//! is one lock per request shared by every connection, so davgate keeps its buckets in atomics
//! and hands prometheus-client only the numbers when it is scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: Prometheus' default latency buckets.
pub const BOUNDS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The same bounds in microseconds, compared against each observation.
const BOUNDS_MICROS: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Counts of observations per bucket (the last one past every bound), and their sum.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

/// What a scrape reads from a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Seconds observed in all.
    pub sum: f64,
    /// Observations.
    pub count: u64,
    /// (upper bound in seconds, observations in that bucket alone), +Inf last.
    pub buckets: [(f64, u64); BOUNDS.len() + 1],
}

impl Histogram {
    /// An empty histogram (const, so arrays of them need no allocation).
    pub const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BOUNDS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation: two relaxed atomic additions.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let index = BOUNDS_MICROS.iter().position(|&b| micros <= b).unwrap_or(BOUNDS.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts now (each read on its own: a scrape racing a request may be one behind).
    pub fn read(&self) -> Reading {
        let mut buckets = [(f64::INFINITY, 0); BOUNDS.len() + 1];
        let mut count = 0;
        for (i, (slot, bucket)) in buckets.iter_mut().zip(&self.buckets).enumerate() {
            let n = bucket.load(Ordering::Relaxed);
            *slot = (BOUNDS.get(i).copied().unwrap_or(f64::INFINITY), n);
            count += n;
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        Reading { sum, count, buckets }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(300));
        h.observe(Duration::from_secs(60));
        let r = h.read();
        assert_eq!(r.count, 4);
        assert_eq!(r.buckets[0], (0.005, 2));
        assert_eq!(r.buckets[6], (0.5, 1));
        assert_eq!(r.buckets[11], (f64::INFINITY, 1));
        assert!((r.sum - 60.308).abs() < 1e-9);
    }
}
