//! Parsing what a token endpoint answered: tolerant where real providers differ, strict where it
//! matters.
//!
//! Tolerant: `expires_in` as a number or a numeric string; a missing `token_type` means `Bearer`,
//! and `bearer` is `Bearer`; a missing `scope` means the scopes requested (RFC 6749 §5.1);
//! GitHub's form-encoded bodies and comma-separated scopes; Google's `verification_url`.
//!
//! Strict (a token response is what tokenwarden prints, stores and sends as a header): no
//! `access_token` is an error; `access_token` and `refresh_token` must be non-empty strings of
//! visible ASCII (RFC 6749 §A.12, §A.17: VSCHAR, %x20-7E), so a CR/LF or an escape sequence can
//! never reach `token`'s stdout or a header; `token_type` must be `Bearer` (any case) and `DPoP`
//! is named as not supported yet; `expires_in`, when given, must be a non-negative integer (a
//! negative, fractional or unreadable value would store a token that never expires). A body
//! carrying `error` is an error even with status 200 (GitHub does this). Each rejection is an
//! [`InvalidField`] naming the field. Expiry is computed from `expires_in` at receipt, never from
//! the server's clock. Nothing here panics on any input (a property test checks it).

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

/// A number of seconds given as a JSON number (integer or not) or a string of one, tolerantly:
/// for fields where a provider's odd value has a safe default (the device grant's `interval`).
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

/// A lifetime in seconds, strictly: a non-negative integer, as a JSON number or a string of
/// one (`3600`, `"3600"`; `3600.0` is an integer too). Absent (or `null`) is `Ok(None)`.
/// Negative, fractional, non-numeric, or beyond any integer (`1e300`) is an error; a valid but
/// huge value is clamped to [`MAX_EXPIRES_IN`].
fn strict_seconds(body: &ParsedBody, key: &'static str) -> Result<Option<u64>, InvalidField> {
    let bad = || InvalidField::NotSeconds(key);
    let whole = |f: f64| -> Option<u64> {
        // Exactly representable integers only; above 2^64 there is no such lifetime.
        (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0)
            .then_some(f as u64)
    };
    let from_text = |s: &str| -> Option<u64> {
        let s = s.trim();
        s.parse::<u64>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(whole))
    };
    let secs = match body {
        ParsedBody::Json(m) => match m.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
            Some(Value::String(s)) => from_text(s),
            Some(_) => None,
        },
        ParsedBody::Form(_) => match body.str_field(key) {
            None => return Ok(None),
            Some(s) => from_text(&s),
        },
        _ => return Ok(None),
    };
    secs.map(|s| Some(s.min(MAX_EXPIRES_IN))).ok_or_else(bad)
}

/// A token field, strictly: absent (or `null`) is `Ok(None)`; otherwise a non-empty string of
/// VSCHAR (RFC 6749 §A.12: %x20-7E). A JSON number, an empty string, a control character (CR,
/// LF, ESC...) or a non-ASCII character is an error naming `key`.
fn token_field(body: &ParsedBody, key: &'static str) -> Result<Option<String>, InvalidField> {
    let value = match body {
        ParsedBody::Json(m) => match m.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(InvalidField::NotAString(key)),
        },
        ParsedBody::Form(_) => match body.str_field(key) {
            None => return Ok(None),
            Some(s) => s,
        },
        _ => return Ok(None),
    };
    if value.is_empty() {
        return Err(InvalidField::Empty(key));
    }
    if !value.bytes().all(is_vschar) {
        return Err(InvalidField::NotVisibleAscii(key));
    }
    Ok(Some(value))
}

/// RFC 6749 §A.12 VSCHAR: %x20-7E, the printable ASCII characters (space included).
pub fn is_vschar(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// The `token_type` of a success body: `Bearer` (RFC 6750) in any case, or `Bearer` when the
/// provider left it out (or empty). `DPoP` (RFC 9449) and every other type are errors: the
/// type is the `Authorization` scheme the token is sent with, and tokenwarden sends only
/// bearer tokens.
fn token_type(body: &ParsedBody) -> Result<String, InvalidField> {
    let raw = match body {
        ParsedBody::Json(m) => match m.get("token_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => Some(other.to_string()),
        },
        _ => body.str_field("token_type").map(|t| t.trim().to_string()),
    };
    match raw {
        None => Ok("Bearer".to_string()),
        Some(t) if t.is_empty() || t.eq_ignore_ascii_case("bearer") => Ok("Bearer".to_string()),
        Some(t) if t.eq_ignore_ascii_case("dpop") => Err(InvalidField::DpopNotSupported),
        Some(t) => Err(InvalidField::UnsupportedTokenType(
            t.chars().take(TOKEN_TYPE_SHOWN).collect(),
        )),
    }
}

/// How many characters of an unsupported `token_type` an error shows.
const TOKEN_TYPE_SHOWN: usize = 40;

/// What is missing from, or wrong in, a success response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingField {
    /// The body is not JSON or form-encoded.
    NotStructured,
    /// The named field is missing or empty.
    Field(&'static str),
    /// A field is there but not acceptable.
    Invalid(InvalidField),
}

impl From<InvalidField> for MissingField {
    fn from(f: InvalidField) -> Self {
        MissingField::Invalid(f)
    }
}

/// A field of a token response that is present but not acceptable (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidField {
    /// A token is not a JSON string (a number, an object...).
    NotAString(&'static str),
    /// A token is an empty string.
    Empty(&'static str),
    /// A token holds a character outside VSCHAR (RFC 6749 §A.12: %x20-7E): a control character
    /// such as CR, LF or ESC, or a non-ASCII character.
    NotVisibleAscii(&'static str),
    /// `token_type` is `DPoP` (RFC 9449), which tokenwarden does not support yet.
    DpopNotSupported,
    /// `token_type` names another scheme (its first characters).
    UnsupportedTokenType(String),
    /// A lifetime is not a non-negative integer number of seconds (negative, fractional, not a
    /// number, or beyond any integer).
    NotSeconds(&'static str),
}

impl InvalidField {
    /// The field concerned, as the response names it.
    pub fn field(&self) -> &'static str {
        match self {
            InvalidField::NotAString(f)
            | InvalidField::Empty(f)
            | InvalidField::NotVisibleAscii(f)
            | InvalidField::NotSeconds(f) => f,
            InvalidField::DpopNotSupported | InvalidField::UnsupportedTokenType(_) => "token_type",
        }
    }

    /// What is wrong, in words (after "`field` ...").
    pub fn problem(&self) -> String {
        match self {
            InvalidField::NotAString(_) => "is not a string".into(),
            InvalidField::Empty(_) => "is an empty string".into(),
            InvalidField::NotVisibleAscii(_) => {
                "holds characters a token may not contain (control characters such as CR/LF, or non-ASCII; RFC 6749 §A.12 allows printable ASCII only)".into()
            }
            InvalidField::DpopNotSupported => {
                "is `DPoP` (RFC 9449): DPoP-bound tokens are not supported yet".into()
            }
            InvalidField::UnsupportedTokenType(t) => {
                format!("is `{t}`, not `Bearer` (the only token type tokenwarden sends)")
            }
            InvalidField::NotSeconds(_) => {
                "is not a non-negative whole number of seconds".into()
            }
        }
    }
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

/// A [`TokenSet`] from a success body received at `now`, validated as the module docs say.
pub fn token_set(
    body: &ParsedBody,
    requested_scopes: &[String],
    now: SystemTime,
) -> Result<TokenSet, MissingField> {
    if !body.is_structured() {
        return Err(MissingField::NotStructured);
    }
    let access = match token_field(body, "access_token") {
        Ok(Some(a)) => a,
        Ok(None) | Err(InvalidField::Empty(_)) => return Err(MissingField::Field("access_token")),
        Err(e) => return Err(e.into()),
    };
    let token_type = token_type(body)?;
    let refresh = token_field(body, "refresh_token")?.map(RefreshToken::new);
    let expires_in = strict_seconds(body, "expires_in")?;
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
    let id_token = body.str_field("id_token").filter(|s| !s.is_empty());
    let (subject, issuer) = id_token
        .as_deref()
        .map(id_token_claims)
        .unwrap_or((None, None));
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        token_type,
        refresh_token_obtained_at: refresh.as_ref().map(|_| now),
        refresh_token_expires_at: refresh
            .as_ref()
            .and_then(|_| seconds(body, "refresh_token_expires_in"))
            .map(|s| now + Duration::from_secs(s)),
        refresh_token: refresh,
        id_token: id_token.map(IdToken::new),
        // A clock so far ahead that the sum overflows: expired at once, never "never expires".
        expires_at: expires_in.map(|s| now.checked_add(Duration::from_secs(s)).unwrap_or(now)),
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
        assert_eq!(t.refresh_token_expires_at, None);
        let b = ParsedBody::parse(
            Some("application/json"),
            br#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":15811200}"#,
        );
        let t = token_set(&b, &[], at()).unwrap();
        assert_eq!(
            t.refresh_token_expires_at,
            Some(at() + Duration::from_secs(15_811_200))
        );
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

    fn invalid(json: &str) -> Option<InvalidField> {
        let b = ParsedBody::parse(Some("application/json"), json.as_bytes());
        match token_set(&b, &[], at()) {
            Err(MissingField::Invalid(f)) => Some(f),
            _ => None,
        }
    }

    #[test]
    fn tokens_must_be_visible_ascii_strings() {
        use InvalidField as F;
        let cases = [
            (
                r#"{"access_token":"a\r\nX-Injected: 1"}"#,
                F::NotVisibleAscii("access_token"),
            ),
            (
                r#"{"access_token":"a\u001b[2J"}"#,
                F::NotVisibleAscii("access_token"),
            ),
            (
                r#"{"access_token":"caf\u00e9"}"#,
                F::NotVisibleAscii("access_token"),
            ),
            (r#"{"access_token":12345}"#, F::NotAString("access_token")),
            (r#"{"access_token":["a"]}"#, F::NotAString("access_token")),
            (
                r#"{"access_token":"a","refresh_token":"r\n"}"#,
                F::NotVisibleAscii("refresh_token"),
            ),
            (
                r#"{"access_token":"a","refresh_token":7}"#,
                F::NotAString("refresh_token"),
            ),
            (
                r#"{"access_token":"a","refresh_token":""}"#,
                F::Empty("refresh_token"),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(invalid(json), Some(want), "{json}");
        }
        // Every printable ASCII character is allowed (RFC 6749 §A.12), and a null refresh
        // token is none.
        let all: String = (0x20u8..=0x7e).map(char::from).collect();
        let json = serde_json::json!({"access_token": all, "refresh_token": null}).to_string();
        let b = ParsedBody::parse(Some("application/json"), json.as_bytes());
        let t = token_set(&b, &[], at()).expect("VSCHAR accepted");
        assert_eq!(t.access_token.expose(), all);
        assert_eq!(t.refresh_token, None);
        // A form body (GitHub) is held to the same rule.
        let b = ParsedBody::parse(None, b"access_token=a%0Db&token_type=bearer");
        assert_eq!(
            token_set(&b, &[], at()),
            Err(MissingField::Invalid(F::NotVisibleAscii("access_token")))
        );
    }

    #[test]
    fn token_type_is_bearer_or_refused() {
        use InvalidField as F;
        for ok in ["Bearer", "bearer", "BEARER", " Bearer ", ""] {
            let json = format!(r#"{{"access_token":"a","token_type":"{ok}"}}"#);
            let b = ParsedBody::parse(Some("application/json"), json.as_bytes());
            assert_eq!(token_set(&b, &[], at()).expect(ok).token_type, "Bearer");
        }
        assert_eq!(
            invalid(r#"{"access_token":"a","token_type":"DPoP"}"#),
            Some(F::DpopNotSupported)
        );
        assert_eq!(
            invalid(r#"{"access_token":"a","token_type":"dpop"}"#),
            Some(F::DpopNotSupported)
        );
        assert_eq!(
            invalid(r#"{"access_token":"a","token_type":"mac"}"#),
            Some(F::UnsupportedTokenType("mac".into()))
        );
        assert_eq!(
            invalid(r#"{"access_token":"a","token_type":"Bearer x"}"#),
            Some(F::UnsupportedTokenType("Bearer x".into()))
        );
        assert_eq!(
            invalid(r#"{"access_token":"a","token_type":1}"#),
            Some(F::UnsupportedTokenType("1".into()))
        );
    }

    #[test]
    fn expires_in_is_a_non_negative_integer() {
        let exp = |v: &str| {
            let json = format!(r#"{{"access_token":"a","expires_in":{v}}}"#);
            let b = ParsedBody::parse(Some("application/json"), json.as_bytes());
            token_set(&b, &[], at()).map(|t| t.expires_at)
        };
        let after = |s: u64| Ok(Some(at() + Duration::from_secs(s)));
        assert_eq!(exp("3600"), after(3600));
        assert_eq!(exp("\"3600\""), after(3600));
        assert_eq!(exp("\" 60 \""), after(60));
        assert_eq!(exp("3600.0"), after(3600));
        assert_eq!(exp("0"), after(0));
        assert_eq!(exp("null"), Ok(None));
        // Very large but valid: clamped to ten years, as before.
        assert_eq!(exp("18446744073709551615"), after(MAX_EXPIRES_IN));
        let bad = Err(MissingField::Invalid(InvalidField::NotSeconds(
            "expires_in",
        )));
        for v in [
            "-3600", "-1", "59.5", "1e300", "\"soon\"", "\"-5\"", "\"\"", "true", "{}", "[60]",
            "\"NaN\"", "\"inf\"",
        ] {
            assert_eq!(exp(v), bad, "{v}");
        }
        // Left out: no expiry known, as before.
        let b = ParsedBody::parse(None, br#"{"access_token":"a"}"#);
        assert_eq!(token_set(&b, &[], at()).map(|t| t.expires_at), Ok(None));
    }
}
