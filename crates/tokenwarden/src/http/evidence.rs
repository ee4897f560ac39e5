//! Capturing what a response showed — status, the provider's request id, `Retry-After`,
//! `Date`, `WWW-Authenticate`, `Content-Type`, timing — and a body snippet with every secret
//! replaced by its fingerprint, so that errors and traces can carry evidence without carrying
//! tokens.

use crate::error::HttpEvidence;
use crate::secret::fingerprint;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// The longest body snippet kept, in characters.
pub const SNIPPET_CHARS: usize = 512;

/// Body keys whose values are secrets (compared without case). [`is_secret_key`] also treats
/// as secret every key that ends in `token` or `assertion`, or names a secret, a password or an
/// API key (`app_secret`, `sessionToken`, `x-api-key`…); this list is what free text (a body
/// that did not parse) is searched for.
pub const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "session_token",
    "subject_token",
    "actor_token",
    "token",
    "device_code",
    "code",
    "client_secret",
    "secret",
    "code_verifier",
    "assertion",
    "client_assertion",
    "password",
    "api_key",
    "apikey",
];

/// Request-id headers, in order of preference.
const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "request-id", "x-ms-request-id", "cf-ray"];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Builds the evidence of one response.
pub fn capture(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    elapsed: Duration,
    received_at: SystemTime,
) -> HttpEvidence {
    let date = header(headers, "date").and_then(|d| httpdate::parse_http_date(d).ok());
    let content_type = header(headers, "content-type").map(str::to_string);
    HttpEvidence {
        request: None,
        status: Some(status),
        request_id: REQUEST_ID_HEADERS
            .iter()
            .find_map(|h| header(headers, h))
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(200).collect()),
        retry_after: header(headers, "retry-after")
            .and_then(|v| parse_retry_after(v, received_at, date)),
        date,
        www_authenticate: header(headers, "www-authenticate")
            .map(|v| v.chars().take(500).collect()),
        body_snippet: Some(redact_body(body, content_type.as_deref())),
        content_type,
        elapsed: Some(elapsed),
    }
}

/// Resolves a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an HTTP date counted
/// from the server's `Date` when it sent one (so that a skewed local clock does not matter),
/// else from `now`. A date in the past is zero.
pub fn parse_retry_after(
    value: &str,
    now: SystemTime,
    server_date: Option<SystemTime>,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let from = server_date.unwrap_or(now);
    Some(at.duration_since(from).unwrap_or(Duration::ZERO))
}

/// How far the local clock is ahead of the server's `Date` (negative: behind), in seconds.
pub fn clock_skew_secs(evidence: &HttpEvidence, received_at: SystemTime) -> Option<i64> {
    let date = evidence.date?;
    Some(match received_at.duration_since(date) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    })
}

fn shown(value: &str) -> String {
    format!("[redacted {}]", fingerprint(value))
}

/// True when the value of a body, query or JSON key named `k` is a secret (see
/// [`SECRET_KEYS`]). `token_type`, `expires_in`, `scope` and the like are not.
pub fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    let squeezed: String = k.chars().filter(|c| *c != '_' && *c != '-').collect();
    SECRET_KEYS.contains(&k.as_str())
        || k.ends_with("token")
        || k.ends_with("assertion")
        || k.contains("secret")
        || k.contains("password")
        || k.contains("passwd")
        || squeezed.contains("apikey")
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match val {
                    serde_json::Value::String(s) if is_secret_key(k) => {
                        *val = serde_json::Value::String(shown(s));
                    }
                    // A secret sent as a number or a boolean (a provider's mistake) is still
                    // a secret.
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_)
                        if is_secret_key(k) =>
                    {
                        *val = serde_json::Value::String(shown(&val.to_string()));
                    }
                    other => redact_json(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Redacts `key=value` pairs and `"key": "value"` members for every secret key in free text
/// (a body that did not parse).
fn redact_text(text: &str) -> String {
    let mut out = text.to_string();
    for key in SECRET_KEYS {
        out = redact_after(&out, &format!("\"{key}\""), |rest| {
            // `"key"` then spaces, `:`, spaces, `"value"`.
            let t = rest.trim_start();
            let t = t.strip_prefix(':')?.trim_start();
            let t = t.strip_prefix('"')?;
            let start = rest.len() - t.len();
            let mut end = None;
            let mut escaped = false;
            for (i, c) in t.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let len = end.unwrap_or(t.len());
            Some((start, start + len))
        });
        out = redact_after(&out, &format!("{key}="), |rest| {
            let len = rest
                .find(|c: char| c == '&' || c == '"' || c == '<' || c.is_whitespace())
                .unwrap_or(rest.len());
            Some((0, len))
        });
    }
    out
}

/// For each occurrence of `marker` (at a word boundary), `span` finds the value in the text that
/// follows it (as a byte range relative to that text), which is replaced by its fingerprint.
fn redact_after(text: &str, marker: &str, span: impl Fn(&str) -> Option<(usize, usize)>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        let boundary = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let after = &rest[i + marker.len()..];
        out.push_str(&rest[..i + marker.len()]);
        match span(after).filter(|(s, e)| boundary && e > s) {
            Some((s, e)) => {
                out.push_str(&after[..s]);
                out.push_str(&shown(&after[s..e]));
                rest = &after[e..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn cap(s: &str) -> String {
    let collapsed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= SNIPPET_CHARS {
        collapsed
    } else {
        let mut t: String = collapsed.chars().take(SNIPPET_CHARS).collect();
        t.push('…');
        t
    }
}

/// The body as it may be shown: secrets replaced by fingerprints, whitespace collapsed, at most
/// [`SNIPPET_CHARS`] characters.
pub fn redact_body(body: &[u8], content_type: Option<&str>) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
        redact_json(&mut v);
        return cap(&v.to_string());
    }
    let form = content_type.is_some_and(|c| c.contains("x-www-form-urlencoded"));
    if form {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    shown(&v)
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let s = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        return cap(&s);
    }
    cap(&redact_text(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_secrets_become_fingerprints() {
        let b = br#"{"access_token":"at-123","nested":{"refresh_token":"rt-456"},"scope":"a b"}"#;
        let s = redact_body(b, Some("application/json"));
        assert!(!s.contains("at-123") && !s.contains("rt-456"), "{s}");
        assert!(s.contains("scope") && s.contains("[redacted len=6"), "{s}");
    }

    #[test]
    fn secrets_that_are_not_strings_are_redacted_too() {
        let s = redact_body(
            br#"{"access_token":1234567,"refresh_token":true,"expires_in":60}"#,
            Some("application/json"),
        );
        assert!(!s.contains("1234567") && !s.contains("true"), "{s}");
        assert!(s.contains("\"expires_in\":60"), "{s}");
    }

    #[test]
    fn broken_json_and_forms_are_redacted_too() {
        let s = redact_body(br#"{"access_token": "at-123", "x": "#, None);
        assert!(!s.contains("at-123"), "{s}");
        let s = redact_body(
            b"access_token=gho_abc&scope=repo",
            Some("application/x-www-form-urlencoded"),
        );
        assert!(!s.contains("gho_abc") && s.contains("scope=repo"), "{s}");
        let s = redact_body(b"oops access_token=gho_abc here", Some("text/plain"));
        assert!(!s.contains("gho_abc"), "{s}");
        // `code` inside another word is not a secret marker.
        let s = redact_body(b"error_code=42", Some("text/plain"));
        assert_eq!(s, "error_code=42");
    }

    #[test]
    fn every_kind_of_secret_key_is_redacted() {
        let secrets = [
            "token",
            "api_key",
            "password",
            "session_token",
            "id_token",
            "client_assertion",
            "secret",
            "app_secret",
            "sessionToken",
            "X-Api-Key",
        ];
        for key in secrets {
            let body = format!(
                r#"{{"{key}":"s-1","nested":[{{"accessToken":"s-2"}}],"token_type":"Bearer","expires_in":3600,"scope":"a b","user_code":"ABCD-EFGH"}}"#
            );
            let s = redact_body(body.as_bytes(), Some("application/json"));
            assert!(!s.contains("s-1") && !s.contains("s-2"), "{key} shown: {s}");
            for kept in ["Bearer", "3600", "a b", "ABCD-EFGH"] {
                assert!(s.contains(kept), "{kept} hidden: {s}");
            }
        }
        let form = redact_body(
            b"token=s-1&api_key=s-2&password=s-3&client_secret=s-4&token_type=bearer",
            Some("application/x-www-form-urlencoded"),
        );
        assert!(
            !["s-1", "s-2", "s-3", "s-4"]
                .iter()
                .any(|v| form.contains(v)),
            "{form}"
        );
        assert!(form.contains("token_type=bearer"), "{form}");
        // Free text (a body that does not parse).
        let text = redact_body(
            br#"oops {"token": "s-1", "password": "s-2", secret=s-3 api_key=s-4"#,
            Some("text/plain"),
        );
        assert!(
            !["s-1", "s-2", "s-3", "s-4"]
                .iter()
                .any(|v| text.contains(v)),
            "{text}"
        );
    }

    #[test]
    fn snippet_is_capped() {
        let body = "x".repeat(5000);
        let s = redact_body(body.as_bytes(), Some("text/plain"));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("7", now, None),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now, None),
            Some(Duration::from_secs(90))
        );
        // Counted from the server's Date, not the local clock.
        let server_now = now - Duration::from_secs(60);
        assert_eq!(
            parse_retry_after(&later, now, Some(server_now)),
            Some(Duration::from_secs(150))
        );
        assert_eq!(parse_retry_after("soon", now, None), None);
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(parse_retry_after(&past, now, None), Some(Duration::ZERO));
    }
}
