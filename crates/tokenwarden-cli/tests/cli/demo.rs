//! `tokenwarden demo`: one short run of each strategy on the same schedule (20 s, the shortest
//! run in which every storm and the slow answers wait for a refresh and meet it; 3 worker
//! processes; mockauth in-process on 127.0.0.1), showing that tokenwarden keeps every worker
//! logged in through every phase while the naive client loses its sessions; the `--json`
//! shape; the HTML report; and that the demo leaves no temporary home behind.

use crate::util::Env;
use std::path::Path;
use std::time::Duration;

/// The keys the issue promises in `--json`.
const KEYS: &[&str] = &[
    "strategy",
    "workers",
    "seconds",
    "resource_calls_ok",
    "resource_calls_failed",
    "refreshes",
    "expiry_windows",
    "invalid_grant",
    "reuse_detected",
    "forced_relogins",
    "degraded_seconds",
    "token_latency_ms",
];

/// Every phase of the schedule, as `phases[].fault` names it.
const FAULTS: &[&str] = &[
    "storm500",
    "revoke_all",
    "rate_limit429",
    "proxy_html502",
    "latency",
    "hard_outage",
    "recovery",
];

/// The phases that wait for a refresh and meet it (the hard outage meets one by its length).
const MEET_A_REFRESH: &[&str] = &[
    "storm500",
    "rate_limit429",
    "latency",
    "proxy_html502",
    "hard_outage",
];

/// Two runs of 20 s plus start-up and shut-down take about 50 s; a hung demo is killed.
const DEMO_TIMEOUT: Duration = Duration::from_secs(180);

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not a count in {v}"))
}

fn assert_shape(v: &serde_json::Value) {
    for k in KEYS {
        assert!(v.get(k).is_some(), "`{k}` missing from {v}");
    }
    for p in ["p50", "p99"] {
        assert!(
            v["token_latency_ms"][p].is_number(),
            "token_latency_ms.{p} in {v}"
        );
    }
    assert!(v["degraded_seconds"].is_number(), "{v}");
}

/// The phase named `fault`.
fn phase<'a>(v: &'a serde_json::Value, fault: &str) -> &'a serde_json::Value {
    v["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .find(|p| p["fault"] == *fault)
        .unwrap_or_else(|| panic!("no {fault} phase in {}", v["phases"]))
}

/// Every fault phase is in the schedule and was put in force during the run.
fn assert_every_phase_played(v: &serde_json::Value) {
    for fault in FAULTS {
        let p = phase(v, fault);
        let (start, end) = (p["start"].as_f64(), p["end"].as_f64());
        assert!(start < end, "{p}");
        let played = p["played_at"]
            .as_f64()
            .unwrap_or_else(|| panic!("{fault} was not played: {p}"));
        assert!(played >= start.unwrap_or(0.0) - 0.01, "{p}");
    }
}

/// Runs the demo with TMPDIR in the test's directory, so that leftovers can be seen.
fn demo(env: &Env, args: &[&str]) -> crate::util::Run {
    let tmp = env.home().with_file_name("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let tmp_s = tmp.to_string_lossy().into_owned();
    let run = env.run_env_timeout(args, &[("TMPDIR", &tmp_s)], DEMO_TIMEOUT);
    assert_no_leftovers(&tmp);
    run
}

fn assert_no_leftovers(tmp: &Path) {
    let left: Vec<String> = std::fs::read_dir(tmp)
        .expect("read tmp")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tokenwarden-demo-"))
        .collect();
    assert!(left.is_empty(), "temporary homes left behind: {left:?}");
}

#[test]
fn tokenwarden_keeps_every_worker_logged_in_where_the_naive_client_does_not() {
    let env = Env::new();
    let report = env.home().with_file_name("report.html");
    let report_s = report.to_string_lossy().into_owned();
    let run = demo(
        &env,
        &[
            "demo",
            "--workers",
            "3",
            "--seconds",
            "20",
            "--compare",
            "--json",
            "--report",
            &report_s,
        ],
    );
    run.code(0);
    let v = run.json();
    let runs = v.as_array().expect("an array of two runs");
    assert_eq!(runs.len(), 2, "{v}");
    let (tw, naive) = (&runs[0], &runs[1]);
    assert_eq!(tw["strategy"], "tokenwarden", "{v}");
    assert_eq!(naive["strategy"], "naive", "{v}");
    for r in runs {
        assert_shape(r);
        assert_eq!(u(r, "workers"), 3);
        assert_eq!(u(r, "seconds"), 20);
        assert_every_phase_played(r);
    }
    // The same schedule and the same draws for both (the phases that wait for a refresh
    // start when each fleet's next one is due).
    assert_eq!(tw["seed"], naive["seed"], "{v}");
    let shape = |r: &serde_json::Value| -> Vec<(String, String)> {
        r["phases"]
            .as_array()
            .expect("phases")
            .iter()
            .filter(|p| p["fault"] != "calm")
            .map(|p| {
                let length = p["end"].as_f64().unwrap_or(0.0) - p["start"].as_f64().unwrap_or(0.0);
                (p["fault"].to_string(), format!("{length:.2}"))
            })
            .collect()
    };
    assert_eq!(shape(tw), shape(naive));
    // Each storm, the slow answers and the outage met a refresh of tokenwarden's workers.
    for fault in MEET_A_REFRESH {
        let p = phase(tw, fault);
        assert!(u(p, "refresh_requests") >= 1, "{fault} met no refresh: {p}");
    }
    assert!(u(phase(tw, "hard_outage"), "faults_injected") >= 1, "{tw}");

    // tokenwarden: nobody is sent back to log in, and every call outside the hard outage
    // (and its recovery) succeeds, through storms, revocation and latency.
    assert_eq!(u(tw, "forced_relogins"), 0, "{tw}");
    assert_eq!(u(tw, "resource_calls_failed_outside_outage"), 0, "{tw}");
    assert_eq!(u(tw, "invalid_grant"), 0, "{tw}");
    assert_eq!(u(tw, "reuse_detected"), 0, "{tw}");
    assert!(u(tw, "resource_calls_ok") > 0, "{tw}");
    assert!(u(tw, "refreshes") > 0, "{tw}");
    // Single flight: never more refreshes than expiry windows plus the early revocation.
    assert!(u(tw, "refreshes") <= u(tw, "expiry_windows") + 1, "{tw}");
    // The hard outage outlasts the proactive window: a still-valid token was served while
    // the provider failed.
    assert!(tw["degraded_seconds"].as_f64() > Some(0.0), "{tw}");

    // The naive client, on the same schedule: its copies race into invalid_grant.
    assert!(
        u(naive, "forced_relogins") + u(naive, "invalid_grant") > 0,
        "the naive run shows no failures: {naive}"
    );

    // Not a terminal: plain lines, one per phase.
    for name in [
        "500 storm",
        "429 + Retry-After",
        "502 proxy pages",
        "hard outage",
    ] {
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("\x1b["), "{}", run.stderr);

    let page = std::fs::read_to_string(&report).expect("the report is written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("<svg"), "no timeline");
    assert!(page.contains("worker 3"), "one lane per worker");
    assert!(page.contains("forced re-logins"), "no summary table");
    for external in [
        "src=", "href=", "<script", "<link", "url(", "@import", "http://", "https://",
    ] {
        assert!(
            !page.contains(external),
            "the page loads something: {external}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(report.parent().expect("dir"))
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary report files left: {left:?}");
}

#[test]
fn bad_arguments_fail_before_running() {
    let env = Env::new();
    env.run(&["demo", "--workers", "0"]).code(2);
    env.run(&["demo", "--naive", "--compare"]).code(2);
    let short = env.run(&["demo", "--seconds", "11"]);
    short.code(2);
    assert!(short.stderr.contains("12"), "{}", short.stderr);
    let run = env.run(&["demo", "--report", "/nonexistent-dir/r.html"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("cannot write the report"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("logging in"),
        "the run started: {}",
        run.stderr
    );
    let help = env.run(&["--help"]);
    help.code(0);
    assert!(help.stdout.contains("demo"), "{}", help.stdout);
    assert!(!help.stdout.contains("demo-worker"), "the worker is hidden");
}
