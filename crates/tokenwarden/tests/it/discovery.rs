//! Discovery against mockauth (and a bare server for the fallbacks): RFC 8414 first, then OIDC;
//! the issuer must match (mix-up defence), and the
//! cache keeps documents for its TTL by an injected clock.

use crate::util;
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::ErrorKind;
use tokenwarden::discovery::Discovery;
use tokenwarden::http::{HttpClient, HttpSettings};
use tokenwarden::retry::{
    ManualClock, MemoryBreakerBackend, RecordingSleeper, Retrier, RetryPolicy,
};

fn parts() -> (HttpClient, Retrier, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(util::t0()));
    let retrier = Retrier::with_parts(
        RetryPolicy::default(),
        Arc::new(MemoryBreakerBackend::default()),
        Arc::new(RecordingSleeper::new(Some(clock.clone()))),
        clock.clone(),
        Some(1),
    );
    (
        HttpClient::new(HttpSettings::default()).expect("http"),
        retrier,
        clock,
    )
}

#[tokio::test]
async fn discovers_and_caches_with_a_ttl() {
    let server = util::mock(vec![]).await;
    let (http, retrier, clock) = parts();
    let d = Discovery::new(Duration::from_secs(60), clock.clone());
    let issuer = server.issuer();
    let m = d
        .metadata(&http, &retrier, &issuer, "tw-1")
        .await
        .expect("metadata");
    assert_eq!(m.issuer, issuer);
    assert!(
        m.source
            .as_str()
            .contains("/.well-known/oauth-authorization-server")
    );
    assert_eq!(
        m.token_endpoint.as_ref().map(|u| u.to_string()),
        Some(server.url("/token"))
    );
    assert!(
        m.code_challenge_methods_supported
            .contains(&"S256".to_string())
    );

    // Within the TTL, no request: a failing endpoint does not matter.
    server
        .set_faults(FaultPlan::default().with(Endpoint::Discovery, FaultSpec::status(500)))
        .expect("plan");
    d.metadata(&http, &retrier, &issuer, "tw-2")
        .await
        .expect("cached");
    clock.advance(Duration::from_secs(61));
    let e = d
        .metadata(&http, &retrier, &issuer, "tw-3")
        .await
        .expect_err("expired, refetched");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert_eq!(e.correlation_id(), Some("tw-3"));
}

#[tokio::test]
async fn a_different_issuer_is_refused() {
    let server = util::mock(vec![]).await;
    let (http, retrier, clock) = parts();
    let d = Discovery::new(Duration::from_secs(60), clock);
    // The same server under another name: the document names 127.0.0.1, not localhost.
    let other = server.issuer().replace("127.0.0.1", "localhost");
    let e = d
        .metadata(&http, &retrier, &other, "tw-1")
        .await
        .expect_err("mix-up");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("not the configured"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn a_token_client_finds_endpoints_by_discovery() {
    let server = util::mock(vec![]).await;
    let mut p = tokenwarden::config::Profile::new("d", "svc");
    p.issuer = Some(server.issuer());
    p.client_auth = tokenwarden::config::ClientAuth::ClientSecretBasic;
    let h = util::client(p, Some("svc-secret"));
    let e = h.client.endpoints().await.expect("endpoints");
    assert_eq!(e.token.map(|u| u.to_string()), Some(server.url("/token")));
    h.client
        .client_credentials()
        .await
        .expect("client credentials via discovered endpoint");

    let mut p = tokenwarden::config::Profile::new("d", "cli");
    p.issuer = Some(format!("http://127.0.0.1:{}", util::closed_port()));
    p.retry.max_attempts = 1;
    let h = util::client(p, None);
    let e = h.client.client_credentials().await.expect_err("no server");
    util::assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
}

/// A bare HTTP server on 127.0.0.1 that publishes `document` (with `{base}` replaced by its
/// own URL) at `path` only, and answers 404 elsewhere: an issuer that is not mockauth.
async fn serve_only(path: &'static str, document: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let body = document.replace("{base}", &base);
    let app = axum::Router::new().route(
        path,
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn falls_back_to_openid_configuration_when_rfc8414_is_absent() {
    let base = serve_only(
        "/.well-known/openid-configuration",
        r#"{"issuer":"{base}","authorization_endpoint":"{base}/auth","token_endpoint":"{base}/tok","code_challenge_methods_supported":["S256"]}"#,
    )
    .await;
    let (http, retrier, clock) = parts();
    let d = Discovery::new(Duration::from_secs(60), clock);
    let m = d
        .metadata(&http, &retrier, &base, "tw-1")
        .await
        .expect("found by OIDC discovery");
    assert!(
        m.source
            .as_str()
            .ends_with("/.well-known/openid-configuration")
    );
    assert_eq!(
        m.token_endpoint.as_ref().map(|u| u.to_string()),
        Some(format!("{base}/tok"))
    );
}

#[tokio::test]
async fn an_issuer_without_any_document_is_a_config_error_naming_both_urls() {
    let base = serve_only("/elsewhere", "{}").await;
    let (http, retrier, clock) = parts();
    let d = Discovery::new(Duration::from_secs(60), clock);
    let e = d
        .metadata(&http, &retrier, &base, "tw-1")
        .await
        .expect_err("no document");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    assert!(
        e.message().contains("publishes no discovery document")
            && e.message().contains("oauth-authorization-server (404)")
            && e.message().contains("openid-configuration (404)"),
        "{}",
        e.message()
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("token_endpoint")),
        "{:?}",
        e.hint()
    );
}

#[tokio::test]
async fn a_document_without_a_token_endpoint_is_a_protocol_error() {
    let base = serve_only(
        "/.well-known/oauth-authorization-server",
        r#"{"issuer":"{base}","authorization_endpoint":"{base}/auth"}"#,
    )
    .await;
    let (http, retrier, clock) = parts();
    let d = Discovery::new(Duration::from_secs(60), clock);
    let e = d
        .metadata(&http, &retrier, &base, "tw-1")
        .await
        .expect_err("incomplete");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    assert!(e.message().contains("token_endpoint"), "{}", e.message());
}
