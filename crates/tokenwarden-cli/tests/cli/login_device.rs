//! `tokenwarden login --device` and `login --client-credentials` with the real binary: what the
//! person sees (the verification URI and user code set apart, never the device code), approval,
//! denial and expiry with their exit codes, and the confidential client `svc`.
//!
//! mockauth announces a 1 s interval, so a device login takes about a second of real time.

use crate::login_util::{Mock, Running, home_with, stored, svc_profile, web_profile};

/// Whether `line` is an indented user code such as `    WDJB-MJHT`.
pub fn is_user_code(line: &str) -> bool {
    let t = line.trim();
    line.starts_with("    ")
        && t.len() == 9
        && t.as_bytes()[4] == b'-'
        && t.chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_alphanumeric())
}

#[test]
fn device_login_shows_the_uri_and_code_and_never_the_device_code() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("dev", &mock.issuer())]);
    // With every kind of output on: debug logs and HTTP traces.
    let mut login = Running::spawn(
        &env,
        &[
            "--profile",
            "dev",
            "-vv",
            "login",
            "--device",
            "--timeout",
            "30s",
            "--trace-http",
        ],
        &[],
    );
    let uri = login.line("verification URI", |l| {
        l.trim() == mock.server.url("/device")
    });
    assert!(uri.starts_with("    "), "set apart: {uri:?}");
    login.line("user code", is_user_code);
    let run = login.finish();
    run.code(0);
    assert!(
        run.stderr.contains("The code expires in 10 min"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Logged in: profile `dev` (device_code"),
        "{}",
        run.stderr
    );
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains("mdc_"), "a device code was shown:\n{out}");
    }
    assert!(stored(&env, "dev").is_some());
    env.run(&["--profile", "dev", "token"]).code(0);
}

/// Starts a device login on a server without auto-approve and returns it with the user code.
fn pending(env: &crate::util::Env) -> (Running, String) {
    let mut login = Running::spawn(env, &["--profile", "dev", "login", "--device"], &[]);
    let code = login.line("user code", is_user_code).trim().to_string();
    (login, code)
}

fn strict_mock() -> Mock {
    Mock::start(mockauth::Config {
        device_interval: std::time::Duration::from_secs(1),
        ..mockauth::Config::default()
    })
}

#[test]
fn a_denied_device_login_ends_with_exit_3() {
    let mock = strict_mock();
    let env = home_with(&[web_profile("dev", &mock.issuer())]);
    let (login, code) = pending(&env);
    mock.server.deny_device(&code).expect("deny");
    let run = login.finish();
    run.code(3);
    assert!(
        run.stderr.contains("error: the device login was denied"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(stored(&env, "dev").is_none());
}

#[test]
fn an_expired_device_code_ends_with_exit_3() {
    let mock = strict_mock();
    let env = home_with(&[web_profile("dev", &mock.issuer())]);
    let (login, _) = pending(&env);
    mock.server
        .advance_clock(mock.server.config().device_code_ttl);
    let run = login.finish();
    run.code(3);
    assert!(
        run.stderr
            .contains("error: the device code expired before the login was approved"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("login --device"), "{}", run.stderr);
}

#[test]
fn client_credentials_for_svc() {
    let mock = Mock::auto();
    let mut cc_only = svc_profile("svc", &mock.issuer());
    // The same client, without `grant = "client_credentials"`: login says how to make it stick.
    let plain = cc_only
        .replace("grant = \"client_credentials\"\n", "")
        .replace("svc]", "svc2]");
    cc_only.push_str(&plain);
    let env = home_with(&[cc_only]);
    let secret = [("SVC_SECRET", "svc-secret")];

    let run = env.run_env(&["--profile", "svc", "--json", "login"], &secret);
    run.code(0);
    let v = run.json();
    assert_eq!(v["grant"], "client_credentials");
    assert_eq!(v["refresh_token"], false);
    let token = env.run_env(&["--profile", "svc", "token"], &secret);
    token.code(0);
    assert!(token.stdout.trim().starts_with("mat_"));

    let run = env.run_env(
        &["--profile", "svc2", "login", "--client-credentials"],
        &secret,
    );
    run.code(0);
    assert!(
        run.stderr.contains("`grant = \"client_credentials\"`"),
        "{}",
        run.stderr
    );

    let run = env.run(&["--profile", "svc", "login"]);
    run.code(2);
    assert!(run.stderr.contains("SVC_SECRET"), "{}", run.stderr);
    let run = env.run_env(&["--profile", "svc", "login"], &[("SVC_SECRET", "wrong")]);
    run.code(2);
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert_eq!(mock.server.stats().token_requests.client_credentials, 3);
}
