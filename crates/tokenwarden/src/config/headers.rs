//! Extra HTTP headers a profile sends (`token_request_headers` on token requests,
//! `resource_headers` on API calls, shared with the proxy) and its `User-Agent`.
//!
//! A header's value is written three ways in config.toml:
//!
//! ```toml
//! [profiles.claude.resource_headers]
//! "anthropic-beta" = "oauth-2025-04-20"          # a plain value, shown in traces
//! "X-Api-Key" = { env = "MY_API_KEY" }            # read from the environment; secret
//! "X-Tenant" = { value = "abc", secret = true }   # written here, but never logged
//! ```
//!
//! A secret value is never shown: traces and `--json` name the header with a fingerprint of
//! the value, `profile show` says where it comes from. Names and values are checked when the
//! profile loads (a header name, no control characters), and the headers tokenwarden sets itself
//! are refused with the key that sets them instead.

use super::Diagnostic;
use super::parse::Loc;
use crate::error::{Error, Result};
use crate::secret::ClientSecret;

/// The `User-Agent` sent when a profile sets none.
pub const DEFAULT_USER_AGENT: &str = concat!("tokenwarden/", env!("CARGO_PKG_VERSION"));

/// Where a header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSource {
    /// Written in config.toml, not secret.
    Plain(String),
    /// Written in config.toml and marked `secret = true`.
    Secret(ClientSecret),
    /// Read from this environment variable when a request is made; always secret.
    Env(String),
}

/// One extra header of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSpec {
    /// The header name, as written.
    pub name: String,
    /// Where its value comes from.
    pub source: HeaderSource,
}

/// A header ready to send: its value read.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedHeader {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
    /// Whether the value is secret (shown only as a fingerprint).
    pub secret: bool,
}

impl std::fmt::Debug for ResolvedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.secret {
            "[redacted]"
        } else {
            self.value.as_str()
        };
        write!(f, "{}: {shown}", self.name)
    }
}

impl HeaderSpec {
    /// A plain header (for profiles built in code, and presets).
    pub fn plain(name: impl Into<String>, value: impl Into<String>) -> Self {
        HeaderSpec {
            name: name.into(),
            source: HeaderSource::Plain(value.into()),
        }
    }

    /// Whether the value is secret.
    pub fn is_secret(&self) -> bool {
        !matches!(self.source, HeaderSource::Plain(_))
    }

    /// What can be said about the value without showing a secret: the value itself when plain,
    /// else where it comes from.
    pub fn describe(&self) -> String {
        match &self.source {
            HeaderSource::Plain(v) => v.clone(),
            HeaderSource::Secret(_) => "[secret, in config.toml]".into(),
            HeaderSource::Env(var) => format!("[secret, from ${var}]"),
        }
    }

    /// The header with its value read now; a Config error naming the variable when an
    /// environment variable is not set, or holds what cannot be a header value.
    pub fn resolve(&self, key: &str, profile: &str) -> Result<ResolvedHeader> {
        let (value, secret) = match &self.source {
            HeaderSource::Plain(v) => (v.clone(), false),
            HeaderSource::Secret(s) => (s.expose().to_string(), true),
            HeaderSource::Env(var) => {
                let v = std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                    Error::config(format!(
                        "profile `{profile}` sends the header `{}` ({key}) from the environment variable {var}, which is not set",
                        self.name
                    ))
                    .with_hint(format!("export {var}=<the value>, or remove the header from {key}"))
                })?;
                if !valid_value(&v) {
                    return Err(Error::config(format!(
                        "the environment variable {var} (header `{}` of profile `{profile}`) holds characters a header value cannot have (a line break or another control character)",
                        self.name
                    ))
                    .with_hint(format!("set {var} to the value on one line")));
                }
                (v, true)
            }
        };
        Ok(ResolvedHeader {
            name: self.name.clone(),
            value,
            secret,
        })
    }
}

impl super::Profile {
    /// The `User-Agent` sent to the provider and the API.
    pub fn user_agent(&self) -> &str {
        self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT)
    }

    /// The token-request headers with their values read now (see [`HeaderSpec::resolve`]).
    pub fn token_request_headers(&self) -> Result<Vec<ResolvedHeader>> {
        resolve_all(
            &self.token_request_headers,
            "token_request_headers",
            &self.name,
        )
    }

    /// The API-call headers with their values read now (see [`HeaderSpec::resolve`]).
    pub fn resource_headers(&self) -> Result<Vec<ResolvedHeader>> {
        resolve_all(&self.resource_headers, "resource_headers", &self.name)
    }
}

/// Resolves every header of `specs` (see [`HeaderSpec::resolve`]).
pub fn resolve_all(specs: &[HeaderSpec], key: &str, profile: &str) -> Result<Vec<ResolvedHeader>> {
    specs.iter().map(|h| h.resolve(key, profile)).collect()
}

/// A header value as written in the file, before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawHeader {
    Plain(String),
    Env(String),
    Inline { value: String, secret: bool },
}

/// Reads a headers table: each value a string, `{ env = "VAR" }` or `{ value = "…", secret =
/// true }`. The error names what was found instead.
pub(crate) fn convert(
    item: &toml_edit::Item,
) -> std::result::Result<Vec<(String, RawHeader)>, &'static str> {
    let table = item.as_table_like().ok_or("not a table")?;
    let mut out = Vec::new();
    for (name, v) in table.iter() {
        if let Some(s) = v.as_str() {
            out.push((name.to_string(), RawHeader::Plain(s.to_string())));
            continue;
        }
        let t = v
            .as_table_like()
            .ok_or("a table whose values are neither strings nor { env = \"VAR\" } / { value = \"…\", secret = true }")?;
        let env = t
            .get("env")
            .map(|e| e.as_str().ok_or("an `env` that is not a string"));
        let value = t
            .get("value")
            .map(|e| e.as_str().ok_or("a `value` that is not a string"));
        let secret = t
            .get("secret")
            .map(|e| e.as_bool().ok_or("a `secret` that is not true or false"));
        if t.iter()
            .any(|(k, _)| !matches!(k, "env" | "value" | "secret"))
        {
            return Err("a header table with a key other than env, value and secret");
        }
        let raw = match (env.transpose()?, value.transpose()?, secret.transpose()?) {
            (Some(var), None, None | Some(true)) => RawHeader::Env(var.to_string()),
            (None, Some(v), s) => RawHeader::Inline {
                value: v.to_string(),
                secret: s.unwrap_or(false),
            },
            (Some(_), Some(_), _) => return Err("a header with both `env` and `value`"),
            (Some(_), None, Some(false)) => {
                return Err(
                    "a header read from `env` marked secret = false (values from the environment are always secret)",
                );
            }
            (None, None, _) => return Err("a header table with neither `env` nor `value`"),
        };
        out.push((name.to_string(), raw));
    }
    Ok(out)
}

/// Headers tokenwarden sets itself, and the key (or reason) that decides each instead.
const RESERVED: &[(&str, &str)] = &[
    ("host", "the URL decides it"),
    ("content-length", "the body decides it"),
    ("transfer-encoding", "the body decides it"),
    ("connection", "tokenwarden manages connections"),
    (
        "content-type",
        "token_request_format decides it (or the request's own -H)",
    ),
    ("user-agent", "set `user_agent` in the profile instead"),
];

/// Validates a headers key's entries into specs, recording problems against `key`.
/// `Authorization` is tokenwarden's (the bearer token, or the client's credentials) and may not
/// be set here, nor the headers in `RESERVED`.
pub(crate) fn build(
    key: &str,
    full_key: &str,
    loc: Loc,
    raw: &[(String, RawHeader)],
    problems: &mut Vec<Diagnostic>,
) -> Vec<HeaderSpec> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let lower = name.to_ascii_lowercase();
        if !valid_name(name) {
            problems.push(Diagnostic::new(
                loc,
                full_key,
                format!("`{key}`: `{name}` is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"),
            ));
            continue;
        }
        if lower == "authorization" || lower == "proxy-authorization" {
            problems.push(
                Diagnostic::new(
                    loc,
                    full_key,
                    format!("`{key}` may not set `{name}`: tokenwarden sends the token (or the client's credentials) in it"),
                )
                .with_hint("use client_auth for the client's credentials; the bearer token is added by tokenwarden"),
            );
            continue;
        }
        if let Some((_, why)) = RESERVED.iter().find(|(n, _)| *n == lower) {
            problems.push(Diagnostic::new(
                loc,
                full_key,
                format!("`{key}` may not set `{name}`: {why}"),
            ));
            continue;
        }
        if out
            .iter()
            .any(|h: &HeaderSpec| h.name.eq_ignore_ascii_case(name))
        {
            problems.push(Diagnostic::new(
                loc,
                full_key,
                format!("`{key}` names the header `{name}` twice"),
            ));
            continue;
        }
        let source = match value {
            RawHeader::Plain(v) | RawHeader::Inline { value: v, .. } if !valid_value(v) => {
                // The value is not quoted: it may be a secret.
                problems.push(Diagnostic::new(
                    loc,
                    full_key,
                    format!("`{key}`: the value of `{name}` has a line break or another control character"),
                ));
                continue;
            }
            RawHeader::Plain(v) => HeaderSource::Plain(v.clone()),
            RawHeader::Inline {
                value,
                secret: false,
            } => HeaderSource::Plain(value.clone()),
            RawHeader::Inline {
                value,
                secret: true,
            } => HeaderSource::Secret(ClientSecret::new(value.clone())),
            RawHeader::Env(var) if !super::checks::valid_env_name(var) => {
                problems.push(Diagnostic::new(
                    loc,
                    full_key,
                    format!("`{key}`: `env` of `{name}` must name an environment variable (letters, digits and _)"),
                ));
                continue;
            }
            RawHeader::Env(var) => HeaderSource::Env(var.clone()),
        };
        out.push(HeaderSpec {
            name: name.clone(),
            source,
        });
    }
    out
}

/// `preset` headers with the profile's on top: a profile header replaces the preset's of the
/// same name (compared without case).
pub(crate) fn merged(preset: &[(&str, &str)], own: Vec<HeaderSpec>) -> Vec<HeaderSpec> {
    let mut out: Vec<HeaderSpec> = preset
        .iter()
        .filter(|(n, _)| !own.iter().any(|h| h.name.eq_ignore_ascii_case(n)))
        .map(|(n, v)| HeaderSpec::plain(*n, *v))
        .collect();
    out.extend(own);
    out
}

/// An HTTP header name (RFC 9110 §5.1: a token).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value without control characters (tabs allowed), trimmed of nothing.
pub fn valid_value(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || !c.is_control())
}

/// Checks a `user_agent`: a non-empty header value.
pub(crate) fn check_user_agent(ua: &str) -> std::result::Result<(), &'static str> {
    if ua.trim().is_empty() {
        Err("`user_agent` is empty")
    } else if !valid_value(ua) {
        Err("`user_agent` has a line break or another control character")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert!(valid_name("anthropic-beta"));
        assert!(!valid_name("Bad Name"));
        assert!(!valid_name(""));
        assert!(valid_value("oauth-2025-04-20, x"));
        assert!(!valid_value("a\r\nX-Injected: 1"));
    }

    #[test]
    fn secret_values_never_show() {
        let h = HeaderSpec {
            name: "X-Tenant".into(),
            source: HeaderSource::Secret(ClientSecret::new("s3cr3t")),
        };
        assert!(!format!("{h:?}").contains("s3cr3t"));
        assert!(!h.describe().contains("s3cr3t"));
        let r = h.resolve("resource_headers", "p").expect("inline secret");
        assert!(r.secret && !format!("{r:?}").contains("s3cr3t"));
    }

    #[test]
    fn profile_headers_replace_the_presets() {
        let own = vec![HeaderSpec::plain("Anthropic-Beta", "mine")];
        let m = merged(&[("anthropic-beta", "preset"), ("x-other", "1")], own);
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|h| h.describe() == "mine"));
        assert!(!m.iter().any(|h| h.describe() == "preset"));
    }
}
