//! Revocation (RFC 7009) and introspection (RFC 7662).

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Env, auto, error_of, start};

async fn revoke(env: &Env, form: &[(&str, &str)]) -> StatusCode {
    env.http
        .post(env.url("/revoke"))
        .form(form)
        .send()
        .await
        .expect("revoke")
        .status()
}

async fn introspect(env: &Env, token: &str) -> Value {
    env.post_basic("/introspect", "svc", "svc-secret", &[("token", token)])
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_refresh_token() {
    let env = start(auto()).await;
    let t = env.login().await;
    let status = revoke(
        &env,
        &[
            ("token", &t.access),
            ("client_id", "cli"),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.resource(&t.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.refresh(&t.refresh).await.0, StatusCode::OK);
    assert_eq!(env.server.stats().revocations.revoked, 1);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let env = start(auto()).await;
    let t = env.login().await;
    // A wrong hint is only a hint: the token is still found.
    let status = revoke(
        &env,
        &[
            ("token", &t.refresh),
            ("client_id", "cli"),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.resource(&t.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&env.refresh(&t.refresh).await.1), "invalid_grant");
}

#[tokio::test]
async fn unknown_tokens_answer_200_and_bad_requests_do_not() {
    let env = start(auto()).await;
    assert_eq!(
        revoke(&env, &[("token", "nonsense"), ("client_id", "cli")]).await,
        StatusCode::OK
    );
    assert_eq!(
        revoke(&env, &[("client_id", "cli")]).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        revoke(&env, &[("token", "x"), ("client_id", "svc")]).await,
        StatusCode::BAD_REQUEST
    );
    let stats = env.server.stats();
    assert_eq!((stats.revocations.total, stats.revocations.revoked), (1, 0));
}

#[tokio::test]
async fn another_clients_token_cannot_be_revoked() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = env
        .post_basic("/revoke", "svc", "svc-secret", &[("token", &t.access)])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(env.resource(&t.access).await, StatusCode::OK);
}

#[tokio::test]
async fn introspection_reports_live_and_dead_tokens() {
    let env = start(auto()).await;
    let t = env.login().await;
    let v = introspect(&env, &t.access).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], "cli");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "openid offline_access");
    assert!(v["exp"].as_i64().unwrap_or(0) > v["iat"].as_i64().unwrap_or(i64::MAX));
    let v = introspect(&env, &t.refresh).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(
        introspect(&env, "nonsense").await,
        serde_json::json!({"active": false})
    );
    env.server.revoke_all();
    assert_eq!(introspect(&env, &t.access).await["active"], false);
    // A public client may introspect by client_id; a confidential one must authenticate.
    let v: Value = env
        .http
        .post(env.url("/introspect"))
        .form(&[("token", t.refresh.as_str()), ("client_id", "cli")])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(v["active"], true);
    let (status, v) = {
        let resp = env
            .http
            .post(env.url("/introspect"))
            .form(&[("token", t.refresh.as_str()), ("client_id", "svc")])
            .send()
            .await
            .expect("introspect");
        (resp.status(), resp.json::<Value>().await.expect("json"))
    };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&v), "invalid_client");
}
