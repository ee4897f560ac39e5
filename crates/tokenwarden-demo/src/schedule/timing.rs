//! The run's clock and the demo's tunables: how long tokens live, the proactive window, the
//! pacing of the workers, the demo profile's retry settings, and the time a refresh needs to
//! get through after a fault.

use super::fault::Fault;
use serde::Serialize;
use std::time::Duration;

/// The shortest run: long enough to play every phase.
pub const MIN_SECONDS: u64 = 12;
/// The shortest run whose hard outage lasts longer than a token.
pub const OUTAGE_OUTLASTS_TOKEN_SECONDS: u64 = 25;
/// How long before a refresh is due a phase that waits for one starts, seconds.
pub const LEAD_S: f64 = 0.1;
/// The demo profile's circuit-breaker cool-down (short, so a storm's end is noticed at once).
pub const BREAKER_COOLDOWN: Duration = Duration::from_millis(300);
/// The demo profile's largest backoff delay.
pub const RETRY_MAX_DELAY: Duration = Duration::from_millis(300);
/// The `Retry-After` the 429 phase sends, in seconds.
pub const RETRY_AFTER_S: u64 = 1;
/// The share of `/token` requests a storm faults.
pub const STORM_RATE: f64 = 0.5;
/// Slack, in seconds, for a refresh on a loaded machine (fsync, scheduling).
pub const SLACK_S: f64 = 0.4;
/// The shortest storm, seconds.
pub const MIN_STORM_S: f64 = 0.4;

/// The run's clock: token lifetime, proactive window, pacing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Length of the run, seconds.
    pub seconds: f64,
    /// Access-token lifetime, whole seconds (OAuth's `expires_in` is an integer).
    pub ttl_s: u64,
    /// The proactive refresh window (the profile's `refresh_skew`), seconds: half the TTL.
    pub window_s: f64,
    /// Pause between a worker's calls, milliseconds (jittered by ±30 %).
    pub interval_ms: u64,
}

impl Timing {
    /// The timing of a run of `seconds`: tokens live 4 s in runs under 30 s, so that a few
    /// seconds show several expiries; longer runs get longer tokens (6 s, and 8 s from 40 s
    /// on), so that their storms can be longer while staying inside the proactive window.
    pub fn for_run(seconds: f64) -> Timing {
        let ttl_s = if seconds < 30.0 {
            4
        } else if seconds < 40.0 {
            6
        } else {
            8
        };
        let window_s = ttl_s as f64 / 2.0;
        Timing {
            seconds,
            ttl_s,
            window_s,
            interval_ms: 150,
        }
    }

    /// The access-token lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s)
    }

    /// The refreshes one well-behaved client alone needs over the run: one per
    /// (lifetime − proactive window).
    pub fn expiry_windows(&self) -> u64 {
        (self.seconds / self.between_s()).floor() as u64
    }

    /// Seconds between two refreshes of one client: lifetime − proactive window.
    pub fn between_s(&self) -> f64 {
        self.ttl_s as f64 - self.window_s
    }

    /// The longest pause between two calls of a worker, seconds.
    pub fn call_gap_s(&self) -> f64 {
        self.interval_ms as f64 * 1.3 / 1000.0
    }

    /// How long after the last faulted answer of `fault` a refresh has surely got through,
    /// seconds: the wait the provider or the client imposes (`Retry-After`; the longest backoff
    /// delay or the breaker's cool-down), then a worker's next call, plus slack.
    pub fn recovery_s(&self, fault: Fault) -> f64 {
        let wait = match fault {
            Fault::RateLimit429 => RETRY_AFTER_S as f64,
            Fault::Storm500 | Fault::ProxyHtml502 | Fault::HardOutage => {
                BREAKER_COOLDOWN.max(RETRY_MAX_DELAY).as_secs_f64()
            }
            Fault::Calm | Fault::RevokeAll | Fault::Latency | Fault::Recovery => 0.0,
        };
        wait + self.call_gap_s() + SLACK_S
    }

    /// The delay of each `/token` answer in the latency phase, milliseconds: a refresh that
    /// starts when the window opens still ends, with slack, before the token expires.
    pub(super) fn latency_ms(&self) -> u64 {
        let most = self.window_s - self.call_gap_s() - SLACK_S - 0.1;
        (most.min(1.5) * 10.0).floor() as u64 * 100
    }
}
