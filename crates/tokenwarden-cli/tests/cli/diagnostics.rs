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
        r.stderr.contains("answered 5xx")
            && r.stderr.contains("5% threshold")
            && r.stderr.contains("in the last 15 min were answered"),
        "{}",
        r.stderr
    );
    // The same warning under `stats`, whose heading names its own window in words.
    let r = run(&env, &["stats"]);
    r.code(0);
    assert!(
        r.stdout.contains(&format!(
            "Token operations of profile `{P}` in the last 1 day: "
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("in the last 15 min were answered"),
        "{}",
        r.stderr
    );
    // With --json the warning is in the profile's object, not a stderr line.
    let r = run(&env, &["status", "--json"]);
    r.code(0);
    let rows = r.json();
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|p| p["profile"] == P))
        .unwrap_or_else(|| panic!("no row for {P}: {rows:#}"));
    let warnings = row["warnings"].as_array().expect("a warnings array");
    assert_eq!(warnings.len(), 1, "{row:#}");
    let w = warnings[0].as_str().unwrap_or_default();
    assert!(
        w.contains("answered 5xx") && w.contains("5% threshold"),
        "{w}"
    );
    assert!(!r.stderr.contains("answered 5xx"), "{}", r.stderr);
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

/// Every correlation id (`tw-` and 16 hex digits) in `text`.
fn correlation_ids(text: &str) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("tw-") {
        let cand: String = rest[i + 3..].chars().take(16).collect();
        if cand.len() == 16 && cand.chars().all(|c| c.is_ascii_hexdigit()) {
            ids.insert(format!("tw-{cand}"));
        }
        rest = &rest[i + 3..];
    }
    ids
}

/// The one JSON error on stderr, and every log line (the tracing output), which must all name
/// the error's correlation id, the only one in the output.
fn one_correlation_id(r: &Run) -> (String, usize) {
    let err_line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("{\"error\""))
        .unwrap_or_else(|| panic!("no JSON error:\n{}", r.stderr));
    let err: serde_json::Value = serde_json::from_str(err_line).expect("JSON error");
    let corr = err["error"]["correlation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no correlation id in {err}"))
        .to_string();
    let log_lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("{\"error\"") && !l.trim().is_empty())
        .collect();
    for l in &log_lines {
        assert!(
            l.contains(&corr),
            "a log line without the operation's correlation id {corr}: {l}\n{}",
            r.stderr
        );
    }
    let ids = correlation_ids(&r.stderr);
    assert_eq!(
        ids.len(),
        1,
        "one operation, several correlation ids: {ids:?}\n{}",
        r.stderr
    );
    (corr, log_lines.len())
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
    let (corr, lines) = one_correlation_id(&r);
    assert!(lines >= 3, "{}", r.stderr);
    let retried = r.stderr.lines().filter(|l| l.contains("retrying")).count();
    assert!(retried >= 1, "{}", r.stderr);

    // The event records of the operation carry the same id.
    let events = run(&env, &["events", "--json"]).json();
    let of_op: Vec<&serde_json::Value> = events
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["correlation_id"] == corr.as_str())
        .collect();
    assert!(
        of_op.iter().any(|e| e["outcome"] == "provider_unavailable")
            && of_op.iter().any(|e| e["outcome"] == "retried"),
        "{events:#}"
    );
}

#[test]
fn one_request_with_a_401_and_a_refresh_has_one_correlation_id() {
    let mock = Mock::auto();
    let resource = mock.server.url("/v1/messages");
    let env = logged_in(
        &mock,
        &format!("resource = \"{resource}\"\n{QUICK_RETRIES}"),
    );
    let vars = [("NO_COLOR", "1")];
    let args = ["--profile", P, "-vv", "--json", "request"];

    // GET, 401, invalidate, refresh, GET, 401 again: SessionRejected.
    mock.server
        .set_faults(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)))
        .expect("fault");
    let r = env.run_env(&args, &vars);
    r.code(5);
    let (corr, lines) = one_correlation_id(&r);
    for step in ["sending", "answered", "tokens received"] {
        assert!(
            r.stderr.lines().any(|l| l.contains(step)),
            "no `{step}` line:\n{}",
            r.stderr
        );
    }
    assert!(lines >= 5, "{}", r.stderr);
    let events = run(&env, &["events", "--json"]).json();
    let of_op: Vec<&serde_json::Value> = events
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["correlation_id"] == corr.as_str())
        .collect();
    let ops: Vec<&str> = of_op
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(
        ops,
        ["resource", "invalidate", "refresh", "resource"],
        "{events:#}"
    );
    let unauthorized: Vec<u64> = of_op
        .iter()
        .filter(|e| e["operation"] == "resource")
        .map(|e| e["attempt"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(unauthorized, [1, 2], "{events:#}");
    mock.server.clear_faults();

    // Early revocation: GET 401, refresh, GET 200; every log line names one id.
    mock.server.revoke_all();
    let r = env.run_env(&args, &vars);
    r.code(0);
    let ids = correlation_ids(&r.stderr);
    assert_eq!(ids.len(), 1, "{ids:?}\n{}", r.stderr);
    let corr = ids.into_iter().next().unwrap_or_default();
    let mut n = 0;
    for l in r.stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(l.contains(&corr), "without {corr}: {l}");
        n += 1;
    }
    assert!(n >= 5, "{}", r.stderr);
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
    // One refresh after the 401 (the probe's made-up refresh token aside): no loop.
    let stats = mock.server.stats();
    assert_eq!(stats.token_requests.refresh_token, 2, "{stats:?}");
    assert_eq!(stats.tokens_issued.access, 1, "{stats:?}");
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// The check `name` of the first profile of a `doctor --json` report.
fn doctor_check(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["profiles"][0]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no {name} check: {report:#}"))
}

#[test]
fn doctor_names_the_proxy_and_its_hop() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile(P, &mock.issuer())]);
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let vars = [
        ("HTTPS_PROXY", proxy.as_str()),
        ("HTTP_PROXY", proxy.as_str()),
    ];

    // The proxy applies to the provider, and nothing listens there.
    let r = env.run_env(&["--profile", P, "doctor", "--json"], &vars);
    r.code(1);
    let v = r.json();
    let check = doctor_check(&v, "proxy");
    let detail = check["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("go through the proxy {proxy}/"))
            && detail.contains("HTTPS_PROXY")
            && detail.contains("HTTP_PROXY"),
        "{check}"
    );
    let tcp = doctor_check(&v, "tcp");
    assert_eq!(tcp["status"], "fail", "{tcp}");
    let detail = tcp["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "{} (the proxy)",
            proxy.trim_start_matches("http://")
        )) && detail.contains("refused"),
        "{tcp}"
    );
    assert!(
        doctor_check(&v, "dns")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("(the proxy)")),
        "{v:#}"
    );

    // NO_PROXY covers the provider: the variables are named, requests go direct and work.
    let mut with_no_proxy = vars.to_vec();
    with_no_proxy.push(("NO_PROXY", "localhost,127.0.0.1"));
    let r = env.run_env(&["--profile", P, "doctor", "--json"], &with_no_proxy);
    r.code(0);
    let v = r.json();
    let check = doctor_check(&v, "proxy");
    let detail = check["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("NO_PROXY")
            && detail.contains("none applies to 127.0.0.1")
            && detail.contains("requests go direct"),
        "{check}"
    );
    let tcp = doctor_check(&v, "tcp");
    assert_eq!(tcp["status"], "ok", "{tcp}");
    assert!(
        !tcp["detail"].as_str().unwrap_or_default().contains("proxy"),
        "{tcp}"
    );
    assert_eq!(doctor_check(&v, "token_endpoint")["status"], "ok", "{v:#}");
}

#[test]
fn doctor_curl_creates_nothing_on_a_fresh_home() {
    let mock = Mock::auto();
    let env = home_with(&[
        web_profile(P, &mock.issuer()),
        svc_profile("svc", &mock.issuer()),
    ]);
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(env.home())
            .expect("home")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(), ["config.toml"]);
    // Discovery runs (the issuer gives the token endpoint); then a confidential client.
    let r = env.run_env(&["--profile", P, "doctor", "--curl"], &[]);
    r.code(0);
    assert!(
        r.stdout.contains(&mock.server.url("/token")),
        "{}",
        r.stdout
    );
    let r = env.run_env(
        &["--profile", "svc", "doctor", "--curl", "--json"],
        &[("SVC_SECRET", "svc-secret")],
    );
    r.code(0);
    assert_eq!(files(), ["config.toml"], "doctor --curl created files");
}

/// The files in `env`'s home (none when it does not exist).
fn home_files(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.home())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The line of check `name` in doctor's text output and the line under it (its fix, if any).
fn doctor_lines<'a>(out: &'a str, name: &str) -> (&'a str, &'a str) {
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no `{name}` line:\n{out}"));
    (lines[i], lines.get(i + 1).copied().unwrap_or_default())
}

#[test]
fn doctor_on_a_fresh_home_says_how_to_start_and_creates_nothing() {
    let env = crate::util::Env::new();
    let r = env.run(&["doctor"]);
    r.code(1);
    let (line, fix) = doctor_lines(&r.stdout, "config");
    assert!(
        line.contains("FAIL")
            && line.contains("no profile `default`")
            && line.contains("does not exist yet"),
        "{}",
        r.stdout
    );
    assert!(
        fix.contains("fix: add the profile with `tokenwarden profile add default --issuer URL --client-id ID`"),
        "{}",
        r.stdout
    );
    let (line, _) = doctor_lines(&r.stdout, "store");
    assert!(
        line.contains("no token store yet") && line.contains("the first login creates"),
        "{}",
        r.stdout
    );
    // No provider to ask: no clock line blaming "connectivity problems above".
    assert!(!r.stdout.contains("clock"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 check passed, 0 warnings, 1 failure"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("doctor found 1 failing check for profile `default`"),
        "{}",
        r.stderr
    );
    // Nothing created: a key file made now would refuse a TOKENWARDEN_KEY set later.
    assert_eq!(home_files(&env), Vec::<String>::new());

    // --all with nothing to check says so, and how to add a profile.
    let r = env.run(&["doctor", "--all"]);
    r.code(1);
    assert_eq!(r.stdout, "", "{}", r.stdout);
    assert!(
        r.stderr.contains("doctor has no profile to check")
            && r.stderr.contains("config.toml does not exist yet")
            && r.stderr.contains("tokenwarden profile add NAME"),
        "{}",
        r.stderr
    );
    let r = env.run(&["doctor", "--all", "--json"]);
    r.code(1);
    assert_eq!(r.json(), serde_json::json!({"ok": false, "profiles": []}));
    assert_eq!(home_files(&env), Vec::<String>::new());

    // Another profile exists: doctor points at it.
    env.write_config(&web_profile("work", "http://127.0.0.1:1"));
    let r = env.run(&["doctor"]);
    r.code(1);
    let (line, fix) = doctor_lines(&r.stdout, "config");
    assert!(line.contains("(it has: work)"), "{}", r.stdout);
    assert!(
        fix.contains("`tokenwarden --profile work doctor`")
            && fix.contains("`tokenwarden doctor --all`")
            && fix.contains("tokenwarden profile add default"),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_names_a_closed_port_and_what_to_do() {
    let (a, b) = (closed_port(), closed_port());
    let env = home_with(&[
        web_profile(P, &format!("http://127.0.0.1:{a}")),
        web_profile("other", &format!("http://127.0.0.1:{b}")),
    ]);
    let r = run(&env, &["doctor"]);
    r.code(1);
    let (line, fix) = doctor_lines(&r.stdout, "tcp");
    assert!(
        line.contains("FAIL")
            && line.contains(&format!("127.0.0.1:{a} refused the connection"))
            && line.contains(&format!("nothing listens on port {a}")),
        "{}",
        r.stdout
    );
    assert!(
        fix.contains(&format!(
            "check the port in issuer = \"http://127.0.0.1:{a}\" of profile `{P}`"
        )) && fix.contains("the server is running there")
            && fix.contains("checked once the connection works"),
        "{}",
        r.stdout
    );
    // What needs the connection is not shown as if it had been checked.
    for skipped in ["tls", "discovery", "token_endpoint"] {
        assert!(
            !r.stdout
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(skipped)),
            "{skipped}:\n{}",
            r.stdout
        );
    }
    let (line, fix) = doctor_lines(&r.stdout, "token");
    assert!(line.contains("not logged in"), "{}", r.stdout);
    assert!(
        fix.contains(&format!("tokenwarden --profile {P} login")),
        "{}",
        r.stdout
    );
    let (line, fix) = doctor_lines(&r.stdout, "clock");
    assert!(line.contains("not measured"), "{}", r.stdout);
    assert!(fix.contains("connectivity problems above"), "{}", r.stdout);

    // Both profiles: one report each, and the summary names both.
    let r = env.run(&["doctor", "--all"]);
    r.code(1);
    assert!(
        r.stdout.contains(&format!("doctor: profile `{P}`\n"))
            && r.stdout.contains("\n\ndoctor: profile `other`\n")
            && r.stdout.contains(&format!(
                "issuer = \"http://127.0.0.1:{b}\" of profile `other`"
            )),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "doctor found 2 failing checks for profiles `{P}` and `other`"
        )),
        "{}",
        r.stderr
    );
}
