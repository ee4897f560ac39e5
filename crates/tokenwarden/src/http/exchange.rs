//! Running one operation's exchange: under the retry policy and circuit breaker, each attempt
//! sent, interpreted and checked for clock skew ([`TokenClient::call`]), with what was seen kept
//! in an [`Exchange`]; and the event-log records made of it — the operation's end
//! ([`TokenClient::record`]) and every attempt that failed transiently and was sent again
//! (outcome `retried`), so that each request to the provider appears once in the log.

use super::client::TokenClient;
use super::evidence::clock_skew_secs;
use super::{HttpRequest, HttpResponse, RequestKind};
use crate::error::{Error, ErrorKind, OAuthErrorCode, Result};
use crate::events::{self, Operation, Outcome};
use crate::store::Event;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Clock differences larger than this are pointed out in hints and logs.
const SKEW_WARNING_SECS: i64 = 30;

/// What one operation's exchanges looked like, for its event record.
#[derive(Debug, Default)]
pub(super) struct Exchange {
    pub(super) attempts: u32,
    pub(super) status: Option<u16>,
    pub(super) request_id: Option<String>,
    pub(super) elapsed: Duration,
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

    /// Sends `req` under the retry policy; `interpret` turns each response into the result or a
    /// classified error.
    pub(super) async fn call<T>(
        &self,
        req: &HttpRequest,
        corr: &str,
        interpret: impl Fn(&HttpResponse) -> Result<T>,
    ) -> (Result<T>, Exchange) {
        let inner = &self.inner;
        let key = req.url.as_str().to_string();
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let last: Mutex<Option<(u16, Option<String>)>> = Mutex::new(None);
        // A failed attempt is known to be retried when the next one starts: it is then logged
        // as `retried`, so every exchange appears once in the event log.
        let failed: Mutex<Option<Event>> = Mutex::new(None);
        let (interpret, last_seen, failed_seen) = (&interpret, &last, &failed);
        // An attempt that failed in transit may have been processed: a refresh token presented
        // again afterwards may have been rotated already (see `lost_rotation`).
        let answer_lost = std::sync::atomic::AtomicBool::new(false);
        let answer_lost_seen = &answer_lost;
        let result = self
            .active_retrier()
            .run(&key, req.kind.idempotence(), |attempt| {
                attempts.store(attempt, Ordering::Relaxed);
                if let (Some(sink), Ok(Some(e))) =
                    (&inner.events, failed_seen.lock().map(|mut f| f.take()))
                {
                    events::record(sink.as_ref(), &e);
                }
                let attempt_started = Instant::now();
                async move {
                    let result = self.attempt(req, corr, interpret, last_seen).await;
                    if let Err(err) = &result
                        && may_have_been_processed(err)
                    {
                        answer_lost_seen.store(true, Ordering::Relaxed);
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
            .map_err(|e| lost_rotation(e, req.kind, answer_lost.load(Ordering::Relaxed)))
            .map_err(|e| e.with_correlation_id(corr));
        let (status, request_id) = last
            .into_inner()
            .ok()
            .flatten()
            .map_or((None, None), |(s, r)| (Some(s), r));
        let ex = Exchange {
            attempts: attempts.into_inner(),
            status,
            request_id,
            elapsed: started.elapsed(),
        };
        (result, ex)
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

/// True when a failed attempt may have been processed by the server all the same: a transient
/// failure (5xx, timeout, connection lost) of a request that left this machine.
fn may_have_been_processed(err: &Error) -> bool {
    use crate::error::Cause;
    err.kind() == ErrorKind::ProviderUnavailable
        && !matches!(
            err.cause(),
            Some(Cause::Dns | Cause::Connect | Cause::Tls | Cause::CircuitOpen)
        )
        && !(err.cause() == Some(Cause::RateLimited) && err.http().is_none())
}

/// An `invalid_grant` on a refresh after an earlier attempt of the same refresh may have been
/// processed: the server probably rotated the refresh token and the answer was lost, so the
/// retry presented a token the server had already replaced (not a revocation).
fn lost_rotation(err: Error, kind: RequestKind, answer_lost: bool) -> Error {
    let invalid_grant = err
        .oauth()
        .is_some_and(|o| o.code == OAuthErrorCode::InvalidGrant);
    if kind == RequestKind::Refresh && answer_lost && invalid_grant {
        err.with_cause(crate::error::Cause::PossiblyLostRotation)
    } else {
        err
    }
}
