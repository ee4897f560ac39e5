//! Bearer-protected endpoints (RFC 6750): the stand-in API `/v1/messages` (and the guard the
//! streaming `/v1/stream` shares with it) and OIDC `/userinfo`.
//!
//! A missing token gets a bare `WWW-Authenticate: Bearer realm="mockauth"` challenge (RFC 6750
//! §3.1 says not to name an error then); an unknown, expired or revoked token gets
//! `error="invalid_token"` with the reason, or at the API with `dead_token_status = 403` a bare
//! 403 (no challenge, a provider-style JSON body). A request to the API without one of the
//! `required_resource_headers` gets a 400 naming it. Every refusal has a JSON body.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::{DeadTokenStatus, RequiredHeader};
use crate::oauth::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::store::{AccessRecord, join_scope};

/// Why a bearer request was refused.
enum Refusal<'a> {
    Missing,
    Malformed(&'static str),
    Invalid(&'static str),
    Scope(&'static str),
    Header(&'a RequiredHeader),
}

impl Refusal<'_> {
    /// The answer; a dead token gets `dead` (401 with a challenge, or a bare 403).
    fn into_response(self, dead: DeadTokenStatus) -> Response {
        let (status, challenge, error, description) = match self {
            Refusal::Invalid(why) if dead == DeadTokenStatus::Forbidden => {
                return bare_forbidden(why);
            }
            Refusal::Header(required) => {
                let why = if required.value().is_empty() {
                    format!("missing required header `{}`", required.name())
                } else {
                    format!(
                        "missing required header `{required}`: send `{}` with the value `{}`",
                        required.name(),
                        required.value()
                    )
                };
                return OAuthError::invalid_request(why).into_response();
            }
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                "Bearer realm=\"mockauth\"".to_owned(),
                ErrorCode::InvalidToken,
                "no bearer token: send `Authorization: Bearer <access token>`",
            ),
            Refusal::Malformed(why) => (
                StatusCode::BAD_REQUEST,
                "Bearer realm=\"mockauth\", error=\"invalid_request\"".to_owned(),
                ErrorCode::InvalidRequest,
                why,
            ),
            Refusal::Invalid(why) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer realm=\"mockauth\", error=\"invalid_token\", error_description=\"{why}\""
                ),
                ErrorCode::InvalidToken,
                why,
            ),
            Refusal::Scope(why) => (
                StatusCode::FORBIDDEN,
                "Bearer realm=\"mockauth\", error=\"insufficient_scope\", scope=\"openid\""
                    .to_owned(),
                ErrorCode::InsufficientScope,
                why,
            ),
        };
        let mut resp = OAuthError::new(error, description)
            .with_status(status)
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// A 403 without `WWW-Authenticate`, its body in a provider's own error shape (not OAuth's).
fn bare_forbidden(why: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": "permission_error", "message": why}});
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Checks the bearer token of a request.
fn authorize(st: &AppState, headers: &HeaderMap) -> Result<AccessRecord, Refusal<'static>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Missing);
    };
    let text = value
        .to_str()
        .map_err(|_| Refusal::Malformed("the Authorization header is not ASCII"))?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Missing);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(Refusal::Malformed(
            "malformed Authorization header: expected `Bearer <token>`",
        ));
    }
    let now = st.now();
    st.store()
        .check_access(token, now)
        .cloned()
        .map_err(|p| Refusal::Invalid(p.describe()))
}

/// The API's checks, in order: the required headers, then the bearer token. Counts the
/// outcome in `resource_requests`.
pub(crate) fn api_guard(st: &AppState, headers: &HeaderMap) -> Result<AccessRecord, Box<Response>> {
    let refusal = match st
        .config
        .required_resource_headers
        .iter()
        .find(|h| !h.satisfied_by(headers))
    {
        Some(missing) => Refusal::Header(missing),
        None => match authorize(st, headers) {
            Ok(rec) => {
                st.stats().resource_requests.ok += 1;
                return Ok(rec);
            }
            Err(r) => r,
        },
    };
    {
        let mut stats = st.stats();
        match refusal {
            Refusal::Header(_) | Refusal::Malformed(_) => stats.resource_requests.bad_request += 1,
            _ => stats.resource_requests.unauthorized += 1,
        }
    }
    Err(Box::new(refusal.into_response(st.config.dead_token_status)))
}

/// `GET|POST /v1/messages`. An accepted request's body is read (streamed, never held) and its
/// length answered as `received_bytes`, so a proxy's upload can be checked end to end; a refused
/// one's is read and dropped (up to 64 MiB) before the refusal.
pub(crate) async fn messages(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    request_body: Body,
) -> Response {
    match api_guard(&st, &headers) {
        Ok(rec) => {
            let mut stream = request_body.into_data_stream();
            let mut received: u64 = 0;
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                match chunk {
                    Ok(data) => received += data.len() as u64,
                    Err(_) => {
                        return (
                            StatusCode::BAD_REQUEST,
                            [(header::CONTENT_TYPE, "application/json")],
                            json!({"error": "the request body could not be read"}).to_string(),
                        )
                            .into_response();
                    }
                }
            }
            let body = json!({
                "ok": true,
                "method": method.as_str(),
                "received_bytes": received,
                "sub": st.config.subject,
                "client_id": rec.client_id,
                "scope": join_scope(&rec.scope),
                "content": [{"type": "text", "text": "Hello from mockauth."}],
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(refused) => {
            // Read what the client is still sending before refusing (up to a bound), as
            // servers that linger on close do: closing with unread data makes the kernel reset
            // the connection, and the client may then lose the refusal itself.
            let mut stream = request_body.into_data_stream();
            let mut drained: usize = 0;
            while drained < REFUSED_BODY_DRAIN {
                match futures_util::StreamExt::next(&mut stream).await {
                    Some(Ok(data)) => drained += data.len(),
                    _ => break,
                }
            }
            *refused
        }
    }
}

/// How much of a refused request's body is read before the refusal is sent.
const REFUSED_BODY_DRAIN: usize = 64 * 1024 * 1024;

/// `GET|POST /userinfo` (OIDC Core §5.3): needs a token with the `openid` scope.
pub(crate) async fn userinfo(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    // The dead-token status is the API's; userinfo answers as RFC 6750 says.
    let dead = DeadTokenStatus::Unauthorized;
    let rec = match authorize(&st, &headers) {
        Ok(rec) => rec,
        Err(r) => return r.into_response(dead),
    };
    if !rec.scope.iter().any(|s| s == "openid") {
        return Refusal::Scope("the access token lacks the `openid` scope").into_response(dead);
    }
    let mut claims = json!({"sub": st.config.subject});
    if rec.scope.iter().any(|s| s == "profile") {
        claims["name"] = json!("Mock User");
        claims["preferred_username"] = json!(st.config.subject);
    }
    if rec.scope.iter().any(|s| s == "email") {
        claims["email"] = json!(format!("{}@example.test", st.config.subject));
        claims["email_verified"] = json!(true);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        claims.to_string(),
    )
        .into_response()
}
