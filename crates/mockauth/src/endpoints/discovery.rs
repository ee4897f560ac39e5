//! Metadata: RFC 8414 `/.well-known/oauth-authorization-server`, OIDC Discovery
//! `/.well-known/openid-configuration` (the same document), and the JWK Set at `/jwks`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::{ClientAuthMethod, DEVICE_CODE_GRANT};
use crate::state::AppState;

/// The authorization server metadata.
pub(crate) async fn metadata(State(st): State<Arc<AppState>>) -> Response {
    let auth_methods: Vec<&str> = [
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ]
    .iter()
    .map(|m| m.as_str())
    .collect();
    let doc = json!({
        "issuer": st.issuer,
        "authorization_endpoint": st.url("/authorize"),
        "token_endpoint": st.url("/token"),
        "device_authorization_endpoint": st.url("/device_authorization"),
        "revocation_endpoint": st.url("/revoke"),
        "introspection_endpoint": st.url("/introspect"),
        "userinfo_endpoint": st.url("/userinfo"),
        "jwks_uri": st.url("/jwks"),
        "scopes_supported": st.config.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "name", "email"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    ([(header::CACHE_CONTROL, "no-cache")], Json(doc)).into_response()
}

/// The JWK Set.
pub(crate) async fn jwks(State(st): State<Arc<AppState>>) -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Json(st.keys.jwks())).into_response()
}
