//! The token-operation log: which operations and outcomes exist, how a record is made from a
//! result, the statistics `tokenwarden stats` shows (counts by outcome, refresh latency
//! p50/p99, 5xx rate, forced logins), the failure-rate warning of `status` and `doctor`, and
//! bounded retention.
//!
//! The store keeps records with plain names ([`Event`]); this module owns the names. A record
//! never holds a secret: operation, outcome, HTTP status, OAuth error code, the provider's
//! request id, our correlation id, a duration and an attempt number.
//!
//! Who records what: the session records refreshes, client-credentials grants, invalidations,
//! lock waits and resource 401s (it knows how each ended for the caller); the [`TokenClient`]
//! records the exchanges no session oversees (code exchange, device grant, revocation, a
//! client-credentials grant made on its own, as `login --client-credentials` does), and
//! every attempt that failed transiently and was sent again (outcome `retried`), so each
//! request to the provider appears once; the CLI records logins and logouts.
//!
//! [`TokenClient`]: crate::http::TokenClient

use crate::error::{Error, ErrorKind, Result};
use crate::store::{Event, Store};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Records older than this are deleted.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// At most this many records are kept (the newest).
pub const MAX_EVENTS: usize = 10_000;

/// Stores apply the retention bounds again after every this many records appended (besides
/// when they are opened), so a long-running process stays bounded.
pub const PRUNE_EVERY: u64 = 200;

/// The window of the failure-rate warning.
pub const ALERT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The failure-rate threshold when a profile sets none (5 %).
pub const DEFAULT_FAILURE_RATE_THRESHOLD: f64 = 0.05;

/// A token operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// A `tokenwarden login` as a whole (browser wait included).
    Login,
    /// The authorization code exchange (RFC 6749 §4.1.3).
    CodeExchange,
    /// A refresh (RFC 6749 §6).
    Refresh,
    /// A client credentials grant (RFC 6749 §4.4).
    ClientCredentials,
    /// The device authorization request (RFC 8628 §3.1).
    DeviceAuthorization,
    /// The device grant's token request, when it ended (RFC 8628 §3.4).
    DevicePoll,
    /// A revocation (RFC 7009).
    Revocation,
    /// A resource server rejected a token; it was marked so the next use refreshes.
    Invalidate,
    /// A call to the protected resource (recorded when it answered 401).
    Resource,
    /// Waiting for another process's refresh lock.
    LockWait,
    /// A `tokenwarden logout`.
    Logout,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 11] = [
        Operation::Login,
        Operation::CodeExchange,
        Operation::Refresh,
        Operation::ClientCredentials,
        Operation::DeviceAuthorization,
        Operation::DevicePoll,
        Operation::Revocation,
        Operation::Invalidate,
        Operation::Resource,
        Operation::LockWait,
        Operation::Logout,
    ];

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::CodeExchange => "code_exchange",
            Operation::Refresh => "refresh",
            Operation::ClientCredentials => "client_credentials",
            Operation::DeviceAuthorization => "device_authorization",
            Operation::DevicePoll => "device_poll",
            Operation::Revocation => "revocation",
            Operation::Invalidate => "invalidate",
            Operation::Resource => "resource",
            Operation::LockWait => "lock_wait",
            Operation::Logout => "logout",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// True for the operations that are one request to the authorization server (what the
    /// 5xx rate counts).
    pub fn is_token_request(self) -> bool {
        matches!(
            self,
            Operation::CodeExchange
                | Operation::Refresh
                | Operation::ClientCredentials
                | Operation::DeviceAuthorization
                | Operation::DevicePoll
                | Operation::Revocation
        )
    }

    /// True for the operations that obtain a new access token without a person (refresh,
    /// client credentials): their durations are the "refresh latency".
    pub fn renews_token(self) -> bool {
        matches!(self, Operation::Refresh | Operation::ClientCredentials)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It worked.
    Ok,
    /// A refresh worked, but a login stored newer tokens meanwhile; those were kept.
    OkSuperseded,
    /// Nothing to do: the token named was already replaced.
    Stale,
    /// The resource server answered 401.
    Unauthorized,
    /// A wait ran out.
    Timeout,
    /// One attempt failed transiently and the request was sent again (the next record of the
    /// same correlation id says how it ended).
    Retried,
    /// It failed; the error's kind.
    Failed(ErrorKind),
}

/// The error kinds an outcome can name, for parsing.
const KINDS: [ErrorKind; 8] = [
    ErrorKind::Usage,
    ErrorKind::Config,
    ErrorKind::LoginRequired,
    ErrorKind::ProviderUnavailable,
    ErrorKind::SessionRejected,
    ErrorKind::Store,
    ErrorKind::Protocol,
    ErrorKind::Other,
];

impl Outcome {
    /// The name as stored and shown (`ok`, `unauthorized`, or an error kind such as
    /// `provider_unavailable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OkSuperseded => "ok_superseded",
            Outcome::Stale => "stale",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Timeout => "timeout",
            Outcome::Retried => "retried",
            Outcome::Failed(kind) => kind.as_str(),
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Outcome> {
        Some(match name {
            "ok" => Outcome::Ok,
            "ok_superseded" => Outcome::OkSuperseded,
            "stale" => Outcome::Stale,
            "unauthorized" => Outcome::Unauthorized,
            "timeout" => Outcome::Timeout,
            "retried" => Outcome::Retried,
            other => Outcome::Failed(KINDS.into_iter().find(|k| k.as_str() == other)?),
        })
    }

    /// True when the operation did what was asked.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::OkSuperseded | Outcome::Stale)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record of `operation` on `profile` that ended well at `at`, with the current operation's
/// correlation id.
pub fn ok_event(
    at: SystemTime,
    profile: &str,
    operation: Operation,
    duration: Option<Duration>,
) -> Event {
    let mut e = Event::new(at, profile, operation.as_str(), Outcome::Ok.as_str());
    e.duration = duration;
    e.correlation_id = crate::correlation::current();
    e
}

/// A record of `operation` on `profile` that failed with `err` at `at`: the error's kind as
/// the outcome, with its HTTP status, whether its request reached the server, OAuth error code,
/// request id and correlation id (the error's, else the current operation's).
pub fn error_event(
    at: SystemTime,
    profile: &str,
    operation: Operation,
    err: &Error,
    duration: Option<Duration>,
) -> Event {
    let mut e = Event::new(
        at,
        profile,
        operation.as_str(),
        Outcome::Failed(err.kind()).as_str(),
    );
    e.status = err.status();
    e.delivery = err.delivery();
    e.oauth_error = err.oauth().map(|o| o.code.to_string());
    e.request_id = err.request_id().map(str::to_string);
    e.correlation_id = err
        .correlation_id()
        .map(str::to_string)
        .or_else(crate::correlation::current);
    e.duration = duration;
    e
}

/// Where records go. Every [`Store`] is one.
pub trait EventSink: Send + Sync {
    /// Appends `event` to the log.
    fn record_event(&self, event: &Event) -> Result<()>;
}

impl<S: Store + ?Sized> EventSink for S {
    fn record_event(&self, event: &Event) -> Result<()> {
        self.append_event(event)
    }
}

/// Appends `event` to `sink`. The log serves diagnosis: a failure to write it is logged, never
/// allowed to fail the operation it describes.
pub fn record(sink: &dyn EventSink, event: &Event) {
    tracing::debug!(
        operation = %event.operation,
        outcome = %event.outcome,
        status = event.status,
        "token operation recorded"
    );
    if let Err(e) = sink.record_event(event) {
        tracing::warn!(error = %e, "could not record a token operation in the event log");
    }
}

/// Applies the default retention bounds ([`MAX_AGE`], [`MAX_EVENTS`]); returns how many records
/// were deleted. (Stores also apply them every [`PRUNE_EVERY`] records appended.)
pub fn prune(store: &dyn Store, now: SystemTime) -> Result<usize> {
    let r = crate::store::Retention::default();
    store.prune_events(r.before(now), r.max_events)
}

/// The records since `since` of `profile` (all profiles when `None`), oldest first: the newest
/// [`MAX_EVENTS`] of them when there are more.
pub fn load(store: &dyn Store, since: SystemTime, profile: Option<&str>) -> Result<Vec<Event>> {
    store.recent_events(since, profile, MAX_EVENTS)
}

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
    pub by_operation: BTreeMap<String, BTreeMap<String, usize>>,
    /// Counts by outcome, all operations together.
    pub by_outcome: BTreeMap<String, usize>,
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
            *s.by_operation
                .entry(e.operation.clone())
                .or_default()
                .entry(e.outcome.clone())
                .or_default() += 1;
            *s.by_outcome.entry(e.outcome.clone()).or_default() += 1;
            let op = Operation::parse(&e.operation);
            let outcome = Outcome::parse(&e.outcome);
            if op.is_some_and(Operation::is_token_request) {
                s.token_requests += 1;
                if e.status.is_some_and(|st| (500..600).contains(&st)) {
                    s.server_errors += 1;
                }
            }
            if op.is_some_and(Operation::renews_token) && outcome != Some(Outcome::Retried) {
                if let Some(d) = e.duration {
                    latencies.push(d);
                }
                if outcome == Some(Outcome::Failed(ErrorKind::LoginRequired)) {
                    s.forced_logins += 1;
                }
            }
            match op {
                Some(Operation::Resource) if outcome == Some(Outcome::Unauthorized) => {
                    s.resource_rejections += 1;
                }
                Some(Operation::LockWait) => s.lock_waits += 1,
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

/// The warning `status` and `doctor` show when the 5xx rate of `profile` over the last 15
/// minutes passes its `failure_rate_threshold`; `None` when it does not.
pub fn failure_rate_warning(
    store: &dyn Store,
    profile: &crate::config::Profile,
    now: SystemTime,
) -> Result<Option<String>> {
    Ok(
        failure_rate(store, &profile.name, profile.failure_rate_threshold, now)?
            .warning(&profile.name),
    )
}

/// The failure-rate warnings of every valid profile of `config` (what `status` shows).
pub fn failure_rate_warnings(
    store: &dyn Store,
    config: &crate::config::Config,
    now: SystemTime,
) -> Vec<String> {
    config
        .profile_names()
        .iter()
        .filter_map(|name| config.profile(name).ok())
        .filter_map(|loaded| {
            failure_rate_warning(store, &loaded.profile, now)
                .ok()
                .flatten()
        })
        .collect()
}

/// Records how `operation` on `profile` ended, from its result.
pub fn record_result<T>(
    sink: &dyn EventSink,
    at: SystemTime,
    profile: &str,
    operation: Operation,
    result: &Result<T>,
    duration: Duration,
) {
    let event = match result {
        Ok(_) => ok_event(at, profile, operation, Some(duration)),
        Err(e) => error_event(at, profile, operation, e, Some(duration)),
    };
    record(sink, &event);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: &str, outcome: &str, status: Option<u16>, ms: Option<u64>) -> Event {
        let mut e = Event::new(SystemTime::UNIX_EPOCH, "p", op, outcome);
        e.status = status;
        e.duration = ms.map(Duration::from_millis);
        e
    }

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        for o in [
            Outcome::Ok,
            Outcome::Retried,
            Outcome::Unauthorized,
            Outcome::Failed(ErrorKind::LoginRequired),
            Outcome::Failed(ErrorKind::ProviderUnavailable),
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("made_up"), None);
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
            ev("refresh", "retried", Some(502), Some(1)),
            ev("refresh", "ok", None, Some(10)),
            ev("refresh", "provider_unavailable", Some(503), Some(30)),
            ev("refresh", "login_required", Some(400), Some(20)),
            ev("code_exchange", "ok", Some(200), Some(5)),
            ev("resource", "unauthorized", Some(401), None),
            ev("invalidate", "ok", None, None),
        ];
        let s = Stats::of(&events);
        assert_eq!(s.events, 7);
        assert_eq!(s.token_requests, 5);
        assert_eq!(s.server_errors, 2);
        assert_eq!(s.server_error_rate(), Some(0.4));
        assert_eq!(s.forced_logins, 1);
        assert_eq!(s.resource_rejections, 1);
        assert_eq!(s.by_operation["refresh"]["ok"], 1);
        assert_eq!(s.by_outcome["ok"], 3);
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
