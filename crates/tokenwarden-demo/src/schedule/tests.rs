//! The schedule's guarantees, checked for every run length.

use super::timing::{MIN_STORM_S, SLACK_S, STORM_RATE};
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
