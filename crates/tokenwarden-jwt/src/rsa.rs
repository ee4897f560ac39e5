//! RS256/384/512 (RSASSA-PKCS1-v1_5) and PS256/384/512 (RSASSA-PSS), with keys of 2048 to
//! 8192 bits (RFC 7518 §3.3 asks for at least 2048).

use jsonwebtoken::crypto::{JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    self as sig, RsaEncoding, RsaKeyPair, RsaParameters, RsaPublicKeyComponents,
};

/// ring's verification parameters and signing padding for `algorithm`.
fn scheme(
    algorithm: Algorithm,
) -> Result<(&'static RsaParameters, &'static dyn RsaEncoding), Error> {
    use Algorithm as A;
    Ok(match algorithm {
        A::RS256 => (&sig::RSA_PKCS1_2048_8192_SHA256, &sig::RSA_PKCS1_SHA256),
        A::RS384 => (&sig::RSA_PKCS1_2048_8192_SHA384, &sig::RSA_PKCS1_SHA384),
        A::RS512 => (&sig::RSA_PKCS1_2048_8192_SHA512, &sig::RSA_PKCS1_SHA512),
        A::PS256 => (&sig::RSA_PSS_2048_8192_SHA256, &sig::RSA_PSS_SHA256),
        A::PS384 => (&sig::RSA_PSS_2048_8192_SHA384, &sig::RSA_PSS_SHA384),
        A::PS512 => (&sig::RSA_PSS_2048_8192_SHA512, &sig::RSA_PSS_SHA512),
        _ => return Err(Error::from(ErrorKind::InvalidAlgorithm)),
    })
}

/// A PKCS#1 `RSAPrivateKey`.
fn key_pair(der: &[u8]) -> Result<RsaKeyPair, Error> {
    RsaKeyPair::from_der(der).map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))
}

/// The modulus and public exponent of a PKCS#1 private key (for its JWK).
pub(crate) fn public_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(key_pair(der)?.public());
    Ok((public.n, public.e))
}

/// Signs one RSA algorithm with one key.
pub(crate) struct Signer {
    algorithm: Algorithm,
    padding: &'static dyn RsaEncoding,
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    pub(crate) fn new(algorithm: Algorithm, key: &EncodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Rsa {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        let (_, padding) = scheme(algorithm)?;
        Ok(Signer {
            algorithm,
            padding,
            pair: key_pair(key.inner())?,
            rng: SystemRandom::new(),
        })
    }
}

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(self.padding, &self.rng, msg, &mut out)
            .map_err(crate::failed)?;
        Ok(out)
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Verifies one RSA algorithm with a public key: PKCS#1 `RSAPublicKey` DER, or its modulus and
/// exponent (a JWK's `n` and `e`).
pub(crate) struct Verifier {
    algorithm: Algorithm,
    parameters: &'static RsaParameters,
    key: DecodingKeyKind,
}

impl Verifier {
    pub(crate) fn new(algorithm: Algorithm, key: &DecodingKey) -> Result<Self, Error> {
        if key.family() != AlgorithmFamily::Rsa {
            return Err(Error::from(ErrorKind::InvalidKeyFormat));
        }
        let (parameters, _) = scheme(algorithm)?;
        Ok(Verifier {
            algorithm,
            parameters,
            key: key.kind().clone(),
        })
    }
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let checked = match &self.key {
            DecodingKeyKind::SecretOrDer(der) => {
                sig::UnparsedPublicKey::new(self.parameters, der).verify(msg, signature)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(self.parameters, msg, signature)
            }
        };
        checked.map_err(crate::failed)
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}
