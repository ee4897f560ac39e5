//! Parsing what a token endpoint answered: tolerant where real providers differ, strict where it
//! matters.
//!
//! Tolerant: `expires_in` as a number or a string; a missing `token_type` means `Bearer`, and
//! `bearer` is `Bearer`; a missing `scope` means the scopes requested (RFC 6749 §5.1); GitHub's
//! form-encoded bodies and comma-separated scopes; Google's `verification_url`. Strict: no
//! `access_token` is an error; a body carrying `error` is an error even with status 200 (GitHub
//! does this). Expiry is computed from `expires_in` at receipt, never from the server's clock.
//! Nothing here panics on any input (a property test checks it).

use crate::error::{OAuthError, OAuthErrorCode};
use crate::secret::{AccessToken, DeviceCode, IdToken, RefreshToken};
use crate::token::TokenSet;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

/// The longest lifetime believed (ten years); larger `expires_in` values are clamped.
const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

/// A response body, recognised.
///
/// Its `Debug` shows the field names of a JSON or form body, never their values (a token
/// response holds tokens).
#[derive(Clone, PartialEq)]
pub enum ParsedBody {
    /// Nothing (or only whitespace).
    Empty,
    /// A JSON object.
    Json(Map<String, Value>),
    /// Form-encoded pairs (GitHub without `Accept: application/json`).
    Form(Vec<(String, String)>),
    /// An HTML page: something other than the OAuth server answered, or an error page.
    Html,
    /// JSON that is not an object, or that does not parse.
    MalformedJson,
    /// Other text.
    Text,
}

impl std::fmt::Debug for ParsedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParsedBody::Empty => f.write_str("Empty"),
            ParsedBody::Json(m) => f
                .debug_tuple("Json")
                .field(&m.keys().collect::<Vec<_>>())
                .finish(),
            ParsedBody::Form(pairs) => f
                .debug_tuple("Form")
                .field(&pairs.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .finish(),
            ParsedBody::Html => f.write_str("Html"),
            ParsedBody::MalformedJson => f.write_str("MalformedJson"),
            ParsedBody::Text => f.write_str("Text"),
        }
    }
}

impl ParsedBody {
    /// Reads a body, using the `Content-Type` as a hint and the content itself as the judge.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> ParsedBody {
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            return ParsedBody::Empty;
        }
        if trimmed.starts_with('{') || trimmed.starts_with('[') || ct.contains("json") {
            return match serde_json::from_str::<Value>(trimmed) {
                Ok(Value::Object(m)) => ParsedBody::Json(m),
                _ if ct.contains("json") || trimmed.starts_with(['{', '[']) => {
                    ParsedBody::MalformedJson
                }
                _ => ParsedBody::Text,
            };
        }
        if ct.contains("html") || trimmed.starts_with('<') {
            return ParsedBody::Html;
        }
        let looks_like_form =
            !trimmed.contains(char::is_whitespace) && trimmed.split('&').all(|p| p.contains('='));
        if ct.contains("x-www-form-urlencoded") || looks_like_form {
            return ParsedBody::Form(
                url::form_urlencoded::parse(trimmed.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            );
        }
        ParsedBody::Text
    }

    /// A field as a string (JSON strings and numbers, form values).
    pub fn str_field(&self, key: &str) -> Option<String> {
        match self {
            ParsedBody::Json(m) => match m.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            },
            ParsedBody::Form(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// True for JSON objects and form bodies (something an OAuth server would send).
    pub fn is_structured(&self) -> bool {
        matches!(self, ParsedBody::Json(_) | ParsedBody::Form(_))
    }

    /// The OAuth error the body carries (RFC 6749 §5.2), whatever the status.
    pub fn oauth_error(&self) -> Option<OAuthError> {
        let code = self.str_field("error").filter(|c| !c.trim().is_empty())?;
        Some(OAuthError {
            code: OAuthErrorCode::parse(code.trim()),
            description: self
                .str_field("error_description")
                .map(|d| d.chars().take(500).collect()),
            uri: self.str_field("error_uri"),
        })
    }
}

/// A number of seconds given as a JSON number (integer or not) or a string of one.
fn seconds(body: &ParsedBody, key: &str) -> Option<u64> {
    let raw = match body {
        ParsedBody::Json(m) => match m.get(key)? {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => parse_secs(s),
            _ => None,
        },
        ParsedBody::Form(_) => body.str_field(key).and_then(|s| parse_secs(&s)),
        _ => None,
    }?;
    Some(raw.min(MAX_EXPIRES_IN))
}

fn parse_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// What is missing from a success response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingField {
    /// The body is not JSON or form-encoded.
    NotStructured,
    /// The named field is missing or empty.
    Field(&'static str),
}

/// The `sub` and `iss` claims of an ID token, read without verifying it (they are only labels
/// here; nothing is authorised on them).
pub(crate) fn id_token_claims(jwt: &str) -> (Option<String>, Option<String>) {
    let Some(payload) = jwt.split('.').nth(1) else {
        return (None, None);
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return (None, None);
    };
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&bytes) else {
        return (None, None);
    };
    let get = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    (get("sub"), get("iss"))
}

/// Splits a `scope` value: space-separated per RFC 6749 §3.3; GitHub separates with commas.
fn split_scopes(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A [`TokenSet`] from a success body received at `now`.
pub fn token_set(
    body: &ParsedBody,
    requested_scopes: &[String],
    now: SystemTime,
) -> Result<TokenSet, MissingField> {
    if !body.is_structured() {
        return Err(MissingField::NotStructured);
    }
    let access = body
        .str_field("access_token")
        .filter(|s| !s.is_empty())
        .ok_or(MissingField::Field("access_token"))?;
    let token_type = match body.str_field("token_type").map(|t| t.trim().to_string()) {
        None => "Bearer".to_string(),
        Some(t) if t.is_empty() || t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(t) if t.eq_ignore_ascii_case("dpop") => "DPoP".to_string(),
        Some(t) => t,
    };
    let scopes = match body.str_field("scope") {
        Some(s) => split_scopes(&s),
        None => match body {
            ParsedBody::Json(m) => match m.get("scope") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => requested_scopes.to_vec(),
            },
            _ => requested_scopes.to_vec(),
        },
    };
    let refresh = body
        .str_field("refresh_token")
        .filter(|s| !s.is_empty())
        .map(RefreshToken::new);
    let id_token = body.str_field("id_token").filter(|s| !s.is_empty());
    let (subject, issuer) = id_token
        .as_deref()
        .map(id_token_claims)
        .unwrap_or((None, None));
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        token_type,
        refresh_token_obtained_at: refresh.as_ref().map(|_| now),
        refresh_token: refresh,
        id_token: id_token.map(IdToken::new),
        expires_at: seconds(body, "expires_in").map(|s| now + Duration::from_secs(s)),
        scopes,
        obtained_at: now,
        subject,
        issuer,
    })
}

/// A device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// The device code (secret).
    pub device_code: DeviceCode,
    /// The code the user types.
    pub user_code: String,
    /// Where the user goes (`verification_uri`, or Google's `verification_url`).
    pub verification_uri: String,
    /// The same with the code filled in, when given.
    pub verification_uri_complete: Option<String>,
    /// When the device code expires.
    pub expires_at: SystemTime,
    /// The polling interval (default 5 s).
    pub interval: Duration,
}

/// A [`DeviceAuthorization`] from a success body received at `now`.
pub fn device_authorization(
    body: &ParsedBody,
    now: SystemTime,
) -> Result<DeviceAuthorization, MissingField> {
    if !body.is_structured() {
        return Err(MissingField::NotStructured);
    }
    let need = |k: &'static str| {
        body.str_field(k)
            .filter(|s| !s.is_empty())
            .ok_or(MissingField::Field(k))
    };
    let device_code = need("device_code")?;
    let user_code = need("user_code")?;
    let verification_uri = need("verification_uri")
        .or_else(|_| need("verification_url"))
        .map_err(|_| MissingField::Field("verification_uri"))?;
    let expires_in = seconds(body, "expires_in").ok_or(MissingField::Field("expires_in"))?;
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(device_code),
        user_code,
        verification_uri,
        verification_uri_complete: body
            .str_field("verification_uri_complete")
            .or_else(|| body.str_field("verification_url_complete")),
        expires_at: now + Duration::from_secs(expires_in),
        interval: Duration::from_secs(seconds(body, "interval").unwrap_or(5).clamp(1, 300)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    #[test]
    fn tolerant_fields() {
        let b = ParsedBody::parse(
            Some("application/json"),
            br#"{"access_token":"a","expires_in":"3600","token_type":"bearer"}"#,
        );
        let t = token_set(&b, &["openid".into()], at()).unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_at, Some(at() + Duration::from_secs(3600)));
        assert_eq!(t.scopes, vec!["openid".to_string()]);
        let b = ParsedBody::parse(
            None,
            b"access_token=gho_x&scope=repo%2Cgist&token_type=bearer",
        );
        let t = token_set(&b, &[], at()).unwrap();
        assert_eq!(t.scopes, vec!["repo".to_string(), "gist".to_string()]);
        assert_eq!(t.expires_at, None);
    }

    #[test]
    fn strict_where_it_matters() {
        let b = ParsedBody::parse(Some("application/json"), br#"{"token_type":"Bearer"}"#);
        assert_eq!(
            token_set(&b, &[], at()),
            Err(MissingField::Field("access_token"))
        );
        let b = ParsedBody::parse(Some("text/html"), b"<html>hi</html>");
        assert_eq!(b, ParsedBody::Html);
        let b = ParsedBody::parse(Some("application/json"), b"{not json");
        assert_eq!(b, ParsedBody::MalformedJson);
        let b = ParsedBody::parse(None, br#"{"error":"bad_verification_code"}"#);
        assert_eq!(
            b.oauth_error().map(|e| e.code),
            Some(OAuthErrorCode::Other("bad_verification_code".into()))
        );
    }
}
