//! The per-endpoint circuit breaker, whose state every process on the machine shares through a
//! [`BreakerBackend`] (the store), and the bounds on what it keeps.
//!
//! - After [`RetryPolicy::breaker_threshold`] consecutive transient failures of one endpoint,
//!   requests to it are refused at once ([`Cause::CircuitOpen`]) until the cool-down ends; then
//!   one request goes through (half-open): success closes the breaker, failure opens it again.
//! - A `Retry-After` the endpoint sent holds requests back until it has run, even below the
//!   threshold ([`Cause::RateLimited`]).
//! - **Bounded.** A `Retry-After` is kept at most [`RetryPolicy::max_retry_after`], and the
//!   breaker is never held for longer than the longer of the cool-down and that maximum,
//!   counted from when its record last changed ([`CircuitBreaker::state`]). A record written by
//!   an older build or by hand (a time centuries ahead, or one the system clock cannot even
//!   represent) is read through the same bound, and one whose time of change lies further in
//!   the future than that bound counts as expired. Every time is computed with
//!   [`crate::clock::later`], so no stored or received value can overflow the arithmetic.
//! - **A login is never refused** ([`Gate::Login`]): a person asked for it, and a provider that
//!   is up again must not stay locked out by an old record. Its answer still counts: a success
//!   closes the breaker, so a new login clears it.
//! - [`CircuitBreaker::state`] says what a record means at a given moment, for admission and
//!   for `doctor` alike; [`CircuitBreaker::reset`] clears a record (`doctor --reset-breaker`).

use super::RetryPolicy;
use crate::clock::later;
use crate::error::{Cause, Delivery, Error, ErrorKind, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The circuit breaker's state for one endpoint, as shared between processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerRecord {
    /// Transient failures in a row.
    pub consecutive_failures: u32,
    /// Open (no requests) until then.
    pub open_until: Option<SystemTime>,
    /// The last `Retry-After` the endpoint sent (at most the policy's `max_retry_after`),
    /// counted from `updated_at`.
    pub last_retry_after: Option<Duration>,
    /// When the record last changed.
    pub updated_at: SystemTime,
}

impl Default for BreakerRecord {
    fn default() -> Self {
        BreakerRecord {
            consecutive_failures: 0,
            open_until: None,
            last_retry_after: None,
            updated_at: UNIX_EPOCH,
        }
    }
}

impl BreakerRecord {
    /// True when the record remembers nothing: no failure, no opening, no `Retry-After`.
    pub fn is_clear(&self) -> bool {
        self.consecutive_failures == 0
            && self.open_until.is_none()
            && self.last_retry_after.is_none()
    }
}

/// Where breaker records live: memory here, the store for sharing between processes.
pub trait BreakerBackend: Send + Sync {
    /// The record for `key` (the default record when there is none).
    fn load(&self, key: &str) -> Result<BreakerRecord>;
    /// Stores the record for `key`.
    fn save(&self, key: &str, rec: &BreakerRecord) -> Result<()>;
    /// Reads, changes and stores the record; backends that can should do it atomically (one
    /// transaction). Returns the stored record.
    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        let mut rec = self.load(key)?;
        f(&mut rec);
        self.save(key, &rec)?;
        Ok(rec)
    }
    /// Every stored record with its key (the endpoint URL), sorted by key: for `doctor`, which
    /// shows the records of a profile's provider.
    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>>;
}

/// Breaker records in memory (one process).
#[derive(Debug, Default)]
pub struct MemoryBreakerBackend(Mutex<HashMap<String, BreakerRecord>>);

impl BreakerBackend for MemoryBreakerBackend {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(key).cloned().unwrap_or_default())
    }

    fn save(&self, key: &str, rec: &BreakerRecord) -> Result<()> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key.to_string(), rec.clone());
        Ok(())
    }

    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let rec = map.entry(key.to_string()).or_default();
        f(rec);
        Ok(rec.clone())
    }

    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

/// What the breaker says about sending a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: send.
    Closed,
    /// Half-open: this request is the one probe after the cool-down.
    HalfOpen,
}

/// Whether the breaker may hold a request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// A renewal (refresh, a session's client-credentials grant), discovery or revocation:
    /// refused at once while the breaker is open or a `Retry-After` runs.
    Guarded,
    /// A login (code exchange, device grant, client-credentials login): always sent. Its answer
    /// is recorded as any other's, so a success closes the breaker.
    Login,
}

/// What a breaker record means at one moment ([`CircuitBreaker::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through.
    Closed {
        /// Transient failures in a row so far (below the threshold).
        consecutive_failures: u32,
    },
    /// Open after repeated transient failures: requests are refused until `until`.
    Open {
        /// When the next request may go through (the probe).
        until: SystemTime,
        /// Transient failures in a row.
        consecutive_failures: u32,
        /// The last `Retry-After` the endpoint sent, bounded.
        retry_after: Option<Duration>,
    },
    /// The endpoint asked clients to wait (`Retry-After`): requests are refused until `until`.
    Waiting {
        /// When the wait ends.
        until: SystemTime,
        /// The `Retry-After`, bounded.
        retry_after: Duration,
    },
    /// Open, and the cool-down is over: the next request is the one probe.
    HalfOpen {
        /// Transient failures in a row.
        consecutive_failures: u32,
    },
}

impl BreakerState {
    /// Until when requests are refused, when they are.
    pub fn held_until(&self) -> Option<SystemTime> {
        match self {
            BreakerState::Open { until, .. } | BreakerState::Waiting { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Why requests are refused, in words (`None` when they are not): "5 transient failures in
    /// a row" or "the endpoint answered `Retry-After: 60`".
    pub fn reason(&self) -> Option<String> {
        match self {
            BreakerState::Open {
                consecutive_failures,
                retry_after,
                ..
            } => {
                let mut s = format!("{consecutive_failures} transient failures in a row");
                if let Some(ra) = retry_after {
                    s.push_str(&format!(
                        ", the last one asking to wait {} (Retry-After)",
                        crate::human::duration(*ra)
                    ));
                }
                Some(s)
            }
            BreakerState::Waiting { retry_after, .. } => Some(format!(
                "the endpoint asked clients to wait {} (Retry-After)",
                crate::human::duration(*retry_after)
            )),
            _ => None,
        }
    }
}

/// The per-endpoint circuit breaker.
#[derive(Clone)]
pub struct CircuitBreaker {
    backend: Arc<dyn BreakerBackend>,
    threshold: u32,
    cooldown: Duration,
    max_retry_after: Duration,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("threshold", &self.threshold)
            .field("cooldown", &self.cooldown)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A breaker over `backend` with the policy's threshold, cool-down and longest
    /// `Retry-After`.
    pub fn new(backend: Arc<dyn BreakerBackend>, policy: &RetryPolicy) -> Self {
        CircuitBreaker {
            backend,
            threshold: policy.breaker_threshold.max(1),
            cooldown: policy.breaker_cooldown,
            max_retry_after: policy.max_retry_after,
        }
    }

    /// The consecutive failures that open the breaker.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The current record for `key` (for `doctor` and `status`).
    pub fn record(&self, key: &str) -> Result<BreakerRecord> {
        self.backend.load(key)
    }

    /// The longest a record may hold requests back, counted from its last change.
    fn horizon(&self) -> Duration {
        self.cooldown.max(self.max_retry_after)
    }

    /// What `r` means at `now`, within this breaker's bounds (see the module docs): a record
    /// can hold requests back for at most [`RetryPolicy::breaker_cooldown`] or
    /// [`RetryPolicy::max_retry_after`], whichever is longer, from its last change, and one
    /// changed further in the future than that counts as expired.
    pub fn state(&self, r: &BreakerRecord, now: SystemTime) -> BreakerState {
        let horizon = self.horizon();
        let closed = BreakerState::Closed {
            consecutive_failures: 0,
        };
        if r.updated_at > later(now, horizon) {
            return closed;
        }
        let limit = later(r.updated_at, horizon);
        let retry_after = r.last_retry_after.map(|ra| ra.min(self.max_retry_after));
        if r.consecutive_failures >= self.threshold {
            return match r.open_until.map(|t| t.min(limit)) {
                Some(until) if until > now => BreakerState::Open {
                    until,
                    consecutive_failures: r.consecutive_failures,
                    retry_after,
                },
                _ => BreakerState::HalfOpen {
                    consecutive_failures: r.consecutive_failures,
                },
            };
        }
        if let Some(ra) = retry_after {
            let until = later(r.updated_at, ra);
            if until > now {
                return BreakerState::Waiting {
                    until,
                    retry_after: ra,
                };
            }
        }
        BreakerState::Closed {
            consecutive_failures: r.consecutive_failures,
        }
    }

    /// What the breaker of `key` means at `now` (for `doctor`).
    pub fn state_of(&self, key: &str, now: SystemTime) -> Result<BreakerState> {
        Ok(self.state(&self.backend.load(key)?, now))
    }

    /// Clears the record of `key` (`doctor --reset-breaker`): requests go through again.
    /// Returns what it meant before.
    pub fn reset(&self, key: &str, now: SystemTime) -> Result<BreakerState> {
        let mut before = None;
        self.backend.update(key, &mut |r| {
            before = Some(self.state(r, now));
            *r = BreakerRecord {
                updated_at: now,
                ..BreakerRecord::default()
            };
        })?;
        Ok(before.unwrap_or(BreakerState::Closed {
            consecutive_failures: 0,
        }))
    }

    /// Decides whether a request to `key` may be sent at `now`. An open breaker (or a
    /// `Retry-After` still running) is a `ProviderUnavailable` error with `retry_at` set. A
    /// record out of bounds is rewritten within them on the way.
    pub fn admit(&self, key: &str, now: SystemTime) -> Result<Admission> {
        // The common case, a clear record, is a read: no write for every request.
        if self.backend.load(key).is_ok_and(|r| r.is_clear()) {
            return Ok(Admission::Closed);
        }
        let mut decision = BreakerState::Closed {
            consecutive_failures: 0,
        };
        let res = self.backend.update(key, &mut |r| {
            decision = self.state(r, now);
            match decision {
                BreakerState::HalfOpen { .. } => {
                    // Claim the single probe: others see the breaker open meanwhile.
                    r.open_until = Some(later(now, self.cooldown));
                    r.updated_at = now;
                }
                BreakerState::Open { until, .. } if r.open_until != Some(until) => {
                    r.open_until = Some(until);
                }
                BreakerState::Closed { .. }
                    if r.updated_at > later(now, self.horizon()) && !r.is_clear() =>
                {
                    // Changed in an impossible future: expired.
                    *r = BreakerRecord {
                        updated_at: now,
                        ..BreakerRecord::default()
                    };
                }
                _ => {}
            }
            if let Some(ra) = r.last_retry_after
                && ra > self.max_retry_after
            {
                r.last_retry_after = Some(self.max_retry_after);
            }
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "circuit breaker state unavailable; sending anyway");
            return Ok(Admission::Closed);
        }
        match decision {
            BreakerState::Closed { .. } => Ok(Admission::Closed),
            BreakerState::HalfOpen { .. } => Ok(Admission::HalfOpen),
            BreakerState::Open {
                until,
                consecutive_failures: n,
                ..
            } => Err(Error::new(
                ErrorKind::ProviderUnavailable,
                format!(
                    "{key} failed {n} times in a row; not sending more requests until {}",
                    crate::human::timestamp(until)
                ),
            )
            .with_cause(Cause::CircuitOpen)
            .with_delivery(Delivery::NotSent)
            .with_retry_at(until)
            .with_hint(
                "the provider looks down; tokenwarden tries again after the time shown \
                 (`tokenwarden doctor` shows its last answers; once the provider is up, \
                 `tokenwarden doctor --reset-breaker` or a new login clears the breaker)",
            )),
            BreakerState::Waiting { until, .. } => Err(Error::new(
                ErrorKind::ProviderUnavailable,
                format!(
                    "{key} asked clients to wait (Retry-After) until {}",
                    crate::human::timestamp(until)
                ),
            )
            .with_cause(Cause::RateLimited)
            .with_delivery(Delivery::NotSent)
            .with_retry_at(until)
            .with_hint(
                "the provider is rate limiting; try again after the time shown (if it is \
                 healthy again before then, `tokenwarden doctor --reset-breaker` clears the wait)",
            )),
        }
    }

    /// Records a success (or any answer that shows the endpoint is up): closes the breaker.
    pub fn record_success(&self, key: &str, now: SystemTime) {
        // Nothing to close: a read, no write.
        if self.backend.load(key).is_ok_and(|r| r.is_clear()) {
            return;
        }
        let res = self.backend.update(key, &mut |r| {
            if !r.is_clear() {
                *r = BreakerRecord {
                    updated_at: now,
                    ..BreakerRecord::default()
                };
            }
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "cannot record circuit breaker success");
        }
    }

    /// Records a transient failure, opening the breaker at the threshold; a `Retry-After` is
    /// kept at most the policy's `max_retry_after`. Returns the record.
    pub fn record_failure(
        &self,
        key: &str,
        now: SystemTime,
        retry_after: Option<Duration>,
    ) -> Option<BreakerRecord> {
        let retry_after = retry_after.map(|ra| ra.min(self.max_retry_after));
        let res = self.backend.update(key, &mut |r| {
            r.consecutive_failures = r.consecutive_failures.saturating_add(1);
            r.last_retry_after = retry_after;
            r.updated_at = now;
            if r.consecutive_failures >= self.threshold {
                let wait = self.cooldown.max(retry_after.unwrap_or_default());
                r.open_until = Some(later(now, wait));
            }
        });
        match res {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record circuit breaker failure");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(
            Arc::new(MemoryBreakerBackend::default()),
            &RetryPolicy {
                breaker_threshold: 2,
                breaker_cooldown: Duration::from_secs(30),
                max_retry_after: Duration::from_secs(60),
                ..RetryPolicy::default()
            },
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn an_absurd_retry_after_is_kept_at_the_policys_maximum() {
        let b = breaker();
        let now = at(1_700_000_000);
        for ra in [3_000_000_000, 400_000_000_000, u64::MAX] {
            b.reset("k", now).unwrap();
            let r = b
                .record_failure("k", now, Some(Duration::from_secs(ra)))
                .unwrap();
            assert_eq!(r.last_retry_after, Some(Duration::from_secs(60)));
            let err = b.admit("k", now).unwrap_err();
            assert_eq!(err.retry_at(), Some(now + Duration::from_secs(60)));
            let after = now + Duration::from_secs(61);
            assert_eq!(b.admit("k", after).unwrap(), Admission::Closed);
            // Opened at the threshold: the cool-down or the bounded Retry-After.
            let r = b
                .record_failure("k", now, Some(Duration::from_secs(ra)))
                .unwrap();
            assert_eq!(r.open_until, Some(now + Duration::from_secs(60)));
        }
    }

    #[test]
    fn a_stored_record_out_of_bounds_is_read_within_them() {
        let b = breaker();
        let now = at(1_700_000_000);
        // Written by an older build: open until the year 2121, a Retry-After of 95 years.
        let old = BreakerRecord {
            consecutive_failures: 7,
            open_until: Some(at(4_796_668_800)),
            last_retry_after: Some(Duration::from_secs(3_000_000_000)),
            updated_at: now,
        };
        b.backend.save("k", &old).unwrap();
        let state = b.state_of("k", now).unwrap();
        assert_eq!(state.held_until(), Some(now + Duration::from_secs(60)));
        assert!(b.admit("k", now).is_err());
        assert_eq!(
            b.admit("k", now + Duration::from_secs(60)).unwrap(),
            Admission::HalfOpen
        );
        // A record changed in an impossible future (or at a time the clock cannot represent)
        // has expired.
        for updated_at in [at(400_000_000_000), crate::clock::latest()] {
            let odd = BreakerRecord {
                updated_at,
                open_until: Some(crate::clock::latest()),
                ..old.clone()
            };
            b.backend.save("k", &odd).unwrap();
            assert_eq!(b.admit("k", now).unwrap(), Admission::Closed);
            assert!(b.record("k").unwrap().is_clear());
        }
    }

    #[test]
    fn reset_clears_and_says_what_it_cleared() {
        let b = breaker();
        let now = at(1_700_000_000);
        b.record_failure("k", now, None);
        b.record_failure("k", now, None);
        let before = b.reset("k", now).unwrap();
        assert_eq!(before.held_until(), Some(now + Duration::from_secs(30)));
        assert!(before.reason().unwrap().contains("2 transient failures"));
        assert_eq!(b.admit("k", now).unwrap(), Admission::Closed);
        assert_eq!(
            b.backend.breaker_records().unwrap(),
            vec![(
                "k".to_string(),
                BreakerRecord {
                    updated_at: now,
                    ..BreakerRecord::default()
                }
            )]
        );
    }
}
