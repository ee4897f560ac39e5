//! The classification table (DESIGN.md): each body and status maps to one kind, exit code,
//! retryability, cause and hint; the OAuth `error` is read before the status.

use crate::util;
use tokenwarden::error::{Cause, ErrorKind, HttpEvidence};
use tokenwarden::http::RequestKind::{self, *};
use tokenwarden::http::classify::classify_response;
use tokenwarden::http::response::ParsedBody;
use tokenwarden::secret::RefreshToken;

fn json(s: &str) -> ParsedBody {
    ParsedBody::parse(Some("application/json"), s.as_bytes())
}

fn check(kind: RequestKind, status: u16, body: ParsedBody, want: ErrorKind, cause: Option<Cause>) {
    let ev = HttpEvidence {
        status: Some(status),
        request_id: Some("req-7".into()),
        ..HttpEvidence::default()
    };
    let e = classify_response(kind, status, &body, ev);
    assert_eq!(e.kind(), want, "{kind:?} {status} {body:?}: {}", e.report());
    assert_eq!(e.cause(), cause, "{kind:?} {status} {body:?}");
    assert_eq!(
        e.kind().is_retryable(),
        want == ErrorKind::ProviderUnavailable
    );
    assert_eq!(e.request_id(), Some("req-7"));
    assert!(
        e.hint().is_some_and(|h| !h.is_empty()),
        "no hint: {}",
        e.report()
    );
}

#[test]
fn the_table() {
    use ErrorKind::*;
    let err = |c: &str| json(&format!(r#"{{"error":"{c}","error_description":"d"}}"#));
    check(
        Refresh,
        400,
        err("invalid_client"),
        Config,
        Some(Cause::BadClientCredentials),
    );
    check(Refresh, 400, err("invalid_scope"), Config, None);
    check(Refresh, 400, err("unauthorized_client"), Config, None);
    check(Refresh, 400, err("unsupported_grant_type"), Config, None);
    check(
        Refresh,
        400,
        err("invalid_grant"),
        LoginRequired,
        Some(Cause::RefreshTokenRevoked),
    );
    check(
        CodeExchange,
        400,
        err("invalid_grant"),
        LoginRequired,
        Some(Cause::CodeExpiredOrReused),
    );
    check(
        Refresh,
        500,
        err("invalid_grant"),
        LoginRequired,
        Some(Cause::RefreshTokenRevoked),
    );
    check(
        DevicePoll,
        400,
        err("access_denied"),
        LoginRequired,
        Some(Cause::ConsentDenied),
    );
    check(DevicePoll, 400, err("expired_token"), LoginRequired, None);
    check(
        Refresh,
        500,
        err("server_error"),
        ProviderUnavailable,
        Some(Cause::ProviderOutage),
    );
    check(
        Refresh,
        503,
        err("temporarily_unavailable"),
        ProviderUnavailable,
        Some(Cause::ProviderOutage),
    );
    check(
        Refresh,
        429,
        err("temporarily_unavailable"),
        ProviderUnavailable,
        Some(Cause::RateLimited),
    );
    check(
        CodeExchange,
        500,
        err("server_error"),
        ProviderUnavailable,
        Some(Cause::CodeMaybeConsumed),
    );
    check(
        Refresh,
        429,
        ParsedBody::Empty,
        ProviderUnavailable,
        Some(Cause::RateLimited),
    );
    check(
        Refresh,
        502,
        ParsedBody::Html,
        ProviderUnavailable,
        Some(Cause::ProxyAnswered),
    );
    check(
        Refresh,
        403,
        ParsedBody::Html,
        ProviderUnavailable,
        Some(Cause::ProxyAnswered),
    );
    check(
        Refresh,
        503,
        ParsedBody::Text,
        ProviderUnavailable,
        Some(Cause::ProxyAnswered),
    );
    check(
        Refresh,
        500,
        ParsedBody::Empty,
        ProviderUnavailable,
        Some(Cause::ProviderOutage),
    );
    check(
        Refresh,
        500,
        ParsedBody::MalformedJson,
        ProviderUnavailable,
        Some(Cause::ProviderOutage),
    );
    check(
        Refresh,
        401,
        ParsedBody::Empty,
        Config,
        Some(Cause::BadClientCredentials),
    );
    check(Refresh, 404, ParsedBody::Empty, Config, None);
    check(Refresh, 302, ParsedBody::Empty, Config, None);
    check(
        Refresh,
        400,
        json("{}"),
        Protocol,
        Some(Cause::MalformedResponse),
    );
    check(
        Refresh,
        200,
        ParsedBody::Html,
        Protocol,
        Some(Cause::ProxyAnswered),
    );
    // GitHub's codes, with status 200.
    check(
        CodeExchange,
        200,
        err("bad_verification_code"),
        LoginRequired,
        Some(Cause::CodeExpiredOrReused),
    );
    check(
        Refresh,
        200,
        err("incorrect_client_credentials"),
        Config,
        Some(Cause::BadClientCredentials),
    );
    check(
        CodeExchange,
        200,
        err("redirect_uri_mismatch"),
        Config,
        Some(Cause::RedirectMismatch),
    );
}

#[test]
fn messages_name_status_code_and_description() {
    let e = classify_response(
        Refresh,
        500,
        &json(r#"{"error":"server_error","error_description":"database down"}"#),
        HttpEvidence::default(),
    );
    assert_eq!(
        e.message(),
        "the token endpoint answered 500 (server_error): database down"
    );
    let j = e.to_json();
    assert_eq!(j["error"]["oauth_error"], "server_error");
    assert_eq!(j["error"]["exit_code"], 4);
}

#[tokio::test]
async fn tls_to_a_plain_http_port_is_a_tls_failure() {
    let server = util::mock(vec![]).await;
    let mut p = tokenwarden::config::Profile::new("x", "cli");
    let addr = server.local_addr();
    p.endpoints.token = url::Url::parse(&format!("https://127.0.0.1:{}/token", addr.port())).ok();
    p.retry.max_attempts = 1;
    let h = util::client(p, None);
    let e = h
        .client
        .refresh(&RefreshToken::new("x"))
        .await
        .expect_err("tls");
    util::assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::Tls), "{}", e.report());
    assert!(
        e.hint()
            .unwrap_or("")
            .contains("https to a plain-http port")
    );
}
