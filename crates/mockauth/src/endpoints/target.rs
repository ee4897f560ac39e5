//! Strict RFC 8707 resource indicators: with `resource_indicators` configured, the
//! authorization request and the code and refresh token requests must name known resources,
//! and a token request may only name resources its grant was authorized for. Anything else is
//! `invalid_target` (RFC 8707 §2).

use crate::config::Config;
use crate::oauth::{ErrorCode, OAuthError, Params};

fn invalid_target(description: String) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// The `resource` parameters of a request: every one known, at least one. Empty when the
/// server is not strict (then `resource` is ignored).
pub(crate) fn requested(config: &Config, params: &Params) -> Result<Vec<String>, OAuthError> {
    let known = &config.resource_indicators;
    if known.is_empty() {
        return Ok(Vec::new());
    }
    let asked = params.get_all("resource");
    if asked.is_empty() {
        return Err(invalid_target(format!(
            "missing `resource`: this server requires an RFC 8707 resource indicator (known: {})",
            known.join(" ")
        )));
    }
    if let Some(unknown) = asked.iter().find(|r| !known.iter().any(|k| k == *r)) {
        return Err(invalid_target(format!(
            "unknown resource `{unknown}` (known: {})",
            known.join(" ")
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for r in asked {
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

/// The resources of a token request, which must be among those its grant was authorized for
/// (`granted` empty: the grant was not bound to resources).
pub(crate) fn within_grant(
    config: &Config,
    params: &Params,
    granted: &[String],
) -> Result<Vec<String>, OAuthError> {
    let asked = requested(config, params)?;
    if granted.is_empty() {
        return Ok(asked);
    }
    if let Some(extra) = asked.iter().find(|a| !granted.contains(a)) {
        return Err(invalid_target(format!(
            "resource `{extra}` was not part of the authorization (authorized: {})",
            granted.join(" ")
        )));
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Config {
        Config {
            resource_indicators: vec!["https://a.test/".into(), "https://b.test/".into()],
            ..Config::default()
        }
    }

    #[test]
    fn off_by_default() {
        let p = Params::from_urlencoded(b"resource=x&resource=y");
        assert_eq!(requested(&Config::default(), &p).ok(), Some(Vec::new()));
    }

    #[test]
    fn strict_needs_known_resources() {
        let cfg = strict();
        let missing = requested(&cfg, &Params::default()).expect_err("missing");
        assert_eq!(missing.code, ErrorCode::InvalidTarget);
        let p = Params::from_urlencoded(b"resource=https%3A%2F%2Fc.test%2F");
        assert!(requested(&cfg, &p).is_err());
        let p = Params::from_urlencoded(
            b"resource=https%3A%2F%2Fa.test%2F&resource=https%3A%2F%2Fb.test%2F",
        );
        assert_eq!(requested(&cfg, &p).map(|v| v.len()).ok(), Some(2));
        let granted = vec!["https://a.test/".to_owned()];
        let err = within_grant(&cfg, &p, &granted).expect_err("b not granted");
        assert!(err.description.contains("b.test"), "{}", err.description);
    }
}
