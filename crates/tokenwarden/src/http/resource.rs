//! Calls to the protected resource (the API a token is for), seen by the same [`Tracer`] as the
//! OAuth exchanges, so `--trace-http` shows every request a command makes.
//!
//! Without a tracer a request is sent as is. With one, the request line, its headers (the
//! `Authorization` credentials and other secret-looking headers as fingerprints) and a redacted
//! body snippet are traced, then the response's status, headers and body snippet; the body is
//! read once and handed back in a rebuilt response, so the caller sees exactly what came.

use super::evidence::{self, is_secret_key};
use super::{HttpEvidence, TraceEvent, Tracer};
use crate::error::{Error, ErrorKind};
use crate::secret::fingerprint;
use reqwest::header::HeaderMap;
use std::time::{Instant, SystemTime};
use url::Url;

/// Header names whose values are secret whatever their name says otherwise.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Header-name fragments that mark a secret value (`X-Api-Key`, `X-Auth-Token`…).
const SECRET_FRAGMENTS: &[&str] = &[
    "token", "secret", "api-key", "apikey", "password", "session",
];

/// True when a header of that name carries a secret.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str()) || SECRET_FRAGMENTS.iter().any(|f| n.contains(f))
}

/// A header value as it may be shown: secrets as fingerprints; for `Authorization` the scheme
/// stays visible (`Bearer [redacted len=43 sha256=…]`), so the fingerprint can be compared with
/// the access token's in a token response's trace.
pub fn shown_header(name: &str, value: &str) -> String {
    if !is_secret_header(name) {
        return value.to_string();
    }
    match value.split_once(' ') {
        Some((scheme, cred))
            if name.to_ascii_lowercase().ends_with("authorization")
                && !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            format!("{scheme} [redacted {}]", fingerprint(cred.trim()))
        }
        _ => format!("[redacted {}]", fingerprint(value)),
    }
}

/// All headers of `headers`, as they may be shown: a value marked sensitive (a profile's
/// secret header) as a fingerprint whatever its name.
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes());
            let shown = if v.is_sensitive() && !is_secret_header(k.as_str()) {
                format!("[redacted {}]", fingerprint(&value))
            } else {
                shown_header(k.as_str(), &value)
            };
            (k.as_str().to_string(), shown)
        })
        .collect()
}

/// A profile's API-call headers ([`crate::config::Profile::resource_headers`]) as a header
/// map, secret values marked sensitive (never traced). For `request` and the proxy; headers a
/// caller sets itself replace these ([`with_own_headers`]).
pub fn header_map(headers: &[crate::config::ResolvedHeader]) -> crate::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for h in headers {
        let name = reqwest::header::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Error::config(format!("`{}` is not a header name", h.name)))?;
        let mut value = reqwest::header::HeaderValue::from_str(&h.value).map_err(|_| {
            Error::config(format!(
                "the value of the header `{}` cannot be sent (a control character)",
                h.name
            ))
        })?;
        value.set_sensitive(h.secret);
        map.append(name, value);
    }
    Ok(map)
}

/// `profile` headers with `own` on top: a header the caller sets replaces the profile's of the
/// same name (all its values).
pub fn with_own_headers(mut profile: HeaderMap, own: HeaderMap) -> HeaderMap {
    for name in own.keys() {
        profile.remove(name);
    }
    let mut current = None;
    for (name, value) in own {
        if let Some(n) = name {
            current = Some(n);
        }
        if let Some(n) = &current {
            profile.append(n.clone(), value);
        }
    }
    profile
}

/// `url` with the values of secret query parameters (`access_token=`…) as fingerprints.
pub fn redact_url(url: &Url) -> String {
    let secret = |k: &str| is_secret_key(k);
    if !url.query_pairs().any(|(k, _)| secret(&k)) {
        return url.to_string();
    }
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if secret(&k) {
                format!("[redacted {}]", fingerprint(&v))
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

/// Sends `request`, through `tracer` when there is one (see the module docs).
pub async fn send(
    request: reqwest::RequestBuilder,
    tracer: Option<&dyn Tracer>,
) -> Result<reqwest::Response, reqwest::Error> {
    let Some(tracer) = tracer else {
        return request.send().await;
    };
    // The operation's id (a session's `send`, a CLI command; a new one for a lone call), so one
    // call's trace lines share it.
    crate::correlation::joined(|corr| traced(request, tracer, corr)).await
}

async fn traced(
    request: reqwest::RequestBuilder,
    tracer: &dyn Tracer,
    corr: String,
) -> Result<reqwest::Response, reqwest::Error> {
    let (client, built) = request.build_split();
    let req = built?;
    let line = format!("{} {}", req.method(), redact_url(req.url()));
    let content_type = req
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(|b| evidence::redact_body(b, content_type.as_deref()))
        .unwrap_or_default();
    tracer.trace(&TraceEvent::Request {
        correlation_id: &corr,
        line: line.clone(),
        headers: redact_headers(req.headers()),
        body,
    });
    let started = Instant::now();
    let failed = |e: &reqwest::Error| {
        let err = Error::new(
            ErrorKind::ProviderUnavailable,
            format!("the request failed: {}", strip_url(e)),
        );
        tracer.trace(&TraceEvent::Failed {
            correlation_id: &corr,
            line: line.clone(),
            error: &err,
        });
    };
    let resp = match client.execute(req).await {
        Ok(r) => r,
        Err(e) => {
            failed(&e);
            return Err(e);
        }
    };
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let received_at = SystemTime::now();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            failed(&e);
            return Err(e);
        }
    };
    let mut ev: HttpEvidence = evidence::capture(
        status.as_u16(),
        &headers,
        &bytes,
        started.elapsed(),
        received_at,
    );
    ev.request = Some(line.clone());
    tracer.trace(&TraceEvent::Response {
        correlation_id: &corr,
        evidence: &ev,
        headers: redact_headers(&headers),
    });
    let mut rebuilt = ::http::Response::new(bytes);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

/// The error's text without the URL (which may carry query secrets).
fn strip_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), &redact_url(url));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_become_fingerprints() {
        let v = shown_header("Authorization", "Bearer mat_abc");
        assert!(
            v.starts_with("Bearer [redacted len=7 ") && !v.contains("mat_abc"),
            "{v}"
        );
        assert_eq!(
            shown_header("authorization", "Bearer mat_abc"),
            format!("Bearer [redacted {}]", fingerprint("mat_abc"))
        );
        assert!(!shown_header("X-Api-Key", "k-123").contains("k-123"));
        assert!(!shown_header("Set-Cookie", "sid=1").contains("sid=1"));
        assert_eq!(
            shown_header("Accept", "application/json"),
            "application/json"
        );
    }

    #[test]
    fn secret_query_values_are_redacted() {
        let u = Url::parse("https://api/x?access_token=abc&page=2").unwrap();
        let s = redact_url(&u);
        assert!(!s.contains("abc") && s.contains("page=2"), "{s}");
        let plain = Url::parse("https://api/x?page=2").unwrap();
        assert_eq!(redact_url(&plain), plain.to_string());
    }
}
