//! What a login checks before the browser opens (PKCE S256 in the metadata, an issuer to
//! validate ID tokens against) and after the exchange (the ID token's nonce and signature).
//! Where mockauth cannot misbehave in the needed way, a small axum server on 127.0.0.1 stands
//! in for the provider (metadata without S256) or sits in front of its token endpoint (an ID
//! token whose signature was changed in transit).

use crate::login::{WAIT, oidc_profile, open, query};
use crate::util;
use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use std::net::SocketAddr;
use tokenwarden::ErrorKind;
use tokenwarden::flow::authcode;
use url::Url;

/// Serves `app` on 127.0.0.1 (an ephemeral port) until the test's runtime ends.
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A provider whose metadata offers only the `plain` PKCE method.
async fn plain_only_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let doc = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["plain"],
    });
    let metadata = move || {
        let doc = doc.clone();
        async move { Json(doc) }
    };
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(metadata.clone()),
        )
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(metadata),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    issuer
}

#[tokio::test]
async fn metadata_without_s256_stops_the_login_before_the_browser() {
    let issuer = plain_only_provider().await;
    let mut p = tokenwarden::Profile::new("plain", "cli");
    p.issuer = Some(issuer.clone());
    let h = util::client(p, None);
    let e = authcode::prepare(&h.client)
        .await
        .expect_err("no S256, no login");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert_eq!(e.kind().exit_code(), 2);
    assert!(e.message().contains("not S256"), "{}", e.message());
    assert!(e.message().contains("plain"), "{}", e.message());
    assert!(
        e.message().contains(&issuer),
        "names the metadata: {}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("--device")));
}

#[tokio::test]
async fn openid_without_an_issuer_stops_the_login_before_the_browser() {
    let server = util::mock(vec![]).await;
    // Explicit endpoints, `openid`, no issuer: the ID token could not be validated.
    let h = util::client(util::profile(&server, "cli"), None);
    let e = authcode::prepare(&h.client)
        .await
        .expect_err("nothing to validate the ID token with");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert!(e.message().contains("openid"), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("issuer")));
    assert_eq!(server.stats().authorize_requests, 0);
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    // An injected authorization request: same everything, another nonce.
    let mut url = Url::parse(&prepared.url).expect("url");
    let pairs: Vec<(String, String)> = query(&prepared.url)
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "another-nonce".into()
            } else {
                v
            };
            (k, v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(url.as_str()));
    let e = r.expect_err("nonce mismatch");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    assert!(
        e.message().contains("nonce does not match"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some());
}

/// A proxy for mockauth's token endpoint that changes one character of the ID token's
/// signature.
async fn tampering_token_proxy(server: &mockauth::ServerHandle) -> String {
    let target = server.url("/token");
    let forward = move |headers: HeaderMap, body: Bytes| {
        let target = target.clone();
        async move {
            let mut req = reqwest::Client::new().post(&target).body(body);
            for name in ["content-type", "authorization", "accept"] {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v.as_bytes());
                }
            }
            let resp = req.send().await.expect("mockauth answers");
            let mut doc: serde_json::Value = resp.json().await.expect("JSON");
            if let Some(id) = doc["id_token"].as_str() {
                let mut chars: Vec<char> = id.chars().collect();
                let sig_start = id.rfind('.').expect("a JWS") + 1;
                let i = sig_start + 5;
                chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
                doc["id_token"] = serde_json::Value::String(chars.into_iter().collect());
            }
            Json(doc)
        }
    };
    let addr = serve(axum::Router::new().route("/token", axum::routing::post(forward))).await;
    format!("http://{addr}/token")
}

#[tokio::test]
async fn an_id_token_with_a_bad_signature_is_refused() {
    let server = util::mock(vec![]).await;
    let mut p = oidc_profile(&server);
    p.endpoints.token = Some(Url::parse(&tampering_token_proxy(&server).await).expect("url"));
    let h = util::client(p, None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let url = prepared.url.clone();
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let e = r.expect_err("bad signature");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    assert!(
        e.message().contains("ID token is not valid"),
        "{}",
        e.message()
    );
    assert!(
        e.message().to_lowercase().contains("signature"),
        "{}",
        e.message()
    );
    assert_eq!(server.stats().token_requests.authorization_code, 1);
}
