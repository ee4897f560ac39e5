//! The clock, injected: everything that needs "now" asks a [`Clock`], so tests can put a token
//! anywhere in its life without waiting.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch to the first second of the year 10000.
const YEAR_10000: u64 = 253_402_300_800;

/// The latest time tokenwarden computes with: 9999-12-31T23:59:59Z, the last second RFC 3339
/// (and every format tokenwarden shows) can write.
pub fn latest() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(YEAR_10000 - 1)
}

/// `t + d`, or [`latest`] when that is later or past what the system clock can represent. Every
/// time computed from a provider's value (`Retry-After`, `expires_in`) or a stored one goes
/// through here (or another checked operation), so that no value can make the arithmetic panic.
pub fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .map_or_else(latest, |sum| sum.min(latest()))
}

/// True when `t` can be written as RFC 3339: from 1970 to the end of 9999.
pub fn in_range(t: SystemTime) -> bool {
    t.duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() < YEAR_10000)
}

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current wall-clock time, possibly behind by up to one kernel tick (a few
    /// milliseconds) and cheaper to read: for checks whose margins are seconds, made on every
    /// call (is the cached token still fresh?). By default the same as [`Clock::now`].
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Linux's `CLOCK_REALTIME_COARSE`: the time at the last tick, read without touching the
    /// hardware counter (about a fifth of the cost of [`SystemTime::now`] on a VM).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now_coarse(&self) -> SystemTime {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        match (u64::try_from(t.tv_sec), u32::try_from(t.tv_nsec)) {
            (Ok(secs), Ok(nanos)) if nanos < 1_000_000_000 => UNIX_EPOCH
                .checked_add(Duration::new(secs, nanos))
                .unwrap_or_else(SystemTime::now),
            // A clock set before 1970: the precise reading says what it is.
            _ => SystemTime::now(),
        }
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_reading_is_the_same_time_give_or_take_a_tick() {
        let before = SystemClock.now();
        let coarse = SystemClock.now_coarse();
        let after = SystemClock.now();
        // Behind by at most a tick (a few ms), never ahead of a later precise reading.
        assert!(coarse <= after, "{coarse:?} is after {after:?}");
        let behind = before.duration_since(coarse).unwrap_or_default();
        assert!(behind < Duration::from_secs(1), "behind by {behind:?}");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(Duration::from_secs(5));
        assert_eq!(c.now(), start + Duration::from_secs(5));
    }

    #[test]
    fn later_never_overflows_and_stops_at_the_latest_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            later(now, Duration::from_secs(60)),
            now + Duration::from_secs(60)
        );
        for huge in [
            Duration::from_secs(400_000_000_000),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            assert_eq!(later(now, huge), latest());
        }
        assert!(in_range(latest()));
        assert!(!in_range(latest() + Duration::from_secs(1)));
        assert!(!in_range(UNIX_EPOCH - Duration::from_secs(1)));
        assert!(in_range(UNIX_EPOCH));
    }
}
