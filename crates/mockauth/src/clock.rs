//! The server's one clock: real time plus an offset that tests may advance.
//!
//! Every expiry decision reads [`Clock::now`]; what the server *shows* (the `Date` header, JWT
//! `iat`/`exp`) is that plus the clock-skew fault, computed in `state.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Real time plus an advanceable offset.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    /// Now, as the server sees it.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the server's clock forward (codes, tokens and device codes age at once).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_add(ms))
            })
            .ok();
    }
}

/// Seconds since the Unix epoch, shifted by `skew_s`.
pub(crate) fn unix_secs(t: SystemTime, skew_s: i64) -> i64 {
    let base = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    base.saturating_add(skew_s)
}

/// `t` shifted by signed seconds.
pub(crate) fn shifted(t: SystemTime, skew_s: i64) -> SystemTime {
    let d = Duration::from_secs(skew_s.unsigned_abs());
    if skew_s >= 0 {
        t.checked_add(d).unwrap_or(t)
    } else {
        t.checked_sub(d).unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::default();
        let before = c.now();
        c.advance(Duration::from_secs(3600));
        let gap = c.now().duration_since(before).unwrap_or_default();
        assert!(gap >= Duration::from_secs(3600), "{gap:?}");
    }

    #[test]
    fn skew_shifts_both_ways() {
        let t = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(unix_secs(t, -30), 970);
        assert_eq!(unix_secs(shifted(t, 30), 0), 1030);
        assert_eq!(unix_secs(shifted(t, -30), 0), 970);
    }
}
