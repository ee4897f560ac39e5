//! Client authentication and request formats at the token endpoint: client_credentials with
//! Basic and post, invalid_client, JSON bodies, and the provider quirks of token responses.

use mockauth::{ClientConfig, Config, GrantType, TokenRequestFormat, TokenResponseFormat};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{REDIRECT, auto, basic, error_of, pkce, start};

const ODD_SECRET: &str = "p@ss:w+rd/%é &=x";

#[tokio::test]
async fn client_credentials_with_basic_and_post() {
    let env = start(auto()).await;
    let resp = env
        .post_basic(
            "/token",
            "svc",
            "svc-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let json: Value = resp.json().await.expect("json");
    assert!(
        json.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let access = json["access_token"].as_str().expect("access_token");
    assert_eq!(env.resource(access).await, StatusCode::OK);

    let (status, json) = env
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "svc-secret"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(env.server.stats().token_requests.client_credentials, 2);
    // Both requests are kept as sent, credentials included, for tests that look for them.
    let seen = env.server.received_token_requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(basic("svc", "svc-secret").as_str())
    );
    assert_eq!(seen[0].param("grant_type"), Some("client_credentials"));
    assert_eq!(seen[1].authorization, None);
    assert_eq!(seen[1].param("client_secret"), Some("svc-secret"));
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let env =
        start(Config::default().with_client(ClientConfig::confidential("odd id", ODD_SECRET)))
            .await;
    let resp = env
        .post_basic(
            "/token",
            "odd id",
            ODD_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Without the urlencoding step, `+` decodes to a space: the secret is wrong.
    let resp = env
        .http
        .post(env.url("/token"))
        .basic_auth("odd id", Some(ODD_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // client_secret_post needs no such step.
    let (status, _) = env
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "odd id"),
            ("client_secret", ODD_SECRET),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_client_answers() {
    let env = start(auto()).await;
    let resp = env
        .post_basic(
            "/token",
            "svc",
            "wrong",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap_or("")
            .starts_with("Basic")
    );
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "invalid_client"
    );

    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "wrong"),
        ],
        vec![("grant_type", "client_credentials"), ("client_id", "svc")],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ],
        vec![("grant_type", "client_credentials")],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "cli"),
            ("client_secret", "x"),
        ],
    ] {
        let (status, json) = env.token(&form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(error_of(&json), "invalid_client", "{form:?}");
    }
    // Garbage in the Authorization header is a 401, never a crash.
    for header in [
        "Basic !!!",
        "Basic",
        "Basic bm9jb2xvbg==",
        "Bearer abc",
        "Basic JXp6Onh4",
    ] {
        let resp = env
            .http
            .post(env.url("/token"))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // Basic and post together is one method too many.
    let resp = env
        .post_basic(
            "/token",
            "svc",
            "svc-secret",
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", "svc-secret"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn grant_type_problems() {
    let env = start(auto()).await;
    let (_, json) = env.token(&[("client_id", "cli")]).await;
    assert_eq!(error_of(&json), "invalid_request");
    let (_, json) = env
        .token(&[("client_id", "cli"), ("grant_type", "password")])
        .await;
    assert_eq!(error_of(&json), "unsupported_grant_type");
    let (_, json) = env
        .token(&[("client_id", "cli"), ("grant_type", "client_credentials")])
        .await;
    assert_eq!(error_of(&json), "unauthorized_client");
    let resp = env
        .http
        .post(env.url("/token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "no Content-Type");
    let stats = env.server.stats();
    assert_eq!(stats.token_requests.other, 2);
    assert_eq!(stats.token_errors.get("invalid_request"), Some(&2));
}

fn json_client() -> ClientConfig {
    ClientConfig::public("anthropic", &["http://127.0.0.1/callback"])
        .with_token_request_format(TokenRequestFormat::Json)
}

#[tokio::test]
async fn json_bodies_only_for_clients_configured_for_them() {
    let env = start(auto().with_client(json_client())).await;
    // Form-only client `cli` sending JSON.
    let resp = env
        .http
        .post(env.url("/token"))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": "x", "client_id": "cli"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let json: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&json), "invalid_request");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("JSON")
    );

    // The JSON client completes a login with JSON bodies, and may not send a form.
    let (verifier, challenge) = pkce();
    let resp = env
        .authorize(&challenge, &[("client_id", "anthropic")])
        .await;
    let code = crate::util::location_params(&resp)["code"].clone();
    let resp = env
        .http
        .post(env.url("/token"))
        .json(&json!({
            "grant_type": "authorization_code", "code": code, "client_id": "anthropic",
            "redirect_uri": REDIRECT, "code_verifier": verifier,
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let json: Value = resp.json().await.expect("json");
    let rt = json["refresh_token"].as_str().expect("refresh_token");
    let (status, json) = env
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "anthropic"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("JSON")
    );
}

#[tokio::test]
async fn github_quirk_form_response_unless_accept_json() {
    let mut gh = ClientConfig::confidential("github", "gh-secret")
        .with_grant_types(&[GrantType::ClientCredentials])
        .with_token_response_format(TokenResponseFormat::FormUnlessAcceptJson);
    gh.omit_expires_in = true;
    gh.lowercase_token_type = true;
    gh.errors_with_status_200 = true;
    let env = start(auto().with_client(gh)).await;
    let resp = env
        .post_basic(
            "/token",
            "github",
            "gh-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    let body = resp.text().await.expect("body");
    let pairs: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    assert!(pairs.contains_key("access_token"), "{body}");
    assert_eq!(pairs.get("token_type").map(String::as_str), Some("bearer"));
    assert!(!pairs.contains_key("expires_in"));

    let resp = env
        .http
        .post(env.url("/token"))
        .header("authorization", basic("github", "gh-secret"))
        .header("accept", "application/json")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    let json: Value = resp
        .json()
        .await
        .expect("json with Accept: application/json");
    assert!(json["access_token"].is_string());

    // Errors come with status 200, form-encoded.
    let resp = env
        .post_basic(
            "/token",
            "github",
            "gh-secret",
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("error=unauthorized_client")
    );
    assert_eq!(
        env.server.stats().token_errors.get("unauthorized_client"),
        Some(&1)
    );
}

#[tokio::test]
async fn expires_in_as_string_and_omitted_token_type() {
    let mut c = ClientConfig::confidential("quirky", "q");
    c.expires_in_as_string = true;
    c.omit_token_type = true;
    let env = start(auto().with_client(c)).await;
    let json: Value = env
        .post_basic(
            "/token",
            "quirky",
            "q",
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(json["expires_in"], "3600");
    assert!(json.get("token_type").is_none());
}
