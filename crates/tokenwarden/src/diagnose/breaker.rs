//! `breaker`: whether the circuit breaker every process shares holds back requests to the
//! profile's provider, why, and until when; and [`reset`], which clears it
//! (`doctor --reset-breaker`).
//!
//! Breaker records are kept per endpoint URL, and shared by every profile that uses the
//! endpoint. A profile's records are those on its provider's origins: the issuer's, its
//! configured (or preset) endpoints', and, when `doctor` goes online, the endpoints discovery
//! names. What a record means is the breaker's own reading ([`CircuitBreaker::state`]), with
//! the bounds of the profile's retry policy: `doctor` says exactly what a refresh would meet.

use super::Check;
use crate::config::Profile;
use crate::error::Result;
use crate::retry::{BreakerRecord, BreakerState, CircuitBreaker};
use crate::store::Store;
use crate::warden::Warden;
use std::sync::Arc;
use std::time::SystemTime;
use url::{Origin, Url};

/// A breaker record that [`reset`] cleared, with what it meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    /// The endpoint the record is about.
    pub endpoint: String,
    /// What the record meant before it was cleared.
    pub before: BreakerState,
}

/// The origins of the profile's provider: its issuer and every endpoint it names (configured,
/// preset or, when given, discovered).
fn origins(p: &Profile, discovered: &[Url]) -> Vec<Origin> {
    let e = &p.endpoints;
    let mut all: Vec<Origin> = p
        .issuer
        .as_deref()
        .and_then(|i| Url::parse(i).ok())
        .into_iter()
        .chain(
            [
                &e.authorization,
                &e.token,
                &e.device_authorization,
                &e.revocation,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        )
        .chain(discovered.iter().cloned())
        .map(|u| u.origin())
        .collect();
    all.dedup();
    all
}

/// The records of `store` about the profile's provider.
fn records_of(
    p: &Profile,
    store: &dyn Store,
    discovered: &[Url],
) -> Result<Vec<(String, BreakerRecord)>> {
    let origins = origins(p, discovered);
    Ok(store
        .breaker_records()?
        .into_iter()
        .filter(|(key, _)| Url::parse(key).is_ok_and(|u| origins.iter().any(|o| *o == u.origin())))
        .collect())
}

/// The profile's endpoints as discovery names them (none when offline, or when discovery
/// fails: the `discovery` check says why).
async fn discovered(warden: &Warden, p: &Profile, online: bool) -> Vec<Url> {
    if !online || p.issuer.is_none() {
        return Vec::new();
    }
    let Ok(client) = warden.client_without_store(p) else {
        return Vec::new();
    };
    match client.endpoints().await {
        Ok(e) => [
            e.authorization,
            e.token,
            e.device_authorization,
            e.revocation,
        ]
        .into_iter()
        .flatten()
        .collect(),
        Err(_) => Vec::new(),
    }
}

fn breaker(p: &Profile, store: Arc<dyn Store>) -> CircuitBreaker {
    CircuitBreaker::new(store, &p.retry)
}

/// `breaker`: fails when requests to the profile's provider are held back, saying why and
/// until when, and how to clear it.
pub async fn check(
    warden: &Warden,
    p: &Profile,
    store: Arc<dyn Store>,
    online: bool,
    checks: &mut Vec<Check>,
) {
    let discovered = discovered(warden, p, online).await;
    let records = match records_of(p, store.as_ref(), &discovered) {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::from_error("breaker", &e));
            return;
        }
    };
    let now = warden.clock().now();
    let b = breaker(p, store);
    let states: Vec<(String, BreakerState)> = records
        .iter()
        .map(|(key, r)| (key.clone(), b.state(r, now)))
        .collect();
    let held: Vec<String> = states
        .iter()
        .filter_map(|(key, s)| Some(held_back(key, s, s.held_until()?, now)))
        .collect();
    if !held.is_empty() {
        checks.push(Check::fail(
            "breaker",
            held.join("; "),
            format!(
                "tokenwarden tries again by itself after the time shown; if the provider is healthy again, clear it now with `tokenwarden --profile {} doctor --reset-breaker` (a new login clears it too)",
                p.name
            ),
        ));
        return;
    }
    let failing: Vec<String> = states
        .iter()
        .filter_map(|(key, s)| match s {
            BreakerState::Closed {
                consecutive_failures: n,
            } if *n > 0 => Some(format!("{key}: {n} transient failures in a row")),
            BreakerState::HalfOpen {
                consecutive_failures: n,
            } => Some(format!(
                "{key}: {n} transient failures in a row; the next request tests whether it is back"
            )),
            _ => None,
        })
        .collect();
    checks.push(if failing.is_empty() {
        Check::ok("breaker", "closed: no request to the provider is held back")
    } else {
        Check::ok(
            "breaker",
            format!(
                "closed, below the threshold of {} ({})",
                b.threshold(),
                failing.join("; ")
            ),
        )
    });
}

fn held_back(key: &str, state: &BreakerState, until: SystemTime, now: SystemTime) -> String {
    let left = until.duration_since(now).unwrap_or_default();
    format!(
        "requests to {key} are held back until {} (in {}): {}",
        crate::human::timestamp(until),
        crate::human::duration(std::time::Duration::from_secs(left.as_secs().max(1))),
        state.reason().unwrap_or_default()
    )
}

/// Clears every breaker record about the profile's provider (`doctor --reset-breaker`), so that
/// the next request is sent whatever the provider answered before. Returns the records that
/// held requests back or counted failures, with what they meant. Opens the store only when it
/// exists (a fresh home has no breaker to clear).
pub async fn reset(warden: &Warden, p: &Profile, online: bool) -> Result<Vec<Cleared>> {
    if !super::local::store_exists(warden) {
        return Ok(Vec::new());
    }
    let store: Arc<dyn Store> = warden.store()?;
    let discovered = discovered(warden, p, online).await;
    let records = records_of(p, store.as_ref(), &discovered)?;
    let now = warden.clock().now();
    let b = breaker(p, store);
    let mut cleared = Vec::new();
    for (key, record) in records {
        if record.is_clear() {
            continue;
        }
        let before = b.reset(&key, now)?;
        tracing::info!(endpoint = %key, "circuit breaker cleared");
        cleared.push(Cleared {
            endpoint: key,
            before,
        });
    }
    Ok(cleared)
}
