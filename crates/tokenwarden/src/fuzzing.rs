//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature `fuzzing`; not a public
//! API). Each takes arbitrary bytes, drives one parser the way a provider's answer, a stored row
//! or a user's file reaches it, and checks what must hold whatever the input: no panic, no
//! overflow, and the invariant named in its doc.

use crate::config::Config;
use crate::error::HttpEvidence;
use crate::flow::loopback::{self, Expect};
use crate::http::RequestKind;
use crate::http::classify::classify_response;
use crate::http::discovery::{Document, Metadata, same_issuer};
use crate::http::evidence::{parse_retry_after, redact_body};
use crate::http::issuer::IssuerRule;
use crate::http::response::{ParsedBody, id_token_claims, is_vschar, token_set};
use crate::retry::{CircuitBreaker, RetryPolicy};
use crate::store::MemoryStore;
use crate::store::crypto::{Sealer, StoreKey};
use crate::store::sqlite::{RawRow, decode_row};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A fixed "now", so a crash replays exactly.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_765_000_000)
}

/// The first byte chooses among `n` variants; the rest is the input.
fn split(data: &[u8], n: u8) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (b % n, rest),
        None => (0, data),
    }
}

/// A token endpoint's answer: parsed as JSON, form or text, read as a token set, and classified
/// as an error with any status. A token set that parses has a non-empty access token, and its
/// tokens hold printable ASCII only (RFC 6749 §A.12), its type is `Bearer`.
pub fn token_response(data: &[u8]) {
    let (pick, body) = split(data, 4);
    let content_type = match pick {
        0 => Some("application/json"),
        1 => Some("application/x-www-form-urlencoded"),
        2 => Some("text/html; charset=utf-8"),
        _ => None,
    };
    let parsed = ParsedBody::parse(content_type, body);
    if let Ok(tokens) = token_set(&parsed, &["openid".to_string()], now()) {
        assert!(!tokens.access_token.expose().is_empty());
        assert!(tokens.access_token.expose().bytes().all(is_vschar));
        if let Some(rt) = &tokens.refresh_token {
            assert!(!rt.expose().is_empty() && rt.expose().bytes().all(is_vschar));
        }
        assert_eq!(tokens.token_type, "Bearer");
        let _ = tokens.lifetime();
        let _ = tokens.is_fresh(now(), Duration::from_secs(60), Duration::from_secs(300));
    }
    let status = 200 + u16::from(pick) * 100 + (body.len() % 100) as u16;
    let err = classify_response(
        RequestKind::Refresh,
        status,
        &parsed,
        HttpEvidence::default(),
    );
    let _ = err.report();
    let _ = err.to_json();
    let _ = err.may_have_been_processed();
}

/// A `Retry-After` header value, then the shared breaker fed with what it resolved to: opening,
/// admitting and closing never panic, whatever the value.
pub fn retry_after(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let server_date = httpdate::parse_http_date(&text).ok();
    let delay = parse_retry_after(&text, now(), server_date);
    let policy = RetryPolicy {
        breaker_threshold: 1,
        ..RetryPolicy::default()
    };
    let breaker = CircuitBreaker::new(Arc::new(MemoryStore::new()), &policy);
    let _ = breaker.record_failure("token", now(), delay);
    for later in [0, 1, 60, 86_400 * 365 * 100] {
        let at = now()
            .checked_add(Duration::from_secs(later))
            .unwrap_or(now());
        let _ = breaker.admit("token", at);
    }
    breaker.record_success("token", now());
}

/// The query of a loopback login callback: checked against the `state` and issuer sent. Only a
/// callback with the right `state` can succeed.
pub fn callback_query(data: &[u8]) {
    let params: HashMap<String, String> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let expect = Expect {
        state: "s1".to_string(),
        issuer: Some(IssuerRule::Exact("http://127.0.0.1:9".to_string())),
        iss_required: data.first().is_some_and(|b| b % 2 == 0),
    };
    if loopback::check(&expect, &params).is_ok() {
        assert_eq!(params.get("state").map(String::as_str), Some("s1"));
    }
}

/// A `config.toml`: parsed, every profile validated. (Run with a per-input time bound.)
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::parse(Path::new("config.toml"), &text) else {
        return;
    };
    for name in config.profile_names().into_iter().take(64) {
        let _ = config.profile(&name);
    }
}

/// A JWT: its header read as `jsonwebtoken` reads it, and its claims read as the token response
/// does (unverified labels).
pub fn jwt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = jsonwebtoken::decode_header(text.as_ref());
    let _ = id_token_claims(&text);
}

/// A discovery document, and the issuer comparison on two halves of the input.
pub fn discovery(data: &[u8]) {
    let source = url::Url::parse("https://issuer.example/.well-known/openid-configuration")
        .expect("a constant URL");
    if let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice(data) {
        let _ = Metadata::from_json(source, Document::OpenIdConfiguration, &doc);
    }
    let text = String::from_utf8_lossy(data);
    let middle = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let (a, b) = text.split_at(middle);
    // The comparison is symmetric, and an issuer is itself with or without a trailing slash.
    assert_eq!(same_issuer(a, b), same_issuer(b, a));
    // A configured issuer (a Microsoft tenant template among them) against the one a document
    // claims, then an ID token's `iss` and `tid` against the rule accepted: never a panic.
    if let Some(rule) = IssuerRule::accept(a, b) {
        let _ = rule.check_id_token(b, Some(a));
        let _ = rule.admits(a);
    }
    assert!(same_issuer(a, &format!("{a}/")));
}

/// Redaction of a body that carries a secret: the secret (when long enough to be told apart
/// from the rest) never appears in what is printed.
pub fn redaction(data: &[u8]) {
    let (pick, rest) = split(data, 2);
    let _ = redact_body(rest, Some("application/json"));
    let _ = redact_body(rest, Some("application/x-www-form-urlencoded"));
    let _ = redact_body(rest, None);
    let secret: String = rest
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .take(40)
        .collect();
    if secret.len() < 12 {
        return;
    }
    let (body, ct) = if pick == 0 {
        (
            format!(r#"{{"access_token":"{secret}","note":"x"}}"#),
            "application/json",
        )
    } else {
        (
            format!("refresh_token={secret}&note=x"),
            "application/x-www-form-urlencoded",
        )
    };
    let shown = redact_body(body.as_bytes(), Some(ct));
    assert!(!shown.contains(&secret), "a secret survived redaction");
}

/// A stored token row: fields from the input, secrets sealed for real (or tampered with). It
/// decodes or is reported damaged; it never panics.
pub fn store_row(data: &[u8]) {
    let (pick, rest) = split(data, 4);
    let text = String::from_utf8_lossy(rest);
    let parts: Vec<&str> = text.split('\u{1}').collect();
    let numbers: Vec<i64> = rest
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect();
    let sealer = Sealer::new(&StoreKey::from_bytes([7; 32]));
    let raw = RawRow::for_fuzzing(&sealer, &parts, &numbers, pick == 3);
    if let Ok(stored) = decode_row(raw, &sealer) {
        let _ = stored.tokens.is_expired(now());
        let _ = stored.tokens.remaining(now());
    }
}
