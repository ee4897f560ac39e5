//! The device grant (RFC 8628): pending, slow_down, approve, deny, expiry, the HTML page.

use std::time::Duration;

use mockauth::{Config, DEVICE_CODE_GRANT, DeviceDecisionError};
use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Env, error_of, start};

fn config(auto_approve: bool) -> Config {
    Config {
        auto_approve,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

async fn begin(env: &Env) -> Value {
    let resp = env
        .http
        .post(env.url("/device_authorization"))
        .form(&[("client_id", "cli"), ("scope", "openid offline_access")])
        .send()
        .await
        .expect("device authorization");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.expect("json")
}

async fn poll(env: &Env, device_code: &str) -> (StatusCode, Value) {
    env.token(&[
        ("grant_type", DEVICE_CODE_GRANT),
        ("device_code", device_code),
        ("client_id", "cli"),
    ])
    .await
}

fn code(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[tokio::test]
async fn pending_then_approved() {
    let env = start(config(false)).await;
    let d = begin(&env).await;
    assert_eq!(d["interval"], 1);
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["verification_uri"], env.url("/device"));
    let user_code = code(&d, "user_code");
    assert!(code(&d, "verification_uri_complete").contains(&user_code));
    let dc = code(&d, "device_code");

    let (status, json) = poll(&env, &dc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "authorization_pending");

    env.server.approve_device(&user_code).expect("approve");
    env.server.advance_clock(Duration::from_secs(1));
    let (status, json) = poll(&env, &dc).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(json["refresh_token"].is_string() && json["id_token"].is_string());
    let access = code(&json, "access_token");
    assert_eq!(env.resource(&access).await, StatusCode::OK);

    // The device code is spent; the user code cannot be decided again.
    env.server.advance_clock(Duration::from_secs(1));
    assert_eq!(error_of(&poll(&env, &dc).await.1), "invalid_grant");
    assert_eq!(
        env.server.approve_device(&user_code),
        Err(DeviceDecisionError::AlreadyDecided)
    );
    assert_eq!(env.server.stats().device_authorizations, 1);
    assert_eq!(env.server.stats().token_requests.device_code, 3);
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down() {
    let env = start(config(false)).await;
    let dc = code(&begin(&env).await, "device_code");
    assert_eq!(error_of(&poll(&env, &dc).await.1), "authorization_pending");
    let (status, json) = poll(&env, &dc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "slow_down");
    // Each slow_down adds 5 s to the interval for good (1 → 6 → 11 s).
    env.server.advance_clock(Duration::from_secs(1));
    assert_eq!(error_of(&poll(&env, &dc).await.1), "slow_down");
    env.server.advance_clock(Duration::from_secs(11));
    assert_eq!(error_of(&poll(&env, &dc).await.1), "authorization_pending");
}

#[tokio::test]
async fn denied_is_access_denied() {
    let env = start(config(false)).await;
    let d = begin(&env).await;
    env.server
        .deny_device(&code(&d, "user_code"))
        .expect("deny");
    assert_eq!(
        error_of(&poll(&env, &code(&d, "device_code")).await.1),
        "access_denied"
    );
}

#[tokio::test]
async fn expired_is_expired_token() {
    let env = start(config(false)).await;
    let d = begin(&env).await;
    env.server.advance_clock(Duration::from_secs(601));
    assert_eq!(
        error_of(&poll(&env, &code(&d, "device_code")).await.1),
        "expired_token"
    );
    assert_eq!(
        env.server.approve_device(&code(&d, "user_code")),
        Err(DeviceDecisionError::Expired)
    );
    assert_eq!(
        env.server.approve_device("BBBB-BBBB"),
        Err(DeviceDecisionError::Unknown)
    );
}

#[tokio::test]
async fn auto_approve_gives_tokens_at_the_first_poll() {
    let env = start(config(true)).await;
    let d = begin(&env).await;
    let (status, json) = poll(&env, &code(&d, "device_code")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test]
async fn the_verification_page_approves_and_denies() {
    let env = start(config(false)).await;
    let d = begin(&env).await;
    let user_code = code(&d, "user_code");
    let page = env
        .get("/device", &[("user_code", &user_code)])
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("<form method=\"post\" action=\"/device\">"),
        "{page}"
    );
    assert!(page.contains(&user_code));
    // Lower case, no dash: still found.
    let typed = user_code.to_lowercase().replace('-', "");
    let resp = env
        .http
        .post(env.url("/device"))
        .form(&[("user_code", typed.as_str()), ("action", "approve")])
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text()
            .await
            .expect("page")
            .contains("Device connected")
    );
    let (status, _) = poll(&env, &code(&d, "device_code")).await;
    assert_eq!(status, StatusCode::OK);

    let resp = env
        .http
        .post(env.url("/device"))
        .form(&[("user_code", "ZZZZ-ZZZZ"), ("action", "deny")])
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .expect("page")
            .contains("unknown user code")
    );
}

#[tokio::test]
async fn clients_without_the_device_grant_are_refused() {
    let env = start(config(false)).await;
    let resp = env
        .post_basic("/device_authorization", "svc", "svc-secret", &[])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&json), "unauthorized_client");
}
