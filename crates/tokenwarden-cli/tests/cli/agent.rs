//! The agent, as a user runs it: the real binary in the foreground (its start-up line read from
//! stdout), processes calling `token` through it across expiries, a login in another process
//! picked up, `kill -9` mid-refresh, a second agent, a peer of another uid, a client of
//! another protocol version, `exec` and `request` through it (and not when turned off), the
//! keepalive obeying an open breaker. mockauth with rotation on and reuse grace 0. Its
//! listeners (metrics, tokens over HTTP) are tested in `agent_listeners`.

use crate::login::{home_with, login_browser, web_profile};
use crate::sessions::{P, loop_workers, mock};
use crate::util::{Env, Run};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// A wrong key: a command that gets a token with it was answered by the agent (it never
/// opened the store).
pub const WRONG_KEY: (&str, &str) = (
    "TOKENWARDEN_KEY",
    "0000000000000000000000000000000000000000000000000000000000000000",
);

/// A running `tokenwarden agent` (foreground), killed when dropped.
pub struct Agent {
    child: Child,
    /// The start-up line.
    pub started: serde_json::Value,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Agent {
    /// Starts the agent in `env` with `args` and waits for its start-up line.
    pub fn start(env: &Env, args: &[&str]) -> Agent {
        let mut c = env.cmd();
        c.arg("agent")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("the agent starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            for _ in lines {}
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let started = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("the agent printed no start-up line ({e}): {line:?}")
        });
        Agent {
            child,
            started,
            stderr: Some(stderr),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL and waits.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits (with a deadline) for it to exit by itself; its stderr.
    pub fn wait_exit(mut self) -> (i32, String) {
        let deadline = Instant::now() + DEADLINE;
        let code = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the agent did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (code, stderr)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `agent status --json`.
pub fn status(env: &Env) -> serde_json::Value {
    let run = env.run(&["agent", "status", "--json"]);
    run.code(0);
    run.json()
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn failed(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .filter(|r| r.code != 0)
        .map(|r| format!("exit {}: {}", r.code, r.stderr))
        .collect()
}

#[test]
fn eight_processes_across_five_expiries_never_wait_for_a_refresh() {
    let ttl = Duration::from_secs(2);
    let mock = mock(ttl, Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let agent = Agent::start(&env, &[]);
    assert_eq!(agent.started["pid"], agent.pid());
    // The first request after the start may find the keepalive's first look pending.
    env.run(&["--profile", P, "token"]).code(0);
    let before = status(&env);
    let runs = loop_workers(&env, 8, ttl * 5, &["--profile", P, "token"]);
    let after = status(&env);
    assert_eq!(failed(&runs), Vec::<String>::new(), "calls failed");
    let served = after["tokens_served"].as_u64().expect("served")
        - before["tokens_served"].as_u64().expect("served");
    assert_eq!(
        served as usize,
        runs.len(),
        "every call went through the agent"
    );
    assert_eq!(
        after["waited_for_refresh"], before["waited_for_refresh"],
        "a caller waited for a refresh: the agent did not refresh ahead ({after})"
    );
    let refreshes = after["profiles"][0]["refreshes"]
        .as_u64()
        .expect("refreshes");
    assert!(
        refreshes >= 4,
        "the agent refreshed {refreshes} times in 5 expiries"
    );
    let stats = mock.server.stats();
    assert_eq!(stats.refresh_reuse_detected, 0);
    drop(agent);
}

#[test]
fn a_login_in_another_process_is_served_at_once() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = home_with(&[web_profile(P, &mock.issuer())]);
    let _agent = Agent::start(&env, &[]);
    let none = env.run_env(&["--profile", P, "token"], &[WRONG_KEY]);
    none.code(3);
    login_browser(&env, &mock, P).code(0);
    // Right after the login, the agent serves it: the wrong key proves the client never opened
    // the store itself.
    let first = env.run_env(&["--profile", P, "token"], &[WRONG_KEY]);
    first.code(0);
    eventually("the agent's status shows the login", || {
        status(&env)["profiles"][0]["state"] == "valid"
    });
    // A second login replaces the tokens: the agent hands out the new ones.
    login_browser(&env, &mock, P).code(0);
    let newest = crate::sessions::stored(&env).tokens.access_token;
    eventually("the agent serves the new login", || {
        let r = env.run_env(&["--profile", P, "token"], &[WRONG_KEY]);
        r.code == 0 && r.stdout.trim() == newest.expose()
    });
}

#[test]
fn kill_9_mid_refresh_then_clients_fall_back_and_a_new_agent_starts() {
    let ttl = Duration::from_secs(4);
    let mock = mock(ttl, Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    // Every refresh hangs 20 s, then fails: the agent is killed while one is in flight.
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::status(503).latency(Duration::from_secs(20)),
        ))
        .expect("faults");
    let agent = Agent::start(&env, &[]);
    let refreshes = || mock.server.stats().token_requests.refresh_token;
    eventually("the agent starts a refresh", || refreshes() >= 1);
    agent.kill9();
    mock.server.clear_faults();
    let run = env.run(&["-v", "--profile", P, "token"]);
    run.code(0);
    assert!(
        run.stderr.contains("agent"),
        "-v does not say the agent was not used:\n{}",
        run.stderr
    );
    let next = Agent::start(&env, &[]);
    env.run_env(&["--profile", P, "token"], &[WRONG_KEY])
        .code(0);
    drop(next);
    assert_eq!(mock.server.stats().refresh_reuse_detected, 0);
}

#[test]
fn a_second_agent_refuses_and_names_the_first() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let first = Agent::start(&env, &[]);
    let second = env.run(&["agent"]);
    assert_ne!(second.code, 0, "a second agent started");
    assert!(
        second.stderr.contains(&first.pid().to_string()),
        "the refusal does not name pid {}:\n{}",
        first.pid(),
        second.stderr
    );
    let detached = env.run(&["agent", "--detach"]);
    assert_ne!(detached.code, 0);
    assert!(
        detached.stderr.contains(&first.pid().to_string()),
        "{}",
        detached.stderr
    );
}

#[test]
fn stop_ends_the_agent_and_status_then_exits_3() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let agent = Agent::start(&env, &[]);
    let st = status(&env);
    assert_eq!(st["pid"], agent.pid());
    assert_eq!(st["profiles"][0]["profile"], P);
    // `status` is answered by the agent: a wrong key cannot matter.
    let rows = env.run_env(&["--profile", P, "status", "--json"], &[WRONG_KEY]);
    rows.code(0);
    let direct = env.run_env(&["--profile", P, "--no-agent", "status", "--json"], &[]);
    direct.code(0);
    assert_eq!(rows.json()[0]["profile"], P);
    assert_eq!(rows.json()[0]["state"], "valid");
    assert_eq!(
        rows.json()[0]["version"],
        direct.json()[0]["version"],
        "the agent and the store disagree"
    );
    let refused = env.run_env(&["--profile", P, "--no-agent", "status"], &[WRONG_KEY]);
    assert_eq!(refused.code, 6, "--no-agent did not read the store itself");
    env.run(&["agent", "stop"]).code(0);
    let (code, _) = agent.wait_exit();
    assert_eq!(code, 0);
    env.run(&["agent", "status"]).code(3);
}

#[test]
fn exec_and_request_go_through_the_agent_unless_turned_off() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let _agent = Agent::start(&env, &[]);
    let before = status(&env)["tokens_served"].as_u64().expect("served");
    // With a wrong key only the agent can have given them a token.
    let exec = env.run_env(
        &[
            "--profile",
            P,
            "exec",
            "--",
            "sh",
            "-c",
            "test -n \"$TOKENWARDEN_ACCESS_TOKEN\"",
        ],
        &[WRONG_KEY],
    );
    exec.code(0);
    let api = mock.server.url("/v1/messages");
    let request = env.run_env(&["--profile", P, "request", &api], &[WRONG_KEY]);
    request.code(0);
    assert!(
        request.stdout.contains("Hello from mockauth"),
        "{}",
        request.stdout
    );
    let served = status(&env)["tokens_served"].as_u64().expect("served") - before;
    assert_eq!(served, 2, "exec and request did not both ask the agent");
    // Turned off, they open the store themselves: the wrong key now fails them.
    for off in [
        env.run_env(
            &["--profile", P, "token"],
            &[WRONG_KEY, ("TOKENWARDEN_AGENT", "0")],
        ),
        env.run_env(
            &["--no-agent", "--profile", P, "request", &api],
            &[WRONG_KEY],
        ),
    ] {
        assert_eq!(
            off.code, 6,
            "the agent was used though turned off: {}",
            off.stderr
        );
    }
    assert_eq!(
        status(&env)["tokens_served"].as_u64().expect("served") - before,
        2,
        "the agent answered a client that turned it off"
    );
}

#[test]
fn the_keepalive_obeys_the_circuit_breaker() {
    let ttl = Duration::from_secs(2);
    let mock = mock(ttl, Duration::ZERO);
    let env = home_with(&[format!(
        "{}retry_base_delay = \"5ms\"\nretry_max_delay = \"20ms\"\nmax_attempts = 2\n\
         breaker_threshold = 2\nbreaker_cooldown = \"1h\"\n",
        web_profile(P, &mock.issuer())
    )]);
    login_browser(&env, &mock, P).code(0);
    mock.server
        .set_faults(
            mockauth::FaultPlan::default()
                .with(mockauth::Endpoint::Token, mockauth::FaultSpec::status(500)),
        )
        .expect("faults");
    let _agent = Agent::start(&env, &[]);
    let refreshes = || mock.server.stats().token_requests.refresh_token;
    eventually("the agent sees the breaker open", || {
        status(&env)["profiles"][0]["breaker"] == "open"
    });
    let at_open = refreshes();
    let st = status(&env);
    let expires = st["profiles"][0]["expires_at"]
        .as_str()
        .map(|t| humantime::parse_rfc3339(t).expect("rfc 3339"))
        .expect("expires_at");
    // Until well past the token's expiry the keepalive sends nothing more: the breaker is
    // open for an hour.
    eventually("the token has expired", || {
        std::time::SystemTime::now() > expires + Duration::from_secs(1)
    });
    assert_eq!(
        refreshes(),
        at_open,
        "the keepalive sent refreshes through an open breaker"
    );
    let st = status(&env);
    assert!(st["profiles"][0]["breaker_open_until"].is_string(), "{st}");
    // A client is told why and when to come back, not left waiting.
    let run = env.run(&["--json", "--profile", P, "token"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("retry_at"), "{}", run.stderr);
}

#[test]
fn a_peer_of_another_user_is_refused() {
    // Needs root to switch users (CI runs as root); elsewhere there is nothing to test with.
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(1)
        != 0
    {
        return;
    }
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let agent = Agent::start(&env, &[]);
    // Open the way to the socket for everyone, as a careless admin might: the agent itself
    // must still refuse the peer.
    use std::os::unix::fs::PermissionsExt as _;
    let socket = std::path::PathBuf::from(agent.started["socket"].as_str().expect("socket"));
    let open = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
    };
    let tmp = env.home().parent().expect("tmp").to_path_buf();
    open(&tmp, 0o755);
    open(&env.home(), 0o755);
    open(socket.parent().expect("run dir"), 0o755);
    open(&socket, 0o777);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tokenwarden"))
        .args(["agent", "status", "--json"])
        .env_clear()
        .env("TOKENWARDEN_HOME", env.home())
        .output()
        .expect("setpriv runs");
    assert!(!out.status.success(), "another uid got the status");
    let stderr = agent.kill9();
    assert!(
        stderr.contains("refused a connection from another user (uid 65534)"),
        "the agent did not log the refusal:\n{stderr}"
    );
}

/// A stand-in agent that speaks protocol 99: it answers every line with `version_mismatch`.
fn future_agent(socket: &std::path::Path) -> std::thread::JoinHandle<usize> {
    let listener = std::os::unix::net::UnixListener::bind(socket).expect("bind");
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a client connects");
        let mut writer = stream.try_clone().expect("clone");
        let mut line = String::new();
        let mut answered = 0;
        if BufReader::new(stream)
            .read_line(&mut line)
            .is_ok_and(|n| n > 0)
        {
            let _ = writer.write_all(
                b"{\"v\":99,\"type\":\"version_mismatch\",\"agent_protocol\":99,\"agent_release\":\"9.0.0\"}\n",
            );
            answered += 1;
        }
        answered
    })
}

#[test]
fn a_client_meeting_another_protocol_says_so_and_works_without_it() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let run_dir = env.home().join("run");
    std::fs::create_dir_all(&run_dir).expect("mkdir");
    let stand_in = future_agent(&run_dir.join("agent.sock"));
    let run = env.run(&["-v", "--profile", P, "token"]);
    run.code(0);
    assert!(
        run.stderr.contains("protocol 99") && run.stderr.contains("not using it"),
        "-v does not say why the agent was not used:\n{}",
        run.stderr
    );
    assert_eq!(stand_in.join().expect("stand-in"), 1);
}

#[test]
fn an_agent_meeting_a_newer_client_answers_and_exits() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let agent = Agent::start(&env, &[]);
    let socket = agent.started["socket"]
        .as_str()
        .expect("socket")
        .to_string();
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    stream
        .write_all(b"{\"v\":2,\"type\":\"token\",\"profile\":\"s\"}\n")
        .expect("write");
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).expect("read");
    let answer: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(answer["type"], "version_mismatch", "{line}");
    assert_eq!(answer["agent_protocol"], 1);
    let (code, _) = agent.wait_exit();
    assert_eq!(code, 0, "the agent did not exit cleanly");
}
