//! PKCE (RFC 7636) and the other single-use random values of a login: `state` and `nonce`.
//!
//! Only `S256` is produced: `plain` gives no protection if the authorization request leaks.

use crate::secret::PkceVerifier;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// A PKCE pair. The verifier is consumed by the code exchange (it is not `Clone`).
#[derive(Debug)]
pub struct Pkce {
    /// The secret verifier, sent with the code exchange.
    pub verifier: PkceVerifier,
    /// `BASE64URL(SHA256(verifier))`, sent with the authorization request.
    pub challenge: String,
}

impl Pkce {
    /// A new pair from the OS CSPRNG: 32 random bytes give a 43-character verifier
    /// (RFC 7636 §4.1 asks for 43 to 128 characters).
    pub fn generate() -> Self {
        let verifier = random_token(32);
        let challenge = challenge_s256(&verifier);
        Pkce {
            verifier: PkceVerifier::new(verifier),
            challenge,
        }
    }

    /// The challenge method: always `S256`.
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `bytes` random bytes from the OS CSPRNG, base64url without padding. 16 bytes give the
/// 128 bits asked of `state`; logins use 32.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_pairs_are_well_formed_and_distinct() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_eq!(a.verifier.expose().len(), 43);
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_eq!(a.challenge, challenge_s256(a.verifier.expose()));
        assert!(random_token(16).len() >= 22);
    }
}
