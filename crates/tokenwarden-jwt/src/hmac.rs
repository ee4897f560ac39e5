//! HS256, HS384 and HS512: HMAC with a shared secret (the client secret, for providers that
//! sign ID tokens so). Verification compares in constant time.

use jsonwebtoken::crypto::{JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::hmac;

/// Signs and verifies one HMAC algorithm with one secret.
pub(crate) struct Hmac {
    algorithm: Algorithm,
    key: hmac::Key,
}

impl Hmac {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        let ring_algorithm = match algorithm {
            Algorithm::HS256 => hmac::HMAC_SHA256,
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => return Err(Error::from(ErrorKind::InvalidAlgorithm)),
        };
        Ok(Hmac {
            algorithm,
            key: hmac::Key::new(ring_algorithm, secret),
        })
    }

    pub(crate) fn signing(algorithm: Algorithm, key: &EncodingKey) -> Result<Self, Error> {
        Hmac::new(algorithm, key.try_get_hmac_secret()?)
    }

    pub(crate) fn verifying(algorithm: Algorithm, key: &DecodingKey) -> Result<Self, Error> {
        Hmac::new(algorithm, key.try_get_hmac_secret()?)
    }
}

impl signature::Signer<Vec<u8>> for Hmac {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.key, msg).as_ref().to_vec())
    }
}

impl JwtSigner for Hmac {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl signature::Verifier<Vec<u8>> for Hmac {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        hmac::verify(&self.key, msg, sig).map_err(crate::failed)
    }
}

impl JwtVerifier for Hmac {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}
