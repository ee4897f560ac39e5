//! `tokenwarden login` (browser flow) with the real binary against an in-process mockauth: the
//! URL alone on its own line, fetched as `curl -L` would; Ctrl-C; the spinner only on a
//! terminal; and the negatives (state mismatch, denied consent, expired code, a 500 on the
//! exchange, timeout, configuration) with their exit codes.

// The helpers live in `login_util`; other modules import them from here too.
pub use crate::login_util::*;
use crate::util::Env;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn login_completes_when_the_printed_url_is_fetched() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(
        &env,
        &[
            "--profile",
            "web",
            "login",
            "--no-browser",
            "--timeout",
            "30s",
        ],
        &[],
    );
    let url = login.url();
    assert_eq!(url, url.trim(), "the URL is alone on its line");
    assert!(!url.contains(' '));
    assert!(url.starts_with(&mock.server.url("/authorize")), "{url}");
    assert_eq!(param(&url, "code_challenge_method"), "S256");
    let (status, page) = mock.get(&url);
    assert_eq!(status, 200);
    assert!(page.contains("You may close this tab"), "{page}");
    let run = login.finish();
    run.code(0);
    assert!(
        run.stderr.contains("Logged in: profile `web`") && run.stderr.contains("subject mock-user"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\r'),
        "no spinner when stderr is not a terminal"
    );
    assert_eq!(mock.server.stats().token_requests.authorization_code, 1);

    let token = env.run(&["--profile", "web", "token"]);
    token.code(0);
    let access = token.stdout.trim();
    assert!(access.starts_with("mat_"), "{access}");
    let t = stored(&env, "web").expect("stored");
    assert_eq!(t.access_token.expose(), access);
    assert_eq!(t.subject.as_deref(), Some("mock-user"));
    assert_eq!(t.issuer.as_deref(), Some(mock.issuer().as_str()));
    assert_nowhere_in_files(&env, access, "access token");
    let refresh = t.refresh_token.as_ref().expect("a refresh token");
    assert_nowhere_in_files(&env, refresh.expose(), "refresh token");
    let id = t.id_token.as_ref().expect("an ID token");
    assert_nowhere_in_files(&env, id.expose(), "ID token");
}

#[test]
fn ctrl_c_cancels_cleanly() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(&env, &["--profile", "web", "login", "--no-browser"], &[]);
    let url = login.url();
    let port = callback_port(&url);
    login.interrupt();
    let run = login.finish();
    run.code(130);
    assert!(
        run.stderr
            .contains("login cancelled (Ctrl-C): nothing was stored"),
        "{}",
        run.stderr
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the callback listener is closed"
    );
    env.run(&["--profile", "web", "token"]).code(3);
    assert_eq!(mock.server.stats().token_requests.total(), 0);
}

/// A callback to the listener of the login whose authorization URL is `url`, with a code and a
/// `state` that login never sent.
fn forged_callback(url: &str, mock: &Mock) -> String {
    format!(
        "http://127.0.0.1:{}/callback?code=forged&state=wrong&iss={}",
        callback_port(url),
        mock.issuer()
    )
}

#[test]
fn a_callback_with_the_wrong_state_is_refused_and_the_login_goes_on() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(&env, &["--profile", "web", "login", "--no-browser"], &[]);
    let url = login.url();
    let forged = forged_callback(&url, &mock);
    let (status, page) = mock.get(&forged);
    assert_eq!(status, 400);
    assert!(page.contains("does not match"), "{page}");
    let (status, _) = mock.get(&url);
    assert_eq!(status, 200);
    let run = login.finish();
    run.code(0);
    assert!(
        run.stderr.contains("`state` does not match") && run.stderr.contains("still waiting"),
        "the refusal is said: {}",
        run.stderr
    );
    assert_eq!(mock.server.stats().token_requests.authorization_code, 1);
}

#[test]
fn only_a_wrong_state_callback_ends_with_exit_1_at_the_timeout() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(
        &env,
        &[
            "--profile",
            "web",
            "login",
            "--no-browser",
            "--timeout",
            "2s",
        ],
        &[],
    );
    let url = login.url();
    let forged = forged_callback(&url, &mock);
    let (status, _) = mock.get(&forged);
    assert_eq!(status, 400);
    let run = login.finish();
    run.code(1);
    assert!(
        run.stderr.contains("`state` does not match"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert_eq!(mock.server.stats().token_requests.total(), 0);
}

#[test]
fn denied_consent_ends_with_exit_3_and_the_providers_words() {
    let mock = Mock::start(mockauth::Config::default());
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(&env, &["--profile", "web", "login", "--no-browser"], &[]);
    let url = login.url();
    let (_, page) = mock.get(&url);
    let marker = "name=\"consent\" value=\"";
    let start = page.find(marker).expect("a consent form") + marker.len();
    let id = &page[start..start + page[start..].find('"').expect("value ends")];
    mock.post_form(
        &mock.server.url("/authorize/decision"),
        &[("consent", id), ("decision", "deny")],
    );
    let run = login.finish();
    run.code(3);
    assert!(
        run.stderr
            .contains("the authorization was denied: the user denied the request"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_expired_code_ends_with_exit_3() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let mut login = Running::spawn(&env, &["--profile", "web", "login", "--no-browser"], &[]);
    let url = login.url();
    let back = mock.location(&url);
    mock.server.advance_clock(Duration::from_secs(61));
    mock.get(&back);
    let run = login.finish();
    run.code(3);
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    assert!(run.stderr.contains("the code expired"), "{}", run.stderr);
}

#[test]
fn a_500_on_the_exchange_ends_with_exit_4_and_the_next_login_works() {
    let mock = Mock::auto();
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::status(500).count(1).processed(),
        ))
        .expect("valid plan");
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let run = login_browser(&env, &mock, "web");
    run.code(4);
    assert!(run.stderr.contains("http status: 500"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("code works only once: run `tokenwarden login` again"),
        "{}",
        run.stderr
    );
    login_browser(&env, &mock, "web").code(0);
    assert_eq!(mock.server.stats().token_requests.authorization_code, 2);
}

#[test]
fn no_callback_before_the_timeout_ends_with_exit_3() {
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    // Elapsed real time is what is tested; keep it short.
    let run = env.run(&[
        "--profile",
        "web",
        "login",
        "--no-browser",
        "--timeout",
        "200ms",
    ]);
    run.code(3);
    assert!(
        run.stderr
            .contains("no login callback arrived within 200 ms"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--timeout"), "{}", run.stderr);
}

#[test]
fn configuration_problems_end_before_the_browser_with_exit_2() {
    let mock = Mock::auto();
    let env = home_with(&[format!(
        "[profiles.noiss]\nclient_id = \"cli\"\nauthorization_endpoint = \"{a}\"\n\
         token_endpoint = \"{t}\"\nscopes = [\"openid\"]\n",
        a = mock.server.url("/authorize"),
        t = mock.server.url("/token"),
    )]);
    let run = env.run(&["--profile", "noiss", "login", "--no-browser"]);
    run.code(2);
    assert!(run.stderr.contains("`openid`"), "{}", run.stderr);
    assert!(!run.stderr.contains("http://127.0.0.1"), "no URL printed");
    let run = env.run(&["--profile", "missing", "login"]);
    run.code(2);
}

#[test]
fn help_texts_explain_the_flags_and_exit_codes() {
    let env = Env::new();
    let run = env.run(&["login", "--help"]);
    run.code(0);
    let text = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for s in [
        "--no-browser",
        "--device",
        "--client-credentials",
        "--timeout",
        "1 the provider's answer failed a check",
        "130 cancelled (Ctrl-C), nothing stored",
    ] {
        assert!(text.contains(s), "`{s}` missing:\n{}", run.stdout);
    }
    let run = env.run(&["logout", "--help"]);
    run.code(0);
    assert!(run.stdout.contains("--local-only"), "{}", run.stdout);
}

#[cfg(target_os = "linux")]
#[test]
fn a_spinner_shows_only_when_stderr_is_a_terminal() {
    // util-linux `script` gives the binary a pseudo-terminal; without it, skip.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to provide a terminal");
        return;
    }
    let mock = Mock::auto();
    let env = home_with(&[web_profile("web", &mock.issuer())]);
    let line = format!(
        "{} --profile web login --no-browser --timeout 1s",
        env!("CARGO_BIN_EXE_tokenwarden")
    );
    // Elapsed real time (the 1 s timeout) is what lets the spinner turn.
    let out = std::process::Command::new("script")
        .env_clear()
        .env("TOKENWARDEN_HOME", env.home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\r| waiting for the browser to come back… (Ctrl-C to cancel)"),
        "{text}"
    );
    assert!(
        text.contains("no login callback arrived within 1 s"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(3), "{text}");
}
