//! The bearer-protected resource and userinfo.

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{auto, error_of, start};

#[tokio::test]
async fn resource_answers_200_for_a_valid_token_and_401_otherwise() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = env
        .http
        .post(env.url("/v1/messages"))
        .bearer_auth(&t.access)
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(json["client_id"], "cli");
    assert_eq!(json["method"], "POST");

    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"mockauth\""
    );

    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .bearer_auth("mat_forged")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let json: Value = resp.json().await.expect("json body");
    assert_eq!(error_of(&json), "invalid_token");

    // A refresh token is not an access token.
    assert_eq!(env.resource(&t.refresh).await, StatusCode::UNAUTHORIZED);
    let stats = env.server.stats();
    assert_eq!(
        (
            stats.resource_requests.ok,
            stats.resource_requests.unauthorized
        ),
        (1, 3)
    );
}

#[tokio::test]
async fn userinfo_needs_the_openid_scope() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = env
        .http
        .get(env.url("/userinfo"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["sub"],
        "mock-user"
    );

    let (code, verifier) = env.code(&[("scope", "offline_access")]).await;
    let access = env.exchange(&code, &verifier).await.1["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let resp = env
        .http
        .get(env.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
