//! How a worker reports: one JSON [`Event`] per line on its stdout, noticing when the parent is
//! gone. Both strategies' workers report through the [`Emitter`].

use crate::protocol::{Event, Kind};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes events, one JSON line each, on stdout.
#[derive(Debug, Clone)]
pub struct Emitter {
    worker: u32,
    broken: Arc<AtomicBool>,
}

impl Emitter {
    /// The emitter of worker `worker`.
    pub fn new(worker: u32) -> Self {
        Emitter {
            worker,
            broken: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reports `kind`, which started at `at` and took `took`.
    pub fn emit(&self, at: SystemTime, took: Duration, kind: Kind) {
        let event = Event {
            worker: self.worker,
            at_ms: unix_ms(at),
            ms: took.as_secs_f64() * 1000.0,
            kind,
        };
        let Ok(line) = serde_json::to_string(&event) else {
            return;
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // The parent is gone.
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    /// Reports an instant `kind`, now.
    pub fn now(&self, kind: Kind) {
        self.emit(SystemTime::now(), Duration::ZERO, kind);
    }

    /// Whether a write failed: the parent is gone.
    pub fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
