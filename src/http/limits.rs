//! Connection limits: how many connections may be open, from one address and in all, how long
//! one may sit idle, and which one gives way when the server is full.
//!
//! Every accepted connection is registered in the [`Registry`] before anything is read from it.
//! A connection is *idle* while no request is in progress on it (a fresh connection that has not
//! sent a request yet, including one still in its TLS handshake, is idle too). The registry:
//! - refuses a connection beyond [`Limits::max_connections_per_address`] from one address (an
//!   IPv4 address, or an IPv6 /64: one host or one customer network), unless one of that
//!   address's own connections is idle, which is then closed to make room;
//! - when [`Limits::max_connections`] are open, closes the connection idle the longest to make
//!   room, and refuses the newcomer only when every connection has a request in progress;
//! - closes, from a reaper task, a connection idle for longer than [`Limits::idle_timeout`]
//!   ([`FIRST_REQUEST_TIMEOUT`] if it never sent a request), and one whose writes have been
//!   stuck for longer than [`Limits::body_timeout`] (a client that stopped reading).
//!
//! So idle sockets cost nothing to the people actually being served: the accept loop never
//! waits for a slot, and a flood of idle connections only evicts itself.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How long a new connection may take to start its first request (TLS handshake included),
/// when the idle timeout is longer: browsers open spare connections they may never use.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once by default: an office of Windows clients holds several each. A
/// ceiling, not a reservation: an idle one costs about 3 KB over plain HTTP and 6.3 KB over TLS
/// (bench/idle-connections.sh; vendor/hyper and vendor/rustls give back their buffers while a
/// connection waits), so 10,000 plain ones fit with the server in the 64 MiB it aims at (over
/// davgate's own TLS they take about 87 MiB), and the one idle the longest gives way to a new
/// one when full.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The connection and body limits of a listener. Admins set them with `serve` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one IPv4 address or one IPv6 /64.
    pub max_connections_per_address: usize,
    /// A connection with no request in progress is closed after this long.
    pub idle_timeout: Duration,
    /// A request body that sends nothing for this long ends the request (408), and a
    /// connection whose client reads nothing of a response for this long is closed.
    pub body_timeout: Duration,
    /// Serve HTTP/2 with prior knowledge (h2c) on a plain-HTTP listener.
    pub http2_plain: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: 256,
            idle_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(30),
            http2_plain: false,
        }
    }
}

/// File descriptors kept free of connections: the store, the log, files being read or written.
const FD_RESERVE: u64 = 256;

impl Limits {
    /// These limits with `max_connections` lowered, with a warning, to what the process's file
    /// descriptor limit can hold (half of it after a reserve: a connection may have a file open).
    /// The soft limit is first raised towards the hard one as far as the connections need (a
    /// systemd service starts at a soft 1,024 under a hard 524,288).
    pub fn fit_to_fd_limit(mut self) -> Self {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let needed = (self.max_connections as u64).saturating_mul(2).saturating_add(FD_RESERVE);
        if let Some(soft) = limit.current.filter(|&soft| soft < needed) {
            let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
            if raised > soft {
                let wanted = rustix::process::Rlimit { current: Some(raised), ..limit };
                if let Err(e) = setrlimit(Resource::Nofile, wanted) {
                    tracing::debug!("could not raise the file descriptor limit to {raised}: {e}");
                }
            }
        }
        let soft = getrlimit(Resource::Nofile).current;
        if let Some(soft) = soft {
            let fit = usize::try_from(soft.saturating_sub(FD_RESERVE) / 2).unwrap_or(usize::MAX);
            let fit = fit.max(16);
            if self.max_connections > fit {
                tracing::warn!(
                    "--max-connections {} lowered to {fit}: the file descriptor limit is {soft} \
                     (raise it with ulimit -n)",
                    self.max_connections
                );
                self.max_connections = fit;
            }
        }
        self
    }
}

/// Who a connection counts against: an IPv4 address, or the /64 of an IPv6 address (an
/// IPv4-mapped IPv6 address counts as the IPv4 address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The open connections of one listener (see the module documentation).
pub struct Registry {
    limits: Limits,
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<Tracker>>,
    per_address: HashMap<AddressKey, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address already holds its share, all of them busy.
    #[error("too many connections from this address, all busy")]
    PerAddress,
    /// The server is full and no connection is idle.
    #[error("too many connections, all busy")]
    Full,
}

impl Registry {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self { limits, epoch: Instant::now(), inner: Mutex::new(Inner::default()) })
    }

    /// Registers a connection from `peer`, closing an idle one if that makes room.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refused> {
        let key = AddressKey::of(peer);
        let mut inner = self.lock();
        if inner.per_address.get(&key).copied().unwrap_or(0)
            >= self.limits.max_connections_per_address
        {
            let victim = oldest_idle(&inner, |t| t.address == key).ok_or(Refused::PerAddress)?;
            shed(&mut inner, victim);
        }
        if inner.open.len() >= self.limits.max_connections {
            let victim = oldest_idle(&inner, |_| true).ok_or(Refused::Full)?;
            shed(&mut inner, victim);
        }
        inner.next_id += 1;
        let tracker = Arc::new(Tracker {
            id: inner.next_id,
            address: key,
            epoch: self.epoch,
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(millis(self.epoch)),
            write_stuck_since: AtomicU64::new(0),
            close: Notify::new(),
        });
        inner.open.insert(tracker.id, Arc::clone(&tracker));
        *inner.per_address.entry(key).or_insert(0) += 1;
        Ok(Admitted { registry: Arc::clone(self), tracker })
    }

    /// Closes connections idle or stuck for too long, every `tick`, forever.
    pub async fn reap(self: Arc<Self>) {
        let shortest = self.limits.idle_timeout.min(self.limits.body_timeout);
        let tick = (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let first = FIRST_REQUEST_TIMEOUT.min(self.limits.idle_timeout);
        let as_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (idle, first, stuck) =
            (as_ms(self.limits.idle_timeout), as_ms(first), as_ms(self.limits.body_timeout));
        loop {
            tokio::time::sleep(tick).await;
            let now = millis(self.epoch);
            let mut inner = self.lock();
            let expired: Vec<u64> = inner
                .open
                .values()
                .filter(|t| {
                    let limit = if t.served.load(Ordering::Relaxed) == 0 { first } else { idle };
                    let stuck_since = t.write_stuck_since.load(Ordering::Relaxed);
                    (t.is_idle()
                        && now.saturating_sub(t.idle_since.load(Ordering::Relaxed)) > limit)
                        || (stuck_since != 0 && now.saturating_sub(stuck_since) > stuck)
                })
                .map(|t| t.id)
                .collect();
            for id in expired {
                shed(&mut inner, id);
            }
        }
    }

    /// Closes every connection that has not begun a request yet (at shutdown: hyper's graceful
    /// shutdown only knows the connections it serves).
    pub fn close_unused(&self) {
        let mut inner = self.lock();
        let unused: Vec<u64> = inner
            .open
            .values()
            .filter(|t| t.is_idle() && t.served.load(Ordering::Relaxed) == 0)
            .map(|t| t.id)
            .collect();
        for id in unused {
            shed(&mut inner, id);
        }
    }

    /// Connections open now (for tests and status).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The connection idle the longest among those `matching`.
fn oldest_idle(inner: &Inner, matching: impl Fn(&Tracker) -> bool) -> Option<u64> {
    inner
        .open
        .values()
        .filter(|t| t.is_idle() && matching(t))
        .min_by_key(|t| t.idle_since.load(Ordering::Relaxed))
        .map(|t| t.id)
}

/// Forgets connection `id` at once (its slot is free from now on) and tells it to close.
fn shed(inner: &mut Inner, id: u64) {
    let Some(tracker) = inner.open.remove(&id) else { return };
    if let Some(count) = inner.per_address.get_mut(&tracker.address) {
        *count -= 1;
        if *count == 0 {
            inner.per_address.remove(&tracker.address);
        }
    }
    tracing::debug!(connection = id, "closing a connection (idle, stuck or making room)");
    tracker.close.notify_one();
}

/// Milliseconds since `epoch`, from 1 (0 means "never" in the trackers).
fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// A registered connection: unregistered when dropped.
pub struct Admitted {
    registry: Arc<Registry>,
    tracker: Arc<Tracker>,
}

impl Admitted {
    /// What the connection's service and IO report to.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        shed(&mut self.registry.lock(), self.tracker.id);
    }
}

/// One connection's state, shared by its task, its service and its IO.
pub struct Tracker {
    id: u64,
    address: AddressKey,
    epoch: Instant,
    /// Requests in progress.
    busy: AtomicUsize,
    /// Requests started so far.
    served: AtomicU64,
    /// When the last request ended (or the connection opened).
    idle_since: AtomicU64,
    /// When a write started waiting for the client to read (0: writes are flowing).
    write_stuck_since: AtomicU64,
    close: Notify,
}

impl Tracker {
    /// Marks a request in progress until the returned guard is dropped (with the response body).
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.served.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Completes when the registry wants the connection closed.
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn note_write<T>(&self, poll: &Poll<T>) {
        if poll.is_pending() {
            let now = millis(self.epoch);
            let _ = self.write_stuck_since.compare_exchange(
                0,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            self.write_stuck_since.store(0, Ordering::Relaxed);
        }
    }
}

/// A request in progress on a connection (see [`Tracker::begin`]).
pub struct Busy(Arc<Tracker>);

impl Drop for Busy {
    fn drop(&mut self) {
        // The time first: the reaper only looks at it once `busy` reads 0.
        self.0.idle_since.store(millis(self.0.epoch), Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connection IO that tells its [`Tracker`] when writes stop flowing.
pub struct Watched<IO> {
    io: IO,
    tracker: Arc<Tracker>,
}

impl<IO> Watched<IO> {
    /// Watches the writes of `io` for `tracker`.
    pub fn new(io: IO, tracker: Arc<Tracker>) -> Self {
        Self { io, tracker }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.tracker.note_write(&poll);
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.tracker.note_write(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.tracker.note_write(&poll);
        poll
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn limits(total: usize, per_address: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_address: per_address,
            ..Limits::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_is_an_ipv4_host_or_an_ipv6_slash_64() {
        assert_eq!(AddressKey::of(ip("10.0.0.1")), AddressKey::of(ip("::ffff:10.0.0.1")));
        assert_ne!(AddressKey::of(ip("10.0.0.1")), AddressKey::of(ip("10.0.0.2")));
        assert_eq!(AddressKey::of(ip("2001:db8::1")), AddressKey::of(ip("2001:db8::ffff:1")));
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        assert_ne!(AddressKey::of(ip("2001:db8::1")), AddressKey::of(other));
    }

    #[test]
    fn a_full_address_gives_way_with_its_own_idle_connection_or_is_refused() {
        let registry = Registry::new(limits(100, 2));
        let first = registry.admit(ip("10.0.0.1")).unwrap();
        let second = registry.admit(ip("10.0.0.1")).unwrap();
        let (_b1, _b2) = (first.tracker().begin(), second.tracker().begin());
        assert_eq!(registry.admit(ip("10.0.0.1")).err(), Some(Refused::PerAddress));
        // Another address is not affected.
        let _other = registry.admit(ip("10.0.0.2")).unwrap();
        drop(_b1);
        let _third = registry.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(registry.open(), 3, "the idle one made room");
    }

    #[tokio::test]
    async fn a_full_server_closes_the_connection_idle_the_longest() {
        let registry = Registry::new(limits(2, 10));
        let oldest = registry.admit(ip("10.0.0.1")).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer = registry.admit(ip("10.0.0.2")).unwrap();
        let _third = registry.admit(ip("10.0.0.3")).unwrap();
        // The oldest was told to close; the newer one was not.
        tokio::time::timeout(Duration::from_secs(1), oldest.tracker().closed()).await.unwrap();
        let newer_closed =
            tokio::time::timeout(Duration::from_millis(50), newer.tracker().closed()).await;
        assert!(newer_closed.is_err());
        let _busy = (newer.tracker().begin(), _third.tracker().begin());
        assert_eq!(registry.admit(ip("10.0.0.4")).err(), Some(Refused::Full));
        drop(oldest);
        assert_eq!(registry.open(), 2);
    }
}
