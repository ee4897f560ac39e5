//! The proxy's further cases, with the real binary in front of mockauth's API: `Retry-After`
//! once the breaker is open (requests going on while the token is valid); a chunked upload
//! beyond the replay bound; the client secret that remote listening needs; a stream in flight
//! finishing after SIGTERM; the upstream taken from the profile's resource, and one the token
//! may not reach refused (`http::destination`); a second 401 passed on as it came (with and
//! without the agent).

use crate::agent::{Agent, WRONG_KEY};
use crate::proxy::{DEADLINE, Proxy, logged_in, runtime};
use crate::sessions::P;
use std::time::{Duration, Instant};

#[test]
fn remote_listening_needs_a_client_secret_which_then_guards_every_request() {
    let mock = crate::sessions::mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock, "");
    let issuer = mock.issuer();
    let base = ["--profile", P, "proxy", "--upstream", issuer.as_str()];
    let args = |extra: &[&'static str]| [&base[..], extra].concat();
    // Not loopback without --allow-remote: refused, saying why.
    let run = env.run(&args(&["--listen", "0.0.0.0:0"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);
    // --allow-remote without a client secret: refused.
    let run = env.run(&args(&["--listen", "0.0.0.0:0", "--allow-remote"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--client-token-file"), "{}", run.stderr);
    // A secret file others can read: refused.
    let file = env.home().join("proxy-client.token");
    std::fs::write(&file, "s3cret-for-the-proxy-clients-0123456789\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = file.to_str().expect("utf-8 path");
    let run = env.run(&[&base[..], &["--client-token-file", path]].concat());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // With the secret: a request without it is refused, with it forwarded with the real token.
    let proxy = Proxy::start_with(
        &env,
        &issuer,
        &["--upstream", &issuer, "--client-token-file", path],
        &[("TOKENWARDEN_AGENT", "0")],
    );
    let before = mock.server.stats().resource_requests.unauthorized;
    let rt = runtime();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("{}/v1/messages", proxy.url);
        let resp = c.get(&url).send().await.expect("answers");
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["kind"], "usage", "{body}");
        let resp = c
            .get(&url)
            .bearer_auth("not-the-secret")
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 401);
        let resp = c
            .get(&url)
            .bearer_auth("s3cret-for-the-proxy-clients-0123456789")
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200, "the client's secret reached the API");
    });
    assert_eq!(
        mock.server.stats().resource_requests.unauthorized,
        before,
        "a request without the client secret reached the API"
    );
    assert_eq!(proxy.stop(), 0);
}

#[test]
fn sigterm_lets_a_stream_in_flight_finish() {
    let mock = crate::sessions::mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock, "");
    let proxy = Proxy::start(&env, &mock.issuer(), &[("TOKENWARDEN_AGENT", "0")]);
    let rt = runtime();
    let events = rt.block_on(async {
        let mut resp = reqwest::get(format!("{}/v1/stream?chunks=4&interval_ms=300", proxy.url))
            .await
            .expect("the stream answers");
        assert_eq!(resp.status(), 200);
        let mut text = String::new();
        let first = tokio::time::timeout(DEADLINE, resp.chunk())
            .await
            .expect("the first event")
            .expect("reads")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&first));
        // The proxy is told to stop while the stream is open.
        proxy.terminate();
        while let Some(chunk) = tokio::time::timeout(DEADLINE, resp.chunk())
            .await
            .expect("the stream stalled after SIGTERM")
            .expect("the stream was cut off by SIGTERM")
        {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text.lines().filter(|l| l.starts_with("data:")).count()
    });
    assert_eq!(events, 4, "the stream in flight did not finish");
    assert_eq!(proxy.wait(), 0, "the proxy did not exit cleanly");
}

#[test]
fn an_open_breaker_gives_a_503_with_retry_after_and_a_valid_token_goes_on() {
    let mock = crate::sessions::mock(Duration::from_secs(2), Duration::ZERO);
    let env = logged_in(
        &mock,
        "retry_base_delay = \"5ms\"\nretry_max_delay = \"20ms\"\nmax_attempts = 2\n\
         breaker_threshold = 1\nbreaker_cooldown = \"1h\"\n",
    );
    let proxy = Proxy::start(&env, &mock.issuer(), &[("TOKENWARDEN_AGENT", "0")]);
    let rt = runtime();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("{}/v1/messages", proxy.url);
        assert_eq!(c.get(&url).send().await.expect("answers").status(), 200);
        mock.server
            .set_faults(
                mockauth::FaultPlan::default()
                    .with(mockauth::Endpoint::Token, mockauth::FaultSpec::status(500)),
            )
            .expect("faults");
        // The provider fails: while the token is valid requests go on (degraded); once it has
        // expired the client gets a 503 that says why and when to come back.
        let faults_before = mock.server.stats().faults_injected;
        let mut degraded = 0;
        let deadline = Instant::now() + DEADLINE;
        let resp = loop {
            let failed_refreshes = mock.server.stats().faults_injected - faults_before;
            let resp = c.get(&url).send().await.expect("answers");
            match resp.status().as_u16() {
                // Served after a refresh had failed: degraded.
                200 if failed_refreshes > 0 => degraded += 1,
                200 => {}
                503 if resp.headers().contains_key("retry-after") => break resp,
                503 => {}
                other => panic!("the proxy answered {other} while the provider failed"),
            }
            assert!(Instant::now() < deadline, "no 503 with Retry-After");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            degraded > 0,
            "no request went on with the still-valid token while the provider failed"
        );
        let after: u64 = resp.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("Retry-After in seconds");
        assert!(after > 60, "Retry-After {after} s for a breaker open 1 h");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["kind"], "provider_unavailable", "{body}");
        assert!(body["error"]["retry_at"].is_string(), "{body}");
    });
}

#[test]
fn a_chunked_upload_larger_than_the_replay_bound_streams_through_whole() {
    use std::io::{Read as _, Write as _};
    let mock = crate::sessions::mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock, "");
    let proxy = Proxy::start(&env, &mock.issuer(), &[("TOKENWARDEN_AGENT", "0")]);
    // A raw HTTP/1.1 client: a chunked upload (no Content-Length) of 40 chunks of 64 KiB,
    // 2.5 MiB in all, more than the 1 MiB the proxy may hold for a retry.
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connects");
    conn.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(
        conn,
        "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .expect("writes the head");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        write!(conn, "{:x}\r\n", chunk.len()).expect("writes");
        conn.write_all(&chunk).expect("writes");
        conn.write_all(b"\r\n").expect("writes");
    }
    conn.write_all(b"0\r\n\r\n").expect("writes the end");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("reads the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"received_bytes\":{}", 40 * 64 * 1024)),
        "the upstream did not receive the whole upload: {answer}"
    );
}

#[test]
fn the_upstream_defaults_to_the_origin_of_the_profiles_resource() {
    let mock = crate::sessions::mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock, "");
    // The profile's resource is {issuer}/v1/messages; the upstream is its origin.
    let origin = mock.server.url("/");
    let proxy = Proxy::start_with(&env, &origin, &[], &[("TOKENWARDEN_AGENT", "0")]);
    let rt = runtime();
    rt.block_on(async {
        let resp = reqwest::get(format!("{}/v1/messages", proxy.url))
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200);
    });
}

#[test]
fn an_upstream_the_token_may_not_reach_is_refused_before_listening() {
    let mock = crate::sessions::mock(Duration::from_secs(60), Duration::ZERO);
    let env = logged_in(&mock, "");
    // Plain http to a host that is not loopback: the token would cross the network in clear.
    let run = env.run(&[
        "--profile",
        P,
        "proxy",
        "--upstream",
        "http://api.example.invalid",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("plain http"), "{}", run.stderr);
    // Not an http(s) upstream at all.
    let run = env.run(&["--profile", P, "proxy", "--upstream", "ftp://127.0.0.1/"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("ftp"), "{}", run.stderr);
}

#[test]
fn a_second_401_goes_to_the_client_as_it_came_and_the_log_names_it() {
    for with_agent in [false, true] {
        let mock = crate::sessions::mock(Duration::from_secs(3600), Duration::ZERO);
        let env = logged_in(&mock, "");
        let agent = with_agent.then(|| Agent::start(&env, &[]));
        let vars: &[(&str, &str)] = if with_agent {
            &[WRONG_KEY]
        } else {
            &[("TOKENWARDEN_AGENT", "0")]
        };
        let proxy = Proxy::start(&env, &mock.issuer(), vars);
        // The API rejects every token, even a fresh one.
        mock.server
            .set_faults(mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Resource,
                mockauth::FaultSpec::raw(
                    401,
                    "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"}}",
                ),
            ))
            .expect("faults");
        let before = mock.server.stats();
        let rt = runtime();
        let (status, body) = rt.block_on(async {
            let resp = reqwest::Client::new()
                .post(format!("{}/v1/messages", proxy.url))
                .body("{\"q\":1}")
                .send()
                .await
                .expect("answers");
            (resp.status(), resp.text().await.unwrap_or_default())
        });
        let after = mock.server.stats();
        assert_eq!(status, 401, "agent: {with_agent}: {body}");
        assert!(
            body.contains("authentication_error"),
            "agent: {with_agent}: the 401 was not the upstream's own: {body}"
        );
        assert_eq!(
            after.faults_injected - before.faults_injected,
            2,
            "agent: {with_agent}: one request and one retry, no loop"
        );
        assert_eq!(
            after.token_requests.refresh_token - before.token_requests.refresh_token,
            1,
            "agent: {with_agent}: one refresh between them"
        );
        let events = env.run(&["--profile", P, "events", "--json"]);
        events.code(0);
        assert!(
            events.stdout.contains("\"session_rejected\""),
            "agent: {with_agent}: the event log does not name the rejected session: {}",
            events.stdout
        );
        drop(proxy);
        drop(agent);
    }
}
