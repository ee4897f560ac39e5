//! The device authorization grant (RFC 8628), for SSH sessions and machines without a browser:
//! shows the verification URI and user code (never the device code), polls at the interval
//! given (5 s when none), adds 5 s on every `slow_down`, backs off on connection errors, and
//! stops at `expires_in`, on `expired_token` or on `access_denied`.

use crate::error::{Cause, Error, ErrorKind, Result};
use crate::http::{DeviceAuthorization, DevicePoll, TokenClient};
use crate::retry::Sleeper;
use crate::token::TokenSet;
use std::time::{Duration, SystemTime};

/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Starts the grant: what the person must see.
pub async fn start(client: &TokenClient) -> Result<DeviceAuthorization> {
    client.device_authorize().await
}

/// Polls until the person approves, denies, or the code expires.
pub async fn poll(
    client: &TokenClient,
    auth: &DeviceAuthorization,
    sleeper: &dyn Sleeper,
    now: &dyn Fn() -> SystemTime,
) -> Result<TokenSet> {
    let mut interval = auth.interval.max(Duration::from_secs(1));
    let mut network_failures = 0u32;
    loop {
        if now() >= auth.expires_at {
            return Err(expired());
        }
        sleeper.sleep(interval).await;
        match client.poll_device_token(&auth.device_code).await {
            Ok(DevicePoll::Granted(tokens)) => return Ok(tokens),
            Ok(DevicePoll::Pending) => network_failures = 0,
            Ok(DevicePoll::SlowDown) => {
                network_failures = 0;
                interval += SLOW_DOWN_STEP;
                tracing::debug!(interval_s = interval.as_secs(), "device grant: slow_down");
            }
            Err(e) if e.kind() == ErrorKind::ProviderUnavailable => {
                // Keep polling through transient failures, backing off, until the code expires.
                network_failures += 1;
                let backoff = interval * 2u32.saturating_pow(network_failures.min(4));
                tracing::warn!("device grant: {} (retrying)", e.message());
                sleeper.sleep(backoff.saturating_sub(interval)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn expired() -> Error {
    Error::login_required("the device code expired before the request was approved")
        .with_cause(Cause::NotLoggedIn)
        .with_hint("run `tokenwarden login --device` again and approve within the time shown")
}
