//! What a refresh's answer may change, through a real [`Warden`] (SQLite store, loopback HTTP
//! to mockauth): a malformed token response changes nothing stored and is a Protocol error
//! naming the field (the next healthy refresh works); an ID token that comes with a refresh
//! replaces the stored subject and issuer only once verified like a login's.

use super::util;
use base64::Engine as _;
use std::time::{Duration, SystemTime};
use tokenwarden::error::{Cause, ErrorKind};
use tokenwarden::paths::Paths;
use tokenwarden::session::Session;
use tokenwarden::store::StoredTokens;
use tokenwarden::warden::Warden;
use tokenwarden::{Error, TokenClient};

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// A private home whose profile `test` is the public client `cli` of `server`, found by
/// discovery from its issuer (so that ID tokens can be verified), or with explicit endpoints
/// and no issuer.
fn home(dir: &tempfile::TempDir, server: &mockauth::ServerHandle, issuer: bool) -> Warden {
    home_with(dir, server, issuer, "")
}

/// [`home`] with `extra` keys in the profile.
fn home_with(
    dir: &tempfile::TempDir,
    server: &mockauth::ServerHandle,
    issuer: bool,
    extra: &str,
) -> Warden {
    let home = dir.path().join("tw");
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&home).expect("home");
    let endpoints = if issuer {
        format!("issuer = \"{}\"\n", server.issuer())
    } else {
        format!(
            "authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\n",
            server.url("/authorize"),
            server.url("/token")
        )
    };
    let config = format!(
        "[profiles.test]\nclient_id = \"cli\"\n{endpoints}scopes = [\"openid\", \"offline_access\"]\n{extra}"
    );
    std::fs::write(home.join("config.toml"), config).expect("config");
    Warden::open(Paths::in_dir(&home)).expect("warden opens")
}

/// Logs `test` in (code exchange, stored) and returns a session and what was stored.
async fn logged_in(
    warden: &Warden,
    server: &mockauth::ServerHandle,
) -> (TokenClient, Session, StoredTokens) {
    let profile = warden.profile("test").expect("profile").profile;
    let client = warden.client(&profile).expect("client");
    let (code, verifier) = util::authorize(server, "cli", REDIRECT).await;
    let login = client
        .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
        .await
        .expect("code exchange");
    let store = warden.store().expect("store");
    store.replace("test", &login).expect("stored");
    let session = warden
        .session_with("test", client.clone())
        .expect("session");
    let stored = store.read("test").expect("reads").expect("stored");
    (client, session, stored)
}

fn stored(warden: &Warden) -> StoredTokens {
    let store = warden.store().expect("store");
    store.read("test").expect("reads").expect("still stored")
}

/// Makes the session refresh at its next `get_token`: the current token is rejected.
async fn refresh(session: &Session) -> tokenwarden::Result<tokenwarden::session::Token> {
    let current = session.get_token(Duration::ZERO).await?;
    session.invalidate(&current)?;
    session.get_token(Duration::ZERO).await
}

fn raw_once(server: &mockauth::ServerHandle, body: &str) {
    server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::raw(200, body).count(1),
        ))
        .expect("valid plan");
}

fn assert_protocol_naming(e: &Error, field: &str) {
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    assert_eq!(e.kind().exit_code().code(), 1);
    assert_eq!(e.cause(), Some(Cause::MalformedResponse));
    assert!(
        e.message().contains(field),
        "the message names no `{field}`: {}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| !h.is_empty()), "{}", e.report());
    assert_eq!(e.status(), Some(200));
}

#[tokio::test]
async fn a_malformed_refresh_answer_is_a_protocol_error_and_loses_nothing() {
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home(&dir, &server, false);
    let (_client, session, _) = logged_in(&warden, &server).await;
    let cases = [
        (
            r#"{"access_token":"s3cr3t-at\r\nX-Injected: 1","token_type":"Bearer","expires_in":60,"refresh_token":"r1"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"s3cr3t-at","token_type":"Bearer","expires_in":-3600,"refresh_token":"r2"}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"s3cr3t-at","token_type":"mac","expires_in":60,"refresh_token":"r3"}"#,
            "token_type",
        ),
        (
            r#"{"access_token":12345,"token_type":"Bearer","expires_in":60,"refresh_token":"r4"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"s3cr3t-at","token_type":"Bearer","expires_in":"soon","refresh_token":"r5"}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"s3cr3t-at","token_type":"Bearer","expires_in":60,"refresh_token":"r\u001b]0;x\u0007"}"#,
            "refresh_token",
        ),
    ];
    for (body, field) in cases {
        let before = stored(&warden);
        raw_once(&server, body);
        let e = refresh(&session).await.expect_err(body);
        assert_protocol_naming(&e, field);
        let report = e.report();
        assert!(
            !report.contains("s3cr3t") && !report.contains("\"access_token\":12345"),
            "a token in the report: {report}"
        );
        // Nothing stored was lost: the same tokens, the same login.
        let now = stored(&warden);
        assert_eq!(now.tokens.refresh_token, before.tokens.refresh_token);
        assert_eq!(now.tokens.access_token, before.tokens.access_token);
        assert_eq!(now.tokens.subject, before.tokens.subject);
        assert!(
            !matches!(
                now.state,
                tokenwarden::store::TokenState::LoginRequired { .. }
            ),
            "{body}: marked login-required"
        );
        // The provider answered 200: it processed the refresh and may have rotated.
        assert!(now.refresh_failure_transient, "{body}");
        // The next healthy refresh works with the stored refresh token.
        let fresh = session
            .get_token(Duration::ZERO)
            .await
            .expect("healthy refresh");
        assert!(!fresh.access_token().expose().contains("s3cr3t"));
        assert_eq!(fresh.token_type(), "Bearer");
        assert!(!stored(&warden).refresh_failure_transient);
    }
    server.shutdown().await.expect("mockauth stops");
}

#[tokio::test]
async fn a_dpop_token_type_is_named_as_not_supported_yet() {
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home(&dir, &server, false);
    let (_client, session, _) = logged_in(&warden, &server).await;
    raw_once(
        &server,
        r#"{"access_token":"s3cr3t-at","token_type":"DPoP","expires_in":60}"#,
    );
    let e = refresh(&session).await.expect_err("DPoP refused");
    assert_protocol_naming(&e, "DPoP");
    assert!(e.message().contains("not supported yet"), "{}", e.message());
    assert!(
        e.hint().is_some_and(|h| h.contains("DPoP")),
        "{}",
        e.report()
    );
    server.shutdown().await.expect("mockauth stops");
}

#[tokio::test]
async fn a_malformed_answer_after_the_provider_rotated_reads_as_a_lost_rotation() {
    // mockauth rotates and revokes on reuse (no grace): it processes the refresh, then the
    // answer is replaced by a malformed one.
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home(&dir, &server, false);
    let (_client, session, _) = logged_in(&warden, &server).await;
    server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::raw(
                    200,
                    r#"{"access_token":"s3cr3t-at","token_type":"mac","expires_in":60}"#,
                )
                .processed()
                .count(1),
            ),
        )
        .expect("valid plan");
    let e = refresh(&session).await.expect_err("malformed");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    let e = session
        .get_token(Duration::ZERO)
        .await
        .expect_err("the stored refresh token was spent");
    assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
    assert_eq!(
        e.cause(),
        Some(Cause::PossiblyLostRotation),
        "{}",
        e.report()
    );
    server.shutdown().await.expect("mockauth stops");
}

/// An ID token that looks like the provider's but is signed by no key of its JWKS.
pub(crate) fn forged_id_token(issuer: &str, sub: &str) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let header = b64(serde_json::json!({"alg": "ES256", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "iss": issuer, "sub": sub, "aud": "cli", "iat": now, "exp": now + 3600
    }));
    format!(
        "{header}.{claims}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
}

#[tokio::test]
async fn a_refreshed_id_token_is_verified_before_its_claims_are_kept() {
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home(&dir, &server, true);
    let (_client, session, before) = logged_in(&warden, &server).await;
    assert_eq!(before.tokens.subject.as_deref(), Some("mock-user"));

    // The provider's own ID token, signed by its key: verified and kept (one that could not
    // be verified would be dropped, as below).
    refresh(&session).await.expect("refreshed");
    let after = stored(&warden);
    assert_ne!(after.tokens.access_token, before.tokens.access_token);
    assert!(
        after.tokens.id_token.is_some(),
        "a verified ID token is kept"
    );
    assert_eq!(after.tokens.subject.as_deref(), Some("mock-user"));
    assert_eq!(after.tokens.issuer, Some(server.issuer()));

    // A forged one naming another user: the refresh stands, the ID token is dropped, the
    // stored subject stays.
    let forged = forged_id_token(&server.issuer(), "attacker");
    let body = serde_json::json!({
        "access_token": "at-forged-id", "token_type": "Bearer", "expires_in": 3600,
        "id_token": forged,
    })
    .to_string();
    let prior = stored(&warden);
    raw_once(&server, &body);
    let token = refresh(&session).await.expect("the refresh itself stands");
    assert_eq!(token.access_token().expose(), "at-forged-id");
    let after = stored(&warden);
    assert_eq!(after.tokens.subject.as_deref(), Some("mock-user"));
    assert_eq!(after.tokens.issuer, Some(server.issuer()));
    assert_eq!(after.tokens.id_token, None);
    assert_eq!(
        after.tokens.refresh_token, prior.tokens.refresh_token,
        "no refresh token in the answer: the stored one is kept"
    );
    server.shutdown().await.expect("mockauth stops");
}

#[tokio::test]
async fn a_refreshed_id_token_that_cannot_be_verified_is_ignored() {
    // Without an issuer there is no key set to verify with.
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home(&dir, &server, false);
    let (_client, session, before) = logged_in(&warden, &server).await;
    let body = serde_json::json!({
        "access_token": "at-2", "token_type": "Bearer", "expires_in": 3600,
        "id_token": forged_id_token(&server.issuer(), "attacker"),
    })
    .to_string();
    raw_once(&server, &body);
    refresh(&session).await.expect("refreshed");
    let after = stored(&warden);
    assert_eq!(after.tokens.subject, before.tokens.subject);
    assert_eq!(after.tokens.id_token, None);

    // With an issuer whose key set cannot be fetched: the same.
    let server2 = util::mock(Vec::new()).await;
    let dir2 = tempfile::tempdir().expect("temp dir");
    let warden2 = home(&dir2, &server2, true);
    let (_client, session2, before2) = logged_in(&warden2, &server2).await;
    server2
        .set_faults(
            mockauth::FaultPlan::default()
                .with(mockauth::Endpoint::Jwks, mockauth::FaultSpec::status(500)),
        )
        .expect("valid plan");
    refresh(&session2).await.expect("refreshed");
    let after2 = stored(&warden2);
    assert_eq!(after2.tokens.subject, before2.tokens.subject);
    assert_eq!(after2.tokens.id_token, None);
    server.shutdown().await.expect("mockauth stops");
    server2.shutdown().await.expect("mockauth stops");
}

#[tokio::test]
async fn a_slow_key_set_is_given_up_on_and_the_refreshed_tokens_are_stored() {
    // The check is bounded by the profile's timeout (1 s here); the key set takes longer.
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warden = home_with(&dir, &server, true, "timeout = \"1s\"\n");
    let (_client, session, before) = logged_in(&warden, &server).await;
    server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Jwks,
            mockauth::FaultSpec {
                latency_ms: Some(3_000),
                ..mockauth::FaultSpec::default()
            },
        ))
        .expect("valid plan");
    let token = refresh(&session).await.expect("refreshed");
    let after = stored(&warden);
    assert_eq!(
        after.tokens.access_token.expose(),
        token.access_token().expose()
    );
    assert_ne!(
        after.tokens.refresh_token, before.tokens.refresh_token,
        "rotated and stored"
    );
    assert_eq!(after.tokens.subject, before.tokens.subject);
    assert_eq!(after.tokens.id_token, None);
    server.shutdown().await.expect("mockauth stops");
}
