//! Discovery documents kept in a store for the processes that come next: for as long as the
//! response's caching headers allow (a day at most), never when they forbid it, checked again
//! when read back (a document that fails is fetched again, never an error), and dropped when a
//! request to an endpoint it named says it may be out of date. Every "process" here is a
//! `Discovery` or token client of its own over one shared store.

use crate::util;
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokenwarden::discovery::Discovery;
use tokenwarden::http::{HttpClient, HttpSettings};
use tokenwarden::retry::{
    Clock as _, ManualClock, MemoryBreakerBackend, RecordingSleeper, Retrier, RetryPolicy,
};
use tokenwarden::store::DiscoveryKind::Metadata;
use tokenwarden::store::{MemoryStore, Store, StoredDiscovery};
use tokenwarden::{ErrorKind, TokenClient};

const TTL: Duration = Duration::from_secs(60);

/// How long mockauth lets clients keep its documents here (it says `no-cache` by default).
const MAX_AGE: Duration = Duration::from_secs(600);

/// mockauth, letting clients keep its documents for [`MAX_AGE`].
async fn mock() -> mockauth::ServerHandle {
    mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        discovery_max_age: Some(MAX_AGE),
        ..mockauth::Config::default()
    })
    .await
    .expect("mockauth starts")
}

struct Parts {
    http: HttpClient,
    retrier: Retrier,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
}

impl Parts {
    fn new() -> Parts {
        let clock = Arc::new(ManualClock::new(util::t0()));
        Parts {
            http: HttpClient::new(HttpSettings::default()).expect("http"),
            retrier: Retrier::with_parts(
                RetryPolicy {
                    max_attempts: 1,
                    ..RetryPolicy::default()
                },
                Arc::new(MemoryBreakerBackend::default()),
                Arc::new(RecordingSleeper::new(Some(clock.clone()))),
                clock.clone(),
                Some(1),
            ),
            store: Arc::new(MemoryStore::new().with_clock(clock.clone())),
            clock,
        }
    }

    /// A new process's cache over the shared store.
    fn process(&self) -> Discovery {
        Discovery::new(TTL, self.clock.clone()).with_store(self.store.clone())
    }

    async fn metadata(&self, d: &Discovery, issuer: &str) -> tokenwarden::Result<String> {
        d.metadata(&self.http, &self.retrier, issuer, "tw-1")
            .await
            .map(|m| {
                m.token_endpoint
                    .as_ref()
                    .map(|u| u.to_string())
                    .unwrap_or_default()
            })
    }
}

/// A bare issuer on 127.0.0.1 that publishes its RFC 8414 document with the response headers
/// `headers`, and counts the requests for it.
async fn issuer_with(
    headers: &'static [(&'static str, &'static str)],
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let body = format!(r#"{{"issuer":"{base}","token_endpoint":"{base}/token"}}"#);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let app = axum::Router::new().route(
        "/.well-known/oauth-authorization-server",
        axum::routing::get(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move {
                let mut h = axum::http::HeaderMap::new();
                h.insert("content-type", "application/json".parse().expect("value"));
                for (k, v) in headers {
                    h.insert(*k, v.parse().expect("value"));
                }
                (h, body)
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, count)
}

#[tokio::test]
async fn a_stored_document_spares_the_next_process_a_request_while_fresh() {
    let server = mock().await;
    let issuer = server.issuer();
    let p = Parts::new();
    let first = p.metadata(&p.process(), &issuer).await.expect("fetched");
    assert_eq!(first, server.url("/token"));
    let kept = p
        .store
        .read_discovery(&issuer, Metadata)
        .expect("reads")
        .expect("kept");
    assert_eq!(kept.expires_at, util::t0() + MAX_AGE);

    // The next process asks nobody: a failing discovery endpoint does not matter.
    server
        .set_faults(FaultPlan::default().with(Endpoint::Discovery, FaultSpec::status(500)))
        .expect("plan");
    let second = p
        .metadata(&p.process(), &issuer)
        .await
        .expect("from the store");
    assert_eq!(second, first);

    // Once stale, it is fetched again.
    p.clock.advance(MAX_AGE);
    let e = p
        .metadata(&p.process(), &issuer)
        .await
        .expect_err("stale, fetched, and the endpoint fails");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn caching_headers_decide_how_long_and_whether_the_store_keeps_it() {
    let p = Parts::new();
    let (quiet, _) = issuer_with(&[]).await;
    p.metadata(&p.process(), &quiet).await.expect("fetched");
    let kept = p
        .store
        .read_discovery(&quiet, Metadata)
        .expect("reads")
        .expect("kept");
    assert_eq!(kept.expires_at, util::t0() + TTL, "nothing said: the TTL");

    let (long, long_hits) = issuer_with(&[("cache-control", "public, max-age=7200")]).await;
    p.metadata(&p.process(), &long).await.expect("fetched");
    let kept = p
        .store
        .read_discovery(&long, Metadata)
        .expect("reads")
        .expect("kept");
    assert_eq!(kept.expires_at, util::t0() + Duration::from_secs(7200));
    p.clock.advance(Duration::from_secs(3600));
    p.metadata(&p.process(), &long).await.expect("still fresh");
    assert_eq!(long_hits.load(Ordering::SeqCst), 1);

    let (year, _) = issuer_with(&[("cache-control", "max-age=31536000")]).await;
    p.metadata(&p.process(), &year).await.expect("fetched");
    let kept = p
        .store
        .read_discovery(&year, Metadata)
        .expect("reads")
        .expect("kept");
    assert_eq!(
        kept.expires_at,
        p.clock.now() + Duration::from_secs(86_400),
        "a day at most"
    );

    // mockauth's default: `no-cache`.
    let no_cache = util::mock(vec![]).await;
    p.metadata(&p.process(), &no_cache.issuer())
        .await
        .expect("fetched");
    assert_eq!(
        p.store
            .read_discovery(&no_cache.issuer(), Metadata)
            .expect("reads"),
        None
    );
    no_cache.shutdown().await.expect("stop");
    for forbidding in [
        &[("cache-control", "no-store")][..],
        &[("cache-control", "no-cache")],
    ] {
        let (issuer, hits) = issuer_with(forbidding).await;
        let this = p.process();
        p.metadata(&this, &issuer).await.expect("fetched");
        assert_eq!(
            p.store.read_discovery(&issuer, Metadata).expect("reads"),
            None
        );
        // This process still holds it; the next one asks again.
        p.metadata(&this, &issuer).await.expect("held");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        p.metadata(&p.process(), &issuer)
            .await
            .expect("fetched again");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_stored_document_is_checked_like_a_fetched_one_and_ignored_when_it_fails() {
    let server = mock().await;
    let issuer = server.issuer();
    let p = Parts::new();
    let fresh_until = util::t0() + MAX_AGE;
    let planted = |document: &str, body: String| StoredDiscovery {
        issuer: issuer.clone(),
        kind: Metadata,
        source: format!("{issuer}/.well-known/oauth-authorization-server"),
        document: document.to_string(),
        body,
        fetched_at: util::t0(),
        expires_at: fresh_until,
    };
    let elsewhere =
        r#"{"issuer":"https://evil.example","token_endpoint":"https://evil.example/token"}"#;
    let cases = [
        (
            "names another issuer",
            planted("rfc8414", elsewhere.to_string()),
        ),
        (
            "has no token endpoint",
            planted("rfc8414", format!(r#"{{"issuer":"{issuer}"}}"#)),
        ),
        ("is not JSON", planted("rfc8414", "<html>".to_string())),
        (
            "is a kind of document this build does not know",
            planted(
                "rfc9999",
                format!(r#"{{"issuer":"{issuer}","token_endpoint":"https://evil.example/t"}}"#),
            ),
        ),
        (
            "claims more than a day ahead",
            StoredDiscovery {
                expires_at: util::t0() + Duration::from_secs(2 * 86_400),
                ..planted(
                    "rfc8414",
                    format!(r#"{{"issuer":"{issuer}","token_endpoint":"https://evil.example/t"}}"#),
                )
            },
        ),
    ];
    for (what, doc) in cases {
        p.store.write_discovery(&doc).expect("planted");
        let found = p
            .metadata(&p.process(), &issuer)
            .await
            .unwrap_or_else(|e| panic!("a stored document that {what}: {}", e.report()));
        assert_eq!(found, server.url("/token"), "a stored document that {what}");
        let replaced = p
            .store
            .read_discovery(&issuer, Metadata)
            .expect("reads")
            .expect("kept");
        assert!(
            replaced.body.contains(&server.url("/token")),
            "the fetched document replaces one that {what}"
        );
    }
    server.shutdown().await.expect("stop");
}

/// A token client of its own ("a process") over the shared store, with one attempt per
/// request.
fn process_client(server: &mockauth::ServerHandle, p: &Parts) -> TokenClient {
    let mut profile = tokenwarden::config::Profile::new("d", "svc");
    profile.issuer = Some(server.issuer());
    profile.client_auth = tokenwarden::config::ClientAuth::ClientSecretBasic;
    profile.retry.max_attempts = 1;
    TokenClient::builder(profile)
        .clock(p.clock.clone())
        .sleeper(Arc::new(RecordingSleeper::new(Some(p.clock.clone()))))
        .discovery(Arc::new(p.process()))
        .client_secret(tokenwarden::secret::ClientSecret::new("svc-secret"))
        .build()
        .expect("client")
}

#[tokio::test]
async fn an_endpoint_that_is_gone_drops_the_document_and_an_outage_does_not() {
    let server = mock().await;
    let issuer = server.issuer();
    let p = Parts::new();
    let client = process_client(&server, &p);
    client.client_credentials().await.expect("granted");
    assert!(
        p.store
            .read_discovery(&issuer, Metadata)
            .expect("reads")
            .is_some()
    );

    // A provider outage says nothing about the document: it stays.
    server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503)))
        .expect("plan");
    let e = client.client_credentials().await.expect_err("outage");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert!(
        p.store
            .read_discovery(&issuer, Metadata)
            .expect("reads")
            .is_some()
    );
    assert!(client.endpoints().await.is_ok());

    // The token endpoint it named is not there any more: dropped here and in the store.
    server
        .set_faults(FaultPlan::default().with(Endpoint::Token, FaultSpec::status(404)))
        .expect("plan");
    client.client_credentials().await.expect_err("not found");
    assert_eq!(
        p.store.read_discovery(&issuer, Metadata).expect("reads"),
        None
    );
    server.clear_faults();
    client.client_credentials().await.expect("discovered again");
    assert!(
        p.store
            .read_discovery(&issuer, Metadata)
            .expect("reads")
            .is_some()
    );
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn an_unreachable_endpoint_drops_the_document() {
    let server = mock().await;
    let issuer = server.issuer();
    let p = Parts::new();
    // What another process kept: the issuer's token endpoint was elsewhere, where nothing
    // listens now.
    let moved = format!("http://127.0.0.1:{}/token", util::closed_port());
    p.store
        .write_discovery(&StoredDiscovery {
            issuer: issuer.clone(),
            kind: Metadata,
            source: format!("{issuer}/.well-known/oauth-authorization-server"),
            document: "rfc8414".to_string(),
            body: format!(r#"{{"issuer":"{issuer}","token_endpoint":"{moved}"}}"#),
            fetched_at: util::t0(),
            expires_at: util::t0() + Duration::from_secs(600),
        })
        .expect("planted");
    let client = process_client(&server, &p);
    let e = client
        .client_credentials()
        .await
        .expect_err("nothing listens");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable, "{}", e.report());
    assert_eq!(
        p.store.read_discovery(&issuer, Metadata).expect("reads"),
        None
    );
    client
        .client_credentials()
        .await
        .expect("the issuer's own document, fetched again");
    server.shutdown().await.expect("stop");
}
