//! The token-operation log: how a record is made from a result and appended, loading and
//! bounded retention; [`stats`]: the statistics `tokenwarden stats` shows (counts by
//! operation and outcome, refresh latency p50/p99, 5xx rate, forced logins) and the 5xx rate
//! of a recent window against a threshold.
//!
//! A record ([`Event`]) and its names ([`Operation`], [`Outcome`]) are the store's, since the
//! store keeps them (see [`crate::store::events`]); they are re-exported here. A record never
//! holds a secret: operation, outcome, HTTP status, OAuth error code, the provider's request
//! id, our correlation id, a duration and an attempt number.
//!
//! Who records what: the session records refreshes, client-credentials grants, invalidations,
//! lock waits and resource 401s (it knows how each ended for the caller); the [`TokenClient`]
//! records the exchanges no session oversees (code exchange, device grant, revocation, a
//! client-credentials grant made on its own, as `login --client-credentials` does), and
//! every attempt that failed transiently and was sent again (outcome `retried`), so each
//! request to the provider appears once; the CLI records logins and logouts. The failure-rate
//! warning of `status` and `doctor` is the [`Warden`]'s, which knows the profiles' thresholds.
//!
//! [`TokenClient`]: crate::http::TokenClient
//! [`Warden`]: crate::warden::Warden

pub mod stats;

pub use crate::store::events::{MAX_AGE, MAX_EVENTS, Operation, Outcome, PRUNE_EVERY};
pub use stats::{ALERT_WINDOW, FailureRate, HostCounts, Latency, Stats, failure_rate};

use crate::error::{Error, Result};
use crate::store::{Event, Store};
use std::time::{Duration, SystemTime};

/// A record of `operation` on `profile` that ended well at `at`, with the current operation's
/// correlation id.
pub fn ok_event(
    at: SystemTime,
    profile: &str,
    operation: Operation,
    duration: Option<Duration>,
) -> Event {
    let mut e = Event::new(at, profile, operation, Outcome::Ok);
    e.duration = duration;
    e.correlation_id = crate::correlation::current();
    e
}

/// A record of `operation` on `profile` that failed with `err` at `at`: the error's kind as
/// the outcome, with its HTTP status, OAuth error code, request id and correlation id (the
/// error's, else the current operation's).
pub fn error_event(
    at: SystemTime,
    profile: &str,
    operation: Operation,
    err: &Error,
    duration: Option<Duration>,
) -> Event {
    let mut e = Event::new(at, profile, operation, Outcome::Failed(err.kind()));
    e.status = err.status();
    e.delivery = err.delivery();
    e.oauth_error = err.oauth().map(|o| o.code.clone());
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
