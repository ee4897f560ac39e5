//! What makes a [`FaultSpec`] applicable: statuses and rates in range, keys that only make sense
//! together given together, and raw bodies and extra headers that are valid HTTP. Every message
//! names the key as `faults.<endpoint>.<key>` and says what to write instead.

use axum::http::{HeaderName, HeaderValue};

use super::{FaultBody, FaultSpec};

/// Headers a fault may not set: they decide how the response is framed on the wire (a wrong
/// `Content-Length` would hang or cut the client, not test it), or have their own key.
const REFUSED_HEADERS: [(&str, &str); 8] = [
    ("content-length", "it is computed from the body"),
    ("transfer-encoding", "it is decided by the server"),
    ("connection", "it is a hop-by-hop header"),
    ("keep-alive", "it is a hop-by-hop header"),
    ("upgrade", "it is a hop-by-hop header"),
    ("te", "it is a hop-by-hop header"),
    ("trailer", "it is a hop-by-hop header"),
    (
        "content-type",
        "use `content_type` with `body = \"raw\"` instead",
    ),
];

impl FaultSpec {
    /// Checks one endpoint's spec; `name` is the endpoint's key in the plan.
    pub(super) fn validate(&self, name: &str) -> Result<(), String> {
        if let Some(s) = self.status
            && !(200..=599).contains(&s)
        {
            return Err(format!("faults.{name}.status = {s}: must be 200..=599"));
        }
        if let Some(r) = self.rate
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!("faults.{name}.rate = {r}: must be between 0 and 1"));
        }
        let shapes_the_response = self.body.is_some()
            || self.error.is_some()
            || self.error_description.is_some()
            || self.raw_body.is_some()
            || self.content_type.is_some()
            || !self.headers.is_empty();
        if self.status.is_none() && shapes_the_response {
            return Err(format!(
                "faults.{name}: `body`, `error`, `raw_body`, `content_type` and `headers` need a `status` (without one the fault is latency only)"
            ));
        }
        if self.status.is_none() && self.latency_ms.is_none() {
            return Err(format!(
                "faults.{name}: give a `status`, a `latency_ms`, or both"
            ));
        }
        if self.error.is_some() && !matches!(self.body, None | Some(FaultBody::OauthJson)) {
            return Err(format!(
                "faults.{name}: `error` only applies to `body = \"oauth_json\"`"
            ));
        }
        self.validate_raw(name)?;
        self.validate_headers(name)
    }

    fn validate_raw(&self, name: &str) -> Result<(), String> {
        let raw = self.body == Some(FaultBody::Raw);
        if raw && self.raw_body.is_none() {
            return Err(format!(
                "faults.{name}: `body = \"raw\"` needs `raw_body`, the text to send"
            ));
        }
        if raw && self.error_description.is_some() {
            return Err(format!(
                "faults.{name}: `error_description` does not apply to `body = \"raw\"`; put it in `raw_body`"
            ));
        }
        if !raw && (self.raw_body.is_some() || self.content_type.is_some()) {
            return Err(format!(
                "faults.{name}: `raw_body` and `content_type` need `body = \"raw\"`"
            ));
        }
        if let Some(ct) = &self.content_type
            && HeaderValue::from_str(ct).is_err()
        {
            return Err(format!(
                "faults.{name}.content_type: {ct:?} is not a valid header value (no control characters such as CR or LF)"
            ));
        }
        Ok(())
    }

    fn validate_headers(&self, name: &str) -> Result<(), String> {
        for (header, value) in &self.headers {
            let parsed = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                format!(
                    "faults.{name}.headers: {header:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
                )
            })?;
            if let Some((_, why)) = REFUSED_HEADERS
                .iter()
                .find(|(refused, _)| *refused == parsed.as_str())
            {
                return Err(format!(
                    "faults.{name}.headers: `{header}` cannot be set by a fault: {why}"
                ));
            }
            if parsed == axum::http::header::RETRY_AFTER && self.retry_after.is_some() {
                return Err(format!(
                    "faults.{name}: give `retry_after` or a `Retry-After` in `headers`, not both"
                ));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "faults.{name}.headers.{header}: {value:?} is not a valid header value (no control characters such as CR or LF)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &FaultSpec) -> Result<(), String> {
        spec.validate("token")
    }

    #[test]
    fn raw_needs_its_body_and_nothing_else_takes_one() {
        assert!(check(&FaultSpec::raw(200, "{}")).is_ok());
        assert!(check(&FaultSpec::raw(200, "x").content_type("text/plain")).is_ok());
        let no_text = FaultSpec::status(200).body(FaultBody::Raw);
        assert!(check(&no_text).expect_err("refused").contains("raw_body"));
        let stray = FaultSpec {
            raw_body: Some("x".into()),
            ..FaultSpec::status(500)
        };
        assert!(
            check(&stray)
                .expect_err("refused")
                .contains("body = \"raw\"")
        );
        let stray_ct = FaultSpec::status(500).content_type("text/plain");
        assert!(check(&stray_ct).is_err());
        let bad_ct = FaultSpec::raw(200, "x").content_type("text/plain\r\nX-Evil: 1");
        assert!(
            check(&bad_ct)
                .expect_err("refused")
                .contains("content_type")
        );
    }

    #[test]
    fn headers_must_be_valid_http() {
        assert!(check(&FaultSpec::status(500).header("X-Trace", "a b")).is_ok());
        for (name, value, key) in [
            ("Bad Name", "v", "header name"),
            ("", "v", "header name"),
            ("X-Ok", "a\r\nX-Injected: 1", "header value"),
            ("X-Ok", "nul\0", "header value"),
            ("Content-Length", "5", "computed from the body"),
            ("transfer-encoding", "chunked", "decided by the server"),
            ("Content-Type", "text/html", "content_type"),
        ] {
            let err = check(&FaultSpec::status(500).header(name, value)).expect_err(name);
            assert!(err.contains(key), "{name}: {err}");
        }
        let both = FaultSpec::status(429)
            .retry_after(1)
            .header("Retry-After", "soon");
        assert!(check(&both).is_err());
        assert!(check(&FaultSpec::status(429).header("Retry-After", "soon")).is_ok());
    }

    #[test]
    fn headers_need_a_status() {
        let spec = FaultSpec {
            latency_ms: Some(10),
            ..FaultSpec::default()
        }
        .header("X-A", "b");
        assert!(check(&spec).expect_err("refused").contains("status"));
    }
}
