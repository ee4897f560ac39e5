//! How token secrets are sealed: the 256-bit [`StoreKey`], and XChaCha20-Poly1305 with it.
//! Where the key comes from is [`super::keys`]'s.
//!
//! # Sealing
//! XChaCha20-Poly1305 with a random 192-bit nonce per seal. A sealed blob is
//! `0x01 || nonce (24 bytes) || ciphertext+tag`. The associated data binds a blob to where it
//! belongs (schema tag, profile, column, version, and the token's non-secret fields), so a blob
//! copied to another row, column or version, or a changed `expires_at`, fails to open.

use crate::error::{Error, Result};
use crate::token::{TokenSet, to_unix_millis};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use std::fmt;

/// The length of a store key in bytes.
pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const BLOB_FORMAT: u8 = 1;
const SCHEMA_TAG: &[u8] = b"tokenwarden-store-v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"tokenwarden key check v1";

/// A 256-bit store key. `Debug` redacts it; dropping it overwrites it with zeros.
pub struct StoreKey([u8; KEY_LEN]);

impl StoreKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> StoreKey {
        StoreKey(bytes)
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> StoreKey {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        StoreKey(bytes)
    }

    /// The raw key a `TOKENWARDEN_KEY` value gives: 64 hex digits or base64 of 32 bytes;
    /// `None` for anything else (a passphrase).
    pub fn parse(value: &str) -> Option<StoreKey> {
        parse_hex(value.trim()).or_else(|| parse_base64(value.trim()))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}
pub(crate) fn parse_hex(s: &str) -> Option<StoreKey> {
    if s.len() != KEY_LEN * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(StoreKey(out))
}

fn parse_base64(s: &str) -> Option<StoreKey> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    if !(43..=44).contains(&s.len()) {
        return None;
    }
    let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())?;
    let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().ok()?;
    let mut decoded = decoded;
    wipe(&mut decoded);
    Some(StoreKey(bytes))
}

/// Overwrites `buf` with zeros; `black_box` keeps the optimiser from dropping the store to
/// memory that is about to be freed (best effort, without `unsafe` or an extra crate).
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&buf);
}

impl Drop for StoreKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}
/// Why a sealed blob did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Not a blob of a known format (too short, unknown format byte).
    Malformed,
    /// The tag did not verify: wrong key, or the blob or its associated data was changed.
    Authentication,
}

/// Seals and opens blobs with one key.
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// A sealer for `key` (the cipher keeps its own copy and zeroes it on drop).
    pub(crate) fn new(key: &StoreKey) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.bytes().into()),
        }
    }

    /// Seals `plaintext` bound to `aad`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::store("sealing a token failed"))?;
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        blob.push(BLOB_FORMAT);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Opens a blob sealed bound to `aad`.
    pub(crate) fn open(&self, blob: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, OpenError> {
        if blob.len() < 1 + NONCE_LEN + 16 || blob[0] != BLOB_FORMAT {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = blob[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| OpenError::Authentication)
    }

    /// The key-check value stored in a new database.
    pub(crate) fn key_check(&self) -> Result<Vec<u8>> {
        self.seal(KEY_CHECK_PLAINTEXT, &aad(&[b"key-check"]))
    }

    /// Whether `blob` is a key-check value sealed with this sealer's key.
    pub(crate) fn verify_key_check(&self, blob: &[u8]) -> std::result::Result<(), OpenError> {
        match self.open(blob, &aad(&[b"key-check"])) {
            Ok(plain) if plain == KEY_CHECK_PLAINTEXT => Ok(()),
            Ok(_) => Err(OpenError::Malformed),
            Err(e) => Err(e),
        }
    }
}

/// Associated data: the schema tag, then each part length-prefixed (so the encoding is
/// unambiguous).
pub(crate) fn aad(parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(SCHEMA_TAG.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(SCHEMA_TAG);
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The associated data of a token column: binds the blob to its profile, column and version and
/// to the token's non-secret fields (which change only together with the version). The refresh
/// token's expiry is a last part, present only when known.
pub(crate) fn token_aad(profile: &str, column: &str, version: i64, tokens: &TokenSet) -> Vec<u8> {
    fn opt_ms(t: Option<std::time::SystemTime>) -> Vec<u8> {
        t.map(|t| {
            let mut v = vec![1u8];
            v.extend_from_slice(&to_unix_millis(t).to_be_bytes());
            v
        })
        .unwrap_or_else(|| vec![0u8])
    }
    fn opt_str(s: &Option<String>) -> Vec<u8> {
        s.as_ref()
            .map(|s| {
                let mut v = vec![1u8];
                v.extend_from_slice(s.as_bytes());
                v
            })
            .unwrap_or_else(|| vec![0u8])
    }
    let scopes = aad(&tokens
        .scopes
        .iter()
        .map(|s| s.as_bytes())
        .collect::<Vec<_>>());
    let version = version.to_be_bytes();
    let obtained = to_unix_millis(tokens.obtained_at).to_be_bytes();
    let (expires, refresh_obtained) = (
        opt_ms(tokens.expires_at),
        opt_ms(tokens.refresh_token_obtained_at),
    );
    let (subject, issuer) = (opt_str(&tokens.subject), opt_str(&tokens.issuer));
    let mut parts: Vec<&[u8]> = vec![
        profile.as_bytes(),
        column.as_bytes(),
        &version,
        tokens.token_type.as_bytes(),
        &expires,
        &scopes,
        &obtained,
        &refresh_obtained,
        &subject,
        &issuer,
    ];
    // Bound only when known, so that the rows sealed before it was kept still open.
    let refresh_expires = tokens
        .refresh_token_expires_at
        .map(|t| to_unix_millis(t).to_be_bytes());
    if let Some(at) = &refresh_expires {
        parts.push(at);
    }
    aad(&parts)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&StoreKey::from_bytes([byte; KEY_LEN]))
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let s = sealer(7);
        let blob = s.seal(b"secret", b"aad-1").unwrap();
        assert_eq!(s.open(&blob, b"aad-1").unwrap(), b"secret");
        assert_eq!(s.open(&blob, b"aad-2"), Err(OpenError::Authentication));
        assert_eq!(
            sealer(8).open(&blob, b"aad-1"),
            Err(OpenError::Authentication)
        );
        let mut flipped = blob.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(s.open(&flipped, b"aad-1"), Err(OpenError::Authentication));
        assert_eq!(s.open(&blob[..10], b"aad-1"), Err(OpenError::Malformed));
        // A fresh nonce every time.
        assert_ne!(s.seal(b"secret", b"aad-1").unwrap(), blob);
    }

    #[test]
    fn key_check_detects_another_key() {
        let check = sealer(1).key_check().unwrap();
        assert!(sealer(1).verify_key_check(&check).is_ok());
        assert_eq!(
            sealer(2).verify_key_check(&check),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn aad_is_unambiguous() {
        assert_ne!(aad(&[b"ab", b"c"]), aad(&[b"a", b"bc"]));
    }

    #[test]
    fn key_formats() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let raw = StoreKey::parse(hex).unwrap();
        assert_eq!(raw.bytes()[1], 0x11);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw.bytes());
        assert_eq!(StoreKey::parse(&b64).unwrap().bytes(), raw.bytes());
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.bytes());
        assert_eq!(StoreKey::parse(&b64url).unwrap().bytes(), raw.bytes());
        // Anything else is a passphrase (stretched when the store opens), not a key.
        assert!(StoreKey::parse("correct horse battery staple").is_none());
        assert!(StoreKey::parse(&hex[1..]).is_none());
        assert_eq!(format!("{raw:?}"), "StoreKey([redacted])");
    }
}
