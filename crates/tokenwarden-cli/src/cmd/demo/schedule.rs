//! The demo's timing and its fault schedule: how long tokens live, when each fault phase starts
//! and ends, and what it does to the in-process mockauth.
//!
//! The storms (500s, 429s with `Retry-After`, a proxy's 502 pages) fault half of the `/token`
//! requests, drawn from mockauth's seeded generator, and last longer than the time between two
//! refreshes, so that every run meets them. The seeds are chosen so that the faulted requests
//! never come more than two in a row (a test checks it against mockauth): a client that
//! retries as the provider asks, one refresher at a time, always gets through, while clients
//! that each try once fail about every other time. Only the hard outage faults everything; it
//! lasts longer than a token can be stretched, and failed calls in it (and in the recovery
//! right after) are expected from any client. Phases are separated by calm; short runs play
//! fewer phases.

use mockauth::{Endpoint, FaultBody, FaultPlan, FaultSpec, ServerHandle};
use serde::Serialize;
use std::time::Duration;

/// The demo profile's circuit-breaker cool-down (short, so a storm's end is noticed at once).
pub const BREAKER_COOLDOWN: Duration = Duration::from_millis(300);
/// The demo profile's largest backoff delay.
pub const RETRY_MAX_DELAY: Duration = Duration::from_millis(300);
/// The `Retry-After` the 429 phase sends, in seconds.
const RETRY_AFTER_S: u64 = 1;
/// The share of `/token` requests a storm faults.
const STORM_RATE: f64 = 0.5;
/// Seeds whose first draws fault at most two requests in a row, starting with two faults
/// (see the test `storm_seeds_fault_at_most_two_in_a_row`).
const SEED_500: u64 = 103;
const SEED_429: u64 = 244;
const SEED_502: u64 = 153;

/// The run's clock: token lifetime, proactive window, pacing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Length of the run, seconds.
    pub seconds: f64,
    /// Access-token lifetime, whole seconds (OAuth's `expires_in` is an integer).
    pub ttl_s: u64,
    /// The proactive refresh window (the profile's `refresh_skew`), seconds: half the TTL.
    pub window_s: f64,
    /// Pause between a worker's calls, milliseconds.
    pub interval_ms: u64,
}

impl Timing {
    /// The timing of a run of `seconds`: tokens live 4 s, so that a few seconds show several
    /// expiries.
    pub fn for_run(seconds: f64) -> Timing {
        let ttl_s = 4;
        let window_s = ttl_s as f64 / 2.0;
        Timing {
            seconds,
            ttl_s,
            window_s,
            interval_ms: 150,
        }
    }

    /// The access-token lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s)
    }

    /// The refreshes one well-behaved client alone needs over the run: one per
    /// (lifetime − proactive window).
    pub fn expiry_windows(&self) -> u64 {
        (self.seconds / (self.ttl_s as f64 - self.window_s)).floor() as u64
    }
}

/// What a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// No faults.
    Calm,
    /// `/token` answers 500 `server_error` to every request.
    Storm500,
    /// Every access token is revoked at the start of the phase (refresh tokens still work).
    RevokeAll,
    /// `/token` answers 429 with `Retry-After` to every request.
    RateLimit429,
    /// `/token` answers 502 with a proxy's HTML page.
    ProxyHtml502,
    /// `/token` answers slowly.
    Latency,
    /// `/token` answers 503 to everything, longer than tokens can be stretched.
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

/// One phase of the schedule.
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
    /// For [`Fault::Latency`]: the delay of each `/token` answer, milliseconds.
    #[serde(skip)]
    latency_ms: u64,
}

impl Phase {
    fn new(fault: Fault, start: f64, end: f64, detail: String) -> Phase {
        Phase {
            fault,
            start,
            end,
            detail,
            latency_ms: 0,
        }
    }

    /// The phase's fault plan for mockauth (`None`: no fault on any endpoint).
    pub fn plan(&self) -> Option<FaultPlan> {
        let token = match self.fault {
            Fault::Calm | Fault::RevokeAll | Fault::Recovery => return None,
            Fault::Storm500 => FaultSpec::status(500).rate(STORM_RATE, SEED_500),
            Fault::RateLimit429 => FaultSpec::status(429)
                .retry_after(RETRY_AFTER_S)
                .rate(STORM_RATE, SEED_429),
            Fault::ProxyHtml502 => FaultSpec::status(502)
                .body(FaultBody::Html)
                .rate(STORM_RATE, SEED_502),
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

/// One fault phase before spacing: its fault, duration, the calm it needs after.
struct Slot {
    fault: Fault,
    duration: f64,
    gap: f64,
    latency_ms: u64,
    detail: String,
}

/// Rounds to hundredths of a second, for readable schedules.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The schedule of a run: calm, then the fault phases that fit, spaced by calm, each ending
/// with enough calm to recover; the rest of the run is calm.
pub fn plan(t: &Timing) -> Vec<Phase> {
    let s = t.seconds;
    let w = t.window_s;
    let between = t.ttl_s as f64 - w; // time between two refreshes
    // Long enough to contain a refresh of every worker, whenever its copy was obtained (a
    // token lifetime), short enough to keep to the checked part of the seeded patterns.
    let storm = r2((s / 10.0).max(t.ttl_s as f64 - 0.2).min(10.0));
    let latency_ms = ((w - 0.7).min(1.5) * 1000.0) as u64;
    let d_latency = r2((s * 0.08).max(between + 0.5).min(5.0));
    let d_outage = r2((s * 0.12).clamp(1.0, t.ttl_s as f64 + 1.0));
    let pct = (STORM_RATE * 100.0) as u32;
    let slots = [
        Slot {
            fault: Fault::Storm500,
            duration: storm,
            gap: 0.8,
            latency_ms: 0,
            detail: format!("/token answers 500 server_error to {pct} % of requests for {storm} s"),
        },
        Slot {
            fault: Fault::RevokeAll,
            duration: 1.0,
            gap: 0.5,
            latency_ms: 0,
            detail: "every access token is revoked early (refresh tokens still work)".into(),
        },
        Slot {
            fault: Fault::RateLimit429,
            duration: storm,
            gap: 1.2,
            latency_ms: 0,
            detail: format!(
                "/token answers 429 with Retry-After: {RETRY_AFTER_S} to {pct} % of requests for {storm} s"
            ),
        },
        Slot {
            fault: Fault::ProxyHtml502,
            duration: storm,
            gap: 0.8,
            latency_ms: 0,
            detail: format!(
                "/token answers 502 with a proxy's HTML page to {pct} % of requests for {storm} s"
            ),
        },
        Slot {
            fault: Fault::Latency,
            duration: d_latency,
            gap: latency_ms as f64 / 1000.0 + 0.3,
            latency_ms,
            detail: format!("/token takes {latency_ms} ms to answer for {d_latency} s"),
        },
        Slot {
            fault: Fault::HardOutage,
            duration: d_outage,
            gap: 1.0,
            latency_ms: 0,
            detail: format!("/token answers 503 to everything for {d_outage} s"),
        },
    ];
    let first_calm = (s * 0.1).max(1.0);
    let last_calm = 0.5;
    // Keep the phases that fit, in order.
    let mut budget = s - first_calm - last_calm;
    let mut kept = Vec::new();
    for slot in slots {
        let need = slot.duration + slot.gap;
        if need > budget {
            break;
        }
        budget -= need;
        kept.push(slot);
    }
    // Spread the spare time as calm between the phases.
    let spare = if kept.is_empty() {
        0.0
    } else {
        budget / kept.len() as f64
    };
    let mut phases: Vec<Phase> = Vec::new();
    let push = |phases: &mut Vec<Phase>, p: Phase| {
        let (start, end) = (r2(p.start), r2(p.end));
        if end <= start {
            return;
        }
        match phases.last_mut() {
            Some(last) if last.fault == Fault::Calm && p.fault == Fault::Calm => last.end = end,
            _ => phases.push(Phase { start, end, ..p }),
        }
    };
    let calm = |from: f64, to: f64| Phase::new(Fault::Calm, from, to, "no faults".into());
    push(&mut phases, calm(0.0, first_calm));
    let mut now = first_calm;
    for slot in kept {
        let end = now + slot.duration;
        let mut p = Phase::new(slot.fault, now, end, slot.detail);
        p.latency_ms = slot.latency_ms;
        push(&mut phases, p);
        let mut calm_from = end;
        if slot.fault == Fault::HardOutage {
            let recovery = Phase::new(
                Fault::Recovery,
                end,
                end + slot.gap,
                "the provider is back; clients notice (circuit breaker cool-down)".into(),
            );
            push(&mut phases, recovery);
            calm_from = end + slot.gap;
        }
        now = end + slot.gap + spare;
        push(&mut phases, calm(calm_from, now));
    }
    push(&mut phases, calm(now, s));
    if let Some(last) = phases.last_mut() {
        last.end = last.end.max(s);
    }
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(seconds: f64) -> Vec<Phase> {
        let t = Timing::for_run(seconds);
        let phases = plan(&t);
        assert_eq!(phases.first().map(|p| p.start), Some(0.0));
        assert!((phases.last().map_or(0.0, |p| p.end) - seconds).abs() < 1e-6);
        for pair in phases.windows(2) {
            assert!((pair[0].end - pair[1].start).abs() < 1e-6, "{phases:#?}");
        }
        let between = t.ttl_s as f64 - t.window_s;
        for p in &phases {
            let rate = p
                .plan()
                .and_then(|plan| plan.token)
                .and_then(|spec| spec.rate);
            match p.fault {
                Fault::Storm500 | Fault::ProxyHtml502 | Fault::RateLimit429 => {
                    assert_eq!(rate, Some(STORM_RATE), "{p:?}");
                    assert!(p.end - p.start >= between, "{p:?} may miss every refresh");
                }
                _ => assert_eq!(rate, None, "{p:?}"),
            }
        }
        phases
    }

    #[test]
    fn every_run_length_gets_a_contiguous_schedule() {
        for s in [3.0, 6.0, 8.0, 15.0, 30.0, 120.0] {
            check(s);
        }
        let full = check(30.0);
        let faults: Vec<Fault> = full.iter().map(|p| p.fault).collect();
        for f in [
            Fault::Storm500,
            Fault::RevokeAll,
            Fault::RateLimit429,
            Fault::ProxyHtml502,
            Fault::Latency,
            Fault::HardOutage,
            Fault::Recovery,
        ] {
            assert!(faults.contains(&f), "{f:?} missing from {faults:?}");
        }
        let short = check(8.0);
        assert!(short.iter().any(|p| p.fault == Fault::Storm500));
    }

    #[test]
    fn the_ideal_is_one_refresh_per_window() {
        let t = Timing::for_run(30.0);
        assert_eq!((t.ttl_s, t.window_s), (4, 2.0));
        assert_eq!(t.expiry_windows(), 15);
    }

    /// The storms are safe for a client that retries only because their seeds never fault
    /// more than two requests in a row: check the patterns against mockauth itself.
    #[tokio::test]
    async fn storm_seeds_fault_at_most_two_in_a_row() {
        let server = mockauth::Server::start(mockauth::Config::default())
            .await
            .expect("mockauth starts");
        tokenwarden::http::install_crypto_provider();
        let http = reqwest::Client::new();
        let phases = plan(&Timing::for_run(30.0));
        for p in phases.iter().filter(|p| {
            matches!(
                p.fault,
                Fault::Storm500 | Fault::ProxyHtml502 | Fault::RateLimit429
            )
        }) {
            p.apply(&server).expect("a valid plan");
            let mut pattern = String::new();
            for _ in 0..30 {
                let resp = http
                    .post(server.url("/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", "x"),
                        ("client_id", "cli"),
                    ])
                    .send()
                    .await
                    .expect("mockauth answers");
                pattern.push(if resp.headers().contains_key("x-mockauth-fault") {
                    'F'
                } else {
                    '.'
                });
            }
            assert!(pattern.starts_with("FF."), "{:?}: {pattern}", p.fault);
            assert!(!pattern.contains("FFF"), "{:?}: {pattern}", p.fault);
        }
        server.shutdown().await.expect("stops");
    }
}
