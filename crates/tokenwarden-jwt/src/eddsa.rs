//! EdDSA: Ed25519 (RFC 8037).

use jsonwebtoken::crypto::{JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};

/// Signs EdDSA with a PKCS#8 Ed25519 key.
pub(crate) struct Signer(Ed25519KeyPair);

impl Signer {
    pub(crate) fn new(key: &EncodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Ed {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        // PKCS#8 v1 keys carry no public key: accepted, as jsonwebtoken's own providers do.
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.inner())
            .map(Signer)
            .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))
    }
}

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// Verifies EdDSA with a raw 32-byte Ed25519 public key.
pub(crate) struct Verifier(Vec<u8>);

impl Verifier {
    pub(crate) fn new(key: &DecodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Ed {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        Ok(Verifier(key.as_bytes().to_vec()))
    }
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .map_err(crate::failed)
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}
