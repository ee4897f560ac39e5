//! ES256 and ES384: ECDSA on P-256 and P-384, signatures as fixed-width `r || s` (RFC 7518
//! §3.4).

use crate::curve_of;
use jsonwebtoken::crypto::{JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _,
    UnparsedPublicKey, VerificationAlgorithm,
};

/// ring's signing algorithm for `algorithm`.
fn signing(algorithm: Algorithm) -> Result<&'static EcdsaSigningAlgorithm, Error> {
    match algorithm {
        Algorithm::ES256 => Ok(&ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Ok(&ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => Err(Error::from(ErrorKind::InvalidAlgorithm)),
    }
}

/// A PKCS#8 key pair of `algorithm`'s curve.
fn key_pair(algorithm: Algorithm, pkcs8: &[u8]) -> Result<EcdsaKeyPair, Error> {
    EcdsaKeyPair::from_pkcs8(signing(algorithm)?, pkcs8, &SystemRandom::new())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))
}

/// The curve and public point coordinates of a PKCS#8 signing key (for its JWK).
pub(crate) fn public_coordinates(
    pkcs8: &[u8],
    algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    let curve = curve_of(algorithm).ok_or_else(|| Error::from(ErrorKind::InvalidEcdsaKey))?;
    let pair = key_pair(algorithm, pkcs8)?;
    // An uncompressed point: 0x04, then x and y of equal width.
    match pair.public_key().as_ref().split_first() {
        Some((4, xy)) if xy.len() % 2 == 0 => {
            let (x, y) = xy.split_at(xy.len() / 2);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(Error::from(ErrorKind::InvalidEcdsaKey)),
    }
}

/// Signs ES256 or ES384.
pub(crate) struct Signer {
    algorithm: Algorithm,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    pub(crate) fn new(algorithm: Algorithm, key: &EncodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Ec {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        Ok(Signer {
            algorithm,
            pair: key_pair(algorithm, key.inner())?,
            rng: SystemRandom::new(),
        })
    }
}

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let sig = self.pair.sign(&self.rng, msg).map_err(crate::failed)?;
        Ok(sig.as_ref().to_vec())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Verifies ES256 or ES384 with an uncompressed public point.
pub(crate) struct Verifier {
    algorithm: Algorithm,
    verification: &'static dyn VerificationAlgorithm,
    point: Vec<u8>,
}

impl Verifier {
    pub(crate) fn new(algorithm: Algorithm, key: &DecodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Ec {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        let verification: &'static dyn VerificationAlgorithm = match algorithm {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
            _ => return Err(Error::from(ErrorKind::InvalidAlgorithm)),
        };
        Ok(Verifier {
            algorithm,
            verification,
            point: key.as_bytes().to_vec(),
        })
    }
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(self.verification, &self.point)
            .verify(msg, sig)
            .map_err(crate::failed)
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}
