//! OpenID Connect ID token validation (OIDC Core §3.1.3.7), with `jsonwebtoken`: the signature
//! against the issuer's JWKS, `aud`, `exp` (with a bounded leeway) and `nonce`; `iss` by the
//! discovery document's [`IssuerRule`] (exactly, or for a multi-tenant authority against the
//! token's own `tid`).

use crate::error::{Delivery, Error, Result};
use crate::http::issuer::IssuerRule;
use crate::http::{Body, HttpClient, HttpRequest, Method, RequestKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use url::Url;

/// The leeway allowed on `exp`/`iat`/`nbf` for clock differences.
pub const LEEWAY_SECS: u64 = 60;

/// The claims tokenwarden keeps from a validated ID token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Claims {
    /// The subject.
    pub sub: String,
    /// The issuer.
    pub iss: String,
    /// When it was issued (seconds since the epoch).
    #[serde(default)]
    pub iat: Option<i64>,
    /// The nonce sent with the authorization request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The tenant (Microsoft Entra), which a multi-tenant issuer is checked against.
    #[serde(default)]
    pub tid: Option<String>,
}

/// What the ID token must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// How `iss` is checked.
    pub issuer: &'a IssuerRule,
    /// The client id (must be in `aud`).
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Where the issuer publishes its keys.
    pub jwks_uri: &'a Url,
}

/// Fetches the JWKS and validates `id_token`; returns its claims.
pub async fn validate(
    http: &HttpClient,
    id_token: &str,
    expected: &Expected<'_>,
    correlation_id: &str,
) -> Result<Claims> {
    let invalid = |what: String| {
        Error::protocol(format!("the ID token is not valid: {what}")).with_hint(
            "the provider's ID token failed validation; check the profile's issuer and client_id, and the local clock",
        )
    };
    let header =
        decode_header(id_token).map_err(|e| invalid(format!("unreadable header ({e})")))?;
    let req = HttpRequest {
        kind: RequestKind::Discovery,
        method: Method::Get,
        url: expected.jwks_uri.clone(),
        headers: Vec::new(),
        body: Body::None,
    };
    let resp = http.send(&req, correlation_id).await?;
    if resp.status != 200 {
        return Err(Error::protocol(format!(
            "the issuer's key set at {} answered {}",
            expected.jwks_uri, resp.status
        ))
        .with_http(resp.evidence)
        .with_delivery(Delivery::Answered));
    }
    let jwks: JwkSet = serde_json::from_slice(&resp.body).map_err(|e| {
        Error::protocol(format!(
            "the issuer's key set at {} is not a JWKS: {e}",
            expected.jwks_uri
        ))
        .with_http(resp.evidence.clone())
        .with_delivery(Delivery::Answered)
    })?;
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| {
        invalid(format!(
            "no key with kid {:?} in the issuer's JWKS",
            header.kid
        ))
    })?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("unusable key ({e})")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    let data = decode::<Claims>(id_token, &key, &validation).map_err(|e| invalid(e.to_string()))?;
    expected
        .issuer
        .check_id_token(&data.claims.iss, data.claims.tid.as_deref())
        .map_err(invalid)?;
    if data.claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(invalid(
            "its nonce does not match the one sent with the login (a replayed or injected token)"
                .into(),
        ));
    }
    Ok(data.claims)
}
