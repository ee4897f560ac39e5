//! Provider look-alike options: a required API header, the bare 403 for a dead token,
//! revocation of the previous access token on refresh, `refresh_token_expires_in`, the token
//! endpoint's User-Agent filter, and strict RFC 8707 resource indicators.

use std::time::Duration;

use mockauth::{ClientConfig, Config, DeadTokenStatus, TokenRequestFormat};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{REDIRECT, auto, error_of, location_params, pkce, start, tokens};

#[tokio::test]
async fn a_required_header_is_named_in_a_400() {
    let env = start(Config {
        required_resource_headers: vec!["anthropic-beta: oauth-2025-04-20".parse().expect("h")],
        ..auto()
    })
    .await;
    let t = env.login().await;
    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&json), "invalid_request");
    let why = json["error_description"].as_str().unwrap_or("");
    assert!(why.contains("anthropic-beta"), "{why}");
    assert!(why.contains("oauth-2025-04-20"), "{why}");

    let with = |value: &'static str| {
        env.http
            .post(env.url("/v1/messages"))
            .bearer_auth(&t.access)
            .header("anthropic-beta", value)
            .send()
    };
    assert_eq!(
        with("oauth-2025-04-20").await.expect("request").status(),
        StatusCode::OK
    );
    assert_eq!(
        with("tools-1, oauth-2025-04-20")
            .await
            .expect("request")
            .status(),
        StatusCode::OK,
        "one item of a list"
    );
    assert_eq!(
        with("oauth-2025-04-21").await.expect("request").status(),
        StatusCode::BAD_REQUEST
    );
    let stats = env.server.stats();
    assert_eq!(
        (
            stats.resource_requests.ok,
            stats.resource_requests.bad_request
        ),
        (2, 2)
    );
    // Userinfo is not the API: no header needed.
    let resp = env
        .http
        .get(env.url("/userinfo"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_dead_token_can_get_a_bare_403() {
    let env = start(Config {
        dead_token_status: DeadTokenStatus::Forbidden,
        ..auto()
    })
    .await;
    let t = env.login().await;
    assert_eq!(env.resource(&t.access).await, StatusCode::OK);
    env.server.revoke_all();
    for token in [t.access.as_str(), "mat_unknown"] {
        let resp = env
            .http
            .get(env.url("/v1/messages"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.headers().get("www-authenticate").is_none(), "bare");
        let json: Value = resp.json().await.expect("a JSON body");
        assert_eq!(json["error"]["type"], "permission_error", "{json}");
    }
    // An expired token is dead too.
    let t = env.login().await;
    env.server.advance_clock(Duration::from_secs(3601));
    assert_eq!(env.resource(&t.access).await, StatusCode::FORBIDDEN);
    // No token at all is still the RFC 6750 challenge.
    let resp = env
        .http
        .get(env.url("/v1/messages"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn refresh_can_kill_the_previous_access_token() {
    let env = start(Config {
        revoke_previous_on_refresh: true,
        reuse_grace: Duration::from_secs(30),
        ..auto()
    })
    .await;
    let other = env.login().await;
    let t1 = env.login().await;
    let t2 = tokens(env.refresh(&t1.refresh).await.1);
    assert_eq!(env.resource(&t1.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.resource(&t2.access).await, StatusCode::OK);
    // Within the grace the old refresh token yields the same successor, and a new access
    // token that again kills the one before.
    let t2b = tokens(env.refresh(&t1.refresh).await.1);
    assert_eq!(t2b.refresh, t2.refresh);
    assert_eq!(env.resource(&t2.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.resource(&t2b.access).await, StatusCode::OK);
    assert_eq!(
        env.resource(&other.access).await,
        StatusCode::OK,
        "other grants are untouched"
    );

    // Off (the default), the old access token lives on: see refresh.rs.
}

#[tokio::test]
async fn refresh_token_expires_in_comes_with_every_refresh_token() {
    let env = start(Config {
        refresh_ttl: Duration::from_secs(2 * 24 * 3600),
        reuse_grace: Duration::from_secs(60),
        ..auto()
    })
    .await;
    let t1 = env.login().await;
    assert_eq!(t1.json["refresh_token_expires_in"], 2 * 24 * 3600);
    env.server.advance_clock(Duration::from_secs(10));
    let (_, json) = env.refresh(&t1.refresh).await;
    assert_eq!(json["refresh_token_expires_in"], 2 * 24 * 3600, "{json}");
    // Within the grace the same successor comes back, with what it has left.
    env.server.advance_clock(Duration::from_secs(20));
    let (_, again) = env.refresh(&t1.refresh).await;
    assert_eq!(again["refresh_token"], json["refresh_token"]);
    assert_eq!(again["refresh_token_expires_in"], 2 * 24 * 3600 - 20);
    // No refresh token, no field.
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
    assert!(cc.get("refresh_token_expires_in").is_none(), "{cc}");
}

#[tokio::test]
async fn the_token_endpoint_can_refuse_user_agents() {
    let env = start(
        Config {
            blocked_user_agents: vec!["python-requests/*".into(), "*axios*".into()],
            ..auto()
        }
        .with_client(
            ClientConfig::public("anthropic", &["http://127.0.0.1/callback"])
                .with_token_request_format(TokenRequestFormat::Json),
        ),
    )
    .await;
    let body =
        json!({"grant_type": "refresh_token", "refresh_token": "mrt_x", "client_id": "anthropic"});
    for agent in ["python-requests/2.31.0", "node axios/1.7.2"] {
        let resp = env
            .http
            .post(env.url("/token"))
            .header("user-agent", agent)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{agent}");
        let json: Value = resp.json().await.expect("json");
        assert_eq!(error_of(&json), "rate_limited");
    }
    let resp = env
        .http
        .post(env.url("/token"))
        .header("user-agent", "tokenwarden/0.1")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "through the filter");
    let json: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&json), "invalid_grant");
    let stats = env.server.stats();
    assert_eq!(stats.token_errors.get("rate_limited"), Some(&2));
    assert_eq!(stats.token_requests.refresh_token, 3, "refused ones count");
}

const API: &str = "https://api.example.test/";

#[tokio::test]
async fn strict_resource_indicators() {
    let env = start(Config {
        resource_indicators: vec![API.into(), "https://other.example.test/".into()],
        ..auto()
    })
    .await;
    // At /authorize: missing and unknown are error redirects.
    let (_, challenge) = pkce();
    for resource in ["", "https://unknown.example.test/"] {
        let resp = env.authorize(&challenge, &[("resource", resource)]).await;
        assert!(resp.status().is_redirection());
        let q = location_params(&resp);
        assert_eq!(q["error"], "invalid_target", "{resource:?}");
        assert_eq!(q["state"], "st-1");
    }
    // A known one works; the exchange must name it too.
    let (code, verifier) = env.code(&[("resource", API)]).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "cli"),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, json) = env.token(&base).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_target");
    let mut with_other = base.to_vec();
    with_other.push(("resource", "https://other.example.test/"));
    let (_, json) = env.token(&with_other).await;
    assert_eq!(
        error_of(&json),
        "invalid_target",
        "known, but not authorized"
    );
    let mut with_api = base.to_vec();
    with_api.push(("resource", API));
    let (status, json) = env.token(&with_api).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the code survived the refusals: {json}"
    );
    let t = tokens(json);
    // Refresh: the same rules.
    let (status, json) = env.refresh(&t.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_target");
    let (status, json) = env
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t.refresh),
            ("client_id", "cli"),
            ("resource", API),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let doc: Value = env
        .get("/.well-known/oauth-authorization-server", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["resource_indicators_supported"], true);
}
