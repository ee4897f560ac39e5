//! The records of the token-operation log, as the store keeps them.
//!
//! This is the storage half only: the [`crate::events`] module
//! decides which operations and outcomes exist and computes statistics; here they are plain
//! names so that the store does not need to change when a new operation is added. Nothing in a
//! record is secret: no token values, no codes, only ids and statuses.

use std::time::{Duration, SystemTime};

/// How much of the log a store keeps. Applied when the store is opened
/// ([`crate::events::prune`]) and by the store itself every `prune_every` records appended, so
/// that a long-running process stays bounded too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records older than this (counted back from the time of the record just appended) are
    /// deleted.
    pub max_age: Duration,
    /// At most this many records are kept: the newest.
    pub max_events: usize,
    /// Prune after every this many records appended (counted by row id, across processes).
    pub prune_every: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: crate::events::MAX_AGE,
            max_events: crate::events::MAX_EVENTS,
            prune_every: crate::events::PRUNE_EVERY,
        }
    }
}

impl Retention {
    /// The cut-off time for records when the newest is at `now`.
    pub fn before(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// One token operation (a refresh, a login, an invalidation, a lock wait…) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the operation ended.
    pub at: SystemTime,
    /// The profile it was for.
    pub profile: String,
    /// What was done, e.g. `refresh`, `login`, `invalidate` (named by the events module).
    pub operation: String,
    /// How it ended, e.g. `ok`, `invalid_grant`, `transient` (named by the events module).
    pub outcome: String,
    /// The HTTP status, when there was an exchange.
    pub status: Option<u16>,
    /// The OAuth `error` code, when the provider sent one.
    pub oauth_error: Option<String>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// tokenwarden's correlation id of the operation.
    pub correlation_id: Option<String>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// Which attempt this was (1 for the first).
    pub attempt: u32,
    /// For a failed exchange, whether its request reached the server, as the classifier
    /// decided it ([`crate::error::Error::delivery`]); `None` for a success, an operation
    /// without an exchange, and records written before the log kept it.
    pub delivery: Option<crate::error::Delivery>,
}

impl Event {
    /// A record of `operation` on `profile` ending with `outcome` at `at`, first attempt, with
    /// no evidence yet (fill the public fields).
    pub fn new(
        at: SystemTime,
        profile: impl Into<String>,
        operation: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Event {
        Event {
            at,
            profile: profile.into(),
            operation: operation.into(),
            outcome: outcome.into(),
            status: None,
            oauth_error: None,
            request_id: None,
            correlation_id: None,
            duration: None,
            attempt: 1,
            delivery: None,
        }
    }
}
