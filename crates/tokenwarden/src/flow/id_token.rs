//! OpenID Connect ID token validation (OIDC Core §3.1.3.7), with `jsonwebtoken`: the signature
//! against the issuer's JWKS, `aud`, `exp` (with a bounded leeway) and, at login, `nonce`;
//! `iss` by the discovery document's [`IssuerRule`] (exactly, or for a multi-tenant authority
//! against the token's own `tid`).
//!
//! The key set is the kept one when there is one ([`crate::http::jwks`]): a token whose key is
//! not in it, or whose signature does not verify with it, may be signed with a rotated key, so
//! the set is fetched once more, replacing the kept one, and the check run once more (OIDC Core
//! §10.1.1). A failure with a set fetched just now is final.
//!
//! An ID token that comes with a refresh (OIDC Core §12.2) is checked the same way, without the
//! nonce (a refresh sends none), before its `sub` and `iss` replace anything
//! ([`check_refreshed`]); one that cannot be verified is dropped with a warning, and the
//! subject and issuer of the login stay.

use crate::error::{Error, Result};
use crate::http::TokenClient;
use crate::http::issuer::IssuerRule;
use crate::http::jwks::KeySource;
use crate::token::TokenSet;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Header, Validation, decode, decode_header};
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
    /// The nonce sent with the authorization request; `None` for an ID token that came with a
    /// refresh (OIDC Core §12.2: no nonce is sent, so none is compared).
    pub nonce: Option<&'a str>,
    /// Where the issuer publishes its keys.
    pub jwks_uri: &'a Url,
}

/// Why an ID token failed a check against one key set.
enum Failure {
    /// No usable key in the set verifies it: a kept set may predate a key rotation.
    Keys(String),
    /// Anything else (its claims, its header): another key set would not change it.
    Token(String),
}

/// Validates `id_token` with the issuer's key set (kept, or fetched; fetched once more when a
/// kept one has no key that verifies it); returns its claims.
pub async fn validate(
    client: &TokenClient,
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
    let kept = client
        .key_set(expected.jwks_uri, KeySource::Kept, correlation_id)
        .await?;
    let checked = match check(id_token, &header, &kept.keys, expected) {
        Err(Failure::Keys(why)) if !kept.fetched => {
            tracing::debug!(
                jwks_uri = %expected.jwks_uri,
                "no kept key verifies the ID token ({why}): fetching the key set again"
            );
            let fetched = client
                .key_set(expected.jwks_uri, KeySource::Fetched, correlation_id)
                .await?;
            check(id_token, &header, &fetched.keys, expected)
        }
        checked => checked,
    };
    checked.map_err(|(Failure::Keys(why) | Failure::Token(why))| invalid(why))
}

/// Checks `id_token` (whose header is `header`) against the keys `jwks` and `expected`.
fn check(
    id_token: &str,
    header: &Header,
    jwks: &JwkSet,
    expected: &Expected<'_>,
) -> std::result::Result<Claims, Failure> {
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| {
        Failure::Keys(format!(
            "no key with kid {:?} in the issuer's JWKS",
            header.kid
        ))
    })?;
    // jsonwebtoken's cryptography is ring's (see tokenwarden-jwt), unless the program chose.
    tokenwarden_jwt::install();
    let key =
        DecodingKey::from_jwk(jwk).map_err(|e| Failure::Keys(format!("unusable key ({e})")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    let data = decode::<Claims>(id_token, &key, &validation).map_err(|e| match e.kind() {
        JwtErrorKind::InvalidSignature
        | JwtErrorKind::InvalidAlgorithm
        | JwtErrorKind::InvalidEcdsaKey
        | JwtErrorKind::InvalidEddsaKey
        | JwtErrorKind::InvalidRsaKey(_)
        | JwtErrorKind::InvalidKeyFormat => Failure::Keys(e.to_string()),
        _ => Failure::Token(e.to_string()),
    })?;
    expected
        .issuer
        .check_id_token(&data.claims.iss, data.claims.tid.as_deref())
        .map_err(Failure::Token)?;
    if let Some(nonce) = expected.nonce
        && data.claims.nonce.as_deref() != Some(nonce)
    {
        return Err(Failure::Token(
            "its nonce does not match the one sent with the login (a replayed or injected token)"
                .into(),
        ));
    }
    Ok(data.claims)
}

/// The tokens of a refresh, with their ID token verified like a login's (signature against the
/// issuer's JWKS, `iss`, `aud`, `exp`; no nonce) before its claims may replace anything: a
/// verified token's `sub` and `iss` are kept in `tokens`; one that cannot be verified (no issuer
/// or `jwks_uri` to check it with, a key set that cannot be fetched, a bad signature or claim)
/// is dropped with a warning, and its unverified claims with it, so that
/// [`TokenSet::renewing`] keeps the subject and issuer already stored. The refresh itself
/// stands either way: its access and refresh tokens are good, and the refresh token may have
/// been rotated.
///
/// The check is bounded by [`REFRESH_CHECK_LIMIT`] (or the profile's `timeout`, if shorter):
/// until it ends, the refreshed tokens (perhaps a rotated refresh token) exist only in memory,
/// so a slow key set is given up on rather than waited for.
pub async fn check_refreshed(client: &TokenClient, mut tokens: TokenSet, corr: &str) -> TokenSet {
    let Some(id) = tokens.id_token.clone() else {
        return tokens;
    };
    let profile = client.profile();
    let limit = REFRESH_CHECK_LIMIT.min(profile.timeout);
    let verified = tokio::time::timeout(limit, verify_refreshed(client, id.expose(), corr))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the issuer's metadata and keys did not arrive within {}",
                crate::human::duration(limit)
            ))
        });
    match verified {
        Ok(claims) => {
            tokens.subject = Some(claims.sub);
            tokens.issuer = Some(claims.iss);
        }
        Err(why) => {
            tracing::warn!(
                profile = %profile.name,
                "the ID token that came with the refresh of profile `{}` was ignored: it could not be verified ({why}); the subject and issuer of the login are kept",
                profile.name
            );
            tokens.id_token = None;
            tokens.subject = None;
            tokens.issuer = None;
        }
    }
    tokens
}

/// The longest a refreshed ID token's check may take (see [`check_refreshed`]).
pub const REFRESH_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The claims of a refreshed ID token, verified; the reason in words when it cannot be.
async fn verify_refreshed(
    client: &TokenClient,
    id_token: &str,
    corr: &str,
) -> std::result::Result<Claims, String> {
    let profile = client.profile();
    match client.metadata().await {
        Ok(Some(m)) => match &m.jwks_uri {
            Some(jwks_uri) => {
                let expected = Expected {
                    issuer: &m.issuer_rule,
                    client_id: &profile.client_id,
                    nonce: None,
                    jwks_uri,
                };
                validate(client, id_token, &expected, corr)
                    .await
                    .map_err(|e| e.message().to_string())
            }
            None => Err(format!(
                "the issuer's metadata ({}) has no `jwks_uri`",
                m.source
            )),
        },
        Ok(None) => Err("the profile has no `issuer` to find the keys with".to_string()),
        Err(e) => Err(format!(
            "the issuer's metadata could not be read: {}",
            e.message()
        )),
    }
}
