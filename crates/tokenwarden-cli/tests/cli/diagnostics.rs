//! `doctor`, `events`, `stats`, `--trace-http` and `-vv` with the real binary against mockauth:
//! exit codes and output contracts (human and `--json`), the fault that `doctor` names, the
//! event log after retried 503s, the 5xx warning of `status`, redacted traces of OAuth and
//! resource exchanges, and correlation ids on log lines and errors.

use crate::login_util::{Mock, home_with, login_browser, stored, svc_profile, web_profile};
use crate::util::{Env, Run};
use mockauth::{Endpoint, FaultPlan, FaultSpec};

const P: &str = "d";

/// Fast retries and a breaker that stays closed, so faults end quickly and deterministically.
pub const QUICK_RETRIES: &str = "retry_base_delay = \"5ms\"\nretry_max_delay = \"20ms\"\n\
     max_retry_after = \"1s\"\nbreaker_threshold = 1000\n";

/// A home with the web profile [`P`] (plus `extra` keys), logged in.
fn logged_in(mock: &Mock, extra: &str) -> Env {
    let env = home_with(&[format!("{}{extra}", web_profile(P, &mock.issuer()))]);
    login_browser(&env, mock, P).code(0);
    env
}

fn run(env: &Env, args: &[&str]) -> Run {
    let mut full = vec!["--profile", P];
    full.extend_from_slice(args);
    env.run(&full)
}

#[test]
fn doctor_passes_on_a_healthy_profile_and_names_clock_skew() {
    let mock = Mock::auto();
    let env = logged_in(&mock, "");
    let before = stored(&env, P).expect("tokens").access_token;

    let r = run(&env, &["doctor", "--json"]);
    r.code(0);
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}");
    let checks = v["profiles"][0]["checks"].as_array().expect("checks");
    for c in checks {
        assert!(c["name"].is_string() && c["detail"].is_string(), "{c}");
        assert!(
            ["ok", "warn"].contains(&c["status"].as_str().unwrap_or("")),
            "{c}"
        );
    }
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for want in [
        "config",
        "dns",
        "tcp",
        "discovery",
        "token_endpoint",
        "clock",
        "store",
        "token",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    // Nothing was rotated.
    assert_eq!(stored(&env, P).expect("tokens").access_token, before);

    mock.server
        .set_faults(FaultPlan::default().with_clock_skew(120))
        .expect("fault");
    let r = run(&env, &["doctor"]);
    r.code(1);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("FAIL") && l.contains("clock"))
        .unwrap_or_else(|| panic!("no failing clock line:\n{}", r.stdout));
    assert!(line.contains("behind"), "{line}");
    assert!(
        r.stdout.contains("fix: synchronise the local clock"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains('\x1b'),
        "colour on a pipe:\n{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("doctor found 1 failing check"),
        "{}",
        r.stderr
    );
}

#[test]
fn doctor_all_and_curl() {
    let mock = Mock::auto();
    // The built-in confidential client's secret.
    let secret = "svc-secret";
    let env = home_with(&[
        web_profile(P, &mock.issuer()),
        svc_profile("svc", &mock.issuer()),
    ]);
    let vars = [("SVC_SECRET", secret)];
    let r = env.run_env(&["doctor", "--all", "--json"], &vars);
    r.code(0);
    let profiles = r.json()["profiles"].as_array().expect("profiles").clone();
    assert_eq!(profiles.len(), 2, "{}", r.stdout);

    let r = run(&env, &["doctor", "--curl"]);
    r.code(0);
    assert!(
        r.stdout
            .contains("--data-urlencode \"refresh_token=$REFRESH_TOKEN\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("--data-urlencode \"code=$CODE\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&mock.server.url("/token")),
        "{}",
        r.stdout
    );

    let r = env.run_env(&["--profile", "svc", "doctor", "--curl"], &vars);
    r.code(0);
    assert!(
        r.stdout.contains("Authorization: Basic $BASIC"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("$CLIENT_SECRET") && !r.stdout.contains(secret),
        "{}",
        r.stdout
    );

    // The command works as printed once the variables are filled in.
    let script = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let has = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has("curl") && has("jq") && has("base64") {
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("CLIENT_SECRET", secret)
            .output()
            .expect("sh runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("200") && text.contains("access_token"),
            "{text}"
        );
    }
}

#[test]
fn events_and_stats_show_retried_5xx_and_status_warns() {
    let mock = Mock::auto();
    let env = logged_in(&mock, QUICK_RETRIES);
    // Two 503s, then the refresh succeeds; then a refresh that gives up.
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503).count(2)))
        .expect("fault");
    crate::login_util::reject_stored(&env, P);
    run(&env, &["token"]).code(0);
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503)))
        .expect("fault");
    // Nothing usable is left (the token was refused), so the failure is the answer.
    crate::login_util::reject_stored(&env, P);
    run(&env, &["token"]).code(4);
    mock.server.clear_faults();

    let r = run(&env, &["events", "--json"]);
    r.code(0);
    let events = r.json();
    let list = events.as_array().expect("array");
    let of = |op: &str, outcome: &str| {
        list.iter()
            .filter(|e| e["operation"] == op && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(of("code_exchange", "ok"), 1, "{events:#}");
    assert_eq!(of("login", "ok"), 1, "{events:#}");
    assert_eq!(of("refresh", "ok"), 1, "{events:#}");
    assert_eq!(of("refresh", "provider_unavailable"), 1, "{events:#}");
    assert!(of("refresh", "retried") >= 4, "{events:#}");
    let failed = list
        .iter()
        .find(|e| e["outcome"] == "provider_unavailable")
        .expect("the failed refresh");
    assert_eq!(failed["status"], 503);
    assert_eq!(failed["oauth_error"], "temporarily_unavailable");
    assert!(
        failed["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("mock-"))
    );
    let corr = failed["correlation_id"].as_str().expect("correlation id");
    assert!(
        list.iter()
            .any(|e| e["outcome"] == "retried" && e["correlation_id"] == corr),
        "{events:#}"
    );

    let r = run(&env, &["stats", "--json"]);
    r.code(0);
    let s = r.json();
    assert!(s["server_errors"].as_u64().unwrap_or(0) >= 5, "{s:#}");
    assert!(
        s["server_error_rate"].as_f64().unwrap_or(0.0) > 0.5,
        "{s:#}"
    );
    assert_eq!(s["refresh_latency"]["samples"], 2, "{s:#}");
    assert_eq!(s["failure_rate_15m"]["exceeded"], true, "{s:#}");
    assert_eq!(s["forced_logins"], 0, "{s:#}");

    let r = run(&env, &["status"]);
    r.code(0);
    assert!(
        r.stderr.contains("answered 5xx") && r.stderr.contains("5% threshold"),
        "{}",
        r.stderr
    );
    let r = run(&env, &["doctor", "--json"]);
    let doc = r.json();
    let rate = doc["profiles"][0]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "failure_rate").cloned())
        .expect("failure_rate check");
    assert_eq!(rate["status"], "warn", "{rate}");

    // A refused refresh token is a forced login.
    mock.server.revoke_sessions();
    crate::login_util::reject_stored(&env, P);
    run(&env, &["token"]).code(3);
    let s = run(&env, &["stats", "--json"]).json();
    assert_eq!(s["forced_logins"], 1, "{s:#}");
    let r = run(&env, &["stats"]);
    assert!(r.stdout.contains("Forced logins: 1"), "{}", r.stdout);
}

#[test]
fn trace_http_shows_every_exchange_redacted() {
    let mock = Mock::auto();
    let resource = mock.server.url("/v1/messages");
    let env = logged_in(&mock, &format!("resource = \"{resource}\"\n"));
    crate::login_util::reject_stored(&env, P);
    let r = run(&env, &["--trace-http", "token"]);
    r.code(0);
    let access = r.stdout.trim().to_string();
    let tokens = stored(&env, P).expect("tokens");
    let refresh = tokens.refresh_token.expect("refresh token");
    assert!(
        r.stderr.contains("> ") && r.stderr.contains("POST ") && r.stderr.contains("/token"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("grant_type=refresh_token"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("< ") && r.stderr.contains(" 200 ("),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("x-request-id: mock-"), "{}", r.stderr);
    // Secrets are fingerprints, which can be compared.
    let fp = tokenwarden::secret::fingerprint(&access);
    assert!(
        r.stderr.contains(&fp),
        "no fingerprint of the access token:\n{}",
        r.stderr
    );
    for secret in [access.as_str(), refresh.expose()] {
        assert!(
            !r.stderr.contains(secret),
            "a token in the trace:\n{}",
            r.stderr
        );
    }

    // The resource call is traced too, its bearer token as the same fingerprint.
    let r = env.run_env(
        &["--profile", P, "request"],
        &[("TOKENWARDEN_TRACE_HTTP", "1")],
    );
    r.code(0);
    assert!(
        r.stderr.contains(&format!("GET {resource}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("authorization: Bearer [redacted {fp}]")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&access), "{}", r.stderr);
}

#[test]
fn log_lines_and_errors_carry_the_correlation_id() {
    let mock = Mock::auto();
    let env = logged_in(&mock, QUICK_RETRIES);
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(500)))
        .expect("fault");
    // Nothing usable is left (the token was refused), so the failure is the answer.
    crate::login_util::reject_stored(&env, P);
    let r = env.run_env(
        &["--profile", P, "-vv", "--json", "token"],
        &[("NO_COLOR", "1")],
    );
    r.code(4);
    let err_line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("{\"error\""))
        .unwrap_or_else(|| panic!("no JSON error:\n{}", r.stderr));
    let err: serde_json::Value = serde_json::from_str(err_line).expect("JSON error");
    let corr = err["error"]["correlation_id"]
        .as_str()
        .expect("correlation id");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("POST") || l.contains("answered") || l.contains("retrying"))
        .collect();
    assert!(lines.len() >= 3, "{}", r.stderr);
    for l in lines {
        assert!(
            l.contains(corr),
            "a line of the operation without its correlation id: {l}"
        );
    }
}

#[test]
fn doctor_live_calls_the_resource_without_rotating() {
    let mock = Mock::auto();
    let resource = mock.server.url("/v1/messages");
    let env = logged_in(&mock, &format!("resource = \"{resource}\"\n"));
    let before = stored(&env, P).expect("tokens");
    let r = run(&env, &["doctor", "--live"]);
    r.code(0);
    assert!(
        r.stdout.contains("live_resource") && r.stdout.contains("answered 200"),
        "{}",
        r.stdout
    );
    let after = stored(&env, P).expect("tokens");
    assert_eq!(
        before.refresh_token, after.refresh_token,
        "doctor --live rotated a fresh token"
    );

    // An API that rejects every token: named, and not retried in a loop.
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)))
        .expect("fault");
    mock.server.reset_stats();
    let r = run(&env, &["doctor", "--live"]);
    r.code(1);
    assert!(r.stdout.contains("rejected by the server"), "{}", r.stdout);
    let stats = mock.server.stats();
    assert_eq!(stats.token_requests.refresh_token, 1, "{stats:?}");
}
