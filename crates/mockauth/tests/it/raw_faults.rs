//! Raw-response faults: any body byte for byte, its content type, extra headers, absurd
//! `Retry-After` values, and the admin API refusing headers that are not valid HTTP.

use mockauth::{Endpoint, FaultPlan, FaultSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::{Env, auto, start};

async fn cc(env: &Env) -> reqwest::Response {
    env.post_basic(
        "/token",
        "svc",
        "svc-secret",
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn post_fault(env: &Env, plan: Value) -> reqwest::Response {
    env.admin(Method::POST, "/faults", Some(plan)).await
}

#[tokio::test]
async fn a_raw_body_is_sent_byte_for_byte_as_json_by_default() {
    let env = start(auto()).await;
    // The task's example, as a client of the admin API writes it.
    let plan: Value = serde_json::from_str(
        r#"{"token":{"status":200,"body":"raw","raw_body":"{\"access_token\":\"a\\r\\nb\",\"token_type\":\"Bearer\",\"expires_in\":60}","count":1}}"#,
    )
    .expect("example parses");
    let resp = post_fault(&env, plan).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-mockauth-fault"], "token");
    let body = resp.bytes().await.expect("body");
    assert_eq!(
        &body[..],
        br#"{"access_token":"a\r\nb","token_type":"Bearer","expires_in":60}"#
    );
    let parsed: Value = serde_json::from_slice(&body).expect("valid JSON");
    assert_eq!(parsed["access_token"], "a\r\nb", "CR LF inside the token");

    // count 1: the next answer is real again.
    assert!(cc(&env).await.json::<Value>().await.expect("json")["access_token"].is_string());
}

#[tokio::test]
async fn raw_bodies_keep_every_byte_and_take_a_content_type() {
    let env = start(auto()).await;
    // Raw control bytes inside a JSON string: not even valid JSON, sent as they are.
    let text = "{\"error\":\"invalid_request\",\"error_description\":\"x\u{1b}]0;owned\u{7}\u{1b}[2Jhint\"}";
    env.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::raw(400, text).count(1)))
        .expect("plan");
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.text().await.expect("body"), text);
    assert_eq!(env.server.stats().token_errors.get("400"), Some(&1));
    // The same as valid JSON (escaped): it counts by its OAuth `error`.
    let escaped = r#"{"error":"invalid_request","error_description":"x\u001b]0;owned\u0007"}"#;
    env.server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::raw(400, escaped)))
        .expect("plan");
    assert_eq!(cc(&env).await.text().await.expect("body"), escaped);
    assert_eq!(
        env.server.stats().token_errors.get("invalid_request"),
        Some(&1),
        "a raw JSON error counts by its `error`"
    );

    let page = "<!DOCTYPE html><html><head><title>Internal Server Error</title></head><body><h1>Oops</h1></body></html>";
    env.server
        .set_faults(FaultPlan::default().with(
            Endpoint::Discovery,
            FaultSpec::raw(500, page).content_type("text/html; charset=utf-8"),
        ))
        .expect("plan");
    let resp = env.get("/.well-known/openid-configuration", &[]).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.text().await.expect("body"), page);
}

#[tokio::test]
async fn extra_headers_are_sent_and_replace_the_defaults() {
    let env = start(auto()).await;
    let resp = post_fault(
        &env,
        json!({"token": {"status": 429, "count": 1, "headers": {"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT", "X-Request-Id": "req_fixed", "X-Ratelimit-Remaining": "0"}}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = cc(&env).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        resp.headers()["retry-after"],
        "Fri, 31 Dec 1999 23:59:59 GMT"
    );
    assert_eq!(resp.headers()["x-request-id"], "req_fixed");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(resp.headers().get_all("date").iter().count(), 1);

    // A 401 challenge can be replaced too.
    let t = env.login().await;
    env.server
        .set_faults(FaultPlan::default().with(
            Endpoint::Resource,
            FaultSpec::status(401).header(
                "WWW-Authenticate",
                "Bearer error=\"invalid_token\", error_description=\"odd\"",
            ),
        ))
        .expect("plan");
    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"odd\""
    );
}

#[tokio::test]
async fn absurd_retry_after_values_are_sent_as_given() {
    let env = start(auto()).await;
    for secs in ["400000000000", "3000000000", "0", "18446744073709551615"] {
        let plan: Value = serde_json::from_str(&format!(
            r#"{{"token":{{"status":503,"retry_after":{secs},"count":1}}}}"#
        ))
        .expect("json");
        let resp = post_fault(&env, plan).await;
        assert_eq!(resp.status(), StatusCode::OK, "{secs}");
        let resp = cc(&env).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()["retry-after"], secs);
    }
    // Out of range for the key is a clear 400, not a crash.
    let resp = post_fault(&env, json!({"token": {"status": 503, "retry_after": -1}})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(cc(&env).await.status(), StatusCode::OK, "still serving");
}

#[tokio::test]
async fn the_admin_api_refuses_headers_that_are_not_http() {
    let env = start(auto()).await;
    for (plan, names) in [
        (
            json!({"token": {"status": 500, "headers": {"Bad Name": "x"}}}),
            "Bad Name",
        ),
        (
            json!({"token": {"status": 500, "headers": {"X-Evil": "a\r\nSet-Cookie: x=1"}}}),
            "X-Evil",
        ),
        (
            json!({"token": {"status": 500, "headers": {"Content-Length": "3"}}}),
            "Content-Length",
        ),
        (
            json!({"token": {"status": 200, "body": "raw", "raw_body": "{}", "content_type": "a\nb"}}),
            "content_type",
        ),
        (json!({"token": {"status": 200, "body": "raw"}}), "raw_body"),
        (
            json!({"token": {"latency_ms": 5, "headers": {"X-A": "b"}}}),
            "status",
        ),
    ] {
        let resp = post_fault(&env, plan.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{plan}");
        let json: Value = resp.json().await.expect("json error");
        let why = json["error_description"].as_str().unwrap_or("");
        assert!(why.contains(names), "{plan}: {why}");
        assert!(why.contains("faults.token"), "names the key: {why}");
    }
    assert!(env.server.faults().token.is_none(), "nothing was applied");
}
