//! The token-response parser and the redactor never panic, whatever the bytes (proptest), and
//! read the shapes real providers send.

use proptest::prelude::*;
use std::time::{Duration, SystemTime};
use tokenwarden::error::HttpEvidence;
use tokenwarden::http::RequestKind;
use tokenwarden::http::classify::classify_response;
use tokenwarden::http::evidence::redact_body;
use tokenwarden::http::response::{
    InvalidField, MissingField, ParsedBody, device_authorization, token_set,
};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
}

fn exercise(ct: Option<&str>, bytes: &[u8]) {
    let body = ParsedBody::parse(ct, bytes);
    let _ = token_set(&body, &["a".to_string()], now());
    let _ = device_authorization(&body, now());
    let _ = body.oauth_error();
    let snippet = redact_body(bytes, ct);
    assert!(snippet.chars().count() <= 513);
    for status in [200, 400, 429, 502] {
        let _ = classify_response(RequestKind::Refresh, status, &body, HttpEvidence::default())
            .report();
    }
}

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/html"),
    Some("text/plain"),
];

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), ct in 0usize..5) {
        exercise(CONTENT_TYPES[ct], &bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,512}", ct in 0usize..5) {
        exercise(CONTENT_TYPES[ct], s.as_bytes());
    }

    #[test]
    fn token_shaped_json_never_panics(
        at in proptest::option::of(".{0,20}"),
        exp in prop_oneof![Just(serde_json::json!(null)), any::<i64>().prop_map(|n| serde_json::json!(n)),
                           any::<f64>().prop_map(|f| serde_json::json!(f)), ".{0,12}".prop_map(|s| serde_json::json!(s))],
        tt in proptest::option::of(".{0,10}"),
        scope in proptest::option::of(".{0,30}"),
    ) {
        let mut m = serde_json::Map::new();
        if let Some(a) = at { m.insert("access_token".into(), a.into()); }
        m.insert("expires_in".into(), exp);
        if let Some(t) = tt { m.insert("token_type".into(), t.into()); }
        if let Some(s) = scope { m.insert("scope".into(), s.into()); }
        let bytes = serde_json::Value::Object(m).to_string();
        exercise(Some("application/json"), bytes.as_bytes());
    }

    #[test]
    fn secrets_never_survive_redaction(secret in "[A-Za-z0-9_-]{8,40}") {
        let body = format!(r#"{{"access_token":"{secret}","refresh_token":"{secret}x"}}"#);
        let s = redact_body(body.as_bytes(), Some("application/json"));
        prop_assert!(!s.contains(&secret));
        let broken = format!(r#"{{"access_token": "{secret}", "#);
        let s = redact_body(broken.as_bytes(), None);
        prop_assert!(!s.contains(&secret));
    }

    #[test]
    fn parsed_bodies_never_debug_their_values(secret in "[A-Za-z0-9_-]{8,40}") {
        let json = format!(r#"{{"access_token":"{secret}","refresh_token":"{secret}"}}"#);
        let shown = format!("{:?}", ParsedBody::parse(Some("application/json"), json.as_bytes()));
        prop_assert!(!shown.contains(&secret), "{shown}");
        prop_assert!(shown.contains("access_token"), "{shown}");
        let form = format!("access_token={secret}&token_type=bearer");
        let shown = format!("{:?}", ParsedBody::parse(None, form.as_bytes()));
        prop_assert!(!shown.contains(&secret), "{shown}");
    }
}

#[test]
fn google_device_response_says_verification_url() {
    let body = ParsedBody::parse(
        Some("application/json"),
        br#"{"device_code":"d","user_code":"ABCD-EFGH","verification_url":"https://www.google.com/device","expires_in":1800,"interval":5}"#,
    );
    let d = device_authorization(&body, now()).expect("read");
    assert_eq!(d.verification_uri, "https://www.google.com/device");
    assert_eq!(d.expires_at, now() + Duration::from_secs(1800));
}

#[test]
fn huge_expires_in_is_clamped_and_absurd_or_negative_refused() {
    let body = ParsedBody::parse(None, br#"{"access_token":"a","expires_in":99999999999}"#);
    let t = token_set(&body, &[], now()).expect("read");
    assert_eq!(
        t.expires_at,
        Some(now() + Duration::from_secs(10 * 365 * 24 * 3600))
    );
    for v in ["1e300", "-5", "-3600", "1.5"] {
        let json = format!(r#"{{"access_token":"a","expires_in":{v}}}"#);
        let body = ParsedBody::parse(None, json.as_bytes());
        assert_eq!(
            token_set(&body, &[], now()),
            Err(MissingField::Invalid(InvalidField::NotSeconds(
                "expires_in"
            ))),
            "{v}"
        );
    }
}

/// Every malformed token response is a Protocol error (exit 1) naming the field, whose
/// evidence shows the body with the tokens redacted.
#[test]
fn malformed_token_responses_are_protocol_errors_naming_the_field() {
    use tokenwarden::ErrorKind;
    use tokenwarden::http::evidence::capture;
    let cases = [
        (
            r#"{"access_token":"abc\r\nX-Injected: 1","token_type":"Bearer","expires_in":60,"refresh_token":"r1"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"abc","token_type":"Bearer","expires_in":-3600,"refresh_token":"r2"}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"abc","token_type":"mac","expires_in":60,"refresh_token":"r3"}"#,
            "token_type",
        ),
        (
            r#"{"access_token":12345,"token_type":"Bearer","expires_in":60,"refresh_token":"r4"}"#,
            "access_token",
        ),
        (
            r#"{"access_token":"abc","token_type":"DPoP","expires_in":60}"#,
            "DPoP",
        ),
    ];
    for (json, named) in cases {
        let body = ParsedBody::parse(Some("application/json"), json.as_bytes());
        let missing = token_set(&body, &[], now()).expect_err(json);
        let evidence = capture(
            200,
            &Default::default(),
            json.as_bytes(),
            Duration::ZERO,
            now(),
        );
        let e = tokenwarden::http::classify::classify_missing(
            RequestKind::Refresh,
            200,
            &body,
            missing,
            evidence,
        );
        assert_eq!(e.kind(), ErrorKind::Protocol, "{json}");
        assert_eq!(e.kind().exit_code().code(), 1);
        assert!(e.message().contains(named), "{json}: {}", e.message());
        let report = e.report();
        for secret in ["abc", "12345", "r1", "r2", "r3", "r4"] {
            assert!(
                !report.contains(&format!("\"{secret}")) && !report.contains(&format!(":{secret}")),
                "{secret} shown: {report}"
            );
        }
        assert!(!report.contains('\r'), "{report}");
        assert!(e.hint().is_some());
    }
}
