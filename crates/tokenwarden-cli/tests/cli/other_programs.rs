//! The contract other programs rely on, with the real binary against mockauth: `token`'s
//! formats (json with `expires_on`, header, env, a Kubernetes ExecCredential in the version
//! asked for), `env` read by a real `sh`, `exec` as a launcher (several variables, 127/126,
//! the command's status, signals reaching the command, no warning for a fresh token), `request`
//! as a small curl (Authorization refused without a refresh, -i, -o, -f, --json,
//! --data-binary), `status`'s exit 3, `--json` on usage errors, warnings and logout, a closed
//! stdout, completions and the man page, `profile set/unset`, and the help's layout.

use crate::login::{Mock, home_with, web_profile};
use crate::sessions::{P, logged_in, mock};
use crate::util::{Env, Run};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// A mock with hour-long tokens and a home logged in to profile [`P`].
fn setup() -> (Mock, Env) {
    let mock = mock(Duration::from_secs(3600), Duration::ZERO);
    let env = logged_in(&mock);
    (mock, env)
}

fn token(env: &Env) -> String {
    let run = env.run(&["--profile", P, "token"]);
    run.code(0);
    run.stdout.trim().to_string()
}

/// `sh -c SCRIPT` with the binary's directory first on PATH and the test's home.
fn sh(env: &Env, script: &str, vars: &[(&str, &str)]) -> Run {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tokenwarden"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("a directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("TOKENWARDEN_HOME", env.home())
        .env("TOKENWARDEN_PROFILE", P)
        .stdin(Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.output().expect("sh runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn token_speaks_each_format_and_env_is_read_by_a_real_shell() {
    let (_mock, env) = setup();
    let t = token(&env);

    let json = env.run(&["--profile", P, "token", "--format", "json"]);
    let doc = json.code(0).json();
    assert_eq!(doc["access_token"], t.as_str());
    let at = humantime::parse_rfc3339(doc["expires_at"].as_str().expect("expires_at"))
        .expect("RFC 3339");
    let on = doc["expires_on"]
        .as_u64()
        .expect("expires_on in epoch seconds");
    assert_eq!(
        on,
        at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
    );
    assert_eq!(env.run(&["--profile", P, "--json", "token"]).json(), doc);

    let header = env.run(&["--profile", P, "token", "--format", "header"]);
    assert_eq!(
        header.code(0).stdout,
        format!("Authorization: Bearer {t}\n")
    );
    let line = env.run(&["--profile", P, "token", "--format", "env"]);
    assert_eq!(
        line.code(0).stdout,
        format!("export TOKENWARDEN_ACCESS_TOKEN='{t}'\n")
    );

    for version in ["v1", "v1beta1"] {
        let api = format!("client.authentication.k8s.io/{version}");
        let info = format!(
            "{{\"apiVersion\":\"{api}\",\"kind\":\"ExecCredential\",\"spec\":{{\"interactive\":false}}}}"
        );
        let run = env.run_env(
            &["--profile", P, "token", "--format", "exec-credential"],
            &[("KUBERNETES_EXEC_INFO", &info)],
        );
        let doc = run.code(0).json();
        assert_eq!(doc["apiVersion"], api.as_str(), "{doc}");
        assert_eq!(doc["kind"], "ExecCredential");
        assert_eq!(doc["status"]["token"], t.as_str());
        assert!(doc["status"]["expirationTimestamp"].is_string(), "{doc}");
    }
    let unknown = env.run_env(
        &["--profile", P, "token", "--format", "exec-credential"],
        &[(
            "KUBERNETES_EXEC_INFO",
            "{\"apiVersion\":\"client.authentication.k8s.io/v9\"}",
        )],
    );
    unknown.code(2);
    assert!(unknown.stdout.is_empty() && unknown.stderr.contains("v9"));

    // The web profile asks for `openid`: the ID token verified at login is there.
    let id = env.run(&["--profile", P, "token", "--id-token"]);
    assert_eq!(
        id.code(0).stdout.trim().split('.').count(),
        3,
        "{}",
        id.stdout
    );

    let got = sh(
        &env,
        "eval \"$(tokenwarden env)\" && printf %s \"$TOKENWARDEN_ACCESS_TOKEN\"",
        &[],
    );
    assert_eq!(got.code(0).stdout, t, "{}", got.stderr);
    let named = sh(
        &env,
        "eval \"$(tokenwarden env --env GH_TOKEN)\" && printf %s \"$GH_TOKEN\"",
        &[],
    );
    assert_eq!(named.code(0).stdout, t, "{}", named.stderr);
    let fish = env.run(&["--profile", P, "env", "--shell", "fish"]);
    assert_eq!(
        fish.code(0).stdout,
        format!("set -gx TOKENWARDEN_ACCESS_TOKEN '{t}'\n")
    );
    env.run(&["--profile", P, "env", "--env", "1BAD"]).code(2);
}

#[test]
fn exec_is_a_launcher_with_shell_exit_codes_and_signals() {
    let (_mock, env) = setup();
    let t = token(&env);
    let missing = env.run(&["--profile", P, "exec", "--", "/nonexistent/cmd"]);
    missing.code(127);
    assert!(
        missing.stderr.contains("command not found"),
        "{}",
        missing.stderr
    );
    let file = env.home().join("not-executable");
    std::fs::write(&file, "echo hi\n").expect("write");
    let denied = env.run(&["--profile", P, "exec", "--", file.to_str().expect("utf-8")]);
    denied.code(126);
    assert!(denied.stderr.contains("chmod +x"), "{}", denied.stderr);

    let both = env.run(&[
        "--profile",
        P,
        "exec",
        "--env",
        "A_TOKEN",
        "--env",
        &format!("B_TOKEN={P}"),
        "--",
        "sh",
        "-c",
        "printf '%s %s' \"$A_TOKEN\" \"$B_TOKEN\"",
    ]);
    assert_eq!(both.code(0).stdout, format!("{t} {t}"));
    env.run(&["--profile", P, "exec", "--", "sh", "-c", "exit 7"])
        .code(7);
    // The command ended by a signal is tokenwarden ended by it: a shell reports 128 + 15.
    let killed = env
        .cmd()
        .args(["--profile", P, "exec", "--", "sh", "-c", "kill -TERM $$"])
        .status()
        .expect("runs");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(killed.signal(), Some(libc::SIGTERM), "{killed:?}");
    let reported = sh(
        &env,
        "tokenwarden exec -- sh -c 'kill -TERM $$'; echo $?",
        &[],
    );
    assert_eq!(reported.stdout.trim(), "143", "{}", reported.stderr);
    env.run(&["--profile", P, "exec", "--env", "X=nosuch", "--", "true"])
        .code(2);

    // A TERM sent to tokenwarden reaches the command (they are one process).
    let ready = env.home().join("ready");
    let got = env.home().join("got-term");
    let script = format!(
        "trap 'echo term > {got}; exit 9' TERM; echo ready > {ready}; while :; do sleep 0.05; done",
        got = got.display(),
        ready = ready.display()
    );
    let mut child = env
        .cmd()
        .args(["--profile", P, "exec", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) with a pid this test started and still waits for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not end on TERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(9));
    assert!(got.exists(), "the command's TERM trap did not run");
}

#[test]
fn exec_with_tokens_of_a_minute_does_not_warn() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock);
    let run = env.run(&["--profile", P, "exec", "--", "true"]);
    run.code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // Asked for explicitly, the same minute cannot be met: then it says so.
    let asked = env.run(&["--profile", P, "exec", "--min-ttl", "60s", "--", "true"]);
    asked.code(0);
    assert!(asked.stderr.contains("warning"), "{}", asked.stderr);
}

#[test]
fn request_is_a_small_curl_and_never_trades_a_good_token_for_a_header() {
    let (mock, env) = setup();
    let url = mock.server.url("/v1/messages");
    let refreshes = mock.server.stats().token_requests.refresh_token;
    let mine = env.run(&[
        "--profile",
        P,
        "request",
        "-H",
        "Authorization: Bearer mine",
        &url,
    ]);
    mine.code(2);
    assert!(mine.stderr.contains("Authorization"), "{}", mine.stderr);
    assert_eq!(mock.server.stats().token_requests.refresh_token, refreshes);
    env.run(&["--profile", P, "request", &url]).code(0);
    assert_eq!(mock.server.stats().token_requests.refresh_token, refreshes);

    let inc = env.run(&["--profile", P, "request", "-i", &url]);
    assert!(
        inc.code(0).stdout.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        inc.stdout
    );
    assert!(inc.stdout.contains("\r\n\r\n"), "{}", inc.stdout);

    let file = env.home().join("out.json");
    let o = env.run(&[
        "--profile",
        P,
        "request",
        "-o",
        file.to_str().expect("utf-8"),
        &url,
    ]);
    assert!(o.code(0).stdout.is_empty());
    assert!(!std::fs::read(&file).expect("written").is_empty());

    let missing = mock.server.url("/no-such-path");
    let plain = env.run(&["--profile", P, "request", &missing]);
    plain.code(1);
    assert!(plain.stderr.contains("404"), "{}", plain.stderr);
    let fail = env.run(&["--profile", P, "request", "-f", &missing]);
    fail.code(22);
    assert!(fail.stdout.is_empty(), "{}", fail.stdout);
    let silent = env.run(&["--profile", P, "request", "-fs", &missing]);
    silent.code(22);
    assert!(silent.stderr.is_empty(), "{}", silent.stderr);

    let doc = env.run(&["--profile", P, "--json", "request", &url]);
    let doc = doc.code(0).json();
    assert_eq!(doc["status"], 200);
    assert!(doc["headers"]["content-type"][0].is_string(), "{doc}");
    assert!(
        doc["body"].is_string() && doc["body_base64"].is_null(),
        "{doc}"
    );

    let body = env.home().join("body.json");
    std::fs::write(&body, "{\"hello\":1}").expect("write");
    let at = format!("@{}", body.display());
    env.run(&["--profile", P, "request", "--data-binary", &at, &url])
        .code(0);
}

#[test]
fn status_exits_3_when_a_login_is_needed_and_logout_speaks_json() {
    let (_mock, env) = setup();
    env.run(&["--profile", P, "status"]).code(0);
    let out = env.run(&["--profile", P, "--json", "logout"]);
    let doc = out.code(0).json();
    assert_eq!(doc["profile"], P);
    assert_eq!(doc["deleted"], true);
    let status = env.run(&["--profile", P, "status"]);
    status.code(3);
    assert!(status.stdout.contains("not logged in"), "{}", status.stdout);
    env.run(&["--profile", P, "--json", "status"]).code(3);
    env.run(&["--profile", P, "status", "--all"]).code(0);
    let again = env.run(&["--profile", P, "--json", "logout"]);
    assert_eq!(again.code(0).json()["deleted"], false);
    env.run(&["--profile", "nosuch", "status"]).code(2);
}

#[test]
fn json_covers_usage_errors_and_warnings() {
    let (_mock, env) = setup();
    let usage = env.run(&["--json", "token", "--no-such-flag"]);
    usage.code(2);
    let doc: serde_json::Value = serde_json::from_str(usage.stderr.trim()).expect("JSON");
    assert_eq!(doc["error"]["kind"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
    // Without --json, clap's own words.
    let plain = env.run(&["token", "--no-such-flag"]);
    plain.code(2);
    assert!(plain.stderr.starts_with("error:"), "{}", plain.stderr);
    // A warning is one JSON line on stderr.
    let warned = env.run(&["--profile", P, "--json", "token", "--min-ttl", "2h"]);
    warned.code(0);
    let line = warned.stderr.lines().next().expect("a warning line");
    let w: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert!(
        w["warning"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2h")),
        "{w}"
    );
    env.run(&["--help"]).code(0);
}

#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let (_mock, env) = setup();
    for args in [
        &["profile", "show", P][..],
        &["--profile", P, "status"][..],
        &["completions", "bash"][..],
        &["--profile", P, "token"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = env
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn completions_man_page_and_help_layout() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = env.run(&["completions", shell]);
        assert!(run.code(0).stdout.contains("tokenwarden"), "{shell}");
        assert!(run.stdout.contains("git-credential"), "{shell}");
    }
    let man = env.run(&["man"]);
    assert!(
        man.code(0).stdout.contains(".TH tokenwarden 1"),
        "{}",
        man.stdout
    );
    let dir = env.home().join("man");
    env.run(&["man", "--dir", dir.to_str().expect("utf-8")])
        .code(0);
    assert!(dir.join("tokenwarden-exec.1").exists());

    let help = env.run(&["token", "--help"]);
    let help = &help.code(0).stdout;
    let options = help.find("\nOptions:").expect("own options");
    let global = help
        .find("\nGlobal options:")
        .expect("global options apart");
    let min_ttl = help.find("--min-ttl").expect("--min-ttl");
    let profile = help.find("--profile").expect("--profile");
    assert!(
        options < min_ttl && min_ttl < global && global < profile,
        "{help}"
    );
    assert!(
        help.contains("Exit codes:") && help.contains("login"),
        "{help}"
    );
    assert!(help.contains("--trace-http\n"), "a plain flag: {help}");
    assert!(!help.contains("possible values: true, false"), "{help}");
    let exec = env.run(&["exec", "--help"]);
    assert!(exec.code(0).stdout.contains("127"), "{}", exec.stdout);
}

#[test]
fn profiles_are_edited_key_by_key_keeping_comments() {
    let env = home_with(&[String::from(
        "# my providers\n[profiles.w]\n# the issuer we use\nissuer = \"http://127.0.0.1:9/\" # loopback\nclient_id = \"cli\"\n",
    )]);
    env.run(&["profile", "set", "w", "resource", "http://127.0.0.1:9/v1/"])
        .code(0);
    env.run(&["profile", "set", "w", "scopes", "openid", "email"])
        .code(0);
    env.run(&["profile", "set", "w", "timeout", "5s"]).code(0);
    env.run(&["profile", "set", "w", "max_attempts", "2"])
        .code(0);
    env.run(&["profile", "set", "w", "issuer", "http://127.0.0.1:8/"])
        .code(0);
    let text = env.read_config();
    for kept in ["# my providers", "# the issuer we use", "# loopback"] {
        assert!(text.contains(kept), "{kept}: {text}");
    }
    assert!(
        text.contains("issuer = \"http://127.0.0.1:8/\" # loopback"),
        "{text}"
    );
    assert!(text.contains("scopes = [\"openid\", \"email\"]"), "{text}");
    assert!(text.contains("max_attempts = 2"), "{text}");
    let show = env.run(&["--json", "profile", "show", "w"]).json();
    assert_eq!(show["timeout_s"], 5.0);
    assert_eq!(show["retry"]["max_attempts"], 2);

    let typo = env.run(&["profile", "set", "w", "timeot", "5s"]);
    typo.code(2);
    assert!(
        typo.stderr.contains("did you mean `timeout`"),
        "{}",
        typo.stderr
    );
    env.run(&["profile", "set", "w", "max_attempts", "many"])
        .code(2);
    env.run(&["profile", "unset", "w", "client_id"]).code(2);
    env.run(&["profile", "unset", "w", "timeout"]).code(0);
    assert!(!env.read_config().contains("timeout"));

    // --force keeps the comments of the keys that stay.
    env.run(&[
        "profile",
        "add",
        "w",
        "--issuer",
        "http://127.0.0.1:7/",
        "--client-id",
        "cli",
        "--force",
    ])
    .code(0);
    let text = env.read_config();
    assert!(
        text.contains("# the issuer we use\nissuer = \"http://127.0.0.1:7/\" # loopback"),
        "{text}"
    );
    assert!(!text.contains("scopes"), "{text}");

    let keys = env.run(&["profile", "keys"]);
    for key in [
        "timeout",
        "max_attempts",
        "lock_wait",
        "breaker_threshold",
        "git_hosts",
    ] {
        assert!(keys.stdout.contains(key), "{key}: {}", keys.stdout);
    }
    let fresh = Env::new();
    fresh
        .run(&[
            "profile",
            "add",
            "n",
            "--issuer",
            "http://127.0.0.1:9/",
            "--client-id",
            "c",
        ])
        .code(0);
    assert!(fresh.read_config().contains("`tokenwarden profile keys`"));
}

#[test]
fn a_network_failure_is_one_line_of_cause_and_the_chain_at_v() {
    let env = home_with(&[web_profile(P, "http://127.0.0.1:1")]);
    let run = env.run(&["--profile", P, "login", "--no-browser", "--timeout", "5s"]);
    assert_ne!(run.code, 0);
    assert_eq!(run.stderr.matches("cause:").count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("caused by"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    let verbose = env.run(&[
        "--profile",
        P,
        "-v",
        "login",
        "--no-browser",
        "--timeout",
        "5s",
    ]);
    assert!(verbose.stderr.contains("caused by"), "{}", verbose.stderr);
}

#[test]
fn doctor_wraps_to_the_width_it_is_given() {
    let env = home_with(&[web_profile(P, "http://127.0.0.1:1")]);
    let run = env.run_env(
        &["--profile", P, "doctor", "--offline"],
        &[("COLUMNS", "80")],
    );
    let long: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.chars().count() > 80 && l.contains(' '))
        .collect();
    assert!(!run.stdout.is_empty(), "{}", run.stderr);
    assert!(long.is_empty(), "{long:#?}");
}
