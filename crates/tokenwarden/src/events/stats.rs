//! What a set of token-operation records says: counts by operation and outcome, refresh
//! latency p50/p99, the 5xx rate, forced logins ([`Stats`]); and the 5xx rate of one profile
//! over a recent window against a threshold ([`FailureRate`]), which `status`, `stats` and
//! `doctor` warn about.

use super::load;
use crate::error::{ErrorKind, Result};
use crate::store::{Event, Operation, Outcome, Store};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The window of the failure-rate warning.
pub const ALERT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Median and 99th percentile of a set of durations (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// How many durations.
    pub samples: usize,
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

impl Latency {
    /// The percentiles of `durations`; `None` when there are none.
    pub fn of(mut durations: Vec<Duration>) -> Option<Latency> {
        if durations.is_empty() {
            return None;
        }
        durations.sort();
        let n = durations.len();
        let rank = |q: f64| {
            // Nearest rank: the smallest value with at least q of the samples at or below it.
            let r = (q * n as f64).ceil() as usize;
            durations[r.clamp(1, n) - 1]
        };
        Some(Latency {
            samples: n,
            p50: rank(0.50),
            p99: rank(0.99),
            max: durations[n - 1],
        })
    }
}

/// What a set of records says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// How many records.
    pub events: usize,
    /// Counts by operation, then by outcome.
    pub by_operation: BTreeMap<Operation, BTreeMap<Outcome, usize>>,
    /// Counts by outcome, all operations together.
    pub by_outcome: BTreeMap<Outcome, usize>,
    /// Durations of refreshes and client-credentials grants (retries included; the `retried`
    /// records of single attempts are not counted again).
    pub refresh_latency: Option<Latency>,
    /// Requests to the authorization server (see [`Operation::is_token_request`]).
    pub token_requests: usize,
    /// Of those, how many ended with a 5xx status.
    pub server_errors: usize,
    /// Refreshes that ended in "log in again".
    pub forced_logins: usize,
    /// Resource calls answered 401.
    pub resource_rejections: usize,
    /// Waits for another process's refresh lock.
    pub lock_waits: usize,
    /// Records by the machine that made them, and of those how many were refreshes (a store
    /// shared by machines names each record's host; empty otherwise).
    pub by_host: BTreeMap<String, HostCounts>,
}

/// What one machine did, in a store shared by machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounts {
    /// Records.
    pub events: usize,
    /// Successful refreshes and client-credentials grants.
    pub renewals: usize,
}

impl Stats {
    /// Computes the statistics of `events`.
    pub fn of(events: &[Event]) -> Stats {
        let mut s = Stats {
            events: events.len(),
            ..Stats::default()
        };
        let mut latencies = Vec::new();
        for e in events {
            let (op, outcome) = (e.operation, e.outcome);
            *s.by_operation
                .entry(op)
                .or_default()
                .entry(outcome)
                .or_default() += 1;
            *s.by_outcome.entry(outcome).or_default() += 1;
            if let Some(host) = &e.host {
                let counts = s.by_host.entry(host.clone()).or_default();
                counts.events += 1;
                if op.renews_token() && outcome == Outcome::Ok {
                    counts.renewals += 1;
                }
            }
            if op.is_token_request() {
                s.token_requests += 1;
                if e.status.is_some_and(|st| (500..600).contains(&st)) {
                    s.server_errors += 1;
                }
            }
            if op.renews_token() && outcome != Outcome::Retried {
                if let Some(d) = e.duration {
                    latencies.push(d);
                }
                if outcome == Outcome::Failed(ErrorKind::LoginRequired) {
                    s.forced_logins += 1;
                }
            }
            match op {
                // A 401, or the second 401 of a request (recorded as the session rejected).
                Operation::Resource
                    if matches!(
                        outcome,
                        Outcome::Unauthorized | Outcome::Failed(ErrorKind::SessionRejected)
                    ) =>
                {
                    s.resource_rejections += 1;
                }
                Operation::LockWait => s.lock_waits += 1,
                _ => {}
            }
        }
        s.refresh_latency = Latency::of(latencies);
        s
    }

    /// The share of token requests answered 5xx; `None` without requests.
    pub fn server_error_rate(&self) -> Option<f64> {
        (self.token_requests > 0).then(|| self.server_errors as f64 / self.token_requests as f64)
    }
}

/// The 5xx rate of one profile over a recent window, against its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRate {
    /// The window looked at.
    pub window: Duration,
    /// Requests to the authorization server in the window.
    pub requests: usize,
    /// Of those, answered 5xx.
    pub server_errors: usize,
    /// The threshold (0..1).
    pub threshold: f64,
}

impl FailureRate {
    /// The 5xx share (0 without requests).
    pub fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.server_errors as f64 / self.requests as f64
        }
    }

    /// True when the rate passes the threshold.
    pub fn exceeded(&self) -> bool {
        self.requests > 0 && self.rate() > self.threshold
    }

    /// The warning to show when the threshold is passed.
    pub fn warning(&self, profile: &str) -> Option<String> {
        self.exceeded().then(|| {
            format!(
                "{} of {} requests of profile `{profile}` to the authorization server in the last {} were answered 5xx ({:.0}%, above the {:.0}% threshold): the provider is having trouble; see `tokenwarden --profile {profile} events`",
                self.server_errors,
                self.requests,
                crate::human::duration(self.window),
                self.rate() * 100.0,
                self.threshold * 100.0
            )
        })
    }
}

/// The 5xx rate of `profile` over the [`ALERT_WINDOW`] before `now`, against `threshold`.
pub fn failure_rate(
    store: &dyn Store,
    profile: &str,
    threshold: f64,
    now: SystemTime,
) -> Result<FailureRate> {
    let since = now
        .checked_sub(ALERT_WINDOW)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stats = Stats::of(&load(store, since, Some(profile))?);
    Ok(FailureRate {
        window: ALERT_WINDOW,
        requests: stats.token_requests,
        server_errors: stats.server_errors,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Operation, outcome: Outcome, status: Option<u16>, ms: Option<u64>) -> Event {
        let mut e = Event::new(SystemTime::UNIX_EPOCH, "p", op, outcome);
        e.status = status;
        e.duration = ms.map(Duration::from_millis);
        e
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let l = Latency::of((1..=100).map(Duration::from_millis).collect()).unwrap();
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        let one = Latency::of(vec![Duration::from_millis(7)]).unwrap();
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert_eq!(Latency::of(Vec::new()), None);
    }

    #[test]
    fn stats_count_outcomes_5xx_and_forced_logins() {
        let events = vec![
            ev(Operation::Refresh, Outcome::Retried, Some(502), Some(1)),
            ev(Operation::Refresh, Outcome::Ok, None, Some(10)),
            ev(
                Operation::Refresh,
                Outcome::Failed(ErrorKind::ProviderUnavailable),
                Some(503),
                Some(30),
            ),
            ev(
                Operation::Refresh,
                Outcome::Failed(ErrorKind::LoginRequired),
                Some(400),
                Some(20),
            ),
            ev(Operation::CodeExchange, Outcome::Ok, Some(200), Some(5)),
            ev(Operation::Resource, Outcome::Unauthorized, Some(401), None),
            ev(Operation::Invalidate, Outcome::Ok, None, None),
        ];
        let s = Stats::of(&events);
        assert_eq!(s.events, 7);
        assert_eq!(s.token_requests, 5);
        assert_eq!(s.server_errors, 2);
        assert_eq!(s.server_error_rate(), Some(0.4));
        assert_eq!(s.forced_logins, 1);
        assert_eq!(s.resource_rejections, 1);
        assert_eq!(s.by_operation[&Operation::Refresh][&Outcome::Ok], 1);
        assert_eq!(s.by_outcome[&Outcome::Ok], 3);
        let l = s.refresh_latency.unwrap();
        assert_eq!((l.samples, l.p50), (3, Duration::from_millis(20)));
    }

    #[test]
    fn failure_rate_warns_above_the_threshold_only() {
        let mut r = FailureRate {
            window: ALERT_WINDOW,
            requests: 20,
            server_errors: 1,
            threshold: 0.05,
        };
        assert!(!r.exceeded(), "5% is not above 5%");
        r.server_errors = 2;
        let w = r.warning("work").unwrap();
        assert!(
            w.contains("2 of 20") && w.contains("10%") && w.contains("in the last 15 min "),
            "{w}"
        );
        r.requests = 0;
        assert!(r.warning("work").is_none());
    }
}
