//! Sessions across real processes of the binary, against mockauth with refresh-token rotation
//! on and reuse grace 0: 8 processes looping `token` across expiry windows; `revoke-all` and
//! `revoke-sessions` mid-run; a storm of 500s; a resource that rejects every token; a process
//! killed while it holds the refresh lock; a logout waiting for a refresh in progress. Killing
//! processes mid-refresh is in `sessions_kill`; the helpers here serve both.

#![allow(dead_code)]

use crate::login::{Mock, Running, home_with, login_browser, svc_profile, web_profile};
use crate::util::{Env, Run};
use std::time::{Duration, Instant};
use tokenwarden::paths::Paths;
use tokenwarden::store::{KeySource, SqliteStore, Store as _, StoredTokens};

/// The profile every test here uses.
pub const P: &str = "s";

/// mockauth with rotation on, `reuse_grace`, access tokens living `access_ttl`.
pub fn mock(access_ttl: Duration, reuse_grace: Duration) -> Mock {
    Mock::start(mockauth::Config {
        auto_approve: true,
        access_ttl,
        rotate_refresh_tokens: true,
        reuse_grace,
        ..mockauth::Config::default()
    })
}

/// A home with profile [`P`] on `mock`, logged in through the browser flow.
pub fn logged_in(mock: &Mock) -> Env {
    let env = home_with(&[web_profile(P, &mock.issuer())]);
    login_browser(&env, mock, P).code(0);
    env
}

/// The store of `env`, opened as the binary opens it.
pub fn store(env: &Env) -> SqliteStore {
    SqliteStore::open(&Paths::in_dir(env.home()), KeySource::KeyFile).expect("the store opens")
}

/// What is stored for [`P`].
pub fn stored(env: &Env) -> StoredTokens {
    store(env)
        .read(P)
        .expect("the store reads")
        .expect("tokens are stored")
}

/// `workers` threads, each running the binary with `args` again and again until `run` has
/// passed; every run's result.
pub fn loop_workers(env: &Env, workers: usize, run: Duration, args: &[&str]) -> Vec<Run> {
    let start = Instant::now();
    loop_while(env, workers, args, || start.elapsed() < run)
}

/// `workers` threads, each running the binary with `args` again and again while `go()` says so;
/// every run's result.
pub fn loop_while(
    env: &Env,
    workers: usize,
    args: &[&str],
    go: impl Fn() -> bool + Sync,
) -> Vec<Run> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut runs = Vec::new();
                    while go() {
                        runs.push(env.run(args));
                    }
                    runs
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    })
}

/// Polls `cond` every 5 ms until it holds; fails after 60 s saying `what`.
pub fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts every run exited 0, showing the first failure.
pub fn all_ok(runs: &[Run]) {
    if let Some(bad) = runs.iter().find(|r| r.code != 0) {
        let failed = runs.iter().filter(|r| r.code != 0).count();
        panic!(
            "{failed} of {} runs failed; first: exit {}\n{}",
            runs.len(),
            bad.code,
            bad.stderr
        );
    }
}

pub fn invalid_grants(s: &mockauth::Stats) -> u64 {
    s.token_errors.get("invalid_grant").copied().unwrap_or(0)
}

/// The refreshes one well-behaved client needs over `elapsed` with tokens living `ttl`: one
/// per (TTL − window), the window being half of a short token's life, plus one.
pub fn one_client_needs(elapsed: Duration, ttl: Duration) -> u64 {
    let period = ttl - ttl / 2;
    (elapsed.as_secs_f64() / period.as_secs_f64()).floor() as u64 + 1
}

/// Sends SIGKILL to `pid`.
pub fn kill9(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -9 {pid} failed");
}

#[test]
fn eight_processes_refresh_once_per_window() {
    let ttl = Duration::from_secs(1);
    let mock = mock(ttl, Duration::ZERO);
    let env = logged_in(&mock);
    let before = mock.server.stats();
    let start = Instant::now();
    let runs = loop_workers(
        &env,
        8,
        Duration::from_secs(12),
        &["--profile", P, "token", "--min-ttl", "0s"],
    );
    let elapsed = start.elapsed();
    let after = mock.server.stats();
    all_ok(&runs);
    let refreshes = after.token_requests.refresh_token - before.token_requests.refresh_token;
    let most = one_client_needs(elapsed, ttl);
    eprintln!(
        "8 processes: {} runs, {refreshes} refreshes in {elapsed:?} (one client: at most {most})",
        runs.len()
    );
    assert!(
        refreshes <= most,
        "{refreshes} refreshes, one client needs {most}"
    );
    assert!(
        refreshes + 1 >= elapsed.as_secs(),
        "{refreshes} refreshes in {elapsed:?}: the run did not cross ten expiry windows"
    );
    assert_eq!(invalid_grants(&after), 0, "{:?}", after.token_errors);
    assert_eq!(after.refresh_reuse_detected, 0);
    let tokens: std::collections::HashSet<_> = runs.iter().map(|r| r.stdout.trim()).collect();
    assert!(
        tokens.len() as u64 >= refreshes,
        "each refresh handed out a new token"
    );
    assert!(
        tokens.iter().all(|t| t.starts_with("mat_")),
        "the token alone on stdout"
    );
}

#[test]
fn revoke_all_costs_one_refresh_and_revoke_sessions_is_exit_3() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let url = mock.server.url("/v1/messages");
    let request = ["--profile", P, "request", url.as_str()];
    env.run(&request).code(0);
    let before = mock.server.stats();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let runs = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            loop_while(&env, 8, &request, || {
                !stop.load(std::sync::atomic::Ordering::SeqCst)
            })
        });
        let ok = |n: u64| mock.server.stats().resource_requests.ok >= n;
        wait_for("requests before the revocation", || {
            ok(before.resource_requests.ok + 8)
        });
        // Mid-run: every access token dies early; refresh tokens still work.
        mock.server.revoke_all();
        let at_revoke = mock.server.stats().resource_requests.ok;
        wait_for("requests after the revocation", || ok(at_revoke + 16));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        workers.join().expect("workers")
    });
    all_ok(&runs);
    let after = mock.server.stats();
    assert!(
        after.resource_requests.unauthorized > 0,
        "the revocation hit running requests"
    );
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "every process recovered with the one refresh"
    );
    assert!(
        runs.iter().all(|r| !r.stdout.is_empty()),
        "each printed the API's answer"
    );

    mock.server.revoke_sessions();
    let run = env.run(&request);
    run.code(3);
    assert!(
        run.stderr
            .contains("the provider revoked the session of profile `s`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("tokenwarden --profile s login"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    // The state is kept: the next call says the same without asking the provider again.
    let refreshes = mock.server.stats().token_requests.refresh_token;
    let again = env.run(&["--profile", P, "token"]);
    again.code(3);
    assert!(
        again.stderr.contains("revoked the session"),
        "{}",
        again.stderr
    );
    assert_eq!(mock.server.stats().token_requests.refresh_token, refreshes);
    // A profile whose session ended needs a login: status says so with exit 3.
    let status = env.run(&["--profile", P, "--json", "status"]);
    status.code(3);
    let row = &status.json()[0];
    assert_eq!(row["state"], "login_required", "{row}");
    assert_eq!(row["logged_in"], false);
    assert_eq!(
        row["login_required_cause"], "refresh_token_revoked",
        "{row}"
    );
    assert!(
        row["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("revoked the session")
    );
    let text = env.run(&["--profile", P, "status"]);
    assert!(text.stdout.contains("login required"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("why: the provider revoked the session: it refused the refresh token"),
        "the cause in words: {}",
        text.stdout
    );
    assert!(text.stdout.contains("invalid_grant"), "{}", text.stdout);
    // A new login replaces the marked tokens.
    login_browser(&env, &mock, P).code(0);
    env.run(&request).code(0);
}

/// The shared circuit breaker's record of mockauth's token endpoint, as the store keeps it.
pub fn token_breaker(env: &Env, mock: &Mock) -> tokenwarden::store::BreakerRecord {
    use tokenwarden::store::BreakerBackend as _;
    store(env)
        .load(&mock.server.url("/token"))
        .expect("the breaker record reads")
}

/// Marks the stored token rejected, as an API's 401 does: the next `token` must refresh.
pub fn force_refresh(env: &Env) {
    let s = store(env);
    let v = s.read(P).expect("reads").expect("stored").version;
    assert!(s.mark_rejected(P, v).expect("marks"));
}

#[test]
fn a_storm_of_500s_keeps_the_valid_token_within_the_breaker_then_a_real_refresh() {
    // Tokens live 10 s (window 5 s) and callers ask for 3 s: from 2 s after the login every
    // call is inside the window and wants a refresh. The storm lasts the first 5 s; the token
    // expires 5 s later, so the first request after the storm needs a real refresh.
    let mock = mock(Duration::from_secs(10), Duration::ZERO);
    let cooldown = Duration::from_secs(1);
    let profile = format!(
        "{}breaker_cooldown = \"1s\"\n",
        web_profile(P, &mock.issuer())
    );
    let env = home_with(&[profile]);
    login_browser(&env, &mock, P).code(0);
    let token = stored(&env).tokens.access_token;
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::status(500).oauth_error("server_error"),
        ))
        .unwrap();
    let before = mock.server.stats();
    let start = Instant::now();
    let runs = loop_workers(
        &env,
        8,
        Duration::from_secs(5),
        &["--profile", P, "token", "--min-ttl", "3s"],
    );
    let storm = start.elapsed();
    let after = mock.server.stats();
    mock.server.clear_faults();
    all_ok(&runs);
    assert!(
        runs.iter().all(|r| r.stdout.trim() == token.expose()),
        "the valid token"
    );
    let warned = runs
        .iter()
        .filter(|r| r.stderr.contains("warning: the provider is failing"))
        .count();
    let attempts = after.token_requests.refresh_token - before.token_requests.refresh_token;
    // The schedule of the one credential: 5 failures in a row open the shared breaker, then
    // one probe per cool-down; a process with a valid token makes one attempt, never retries.
    let most = 5 + (storm.as_secs_f64() / cooldown.as_secs_f64()).ceil() as u64;
    eprintln!(
        "storm: {} runs in {storm:?}, {warned} warned, {attempts} refresh attempts (at most {most})",
        runs.len()
    );
    assert!(warned > 0, "degraded runs say so");
    assert!(
        (1..=most).contains(&attempts),
        "{attempts} attempts by {} processes; the schedule allows {most}",
        runs.len()
    );
    let status = env.run(&["--profile", P, "status"]);
    assert!(status.stdout.contains("last error"), "{}", status.stdout);

    // After the storm: once the token has expired, the first request must refresh for real.
    wait_for("the token to expire", || {
        stored(&env).tokens.is_expired(std::time::SystemTime::now())
    });
    wait_for("the breaker's cool-down to end", || {
        token_breaker(&env, &mock)
            .open_until
            .is_none_or(|t| t <= std::time::SystemTime::now())
    });
    let before = mock.server.stats();
    let url = mock.server.url("/v1/messages");
    let run = env.run(&["--profile", P, "request", &url]);
    run.code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let after = mock.server.stats();
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "one real refresh, and it succeeded"
    );
    assert_ne!(stored(&env).tokens.access_token, token);
}

#[test]
fn an_api_that_rejects_every_token_is_exit_5_after_two_requests() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Resource,
            mockauth::FaultSpec::status(401),
        ))
        .unwrap();
    let before = mock.server.stats();
    let url = mock.server.url("/v1/messages");
    let run = env.run(&["--profile", P, "request", &url]);
    run.code(5);
    assert!(
        run.stderr.contains("rejected by the server"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    let after = mock.server.stats();
    assert_eq!(
        after.faults_injected - before.faults_injected,
        2,
        "two requests, no loop"
    );
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1
    );
    let json = env.run(&["--profile", P, "--json", "request", &url]);
    json.code(5);
    let e: serde_json::Value = serde_json::from_str(json.stderr.trim()).expect("JSON error");
    assert_eq!(e["error"]["kind"], "session_rejected");
}

#[test]
fn a_lock_holder_killed_with_sigkill_does_not_stop_the_others() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    // The token is rejected by an API: every `token` needs the refresh and waits for the lock.
    force_refresh(&env);
    // The first refresh is held at the provider (and never processed), so its process holds
    // the lock for as long as the test needs.
    mock.server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::status(503)
                    .latency(Duration::from_secs(60))
                    .count(1),
            ),
        )
        .unwrap();
    let before = mock.server.stats();
    let holder = Running::spawn(&env, &["--profile", P, "token"], &[]);
    wait_for("the first process to send its refresh", || {
        mock.server.stats().token_requests.refresh_token > before.token_requests.refresh_token
    });
    let lock_file = env.home().join("locks").join(format!("{P}.lock"));
    assert_eq!(
        std::fs::read_to_string(&lock_file)
            .unwrap_or_default()
            .trim(),
        holder.pid().to_string(),
        "the first process holds the lock"
    );
    let mut waiters: Vec<_> = (0..2)
        .map(|_| Running::spawn(&env, &["-v", "--profile", P, "token"], &[]))
        .collect();
    for w in &mut waiters {
        w.line("the wait for the refresh lock", |l| {
            l.contains("waiting for the refresh lock of profile `s`")
        });
    }
    // Both are blocked on the lock now.
    let killed_at = Instant::now();
    kill9(holder.pid());
    assert_ne!(holder.finish().code, 0, "killed");
    for w in waiters {
        let run = w.finish();
        run.code(0);
        assert!(run.stdout.trim().starts_with("mat_"), "{}", run.stdout);
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    }
    let took = killed_at.elapsed();
    let bound = tokenwarden::session::SessionOptions::default().lock_wait;
    assert!(
        took < bound,
        "the waiters took {took:?} after the kill; the wait bound is {bound:?}"
    );
    let after = mock.server.stats();
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        2,
        "the killed one's, then one for both waiters"
    );
    assert_eq!(invalid_grants(&after), 0);
    assert_eq!(after.refresh_reuse_detected, 0);
}

#[test]
fn logout_waits_for_a_refresh_in_progress_and_revokes_what_it_stored() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    force_refresh(&env);
    // The refresh is held at the provider for a moment, then processed: it rotates the
    // refresh token while logout is waiting.
    mock.server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::default()
                    .latency(Duration::from_secs(2))
                    .count(1),
            ),
        )
        .unwrap();
    let before = mock.server.stats();
    let refresher = Running::spawn(&env, &["--profile", P, "token"], &[]);
    wait_for("the refresh to reach the provider", || {
        mock.server.stats().token_requests.refresh_token > before.token_requests.refresh_token
    });
    let mut logout = Running::spawn(&env, &["-v", "--profile", P, "logout"], &[]);
    logout.line("logout waiting for the refresh lock", |l| {
        l.contains("waiting for the refresh lock of profile `s`")
    });
    let refreshed = refresher.finish();
    refreshed.code(0);
    let fresh_access = refreshed.stdout.trim().to_string();
    assert!(fresh_access.starts_with("mat_"), "{}", refreshed.stdout);
    let out = logout.finish();
    out.code(0);
    assert!(
        out.stderr
            .contains("revoked the refresh token and access token at the provider"),
        "{}",
        out.stderr
    );
    assert!(store(&env).read(P).unwrap().is_none(), "deleted");
    // What the refresh stored was what logout revoked: nothing of this login stays live.
    assert_eq!(
        mock.resource_status(&fresh_access),
        401,
        "the refreshed access token is dead"
    );
    let after = mock.server.stats();
    assert_eq!(after.revocations.total - before.revocations.total, 2);
}

#[test]
fn a_client_credentials_login_renews_by_itself_and_the_config_keeps_its_comments() {
    let mock = Mock::auto();
    let profile = svc_profile("svc", &mock.issuer()).replace(
        "grant = \"client_credentials\"\n",
        "# the service account\n",
    );
    let env = home_with(&[format!("# my tokenwarden setup\n{profile}")]);
    let secret = [("SVC_SECRET", "svc-secret")];
    let run = env.run_env(
        &["--profile", "svc", "login", "--client-credentials"],
        &secret,
    );
    run.code(0);
    assert!(
        run.stderr
            .contains("now says `grant = \"client_credentials\"`"),
        "{}",
        run.stderr
    );
    let config = env.read_config();
    assert!(
        config.contains("grant = \"client_credentials\""),
        "{config}"
    );
    assert!(
        config.contains("# my tokenwarden setup") && config.contains("# the service account"),
        "comments kept:\n{config}"
    );
    // A token the API refused: renewed with the same grant.
    let before = mock.server.stats().token_requests.client_credentials;
    let first = env.run_env(&["--profile", "svc", "token"], &secret);
    first.code(0);
    let s = store(&env);
    let v = s.read("svc").unwrap().expect("stored").version;
    assert!(s.mark_rejected("svc", v).unwrap());
    let renewed = env.run_env(&["--profile", "svc", "token"], &secret);
    renewed.code(0);
    assert_ne!(first.stdout, renewed.stdout);
    assert_eq!(
        mock.server.stats().token_requests.client_credentials,
        before + 1
    );
}

#[test]
fn token_json_exec_and_status_say_what_they_should() {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    let plain = env.run(&["--profile", P, "token"]);
    plain.code(0);
    let token = plain.stdout.trim().to_string();
    assert_eq!(
        plain.stdout,
        format!("{token}\n"),
        "the token alone on stdout"
    );
    let json = env.run(&["--profile", P, "--json", "token"]);
    json.code(0);
    let v = json.json();
    assert_eq!(v["access_token"], token.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "openid offline_access");
    assert!(
        v["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );

    let check = format!("test \"$TOKENWARDEN_ACCESS_TOKEN\" = \"{token}\" && exit 7");
    env.run(&["--profile", P, "exec", "--", "sh", "-c", &check])
        .code(7);
    let check =
        format!("test \"$MY_TOKEN\" = \"{token}\" && test -z \"$TOKENWARDEN_ACCESS_TOKEN\"");
    env.run(&[
        "--profile",
        P,
        "exec",
        "--env",
        "MY_TOKEN",
        "--",
        "sh",
        "-c",
        &check,
    ])
    .code(0);
    let missing = env.run(&["--profile", P, "exec", "--", "no-such-command-here"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("no-such-command-here"),
        "{}",
        missing.stderr
    );

    let status = env.run(&["status", "--all"]);
    status.code(0);
    assert!(
        status
            .stdout
            .starts_with("  s: logged in — access token expires in 59 min"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains(&token),
        "status never shows the token"
    );
    let rows = env.run(&["--json", "status", "--all"]).json();
    assert_eq!(rows[0]["state"], "valid");
    assert_eq!(rows[0]["refresh_token"], true);
    assert_eq!(rows[0]["provider_failing"], false);
    assert_eq!(rows[0]["login_required_cause"], serde_json::Value::Null);
}
