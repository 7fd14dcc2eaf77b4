//! Time, passed in rather than read inside the logic.
//!
//! Everything that decides by the clock (app-password expiry, the throttle's windows, session
//! lifetimes, the credential cache, lock timeouts, the TOTP window) asks a [`Clock`] instead of
//! calling `Utc::now()` or `Instant::now()` itself. Production uses [`Clock::system`]; tests build
//! a [`ManualClock`] and move it forward, so that a test of a one-day TTL takes no time and cannot
//! race a slow machine. Both readings move together: a manual clock advanced by a minute is a
//! minute later on the wall and on the monotonic clock alike.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where the time comes from. Cheap to clone; every clone reads the same source.
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    /// The operating system's clocks.
    #[default]
    System,
    /// A test's clock, moved by its [`ManualClock`].
    Manual(Arc<Manual>),
}

struct Manual {
    wall_at_start: DateTime<Utc>,
    instant_at_start: Instant,
    /// How far the clock was moved, in milliseconds.
    advanced_ms: AtomicU64,
}

impl Manual {
    fn advanced(&self) -> Duration {
        Duration::from_millis(self.advanced_ms.load(Ordering::Acquire))
    }
}

impl Clock {
    /// The operating system's clocks: what a server runs on.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// Wall-clock time: for what is stored or shown (creation dates, expiry, last use).
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now(),
            Source::Manual(m) => {
                m.wall_at_start + chrono::Duration::from_std(m.advanced()).unwrap_or_default()
            }
        }
    }

    /// Monotonic time: for windows and lifetimes in memory (throttle, sessions, cache), which a
    /// change of the system's wall clock must not stretch or cut short.
    pub fn instant(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Manual(m) => m.instant_at_start + m.advanced(),
        }
    }

    /// Wall-clock time as the standard library has it: WebDAV lock timeouts, which dav-server
    /// keeps as a `SystemTime`.
    pub fn system_time(&self) -> SystemTime {
        SystemTime::from(self.now())
    }

    /// Seconds since the Unix epoch (0 before it): the TOTP window's unit.
    pub fn unix_seconds(&self) -> u64 {
        u64::try_from(self.now().timestamp()).unwrap_or(0)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Manual(m) => write!(f, "Clock::Manual(+{:?})", m.advanced()),
        }
    }
}

/// A clock that stands still until a test moves it. Hand [`ManualClock::clock`] to the code under
/// test and call [`ManualClock::advance`] to let time pass.
#[derive(Clone)]
pub struct ManualClock(Arc<Manual>);

impl ManualClock {
    /// A clock showing `start` on the wall until it is advanced.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Manual {
            wall_at_start: start,
            instant_at_start: Instant::now(),
            advanced_ms: AtomicU64::new(0),
        }))
    }

    /// A clock showing the current time until it is advanced.
    pub fn new() -> Self {
        Self::starting_at(Utc::now())
    }

    /// The clock to give the code under test.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(Arc::clone(&self.0)))
    }

    /// Moves the time forward by `by` (to the millisecond), on both readings.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.advanced_ms.fetch_add(ms, Ordering::AcqRel);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_both_readings_move_together() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!(clock.now(), wall);
        manual.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - wall, chrono::Duration::seconds(90));
        assert_eq!(clock.instant() - mono, Duration::from_secs(90));
        assert_eq!(clock.unix_seconds(), u64::try_from(wall.timestamp()).unwrap() + 90);
        assert_eq!(clock.system_time(), SystemTime::from(wall + chrono::Duration::seconds(90)));
    }

    #[test]
    fn the_system_clock_follows_the_os() {
        let clock = Clock::system();
        let before = Utc::now();
        assert!(clock.now() >= before);
    }
}
