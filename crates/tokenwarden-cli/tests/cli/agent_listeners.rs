//! The agent's optional listeners, as a user runs them: `--metrics` (Prometheus text, lock
//! waits of every process and the refresh token's horizon included) and `--http` (tokens
//! behind a bearer secret from a 0600 file), loopback only unless `--allow-remote`.

use crate::agent::{Agent, WRONG_KEY, eventually};
use crate::login::Mock;
use crate::sessions::{P, mock};
use crate::util::Run;
use std::time::Duration;

#[test]
fn the_agent_serves_metrics_and_tokens_over_http() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let secret_file = env.home().join("http-token");
    std::fs::write(&secret_file, "0123456789abcdef0123456789abcdef\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let loose = env.run(&[
        "agent",
        "--http",
        "127.0.0.1:0",
        "--http-token-file",
        secret_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        loose.code, 2,
        "a readable token file was accepted: {}",
        loose.stderr
    );
    assert!(loose.stderr.contains("chmod 600"), "{}", loose.stderr);
    let remote = env.run(&["agent", "--metrics", "0.0.0.0:0"]);
    assert_eq!(remote.code, 2, "{}", remote.stderr);
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let metrics_port = free_port();
    let http_port = free_port();
    let _agent = Agent::start(
        &env,
        &[
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
            "--http",
            &format!("127.0.0.1:{http_port}"),
            "--http-token-file",
            secret_file.to_str().expect("utf-8"),
        ],
    );
    env.run_env(&["--profile", P, "token"], &[WRONG_KEY])
        .code(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{http_port}/v1/profiles/{P}/token");
        let denied = c.get(&url).send().await.expect("answers");
        assert_eq!(denied.status(), 401);
        let ok = c
            .get(&url)
            .bearer_auth("0123456789abcdef0123456789abcdef")
            .send()
            .await
            .expect("answers");
        assert_eq!(ok.status(), 200);
        let body: serde_json::Value = ok.json().await.expect("json");
        let token = body["access_token"].as_str().expect("token").to_string();
        assert_eq!(mock.resource_status_async(&token).await, 200);
        let text = c
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("text");
        for name in [
            "tokenwarden_agent_tokens_served_total{profile=\"s\"}",
            "tokenwarden_agent_breaker_open{profile=\"s\"} 0",
            "tokenwarden_agent_token_age_seconds{profile=\"s\"}",
        ] {
            assert!(text.contains(name), "no {name} in:\n{text}");
        }
    });
}

#[test]
fn the_metrics_count_waits_for_the_refresh_lock() {
    let mock = mock(Duration::from_secs(60), Duration::ZERO);
    let env = crate::sessions::logged_in(&mock);
    let port = free_port();
    let _agent = Agent::start(&env, &["--metrics", &format!("127.0.0.1:{port}")]);
    // Every refresh now takes 600 ms, and the API rejects the current token: two processes of
    // their own (no agent) both get a 401 and need a refresh at once, so one waits for the
    // other's lock (or the agent's).
    mock.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::default().latency(Duration::from_millis(600)),
        ))
        .expect("faults");
    mock.server.revoke_all();
    let api = mock.server.url("/v1/messages");
    let both: Vec<Run> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| env.run(&["--no-agent", "--profile", P, "request", &api])))
            .collect();
        runs.into_iter().map(|h| h.join().expect("runs")).collect()
    });
    for run in &both {
        run.code(0);
    }
    let metrics = || scrape(port);
    let wanted = format!("tokenwarden_agent_lock_waits_total{{profile=\"{P}\",outcome=\"ok\"}} ");
    eventually("the lock wait counted in the metrics", || {
        metrics().contains(&wanted)
    });
    let text = metrics();
    assert!(
        text.contains(&format!(
            "tokenwarden_agent_lock_wait_seconds_total{{profile=\"{P}\"}}"
        )),
        "{text}"
    );
}

#[test]
fn the_agent_shows_when_the_refresh_token_expires_and_warns_once() {
    // Refresh tokens that expire in two days: inside the default three-day warning.
    let mock = Mock::start(mockauth::Config {
        auto_approve: true,
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(2 * 24 * 3600),
        ..mockauth::Config::default()
    });
    let env = crate::sessions::logged_in(&mock);
    let port = free_port();
    let _agent = Agent::start(&env, &["--metrics", &format!("127.0.0.1:{port}")]);
    let metrics = || scrape(port);
    let name = format!("tokenwarden_agent_refresh_token_expires_in_seconds{{profile=\"{P}\"}} ");
    eventually("the refresh token's horizon in the metrics", || {
        metrics().contains(&name)
    });
    let text = metrics();
    let left: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&name))
        .and_then(|v| v.trim().parse().ok())
        .expect("a number of seconds");
    assert!(
        left > 24.0 * 3600.0 && left <= 2.0 * 24.0 * 3600.0,
        "{left} s is not about two days"
    );
    // The warning was given once (by the agent): a `token` now warns no more today.
    let events = || {
        let run = env.run(&["--profile", P, "--json", "events"]);
        run.code(0);
        run.json()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["operation"] == "expiry_warning")
                    .count()
            })
            .unwrap_or(0)
    };
    eventually("the agent's expiry warning in the event log", || {
        events() == 1
    });
    let token = env.run(&["--profile", P, "token"]);
    token.code(0);
    assert!(
        !token.stderr.contains("expires in"),
        "warned twice in a day: {}",
        token.stderr
    );
    assert_eq!(events(), 1);
}

/// The agent's metrics text at `port` (empty while it does not answer).
fn scrape(port: u16) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    })
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Mock {
    /// The resource server's answer to `access_token` (inside a runtime).
    pub async fn resource_status_async(&self, access_token: &str) -> u16 {
        reqwest::Client::new()
            .get(self.server.url("/v1/messages"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("resource answers")
            .status()
            .as_u16()
    }
}
