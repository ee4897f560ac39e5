//! The table the demo ends with (one column per run), and a few lines saying what it means.

use crate::summary::Summary;
use std::fmt::Write as _;

/// One row: its label and how to show a summary's value.
type Row = (&'static str, fn(&Summary) -> String);

const ROWS: &[Row] = &[
    ("API calls ok", |s| s.resource_calls_ok.to_string()),
    ("API calls failed", |s| s.resource_calls_failed.to_string()),
    ("  outside the hard outage", |s| {
        s.resource_calls_failed_outside_outage.to_string()
    }),
    ("  succeeded after a 401 + refresh", |s| {
        s.resource_calls_retried.to_string()
    }),
    ("refreshes performed", |s| s.refreshes.to_string()),
    ("  expiry windows (the ideal)", |s| {
        s.expiry_windows.to_string()
    }),
    ("refresh requests reaching /token", |s| {
        s.refresh_requests.to_string()
    }),
    ("invalid_grant seen", |s| s.invalid_grant.to_string()),
    ("refresh-token reuse detected", |s| {
        s.reuse_detected.to_string()
    }),
    ("forced re-logins", |s| s.forced_relogins.to_string()),
    ("seconds degraded", |s| format!("{:.1}", s.degraded_seconds)),
    ("token latency p50 / p99 (ms)", |s| {
        format!(
            "{} / {}",
            short_ms(s.token_latency_ms.p50),
            short_ms(s.token_latency_ms.p99)
        )
    }),
];

fn short_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// The table, then what it means.
pub fn render(summaries: &[Summary]) -> String {
    let mut out = String::new();
    let label_w = ROWS.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
    let col_w = 14;
    let _ = write!(out, "{:label_w$}", "");
    for s in summaries {
        let _ = write!(out, "{:>col_w$}", s.strategy);
    }
    out.push('\n');
    for (label, value) in ROWS {
        let _ = write!(out, "{label:label_w$}");
        for s in summaries {
            let _ = write!(out, "{:>col_w$}", value(s));
        }
        out.push('\n');
    }
    if let Some(first) = summaries.first() {
        let _ = writeln!(
            out,
            "\n{} workers for {} s; access tokens live {} s and are refreshed {} s before they expire, so one client alone needs {} refreshes (the ideal). Fault storms drawn with seed {} (--seed {} draws them again).",
            first.workers,
            first.seconds,
            first.access_ttl_s,
            first.proactive_window_s,
            first.expiry_windows,
            first.seed,
            first.seed
        );
    }
    for s in summaries {
        let _ = writeln!(out, "{}", verdict(s));
    }
    out
}

/// One sentence on a run.
pub fn verdict(s: &Summary) -> String {
    match s.strategy {
        "tokenwarden" => format!(
            "tokenwarden: {} forced re-logins, {} failed calls outside the hard outage, {} refreshes for {} expiry windows; {:.1} s served a still-valid token while the provider failed.",
            s.forced_relogins,
            s.resource_calls_failed_outside_outage,
            s.refreshes,
            s.expiry_windows,
            s.degraded_seconds
        ),
        _ => format!(
            "naive: {} forced re-logins (each one a person at a browser), {} invalid_grant, refresh-token reuse detected {} time{}, {} failed calls.",
            s.forced_relogins,
            s.invalid_grant,
            s.reuse_detected,
            if s.reuse_detected == 1 { "" } else { "s" },
            s.resource_calls_failed
        ),
    }
}
