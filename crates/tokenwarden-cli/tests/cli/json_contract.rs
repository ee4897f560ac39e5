//! The `--json` output contract, decoded from real output: each command's document is decoded
//! into a mirror of its type that refuses unknown keys and missing keys (a `null` must be
//! written, not left out), so a renamed, added or dropped key fails here. A failed command's
//! document on stderr is decoded with the library's own type, `ErrorDocument`.

// The mirrors exist to be decoded: a key must be there even when no test reads it.
#![allow(dead_code)]

use crate::login_util::{Mock, Running, home_with, svc_profile, web_profile};
use crate::util::{Env, Run};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tokenwarden::ErrorKind;
use tokenwarden::exit::{ErrorDocument, ExitCode};

const SECRET: (&str, &str) = ("SVC_SECRET", "svc-secret");

/// An `Option` whose key must be present (as a value or as `null`).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Stdout as one document of type `T`, and nothing else.
pub fn decode<T: DeserializeOwned>(run: &Run) -> T {
    let text = run.stdout.trim_end();
    assert!(!text.contains('\n'), "one line:\n{}", run.stdout);
    serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "stdout does not match the contract ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

/// Stderr as the error document.
fn error_document(run: &Run) -> ErrorDocument {
    serde_json::from_str(run.stderr.trim_end())
        .unwrap_or_else(|e| panic!("stderr is not the error document ({e}):\n{}", run.stderr))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    profile: String,
    grant: String,
    #[serde(deserialize_with = "nullable")]
    expires_at: Option<String>,
    scope: String,
    refresh_token: bool,
    #[serde(deserialize_with = "nullable")]
    subject: Option<String>,
    #[serde(deserialize_with = "nullable")]
    issuer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    access_token: String,
    token_type: String,
    #[serde(deserialize_with = "nullable")]
    expires_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    expires_on: Option<u64>,
    scope: String,
    degraded: bool,
    #[serde(deserialize_with = "nullable")]
    warning: Option<String>,
    #[serde(deserialize_with = "nullable")]
    refresh_token_expires_at: Option<String>,
    refresh_token_expires_soon: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StatusRow {
    LoggedIn(Box<StatusLoggedIn>),
    LoggedOut(StatusLoggedOut),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusLoggedOut {
    profile: String,
    configured: bool,
    logged_in: bool,
    state: String,
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusLoggedIn {
    profile: String,
    configured: bool,
    logged_in: bool,
    state: String,
    #[serde(deserialize_with = "nullable")]
    expires_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    expires_in_s: Option<i64>,
    scope: String,
    refresh_token: bool,
    #[serde(deserialize_with = "nullable")]
    refresh_token_obtained_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    refresh_token_expires_at: Option<String>,
    obtained_at: String,
    #[serde(deserialize_with = "nullable")]
    last_refresh_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_error: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_error_cause: Option<String>,
    provider_failing: bool,
    #[serde(deserialize_with = "nullable")]
    login_required_reason: Option<String>,
    #[serde(deserialize_with = "nullable")]
    login_required_cause: Option<String>,
    #[serde(deserialize_with = "nullable")]
    subject: Option<String>,
    version: i64,
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    at: String,
    profile: String,
    operation: String,
    outcome: String,
    #[serde(deserialize_with = "nullable")]
    status: Option<u16>,
    #[serde(deserialize_with = "nullable")]
    oauth_error: Option<String>,
    #[serde(deserialize_with = "nullable")]
    request_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    correlation_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    duration_ms: Option<u64>,
    attempt: u32,
    #[serde(deserialize_with = "nullable")]
    host: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stats {
    #[serde(deserialize_with = "nullable")]
    profile: Option<String>,
    since: String,
    events: usize,
    by_operation: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>,
    by_outcome: std::collections::BTreeMap<String, usize>,
    #[serde(deserialize_with = "nullable")]
    refresh_latency: Option<Latency>,
    token_requests: usize,
    server_errors: usize,
    #[serde(deserialize_with = "nullable")]
    server_error_rate: Option<f64>,
    forced_logins: usize,
    resource_rejections: usize,
    lock_waits: usize,
    by_host: std::collections::BTreeMap<String, HostCounts>,
    #[serde(deserialize_with = "nullable")]
    failure_rate_15m: Option<FailureRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostCounts {
    events: usize,
    refreshes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureRate {
    window_s: u64,
    requests: usize,
    server_errors: usize,
    rate: f64,
    threshold: f64,
    exceeded: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Logout {
    profile: String,
    revoked: Vec<String>,
    pending: Vec<String>,
    warnings: Vec<String>,
    deleted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doctor {
    ok: bool,
    profiles: Vec<DoctorProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoctorProfile {
    profile: String,
    status: String,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    name: String,
    status: String,
    detail: String,
    #[serde(deserialize_with = "nullable")]
    fix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoctorCurl {
    profile: String,
    commands: Vec<CurlCommand>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CurlCommand {
    title: String,
    variables: Vec<(String, String)>,
    command: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileAdded {
    profile: String,
    action: String,
    path: String,
    created_file: bool,
    warnings: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileRemoved {
    profile: String,
    action: String,
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileListRow {
    name: String,
    provider: String,
    #[serde(deserialize_with = "nullable")]
    issuer: Option<String>,
    #[serde(deserialize_with = "nullable")]
    client_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    token_endpoint: Option<String>,
    selected: bool,
    valid: bool,
    problems: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShownHeader {
    name: String,
    value: String,
    secret: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileShow {
    name: String,
    path: String,
    provider: String,
    #[serde(deserialize_with = "nullable")]
    issuer: Option<String>,
    client_id: String,
    client_secret: SecretStatus,
    client_auth: String,
    grant: String,
    scopes: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    redirect_uri: Option<String>,
    registered_redirect_uris: Vec<String>,
    endpoints: Endpoints,
    token_request_format: String,
    #[serde(deserialize_with = "nullable")]
    resource: Option<String>,
    resource_indicators: Vec<String>,
    refresh_revokes_previous_access_token: bool,
    token_request_headers: Vec<ShownHeader>,
    resource_headers: Vec<ShownHeader>,
    user_agent: String,
    #[serde(deserialize_with = "nullable")]
    audience: Option<String>,
    refresh_skew_s: f64,
    timeout_s: f64,
    connect_timeout_s: f64,
    retry: Retry,
    quirks: serde_json::Map<String, serde_json::Value>,
    preset_sources: Vec<String>,
    allow_insecure_http: bool,
    #[serde(deserialize_with = "nullable")]
    export_env: Option<String>,
    #[serde(deserialize_with = "nullable")]
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretStatus {
    source: String,
    #[serde(deserialize_with = "nullable")]
    env_var: Option<String>,
    available: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoints {
    #[serde(deserialize_with = "nullable")]
    authorization: Option<String>,
    #[serde(deserialize_with = "nullable")]
    token: Option<String>,
    #[serde(deserialize_with = "nullable")]
    device_authorization: Option<String>,
    #[serde(deserialize_with = "nullable")]
    revocation: Option<String>,
    discovered: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retry {
    max_attempts: u32,
    base_delay_ms: u64,
    max_delay_ms: u64,
    breaker_threshold: u32,
    breaker_cooldown_s: f64,
}

fn json_run(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    env.run_env(&all, &[SECRET])
}

#[test]
fn the_token_commands_print_their_documents() {
    let mock = Mock::auto();
    let env = home_with(&[
        svc_profile("svc", &mock.issuer()),
        web_profile("web", &mock.issuer()),
    ]);

    let run = json_run(&env, &["--profile", "svc", "login"]);
    run.code(0);
    let login: Login = decode(&run);
    assert_eq!(
        (login.profile.as_str(), login.grant.as_str()),
        ("svc", "client_credentials")
    );
    assert!(
        login.expires_at.is_some() && !login.refresh_token,
        "{login:?}"
    );

    let run = json_run(&env, &["--profile", "svc", "token"]);
    run.code(0);
    let token: Token = decode(&run);
    assert!(
        !token.access_token.is_empty() && !token.degraded,
        "{token:?}"
    );
    assert_eq!(token.token_type, "Bearer");
    assert!(
        token.expires_at.is_some() && token.warning.is_none(),
        "{token:?}"
    );
    assert_eq!(token.scope, login.scope);

    let run = json_run(&env, &["status", "--all"]);
    run.code(0);
    let rows: Vec<StatusRow> = decode(&run);
    let [StatusRow::LoggedIn(svc), StatusRow::LoggedOut(web)] = rows.as_slice() else {
        panic!("svc logged in, web logged out: {rows:?}");
    };
    assert_eq!((svc.profile.as_str(), svc.state.as_str()), ("svc", "valid"));
    assert!(
        svc.configured && svc.logged_in && !svc.provider_failing,
        "{svc:?}"
    );
    assert!(
        svc.expires_in_s.is_some_and(|s| s > 0) && svc.version > 0,
        "{svc:?}"
    );
    assert!(
        svc.warnings.is_empty() && svc.last_error.is_none(),
        "{svc:?}"
    );
    assert_eq!(
        (web.profile.as_str(), web.state.as_str()),
        ("web", "logged_out")
    );
    assert!(
        web.configured && !web.logged_in && web.warnings.is_empty(),
        "{web:?}"
    );

    let run = json_run(&env, &["--profile", "svc", "events"]);
    run.code(0);
    let events: Vec<Event> = decode(&run);
    let login_event = events
        .iter()
        .find(|e| e.operation == "login")
        .unwrap_or_else(|| panic!("a login event: {events:?}"));
    assert_eq!(
        (login_event.profile.as_str(), login_event.outcome.as_str()),
        ("svc", "ok")
    );
    assert!(
        login_event
            .correlation_id
            .as_deref()
            .is_some_and(|c| c.starts_with("tw-"))
    );
    assert!(login_event.duration_ms.is_some() && login_event.attempt == 1);
    assert!(events.iter().any(|e| e.status == Some(200)), "{events:?}");

    let run = json_run(&env, &["--profile", "svc", "stats"]);
    run.code(0);
    let stats: Stats = decode(&run);
    assert_eq!(stats.profile.as_deref(), Some("svc"));
    assert_eq!(stats.events, events.len());
    assert!(
        stats.token_requests >= 1 && stats.server_errors == 0,
        "{stats:?}"
    );
    let recent = stats
        .failure_rate_15m
        .expect("the 15-minute rate of a profile");
    assert!(!recent.exceeded && recent.window_s == 900, "{recent:?}");
    let run = json_run(&env, &["stats", "--all"]);
    run.code(0);
    let all: Stats = decode(&run);
    assert!(
        all.profile.is_none() && all.failure_rate_15m.is_none(),
        "{all:?}"
    );

    let run = json_run(&env, &["--profile", "svc", "logout", "--local-only"]);
    run.code(0);
    let logout: Logout = decode(&run);
    assert_eq!(logout.profile, "svc");
    assert!(logout.revoked.is_empty() && logout.warnings.is_empty() && logout.deleted);
    assert!(logout.pending.is_empty());

    // Logged out now: the error document, with the exit code it names.
    let run = json_run(&env, &["--profile", "svc", "token"]);
    run.code(3);
    assert_eq!(run.stdout, "");
    let doc = error_document(&run);
    assert_eq!(doc.error.kind, ErrorKind::LoginRequired);
    assert_eq!(doc.error.exit_code, ExitCode::LoginRequired);
    assert!(doc.error.hint.is_some(), "{doc:?}");
    assert!(
        doc.error
            .correlation_id
            .as_deref()
            .is_some_and(|c| c.starts_with("tw-")),
        "{doc:?}"
    );
}

#[test]
fn logout_names_what_the_provider_revoked() {
    let mock = Mock::auto();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    json_run(&env, &["--profile", "svc", "login"]).code(0);
    let run = json_run(&env, &["--profile", "svc", "logout"]);
    run.code(0);
    let logout: Logout = decode(&run);
    assert_eq!(logout.revoked, ["access token"], "{logout:?}");
    assert!(logout.warnings.is_empty() && logout.deleted, "{logout:?}");
}

#[test]
fn doctor_prints_its_report_and_its_curl_commands() {
    let mock = Mock::auto();
    let env = home_with(&[svc_profile("svc", &mock.issuer())]);
    let run = json_run(&env, &["--profile", "svc", "doctor", "--offline"]);
    let doctor: Doctor = decode(&run);
    let [profile] = doctor.profiles.as_slice() else {
        panic!("one profile: {doctor:?}");
    };
    assert_eq!(profile.profile, "svc");
    assert_eq!(run.code == 0, doctor.ok, "{}", run.stderr);
    assert!(!profile.checks.is_empty(), "{doctor:?}");
    assert!(
        profile
            .checks
            .iter()
            .all(|c| ["ok", "warn", "fail"].contains(&c.status.as_str()) && !c.name.is_empty()),
        "{doctor:?}"
    );

    let run = json_run(&env, &["--profile", "svc", "doctor", "--curl"]);
    run.code(0);
    let curl: DoctorCurl = decode(&run);
    assert_eq!(curl.profile, "svc");
    assert!(!curl.commands.is_empty(), "{curl:?}");
    assert!(
        curl.commands
            .iter()
            .all(|c| c.command.contains("curl ") && !c.title.is_empty()),
        "{curl:?}"
    );
    assert!(
        curl.commands.iter().any(|c| !c.variables.is_empty()),
        "{curl:?}"
    );
}

#[test]
fn doctor_with_no_profile_prints_an_empty_report_and_the_error() {
    let env = Env::new();
    let run = env.run(&["--json", "doctor", "--all"]);
    run.code(1);
    let doctor: Doctor = decode(&run);
    assert!(!doctor.ok && doctor.profiles.is_empty(), "{doctor:?}");
    let doc = error_document(&run);
    assert_eq!(doc.error.kind, ErrorKind::Other);
    assert_eq!(doc.error.exit_code, ExitCode::Failure);
}

#[test]
fn profile_commands_print_their_documents() {
    let env = Env::new();
    let run = env.run(&[
        "--json",
        "profile",
        "add",
        "work",
        "--issuer",
        "https://login.example.com",
        "--client-id",
        "my-cli",
        "--scope",
        "openid",
        // Tests talk only to 127.0.0.1: no discovery check of this issuer.
        "--offline",
    ]);
    run.code(0);
    let added: ProfileAdded = decode(&run);
    assert_eq!(
        (added.profile.as_str(), added.action.as_str()),
        ("work", "added")
    );
    assert!(
        added.created_file && added.path.ends_with("config.toml"),
        "{added:?}"
    );
    assert!(
        added.warnings.iter().all(serde_json::Value::is_object),
        "{added:?}"
    );

    let run = env.run(&["--json", "--profile", "work", "profile", "list"]);
    run.code(0);
    let rows: Vec<ProfileListRow> = decode(&run);
    let [row] = rows.as_slice() else {
        panic!("one profile: {rows:?}");
    };
    assert_eq!(
        (row.name.as_str(), row.provider.as_str()),
        ("work", "generic")
    );
    assert_eq!(row.issuer.as_deref(), Some("https://login.example.com"));
    assert_eq!(row.client_id.as_deref(), Some("my-cli"));
    assert!(row.selected && row.valid && row.problems.is_empty() && row.token_endpoint.is_none());

    let run = env.run(&["--json", "profile", "show", "work"]);
    run.code(0);
    let show: ProfileShow = decode(&run);
    assert_eq!(
        (show.name.as_str(), show.client_id.as_str()),
        ("work", "my-cli")
    );
    assert_eq!(show.provider, "generic");
    assert_eq!(show.scopes, ["openid"]);
    assert_eq!(show.client_secret.source, "none");
    assert!(!show.client_secret.available && show.client_secret.env_var.is_none());
    assert!(
        show.endpoints.discovered && show.endpoints.token.is_none(),
        "{show:?}"
    );
    assert!(
        show.retry.max_attempts >= 1 && show.timeout_s > 0.0,
        "{show:?}"
    );
    assert!(!show.quirks.is_empty(), "{show:?}");
    assert!(show.path.ends_with("config.toml"), "{show:?}");

    let run = env.run(&["--json", "profile", "remove", "work"]);
    run.code(0);
    let removed: ProfileRemoved = decode(&run);
    assert_eq!(
        (removed.profile.as_str(), removed.action.as_str()),
        ("work", "removed")
    );
    assert!(removed.path.ends_with("config.toml"));
}

#[test]
fn a_cancelled_login_prints_the_error_document_with_exit_code_130() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(
        &env,
        &["--json", "--profile", "web", "login", "--no-browser"],
        &[],
    );
    login.url();
    login.interrupt();
    let run = login.finish();
    run.code(130);
    assert_eq!(run.stdout, "");
    let last = run.stderr.lines().last().unwrap_or_default();
    let doc: ErrorDocument = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("the error document ({e}):\n{}", run.stderr));
    assert_eq!(doc.error.exit_code, ExitCode::Cancelled);
    assert_eq!(doc.error.kind, ErrorKind::Other);
    assert!(doc.error.message.contains("nothing was stored"), "{doc:?}");
}
