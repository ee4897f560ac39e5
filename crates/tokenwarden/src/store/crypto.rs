//! Where the store's key comes from, and how token secrets are sealed with it.
//!
//! # Key sources ([`KeySource`])
//! 1. `TOKENWARDEN_KEY`: 64 hex digits, or base64 (standard or URL-safe, padded or not) of 32
//!    bytes, is the raw key. Any other value is a passphrase, and the key is
//!    `SHA-256("tokenwarden/store-key/v1\0" || passphrase)`. That is a domain-separated hash,
//!    **not** a slow password KDF: a passphrase must carry its own entropy (use a long random
//!    one, or a raw key).
//! 2. (seam) an OS keyring: not implemented. Headless Linux has no keyring daemon and the crates
//!    that talk to one bring D-Bus in; a `KeySource::Keyring { .. }` variant would slot in here.
//! 3. The key file `<data dir>/key`: 32 random bytes from the OS CSPRNG, created once, atomically
//!    (written to a temporary file, synced, then hard-linked into place, so no process ever reads
//!    a half-written key), mode 0600 in the 0700 data directory.
//!
//! # Sealing
//! XChaCha20-Poly1305 with a random 192-bit nonce per seal. A sealed blob is
//! `0x01 || nonce (24 bytes) || ciphertext+tag`. The associated data binds a blob to where it
//! belongs (schema tag, profile, column, version, and the token's non-secret fields), so a blob
//! copied to another row, column or version, or a changed `expires_at`, fails to open.

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::secret::SecretString;
use crate::token::{TokenSet, to_unix_millis};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// The environment variable holding the key or passphrase.
pub const KEY_ENV: &str = "TOKENWARDEN_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const BLOB_FORMAT: u8 = 1;
const SCHEMA_TAG: &[u8] = b"tokenwarden-store-v1";
const PASSPHRASE_DOMAIN: &[u8] = b"tokenwarden/store-key/v1\0";
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

    /// The key from a passphrase: a domain-separated SHA-256, not a slow KDF (see the module
    /// docs).
    pub fn from_passphrase(passphrase: &str) -> StoreKey {
        let mut hasher = Sha256::new();
        hasher.update(PASSPHRASE_DOMAIN);
        hasher.update(passphrase.as_bytes());
        StoreKey(hasher.finalize().into())
    }

    /// The key a `TOKENWARDEN_KEY` value gives: 64 hex digits or base64 of 32 bytes is the raw
    /// key; anything else is a passphrase. An empty value is refused.
    pub fn parse(value: &str) -> Result<StoreKey> {
        if value.is_empty() {
            return Err(
                Error::store(format!("{KEY_ENV} is set but empty")).with_hint(format!(
                    "unset {KEY_ENV} to use the key file, or set it to a key"
                )),
            );
        }
        if let Some(key) = parse_hex(value.trim()) {
            return Ok(key);
        }
        if let Some(key) = parse_base64(value.trim()) {
            return Ok(key);
        }
        if value.len() < 16 {
            tracing::warn!(
                "{KEY_ENV} is a short passphrase ({} bytes); it is hashed, not stretched: use a long random value",
                value.len()
            );
        }
        Ok(StoreKey::from_passphrase(value))
    }

    fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

fn parse_hex(s: &str) -> Option<StoreKey> {
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
fn wipe(buf: &mut [u8]) {
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

/// Where the store's key comes from. See the module docs for the formats.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeySource {
    /// A value as `TOKENWARDEN_KEY` holds it (hex, base64, or a passphrase).
    Value(SecretString),
    /// A key already in hand.
    Key(StoreKey),
    /// The key file in the data directory, created on first use.
    KeyFile,
}

impl KeySource {
    /// `TOKENWARDEN_KEY` when set and not empty, else the key file.
    pub fn from_env() -> Result<KeySource> {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// As [`KeySource::from_env`], from a variable lookup (testable without touching the
    /// process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<KeySource> {
        match var(KEY_ENV).filter(|v| !v.is_empty()) {
            None => Ok(KeySource::KeyFile),
            Some(value) => match value.into_string() {
                Ok(s) => Ok(KeySource::Value(SecretString::new(s))),
                Err(_) => Err(
                    Error::config(format!("{KEY_ENV} is not valid UTF-8")).with_hint(format!(
                        "set {KEY_ENV} to 64 hex digits, base64, or a text passphrase"
                    )),
                ),
            },
        }
    }
}

/// A resolved key, with where it came from (for messages).
#[derive(Debug)]
pub(crate) struct ResolvedKey {
    pub(crate) key: StoreKey,
    /// E.g. "TOKENWARDEN_KEY" or "the key file /x/key".
    pub(crate) origin: String,
}

/// Resolves `source`. The key file is created only when `may_create` (the database does not
/// exist yet): a missing key next to an existing database is an error, not a new key.
pub(crate) fn resolve(source: KeySource, paths: &Paths, may_create: bool) -> Result<ResolvedKey> {
    match source {
        KeySource::Value(value) => Ok(ResolvedKey {
            key: StoreKey::parse(value.expose())?,
            origin: KEY_ENV.to_string(),
        }),
        KeySource::Key(key) => Ok(ResolvedKey {
            key,
            origin: "the key given by the program".to_string(),
        }),
        KeySource::KeyFile => {
            let path = paths.key_file();
            let key = load_or_create_key_file(&path, &paths.database(), may_create)?;
            Ok(ResolvedKey {
                key,
                origin: format!("the key file {}", path.display()),
            })
        }
    }
}

fn load_or_create_key_file(path: &Path, database: &Path, may_create: bool) -> Result<StoreKey> {
    if super::perms::check_private_file(path, "the key file")? {
        return read_key_file(path);
    }
    if !may_create {
        return Err(Error::store(format!(
            "the key file {} is missing, but the token database {} exists: its tokens cannot be read without that key",
            path.display(),
            database.display()
        ))
        .with_hint(format!(
            "restore the key file (or set {KEY_ENV} to the key used before); to start over instead, move {} away and log in again",
            database.display()
        )));
    }
    create_key_file(path)?;
    read_key_file(path)
}

fn read_key_file(path: &Path) -> Result<StoreKey> {
    let io_err = |e: std::io::Error| {
        Error::store(format!("cannot read the key file {}", path.display())).with_source(e)
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::with_capacity(KEY_LEN + 1);
    (&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    let result = <[u8; KEY_LEN]>::try_from(buf.as_slice());
    wipe(&mut buf);
    match result {
        Ok(bytes) => Ok(StoreKey(bytes)),
        Err(_) => Err(Error::store(format!(
            "the key file {} is damaged: it should hold exactly {KEY_LEN} bytes",
            path.display()
        ))
        .with_hint(
            "restore the key file from a backup; without it the stored tokens cannot be read",
        )),
    }
}

/// Creates the key file atomically: a fully written, synced temporary file is hard-linked to
/// the final name (which fails if another process got there first; then its key is used).
fn create_key_file(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".key.tmp-{}-{:08x}",
        std::process::id(),
        rand::rngs::OsRng.next_u32()
    ));
    let io_err = |what: &str, e: std::io::Error| {
        Error::store(format!(
            "cannot create the key file {}: {what}",
            path.display()
        ))
        .with_source(e)
    };
    let result = (|| {
        let mut file = super::perms::create_private_file(&tmp).map_err(|e| io_err("create", e))?;
        let key = StoreKey::generate();
        file.write_all(key.bytes())
            .map_err(|e| io_err("write", e))?;
        file.sync_all().map_err(|e| io_err("sync", e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => super::perms::sync_dir(dir).map_err(|e| io_err("sync directory", e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err("link", e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
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
/// to the token's non-secret fields (which change only together with the version).
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
    aad(&[
        profile.as_bytes(),
        column.as_bytes(),
        &version.to_be_bytes(),
        tokens.token_type.as_bytes(),
        &opt_ms(tokens.expires_at),
        &scopes,
        &to_unix_millis(tokens.obtained_at).to_be_bytes(),
        &opt_ms(tokens.refresh_token_obtained_at),
        &opt_str(&tokens.subject),
        &opt_str(&tokens.issuer),
    ])
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
        let pass = StoreKey::parse("correct horse battery staple").unwrap();
        assert_eq!(
            pass.bytes(),
            StoreKey::from_passphrase("correct horse battery staple").bytes()
        );
        assert_ne!(pass.bytes(), raw.bytes());
        // 63 hex digits is a passphrase, not a key.
        assert_ne!(StoreKey::parse(&hex[1..]).unwrap().bytes(), raw.bytes());
        assert!(StoreKey::parse("").is_err());
        assert_eq!(format!("{raw:?}"), "StoreKey([redacted])");
    }

    #[test]
    fn key_source_from_vars() {
        let src = KeySource::from_vars(|_| None).unwrap();
        assert!(matches!(src, KeySource::KeyFile));
        let src = KeySource::from_vars(|_| Some(OsString::from(""))).unwrap();
        assert!(matches!(src, KeySource::KeyFile));
        let src = KeySource::from_vars(|k| (k == KEY_ENV).then(|| OsString::from("pw"))).unwrap();
        assert!(matches!(src, KeySource::Value(_)));
        assert!(!format!("{src:?}").contains("pw"));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let a = resolve(KeySource::KeyFile, &paths, true).unwrap();
        let b = resolve(KeySource::KeyFile, &paths, false).unwrap();
        assert_eq!(a.key.bytes(), b.key.bytes());
        let mode = std::fs::metadata(paths.key_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(paths.key_file()).unwrap().len(), KEY_LEN);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_key_file_next_to_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let err = resolve(KeySource::KeyFile, &paths, false).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Store);
        assert!(err.message().contains("missing"), "{}", err.message());
        assert!(!paths.key_file().exists());
    }

    #[test]
    fn short_key_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let file = super::super::perms::create_private_file(&paths.key_file()).unwrap();
        drop(file);
        let err = resolve(KeySource::KeyFile, &paths, true).unwrap_err();
        assert!(err.message().contains("damaged"), "{}", err.message());
        assert_eq!(std::fs::read(paths.key_file()).unwrap().len(), 0);
    }
}
