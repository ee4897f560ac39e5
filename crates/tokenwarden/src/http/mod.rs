//! One HTTP exchange with an authorization server, and everything seen of it.
//!
//! # Layout
//! - this file: [`HttpClient`] (one shared reqwest client on rustls: timeouts, a 1 MiB body cap,
//!   no redirects, `User-Agent`), [`HttpRequest`] and the [`Tracer`] hook every exchange passes
//!   through.
//! - [`tls`]: the client's TLS, whose costly part (reading the system's CA certificates) is done
//!   once per process, at the first certificate to verify: never for plain-http endpoints.
//! - [`proxy`]: which proxy the environment applies to a URL ([`proxy_for`]), for `doctor`.
//! - [`evidence`]: capturing status and headers into [`HttpEvidence`], resolving `Retry-After`,
//!   redacting bodies.
//! - [`request`]: token, device-authorization and revocation requests, with client
//!   authentication (RFC 6749 §2.3) and form or JSON bodies.
//! - [`response`]: tolerant parsing of token and device responses into a [`TokenSet`].
//! - [`classify`]: turning a failed exchange into an [`Error`] with kind, cause, hint and
//!   whether the request reached the server ([`crate::error::Delivery`]).
//! - [`client`]: [`TokenClient`], the high-level calls (exchange, refresh, device, revoke);
//!   [`builder`]: how one is put together; `exchange`: one operation's attempts under the
//!   retry policy, what they looked like ([`Exchange`], returned with the result as
//!   [`Exchanged`]), and their event-log records.
//! - [`resource`]: calls to the protected resource, traced like the exchanges.
//! - [`destination`]: where a profile's bearer token may be sent (https or loopback, the
//!   `resource` origin or one allowed explicitly), for `request` and the proxy.
//! - [`discovery`]: RFC 8414 / OpenID Connect metadata, fetched through the same client
//!   (re-exported as `crate::discovery`) and kept as long as [`freshness`] allows, and
//!   [`jwks`]: the issuer's ID-token signing keys, kept beside it; [`issuer`]: which issuer
//!   callbacks and ID tokens must name (exact, or a multi-tenant authority's template);
//!   [`locate`]: checking an issuer before a profile is written, and suggesting the path it
//!   lacks.
//!
//! [`TokenSet`]: crate::token::TokenSet

pub mod builder;
pub mod classify;
pub mod client;
pub mod destination;
pub mod discovery;
pub mod evidence;
mod exchange;
pub mod freshness;
pub mod issuer;
pub mod jwks;
pub mod locate;
pub mod proxy;
pub mod request;
pub mod resource;
pub mod response;
pub mod tls;

pub use builder::TokenClientBuilder;
pub use client::{DevicePoll, Revocation, TokenClient};
pub use exchange::{Exchange, Exchanged};
pub use proxy::{proxy_for, proxy_for_vars};
pub use request::{Grant, TokenTypeHint};
pub use response::{DeviceAuthorization, ParsedBody};
pub use tls::install_crypto_provider;

use crate::error::{Error, ErrorKind, HttpEvidence, Result};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// The largest response body read; a larger one is a Protocol error.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The `User-Agent` sent when a profile sets none ([`crate::config::DEFAULT_USER_AGENT`]).
pub const USER_AGENT: &str = crate::config::DEFAULT_USER_AGENT;

/// What an exchange is for; decides messages, classification and whether it may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// The authorization code exchange (single use).
    CodeExchange,
    /// A refresh token grant.
    Refresh,
    /// A client credentials grant.
    ClientCredentials,
    /// A device code grant poll.
    DevicePoll,
    /// The device authorization request.
    DeviceAuthorization,
    /// A revocation request.
    Revocation,
    /// A discovery metadata request.
    Discovery,
}

impl RequestKind {
    /// The endpoint, as named in messages.
    pub fn endpoint_name(self) -> &'static str {
        match self {
            RequestKind::CodeExchange
            | RequestKind::Refresh
            | RequestKind::ClientCredentials
            | RequestKind::DevicePoll => "the token endpoint",
            RequestKind::DeviceAuthorization => "the device authorization endpoint",
            RequestKind::Revocation => "the revocation endpoint",
            RequestKind::Discovery => "the discovery endpoint",
        }
    }

    /// Whether the request may be sent twice.
    pub fn idempotence(self) -> crate::retry::Idempotence {
        match self {
            RequestKind::CodeExchange => crate::retry::Idempotence::SingleUse,
            _ => crate::retry::Idempotence::Repeatable,
        }
    }
}

/// One request parameter; secret ones are shown as fingerprints in traces.
#[derive(Clone, PartialEq, Eq)]
pub struct Param {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
    /// Whether the value is secret.
    pub secret: bool,
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.shown())
    }
}

impl Param {
    /// A plain parameter.
    pub fn plain(name: impl Into<String>, value: impl Into<String>) -> Self {
        Param {
            name: name.into(),
            value: value.into(),
            secret: false,
        }
    }

    /// A secret parameter.
    pub fn secret(name: impl Into<String>, value: impl Into<String>) -> Self {
        Param {
            name: name.into(),
            value: value.into(),
            secret: true,
        }
    }

    /// The value as it may be shown.
    pub fn shown(&self) -> String {
        if self.secret {
            format!("[redacted {}]", crate::secret::fingerprint(&self.value))
        } else {
            self.value.clone()
        }
    }
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Body {
    /// No body.
    #[default]
    None,
    /// `application/x-www-form-urlencoded`.
    Form(Vec<Param>),
    /// A JSON object of strings.
    Json(Vec<Param>),
}

/// The HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A request, built so that it can be sent again and traced with its secrets redacted.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// What it is for.
    pub kind: RequestKind,
    /// GET or POST.
    pub method: Method,
    /// Where.
    pub url: Url,
    /// Extra headers (`Authorization` among them; it is redacted in traces).
    pub headers: Vec<Param>,
    /// The body.
    pub body: Body,
}

impl HttpRequest {
    /// `METHOD URL`, as kept in [`HttpEvidence::request`].
    pub fn line(&self) -> String {
        let m = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        format!("{m} {}", self.url)
    }

    /// The body with secrets replaced by fingerprints.
    pub fn redacted_body(&self) -> String {
        match &self.body {
            Body::None => String::new(),
            Body::Form(p) => p
                .iter()
                .map(|p| format!("{}={}", p.name, p.shown()))
                .collect::<Vec<_>>()
                .join("&"),
            Body::Json(p) => json_object(p, Param::shown).to_string(),
        }
    }

    /// The headers with secrets replaced by fingerprints.
    pub fn redacted_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|h| (h.name.clone(), h.shown()))
            .collect()
    }
}

/// A JSON object of `params`, each value as `value` gives it; a name given more than once (RFC
/// 8707 `resource`) becomes an array of its values, in order.
fn json_object(params: &[Param], value: impl Fn(&Param) -> String) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in params {
        let v = serde_json::Value::String(value(p));
        match map.get_mut(&p.name) {
            None => {
                map.insert(p.name.clone(), v);
            }
            Some(serde_json::Value::Array(a)) => a.push(v),
            Some(first) => {
                let first = first.take();
                map.insert(p.name.clone(), serde_json::Value::Array(vec![first, v]));
            }
        }
    }
    serde_json::Value::Object(map)
}

/// A response that arrived in full (within the size cap).
///
/// Its `Debug` shows the status, the body's length and the header names only: the body of a
/// token response holds tokens.
#[derive(Clone)]
pub struct HttpResponse {
    /// The status.
    pub status: u16,
    /// The body (at most [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
    /// Status, headers, timing and a redacted snippet.
    pub evidence: HttpEvidence,
    /// Every response header (secret ones included: show them only through
    /// [`resource::redact_headers`]).
    pub headers: reqwest::header::HeaderMap,
    /// When the response arrived (local clock).
    pub received_at: SystemTime,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .field("evidence", &self.evidence)
            .field(
                "headers",
                &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .field("received_at", &self.received_at)
            .finish()
    }
}

impl HttpResponse {
    /// The `Content-Type`, when sent.
    pub fn content_type(&self) -> Option<&str> {
        self.evidence.content_type.as_deref()
    }
}

/// One event of an exchange, already redacted, for `--trace-http`.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceEvent<'a> {
    /// A request is about to be sent.
    Request {
        /// The operation's correlation id.
        correlation_id: &'a str,
        /// `METHOD URL`.
        line: String,
        /// Headers, redacted.
        headers: Vec<(String, String)>,
        /// The body, redacted.
        body: String,
    },
    /// A response arrived.
    Response {
        /// The operation's correlation id.
        correlation_id: &'a str,
        /// What was seen (the body snippet is redacted).
        evidence: &'a HttpEvidence,
        /// Every response header, secret ones as fingerprints.
        headers: Vec<(String, String)>,
    },
    /// The exchange failed without a usable response.
    Failed {
        /// The operation's correlation id.
        correlation_id: &'a str,
        /// `METHOD URL`.
        line: String,
        /// The error.
        error: &'a Error,
    },
}

/// Sees every exchange (the `--trace-http` hook). Implementations must not block for long.
pub trait Tracer: Send + Sync {
    /// Called for each event.
    fn trace(&self, event: &TraceEvent<'_>);
}

/// Timeouts and limits of an [`HttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// TCP + TLS connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (default 20 s).
    pub timeout: Duration,
    /// The body cap (default 1 MiB).
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: crate::config::DEFAULT_CONNECT_TIMEOUT,
            timeout: crate::config::DEFAULT_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

impl HttpSettings {
    /// The timeouts a profile asks for.
    pub fn for_profile(profile: &crate::config::Profile) -> Self {
        HttpSettings {
            connect_timeout: profile.connect_timeout,
            timeout: profile.timeout,
            ..Self::default()
        }
    }
}

/// The shared HTTP client: build once, clone freely (clones share the connection pool and the
/// TLS set-up, which is completed at the first https handshake: see [`tls`]).
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    settings: HttpSettings,
    tracer: Option<Arc<dyn Tracer>>,
    tls: Arc<tls::LazyVerifier>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("settings", &self.settings)
            .field("tracer", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with `settings`, sending tokenwarden's own `User-Agent`.
    pub fn new(settings: HttpSettings) -> Result<Self> {
        Self::with_user_agent(settings, USER_AGENT)
    }

    /// A client with `profile`'s timeouts and `User-Agent`.
    pub fn for_profile(profile: &crate::config::Profile) -> Result<Self> {
        Self::with_user_agent(HttpSettings::for_profile(profile), profile.user_agent())
    }

    /// A client with `settings` sending `user_agent`. Reads no certificate yet ([`tls`]).
    pub fn with_user_agent(settings: HttpSettings, user_agent: &str) -> Result<Self> {
        let (builder, tls) = tls::builder_and_verifier()?;
        let inner = builder
            .user_agent(user_agent)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    format!("cannot set up the HTTP client: {e}"),
                )
                .with_source(e)
            })?;
        Ok(HttpClient {
            inner,
            settings,
            tracer: None,
            tls,
        })
    }

    /// The same client with every exchange passed to `tracer`.
    pub fn with_tracer(mut self, tracer: Arc<dyn Tracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// The underlying reqwest client, for requests that are not OAuth exchanges (calls to the
    /// protected resource). Shares the connection pool and timeouts.
    pub fn raw(&self) -> &reqwest::Client {
        &self.inner
    }

    /// The settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// True once a handshake of this client (or a clone) has verified a server certificate,
    /// which reads the system's CA certificates unless another client of the process already
    /// did ([`tls`]). A client that only talked plain http never sets TLS up.
    pub fn tls_set_up(&self) -> bool {
        self.tls.loaded()
    }

    fn trace(&self, event: TraceEvent<'_>) {
        if let Some(t) = &self.tracer {
            t.trace(&event);
        }
    }

    /// Sends `req` and reads the whole response (up to the cap). Transport failures are
    /// classified (DNS, connect, TLS, timeout); any status is returned as a response.
    pub async fn send(&self, req: &HttpRequest, correlation_id: &str) -> Result<HttpResponse> {
        tracing::debug!(request = %req.line(), "sending");
        if self.tracer.is_some() {
            let mut headers = req.redacted_headers();
            let content_type = match &req.body {
                Body::None => None,
                Body::Form(_) => Some("application/x-www-form-urlencoded"),
                Body::Json(_) => Some("application/json"),
            };
            if let Some(ct) = content_type {
                headers.push(("Content-Type".to_string(), ct.to_string()));
            }
            self.trace(TraceEvent::Request {
                correlation_id,
                line: req.line(),
                headers,
                body: req.redacted_body(),
            });
        }
        let result = self.exchange(req).await;
        match &result {
            Ok(resp) => {
                tracing::debug!(
                    status = resp.status,
                    request_id = resp.evidence.request_id.as_deref(),
                    elapsed_ms = resp.evidence.elapsed.map(|d| d.as_millis() as u64),
                    "answered"
                );
                if self.tracer.is_some() {
                    self.trace(TraceEvent::Response {
                        correlation_id,
                        evidence: &resp.evidence,
                        headers: resource::redact_headers(&resp.headers),
                    });
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "no usable response");
                self.trace(TraceEvent::Failed {
                    correlation_id,
                    line: req.line(),
                    error: e,
                });
            }
        }
        result.map_err(|e| e.with_correlation_id(correlation_id))
    }

    async fn exchange(&self, req: &HttpRequest) -> Result<HttpResponse> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut rb = self.inner.request(method, req.url.clone());
        for h in &req.headers {
            let mut value = reqwest::header::HeaderValue::from_str(&h.value).map_err(|_| {
                Error::config(format!(
                    "the value of the header `{}` cannot be sent (a line break or another control character)",
                    h.name
                ))
                .with_delivery(crate::error::Delivery::NotSent)
            })?;
            value.set_sensitive(h.secret);
            rb = rb.header(h.name.as_str(), value);
        }
        rb = match &req.body {
            Body::None => rb,
            Body::Form(params) => {
                let pairs: Vec<(&str, &str)> = params
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_str()))
                    .collect();
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                rb.header("Content-Type", "application/x-www-form-urlencoded")
                    .body(encoded)
            }
            Body::Json(params) => rb
                .header("Content-Type", "application/json")
                .body(json_object(params, |p| p.value.clone()).to_string()),
        };
        let started = Instant::now();
        let base = HttpEvidence {
            request: Some(req.line()),
            ..HttpEvidence::default()
        };
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let mut ev = base;
                ev.elapsed = Some(started.elapsed());
                return Err(classify::transport(req, &e, &self.settings, ev).await);
            }
        };
        let received_at = SystemTime::now();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        let cap = self.settings.max_body_bytes;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        let mut ev = evidence::capture(
                            status,
                            &headers,
                            &body,
                            started.elapsed(),
                            received_at,
                        );
                        ev.request = Some(req.line());
                        return Err(classify::too_large(req.kind, cap, ev));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut ev =
                        evidence::capture(status, &headers, &body, started.elapsed(), received_at);
                    ev.request = Some(req.line());
                    return Err(classify::transport(req, &e, &self.settings, ev).await);
                }
            }
        }
        let mut ev = evidence::capture(status, &headers, &body, started.elapsed(), received_at);
        ev.request = Some(req.line());
        Ok(HttpResponse {
            status,
            body,
            evidence: ev,
            headers,
            received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_request_hides_secrets() {
        let req = HttpRequest {
            kind: RequestKind::Refresh,
            method: Method::Post,
            url: Url::parse("https://x/token").unwrap(),
            headers: vec![Param::secret("Authorization", "Basic abc")],
            body: Body::Form(vec![
                Param::plain("grant_type", "refresh_token"),
                Param::secret("refresh_token", "rt-very-secret"),
            ]),
        };
        let b = req.redacted_body();
        assert!(b.contains("grant_type=refresh_token"));
        assert!(!b.contains("rt-very-secret"));
        assert!(!format!("{:?}", req).contains("rt-very-secret"));
        assert!(!format!("{:?}", req.redacted_headers()).contains("Basic abc"));
    }
}
