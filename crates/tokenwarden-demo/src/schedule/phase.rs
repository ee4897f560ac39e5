//! One phase of the schedule: its fault, its times, what it does to mockauth, and what
//! happened in it.

use super::fault::Fault;
use super::timing::{RETRY_AFTER_S, STORM_RATE};
use mockauth::{Endpoint, FaultBody, FaultPlan, FaultSpec, ServerHandle};
use serde::Serialize;

/// One phase of the schedule, and what happened in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// What it does.
    pub fault: Fault,
    /// Start, seconds after the workers started.
    pub start: f64,
    /// End, seconds after the workers started.
    pub end: f64,
    /// What it does, in words.
    pub detail: String,
    /// When the demo put it in force, seconds after the workers started (`None`: never; the
    /// run ended first).
    pub played_at: Option<f64>,
    /// Answers of mockauth that a fault replaced or delayed during the phase.
    pub faults_injected: u64,
    /// Refresh requests that reached `/token` during the phase.
    pub refresh_requests: u64,
    /// For [`Fault::Latency`]: the delay of each `/token` answer, milliseconds.
    #[serde(skip)]
    pub(super) latency_ms: u64,
    /// For the storms: the seed of mockauth's generator.
    #[serde(skip)]
    pub(super) seed: u64,
    /// How much later than planned the phase may start, seconds: the calm after it that it
    /// may slide into (see [`delay`](super::delay)).
    #[serde(skip)]
    pub flex: f64,
}

impl Phase {
    /// A phase of `fault` from `start` to `end` (seconds after the start), not yet played.
    pub(super) fn new(fault: Fault, start: f64, end: f64, detail: String) -> Phase {
        Phase {
            fault,
            start,
            end,
            detail,
            played_at: None,
            faults_injected: 0,
            refresh_requests: 0,
            latency_ms: 0,
            seed: 0,
            flex: 0.0,
        }
    }

    /// The phase's fault plan for mockauth (`None`: no fault on any endpoint).
    pub fn plan(&self) -> Option<FaultPlan> {
        let token = match self.fault {
            Fault::Calm | Fault::RevokeAll | Fault::Recovery => return None,
            Fault::Storm500 => FaultSpec::status(500).rate(STORM_RATE, self.seed),
            Fault::RateLimit429 => FaultSpec::status(429)
                .retry_after(RETRY_AFTER_S)
                .rate(STORM_RATE, self.seed),
            Fault::ProxyHtml502 => FaultSpec::status(502)
                .body(FaultBody::Html)
                .rate(STORM_RATE, self.seed),
            Fault::Latency => FaultSpec {
                latency_ms: Some(self.latency_ms),
                ..FaultSpec::default()
            },
            Fault::HardOutage => FaultSpec::status(503),
        };
        Some(FaultPlan::default().with(Endpoint::Token, token))
    }

    /// Puts this phase's faults in force on `server` (and revokes, for
    /// [`Fault::RevokeAll`]).
    pub fn apply(&self, server: &ServerHandle) -> Result<(), mockauth::InvalidFaultPlan> {
        match self.plan() {
            Some(plan) => server.set_faults(plan)?,
            None => server.clear_faults(),
        }
        if self.fault == Fault::RevokeAll {
            server.revoke_all();
        }
        Ok(())
    }

    /// Whether `t` (seconds after the start) is inside this phase.
    pub fn contains(&self, t: f64) -> bool {
        t >= self.start && t < self.end
    }
}

/// The phase in force at `t`.
pub fn phase_at(phases: &[Phase], t: f64) -> Option<&Phase> {
    phases.iter().find(|p| p.contains(t))
}
