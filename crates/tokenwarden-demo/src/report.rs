//! `--report FILE.html`: one self-contained page (inline CSS and SVG, nothing loaded from
//! elsewhere) with, for each run, a timeline — fault phases as bands, one lane per worker, its
//! calls as a coloured strip, refreshes, `invalid_grant` and forced re-logins as marks — and
//! the summary table.

use crate::protocol::Kind;
use crate::schedule::Fault;
use crate::summary::{Run, Summary};
use crate::table;
use std::fmt::Write as _;

const WIDTH: f64 = 1160.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const LANE: f64 = 20.0;

/// The page for `runs` (with their summaries, in the same order).
pub fn html(runs: &[Run], summaries: &[Summary]) -> String {
    let mut h = String::new();
    let title = match summaries {
        [one] => format!("tokenwarden demo: {}", one.strategy),
        _ => "tokenwarden demo: tokenwarden vs naive".to_string(),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    if let Some(first) = summaries.first() {
        let _ = writeln!(
            h,
            "<p class=\"lead\">{} worker processes called a protected API for {} s, each getting its access token first, while the authorization server played the fault schedule below (storms drawn with seed {}). Access tokens lived {} s; a token is refreshed in its last {} s (the proactive window), so one well-behaved client alone needs <b>{}</b> refreshes over the run.</p>",
            first.workers,
            first.seconds,
            first.seed,
            first.access_ttl_s,
            first.proactive_window_s,
            first.expiry_windows
        );
    }
    h.push_str("<h2>Summary</h2>\n");
    summary_table(&mut h, summaries);
    for s in summaries {
        let _ = writeln!(h, "<p class=\"verdict\">{}</p>", esc(&table::verdict(s)));
    }
    for (run, s) in runs.iter().zip(summaries) {
        let heading = match s.strategy {
            "tokenwarden" => "tokenwarden: one shared session, single-flight refresh",
            _ => "naive: each process keeps its own copy, no lock, no re-read",
        };
        let _ = writeln!(h, "<h2>{}</h2>", esc(heading));
        timeline(&mut h, run);
    }
    legend(&mut h);
    phase_table(&mut h, runs);
    h.push_str("</body></html>\n");
    h
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#1d1d1f;padding:0 12px}\
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:26px 0 8px}\
.lead{color:#444;max-width:900px}.verdict{margin:4px 0;color:#333}\
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 12px;border-bottom:1px solid #e4e4e7;text-align:right}\
td:first-child,th:first-child{text-align:left}th{background:#f4f4f5}\
.bad{color:#c0262d;font-weight:600}.good{color:#1a7f37;font-weight:600}\
svg{display:block;max-width:100%;height:auto;background:#fff;border:1px solid #e4e4e7;border-radius:6px}.t{white-space:nowrap}\
.phases td,.phases th{text-align:left}.phases td.n,.phases th.n{text-align:right}.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px;border-radius:2px;box-shadow:inset 0 0 0 1px rgba(0,0,0,.2)}";

fn summary_table(h: &mut String, summaries: &[Summary]) {
    h.push_str("<table><tr><th></th>");
    for s in summaries {
        let _ = write!(h, "<th>{}</th>", esc(s.strategy));
    }
    h.push_str("</tr>\n");
    type Cell = fn(&Summary) -> (String, bool);
    let rows: &[(&str, Cell)] = &[
        ("API calls ok", |s| (s.resource_calls_ok.to_string(), false)),
        ("API calls failed", |s| {
            (
                s.resource_calls_failed.to_string(),
                s.resource_calls_failed > 0,
            )
        }),
        ("&nbsp;&nbsp;outside the hard outage", |s| {
            (
                s.resource_calls_failed_outside_outage.to_string(),
                s.resource_calls_failed_outside_outage > 0,
            )
        }),
        ("&nbsp;&nbsp;succeeded after a 401 + refresh", |s| {
            (s.resource_calls_retried.to_string(), false)
        }),
        ("refreshes performed", |s| (s.refreshes.to_string(), false)),
        ("&nbsp;&nbsp;expiry windows (the ideal)", |s| {
            (s.expiry_windows.to_string(), false)
        }),
        ("refresh requests reaching /token", |s| {
            (s.refresh_requests.to_string(), false)
        }),
        ("invalid_grant seen", |s| {
            (s.invalid_grant.to_string(), s.invalid_grant > 0)
        }),
        ("refresh-token reuse detected", |s| {
            (s.reuse_detected.to_string(), s.reuse_detected > 0)
        }),
        ("forced re-logins", |s| {
            (s.forced_relogins.to_string(), s.forced_relogins > 0)
        }),
        (
            "seconds degraded (valid token served during failures)",
            |s| (format!("{:.1}", s.degraded_seconds), false),
        ),
        ("token latency p50 / p99 (ms)", |s| {
            (
                format!(
                    "{:.1} / {:.1}",
                    s.token_latency_ms.p50, s.token_latency_ms.p99
                ),
                false,
            )
        }),
    ];
    for (label, cell) in rows {
        let _ = write!(h, "<tr><td>{label}</td>");
        for s in summaries {
            let (v, bad) = cell(s);
            let class = if bad { " class=\"bad\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(&v));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn fault_fill(f: Fault) -> (&'static str, &'static str) {
    match f {
        Fault::Calm => ("#ffffff", "#555"),
        Fault::Storm500 => ("#f59f00", "#9c5d00"),
        Fault::RevokeAll => ("#7950f2", "#5233b0"),
        Fault::RateLimit429 => ("#fab005", "#8a6100"),
        Fault::ProxyHtml502 => ("#e8590c", "#a33d06"),
        Fault::Latency => ("#15aabf", "#0b7285"),
        Fault::HardOutage => ("#e03131", "#a51d1d"),
        Fault::Recovery => ("#69db7c", "#2b8a3e"),
    }
}

/// The timeline of one run.
fn timeline(h: &mut String, run: &Run) {
    let s = run.timing.seconds.max(1.0);
    let lanes = run.workers as f64;
    let bottom = TOP + lanes * LANE;
    let height = bottom + 28.0;
    let plot = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + t.clamp(0.0, s) / s * plot;
    let _ = writeln!(
        h,
        "<svg width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"system-ui,sans-serif\" font-size=\"11\">"
    );
    // Lanes.
    for w in 0..run.workers {
        let y = TOP + f64::from(w) * LANE;
        if w % 2 == 1 {
            let _ = writeln!(
                h,
                "<rect x=\"{LEFT}\" y=\"{y}\" width=\"{plot}\" height=\"{LANE}\" fill=\"#f7f7f8\"/>"
            );
        }
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#444\">worker {}</text>",
            LEFT - 8.0,
            y + LANE / 2.0 + 4.0,
            w + 1
        );
    }
    // Phases.
    let mut row = 0;
    for p in run.phases.iter().filter(|p| p.fault != Fault::Calm) {
        let (fill, ink) = fault_fill(p.fault);
        let (x0, x1) = (x(p.start), x(p.end));
        let _ = writeln!(
            h,
            "<rect x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" fill-opacity=\"0.2\"><title>{}</title></rect>",
            TOP - 10.0,
            (x1 - x0).max(2.0),
            bottom - TOP + 10.0,
            esc(&format!(
                "{:.1}–{:.1} s  {}: {}",
                p.start,
                p.end,
                p.fault.name(),
                p.detail
            ))
        );
        // A label that would run past the right edge ends at the band's end instead.
        let name = p.fault.name();
        let (lx, anchor) = if x0 + 2.0 + label_width(name) > WIDTH - 2.0 {
            (x1.min(WIDTH - 2.0), "end")
        } else {
            (x0 + 2.0, "start")
        };
        let _ = writeln!(
            h,
            "<text x=\"{lx:.1}\" y=\"{}\" fill=\"{ink}\" font-weight=\"600\" text-anchor=\"{anchor}\">{}</text>",
            12.0 + f64::from(row) * 13.0,
            esc(name)
        );
        row = 1 - row;
    }
    strips(h, run, &x);
    marks(h, run, &x);
    // Axis.
    let step = nice_step(s);
    let mut t = 0.0;
    while t <= s + 1e-9 {
        let xt = x(t);
        let _ = writeln!(
            h,
            "<line x1=\"{xt:.1}\" y1=\"{bottom}\" x2=\"{xt:.1}\" y2=\"{}\" stroke=\"#999\"/><text x=\"{xt:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">{t} s</text>",
            bottom + 4.0,
            bottom + 17.0
        );
        t += step;
    }
    let _ = writeln!(
        h,
        "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#999\"/>",
        LEFT + plot
    );
    h.push_str("</svg>\n");
}

/// Each worker's calls as a strip: green ok, yellow ok on a degraded token, red failed.
fn strips(h: &mut String, run: &Run, x: &dyn Fn(f64) -> f64) {
    let s = run.timing.seconds.max(1.0);
    let bucket = (s / 400.0).max(0.3);
    let n = (s / bucket).ceil() as usize + 1;
    for w in 0..run.workers {
        // 0 nothing, 1 ok, 2 degraded, 3 failed: the worst wins.
        let mut state = vec![0u8; n];
        let mut degraded_next = false;
        for e in run.events.iter().filter(|e| e.worker == w) {
            let t = run.rel(e.at_ms);
            if !(0.0..=s).contains(&t) {
                continue;
            }
            let i = ((t / bucket) as usize).min(n - 1);
            let v = match e.kind {
                Kind::TokenOk { degraded } => {
                    degraded_next = degraded;
                    continue;
                }
                Kind::ResourceOk { .. } if degraded_next => 2,
                Kind::ResourceOk { .. } => 1,
                Kind::ResourceFail { .. } => 3,
                _ => continue,
            };
            state[i] = state[i].max(v);
        }
        let y = TOP + f64::from(w) * LANE + LANE / 2.0 - 3.0;
        let mut i = 0;
        while i < n {
            let v = state[i];
            let mut j = i + 1;
            while j < n && state[j] == v {
                j += 1;
            }
            if v > 0 {
                let color = match v {
                    1 => "#8ce99a",
                    2 => "#ffd43b",
                    _ => "#e03131",
                };
                let (x0, x1) = (x(i as f64 * bucket), x(j as f64 * bucket));
                let _ = writeln!(
                    h,
                    "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"6\" fill=\"{color}\"/>",
                    (x1 - x0).max(1.0)
                );
            }
            i = j;
        }
    }
}

/// Refreshes, `invalid_grant` and forced re-logins as marks on the lanes.
fn marks(h: &mut String, run: &Run, x: &dyn Fn(f64) -> f64) {
    for e in &run.events {
        let t = run.rel(e.at_ms);
        if !(0.0..=run.timing.seconds).contains(&t) {
            continue;
        }
        let xt = x(t);
        let top = TOP + f64::from(e.worker) * LANE + 2.0;
        let mid = top + LANE / 2.0 - 2.0;
        let what = match &e.kind {
            Kind::Refresh { ok: true, .. } => format!(
                "<line x1=\"{xt:.1}\" y1=\"{top:.1}\" x2=\"{xt:.1}\" y2=\"{:.1}\" stroke=\"#1c7ed6\" stroke-width=\"2\">",
                top + LANE - 4.0
            ),
            Kind::Refresh { ok: false, .. } => format!(
                "<line x1=\"{xt:.1}\" y1=\"{top:.1}\" x2=\"{xt:.1}\" y2=\"{:.1}\" stroke=\"#f08c00\" stroke-width=\"1.5\" stroke-dasharray=\"2 1\">",
                top + LANE - 4.0
            ),
            Kind::InvalidGrant => format!(
                "<circle cx=\"{xt:.1}\" cy=\"{mid:.1}\" r=\"4\" fill=\"#c92a2a\" stroke=\"#fff\">"
            ),
            Kind::LoginRequired => format!(
                "<path d=\"M{xt:.1} {:.1} l5 6 l-5 6 l-5 -6 z\" fill=\"#862e9c\" stroke=\"#fff\">",
                mid - 6.0
            ),
            _ => continue,
        };
        let close = match &e.kind {
            Kind::Refresh { .. } => "</line>",
            Kind::InvalidGrant => "</circle>",
            _ => "</path>",
        };
        let tip = match &e.kind {
            Kind::Refresh { ok: true, .. } => format!("refresh ok ({:.0} ms)", e.ms),
            Kind::Refresh {
                ok: false, error, ..
            } => format!(
                "refresh failed: {} ({:.0} ms)",
                error.as_deref().unwrap_or("?"),
                e.ms
            ),
            Kind::InvalidGrant => "invalid_grant".into(),
            _ => "session lost: forced re-login".into(),
        };
        let _ = writeln!(
            h,
            "{what}<title>worker {} at {t:.2} s: {}</title>{close}",
            e.worker + 1,
            esc(&tip)
        );
    }
}

fn legend(h: &mut String) {
    h.push_str("<p class=\"legend\">");
    for (color, text) in [
        ("#8ce99a", "API call ok"),
        (
            "#ffd43b",
            "ok on a still-valid token while the provider failed (degraded)",
        ),
        ("#e03131", "API call failed"),
        ("#1c7ed6", "refresh"),
        ("#f08c00", "refresh attempt failed"),
        ("#c92a2a", "invalid_grant"),
        ("#862e9c", "forced re-login"),
        (
            "#ffffff",
            "gap: a call waiting (for a refresh, a Retry-After)",
        ),
    ] {
        let _ = write!(
            h,
            "<span><i class=\"sw\" style=\"background:{color}\"></i>{}</span>",
            esc(text)
        );
    }
    h.push_str("</p>\n");
}

/// The schedule, with when each phase ran and what mockauth did in it, for each run (the
/// phases that wait for a refresh start when each run's next one is due).
fn phase_table(h: &mut String, runs: &[Run]) {
    let Some(first) = runs.first() else {
        return;
    };
    h.push_str("<h2>Fault schedule</h2>\n<table class=\"phases\"><tr><th>phase</th><th>what mockauth did</th>");
    for run in runs {
        let _ = write!(
            h,
            "<th class=\"t\">{0}: when</th><th class=\"n\">faulted<br>answers</th><th class=\"n\">refresh<br>requests</th>",
            esc(run.strategy.as_str())
        );
    }
    h.push_str("</tr>\n");
    for (i, p) in first.phases.iter().enumerate() {
        // Calm slivers left by rounding say nothing.
        if p.fault == Fault::Calm && p.end - p.start < 0.1 {
            continue;
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td>",
            esc(p.fault.name()),
            esc(&p.detail)
        );
        for run in runs {
            match run.phases.get(i) {
                Some(q) if q.played_at.is_some() => {
                    let _ = write!(
                        h,
                        "<td class=\"t\">{:.1}–{:.1} s</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                        q.start, q.end, q.faults_injected, q.refresh_requests
                    );
                }
                _ => h.push_str("<td class=\"t\">not played</td><td></td><td></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// A generous estimate of the width of a bold 11 px label, in pixels.
fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * 7.0
}

/// A tick step giving about ten ticks.
fn nice_step(seconds: f64) -> f64 {
    let raw = seconds / 10.0;
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| *s >= raw)
        .unwrap_or(600.0)
}

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_ticks() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(nice_step(30.0), 5.0);
        assert_eq!(nice_step(8.0), 1.0);
        assert_eq!(nice_step(15.0), 2.0);
    }
}
