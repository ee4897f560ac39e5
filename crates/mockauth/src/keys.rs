//! The ID-token signing key: a fresh ES256 (P-256) key per server, its public JWK (with `kid`)
//! for `/jwks`, and ID-token minting (OIDC Core §2). A key can be rotated (the admin API's
//! `POST /admin/keys/rotate`): the new key signs from then on, and the key it replaced stays
//! published beside it, as providers keep it through a rotation (OIDC Core §10.1.1). The
//! cryptography is ring's, through `tokenwarden-jwt`.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;

/// Why the key could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the ID token signing key: {0}")]
pub struct KeyError(String);

/// The server's signing key and its published form.
pub(crate) struct Keys {
    encoding: EncodingKey,
    jwk: Jwk,
    kid: String,
    /// The public key of the key this one replaced, still published.
    retired: Option<Jwk>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The claims of an ID token.
#[derive(Debug, Serialize)]
pub(crate) struct IdClaims<'a> {
    pub iss: &'a str,
    /// The tenant (Microsoft-like tenant sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<&'a str>,
    pub sub: &'a str,
    pub aud: &'a str,
    pub azp: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
}

impl Keys {
    pub fn generate() -> Result<Keys, KeyError> {
        tokenwarden_jwt::install();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| KeyError("the system's random number generator failed".into()))?;
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| KeyError(e.to_string()))?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Keys {
            encoding,
            jwk,
            kid,
            retired: None,
        })
    }

    /// A new signing key replacing this one, whose public key stays published.
    pub fn rotated(&self) -> Result<Keys, KeyError> {
        let mut next = Keys::generate()?;
        next.retired = Some(self.jwk.clone());
        Ok(next)
    }

    /// The `kid` of the key that signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK Set published at `/jwks`: the signing key, then the one it replaced.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: std::iter::once(&self.jwk)
                .chain(&self.retired)
                .cloned()
                .collect(),
        }
    }

    /// Signs an ID token.
    pub fn sign(&self, claims: &IdClaims<'_>) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signed_tokens_verify_with_the_published_key() {
        let keys = Keys::generate().expect("key");
        let jwt = keys
            .sign(&IdClaims {
                iss: "http://127.0.0.1:1",
                tid: None,
                sub: "u",
                aud: "cli",
                azp: "cli",
                exp: 4_000_000_000,
                iat: 1,
                auth_time: 1,
                nonce: Some("n"),
            })
            .expect("signs");
        let set = keys.jwks();
        let jwk = set.find(&keys.kid).expect("kid published");
        let key = DecodingKey::from_jwk(jwk).expect("decoding key");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["cli"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &v).expect("verifies");
        assert_eq!(data.claims["nonce"], "n");

        // Rotated: a new kid signs, and the old key is still published beside it.
        let next = keys.rotated().expect("rotates");
        assert_ne!(next.kid(), keys.kid());
        let set = next.jwks();
        assert_eq!(set.keys.len(), 2);
        assert!(set.find(next.kid()).is_some() && set.find(&keys.kid).is_some());
        assert_eq!(
            next.rotated().expect("again").jwks().keys.len(),
            2,
            "one retired key"
        );
    }
}
