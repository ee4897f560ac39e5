//! Refresh: rotation, reuse detection revoking the family, the grace period, scope narrowing,
//! expiry.

use std::time::Duration;

use mockauth::Config;
use reqwest::StatusCode;

use crate::util::{auto, error_of, start, tokens};

#[tokio::test]
async fn rotation_issues_a_new_refresh_token() {
    let env = start(auto()).await;
    let t1 = env.login().await;
    let (status, json) = env.refresh(&t1.refresh).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let t2 = tokens(json);
    assert_ne!(t2.refresh, t1.refresh);
    assert_ne!(t2.access, t1.access);
    assert_eq!(env.resource(&t2.access).await, StatusCode::OK);
    assert_eq!(
        env.resource(&t1.access).await,
        StatusCode::OK,
        "old access token lives on"
    );
}

#[tokio::test]
async fn reuse_after_rotation_revokes_the_whole_family() {
    let env = start(auto()).await;
    let other = env.login().await;
    let t1 = env.login().await;
    let t2 = tokens(env.refresh(&t1.refresh).await.1);
    let (status, json) = env.refresh(&t1.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_grant");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("reuse")
    );
    // Everything from that login is dead: both access tokens and the successor.
    assert_eq!(env.resource(&t1.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.resource(&t2.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&env.refresh(&t2.refresh).await.1), "invalid_grant");
    // Other logins are untouched.
    assert_eq!(env.resource(&other.access).await, StatusCode::OK);
    assert_eq!(env.refresh(&other.refresh).await.0, StatusCode::OK);
    assert_eq!(env.server.stats().refresh_reuse_detected, 1);
}

#[tokio::test]
async fn within_the_grace_the_old_token_yields_the_same_successor() {
    let env = start(Config {
        reuse_grace: Duration::from_secs(30),
        ..auto()
    })
    .await;
    let t1 = env.login().await;
    let t2 = tokens(env.refresh(&t1.refresh).await.1);
    let (status, json) = env.refresh(&t1.refresh).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let t2b = tokens(json);
    assert_eq!(t2b.refresh, t2.refresh, "same successor");
    assert_eq!(env.resource(&t2b.access).await, StatusCode::OK);
    assert_eq!(env.server.stats().refresh_reuse_detected, 0);
    // After the grace it is reuse.
    env.server.advance_clock(Duration::from_secs(31));
    assert_eq!(error_of(&env.refresh(&t1.refresh).await.1), "invalid_grant");
    assert_eq!(env.server.stats().refresh_reuse_detected, 1);
    assert_eq!(error_of(&env.refresh(&t2.refresh).await.1), "invalid_grant");
}

#[tokio::test]
async fn without_rotation_the_refresh_token_is_kept() {
    let env = start(Config {
        rotate_refresh_tokens: false,
        ..auto()
    })
    .await;
    let t1 = env.login().await;
    for _ in 0..3 {
        let (status, json) = env.refresh(&t1.refresh).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert!(
            json.get("refresh_token").is_none(),
            "nothing new to store: {json}"
        );
    }
    assert_eq!(env.server.stats().refresh_reuse_detected, 0);
}

#[tokio::test]
async fn refresh_scope_may_only_narrow() {
    let env = start(auto()).await;
    let t1 = env.login().await;
    let (status, json) = env
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t1.refresh),
            ("client_id", "cli"),
            ("scope", "openid email"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_scope");
    let (status, json) = env
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t1.refresh),
            ("client_id", "cli"),
            ("scope", "offline_access"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["scope"], "offline_access");
    assert!(json.get("id_token").is_none());
}

#[tokio::test]
async fn refresh_tokens_expire_after_the_refresh_ttl() {
    let env = start(Config {
        refresh_ttl: Duration::from_secs(600),
        ..auto()
    })
    .await;
    let t1 = env.login().await;
    env.server.advance_clock(Duration::from_secs(601));
    let (_, json) = env.refresh(&t1.refresh).await;
    assert_eq!(error_of(&json), "invalid_grant");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );
}

#[tokio::test]
async fn access_tokens_expire_after_the_access_ttl() {
    let env = start(Config {
        access_ttl: Duration::from_secs(60),
        ..auto()
    })
    .await;
    let t1 = env.login().await;
    assert_eq!(t1.json["expires_in"], 60);
    env.server.advance_clock(Duration::from_secs(60));
    assert_eq!(env.resource(&t1.access).await, StatusCode::UNAUTHORIZED);
    let t2 = tokens(env.refresh(&t1.refresh).await.1);
    assert_eq!(env.resource(&t2.access).await, StatusCode::OK);
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let env = start(auto()).await;
    let (status, json) = env.refresh("mrt_nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_grant");
}
