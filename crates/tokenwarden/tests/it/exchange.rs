//! Real exchanges with mockauth: the grants succeed, and each failure class is reproduced with
//! fault injection and checked for its kind, exit code, request id, correlation id and hint.

use crate::util::{self, assert_classified};
use mockauth::{ClientConfig, Endpoint, FaultBody, FaultPlan, FaultSpec};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenwarden::ErrorKind;
use tokenwarden::config::ClientAuth;
use tokenwarden::error::Cause;
use tokenwarden::http::client::Revocation;
use tokenwarden::http::{DevicePoll, TokenTypeHint, TraceEvent, Tracer};
use tokenwarden::secret::{AuthorizationCode, RefreshToken};

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

fn fault(server: &mockauth::ServerHandle, spec: FaultSpec) {
    server
        .set_faults(FaultPlan::default().with(Endpoint::Token, spec))
        .expect("valid plan");
}

async fn logged_in(server: &mockauth::ServerHandle) -> (util::Harness, RefreshToken) {
    let h = util::client(util::profile(server, "cli"), None);
    let (code, verifier) = util::authorize(server, "cli", REDIRECT).await;
    let t = h
        .client
        .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
        .await
        .expect("code exchange");
    let rt = t.refresh_token.clone().expect("refresh token");
    (h, rt)
}

#[tokio::test]
async fn code_exchange_refresh_and_revoke() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    let t = h.client.refresh(&rt).await.expect("refresh");
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(
        t.expires_at,
        Some(util::t0() + Duration::from_secs(3600)),
        "expiry from expires_in at receipt"
    );
    let rt2 = t.refresh_token.clone().expect("rotated");
    assert_ne!(rt2.expose(), rt.expose());
    assert_eq!(
        h.client
            .revoke(rt2.expose(), TokenTypeHint::RefreshToken)
            .await
            .expect("revoke"),
        Revocation::Revoked
    );
    let e = h.client.refresh(&rt2).await.expect_err("revoked");
    assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::RefreshTokenRevoked));
    assert!(e.request_id().is_some());
    assert!(h.sleeper.slept().is_empty(), "invalid_grant is not retried");
}

#[tokio::test]
async fn client_secret_basic_urlencodes_special_characters() {
    let secret = "a:b +%c/d";
    let server = util::mock(vec![ClientConfig::confidential("odd id", secret)]).await;
    for auth in [ClientAuth::ClientSecretBasic, ClientAuth::ClientSecretPost] {
        let mut p = util::svc_profile(&server);
        p.client_id = "odd id".into();
        p.client_auth = auth;
        let h = util::client(p, Some(secret));
        let t = h
            .client
            .client_credentials()
            .await
            .expect("client credentials");
        assert!(!t.access_token.expose().is_empty());
    }
}

#[tokio::test]
async fn invalid_client() {
    let server = util::mock(vec![]).await;
    let h = util::client(util::svc_profile(&server), Some("n0t-the-s3cret"));
    let e = h.client.client_credentials().await.expect_err("bad secret");
    assert_classified(&e, ErrorKind::Config, 2);
    assert_eq!(e.cause(), Some(Cause::BadClientCredentials));
    assert_eq!(e.status(), Some(401));
    assert!(e.request_id().is_some());
    assert!(e.hint().unwrap_or("").contains("client_auth"));
    assert!(
        !e.report().contains("n0t-the-s3cret"),
        "the secret leaks: {}",
        e.report()
    );
}

#[tokio::test]
async fn server_error_500_is_retried_then_provider_unavailable() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(500).oauth_error("server_error"));
    let e = h.client.refresh(&rt).await.expect_err("500");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::ProviderOutage));
    assert!(
        e.message()
            .contains("the token endpoint answered 500 (server_error)"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("gave up after 4 attempts"),
        "{}",
        e.message()
    );
    assert!(e.request_id().is_some());
    assert_eq!(h.sleeper.slept().len(), 3);
}

#[tokio::test]
async fn invalid_grant_in_a_500_is_login_required() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(500).oauth_error("invalid_grant"));
    let e = h.client.refresh(&rt).await.expect_err("invalid_grant");
    assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.status(), Some(500));
    assert!(e.request_id().is_some());
    assert!(h.sleeper.slept().is_empty(), "not transient: not retried");
}

#[tokio::test]
async fn temporarily_unavailable_503_honours_retry_after() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(503).retry_after(2).count(1));
    h.client
        .refresh(&rt)
        .await
        .expect("succeeds after the Retry-After");
    assert_eq!(h.sleeper.slept(), vec![Duration::from_secs(2)]);

    fault(&server, FaultSpec::status(503).retry_after(3));
    let e = h.client.refresh(&rt).await.expect_err("503");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(
        e.oauth().map(|o| o.code.as_str()),
        Some("temporarily_unavailable")
    );
    assert!(e.retry_at().is_some());
    assert!(e.request_id().is_some());
}

#[tokio::test]
async fn rate_limited_429_with_a_long_retry_after_gives_up_at_once() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(429).retry_after(120));
    let e = h.client.refresh(&rt).await.expect_err("429");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::RateLimited));
    // Tried again after the longest wait honoured (max_retry_after, 60 s), not after 120 s.
    assert_eq!(e.retry_at(), Some(util::t0() + Duration::from_secs(60)));
    assert!(h.sleeper.slept().is_empty());
    assert!(e.request_id().is_some());
    // Other callers of the same endpoint wait too, without a request.
    let before = server.stats().faults_injected;
    let e = h.client.refresh(&rt).await.expect_err("still waiting");
    assert_eq!(e.cause(), Some(Cause::RateLimited));
    assert_eq!(server.stats().faults_injected, before);
}

#[tokio::test]
async fn html_502_from_a_proxy() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(502).body(FaultBody::Html));
    let e = h.client.refresh(&rt).await.expect_err("502");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::ProxyAnswered));
    assert!(e.hint().unwrap_or("").contains("proxy"));
    assert!(e.request_id().is_some());
    assert_eq!(h.sleeper.slept().len(), 3, "retried within the schedule");
}

#[tokio::test]
async fn empty_and_malformed_bodies() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(500).body(FaultBody::Empty));
    let e = h.client.refresh(&rt).await.expect_err("empty 500");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert!(e.message().contains("an empty body"), "{}", e.message());

    fault(&server, FaultSpec::status(200).body(FaultBody::Empty));
    let e = h.client.refresh(&rt).await.expect_err("empty 200");
    assert_classified(&e, ErrorKind::Protocol, 1);
    assert_eq!(e.cause(), Some(Cause::MalformedResponse));
    assert!(e.request_id().is_some());

    fault(
        &server,
        FaultSpec::status(200).body(FaultBody::MalformedJson),
    );
    let e = h.client.refresh(&rt).await.expect_err("malformed 200");
    assert_classified(&e, ErrorKind::Protocol, 1);
    assert!(e.message().contains("malformed JSON"), "{}", e.message());

    fault(
        &server,
        FaultSpec::status(500).body(FaultBody::MalformedJson),
    );
    let e = h.client.refresh(&rt).await.expect_err("malformed 500");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
}

#[tokio::test]
async fn huge_body_is_cut_off() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(&server, FaultSpec::status(200).body(FaultBody::Huge));
    let e = h.client.refresh(&rt).await.expect_err("huge");
    assert_classified(&e, ErrorKind::Protocol, 1);
    assert_eq!(e.cause(), Some(Cause::ResponseTooLarge));
    assert!(e.request_id().is_some());
    let snippet = e
        .http()
        .and_then(|h| h.body_snippet.clone())
        .unwrap_or_default();
    assert!(snippet.chars().count() <= 513);
}

#[tokio::test]
async fn huge_error_page_with_5xx_is_transient_and_retried() {
    let server = util::mock(vec![]).await;
    let (h, rt) = logged_in(&server).await;
    fault(
        &server,
        FaultSpec::status(503).body(FaultBody::Huge).count(2),
    );
    let t = h.client.refresh(&rt).await.expect("third attempt succeeds");
    assert!(t.refresh_token.is_some());
    assert_eq!(h.sleeper.slept().len(), 2, "two backoffs for two huge 503s");

    fault(&server, FaultSpec::status(502).body(FaultBody::Huge));
    let rt2 = t.refresh_token.clone().expect("rotated");
    let e = h
        .client
        .refresh(&rt2)
        .await
        .expect_err("every attempt huge");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::ProviderOutage));
    assert!(e.message().contains("502"), "{}", e.message());
}

#[tokio::test]
async fn connection_refused() {
    let port = util::closed_port();
    let mut p = tokenwarden::config::Profile::new("x", "cli");
    p.endpoints.token = url::Url::parse(&format!("http://127.0.0.1:{port}/token")).ok();
    let h = util::client(p, None);
    let e = h
        .client
        .refresh(&RefreshToken::new("rt"))
        .await
        .expect_err("refused");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::Connect));
    assert!(
        e.hint()
            .unwrap_or("")
            .contains("nothing accepted the connection")
    );
    assert_eq!(h.sleeper.slept().len(), 3);
}

#[tokio::test]
async fn timeout_and_a_code_that_may_have_been_consumed() {
    let server = util::mock(vec![]).await;
    let mut p = util::profile(&server, "cli");
    p.timeout = Duration::from_millis(300);
    p.retry.max_attempts = 2;
    let h = util::client(p, None);
    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    fault(
        &server,
        FaultSpec::default()
            .latency(Duration::from_secs(3))
            .processed(),
    );
    let e = h
        .client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect_err("timeout");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::CodeMaybeConsumed));
    assert!(e.hint().unwrap_or("").contains("works only once"));
    assert!(
        h.sleeper.slept().is_empty(),
        "a code exchange is never repeated"
    );

    let e = h
        .client
        .refresh(&RefreshToken::new("x"))
        .await
        .expect_err("timeout");
    assert_eq!(e.cause(), Some(Cause::Timeout));
    assert!(
        e.message().contains("did not answer within 300 ms"),
        "{}",
        e.message()
    );
    assert_eq!(h.sleeper.slept().len(), 1, "a refresh is repeated");
}

#[tokio::test]
async fn code_exchange_500_is_not_retried() {
    let server = util::mock(vec![]).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    fault(&server, FaultSpec::status(500).oauth_error("server_error"));
    let e = h
        .client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect_err("500");
    assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::CodeMaybeConsumed));
    assert_eq!(server.stats().faults_injected, 1);
}

#[tokio::test]
async fn code_reuse_and_redirect_mismatch() {
    let server = util::mock(vec![]).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    let again = AuthorizationCode::new(code.expose());
    let v2 = tokenwarden::secret::PkceVerifier::new(verifier.expose());
    h.client
        .exchange_code(code, REDIRECT, Some(verifier), None)
        .await
        .expect("first exchange");
    let e = h
        .client
        .exchange_code(again, REDIRECT, Some(v2), None)
        .await
        .expect_err("reuse");
    assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::CodeExpiredOrReused));
    assert!(e.hint().unwrap_or("").contains("codes live ~60 s"));
    assert!(e.request_id().is_some());

    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    let e = h
        .client
        .exchange_code(
            code,
            "http://127.0.0.1:5555/callback/",
            Some(verifier),
            None,
        )
        .await
        .expect_err("redirect mismatch");
    assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert!(e.hint().unwrap_or("").contains("redirect_uri"));
    assert!(
        e.oauth()
            .and_then(|o| o.description.clone())
            .unwrap_or_default()
            .contains("differs")
    );
}

#[tokio::test]
async fn device_grant() {
    let server = mockauth::Server::start(mockauth::Config::default())
        .await
        .expect("start");
    let h = util::client(util::profile(&server, "cli"), None);
    let d = h
        .client
        .device_authorize()
        .await
        .expect("device authorization");
    assert!(!d.user_code.is_empty());
    assert!(!format!("{d:?}").contains(d.device_code.expose()));
    match h
        .client
        .poll_device_token(&d.device_code)
        .await
        .expect("poll")
    {
        DevicePoll::Pending | DevicePoll::SlowDown => {}
        DevicePoll::Granted(_) => panic!("granted before approval"),
    }
    server.approve_device(&d.user_code).expect("approve");
    server.advance_clock(Duration::from_secs(10));
    match h
        .client
        .poll_device_token(&d.device_code)
        .await
        .expect("poll")
    {
        DevicePoll::Granted(t) => assert!(t.refresh_token.is_some()),
        other => panic!("not granted: {other:?}"),
    }
    let d = h.client.device_authorize().await.expect("again");
    server.deny_device(&d.user_code).expect("deny");
    server.advance_clock(Duration::from_secs(10));
    let e = h
        .client
        .poll_device_token(&d.device_code)
        .await
        .expect_err("denied");
    assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::ConsentDenied));
}

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl Tracer for Collect {
    fn trace(&self, event: &TraceEvent<'_>) {
        self.0.lock().expect("lock").push(format!("{event:?}"));
    }
}

#[tokio::test]
async fn every_exchange_passes_the_tracer_redacted() {
    let server = util::mock(vec![]).await;
    let (_, rt) = logged_in(&server).await;
    let tracer = Arc::new(Collect::default());
    let client = tokenwarden::TokenClient::builder(util::profile(&server, "cli"))
        .tracer(tracer.clone())
        .build()
        .expect("client");
    // The operation's id is the one its caller runs it in.
    let t = tokenwarden::correlation::scope("tw-fixed".into(), client.refresh(&rt))
        .await
        .expect("refresh");
    let lines = tracer.0.lock().expect("lock").clone();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let all = lines.join("\n");
    assert!(all.contains("tw-fixed"));
    assert!(all.contains("grant_type=refresh_token"));
    for secret in [rt.expose(), t.access_token.expose()] {
        assert!(!all.contains(secret), "a secret reached the tracer: {all}");
    }
    assert!(all.contains("[redacted len="));
}
