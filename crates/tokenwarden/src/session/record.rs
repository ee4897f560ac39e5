//! Event recording: every operation of a session (a refresh, a lock wait, an invalidation, a
//! resource call) leaves one record in the store's event log, with the evidence of its
//! token-endpoint exchange and the operation's correlation id. Recording never fails an
//! operation.

use super::Session;
use crate::error::Error;
use crate::events::{Operation, Outcome};
use crate::http::Exchange;
use crate::store::Event;
use std::time::Duration;

impl Session {
    /// Records how `operation` ended; a grant's record names its token-endpoint `exchange`.
    pub(super) fn event(
        &self,
        operation: Operation,
        outcome: Outcome,
        exchange: Option<&Exchange>,
        duration: Option<Duration>,
    ) {
        let mut e = Event::new(self.clock.now(), &self.profile, operation, outcome);
        e.duration = duration;
        self.record(&with_evidence(e, exchange));
    }

    /// Records that `operation` failed with `err` after the token-endpoint `exchange`. A grant
    /// that sent nothing to the token endpoint (it failed before: discovery, the client secret,
    /// an open breaker) is recorded as [`Delivery::NotSent`], whatever an earlier request
    /// (discovery's) got.
    ///
    /// [`Delivery::NotSent`]: crate::error::Delivery::NotSent
    pub(super) fn event_err(
        &self,
        operation: Operation,
        err: &Error,
        exchange: &Exchange,
        duration: Duration,
    ) {
        let mut e = crate::events::error_event(
            self.clock.now(),
            &self.profile,
            operation,
            err,
            Some(duration),
        );
        if exchange.attempts == 0 {
            e.delivery = Some(crate::error::Delivery::NotSent);
        }
        self.record(&with_evidence(e, Some(exchange)));
    }

    /// Appends to the event log; a failure to do so never fails the operation.
    pub(super) fn record(&self, e: &Event) {
        if let Err(err) = self.store.append_event(e) {
            tracing::warn!(error = %err, "could not record a token operation in the event log");
        }
    }
}

/// `e` with the operation's correlation id and, for a grant, the status, request id and attempt
/// count of its token-endpoint `exchange`.
fn with_evidence(mut e: Event, exchange: Option<&Exchange>) -> Event {
    if e.correlation_id.is_none() {
        e.correlation_id = crate::correlation::current();
    }
    if let Some(x) = exchange {
        e.status = e.status.or(x.status);
        e.request_id = e.request_id.or_else(|| x.request_id.clone());
        e.attempt = x.attempts.max(1);
    }
    e
}
