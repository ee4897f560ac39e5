//! Stretching a passphrase into the store key: Argon2id (RFC 9106), memory-hard, with a random
//! salt per database. The parameters and the salt are stored with the database they protect
//! (`meta.kdf`, as `argon2id$v=19$m=19456,t=2,p=1$<salt>`), so a later build with other defaults
//! still opens it, and copying the database copies what is needed to open it with the passphrase.
//!
//! Stores made before passphrases were stretched were keyed with one domain-separated SHA-256
//! of the passphrase ([`legacy_key`]); opening one with the passphrase re-keys it once (see
//! the SQLite store's `rekey` module).

use super::crypto::StoreKey;
use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use std::fmt;

/// Memory per derivation, in KiB: 19 MiB, OWASP's recommended minimum for Argon2id.
pub const DEFAULT_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const DEFAULT_ITERATIONS: u32 = 2;
/// Lanes.
pub const DEFAULT_PARALLELISM: u32 = 1;

const SALT_LEN: usize = 16;
const LEGACY_DOMAIN: &[u8] = b"tokenwarden/store-key/v1\0";

/// How a passphrase is stretched: Argon2id with these costs and this salt.
#[derive(Clone, PartialEq, Eq)]
pub struct KdfParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: [u8; SALT_LEN],
}

impl fmt::Debug for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Display for KdfParams {
    /// E.g. "Argon2id (19 MiB, 2 passes, 1 lane)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Argon2id ({} MiB, {} passes, {} lane{})",
            self.memory_kib / 1024,
            self.iterations,
            self.parallelism,
            if self.parallelism == 1 { "" } else { "s" }
        )
    }
}

impl KdfParams {
    /// The default costs with a fresh random salt (for a new database, or a re-keyed one).
    pub fn fresh() -> KdfParams {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        KdfParams {
            memory_kib: DEFAULT_MEMORY_KIB,
            iterations: DEFAULT_ITERATIONS,
            parallelism: DEFAULT_PARALLELISM,
            salt,
        }
    }

    /// The stored form: `argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, base64>`.
    pub fn encode(&self) -> String {
        format!(
            "argon2id$v=19$m={},t={},p={}${}",
            self.memory_kib,
            self.iterations,
            self.parallelism,
            STANDARD_NO_PAD.encode(self.salt)
        )
    }

    /// Reads the stored form; `None` for anything this build cannot use (another algorithm or
    /// version, costs outside what Argon2 accepts, a salt of another length).
    pub fn decode(stored: &str) -> Option<KdfParams> {
        let mut parts = stored.split('$');
        if parts.next()? != "argon2id" || parts.next()? != "v=19" {
            return None;
        }
        let (mut m, mut t, mut p) = (None, None, None);
        for kv in parts.next()?.split(',') {
            let (k, v) = kv.split_once('=')?;
            let v: u32 = v.parse().ok()?;
            match k {
                "m" => m = Some(v),
                "t" => t = Some(v),
                "p" => p = Some(v),
                _ => return None,
            }
        }
        let salt = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        let params = KdfParams {
            memory_kib: m?,
            iterations: t?,
            parallelism: p?,
            salt: salt.try_into().ok()?,
        };
        params.argon2_params().ok()?;
        Some(params)
    }

    fn argon2_params(&self) -> std::result::Result<argon2::Params, argon2::Error> {
        argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(super::crypto::KEY_LEN),
        )
    }

    /// Stretches `passphrase` into the store key.
    pub fn derive(&self, passphrase: &str) -> Result<StoreKey> {
        let params = self.argon2_params().map_err(|e| {
            Error::store(format!(
                "the stored key-derivation parameters are unusable: {e}"
            ))
        })?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; super::crypto::KEY_LEN];
        argon
            .hash_password_into(passphrase.as_bytes(), &self.salt, &mut out)
            .map_err(|e| Error::store(format!("stretching the passphrase failed: {e}")))?;
        let key = StoreKey::from_bytes(out);
        super::crypto::wipe(&mut out);
        Ok(key)
    }
}

/// The key stores made before passphrases were stretched used: `SHA-256("tokenwarden/store-key/v1\0"
/// || passphrase)`. Only for opening such a store once, to re-key it (and for tests that make one).
pub fn legacy_key(passphrase: &str) -> StoreKey {
    let mut hasher = Sha256::new();
    hasher.update(LEGACY_DOMAIN);
    hasher.update(passphrase.as_bytes());
    StoreKey::from_bytes(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            salt: [7; SALT_LEN],
        }
    }

    #[test]
    fn stored_form_round_trips_and_refuses_the_unknown() {
        let p = KdfParams::fresh();
        assert_eq!(KdfParams::decode(&p.encode()), Some(p.clone()));
        assert!(p.encode().starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(p.to_string(), "Argon2id (19 MiB, 2 passes, 1 lane)");
        for bad in [
            "",
            "argon2i$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw",
            "argon2id$v=16$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw",
            "argon2id$v=19$m=64,t=1$BwcHBwcHBwcHBwcHBwcHBw",
            "argon2id$v=19$m=64,t=1,p=1,x=2$BwcHBwcHBwcHBwcHBwcHBw",
            "argon2id$v=19$m=1,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw",
            "argon2id$v=19$m=64,t=1,p=1$short",
            "argon2id$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw$extra",
        ] {
            assert_eq!(KdfParams::decode(bad), None, "{bad:?}");
        }
        assert_eq!(
            KdfParams::decode("argon2id$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw"),
            Some(cheap())
        );
    }

    #[test]
    fn derivation_depends_on_passphrase_salt_and_costs() {
        let a = cheap().derive("pass").unwrap();
        assert_eq!(a.bytes(), cheap().derive("pass").unwrap().bytes());
        assert_ne!(a.bytes(), cheap().derive("other").unwrap().bytes());
        let salted = KdfParams {
            salt: [8; SALT_LEN],
            ..cheap()
        };
        assert_ne!(a.bytes(), salted.derive("pass").unwrap().bytes());
        let costlier = KdfParams {
            iterations: 2,
            ..cheap()
        };
        assert_ne!(a.bytes(), costlier.derive("pass").unwrap().bytes());
        assert_ne!(a.bytes(), legacy_key("pass").bytes());
    }
}
