//! The admin API and its in-process twins: mass revocation, statistics, device decisions,
//! the clock, and the admin switch.

use std::time::Duration;

use mockauth::{Config, DEVICE_CODE_GRANT, Stats};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::{auto, error_of, start, tokens};

#[tokio::test]
async fn revoke_all_kills_access_tokens_but_not_refresh_tokens() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = env.admin(Method::POST, "/revoke-all", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["revoked_access_tokens"],
        1
    );
    assert_eq!(env.resource(&t.access).await, StatusCode::UNAUTHORIZED);
    let t2 = tokens(env.refresh(&t.refresh).await.1);
    assert_eq!(env.resource(&t2.access).await, StatusCode::OK);
}

#[tokio::test]
async fn revoke_sessions_kills_refresh_tokens_too() {
    let env = start(auto()).await;
    let t = env.login().await;
    let resp = env.admin(Method::POST, "/revoke-sessions", None).await;
    assert_eq!(
        resp.json::<Value>().await.expect("json")["revoked_sessions"],
        1
    );
    assert_eq!(env.resource(&t.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&env.refresh(&t.refresh).await.1), "invalid_grant");
    // In process too.
    let t = env.login().await;
    assert_eq!(env.server.revoke_sessions(), 1);
    assert_eq!(error_of(&env.refresh(&t.refresh).await.1), "invalid_grant");
}

#[tokio::test]
async fn stats_count_what_happened_and_reset() {
    let env = start(auto()).await;
    let t = env.login().await;
    let t2 = tokens(env.refresh(&t.refresh).await.1);
    let _ = env.refresh(&t.refresh).await; // reuse
    let _ = env.resource(&t2.access).await; // revoked by the reuse
    let _ = env
        .post_basic(
            "/token",
            "svc",
            "svc-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    let cc = env
        .post_basic(
            "/token",
            "svc",
            "svc-secret",
            &[("grant_type", "client_credentials")],
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let _ = env.resource(cc["access_token"].as_str().expect("at")).await;
    let _ = env
        .http
        .post(env.url("/revoke"))
        .form(&[("token", "unknown"), ("client_id", "cli")])
        .send()
        .await;

    let stats: Stats = env
        .admin(Method::GET, "/stats", None)
        .await
        .json()
        .await
        .expect("stats");
    assert_eq!(stats, env.server.stats(), "HTTP and in-process agree");
    assert_eq!(stats.token_requests.authorization_code, 1);
    assert_eq!(stats.token_requests.refresh_token, 2);
    assert_eq!(stats.token_requests.client_credentials, 2);
    assert_eq!(stats.token_requests.device_code, 0);
    assert_eq!(stats.token_errors.get("invalid_grant"), Some(&1));
    assert_eq!(stats.refresh_reuse_detected, 1);
    assert_eq!(
        (
            stats.resource_requests.ok,
            stats.resource_requests.unauthorized
        ),
        (1, 1)
    );
    assert_eq!((stats.revocations.total, stats.revocations.revoked), (1, 0));
    assert_eq!(stats.authorize_requests, 1);
    assert_eq!(stats.tokens_issued.access, 4);

    // The documented JSON shape.
    let raw: Value = env
        .admin(Method::GET, "/stats", None)
        .await
        .json()
        .await
        .expect("json");
    for key in [
        "token_requests",
        "token_errors",
        "refresh_reuse_detected",
        "faults_injected",
        "resource_requests",
        "revocations",
        "device_authorizations",
        "authorize_requests",
    ] {
        assert!(raw.get(key).is_some(), "{key} in {raw}");
    }

    let resp = env.admin(Method::POST, "/stats/reset", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(env.server.stats(), Stats::default());
}

#[tokio::test]
async fn device_decisions_and_the_clock_over_http() {
    let env = start(Config {
        device_interval: Duration::from_secs(2),
        ..Config::default()
    })
    .await;
    let d: Value = env
        .http
        .post(env.url("/device_authorization"))
        .form(&[("client_id", "cli")])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let user_code = d["user_code"].as_str().expect("user_code");
    let resp = env
        .admin(
            Method::POST,
            "/device/approve",
            Some(json!({"user_code": user_code})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env
        .admin(
            Method::POST,
            "/device/deny",
            Some(json!({"user_code": user_code})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "already decided");
    let resp = env
        .admin(Method::POST, "/clock/advance", Some(json!({"seconds": 2})))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, json) = env
        .token(&[
            ("grant_type", DEVICE_CODE_GRANT),
            (
                "device_code",
                d["device_code"].as_str().expect("device_code"),
            ),
            ("client_id", "cli"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test]
async fn admin_disabled_is_404() {
    let env = start(Config {
        admin: false,
        ..auto()
    })
    .await;
    assert!(env.server.admin_url().is_none());
    for path in ["/admin", "/admin/stats", "/admin/faults"] {
        let resp = env.http.get(env.url(path)).send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let resp = env
        .http
        .post(env.url("/admin/revoke-all"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
