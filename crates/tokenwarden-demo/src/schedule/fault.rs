//! The kinds of fault phase the schedule plays, and what each means for the numbers.

use serde::Serialize;

/// What a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// No faults.
    Calm,
    /// `/token` answers 500 `server_error` to a share of the requests (the storm rate, drawn
    /// with the run's seed).
    Storm500,
    /// Every access token is revoked at the start of the phase (refresh tokens still work).
    RevokeAll,
    /// `/token` answers 429 with `Retry-After` to a share of the requests.
    RateLimit429,
    /// `/token` answers 502 with a proxy's HTML page to a share of the requests.
    ProxyHtml502,
    /// `/token` answers every request slowly.
    Latency,
    /// `/token` answers 503 to every request.
    HardOutage,
    /// The provider is back; clients notice (circuit breaker cool-down). Still excused.
    Recovery,
}

impl Fault {
    /// A short name for displays.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Calm => "calm",
            Fault::Storm500 => "500 storm",
            Fault::RevokeAll => "early revocation",
            Fault::RateLimit429 => "429 + Retry-After",
            Fault::ProxyHtml502 => "502 proxy pages",
            Fault::Latency => "slow /token",
            Fault::HardOutage => "hard outage",
            Fault::Recovery => "recovery",
        }
    }

    /// Failed calls in this phase are expected even from a good client: no token can be had.
    pub fn excuses_failures(self) -> bool {
        matches!(self, Fault::HardOutage | Fault::Recovery)
    }
}

/// Whether a phase means something only when it meets a refresh (the storms and the slow
/// answers), so that the demo starts it when the next refresh is due, if its flex allows.
pub fn waits_for_refresh(fault: Fault) -> bool {
    matches!(
        fault,
        Fault::Storm500 | Fault::RateLimit429 | Fault::ProxyHtml502 | Fault::Latency
    )
}
