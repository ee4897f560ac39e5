//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Revoking a refresh token revokes its whole family (every access and refresh token from that
//! login); revoking an access token revokes only it. Unknown tokens answer 200, as RFC 7009
//! §2.2 requires. `token_type_hint` decides where to look first.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::unix_secs;
use crate::endpoints::client_request;
use crate::oauth::{ErrorCode, OAuthError, Params, read_body};
use crate::state::AppState;
use crate::store::join_scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

fn search_order(params: &Params) -> Result<[Kind; 2], OAuthError> {
    // An unknown hint is ignored: the server searches all its token types (RFC 7009 §2.1).
    Ok(match params.get("token_type_hint")? {
        Some("refresh_token") => [Kind::Refresh, Kind::Access],
        _ => [Kind::Access, Kind::Refresh],
    })
}

fn other_client() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "the token was issued to another client (RFC 7009 §2.1)",
    )
}

/// `POST /revoke`.
pub(crate) async fn revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match revoke_inner(&st, &headers, &bytes) {
        Ok(revoked) => {
            {
                let mut stats = st.stats();
                stats.revocations.total += 1;
                stats.revocations.revoked += u64::from(revoked);
            }
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn revoke_inner(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<bool, OAuthError> {
    let (params, client) = client_request(&st.config, headers, body).map_err(|(_, e)| e)?;
    let token = params.require("token")?;
    let order = search_order(&params)?;
    let now = st.now();
    let mut store = st.store();
    for kind in order {
        match kind {
            Kind::Access => {
                if let Some(rec) = store.access.get_mut(token) {
                    if rec.client_id != client.id {
                        return Err(other_client());
                    }
                    let was_live = !rec.revoked && now < rec.expires_at;
                    rec.revoked = true;
                    let family = rec.family;
                    let family_live = !store.family_revoked(family);
                    return Ok(was_live && family_live);
                }
            }
            Kind::Refresh => {
                if let Some(rec) = store.refresh.get_mut(token) {
                    if rec.client_id != client.id {
                        return Err(other_client());
                    }
                    rec.revoked = true;
                    let family = rec.family;
                    return Ok(store.revoke_family(family));
                }
            }
        }
    }
    Ok(false)
}

/// `POST /introspect`.
pub(crate) async fn introspect(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match introspect_inner(&st, &headers, &bytes) {
        Ok(v) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn introspect_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let (params, _client) = client_request(&st.config, headers, body).map_err(|(_, e)| e)?;
    let token = params.require("token")?;
    let order = search_order(&params)?;
    let now = st.now();
    let skew = st.skew_s();
    let store = st.store();
    for kind in order {
        match kind {
            Kind::Access => {
                if let Ok(rec) = store.check_access(token, now) {
                    return Ok(json!({
                        "active": true,
                        "token_type": "Bearer",
                        "client_id": rec.client_id,
                        "scope": join_scope(&rec.scope),
                        "sub": st.config.subject,
                        "aud": rec.client_id,
                        "iss": st.issuer,
                        "iat": unix_secs(rec.issued_at, skew),
                        "exp": unix_secs(rec.expires_at, skew),
                    }));
                }
            }
            Kind::Refresh => {
                if let Some(rec) = store.refresh_live(token, now) {
                    let scope = store
                        .families
                        .get(&rec.family)
                        .map(|f| join_scope(&f.scope))
                        .unwrap_or_default();
                    return Ok(json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "client_id": rec.client_id,
                        "scope": scope,
                        "sub": st.config.subject,
                        "iss": st.issuer,
                        "iat": unix_secs(rec.issued_at, skew),
                        "exp": unix_secs(rec.expires_at, skew),
                    }));
                }
            }
        }
    }
    Ok(json!({"active": false}))
}
