//! Fault injection: every body kind, count, seeded rate, Retry-After, latency, clock skew,
//! lost responses, the admin API and the config file.

use std::time::{Duration, Instant, SystemTime};

use mockauth::{Config, Endpoint, FaultBody, FaultPlan, FaultSpec, HUGE_BODY_BYTES};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::{Env, auto, error_of, start, tokens};

async fn cc(env: &Env) -> reqwest::Response {
    env.post_basic(
        "/token",
        "svc",
        "svc-secret",
        &[("grant_type", "client_credentials")],
    )
    .await
}

fn token_fault(spec: FaultSpec) -> FaultPlan {
    FaultPlan::default().with(Endpoint::Token, spec)
}

#[tokio::test]
async fn status_with_each_body_kind() {
    let env = start(auto()).await;

    env.server
        .set_faults(token_fault(FaultSpec::status(500)))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(resp.headers()["x-mockauth-fault"], "token");
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "server_error"
    );

    env.server
        .set_faults(token_fault(
            FaultSpec::status(500).oauth_error("invalid_grant"),
        ))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "invalid_grant"
    );

    env.server
        .set_faults(token_fault(FaultSpec::status(502).body(FaultBody::Html)))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(resp.text().await.expect("body").contains("<html>"));

    env.server
        .set_faults(token_fault(FaultSpec::status(504).body(FaultBody::Empty)))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(resp.bytes().await.expect("body").is_empty());

    env.server
        .set_faults(token_fault(
            FaultSpec::status(200).body(FaultBody::MalformedJson),
        ))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    env.server
        .set_faults(token_fault(FaultSpec::status(500).body(FaultBody::Huge)))
        .expect("plan");
    let body = cc(&env).await.bytes().await.expect("body");
    assert!(
        body.len() > 2 * 1024 * 1024 && body.len() >= HUGE_BODY_BYTES,
        "{}",
        body.len()
    );

    let stats = env.server.stats();
    assert_eq!(stats.faults_injected, 6);
    assert_eq!(
        stats.token_requests.client_credentials, 6,
        "faulted requests count"
    );
    assert_eq!(
        stats.token_errors.get("server_error"),
        Some(&2),
        "{:?}",
        stats.token_errors
    );
    assert_eq!(stats.token_errors.get("502"), Some(&1));
}

#[tokio::test]
async fn default_error_codes_follow_the_status() {
    let env = start(auto()).await;
    for (status, code) in [
        (503, "temporarily_unavailable"),
        (429, "temporarily_unavailable"),
        (400, "invalid_request"),
        (401, "invalid_client"),
    ] {
        env.server
            .set_faults(token_fault(FaultSpec::status(status)))
            .expect("plan");
        let resp = cc(&env).await;
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(
            error_of(&resp.json::<Value>().await.expect("json")),
            code,
            "{status}"
        );
    }
    env.server.clear_faults();
    let t = env.login().await;
    env.server
        .set_faults(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)))
        .expect("plan");
    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap_or("")
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn count_faults_only_the_next_n_requests() {
    let env = start(auto()).await;
    env.server
        .set_faults(token_fault(FaultSpec::status(503).count(2)))
        .expect("plan");
    assert_eq!(cc(&env).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(env.server.faults().token.and_then(|s| s.count), Some(1));
    assert_eq!(cc(&env).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(cc(&env).await.status(), StatusCode::OK);
    assert!(
        env.server.faults().token.is_none(),
        "spent faults leave the plan"
    );
}

#[tokio::test]
async fn rate_with_a_seed_is_deterministic() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let env = start(auto()).await;
        env.server
            .set_faults(token_fault(FaultSpec::status(500).rate(0.5, seed)))
            .expect("plan");
        let mut out = Vec::new();
        for _ in 0..24 {
            out.push(cc(&env).await.status() == StatusCode::INTERNAL_SERVER_ERROR);
        }
        out
    }
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    let hits = a.iter().filter(|b| **b).count();
    assert!((3..=21).contains(&hits), "rate 0.5 hit {hits} of 24");
}

#[tokio::test]
async fn retry_after_header() {
    let env = start(auto()).await;
    env.server
        .set_faults(token_fault(FaultSpec::status(429).retry_after(7)))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "7");
}

#[tokio::test]
async fn latency_alone_delays_then_answers_normally() {
    let env = start(auto()).await;
    let latency = Duration::from_millis(300);
    env.server
        .set_faults(token_fault(FaultSpec::default().latency(latency).count(1)))
        .expect("plan");
    let started = Instant::now();
    let resp = cc(&env).await;
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.json::<Value>().await.expect("json")["access_token"].is_string());
}

#[tokio::test]
async fn clock_skew_moves_the_date_header_and_id_token_times() {
    let env = start(auto()).await;
    env.server
        .set_faults(FaultPlan::default().with_clock_skew(-3600))
        .expect("plan");
    let resp = env.get("/jwks", &[]).await;
    let date =
        httpdate::parse_http_date(resp.headers()["date"].to_str().expect("ascii")).expect("date");
    let behind = SystemTime::now()
        .duration_since(date)
        .expect("date is in the past");
    assert!(
        behind >= Duration::from_secs(3590) && behind <= Duration::from_secs(3610),
        "{behind:?}"
    );

    let t = env.login().await;
    let id = t.json["id_token"].as_str().expect("id_token");
    let payload = id.split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("claims");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("now")
        .as_secs() as i64;
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((now - 3600 - iat).abs() <= 10, "iat {iat}, now {now}");
}

#[tokio::test]
async fn processed_faults_lose_the_response_after_the_work_is_done() {
    let env = start(auto()).await;
    let t1 = env.login().await;
    env.server
        .set_faults(token_fault(
            FaultSpec::status(502)
                .body(FaultBody::Html)
                .count(1)
                .processed(),
        ))
        .expect("plan");
    // The server rotates the refresh token, but the client only sees a 502…
    let (status, _) = env.refresh(&t1.refresh).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    // …so its retry with the old token is reuse, and the session is gone.
    let (_, json) = env.refresh(&t1.refresh).await;
    assert_eq!(error_of(&json), "invalid_grant");
    assert_eq!(env.server.stats().refresh_reuse_detected, 1);
}

#[tokio::test]
async fn unprocessed_faults_leave_state_alone() {
    let env = start(auto()).await;
    let t1 = env.login().await;
    env.server
        .set_faults(token_fault(FaultSpec::status(503).count(1)))
        .expect("plan");
    assert_eq!(
        env.refresh(&t1.refresh).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, json) = env.refresh(&t1.refresh).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    tokens(json);
}

#[tokio::test]
async fn the_admin_api_merges_shows_and_clears_faults() {
    let env = start(auto()).await;
    let resp = env
        .admin(
            Method::POST,
            "/faults",
            Some(json!({"token": {"status": 500, "count": 1, "body": "html"}})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env
        .admin(
            Method::POST,
            "/faults",
            Some(json!({"resource": {"status": 401}, "clock_skew_s": 30})),
        )
        .await;
    let plan: Value = resp.json().await.expect("json");
    assert_eq!(plan["token"]["status"], 500, "kept: {plan}");
    assert_eq!(plan["resource"]["status"], 401);
    assert_eq!(plan["clock_skew_s"], 30);
    let shown: Value = env
        .admin(Method::GET, "/faults", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown, plan);

    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.text().await.expect("body").contains("<html"));

    let resp = env.admin(Method::DELETE, "/faults/resource", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(env.server.faults().resource.is_none());
    let resp = env.admin(Method::DELETE, "/faults", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(env.server.faults(), FaultPlan::default());

    for bad in [
        json!({"tokn": {"status": 500}}),
        json!({"token": {"status": 500, "bodyy": "html"}}),
        json!({"token": {"status": 99}}),
        json!({"token": {"status": 500, "rate": 2.0}}),
        json!({"token": {"body": "html"}}),
    ] {
        let resp = env.admin(Method::POST, "/faults", Some(bad.clone())).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn faults_from_the_config_file() {
    let cfg = Config::from_toml(
        r#"
auto_approve = true
[faults]
clock_skew_s = 120
[faults.token]
status = 503
count = 1
retry_after = 2
[faults.device]
status = 500
body = "empty"
"#,
    )
    .expect("config");
    let env = start(cfg).await;
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(cc(&env).await.status(), StatusCode::OK);
    let resp = env
        .http
        .post(env.url("/device_authorization"))
        .form(&[("client_id", "cli")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn every_endpoint_can_be_faulted() {
    let env = start(auto()).await;
    let plan = [
        Endpoint::Discovery,
        Endpoint::Authorize,
        Endpoint::Device,
        Endpoint::Revoke,
        Endpoint::Introspect,
        Endpoint::Jwks,
        Endpoint::Userinfo,
        Endpoint::Resource,
    ]
    .into_iter()
    .fold(FaultPlan::default(), |p, e| {
        p.with(e, FaultSpec::status(418))
    });
    env.server.set_faults(plan).expect("plan");
    for (method, path) in [
        (Method::GET, "/.well-known/openid-configuration"),
        (Method::GET, "/authorize"),
        (Method::POST, "/device_authorization"),
        (Method::POST, "/revoke"),
        (Method::POST, "/introspect"),
        (Method::GET, "/jwks"),
        (Method::GET, "/userinfo"),
        (Method::GET, "/v1/messages"),
    ] {
        let resp = env
            .http
            .request(method, env.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 418, "{path}");
    }
    // Not faulted: the token endpoint and the admin API.
    assert_eq!(cc(&env).await.status(), StatusCode::OK);
    assert_eq!(
        env.admin(Method::GET, "/stats", None).await.status(),
        StatusCode::OK
    );
}
