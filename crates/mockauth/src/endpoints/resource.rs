//! Bearer-protected endpoints (RFC 6750): the stand-in API `/v1/messages` and OIDC
//! `/userinfo`.
//!
//! A missing token gets a bare `WWW-Authenticate: Bearer realm="mockauth"` challenge (RFC 6750
//! §3.1 says not to name an error then); an unknown, expired or revoked token gets
//! `error="invalid_token"` with the reason. Both come with a JSON body.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oauth::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::store::{AccessRecord, join_scope};

/// Why a bearer request was refused.
enum Refusal {
    Missing,
    Malformed(&'static str),
    Invalid(&'static str),
    Scope(&'static str),
}

impl Refusal {
    fn into_response(self) -> Response {
        let (status, challenge, error, description) = match self {
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

/// Checks the bearer token of a request.
fn authorize(st: &AppState, headers: &HeaderMap) -> Result<AccessRecord, Refusal> {
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

/// `GET|POST /v1/messages`.
pub(crate) async fn messages(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match authorize(&st, &headers) {
        Ok(rec) => {
            st.stats().resource_requests.ok += 1;
            let body = json!({
                "ok": true,
                "method": method.as_str(),
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
        Err(r) => {
            st.stats().resource_requests.unauthorized += 1;
            r.into_response()
        }
    }
}

/// `GET|POST /userinfo` (OIDC Core §5.3): needs a token with the `openid` scope.
pub(crate) async fn userinfo(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let rec = match authorize(&st, &headers) {
        Ok(rec) => rec,
        Err(r) => return r.into_response(),
    };
    if !rec.scope.iter().any(|s| s == "openid") {
        return Refusal::Scope("the access token lacks the `openid` scope").into_response();
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
