//! OAuth wire basics shared by the endpoints: error codes and RFC 6749 §5.2 error responses,
//! request parameters (form or JSON, repeated parameters refused), bounded body reading, and
//! client authentication (RFC 6749 §2.3).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::{ClientAuthMethod, ClientConfig, Config};

/// Largest request body read by any endpoint.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The OAuth error codes this server answers with (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1;
/// RFC 7009 §2.2.1; RFC 8628 §3.5; RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    InvalidToken,
    InsufficientScope,
    InvalidTarget,
    /// Not an RFC code: what a provider's User-Agent filter answers (with 429).
    RateLimited,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
        }
    }
}

/// Marks a response as an OAuth error with this code, for the statistics at the boundary.
#[derive(Debug, Clone)]
pub(crate) struct ErrorTag(pub String);

/// An OAuth error on its way to becoming a response.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    pub status: StatusCode,
    pub www_authenticate: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            code,
            description: description.into(),
            status,
            www_authenticate: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`: 401 with a Basic challenge when the client used the Authorization
    /// header, else 400 (RFC 6749 §5.2).
    pub fn invalid_client(description: impl Into<String>, via_header: bool) -> Self {
        let mut e = OAuthError::new(ErrorCode::InvalidClient, description);
        if via_header {
            e.status = StatusCode::UNAUTHORIZED;
            e.www_authenticate = Some("Basic realm=\"mockauth\"".to_owned());
        }
        e
    }

    pub fn server_error(description: impl Into<String>) -> Self {
        OAuthError::new(ErrorCode::ServerError, description)
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn json_body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code.as_str(), "error_description": self.description})
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.json_body().to_string(),
        )
            .into_response();
        if let Some(challenge) = &self.www_authenticate
            && let Ok(v) = HeaderValue::from_str(challenge)
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp.extensions_mut()
            .insert(ErrorTag(self.code.as_str().to_owned()));
        resp
    }
}

/// Reads a request body of at most [`BODY_LIMIT`] bytes.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, OAuthError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        OAuthError::invalid_request(format!(
            "request body unreadable or larger than {BODY_LIMIT} bytes"
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    })
}

/// How a request body was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Form,
    Json,
}

/// Request parameters in order of appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Every parameter, in order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    pub fn from_urlencoded(bytes: &[u8]) -> Params {
        Params {
            pairs: url::form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }

    /// A JSON object whose values are strings (numbers and booleans are taken as their text).
    pub fn from_json(bytes: &[u8]) -> Result<Params, OAuthError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            OAuthError::invalid_request(format!("the JSON body does not parse: {e}"))
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(OAuthError::invalid_request(
                "the JSON body must be an object",
            ));
        };
        let mut pairs = Vec::with_capacity(map.len());
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => continue,
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "JSON parameter `{k}` must be a string"
                    )));
                }
            };
            pairs.push((k, text));
        }
        Ok(Params { pairs })
    }

    /// Parses a POST body by its `Content-Type`: form always, JSON when `allow_json`
    /// (the client is checked later, once it is known).
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<(Params, BodyFormat), OAuthError> {
        match content_type(headers).as_deref() {
            Some("application/x-www-form-urlencoded") => {
                Ok((Params::from_urlencoded(body), BodyFormat::Form))
            }
            Some("application/json") => Ok((Params::from_json(body)?, BodyFormat::Json)),
            Some(other) => Err(OAuthError::invalid_request(format!(
                "unsupported Content-Type `{other}`: send application/x-www-form-urlencoded (RFC 6749 §4.1.3)"
            ))),
            None => Err(OAuthError::invalid_request(
                "missing Content-Type: send application/x-www-form-urlencoded (RFC 6749 §4.1.3)",
            )),
        }
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1) and a repeated
    /// parameter is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter `{name}` is repeated (RFC 6749 §3.1)"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// Every non-empty value of a parameter that may be repeated (RFC 8707 `resource`).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| {
            OAuthError::invalid_request(format!("missing required parameter `{name}`"))
        })
    }
}

/// The media type of the request, lower-cased, without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(media)
}

/// Whether the `Accept` header asks for JSON.
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"))
}

/// An authenticated (or, for public clients, identified) client.
#[derive(Debug)]
pub(crate) struct Authenticated<'c> {
    pub client: &'c ClientConfig,
}

/// Decodes an `Authorization: Basic` value: base64 of `urlencode(id):urlencode(secret)`
/// (RFC 6749 §2.3.1).
pub(crate) fn decode_basic(value: &str) -> Result<(String, String), String> {
    let b64 = value.trim();
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| "the Basic credentials are not valid base64".to_owned())?;
    let text =
        String::from_utf8(raw).map_err(|_| "the Basic credentials are not UTF-8".to_owned())?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(|| "the Basic credentials have no `:` between id and secret".to_owned())?;
    Ok((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(s: &str) -> Result<String, String> {
    // application/x-www-form-urlencoded decoding of one value: `+` is a space, %XX a byte.
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        "the Basic credentials have a bad %-escape (RFC 6749 §2.3.1)".to_owned()
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the decoded Basic credentials are not UTF-8".to_owned())
}

fn same_secret(a: &str, b: &str) -> bool {
    // Length leaks; content compares in constant time.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Authenticates the client of a token, revocation, introspection or device request.
pub(crate) fn authenticate<'c>(
    config: &'c Config,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Authenticated<'c>, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                OAuthError::invalid_client("the Authorization header is not ASCII", true)
            })?;
            let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(
                    format!(
                        "unsupported Authorization scheme `{scheme}`: use Basic (client_secret_basic)"
                    ),
                    true,
                ));
            }
            Some(decode_basic(rest).map_err(|m| OAuthError::invalid_client(m, true))?)
        }
    };
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let via_header = basic.is_some();
    let (id, secret, method) = match (&basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "the client used both client_secret_basic and client_secret_post; use one (RFC 6749 §2.3)",
            ));
        }
        (Some((id, secret)), None) => {
            if let Some(b) = body_id
                && b != id
            {
                return Err(OAuthError::invalid_client(
                    format!(
                        "client_id `{b}` in the body differs from `{id}` in the Authorization header"
                    ),
                    true,
                ));
            }
            (
                id.as_str(),
                Some(secret.as_str()),
                ClientAuthMethod::ClientSecretBasic,
            )
        }
        (None, Some(secret)) => {
            let id = body_id.ok_or_else(|| {
                OAuthError::invalid_client("client_secret sent without client_id", false)
            })?;
            (id, Some(secret), ClientAuthMethod::ClientSecretPost)
        }
        (None, None) => {
            let id = body_id.ok_or_else(|| {
                OAuthError::invalid_client(
                    "no client authentication: send client_id (public client) or client credentials",
                    false,
                )
            })?;
            (id, None, ClientAuthMethod::None)
        }
    };
    let client = config.client(id).ok_or_else(|| {
        OAuthError::invalid_client(format!("unknown client_id `{id}`"), via_header)
    })?;
    if !client.auth_methods.contains(&method) {
        let allowed: Vec<&str> = client.auth_methods.iter().map(|m| m.as_str()).collect();
        let msg = if client.is_public() {
            format!(
                "client `{id}` is public: it must send only client_id, no secret (used {})",
                method.as_str()
            )
        } else {
            format!(
                "client `{id}` must authenticate with one of: {} (used {})",
                allowed.join(", "),
                method.as_str()
            )
        };
        return Err(OAuthError::invalid_client(msg, via_header));
    }
    if let (Some(expected), Some(given)) = (&client.secret, secret)
        && !same_secret(expected, given)
    {
        return Err(OAuthError::invalid_client(
            format!("wrong client secret for client `{id}`"),
            via_header,
        ));
    }
    Ok(Authenticated { client })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&v).expect("ascii"),
        );
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let (id, secret) = decode_basic(&STANDARD.encode("svc:a%2Bb+c%3A%25")).expect("decodes");
        assert_eq!((id.as_str(), secret.as_str()), ("svc", "a+b c:%"));
    }

    #[test]
    fn bad_basic_is_invalid_client_not_a_panic() {
        for bad in [
            "!!!",
            "",
            &STANDARD.encode("nocolon"),
            &STANDARD.encode("a:%zz"),
        ] {
            assert!(decode_basic(bad).is_err(), "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic ???"));
        let err = authenticate(&Config::default(), &h, &Params::default()).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn secret_with_reserved_characters() {
        let cfg = Config::default().with_client(ClientConfig::confidential("odd", "p@ss:w+rd/%é"));
        let ok = authenticate(&cfg, &basic("odd", "p@ss:w+rd/%é"), &Params::default());
        assert!(ok.is_ok());
        let bad = authenticate(&cfg, &basic("odd", "p@ss:w rd/%é"), &Params::default());
        assert!(bad.is_err());
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let p = Params::from_urlencoded(b"a=1&a=2&b=&c=3");
        assert!(p.get("a").is_err());
        assert_eq!(p.get("b").ok().flatten(), None);
        assert_eq!(p.get("c").ok().flatten(), Some("3"));
    }

    #[test]
    fn public_client_sending_a_secret_is_refused() {
        let p = Params::from_urlencoded(b"client_id=cli&client_secret=x");
        let err = authenticate(&Config::default(), &HeaderMap::new(), &p).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidClient);
    }
}
