//! Discovery against mockauth: RFC 8414 first, the issuer must match (mix-up defence), and the
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
