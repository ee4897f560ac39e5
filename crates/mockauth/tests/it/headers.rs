//! What every response carries: a unique X-Request-Id and a Date; body limits; 404s.

use std::collections::HashSet;

use mockauth::{Endpoint, FaultPlan, FaultSpec};
use reqwest::{Method, StatusCode};

use crate::util::{auto, start};

#[tokio::test]
async fn every_response_has_a_unique_request_id_and_a_date() {
    let env = start(auto()).await;
    env.server
        .set_faults(FaultPlan::default().with(Endpoint::Revoke, FaultSpec::status(503)))
        .expect("plan");
    let requests: Vec<(Method, &str)> = vec![
        (Method::GET, "/.well-known/oauth-authorization-server"),
        (Method::GET, "/jwks"),
        (Method::GET, "/authorize"),
        (Method::POST, "/token"),
        (Method::GET, "/token"),
        (Method::POST, "/revoke"),
        (Method::GET, "/v1/messages"),
        (Method::GET, "/nowhere"),
        (Method::GET, "/admin/stats"),
        (Method::GET, "/device"),
        (Method::GET, "/.well-known/oauth-authorization-server"),
    ];
    let mut seen = HashSet::new();
    for (method, path) in requests {
        let resp = env
            .http
            .request(method.clone(), env.url(path))
            .send()
            .await
            .expect("request");
        let id = resp
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id on {method} {path}"))
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(seen.insert(id.clone()), "duplicate id {id}");
        let dates = resp.headers().get_all("date").iter().count();
        assert_eq!(dates, 1, "one Date on {method} {path}");
    }
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let env = start(auto()).await;
    let resp = env
        .http
        .get(env.url("/nowhere"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let json: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(json["error"], "not_found");
}

#[tokio::test]
async fn oversized_bodies_are_refused_not_buffered() {
    let env = start(auto()).await;
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(100 * 1024)
    );
    let resp = env
        .http
        .post(env.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(json["error"], "invalid_request");
}

#[tokio::test]
async fn malformed_requests_get_oauth_errors_not_crashes() {
    let env = start(auto()).await;
    let bodies: [(&str, &[u8]); 5] = [
        ("application/json", b"{not json"),
        ("application/json", b"[1,2]"),
        ("application/json", b"{\"grant_type\": {\"x\": 1}}"),
        ("application/x-www-form-urlencoded", b"%%%&&&==\xff\xfe"),
        ("text/plain", b"hello"),
    ];
    for (ct, body) in bodies {
        let resp = env
            .http
            .post(env.url("/token"))
            .header("content-type", ct)
            .body(body.to_vec())
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_client_error(), "{ct}: {}", resp.status());
        let json: serde_json::Value = resp.json().await.expect("json error");
        assert!(json["error"].is_string(), "{json}");
    }
    // The server is still fine.
    let t = env.login().await;
    assert_eq!(env.resource(&t.access).await, StatusCode::OK);
}
