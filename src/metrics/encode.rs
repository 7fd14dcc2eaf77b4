//! Hands the atomics of [`super::Counts`] to prometheus-client when `/metrics` is scraped.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use std::fmt::Error;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::histogram::Histogram;
use super::{AuthOutcome, CLASSES, Counts, METHOD_SLOTS, METHODS, Surface};

/// The collector registered in each server's registry.
pub(super) struct Collect(pub(super) Arc<Counts>);

impl std::fmt::Debug for Collect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collect")
    }
}

const STATUS: [&str; CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Collector for Collect {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let c = &self.0;
        let help = "HTTP requests answered, by surface, method and status class";
        let mut m = encoder.encode_descriptor("http_requests", help, None, MetricType::Counter)?;
        for (slot, counter) in c.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let (rest, class) = (slot / CLASSES, slot % CLASSES);
            let (surface, method) = (rest / METHOD_SLOTS, rest % METHOD_SLOTS);
            let surface = Surface::ALL.get(surface).map_or("", |s| s.label());
            let method = METHODS.get(method).copied().unwrap_or("other");
            let status = STATUS.get(class).copied().unwrap_or("");
            let labels = [("surface", surface), ("method", method), ("status", status)];
            counter_of(&mut m, &labels, n)?;
        }

        let help = "Time from a request's arrival to its response head, by surface";
        let mut m = encoder.encode_descriptor(
            "http_request_duration",
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (surface, histogram) in Surface::ALL.iter().zip(&c.latency) {
            histogram_of(&mut m, &[("surface", surface.label())], histogram)?;
        }

        let help = "Answers of the WebDAV gate: cached, verified, refused or throttled, by reason";
        let mut m = encoder.encode_descriptor("auth", help, None, MetricType::Counter)?;
        for (outcome, counter) in AuthOutcome::ALL.iter().zip(&c.auth) {
            let n = counter.load(Ordering::Relaxed);
            match outcome.labels() {
                (outcome, None) => counter_of(&mut m, &[("outcome", outcome)], n)?,
                (outcome, Some(reason)) => {
                    counter_of(&mut m, &[("outcome", outcome), ("reason", reason)], n)?
                }
            }
        }

        let help = "Time of store calls, by operation (the credential reads the cache misses)";
        let mut m = encoder.encode_descriptor(
            "store_duration",
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        histogram_of(&mut m, &[("operation", "credential_lookup")], &c.credential_lookups)?;

        let open = c.connections_open.load(Ordering::Relaxed);
        let help = "Client connections open";
        let mut m = encoder.encode_descriptor("connections_open", help, None, MetricType::Gauge)?;
        m.encode_gauge(&open)?;

        for (name, help, value) in [
            ("received", "Bytes read from clients, TLS included", &c.bytes_received),
            ("sent", "Bytes written to clients, TLS included", &c.bytes_sent),
        ] {
            let mut m =
                encoder.encode_descriptor(name, help, Some(&Unit::Bytes), MetricType::Counter)?;
            m.encode_counter::<NoLabelSet, u64, u64>(&value.load(Ordering::Relaxed), None)?;
        }

        if let Some(r) = c.readings.get() {
            let help = "argon2 jobs waiting for a thread";
            let mut m =
                encoder.encode_descriptor("argon2_queue_depth", help, None, MetricType::Gauge)?;
            m.encode_gauge(&(r.argon2_queue)())?;
            let help = "argon2 verifications since start (real and dummy)";
            let mut m = encoder.encode_descriptor(
                "argon2_verifications",
                help,
                None,
                MetricType::Counter,
            )?;
            m.encode_counter::<NoLabelSet, u64, u64>(&(r.argon2_verifications)(), None)?;
            let help = "Uploads (PUT, COPY) in flight";
            let mut m =
                encoder.encode_descriptor("uploads_in_flight", help, None, MetricType::Gauge)?;
            m.encode_gauge(&(r.uploads_in_flight)())?;
        }
        Ok(())
    }
}

/// One counter series with `labels`.
fn counter_of(m: &mut MetricEncoder, labels: &impl EncodeLabelSet, n: u64) -> Result<(), Error> {
    m.encode_family(labels)?.encode_counter::<NoLabelSet, u64, u64>(&n, None)
}

/// One histogram series with `labels`.
fn histogram_of(
    m: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    histogram: &Histogram,
) -> Result<(), Error> {
    let r = histogram.read();
    m.encode_family(labels)?.encode_histogram::<NoLabelSet>(r.sum, r.count, &r.buckets, None)
}
