//! The device authorization grant (RFC 8628), for SSH sessions and machines without a browser:
//! shows the verification URI and user code (never the device code), polls at the interval
//! given (5 s when none), adds 5 s on every `slow_down`, backs off on connection errors and
//! provider failures, and stops at `expires_in`, on `expired_token` or on `access_denied`.
//!
//! Waiting goes through a [`Sleeper`] and "now" is a function, so tests drive the schedule
//! without waiting.

use crate::error::{Cause, Error, ErrorKind, OAuthErrorCode, Result};
use crate::http::{DeviceAuthorization, DevicePoll, TokenClient};
use crate::retry::Sleeper;
use crate::token::TokenSet;
use std::time::{Duration, SystemTime};

/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The shortest interval tokenwarden polls at, whatever the provider says.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The longest wait between two polls while the provider keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts the grant: what the person must see.
pub async fn start(client: &TokenClient) -> Result<DeviceAuthorization> {
    client.device_authorize().await
}

/// Polls until the person approves, denies, or the code expires.
///
/// - `authorization_pending`: poll again after the interval.
/// - `slow_down`: the interval grows by [`SLOW_DOWN_STEP`], for good.
/// - a transient failure (connection error, 5xx, 429, open circuit breaker), after the token
///   client's own retries: the wait doubles with each failure in a row (up to [`MAX_BACKOFF`],
///   and at least until a `Retry-After` or breaker time), and polling goes on.
/// - `expired_token`, `access_denied` and every other error end the login.
///
/// Reaching `expires_at` ends it too: with a LoginRequired error, or, when the last polls
/// failed, with the provider's failure (the code expired while the provider was unreachable).
pub async fn poll(
    client: &TokenClient,
    auth: &DeviceAuthorization,
    sleeper: &dyn Sleeper,
    now: &dyn Fn() -> SystemTime,
) -> Result<TokenSet> {
    let mut interval = auth.interval.max(MIN_INTERVAL);
    let mut wait = interval;
    let mut failures = 0u32;
    let mut last_failure: Option<Error> = None;
    loop {
        let left = auth
            .expires_at
            .duration_since(now())
            .unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return Err(expired(last_failure));
        }
        sleeper.sleep(wait.min(left)).await;
        match client.poll_device_token(&auth.device_code).await {
            Ok(DevicePoll::Granted(tokens)) => return Ok(tokens),
            Ok(DevicePoll::Pending) => {
                failures = 0;
                last_failure = None;
                wait = interval;
            }
            Ok(DevicePoll::SlowDown) => {
                failures = 0;
                last_failure = None;
                interval += SLOW_DOWN_STEP;
                wait = interval;
                tracing::debug!(interval_s = interval.as_secs(), "device grant: slow_down");
            }
            Err(e) if e.kind() == ErrorKind::ProviderUnavailable => {
                failures += 1;
                wait = backoff(interval, failures);
                if let Some(until) = e.retry_at()
                    && let Ok(d) = until.duration_since(now())
                {
                    wait = wait.max(d);
                }
                tracing::warn!(
                    retry_in_s = wait.as_secs(),
                    "device grant: {} (polling again)",
                    e.message()
                );
                last_failure = Some(e);
            }
            Err(e) => return Err(ended(e)),
        }
    }
}

/// The wait after `failures` transient failures in a row: the interval doubled per failure,
/// at most [`MAX_BACKOFF`] (and never below the interval).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1u32 << failures.min(6));
    doubled.min(MAX_BACKOFF).max(interval)
}

/// The error when the device code ran out locally.
fn expired(last_failure: Option<Error>) -> Error {
    match last_failure {
        Some(e) => {
            let msg = format!(
                "the device code expired while the provider was failing: {}",
                e.message()
            );
            e.with_message(msg).with_hint(
                "the provider could not be reached or kept failing; run `tokenwarden login --device` again when it is back (`tokenwarden doctor` shows its last answers)",
            )
        }
        None => Error::login_required("the device code expired before the login was approved")
            .with_cause(Cause::NotLoggedIn)
            .with_hint("run `tokenwarden login --device` again and approve within the time shown"),
    }
}

/// Gives the errors that end a device login a message that says so, keeping the evidence.
fn ended(e: Error) -> Error {
    let Some(oauth) = e.oauth() else {
        return e;
    };
    let described = oauth
        .description
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| format!(" (the provider says: {d})"))
        .unwrap_or_default();
    match e.oauth_code() {
        Some(OAuthErrorCode::ExpiredToken) => {
            let msg = format!("the device code expired before the login was approved{described}");
            e.with_message(msg)
                .with_kind(ErrorKind::LoginRequired)
                .with_hint(
                    "run `tokenwarden login --device` again and approve within the time shown",
                )
        }
        Some(OAuthErrorCode::AccessDenied) => {
            let msg = format!("the device login was denied{described}");
            e.with_message(msg)
                .with_kind(ErrorKind::LoginRequired)
                .with_cause(Cause::ConsentDenied)
                .with_hint(
                    "run `tokenwarden login --device` again and choose Approve on the verification page",
                )
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let i = Duration::from_secs(5);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(i, n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff(Duration::from_secs(90), 3), Duration::from_secs(90));
    }
}
