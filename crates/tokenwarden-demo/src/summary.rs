//! The numbers a run ends with, computed from the workers' events and mockauth's counters:
//! the [`Summary`] that the table, `--json` and the report show.

use crate::protocol::{Event, Kind, Strategy};
use crate::schedule::{Phase, Timing, phase_at};
use serde::Serialize;

/// Everything a run is judged by. The JSON keys are a contract (see the issue and README).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `tokenwarden` or `naive`.
    pub strategy: &'static str,
    /// Worker processes.
    pub workers: u32,
    /// Length of the run, seconds.
    pub seconds: u64,
    /// API calls (get a token, call the API) that succeeded.
    pub resource_calls_ok: u64,
    /// API calls that failed, wherever they fell.
    pub resource_calls_failed: u64,
    /// API calls that failed outside the hard outage (and its recovery).
    pub resource_calls_failed_outside_outage: u64,
    /// API calls that met a 401 and succeeded after a refresh.
    pub resource_calls_retried: u64,
    /// Refreshes that produced a new token.
    pub refreshes: u64,
    /// Refresh attempts (with their retries) that produced none.
    pub refresh_failures: u64,
    /// The refreshes one well-behaved client alone would need: the ideal.
    pub expiry_windows: u64,
    /// Refresh requests that reached `/token` (retries and faulted ones included).
    pub refresh_requests: u64,
    /// All requests to `/token` (logins included).
    pub token_requests: u64,
    /// `invalid_grant` answers the workers saw.
    pub invalid_grant: u64,
    /// Refresh tokens presented after rotation (mockauth revoked the family each time).
    pub reuse_detected: u64,
    /// Times a worker lost its session and had to log in again.
    pub forced_relogins: u64,
    /// Seconds during which some worker was served a still-valid token while the provider
    /// failed.
    pub degraded_seconds: f64,
    /// How long getting a token took.
    pub token_latency_ms: Latency,
    /// Access-token lifetime, seconds.
    pub access_ttl_s: u64,
    /// The proactive refresh window, seconds.
    pub proactive_window_s: f64,
    /// Responses mockauth replaced or delayed.
    pub faults_injected: u64,
    /// The seed of the storms' fault generators (`--seed` replays the same draws).
    pub seed: u64,
    /// The fault schedule, with what happened in each phase.
    pub phases: Vec<Phase>,
}

/// Percentiles of a latency, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// What a run produced, for the summary and the report.
#[derive(Debug, Clone)]
pub struct Run {
    /// The strategy.
    pub strategy: Strategy,
    /// Worker processes.
    pub workers: u32,
    /// The timing.
    pub timing: Timing,
    /// The seed of the storms' fault generators.
    pub seed: u64,
    /// The schedule played.
    pub phases: Vec<Phase>,
    /// Every event, in arrival order.
    pub events: Vec<Event>,
    /// When the workers were started, ms since the Unix epoch.
    pub t0_ms: u64,
    /// mockauth's counters at the end.
    pub stats: mockauth::Stats,
}

impl Run {
    /// Seconds from the start of the run to `at_ms`.
    pub fn rel(&self, at_ms: u64) -> f64 {
        (at_ms as f64 - self.t0_ms as f64) / 1000.0
    }

    /// Whether a failure at `at_ms` fell in a phase where failures are expected.
    pub fn excused(&self, at_ms: u64) -> bool {
        phase_at(&self.phases, self.rel(at_ms)).is_some_and(|p| p.fault.excuses_failures())
    }

    /// The summary.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            strategy: self.strategy.as_str(),
            workers: self.workers,
            seconds: self.timing.seconds.round() as u64,
            resource_calls_ok: 0,
            resource_calls_failed: 0,
            resource_calls_failed_outside_outage: 0,
            resource_calls_retried: 0,
            refreshes: 0,
            refresh_failures: 0,
            expiry_windows: self.timing.expiry_windows(),
            refresh_requests: self.stats.token_requests.refresh_token,
            token_requests: self.stats.token_requests.total(),
            invalid_grant: 0,
            reuse_detected: self.stats.refresh_reuse_detected,
            forced_relogins: 0,
            degraded_seconds: round1(self.degraded_seconds()),
            token_latency_ms: self.token_latency(),
            access_ttl_s: self.timing.ttl_s,
            proactive_window_s: self.timing.window_s,
            faults_injected: self.stats.faults_injected,
            seed: self.seed,
            phases: self.phases.clone(),
        };
        for e in &self.events {
            match &e.kind {
                Kind::ResourceOk { retried } => {
                    s.resource_calls_ok += 1;
                    s.resource_calls_retried += u64::from(*retried);
                }
                Kind::ResourceFail { .. } => {
                    s.resource_calls_failed += 1;
                    if !self.excused(e.at_ms) {
                        s.resource_calls_failed_outside_outage += 1;
                    }
                }
                Kind::Refresh { ok: true, .. } => s.refreshes += 1,
                Kind::Refresh { ok: false, .. } => s.refresh_failures += 1,
                Kind::InvalidGrant => s.invalid_grant += 1,
                Kind::LoginRequired => s.forced_relogins += 1,
                _ => {}
            }
        }
        s
    }

    fn token_latency(&self) -> Latency {
        let mut v: Vec<f64> = self
            .events
            .iter()
            .filter(|e| matches!(e.kind, Kind::TokenOk { .. } | Kind::TokenErr { .. }))
            .map(|e| e.ms)
            .collect();
        v.sort_by(f64::total_cmp);
        Latency {
            p50: round1(percentile(&v, 50.0)),
            p99: round1(percentile(&v, 99.0)),
            max: round1(v.last().copied().unwrap_or(0.0)),
        }
    }

    /// The degraded intervals, merged: each degraded token counts until that worker's next
    /// token.
    pub fn degraded_intervals(&self) -> Vec<(f64, f64)> {
        let pause = self.timing.interval_ms as f64 / 1000.0;
        let mut spans = Vec::new();
        for w in 0..self.workers {
            let tokens: Vec<&Event> = self
                .events
                .iter()
                .filter(|e| {
                    e.worker == w && matches!(e.kind, Kind::TokenOk { .. } | Kind::TokenErr { .. })
                })
                .collect();
            for (i, e) in tokens.iter().enumerate() {
                if e.kind != (Kind::TokenOk { degraded: true }) {
                    continue;
                }
                let from = self.rel(e.at_ms);
                let to = match tokens.get(i + 1) {
                    Some(next) => self.rel(next.at_ms),
                    None => from + e.ms / 1000.0 + pause,
                };
                spans.push((from.max(0.0), to.min(self.timing.seconds)));
            }
        }
        merge(spans)
    }

    fn degraded_seconds(&self) -> f64 {
        self.degraded_intervals().iter().map(|(a, b)| b - a).sum()
    }
}

/// Merges overlapping intervals.
fn merge(mut spans: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    spans.retain(|(a, b)| b > a);
    spans.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rounded to a tenth, and never `-0`.
fn round1(x: f64) -> f64 {
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 { 0.0 } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merging() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(
            merge(vec![(2.0, 3.0), (0.0, 1.0), (0.5, 1.5), (3.0, 3.0)]),
            vec![(0.0, 1.5), (2.0, 3.0)]
        );
    }

    #[test]
    fn failures_in_the_outage_are_excused_and_counted_apart() {
        let timing = Timing::for_run(30.0);
        let phases = crate::schedule::plan(&timing, 1);
        let outage = phases
            .iter()
            .find(|p| p.fault.excuses_failures())
            .expect("an outage in a 30 s run")
            .start;
        let t0_ms = 1_000_000;
        let at = |s: f64| t0_ms + (s * 1000.0) as u64;
        let fail = |w, s| Event {
            worker: w,
            at_ms: at(s),
            ms: 1.0,
            kind: Kind::ResourceFail {
                status: None,
                error: "x".into(),
            },
        };
        let token = |w, s, degraded| Event {
            worker: w,
            at_ms: at(s),
            ms: 2.0,
            kind: Kind::TokenOk { degraded },
        };
        let run = Run {
            strategy: Strategy::Tokenwarden,
            workers: 2,
            timing,
            seed: 1,
            phases,
            events: vec![
                token(0, 1.0, true),
                token(1, 1.5, true),
                token(0, 2.0, false),
                token(1, 2.5, false),
                fail(0, 0.5),
                fail(1, outage + 0.1),
            ],
            t0_ms,
            stats: mockauth::Stats::default(),
        };
        let s = run.summary();
        assert_eq!(s.resource_calls_failed, 2);
        assert_eq!(s.resource_calls_failed_outside_outage, 1);
        assert_eq!(s.degraded_seconds, 1.5);
        assert_eq!(s.token_latency_ms.p50, 2.0);
        assert_eq!(s.expiry_windows, 10);
    }
}
