//! The streaming API `/v1/stream`: server-sent events, written as produced, guarded like
//! `/v1/messages`, bounded, and ended by a shutdown.

use std::time::Duration;

use mockauth::{Config, DeadTokenStatus};
use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Env, auto, error_of, start};

/// Long enough for any loaded machine; a stream that is buffered instead of streamed would
/// need minutes (the tests ask for intervals of a minute).
const DEADLINE: Duration = Duration::from_secs(20);

async fn open(env: &Env, token: Option<&str>, query: &[(&str, &str)]) -> reqwest::Response {
    let mut req = env.http.get(env.url("/v1/stream")).query(query);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("stream request")
}

/// The `data:` lines of a complete body.
fn data_lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("JSON data"))
        .collect()
}

#[tokio::test]
async fn sends_n_events_as_server_sent_events() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = open(
        &env,
        Some(&t.access),
        &[("chunks", "4"), ("interval_ms", "0")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let body = resp.text().await.expect("body");
    let events = data_lines(&body);
    assert_eq!(events.len(), 4, "{body}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["index"], i + 1);
        assert_eq!(e["of"], 4);
    }
    assert!(body.ends_with("\n\n"), "each event ends with a blank line");
    assert_eq!(env.server.stats().resource_requests.ok, 1);
}

#[tokio::test]
async fn events_are_written_as_they_are_produced() {
    let env = start(auto()).await;
    let t = env.login().await;
    // Three events a minute apart: the first must arrive long before the last exists.
    let mut resp = open(
        &env,
        Some(&t.access),
        &[("chunks", "3"), ("interval_ms", "60000")],
    )
    .await;
    let first = tokio::time::timeout(DEADLINE, resp.chunk())
        .await
        .expect("the first event arrives before the stream is over")
        .expect("a chunk")
        .expect("not the end");
    let text = String::from_utf8_lossy(&first).into_owned();
    assert_eq!(data_lines(&text).len(), 1, "{text}");
    drop(resp);
    env.server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_shutdown_ends_a_long_stream() {
    let env = start(auto()).await;
    let t = env.login().await;
    let mut resp = open(
        &env,
        Some(&t.access),
        &[("chunks", "1000"), ("interval_ms", "60000")],
    )
    .await;
    let _ = tokio::time::timeout(DEADLINE, resp.chunk())
        .await
        .expect("first event");
    let Env { server, .. } = env;
    tokio::time::timeout(DEADLINE, server.shutdown())
        .await
        .expect("the shutdown does not wait for the stream's 1000 minutes")
        .expect("clean shutdown");
    let rest = tokio::time::timeout(DEADLINE, resp.text())
        .await
        .expect("the body ends");
    let rest = rest.unwrap_or_default();
    assert!(data_lines(&rest).len() < 3, "{rest}");
}

#[tokio::test]
async fn guarded_like_the_api() {
    let env = start(Config {
        dead_token_status: DeadTokenStatus::Forbidden,
        ..auto()
    })
    .await;
    let resp = open(&env, None, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = open(&env, Some("mat_forged"), &[]).await;
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "the dead-token status"
    );
    assert!(resp.headers().get("www-authenticate").is_none());
    let t = env.login().await;
    env.server.revoke_all();
    assert_eq!(
        open(&env, Some(&t.access), &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    let stats = env.server.stats();
    assert_eq!(stats.resource_requests.unauthorized, 3);
}

#[tokio::test]
async fn parameters_are_bounded() {
    let env = start(auto()).await;
    let t = env.login().await;
    for (k, v) in [
        ("chunks", "0"),
        ("chunks", "1001"),
        ("chunks", "x"),
        ("interval_ms", "60001"),
        ("interval_ms", "-1"),
    ] {
        let resp = open(&env, Some(&t.access), &[(k, v)]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{k}={v}");
        let json: Value = resp.json().await.expect("json");
        assert_eq!(error_of(&json), "invalid_request");
        assert!(
            json["error_description"].as_str().unwrap_or("").contains(k),
            "{json}"
        );
    }
    let stats = env.server.stats();
    assert_eq!(
        (
            stats.resource_requests.ok,
            stats.resource_requests.bad_request
        ),
        (0, 5)
    );
}
