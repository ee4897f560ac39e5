//! Secret values (tokens, client secrets, codes, verifiers) wrapped so that `Debug` and `Display`
//! never show them.
//!
//! Every secret type redacts itself as `[redacted]`; `fingerprint()` gives a short, stable,
//! non-reversible label (`len=43 sha256=1a2b3c4d`) so that two values can be compared in logs and
//! traces without showing either. The raw value is reachable only through `expose()`, which makes
//! every place that handles a secret easy to find.

use sha2::{Digest, Sha256};
use std::fmt;

/// The fingerprint of a secret: its length and the first 8 hex digits of its SHA-256.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("len={} sha256={hex}", value.len())
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$meta])*
        #[derive(PartialEq, Eq, serde::Serialize, serde::Deserialize $(, $derive)*)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The raw value. Never log or display it.
            pub fn expose(&self) -> &str {
                &self.0
            }
            /// A short label safe to log: length and a hash prefix.
            pub fn fingerprint(&self) -> String {
                fingerprint(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

secret_type!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken,
    Clone
);
secret_type!(
    /// An OAuth refresh token (RFC 6749 §1.5).
    RefreshToken,
    Clone
);
secret_type!(
    /// An OpenID Connect ID token (a JWT).
    IdToken,
    Clone
);
secret_type!(
    /// A client secret (RFC 6749 §2.3.1).
    ClientSecret,
    Clone
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2). Deliberately not `Clone`: it is exchanged once.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1). Deliberately not `Clone`: it is used once.
    PkceVerifier
);
secret_type!(
    /// An RFC 8628 device code. Never shown to the user (only the user code is).
    DeviceCode,
    Clone
);
secret_type!(
    /// Any other secret value (an API key, a key-file passphrase).
    SecretString,
    Clone
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let t = AccessToken::new("very-secret-value");
        assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
        assert_eq!(format!("{t}"), "[redacted]");
        assert!(!t.fingerprint().contains("very-secret-value"));
        assert_eq!(t.expose(), "very-secret-value");
    }

    #[test]
    fn fingerprint_is_stable_and_distinguishes() {
        assert_eq!(fingerprint("abc"), fingerprint("abc"));
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
        assert!(fingerprint("abc").starts_with("len=3 sha256="));
    }
}
