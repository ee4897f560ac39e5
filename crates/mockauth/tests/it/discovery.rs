//! RFC 8414 / OIDC discovery and the JWK Set.

use crate::util::{auto, start};
use serde_json::Value;

#[tokio::test]
async fn metadata_lists_every_endpoint_and_only_s256() {
    let env = start(auto()).await;
    let issuer = env.server.issuer();
    let doc: Value = env
        .get("/.well-known/oauth-authorization-server", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], issuer.as_str());
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("device_authorization_endpoint", "/device_authorization"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("jwks_uri", "/jwks"),
        ("userinfo_endpoint", "/userinfo"),
    ] {
        assert_eq!(doc[key], format!("{issuer}{path}"), "{key}");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let grants = doc["grant_types_supported"].to_string();
    for g in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        assert!(grants.contains(g), "{g} in {grants}");
    }
    let auth = doc["token_endpoint_auth_methods_supported"].to_string();
    for m in ["none", "client_secret_basic", "client_secret_post"] {
        assert!(auth.contains(m), "{m}");
    }
    assert!(doc["scopes_supported"].to_string().contains("openid"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );

    let oidc: Value = env
        .get("/.well-known/openid-configuration", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(oidc, doc);
}

#[tokio::test]
async fn jwks_publishes_an_es256_key_with_kid() {
    let env = start(auto()).await;
    let set: Value = env.get("/jwks", &[]).await.json().await.expect("json");
    let key = &set["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "private part must not be published");
}

#[tokio::test]
async fn run_serves_on_a_given_listener_and_stops_on_the_future() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mockauth::run(
        listener,
        mockauth::Config::default(),
        async {
            let _ = rx.await;
        },
    ));
    let http = crate::util::client();
    let doc: Value = http
        .get(format!(
            "http://{addr}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], format!("http://{addr}"));
    let _ = tx.send(());
    task.await.expect("joins").expect("clean shutdown");
}

#[tokio::test]
async fn the_documents_say_how_long_clients_may_keep_them() {
    let cache_control = |resp: &reqwest::Response| {
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let env = start(auto()).await;
    for path in ["/.well-known/oauth-authorization-server", "/jwks"] {
        let resp = env.get(path, &[]).await;
        assert_eq!(cache_control(&resp).as_deref(), Some("no-cache"), "{path}");
    }
    let env = start(mockauth::Config {
        discovery_max_age: Some(std::time::Duration::from_secs(3600)),
        ..auto()
    })
    .await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/jwks",
    ] {
        let resp = env.get(path, &[]).await;
        assert_eq!(
            cache_control(&resp).as_deref(),
            Some("public, max-age=3600"),
            "{path}"
        );
    }
}
