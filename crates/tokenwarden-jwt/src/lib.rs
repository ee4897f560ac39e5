//! jsonwebtoken's cryptography on ring ([`PROVIDER`]).
//!
//! jsonwebtoken does the JWT parts (headers, claims, validation, JWKs) and leaves signing and
//! verifying to a [`CryptoProvider`]. Its own providers are RustCrypto's pure-Rust crates and
//! aws-lc; this one is ring, which the workspace already has for rustls. ring's ECDSA P-256
//! verification, which every ES256 ID token costs, takes a fifth of the pure-Rust crates' time,
//! and signing (mockauth's ID tokens) a tenth; and the pure-Rust `rsa` crate, with its open
//! timing advisory, leaves the dependency tree.
//!
//! Every algorithm jsonwebtoken names is covered: HMAC (HS256/384/512), RSA PKCS#1 v1.5
//! (RS256/384/512) and PSS (PS256/384/512), ECDSA P-256 and P-384 (ES256/384), and Ed25519
//! (EdDSA). Keys are what jsonwebtoken hands over: PKCS#8 for EC and Ed25519 signing keys,
//! PKCS#1 for RSA ones, and for verification the raw public key (an uncompressed EC point, an
//! Ed25519 key, PKCS#1 `RSAPublicKey`) or an RSA modulus and exponent.
//!
//! jsonwebtoken holds one provider per process: [`install`] makes it this one, unless the
//! program installed another first (its choice stands). Call it before any signing or
//! verifying; it is cheap to call again.

#![deny(missing_docs)]

mod ecdsa;
mod eddsa;
mod hmac;
mod rsa;

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::Error;
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::digest;

/// jsonwebtoken's cryptography on ring.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: rsa::public_components,
        extract_ec_public_key_coordinates: ecdsa::public_coordinates,
        compute_digest,
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's provider for this process, unless one is installed already.
pub fn install() {
    // An `Err` means a provider is in place (this one, or the program's own): either is fine.
    let _ = PROVIDER.install_default();
}

/// A signer of `algorithm` with `key`.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    use Algorithm as A;
    Ok(match algorithm {
        A::HS256 | A::HS384 | A::HS512 => Box::new(hmac::Hmac::signing(*algorithm, key)?),
        A::ES256 | A::ES384 => Box::new(ecdsa::Signer::new(*algorithm, key)?),
        A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 => {
            Box::new(rsa::Signer::new(*algorithm, key)?)
        }
        A::EdDSA => Box::new(eddsa::Signer::new(key)?),
    })
}

/// A verifier of `algorithm` with `key`.
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    use Algorithm as A;
    Ok(match algorithm {
        A::HS256 | A::HS384 | A::HS512 => Box::new(hmac::Hmac::verifying(*algorithm, key)?),
        A::ES256 | A::ES384 => Box::new(ecdsa::Verifier::new(*algorithm, key)?),
        A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 => {
            Box::new(rsa::Verifier::new(*algorithm, key)?)
        }
        A::EdDSA => Box::new(eddsa::Verifier::new(key)?),
    })
}

/// A JWK thumbprint's digest (RFC 7638).
fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
    };
    digest::digest(algorithm, data).as_ref().to_vec()
}

/// The curve of an ECDSA algorithm, for [`EllipticCurve`] users.
fn curve_of(algorithm: Algorithm) -> Option<EllipticCurve> {
    match algorithm {
        Algorithm::ES256 => Some(EllipticCurve::P256),
        Algorithm::ES384 => Some(EllipticCurve::P384),
        _ => None,
    }
}

/// A signing or verifying failure (ring says no more than that, on purpose).
fn failed<E>(_: E) -> jsonwebtoken::signature::Error {
    jsonwebtoken::signature::Error::new()
}

#[cfg(test)]
mod tests;
