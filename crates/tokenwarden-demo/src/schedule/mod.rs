//! The demo's timing and its fault schedule: how long tokens live, when each fault phase starts
//! and ends, and what it does to the in-process mockauth.
//!
//! Every run plays every phase, in this order: a 500 storm, an early revocation, a 429 storm
//! with `Retry-After`, slow answers, a storm of a proxy's HTML 502 pages, the hard outage and
//! the recovery after it (runs are at least [`MIN_SECONDS`] long). Phase lengths scale with the
//! run and with the token lifetime, which grows with the run (4 s under 30 s, 6 s under 40 s,
//! then 8 s).
//!
//! # Why tokenwarden gets through the storms whatever the seed
//! The storms fault a share of the `/token` requests, drawn from mockauth's generator with the
//! run's seed (a new one each run unless `--seed` is given). tokenwarden does not rely on which
//! requests are drawn: each storm, plus the time a refresh needs to get through after its last
//! faulted answer ([`Timing::recovery_s`]: the `Retry-After`, or the longest backoff and the
//! breaker's cool-down; a worker's next call; slack for a loaded machine), is shorter than the
//! proactive window. So a token whose window opens during a storm is still valid when the storm
//! is over: until then tokenwarden hands it out (degraded mode), and the retry policy and the
//! circuit breaker bring a refresh through before it expires, even if the storm faulted every
//! request. Every storm is followed by at least that recovery time of calm. The naive client
//! tries once, so its refreshes that meet a storm fail.
//!
//! # Meeting a refresh
//! A storm shorter than the window is also shorter than the time between two refreshes, so it
//! could fall between them and test nothing. The phases that mean something only when they meet
//! a refresh ([`waits_for_refresh`]: the storms and the slow answers) therefore have some
//! *flex*: the demo follows when each worker's token enters its proactive window and starts the
//! phase just before the next refresh is due, [`delay`]ing it by at most its flex into the calm
//! after it. From 20 s on, the flex covers a whole refresh interval, so every such phase meets
//! a refresh; shorter runs have less room and may start a phase between two refreshes. The
//! `phases` of the summary show when each phase ran, and the faulted answers and refresh
//! requests in it.
//!
//! Only the hard outage faults everything: from [`OUTAGE_OUTLASTS_TOKEN_SECONDS`] on it lasts
//! longer than a token (in shorter runs, just longer than the time between two refreshes, so
//! that degraded mode shows), and failed calls in it (and in the recovery right after) are
//! expected from any client.

use mockauth::{Endpoint, FaultBody, FaultPlan, FaultSpec, ServerHandle};
use serde::Serialize;
use std::time::Duration;

/// The shortest run: long enough to play every phase.
pub const MIN_SECONDS: u64 = 12;
/// The shortest run whose hard outage lasts longer than a token.
pub const OUTAGE_OUTLASTS_TOKEN_SECONDS: u64 = 25;
/// How long before a refresh is due a phase that waits for one starts, seconds.
pub const LEAD_S: f64 = 0.1;
/// The demo profile's circuit-breaker cool-down (short, so a storm's end is noticed at once).
pub const BREAKER_COOLDOWN: Duration = Duration::from_millis(300);
/// The demo profile's largest backoff delay.
pub const RETRY_MAX_DELAY: Duration = Duration::from_millis(300);
/// The `Retry-After` the 429 phase sends, in seconds.
const RETRY_AFTER_S: u64 = 1;
/// The share of `/token` requests a storm faults.
const STORM_RATE: f64 = 0.5;
/// Slack, in seconds, for a refresh on a loaded machine (fsync, scheduling).
const SLACK_S: f64 = 0.4;
/// The shortest storm, seconds.
const MIN_STORM_S: f64 = 0.4;

/// The run's clock: token lifetime, proactive window, pacing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Length of the run, seconds.
    pub seconds: f64,
    /// Access-token lifetime, whole seconds (OAuth's `expires_in` is an integer).
    pub ttl_s: u64,
    /// The proactive refresh window (the profile's `refresh_skew`), seconds: half the TTL.
    pub window_s: f64,
    /// Pause between a worker's calls, milliseconds (jittered by ±30 %).
    pub interval_ms: u64,
}

impl Timing {
    /// The timing of a run of `seconds`: tokens live 4 s in runs under 30 s, so that a few
    /// seconds show several expiries; longer runs get longer tokens (6 s, and 8 s from 40 s
    /// on), so that their storms can be longer while staying inside the proactive window.
    pub fn for_run(seconds: f64) -> Timing {
        let ttl_s = if seconds < 30.0 {
            4
        } else if seconds < 40.0 {
            6
        } else {
            8
        };
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
        (self.seconds / self.between_s()).floor() as u64
    }

    /// Seconds between two refreshes of one client: lifetime − proactive window.
    pub fn between_s(&self) -> f64 {
        self.ttl_s as f64 - self.window_s
    }

    /// The longest pause between two calls of a worker, seconds.
    pub fn call_gap_s(&self) -> f64 {
        self.interval_ms as f64 * 1.3 / 1000.0
    }

    /// How long after the last faulted answer of `fault` a refresh has surely got through,
    /// seconds: the wait the provider or the client imposes (`Retry-After`; the longest backoff
    /// delay or the breaker's cool-down), then a worker's next call, plus slack.
    pub fn recovery_s(&self, fault: Fault) -> f64 {
        let wait = match fault {
            Fault::RateLimit429 => RETRY_AFTER_S as f64,
            Fault::Storm500 | Fault::ProxyHtml502 | Fault::HardOutage => {
                BREAKER_COOLDOWN.max(RETRY_MAX_DELAY).as_secs_f64()
            }
            Fault::Calm | Fault::RevokeAll | Fault::Latency | Fault::Recovery => 0.0,
        };
        wait + self.call_gap_s() + SLACK_S
    }

    /// The delay of each `/token` answer in the latency phase, milliseconds: a refresh that
    /// starts when the window opens still ends, with slack, before the token expires.
    fn latency_ms(&self) -> u64 {
        let most = self.window_s - self.call_gap_s() - SLACK_S - 0.1;
        (most.min(1.5) * 10.0).floor() as u64 * 100
    }
}

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
    latency_ms: u64,
    /// For the storms: the seed of mockauth's generator.
    #[serde(skip)]
    seed: u64,
    /// How much later than planned the phase may start, seconds: the calm after it that it
    /// may slide into (see [`delay`]).
    #[serde(skip)]
    pub flex: f64,
}

impl Phase {
    fn new(fault: Fault, start: f64, end: f64, detail: String) -> Phase {
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

/// Rounds up to tenths of a second, for durations that must not shrink.
fn up1(x: f64) -> f64 {
    (x * 10.0 - 1e-9).ceil() / 10.0
}

/// Rounds down to tenths of a second, for durations that must not grow.
fn down1(x: f64) -> f64 {
    (x * 10.0 + 1e-9).floor() / 10.0
}

/// The schedule of a run with fault generators seeded from `seed`: calm, then every fault
/// phase in turn, each scaled to the run, followed by the calm it needs to recover, the rest of
/// the run spread as calm between them (see the module docs). A run shorter than
/// [`MIN_SECONDS`] plays the phases that fit.
pub fn plan(t: &Timing, seed: u64) -> Vec<Phase> {
    let s = t.seconds;
    let w = t.window_s;
    let storm = |fault: Fault| down1((s * 0.04).min(w - t.recovery_s(fault)).max(MIN_STORM_S));
    let (d500, d429, d502) = (
        storm(Fault::Storm500),
        storm(Fault::RateLimit429),
        storm(Fault::ProxyHtml502),
    );
    // Long enough for every worker to meet its 401 and the one refresh to end.
    let d_revoke = up1((s * 0.02).max(t.call_gap_s() + SLACK_S));
    let latency_ms = t.latency_ms();
    // Long enough for the slow refresh it meets to end inside it, so that the next refresh is
    // due at most one interval after it ends.
    let d_latency = up1((s * 0.03)
        .min(t.between_s())
        .max(latency_ms as f64 / 1000.0 + t.call_gap_s() + LEAD_S));
    // Longer than a token from OUTAGE_OUTLASTS_TOKEN_SECONDS on; in shorter runs just longer
    // than the time between two refreshes and a worker's next call (the current token's window
    // opens during it: degraded mode shows).
    let d_outage = if s >= OUTAGE_OUTLASTS_TOKEN_SECONDS as f64 {
        t.ttl_s as f64 + 0.5
    } else {
        up1(t.between_s() + t.call_gap_s() + 0.3)
    };
    let d_recovery = up1(t.recovery_s(Fault::HardOutage) + 0.1);
    let pct = (STORM_RATE * 100.0) as u32;
    let slots = [
        Slot {
            fault: Fault::Storm500,
            duration: d500,
            gap: up1(t.recovery_s(Fault::Storm500)),
            latency_ms: 0,
            detail: format!("/token answers 500 server_error to {pct} % of requests for {d500} s"),
        },
        Slot {
            fault: Fault::RevokeAll,
            duration: d_revoke,
            gap: 0.0,
            latency_ms: 0,
            detail: "every access token is revoked early (refresh tokens still work)".into(),
        },
        Slot {
            fault: Fault::RateLimit429,
            duration: d429,
            gap: up1(t.recovery_s(Fault::RateLimit429)),
            latency_ms: 0,
            detail: format!(
                "/token answers 429 with Retry-After: {RETRY_AFTER_S} to {pct} % of requests for {d429} s"
            ),
        },
        Slot {
            fault: Fault::Latency,
            duration: d_latency,
            // Answers are decided on arrival: a slow refresh in flight when the phase ends
            // still succeeds, so the next phase (a storm, not the outage, whose length counts
            // on no refresh being in flight when it starts) may follow at once.
            gap: 0.0,
            latency_ms,
            detail: format!("/token takes {latency_ms} ms to answer for {d_latency} s"),
        },
        Slot {
            fault: Fault::ProxyHtml502,
            duration: d502,
            gap: up1(t.recovery_s(Fault::ProxyHtml502)),
            latency_ms: 0,
            detail: format!(
                "/token answers 502 with a proxy's HTML page to {pct} % of requests for {d502} s"
            ),
        },
        Slot {
            fault: Fault::HardOutage,
            duration: d_outage,
            gap: d_recovery,
            latency_ms: 0,
            detail: format!("/token answers 503 to everything for {d_outage} s"),
        },
    ];
    let first_calm = up1((s * 0.03).clamp(0.3, 1.5));
    // Keep the phases that fit, in order (all of them from MIN_SECONDS on).
    let mut budget = s - first_calm;
    let mut kept = Vec::new();
    for slot in slots {
        let need = slot.duration + slot.gap;
        if need > budget + 1e-9 {
            break;
        }
        budget -= need;
        kept.push(slot);
    }
    // The spare time: first the room for the phases that meet a refresh to wait for one (up
    // to the time between two refreshes each), the rest spread as calm after the phases.
    let spare = budget.max(0.0);
    let waiting = kept.iter().filter(|k| waits_for_refresh(k.fault)).count();
    let flex = if waiting == 0 {
        0.0
    } else {
        down1((spare / waiting as f64).min(t.between_s()))
    };
    let spare = if kept.is_empty() {
        0.0
    } else {
        (spare - flex * waiting as f64) / kept.len() as f64
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
    for (i, slot) in kept.into_iter().enumerate() {
        let end = now + slot.duration;
        let mut p = Phase::new(slot.fault, now, end, slot.detail);
        p.latency_ms = slot.latency_ms;
        p.seed = seed.wrapping_add(i as u64);
        let waits = waits_for_refresh(slot.fault);
        if waits {
            p.flex = flex;
        }
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
        now = end + slot.gap + spare + if waits { flex } else { 0.0 };
        push(&mut phases, calm(calm_from, now));
    }
    push(&mut phases, calm(now, s));
    if let Some(last) = phases.last_mut() {
        last.end = last.end.max(s);
    }
    phases
}

/// Whether a phase means something only when it meets a refresh (the storms and the slow
/// answers), so that the demo starts it when the next refresh is due, if its flex allows.
pub fn waits_for_refresh(fault: Fault) -> bool {
    matches!(
        fault,
        Fault::Storm500 | Fault::RateLimit429 | Fault::ProxyHtml502 | Fault::Latency
    )
}

/// Starts phase `i` `by` seconds later than planned, at most its flex: the calm before it
/// grows, the calm after it shrinks, the phases after it keep their times. Returns the delay
/// applied.
pub fn delay(phases: &mut [Phase], i: usize, by: f64) -> f64 {
    let by = r2(by.clamp(0.0, phases.get(i).map_or(0.0, |p| p.flex)));
    if by <= 0.0 || i == 0 || i + 1 >= phases.len() {
        return 0.0;
    }
    // The revocation acts when it starts: lengthening its phase changes nothing.
    let before = matches!(phases[i - 1].fault, Fault::Calm | Fault::RevokeAll);
    if !before
        || phases[i + 1].fault != Fault::Calm
        || phases[i + 1].end - phases[i + 1].start < by - 1e-6
    {
        return 0.0;
    }
    let p = &mut phases[i];
    p.start = r2(p.start + by);
    p.end = r2(p.end + by);
    p.flex = 0.0;
    let (start, end) = (p.start, p.end);
    phases[i - 1].end = start;
    phases[i + 1].start = end;
    by
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortest run in which every phase that waits for a refresh (storms, slow answers)
    /// has room to wait a whole refresh interval, and so surely meets one (the CLI test's run).
    const ALIGNED_SECONDS: u64 = 20;

    const FAULTS: [Fault; 7] = [
        Fault::Storm500,
        Fault::RevokeAll,
        Fault::RateLimit429,
        Fault::ProxyHtml502,
        Fault::Latency,
        Fault::HardOutage,
        Fault::Recovery,
    ];

    fn is_storm(f: Fault) -> bool {
        matches!(
            f,
            Fault::Storm500 | Fault::RateLimit429 | Fault::ProxyHtml502
        )
    }

    /// A contiguous schedule from 0 to `seconds`.
    fn check(seconds: f64) -> (Timing, Vec<Phase>) {
        let t = Timing::for_run(seconds);
        let phases = plan(&t, 7);
        assert_eq!(phases.first().map(|p| p.start), Some(0.0));
        assert!((phases.last().map_or(0.0, |p| p.end) - seconds).abs() < 1e-6);
        for pair in phases.windows(2) {
            assert!((pair[0].end - pair[1].start).abs() < 1e-6, "{phases:#?}");
            assert!(pair[0].end > pair[0].start, "{phases:#?}");
        }
        (t, phases)
    }

    #[test]
    fn every_run_plays_every_phase() {
        for s in [
            MIN_SECONDS,
            11,
            12,
            15,
            20,
            24,
            25,
            29,
            30,
            35,
            40,
            60,
            120,
            3600,
        ] {
            let (_, phases) = check(s as f64);
            let faults: Vec<Fault> = phases.iter().map(|p| p.fault).collect();
            for f in FAULTS {
                assert!(faults.contains(&f), "{s} s: {f:?} missing from {faults:?}");
            }
        }
        // Below the minimum (not reachable from the command line) the phases that fit.
        for s in [3.0, 6.0, 9.0] {
            check(s);
        }
    }

    /// Each phase that waits for a refresh, delayed by all its flex.
    fn delayed(seconds: f64) -> (Timing, Vec<Phase>) {
        let (t, mut phases) = check(seconds);
        for i in 0..phases.len() {
            let flex = phases[i].flex;
            if waits_for_refresh(phases[i].fault) && flex > 0.0 {
                assert_eq!(delay(&mut phases, i, flex + 1.0), r2(flex), "{phases:#?}");
                assert_eq!(phases[i].flex, 0.0);
            }
        }
        (t, phases)
    }

    #[test]
    fn phases_that_meet_a_refresh_may_wait_for_one() {
        let (_, phases) = check(30.0);
        let (_, moved) = delayed(30.0);
        let outage = |ps: &[Phase]| {
            ps.iter()
                .find(|p| p.fault == Fault::HardOutage)
                .map(|p| (p.start, p.end))
        };
        assert_eq!(
            outage(&phases),
            outage(&moved),
            "later phases keep their times"
        );
        assert!(moved.iter().zip(&phases).any(|(a, b)| a.start > b.start));
        // From ALIGNED_SECONDS on, room to wait for a whole refresh interval.
        for s in [ALIGNED_SECONDS, 24, 25, 29, 30, 40, 120, 3600] {
            let (t, phases) = check(s as f64);
            for p in phases.iter().filter(|p| waits_for_refresh(p.fault)) {
                assert!(p.flex >= t.between_s() - 1e-6, "{s} s: {p:?}");
            }
        }
    }

    /// The guarantee of the module docs, for every run length: tokenwarden gets through
    /// each storm whichever requests mockauth faults, even all of them.
    #[test]
    fn storms_end_inside_the_proactive_window_and_calm_follows() {
        for (s, shifted) in [MIN_SECONDS, 12, 15, 20, 24, 25, 30, 40, 120, 3600]
            .into_iter()
            .flat_map(|s| [(s, false), (s, true)])
        {
            let (t, phases) = if shifted {
                delayed(s as f64)
            } else {
                check(s as f64)
            };
            for pair in phases.windows(2) {
                assert!((pair[0].end - pair[1].start).abs() < 1e-6, "{phases:#?}");
                assert!(pair[0].end > pair[0].start, "{phases:#?}");
            }
            assert!(
                t.window_s <= t.ttl_s as f64 / 2.0,
                "the library caps the window"
            );
            for (i, p) in phases.iter().enumerate() {
                let length = p.end - p.start;
                let rate = p
                    .plan()
                    .and_then(|plan| plan.token)
                    .and_then(|spec| spec.rate);
                if is_storm(p.fault) {
                    assert_eq!(rate, Some(STORM_RATE), "{p:?}");
                    assert!(length >= MIN_STORM_S - 1e-6, "{s} s: {p:?}");
                    assert!(
                        length + t.recovery_s(p.fault) <= t.window_s + 1e-6,
                        "{s} s: {p:?} does not end a recovery before the window closes"
                    );
                } else {
                    assert_eq!(rate, None, "{p:?}");
                }
                if is_storm(p.fault) || p.fault == Fault::HardOutage {
                    // Calm (or recovery, then calm) until the next fault.
                    let calm: f64 = phases[i + 1..]
                        .iter()
                        .take_while(|q| matches!(q.fault, Fault::Calm | Fault::Recovery))
                        .map(|q| q.end - q.start)
                        .sum();
                    assert!(
                        calm + 1e-6 >= t.recovery_s(p.fault),
                        "{s} s: {calm} s of calm after {p:?}"
                    );
                }
                match p.fault {
                    Fault::RevokeAll => {
                        assert!(length + 1e-6 >= t.call_gap_s() + SLACK_S, "{p:?}");
                        assert_eq!(phases[i - 1].fault, Fault::Calm, "{phases:#?}");
                    }
                    Fault::Latency => {
                        let l = p.latency_ms as f64 / 1000.0;
                        assert!(l >= 1.0, "{p:?}");
                        assert!(length >= l + t.call_gap_s() + LEAD_S - 1e-6, "{p:?}");
                        assert!(length <= t.between_s() + 1e-6, "{p:?}");
                        assert!(l + t.call_gap_s() + SLACK_S <= t.window_s, "{p:?}");
                    }
                    Fault::HardOutage => {
                        assert!(length > t.between_s() + t.call_gap_s(), "{s} s: {p:?}");
                        assert_ne!(phases[i - 1].fault, Fault::Latency, "{phases:#?}");
                        if s >= OUTAGE_OUTLASTS_TOKEN_SECONDS {
                            assert!(length > t.ttl_s as f64, "{s} s: {p:?}");
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn storms_draw_from_the_given_seed() {
        let t = Timing::for_run(30.0);
        let seeds = |seed| -> Vec<u64> {
            plan(&t, seed)
                .iter()
                .filter_map(|p| p.plan()?.token?.seed)
                .collect()
        };
        let a = seeds(1);
        assert_eq!(a.len(), 3, "{a:?}");
        assert_ne!(a, seeds(2));
        assert_eq!(a, seeds(1));
        let mut unique = a.clone();
        unique.dedup();
        assert_eq!(unique.len(), 3, "each storm its own stream: {a:?}");
    }

    #[test]
    fn the_ideal_is_one_refresh_per_window() {
        let t = Timing::for_run(30.0);
        assert_eq!((t.ttl_s, t.window_s), (6, 3.0));
        assert_eq!(t.expiry_windows(), 10);
        let t = Timing::for_run(10.0);
        assert_eq!((t.ttl_s, t.window_s), (4, 2.0));
        assert_eq!(t.expiry_windows(), 5);
    }
}
