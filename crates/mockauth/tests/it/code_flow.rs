//! The authorization code grant with PKCE: the happy path, every refusal, the consent page.

use std::time::Duration;

use mockauth::{CodeReuseRevocation, Config};
use reqwest::StatusCode;

use crate::util::{REDIRECT, auto, error_of, location, location_params, pkce, start};

#[tokio::test]
async fn pkce_flow_end_to_end() {
    let env = start(auto()).await;
    let (verifier, challenge) = pkce();
    let resp = env.authorize(&challenge, &[]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with(REDIRECT), "{}", location(&resp));
    let q = location_params(&resp);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], env.server.issuer(), "RFC 9207 iss");
    let code = &q["code"];

    let resp = env
        .http
        .post(env.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("application/json")
    );
    let json: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(json["scope"], "openid offline_access");
    assert!(json["id_token"].is_string());
    let access = json["access_token"].as_str().expect("access_token");
    assert!(access.len() >= 43, "at least 32 bytes of entropy: {access}");
    assert_eq!(access.split('.').count(), 1, "opaque, not a JWT");
    assert!(json["refresh_token"].is_string());
    assert_eq!(env.resource(access).await, StatusCode::OK);
}

#[tokio::test]
async fn code_reuse_is_invalid_grant_and_revokes_what_it_issued() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[]).await;
    let (status, first) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let tokens = crate::util::tokens(first);
    assert_eq!(env.resource(&tokens.access).await, StatusCode::OK);

    let (status, again) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&again), "invalid_grant");
    assert_eq!(env.resource(&tokens.access).await, StatusCode::UNAUTHORIZED);
    // By default the refresh token survives (a client retrying a lost exchange keeps its session).
    let (status, _) = env.refresh(&tokens.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.server.stats().code_reuse_detected, 1);
}

#[tokio::test]
async fn code_reuse_can_revoke_everything_the_code_issued() {
    let env = start(Config {
        code_reuse_revokes: CodeReuseRevocation::All,
        ..auto()
    })
    .await;
    let (code, verifier) = env.code(&[]).await;
    let tokens = crate::util::tokens(env.exchange(&code, &verifier).await.1);
    assert_eq!(
        error_of(&env.exchange(&code, &verifier).await.1),
        "invalid_grant"
    );
    assert_eq!(env.resource(&tokens.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_of(&env.refresh(&tokens.refresh).await.1),
        "invalid_grant"
    );
}

#[tokio::test]
async fn wrong_or_missing_verifier_is_invalid_grant() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[]).await;
    let (other, _) = pkce();
    let (status, json) = env.exchange(&code, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_grant");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("code_verifier")
    );

    let (_, json) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(error_of(&json), "invalid_grant");
    // A failed attempt does not burn the code.
    let (status, _) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn plain_or_missing_pkce_is_refused_by_redirect() {
    let env = start(auto()).await;
    let (verifier, _) = pkce();
    for extra in [
        vec![
            ("code_challenge", verifier.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge_method", "")],
        vec![("code_challenge", ""), ("code_challenge_method", "")],
    ] {
        let resp = env.authorize(&verifier, &extra).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{extra:?}");
        let q = location_params(&resp);
        assert_eq!(q["error"], "invalid_request", "{extra:?}");
        assert_eq!(q["state"], "st-1");
        assert_eq!(q["iss"], env.server.issuer());
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn trailing_slash_redirect_is_a_400_page_not_a_redirect() {
    let env = start(auto()).await;
    let (_, challenge) = pkce();
    let resp = env
        .authorize(
            &challenge,
            &[("redirect_uri", "http://127.0.0.1/callback/")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let body = resp.text().await.expect("body");
    assert!(body.contains("trailing slash"), "{body}");
}

#[tokio::test]
async fn unknown_client_is_a_400_page() {
    let env = start(auto()).await;
    let (_, challenge) = pkce();
    let resp = env.authorize(&challenge, &[("client_id", "nobody")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("unknown client_id")
    );
}

#[tokio::test]
async fn loopback_ip_any_port_but_not_localhost() {
    let env = start(auto()).await;
    let (_, challenge) = pkce();
    for uri in [
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65535/callback",
        "http://127.0.0.1/callback",
    ] {
        let resp = env.authorize(&challenge, &[("redirect_uri", uri)]).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{uri}");
        assert!(location(&resp).starts_with(uri), "{uri}");
    }
    for uri in [
        "http://localhost:45678/callback",
        "http://localhost/callback",
    ] {
        let resp = env.authorize(&challenge, &[("redirect_uri", uri)]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(resp.text().await.expect("body").contains("localhost"));
    }
}

#[tokio::test]
async fn token_redirect_uri_must_equal_the_authorize_one() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[]).await;
    let (status, json) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:45679/callback"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_grant");
    let (_, json) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "cli"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(error_of(&json), "invalid_request", "missing redirect_uri");
}

#[tokio::test]
async fn codes_expire_after_the_code_ttl() {
    let env = start(auto()).await;
    let (code, verifier) = env.code(&[]).await;
    env.server.advance_clock(Duration::from_secs(61));
    let (status, json) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&json), "invalid_grant");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );

    let env = start(Config {
        code_ttl: Duration::from_secs(5),
        ..auto()
    })
    .await;
    let (code, verifier) = env.code(&[]).await;
    env.server.advance_clock(Duration::from_secs(4));
    assert_eq!(env.exchange(&code, &verifier).await.0, StatusCode::OK);
    let (code, verifier) = env.code(&[]).await;
    env.server.advance_clock(Duration::from_secs(5));
    assert_eq!(
        error_of(&env.exchange(&code, &verifier).await.1),
        "invalid_grant"
    );
}

#[tokio::test]
async fn consent_page_approve_and_deny() {
    let env = start(Config::default()).await;
    for (decision, expect_code) in [("approve", true), ("deny", false)] {
        let (verifier, challenge) = pkce();
        let resp = env.authorize(&challenge, &[("nonce", "n-1")]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let page = resp.text().await.expect("page");
        assert!(page.contains("<form method=\"post\" action=\"/authorize/decision\">"));
        assert!(page.contains("Approve") && page.contains("Deny"));
        let consent = page
            .split("name=\"consent\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("consent id in page")
            .to_owned();
        let resp = env
            .http
            .post(env.url("/authorize/decision"))
            .form(&[("consent", consent.as_str()), ("decision", decision)])
            .send()
            .await
            .expect("decision");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let q = location_params(&resp);
        assert_eq!(q["state"], "st-1");
        assert_eq!(q["iss"], env.server.issuer());
        if expect_code {
            let (status, _) = env.exchange(&q["code"], &verifier).await;
            assert_eq!(status, StatusCode::OK);
        } else {
            assert_eq!(q["error"], "access_denied");
        }
        // A consent can be answered once.
        let again = env
            .http
            .post(env.url("/authorize/decision"))
            .form(&[("consent", consent.as_str()), ("decision", "approve")])
            .send()
            .await
            .expect("decision");
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn other_authorize_errors_redirect_with_the_right_code() {
    let env = start(auto()).await;
    let (_, challenge) = pkce();
    for (extra, code) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "openid admin:everything")], "invalid_scope"),
        (vec![("code_challenge", "too-short")], "invalid_request"),
        (vec![("response_mode", "fragment")], "invalid_request"),
    ] {
        let resp = env.authorize(&challenge, &extra).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{extra:?}");
        assert_eq!(location_params(&resp)["error"], code, "{extra:?}");
    }
    // A repeated parameter is refused (RFC 6749 §3.1).
    let url = format!(
        "{}&scope=openid",
        env.authorize(&challenge, &[]).await.url()
    );
    let resp = env.http.get(url).send().await.expect("request");
    assert_eq!(location_params(&resp)["error"], "invalid_request");
}

#[tokio::test]
async fn authorize_by_post_form_works() {
    let env = start(auto()).await;
    let (verifier, challenge) = pkce();
    let resp = env
        .http
        .post(env.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let code = location_params(&resp)["code"].clone();
    assert_eq!(env.exchange(&code, &verifier).await.0, StatusCode::OK);
}
