//! `tokenwarden demo`: short runs (a few seconds, 2–3 worker processes, mockauth in-process on
//! 127.0.0.1) showing that tokenwarden keeps every worker logged in through the fault schedule
//! while the naive client, on the same schedule, loses its sessions; the `--json` shape; the
//! HTML report; and that the demo leaves no temporary home behind.

use crate::util::Env;
use std::path::Path;

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

/// Runs the demo with TMPDIR in the test's directory, so that leftovers can be seen.
fn demo(env: &Env, args: &[&str]) -> crate::util::Run {
    let tmp = env.home().with_file_name("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let tmp_s = tmp.to_string_lossy().into_owned();
    let run = env.run_env(args, &[("TMPDIR", &tmp_s)]);
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
fn tokenwarden_keeps_every_worker_logged_in() {
    let env = Env::new();
    let run = demo(
        &env,
        &["demo", "--workers", "3", "--seconds", "8", "--json"],
    );
    run.code(0);
    let v = run.json();
    assert_shape(&v);
    assert_eq!(v["strategy"], "tokenwarden", "{v}");
    assert_eq!(u(&v, "workers"), 3);
    assert_eq!(u(&v, "forced_relogins"), 0, "{v}");
    assert_eq!(u(&v, "resource_calls_failed_outside_outage"), 0, "{v}");
    assert_eq!(u(&v, "invalid_grant"), 0, "{v}");
    assert_eq!(u(&v, "reuse_detected"), 0, "{v}");
    assert!(u(&v, "resource_calls_ok") > 0, "{v}");
    assert!(u(&v, "refreshes") > 0, "{v}");
    // Single flight: never more refreshes than expiry windows plus the early revocation.
    assert!(u(&v, "refreshes") <= u(&v, "expiry_windows") + 1, "{v}");
    let faults: Vec<&str> = v["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["fault"].as_str())
        .collect();
    assert!(faults.contains(&"storm500"), "{faults:?}");
    // Not a terminal: plain lines, one per phase.
    assert!(run.stderr.contains("500 storm"), "{}", run.stderr);
    assert!(!run.stderr.contains("\x1b["), "{}", run.stderr);
}

#[test]
fn the_naive_client_loses_its_sessions_on_the_same_schedule() {
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
            "8",
            "--naive",
            "--json",
            "--report",
            &report_s,
        ],
    );
    run.code(0);
    let v = run.json();
    assert_shape(&v);
    assert_eq!(v["strategy"], "naive", "{v}");
    assert!(
        u(&v, "forced_relogins") + u(&v, "invalid_grant") > 0,
        "the naive run shows no failures: {v}"
    );
    let page = std::fs::read_to_string(&report).expect("the report is written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("<svg"), "no timeline");
    assert!(page.contains("worker 3"), "one lane per worker");
    assert!(page.contains("forced re-logins"), "no summary table");
    for external in ["src=\"http", "href=\"http", "<script", "<link", "url("] {
        assert!(
            !page.contains(external),
            "the page loads something: {external}"
        );
    }
}

#[test]
fn compare_prints_both_runs() {
    let env = Env::new();
    let run = demo(
        &env,
        &[
            "demo",
            "--workers",
            "2",
            "--seconds",
            "3",
            "--compare",
            "--json",
        ],
    );
    run.code(0);
    let v = run.json();
    let runs = v.as_array().expect("an array of two runs");
    assert_eq!(runs.len(), 2, "{v}");
    assert_eq!(runs[0]["strategy"], "tokenwarden");
    assert_eq!(runs[1]["strategy"], "naive");
    for r in runs {
        assert_shape(r);
    }
    let help = env.run(&["--help"]);
    help.code(0);
    assert!(help.stdout.contains("demo"), "{}", help.stdout);
    assert!(!help.stdout.contains("demo-worker"), "the worker is hidden");
}

#[test]
fn bad_arguments_fail_before_running() {
    let env = Env::new();
    env.run(&["demo", "--workers", "0"]).code(2);
    env.run(&["demo", "--naive", "--compare"]).code(2);
    let run = env.run(&["demo", "--report", "/nonexistent-dir/r.html"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("cannot write the report"),
        "{}",
        run.stderr
    );
}
