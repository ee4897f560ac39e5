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

mod fault;
mod phase;
#[cfg(test)]
mod tests;
mod timing;

pub use fault::{Fault, waits_for_refresh};
pub use phase::{Phase, phase_at};
pub use timing::{
    BREAKER_COOLDOWN, LEAD_S, MIN_SECONDS, OUTAGE_OUTLASTS_TOKEN_SECONDS, RETRY_MAX_DELAY, Timing,
};
use timing::{MIN_STORM_S, RETRY_AFTER_S, SLACK_S, STORM_RATE};

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
