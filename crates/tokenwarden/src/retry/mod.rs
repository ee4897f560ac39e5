//! Retrying what is safe to retry: exponential backoff with full jitter, `Retry-After` honoured,
//! and a per-endpoint circuit breaker whose state every process on the machine can share.
//!
//! - Backoff: the n-th retry waits a uniformly random time in `[0, min(cap, base * 2^n)]`
//!   ("full jitter"), so that many clients failing together do not retry together.
//! - `Retry-After` (seconds or an HTTP date, resolved by the http module) replaces the backoff
//!   delay; when it is longer than [`RetryPolicy::max_retry_after`] the caller gets the error at
//!   once with `retry_at` set instead of waiting.
//! - Circuit breaker ([`breaker`]): after [`RetryPolicy::breaker_threshold`] consecutive
//!   transient failures of one endpoint, callers get `ProviderUnavailable` with
//!   [`Cause::CircuitOpen`](crate::error::Cause::CircuitOpen) at once until the cool-down ends;
//!   then one request goes through (half-open). Its state lives behind [`BreakerBackend`] so
//!   that the store can share it between processes; what it keeps is bounded by the policy, and
//!   a login is never refused by it ([`Gate::Login`]).
//! - How long a refresh may take under a policy also bounds how long another process waits
//!   for it: the default lock wait ([`RetryPolicy::default_lock_wait`]) is derived here.
//! - Only what is safe to repeat is repeated: an authorization code is single use, so a code
//!   exchange is retried only when the request never reached the server ([`Idempotence`]).
//!
//! Time and sleep are injected ([`Clock`], [`Sleeper`]) and the jitter takes a seed, so tests
//! drive the schedule without waiting. Times computed from a `Retry-After` go through
//! [`crate::clock::later`]: no value a provider sends can overflow them.
//!
//! # Layout
//! - this file: [`RetryPolicy`], [`Backoff`], the sleepers and [`Retrier`].
//! - [`breaker`]: [`CircuitBreaker`], its shared [`BreakerRecord`]s and their bounds.

pub mod breaker;

use crate::clock::later;
pub use crate::clock::{Clock, ManualClock, SystemClock};
use crate::error::{Delivery, ErrorKind, Result};
pub use breaker::{
    Admission, BreakerBackend, BreakerRecord, BreakerState, CircuitBreaker, Gate,
    MemoryBreakerBackend,
};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A boxed future, as returned by [`Sleeper::sleep`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`RetryPolicy::default_lock_wait`] adds to the longest refresh: the holder's own work
/// around its requests (store, lock, process start).
const LOCK_WAIT_MARGIN: Duration = Duration::from_secs(5);

/// Backoff and circuit-breaker settings (per profile in config.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 4).
    pub max_attempts: u32,
    /// The ceiling of the first retry's delay (default 500 ms).
    pub base_delay: Duration,
    /// The largest delay ceiling (default 30 s).
    pub max_delay: Duration,
    /// The longest `Retry-After` waited for; longer ones give up at once (default 60 s).
    pub max_retry_after: Duration,
    /// Consecutive transient failures that open the breaker (default 5).
    pub breaker_threshold: u32,
    /// How long the breaker stays open before letting one request through (default 30 s).
    pub breaker_cooldown: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The longest one operation run under this policy can take when every attempt takes
    /// `per_attempt` (the HTTP timeout) and fails transiently: all the attempts, and before each
    /// retry the longer of its backoff ceiling and the longest `Retry-After` honoured.
    pub fn worst_case(&self, per_attempt: Duration) -> Duration {
        let attempts = self.max_attempts.max(1);
        let backoff = Backoff::new(*self, Some(0));
        let waits = (0..attempts - 1)
            .map(|retry| backoff.ceiling(retry).max(self.max_retry_after))
            .fold(Duration::ZERO, Duration::saturating_add);
        per_attempt.saturating_mul(attempts).saturating_add(waits)
    }

    /// How long a caller with no usable token waits, by default, for another process's refresh
    /// of the same profile: the longest refresh a holder may run under this policy with requests
    /// timing out after `timeout` — discovery and the token request, each with every attempt and
    /// the longest waits between them ([`RetryPolicy::worst_case`]) — plus a margin for the
    /// holder's own work around its requests (store, lock, process start).
    pub fn default_lock_wait(&self, timeout: Duration) -> Duration {
        self.worst_case(timeout)
            .saturating_mul(2)
            .saturating_add(LOCK_WAIT_MARGIN)
    }

    /// The same policy with a single attempt: no backoff, no `Retry-After` waited for.
    pub fn single_attempt(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..*self
        }
    }
}

/// Waiting, injectable.
pub trait Sleeper: Send + Sync {
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// Sleeps with tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Does not wait: records each requested delay and moves a [`ManualClock`] forward by it.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    clock: Option<Arc<ManualClock>>,
    slept: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    /// A sleeper that advances `clock` (when given) by each delay.
    pub fn new(clock: Option<Arc<ManualClock>>) -> Self {
        RecordingSleeper {
            clock,
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Every delay requested so far.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        if let Some(c) = &self.clock {
            c.advance(d);
        }
        Box::pin(std::future::ready(()))
    }
}

/// Full-jitter exponential backoff.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: StdRng,
}

impl Backoff {
    /// A backoff for `policy`; `seed` makes the jitter reproducible (tests).
    pub fn new(policy: RetryPolicy, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Backoff { policy, rng }
    }

    /// The largest delay before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.policy
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.policy.max_delay)
            .min(self.policy.max_delay)
    }

    /// A delay drawn uniformly from `[0, ceiling(retry)]`.
    pub fn delay(&mut self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.gen_range(0..=ms))
    }
}

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// Safe to repeat: refresh, client credentials, device polling, discovery, revocation.
    Repeatable,
    /// Single use (an authorization code): repeated only when the request never reached the
    /// server ([`Delivery::NotSent`]: DNS, connect and TLS failures).
    SingleUse,
}

/// Runs operations under a [`RetryPolicy`] and a [`CircuitBreaker`].
pub struct Retrier {
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    backoff: Mutex<Backoff>,
}

impl std::fmt::Debug for Retrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    /// A retrier with real time, real sleep, random jitter and an in-memory breaker.
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_parts(
            policy,
            Arc::new(MemoryBreakerBackend::default()),
            Arc::new(TokioSleeper),
            Arc::new(SystemClock),
            None,
        )
    }

    /// A retrier with every part given (tests inject a [`RecordingSleeper`], a [`ManualClock`]
    /// and a seed; the store supplies a shared [`BreakerBackend`]).
    pub fn with_parts(
        policy: RetryPolicy,
        backend: Arc<dyn BreakerBackend>,
        sleeper: Arc<dyn Sleeper>,
        clock: Arc<dyn Clock>,
        seed: Option<u64>,
    ) -> Self {
        Retrier {
            policy,
            breaker: CircuitBreaker::new(backend, &policy),
            sleeper,
            clock,
            backoff: Mutex::new(Backoff::new(policy, seed)),
        }
    }

    /// A retrier over the same breaker, clock and sleeper that makes one attempt per operation:
    /// it never sleeps (no backoff, no `Retry-After` wait). For a caller that still holds a
    /// valid token and only refreshes ahead of time.
    pub fn single_attempt(&self) -> Retrier {
        let policy = self.policy.single_attempt();
        Retrier {
            policy,
            breaker: self.breaker.clone(),
            sleeper: self.sleeper.clone(),
            clock: self.clock.clone(),
            backoff: Mutex::new(Backoff::new(policy, Some(0))),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The circuit breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs `op` (given the attempt number, from 1) until it succeeds, fails in a way that is
    /// not transient, may not be repeated, or the attempts run out. `key` names the endpoint for
    /// the breaker; `gate` says whether the breaker may hold the request back (a login is
    /// always sent).
    pub async fn run<T, F, Fut>(
        &self,
        key: &str,
        idempotence: Idempotence,
        gate: Gate,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let max = self.policy.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if gate == Gate::Guarded {
                self.breaker.admit(key, self.clock.now())?;
            }
            let err = match op(attempt).await {
                Ok(v) => {
                    self.breaker.record_success(key, self.clock.now());
                    return Ok(v);
                }
                Err(e) => e,
            };
            let now = self.clock.now();
            if err.kind() != ErrorKind::ProviderUnavailable {
                if err.delivery() == Some(Delivery::Answered) {
                    // The endpoint answered: it is up.
                    self.breaker.record_success(key, now);
                }
                return Err(err);
            }
            let retry_after = err.http().and_then(|h| h.retry_after);
            let record = self.breaker.record_failure(key, now, retry_after);
            let opened = record
                .as_ref()
                .filter(|_| gate == Gate::Guarded)
                .map(|r| self.breaker.state(r, now))
                .and_then(|state| match state {
                    BreakerState::Open { until, .. } => Some(until),
                    _ => None,
                });
            let never_sent = err.delivery() == Some(Delivery::NotSent);
            if idempotence == Idempotence::SingleUse && !never_sent {
                return Err(err);
            }
            if let Some(until) = opened {
                let msg = format!(
                    "{} ({} failures in a row: no new requests until {})",
                    err.message(),
                    record.map_or(0, |r| r.consecutive_failures),
                    crate::human::timestamp(until)
                );
                return Err(err.with_message(msg).with_retry_at(until));
            }
            if let Some(ra) = retry_after
                && ra > self.policy.max_retry_after
            {
                let most = self.policy.max_retry_after;
                let msg = format!(
                    "{} (the provider asks to wait {}, longer than the {} tokenwarden waits; it tries again after that)",
                    err.message(),
                    crate::human::duration(ra),
                    crate::human::duration(most)
                );
                return Err(err.with_message(msg).with_retry_at(later(now, most)));
            }
            if attempt >= max {
                let mut err = err;
                if max > 1 {
                    let msg = format!("{} (gave up after {attempt} attempts)", err.message());
                    err = err.with_message(msg);
                }
                if let Some(ra) = retry_after {
                    err = err.with_retry_at(later(now, ra));
                }
                return Err(err);
            }
            let delay = match retry_after {
                Some(ra) => ra,
                None => self
                    .backoff
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .delay(attempt - 1),
            };
            tracing::debug!(key, attempt, ?delay, error = %err, "transient failure; retrying");
            self.sleeper.sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_counts_every_attempt_and_the_longest_waits() {
        let p = RetryPolicy::default();
        // 4 attempts of 20 s, and 3 waits, each the 60 s Retry-After honoured at most.
        assert_eq!(
            p.worst_case(Duration::from_secs(20)),
            Duration::from_secs(4 * 20 + 3 * 60)
        );
        let short = RetryPolicy {
            max_retry_after: Duration::ZERO,
            ..p
        };
        // The backoff ceilings: 0.5 s, 1 s, 2 s.
        assert_eq!(
            short.worst_case(Duration::from_secs(1)),
            Duration::from_millis(4000 + 3500)
        );
        assert_eq!(
            p.single_attempt().worst_case(Duration::from_secs(20)),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::new(RetryPolicy::default(), Some(1));
        let c: Vec<u64> = (0..8).map(|i| b.ceiling(i).as_millis() as u64).collect();
        assert_eq!(c, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(b.ceiling(200), Duration::from_secs(30));
    }
}
