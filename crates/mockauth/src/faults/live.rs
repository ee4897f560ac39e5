//! The live fault state: the plan in force with its remaining counts and seeded RNGs, the
//! per-request decision, and the fault responses (OAuth JSON, HTML, empty, malformed, huge,
//! raw) with their extra headers.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Endpoint, FaultBody, FaultPlan, FaultSpec, HUGE_BODY_BYTES};
use crate::oauth::ErrorTag;

/// A fault that fired for one request.
#[derive(Debug, Clone)]
pub(crate) struct Fired {
    pub spec: FaultSpec,
    pub endpoint: Endpoint,
}

/// The live plan plus what it needs to decide: remaining counts and seeded RNGs.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    rngs: HashMap<Endpoint, StdRng>,
}

impl FaultState {
    pub fn new(plan: FaultPlan) -> Self {
        let mut s = FaultState::default();
        s.replace(plan);
        s
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    pub fn clock_skew_s(&self) -> i64 {
        self.plan.clock_skew_s.unwrap_or(0)
    }

    /// Replaces the whole plan (RNGs restart from their seeds).
    pub fn replace(&mut self, plan: FaultPlan) {
        self.rngs.clear();
        for e in Endpoint::ALL {
            if let Some(spec) = plan.get(e) {
                self.rngs
                    .insert(e, StdRng::seed_from_u64(spec.seed.unwrap_or(0)));
            }
        }
        self.plan = plan;
    }

    /// Merges as `POST /admin/faults` does; replaced endpoints restart their RNGs.
    pub fn merge(&mut self, other: FaultPlan) {
        for e in Endpoint::ALL {
            if let Some(spec) = other.get(e) {
                self.rngs
                    .insert(e, StdRng::seed_from_u64(spec.seed.unwrap_or(0)));
            }
        }
        self.plan.merge(other);
    }

    /// Removes one endpoint's fault.
    pub fn remove(&mut self, e: Endpoint) {
        self.plan.set(e, None);
        self.rngs.remove(&e);
    }

    /// Decides whether this request of `endpoint` is faulted, consuming count and RNG draws.
    pub fn decide(&mut self, endpoint: Endpoint) -> Option<Fired> {
        let spec = self.plan.get(endpoint)?.clone();
        if spec.count == Some(0) {
            self.remove(endpoint);
            return None;
        }
        if let Some(rate) = spec.rate {
            let rng = self
                .rngs
                .entry(endpoint)
                .or_insert_with(|| StdRng::seed_from_u64(spec.seed.unwrap_or(0)));
            if !rng.gen_bool(rate.clamp(0.0, 1.0)) {
                return None;
            }
        }
        if let Some(n) = spec.count {
            if n <= 1 {
                self.remove(endpoint);
            } else if let Some(live) = self.plan.slot_mut(endpoint).as_mut() {
                live.count = Some(n - 1);
            }
        }
        Some(Fired { spec, endpoint })
    }
}

impl Fired {
    pub fn latency(&self) -> Option<Duration> {
        self.spec.latency_ms.map(Duration::from_millis)
    }

    /// The response replacing the real one, or `None` for a latency-only fault.
    pub fn response(&self) -> Option<Response> {
        let status = StatusCode::from_u16(self.spec.status?).ok()?;
        let kind = self.spec.body.unwrap_or(FaultBody::OauthJson);
        let error = self
            .spec
            .error
            .clone()
            .unwrap_or_else(|| default_error(self.endpoint, status).to_owned());
        let description = self.spec.error_description.clone().unwrap_or_else(|| {
            format!(
                "injected fault: {} {} on {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                self.endpoint.as_str()
            )
        });
        let mut builder = Response::builder()
            .status(status)
            .header("x-mockauth-fault", self.endpoint.as_str())
            .header(header::CACHE_CONTROL, "no-store");
        if let Some(secs) = self.spec.retry_after {
            builder = builder.header(header::RETRY_AFTER, secs);
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match self.endpoint {
                Endpoint::Resource | Endpoint::Userinfo => format!(
                    "Bearer realm=\"mockauth\", error=\"{}\"",
                    error.replace(['"', '\\'], "")
                ),
                _ => "Basic realm=\"mockauth\"".to_owned(),
            };
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                builder = builder.header(header::WWW_AUTHENTICATE, v);
            }
        }
        let (content_type, body): (Option<&str>, Body) = match kind {
            FaultBody::OauthJson => {
                let v = serde_json::json!({"error": error, "error_description": description});
                (Some("application/json"), Body::from(v.to_string()))
            }
            FaultBody::Html => (
                Some("text/html; charset=utf-8"),
                Body::from(html_page(status)),
            ),
            FaultBody::Empty => (None, Body::empty()),
            FaultBody::MalformedJson => (
                Some("application/json"),
                Body::from(format!(
                    "{{\"error\": \"{error}\", \"error_description\": \"truncated"
                )),
            ),
            FaultBody::Huge => (Some("application/json"), Body::from(huge_body(&error))),
            FaultBody::Raw => (
                Some(
                    self.spec
                        .content_type
                        .as_deref()
                        .unwrap_or("application/json"),
                ),
                Body::from(self.spec.raw_body.clone().unwrap_or_default()),
            ),
        };
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let mut resp = builder.body(body).ok()?;
        // Validated with the plan; an invalid one could not get here, and is skipped if it did.
        for (name, value) in &self.spec.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                resp.headers_mut().insert(n, v);
            }
        }
        let tag = match kind {
            FaultBody::OauthJson | FaultBody::Huge => Some(error),
            FaultBody::Raw => self.spec.raw_body.as_deref().and_then(oauth_error_in),
            FaultBody::Html | FaultBody::Empty | FaultBody::MalformedJson => None,
        };
        if let Some(tag) = tag {
            resp.extensions_mut().insert(ErrorTag(tag));
        }
        Some(resp)
    }
}

/// The OAuth `error` of a raw body, when it is a JSON object with a string `error`.
fn oauth_error_in(raw: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    value.get("error")?.as_str().map(str::to_owned)
}

fn default_error(endpoint: Endpoint, status: StatusCode) -> &'static str {
    match status.as_u16() {
        503 | 429 => "temporarily_unavailable",
        401 if matches!(endpoint, Endpoint::Resource | Endpoint::Userinfo) => "invalid_token",
        401 => "invalid_client",
        403 if matches!(endpoint, Endpoint::Resource | Endpoint::Userinfo) => "insufficient_scope",
        403 => "access_denied",
        400..=499 => "invalid_request",
        _ => "server_error",
    }
}

fn html_page(status: StatusCode) -> String {
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn huge_body(error: &str) -> String {
    let head = format!("{{\"error\":\"{error}\",\"error_description\":\"");
    let mut s = String::with_capacity(HUGE_BODY_BYTES + 64);
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', HUGE_BODY_BYTES));
    s.push_str("\"}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_runs_out_and_removes_the_spec() {
        let mut st = FaultState::new(
            FaultPlan::default().with(Endpoint::Token, FaultSpec::status(500).count(2)),
        );
        assert!(st.decide(Endpoint::Token).is_some());
        assert_eq!(st.plan().token.as_ref().and_then(|s| s.count), Some(1));
        assert!(st.decide(Endpoint::Token).is_some());
        assert!(st.decide(Endpoint::Token).is_none());
        assert!(st.plan().token.is_none());
        assert!(st.decide(Endpoint::Resource).is_none());
    }

    #[test]
    fn rate_is_deterministic_for_a_seed() {
        let run = |seed| {
            let mut st = FaultState::new(
                FaultPlan::default().with(Endpoint::Token, FaultSpec::status(503).rate(0.5, seed)),
            );
            (0..64)
                .map(|_| st.decide(Endpoint::Token).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|b| **b).count();
        assert!((10..54).contains(&hits), "{hits}");
    }
}
