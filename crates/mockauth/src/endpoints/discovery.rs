//! Metadata: RFC 8414 authorization server metadata and OIDC Discovery (the same document,
//! at the locations `sites.rs` maps), and the JWK Set at `/jwks`.
//!
//! The document names the site's issuer and endpoints: a tenant site names the `{tenantid}`
//! template or its tenant's issuer, has no revocation or introspection endpoint and no RFC 9207
//! `iss` parameter. Keys in `discovery_omit` are left out.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::config::{ClientAuthMethod, DEVICE_CODE_GRANT};
use crate::sites::Site;
use crate::state::AppState;

/// Every key the metadata document can have; `discovery_omit` may name any but `issuer`.
pub(crate) const METADATA_KEYS: [&str; 24] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_methods_supported",
    "authorization_response_iss_parameter_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "claims_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "tenant_region_scope",
    "resource_indicators_supported",
];

/// The endpoint keys and the canonical route each names.
const ENDPOINTS: [(&str, &str); 7] = [
    ("authorization_endpoint", "/authorize"),
    ("token_endpoint", "/token"),
    ("device_authorization_endpoint", "/device_authorization"),
    ("revocation_endpoint", "/revoke"),
    ("introspection_endpoint", "/introspect"),
    ("userinfo_endpoint", "/userinfo"),
    ("jwks_uri", "/jwks"),
];

/// The metadata document for one site.
fn document(st: &AppState, site: &Site) -> Map<String, Value> {
    let auth_methods: Vec<&str> = [
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ]
    .iter()
    .map(|m| m.as_str())
    .collect();
    let mut doc = Map::new();
    doc.insert("issuer".into(), json!(site.issuer));
    for (key, route) in ENDPOINTS {
        if let Some(url) = site.url(route) {
            doc.insert(key.into(), json!(url));
        }
    }
    let mut claims = vec![
        "iss",
        "sub",
        "aud",
        "azp",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "name",
        "email",
    ];
    let rest = json!({
        "scopes_supported": st.config.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let Value::Object(rest) = rest {
        doc.extend(rest);
    }
    if site.response_iss().is_some() {
        doc.insert(
            "authorization_response_iss_parameter_supported".into(),
            json!(true),
        );
    }
    if site.is_tenant() {
        claims.push("tid");
        doc.insert("tenant_region_scope".into(), json!("WW"));
    }
    if !st.config.resource_indicators.is_empty() {
        doc.insert("resource_indicators_supported".into(), json!(true));
    }
    doc.insert("claims_supported".into(), json!(claims));
    let omit = &st.config.discovery_omit;
    for key in omit {
        doc.remove(key);
    }
    // An endpoint's auth methods go with it.
    for endpoint in ["revocation_endpoint", "introspection_endpoint"] {
        let methods = format!("{endpoint}_auth_methods_supported");
        if doc.contains_key(endpoint) && !omit.contains(&methods) {
            doc.insert(methods, json!(auth_methods));
        }
    }
    doc
}

/// The `Cache-Control` of the metadata and the JWK Set: `discovery_max_age` when set.
fn cache_control(st: &AppState) -> String {
    match st.config.discovery_max_age {
        Some(age) => format!("public, max-age={}", age.as_secs()),
        None => "no-cache".to_owned(),
    }
}

/// The authorization server metadata.
pub(crate) async fn metadata(
    State(st): State<Arc<AppState>>,
    Extension(site): Extension<Arc<Site>>,
) -> Response {
    (
        [(header::CACHE_CONTROL, cache_control(&st))],
        Json(Value::Object(document(&st, &site))),
    )
        .into_response()
}

/// The JWK Set (counted in the statistics).
pub(crate) async fn jwks(State(st): State<Arc<AppState>>) -> Response {
    st.stats().jwks_requests += 1;
    (
        [(header::CACHE_CONTROL, cache_control(&st))],
        Json(st.jwks()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::keys::Keys;
    use crate::sites::Mounts;

    #[test]
    fn every_key_written_is_listed_and_omitted_keys_go() {
        let config = Config {
            tenant_id: Some("9188040d-6c67-4c5b-b112-36a304b66dad".into()),
            resource_indicators: vec!["https://api.example.test/".into()],
            ..Config::default()
        };
        let issuer = "http://127.0.0.1:1";
        let st = AppState::new(
            config.clone(),
            issuer.into(),
            Keys::generate().expect("key"),
            tokio::sync::watch::channel(false).1,
        );
        let mounts = Mounts::new(&config, issuer);
        for path in ["/token", "/common/oauth2/v2.0/token"] {
            let (_, site) = mounts.land(path).expect("lands");
            for key in document(&st, &site).keys() {
                assert!(METADATA_KEYS.contains(&key.as_str()), "{key} is not listed");
            }
        }
        let omitting = AppState::new(
            Config {
                discovery_omit: vec!["revocation_endpoint".into()],
                ..config
            },
            issuer.into(),
            Keys::generate().expect("key"),
            tokio::sync::watch::channel(false).1,
        );
        let (_, root) = mounts.land("/token").expect("lands");
        let doc = document(&omitting, &root);
        assert!(!doc.contains_key("revocation_endpoint"));
        assert!(!doc.contains_key("revocation_endpoint_auth_methods_supported"));
        assert!(doc.contains_key("token_endpoint"));
    }
}
