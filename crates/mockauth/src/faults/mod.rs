//! Fault injection as data: the [`FaultPlan`] schema (JSON for the admin API, TOML under
//! `[faults]`) and merging. Validation is in `validate.rs`; the live state — remaining counts,
//! seeded RNGs — and the fault responses are in `live.rs`.
//!
//! Handlers know nothing of faults. The boundary middleware (`boundary.rs`) asks the live
//! state whether a request's endpoint has a fault due, and if so replaces the response (or
//! delays it) on its way out.

mod live;
mod validate;

pub(crate) use live::{FaultState, Fired};

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An endpoint that faults can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
    Discovery,
    /// `/authorize` and the consent decision.
    Authorize,
    /// `/token`.
    Token,
    /// `/device_authorization`.
    Device,
    /// `/revoke`.
    Revoke,
    /// `/introspect`.
    Introspect,
    /// `/jwks`.
    Jwks,
    /// `/userinfo`.
    Userinfo,
    /// The protected resource: `/v1/messages` and `/v1/stream`.
    Resource,
}

impl Endpoint {
    /// All endpoints, in plan order.
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Discovery,
        Endpoint::Authorize,
        Endpoint::Token,
        Endpoint::Device,
        Endpoint::Revoke,
        Endpoint::Introspect,
        Endpoint::Jwks,
        Endpoint::Userinfo,
        Endpoint::Resource,
    ];

    /// Which endpoint serves a request path, if any can be faulted.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => {
                Endpoint::Discovery
            }
            "/authorize" | "/authorize/decision" => Endpoint::Authorize,
            "/token" => Endpoint::Token,
            "/device_authorization" => Endpoint::Device,
            "/revoke" => Endpoint::Revoke,
            "/introspect" => Endpoint::Introspect,
            "/jwks" => Endpoint::Jwks,
            "/userinfo" => Endpoint::Userinfo,
            "/v1/messages" | "/v1/stream" => Endpoint::Resource,
            _ => return None,
        })
    }

    /// The key of this endpoint in the fault plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
            Endpoint::Device => "device",
            Endpoint::Revoke => "revoke",
            Endpoint::Introspect => "introspect",
            Endpoint::Jwks => "jwks",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Resource => "resource",
        }
    }

    /// Parses a plan key (`"token"`, `"resource"`…).
    pub fn parse(s: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The faults in force: one optional [`FaultSpec`] per endpoint and a global clock skew.
///
/// JSON and TOML shape: `{"token": {...}, "resource": {...}, "clock_skew_s": -30}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is the fault of the endpoint it names, see `Endpoint`
pub struct FaultPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspect: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<FaultSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<FaultSpec>,
    /// Signed seconds added to the server's displayed clock: the `Date` header and the
    /// `iat`/`exp` claims it shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_s: Option<i64>,
}

/// What happens to requests of one endpoint.
///
/// Which requests: the next `count` ones, or each with probability `rate` (from an RNG seeded
/// with `seed`, default 0, so a run is reproducible), or with both each with probability `rate`
/// until `count` faults were injected; with neither, every request. What happens: a delay of
/// `latency_ms`, then, when `status` is set, a fault response instead of the real one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP status of the fault response; without it the fault is only `latency_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Probability (0..=1) that a request is faulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Fault only the next N requests, then the spec is removed from the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Seed of the RNG behind `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Seconds for a `Retry-After` header on the fault response, sent as given (absurd values
    /// such as 400000000000 included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Delay before answering, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The fault response's body; default `oauth_json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<FaultBody>,
    /// The OAuth `error` of an `oauth_json` body; default from the status (`server_error`,
    /// `temporarily_unavailable` for 503 and 429, `invalid_request` for 400…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `error_description` of an `oauth_json` body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The body of a `raw` fault, sent byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// The `Content-Type` of a `raw` body; default `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Extra headers on the fault response, set last (they replace a default such as the
    /// `WWW-Authenticate` challenge, `Date` or `X-Request-Id`). Names and values must be valid
    /// HTTP; the framing headers and `Content-Type` (see `content_type`) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// When true, the request is first processed for real (codes consumed, refresh tokens
    /// rotated) and only its response is lost and replaced: the "server did it, the client
    /// never heard" case. Default false: the request never reaches the handler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub processed: bool,
}

/// The body of a fault response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultBody {
    /// An RFC 6749 §5.2 JSON error with `error` (and `error_description`).
    OauthJson,
    /// A proxy's HTML error page, `Content-Type: text/html`.
    Html,
    /// No body at all.
    Empty,
    /// `Content-Type: application/json` with a truncated, unparsable body.
    MalformedJson,
    /// A valid JSON error padded to more than 2 MiB.
    Huge,
    /// `raw_body`, byte for byte, with `content_type` (default `application/json`): any
    /// malformed answer a test needs.
    Raw,
}

/// Size of a [`FaultBody::Huge`] body: comfortably over 2 MiB.
pub const HUGE_BODY_BYTES: usize = 2 * 1024 * 1024 + 64 * 1024;

impl FaultSpec {
    /// A fault answering `status` to every request.
    pub fn status(status: u16) -> Self {
        FaultSpec {
            status: Some(status),
            ..FaultSpec::default()
        }
    }

    /// Limits the fault to the next `n` requests.
    pub fn count(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }

    /// Faults each request with probability `rate`, from an RNG seeded with `seed`.
    pub fn rate(mut self, rate: f64, seed: u64) -> Self {
        self.rate = Some(rate);
        self.seed = Some(seed);
        self
    }

    /// Sets the body kind.
    pub fn body(mut self, body: FaultBody) -> Self {
        self.body = Some(body);
        self
    }

    /// Sets an `oauth_json` body with this `error` code.
    pub fn oauth_error(mut self, error: impl Into<String>) -> Self {
        self.body = Some(FaultBody::OauthJson);
        self.error = Some(error.into());
        self
    }

    /// Answers `status` with `body`, byte for byte (`Content-Type: application/json` unless
    /// [`FaultSpec::content_type`] says otherwise).
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        FaultSpec {
            status: Some(status),
            body: Some(FaultBody::Raw),
            raw_body: Some(body.into()),
            ..FaultSpec::default()
        }
    }

    /// Sets the `Content-Type` of a `raw` body.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a header to the fault response.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Adds a delay.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency_ms = Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Processes the request for real and loses its response.
    pub fn processed(mut self) -> Self {
        self.processed = true;
        self
    }
}

impl FaultPlan {
    /// The spec for one endpoint.
    pub fn get(&self, endpoint: Endpoint) -> Option<&FaultSpec> {
        self.slot(endpoint).as_ref()
    }

    /// Sets (or with `None` removes) the spec for one endpoint.
    pub fn set(&mut self, endpoint: Endpoint, spec: Option<FaultSpec>) -> &mut Self {
        *self.slot_mut(endpoint) = spec;
        self
    }

    /// Builder form of [`FaultPlan::set`].
    pub fn with(mut self, endpoint: Endpoint, spec: FaultSpec) -> Self {
        self.set(endpoint, Some(spec));
        self
    }

    /// Sets the clock skew.
    pub fn with_clock_skew(mut self, secs: i64) -> Self {
        self.clock_skew_s = Some(secs);
        self
    }

    fn slot(&self, e: Endpoint) -> &Option<FaultSpec> {
        match e {
            Endpoint::Discovery => &self.discovery,
            Endpoint::Authorize => &self.authorize,
            Endpoint::Token => &self.token,
            Endpoint::Device => &self.device,
            Endpoint::Revoke => &self.revoke,
            Endpoint::Introspect => &self.introspect,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Userinfo => &self.userinfo,
            Endpoint::Resource => &self.resource,
        }
    }

    pub(super) fn slot_mut(&mut self, e: Endpoint) -> &mut Option<FaultSpec> {
        match e {
            Endpoint::Discovery => &mut self.discovery,
            Endpoint::Authorize => &mut self.authorize,
            Endpoint::Token => &mut self.token,
            Endpoint::Device => &mut self.device,
            Endpoint::Revoke => &mut self.revoke,
            Endpoint::Introspect => &mut self.introspect,
            Endpoint::Jwks => &mut self.jwks,
            Endpoint::Userinfo => &mut self.userinfo,
            Endpoint::Resource => &mut self.resource,
        }
    }

    /// Checks statuses, rates and combinations; the error names the bad key.
    pub fn validate(&self) -> Result<(), InvalidFaultPlan> {
        for e in Endpoint::ALL {
            if let Some(spec) = self.get(e) {
                spec.validate(e.as_str()).map_err(InvalidFaultPlan)?;
            }
        }
        Ok(())
    }

    /// Merges `other` into `self` as `POST /admin/faults` does: endpoints named in `other`
    /// replace ours, the others are kept; `clock_skew_s` is taken when present.
    pub fn merge(&mut self, other: FaultPlan) {
        for e in Endpoint::ALL {
            if let Some(spec) = other.get(e) {
                self.set(e, Some(spec.clone()));
            }
        }
        if other.clock_skew_s.is_some() {
            self.clock_skew_s = other.clock_skew_s;
        }
    }
}

/// A fault plan that cannot be applied; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault plan: {0}")]
pub struct InvalidFaultPlan(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_unnamed_endpoints() {
        let mut a = FaultPlan::default()
            .with(Endpoint::Token, FaultSpec::status(500))
            .with_clock_skew(5);
        a.merge(FaultPlan::default().with(Endpoint::Resource, FaultSpec::status(401)));
        assert!(a.token.is_some() && a.resource.is_some());
        assert_eq!(a.clock_skew_s, Some(5));
    }

    #[test]
    fn validation_names_the_key() {
        let plan = FaultPlan::default().with(Endpoint::Revoke, FaultSpec::status(700));
        let err = plan.validate().expect_err("bad status");
        assert!(err.to_string().contains("revoke"), "{err}");
        let plan = FaultPlan::default().with(Endpoint::Token, FaultSpec::default());
        assert!(plan.validate().is_err());
    }

    #[test]
    fn json_shape() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"token":{"status":500,"count":1,"body":"html"},"clock_skew_s":-30}"#,
        )
        .expect("parses");
        assert_eq!(
            plan.token.as_ref().and_then(|s| s.body),
            Some(FaultBody::Html)
        );
        assert!(serde_json::from_str::<FaultPlan>(r#"{"tokn":{}}"#).is_err());
    }
}
