//! The option types that make the server behave like one provider or another: how the
//! protected resource answers a dead token ([`DeadTokenStatus`]), the headers it requires
//! ([`RequiredHeader`]), and where the RFC 8414 metadata is published ([`MetadataLocation`]).

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// What the protected resource answers a dead (unknown, expired or revoked) access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadTokenStatus {
    /// 401 with `WWW-Authenticate: Bearer … error="invalid_token"` (RFC 6750 §3.1).
    #[default]
    Unauthorized,
    /// A bare 403: no `WWW-Authenticate`, a JSON body that is not an OAuth error (as some
    /// providers answer a revoked token).
    Forbidden,
}

/// A text that names none of an option's choices (from `FromStr`, for command-line flags).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a valid {what}: give {expected}")]
pub struct InvalidChoice {
    what: &'static str,
    given: String,
    expected: &'static str,
}

impl FromStr for DeadTokenStatus {
    type Err = InvalidChoice;

    /// `401` or `403`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u16>()
            .ok()
            .and_then(DeadTokenStatus::from_status)
            .ok_or_else(|| InvalidChoice {
                what: "dead-token status",
                given: s.to_owned(),
                expected: "401 or 403",
            })
    }
}

impl FromStr for MetadataLocation {
    type Err = InvalidChoice;

    /// `inserted` or `appended`, as in the config file.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "inserted" => Ok(MetadataLocation::Inserted),
            "appended" => Ok(MetadataLocation::Appended),
            _ => Err(InvalidChoice {
                what: "metadata location",
                given: s.to_owned(),
                expected: "`inserted` or `appended`",
            }),
        }
    }
}

impl DeadTokenStatus {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            DeadTokenStatus::Unauthorized => 401,
            DeadTokenStatus::Forbidden => 403,
        }
    }

    /// The variant for an HTTP status: 401 or 403.
    pub fn from_status(status: u16) -> Option<DeadTokenStatus> {
        match status {
            401 => Some(DeadTokenStatus::Unauthorized),
            403 => Some(DeadTokenStatus::Forbidden),
            _ => None,
        }
    }
}

/// A header the protected resource requires, written `Name: value`.
///
/// A request satisfies it when one of its `Name` headers holds `value` as one of its
/// comma-separated items (`anthropic-beta: a,oauth-2025-04-20` satisfies
/// `anthropic-beta: oauth-2025-04-20`). An empty value (`Name:`) asks only for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredHeader {
    name: HeaderName,
    value: String,
}

/// A `Name: value` text that is not a valid required header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "required header {text:?}: {why}; write it as `Name: value`, e.g. `anthropic-beta: oauth-2025-04-20`"
)]
pub struct InvalidRequiredHeader {
    text: String,
    why: &'static str,
}

impl RequiredHeader {
    /// The header name, lower-case.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The value required (empty: any value).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a request's headers satisfy this requirement.
    pub(crate) fn satisfied_by(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(&self.name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| self.value.is_empty() || v.split(',').any(|item| item.trim() == self.value))
    }
}

impl FromStr for RequiredHeader {
    type Err = InvalidRequiredHeader;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why| InvalidRequiredHeader {
            text: text.to_owned(),
            why,
        };
        let (name, value) = text.split_once(':').ok_or_else(|| bad("there is no `:`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad("the name is not a valid header name"))?;
        let value = value.trim();
        if HeaderValue::from_str(value).is_err() || value.contains(',') {
            return Err(bad(
                "the value is not a valid header value of one item (no control characters, no comma)",
            ));
        }
        Ok(RequiredHeader {
            name,
            value: value.to_owned(),
        })
    }
}

impl fmt::Display for RequiredHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// Where the RFC 8414 authorization server metadata is published, for an issuer with a path
/// (for an issuer without one both are `/.well-known/oauth-authorization-server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MetadataLocation {
    /// RFC 8414 §3.1: the well-known suffix inserted between the host and the issuer's path,
    /// `https://host/.well-known/oauth-authorization-server/path`.
    #[default]
    Inserted,
    /// Appended to the issuer, `https://host/path/.well-known/oauth-authorization-server`, and
    /// not at the inserted location, as some servers publish it.
    Appended,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_headers_parse_and_match_items() {
        let h: RequiredHeader = "Anthropic-Beta: oauth-2025-04-20".parse().expect("parses");
        assert_eq!(h.name(), "anthropic-beta");
        assert_eq!(h.to_string(), "anthropic-beta: oauth-2025-04-20");
        let mut headers = HeaderMap::new();
        assert!(!h.satisfied_by(&headers));
        headers.insert(
            "anthropic-beta",
            HeaderValue::from_static("x, oauth-2025-04-20"),
        );
        assert!(h.satisfied_by(&headers));
        headers.insert(
            "anthropic-beta",
            HeaderValue::from_static("oauth-2025-04-21"),
        );
        assert!(!h.satisfied_by(&headers));
        let any: RequiredHeader = "x-app:".parse().expect("presence only");
        headers.insert("x-app", HeaderValue::from_static("cli"));
        assert!(any.satisfied_by(&headers));
    }

    #[test]
    fn bad_required_headers_are_explained() {
        for bad in ["no colon", "bad name: x", ": x", "x-a: b\u{7f}", "x-a: a,b"] {
            let err = bad.parse::<RequiredHeader>().expect_err(bad);
            assert!(err.to_string().contains("Name: value"), "{err}");
        }
    }

    #[test]
    fn choices_parse_from_text() {
        assert_eq!("403".parse(), Ok(DeadTokenStatus::Forbidden));
        assert!("404".parse::<DeadTokenStatus>().is_err());
        assert_eq!("appended".parse(), Ok(MetadataLocation::Appended));
        let err = "sideways".parse::<MetadataLocation>().expect_err("refused");
        assert!(err.to_string().contains("inserted"), "{err}");
    }

    #[test]
    fn dead_token_status_is_401_or_403() {
        assert_eq!(
            DeadTokenStatus::from_status(403),
            Some(DeadTokenStatus::Forbidden)
        );
        assert_eq!(
            DeadTokenStatus::from_status(401).map(|d| d.status()),
            Some(401)
        );
        assert_eq!(DeadTokenStatus::from_status(404), None);
    }
}
