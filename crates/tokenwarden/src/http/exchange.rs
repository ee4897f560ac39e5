//! Running one operation's exchange: under the retry policy and circuit breaker, each attempt
//! sent, interpreted and checked for clock skew ([`TokenClient::call`]), with what was seen kept
//! in an [`Exchange`] that is returned with the result ([`Exchanged`]); and the event-log records
//! made of it — the operation's end ([`TokenClient::record`]) and every attempt that failed
//! transiently and was sent again (outcome `retried`), so that each request to the provider
//! appears once in the log.

use super::client::TokenClient;
use super::evidence::clock_skew_secs;
use super::{HttpRequest, HttpResponse, RequestKind};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{self, Operation, Outcome};
use crate::retry::Gate;
use crate::store::Event;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Clock differences larger than this are pointed out in hints and logs.
const SKEW_WARNING_SECS: i64 = 30;

/// What one operation's exchanges with an endpoint looked like, every attempt included: the
/// evidence its event record names, and whether the server may have acted on a request whose
/// answer was lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// How many requests were started (retries included); 0 when none was (an error before
    /// sending, or a request held back by the circuit breaker).
    pub attempts: u32,
    /// The HTTP status of the last answer, when one came.
    pub status: Option<u16>,
    /// The provider's request id of the last answer.
    pub request_id: Option<String>,
    /// How long the operation's exchanges took, waits between attempts included.
    pub elapsed: Duration,
    /// Whether an attempt failed after the server may have processed it
    /// ([`Error::may_have_been_processed`]): for a refresh, the provider may have rotated the
    /// refresh token and the new one was lost.
    pub maybe_processed: bool,
}

impl Exchange {
    /// The evidence of one attempt that ended with `result`, read from its error: for a grant
    /// made with a single request (and for tests that script one).
    pub fn of_attempt<T>(result: &Result<T>, elapsed: Duration) -> Exchange {
        let err = result.as_ref().err();
        Exchange {
            attempts: 1,
            status: err.and_then(Error::status),
            request_id: err.and_then(|e| e.request_id().map(str::to_string)),
            elapsed,
            maybe_processed: err.is_some_and(Error::may_have_been_processed),
        }
    }
}

/// A result with the exchanges that produced it.
#[derive(Debug)]
pub struct Exchanged<T> {
    /// What the operation gave.
    pub result: Result<T>,
    /// What its exchanges looked like.
    pub exchange: Exchange,
}

impl<T> Exchanged<T> {
    /// A result reached without sending anything (an error raised before any request).
    pub fn unsent(result: Result<T>) -> Exchanged<T> {
        Exchanged {
            result,
            exchange: Exchange::default(),
        }
    }
}

/// The event-log name of a request kind.
pub(super) fn operation(kind: RequestKind) -> Option<Operation> {
    use RequestKind as K;
    Some(match kind {
        K::CodeExchange => Operation::CodeExchange,
        K::Refresh => Operation::Refresh,
        K::ClientCredentials => Operation::ClientCredentials,
        K::DevicePoll => Operation::DevicePoll,
        K::DeviceAuthorization => Operation::DeviceAuthorization,
        K::Revocation => Operation::Revocation,
        _ => return None,
    })
}

impl TokenClient {
    /// Records the end of `op` in the event log, when there is one.
    pub(super) fn record<T>(&self, op: Operation, result: &Result<T>, ex: &Exchange, corr: &str) {
        let Some(sink) = &self.inner.events else {
            return;
        };
        let now = self.inner.retrier.clock().now();
        let name = &self.inner.profile.name;
        let mut e = match result {
            Ok(_) => {
                let mut e = events::ok_event(now, name, op, Some(ex.elapsed));
                e.status = ex.status;
                e.request_id = ex.request_id.clone();
                e
            }
            Err(err) => {
                let mut e = events::error_event(now, name, op, err, Some(ex.elapsed));
                e.status = e.status.or(ex.status);
                e.request_id = e.request_id.or_else(|| ex.request_id.clone());
                e
            }
        };
        e.correlation_id = Some(corr.to_string());
        e.attempt = ex.attempts.max(1);
        events::record(sink.as_ref(), &e);
    }

    /// Sends `req` under the retry policy (and the circuit breaker, as `gate` says);
    /// `interpret` turns each response into the result or a classified error.
    pub(super) async fn call<T>(
        &self,
        req: &HttpRequest,
        corr: &str,
        gate: Gate,
        interpret: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Exchanged<T> {
        let inner = &self.inner;
        let key = req.url.as_str().to_string();
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let last: Mutex<Option<(u16, Option<String>)>> = Mutex::new(None);
        // A failed attempt is known to be retried when the next one starts: it is then logged
        // as `retried`, so every exchange appears once in the event log.
        let failed: Mutex<Option<Event>> = Mutex::new(None);
        let (interpret, last_seen, failed_seen) = (&interpret, &last, &failed);
        // An attempt whose answer was lost may have been processed: a refresh token presented
        // again afterwards may have been rotated already.
        let maybe_processed = AtomicBool::new(false);
        let maybe_processed_seen = &maybe_processed;
        let result = self
            .active_retrier()
            .run(&key, req.kind.idempotence(), gate, |attempt| {
                attempts.store(attempt, Ordering::Relaxed);
                if let (Some(sink), Ok(Some(e))) =
                    (&inner.events, failed_seen.lock().map(|mut f| f.take()))
                {
                    events::record(sink.as_ref(), &e);
                }
                let attempt_started = Instant::now();
                async move {
                    let result = self.attempt(req, corr, interpret, last_seen).await;
                    if result.as_ref().is_err_and(Error::may_have_been_processed) {
                        maybe_processed_seen.store(true, Ordering::Relaxed);
                    }
                    if let (Err(err), Some(op)) = (&result, operation(req.kind)) {
                        let mut e = events::error_event(
                            inner.retrier.clock().now(),
                            &inner.profile.name,
                            op,
                            err,
                            Some(attempt_started.elapsed()),
                        );
                        e.outcome = Outcome::Retried;
                        e.correlation_id = Some(corr.to_string());
                        e.attempt = attempt;
                        if let Ok(mut f) = failed_seen.lock() {
                            *f = Some(e);
                        }
                    }
                    result
                }
            })
            .await
            .map_err(|e| e.with_correlation_id(corr));
        if let Err(e) = &result {
            self.forget_stale_discovery(&req.url, e);
        }
        let (status, request_id) = last
            .into_inner()
            .ok()
            .flatten()
            .map_or((None, None), |(s, r)| (Some(s), r));
        let exchange = Exchange {
            attempts: attempts.into_inner(),
            status,
            request_id,
            elapsed: started.elapsed(),
            maybe_processed: maybe_processed.into_inner(),
        };
        Exchanged { result, exchange }
    }

    /// One attempt: the exchange, then `interpret`; a clock skew is logged or added to the hint.
    async fn attempt<T>(
        &self,
        req: &HttpRequest,
        corr: &str,
        interpret: &impl Fn(&HttpResponse) -> Result<T>,
        last: &Mutex<Option<(u16, Option<String>)>>,
    ) -> Result<T> {
        let resp = self.inner.http.send(req, corr).await?;
        if let Ok(mut l) = last.lock() {
            *l = Some((resp.status, resp.evidence.request_id.clone()));
        }
        let skew = clock_skew_secs(&resp.evidence, resp.received_at);
        match interpret(&resp) {
            Ok(v) => {
                if let Some(s) = skew.filter(|s| s.abs() > SKEW_WARNING_SECS) {
                    tracing::warn!(skew_secs = s, url = %req.url, "the local clock differs from the provider's");
                }
                Ok(v)
            }
            Err(e) => Err(with_skew_note(e, skew)),
        }
    }
}

/// Adds a note about clock skew to the hint of errors a skewed clock can explain.
fn with_skew_note(err: Error, skew: Option<i64>) -> Error {
    let Some(s) = skew.filter(|s| s.abs() > SKEW_WARNING_SECS) else {
        return err;
    };
    if !matches!(err.kind(), ErrorKind::LoginRequired | ErrorKind::Config) {
        return err;
    }
    let ahead = if s > 0 { "ahead of" } else { "behind" };
    let note = format!(
        "also, the local clock is about {} {ahead} the provider's: fix it (NTP), since tokens and assertions are time-bound",
        crate::human::duration(Duration::from_secs(s.unsigned_abs()))
    );
    let hint = match err.hint() {
        Some(h) => format!("{h}; {note}"),
        None => note,
    };
    err.with_hint(hint)
}
