//! Where the store's key comes from ([`KeySource`], resolved in that order), and where it came
//! from ([`KeyOrigin`], which `doctor` shows).
//!
//! # Key sources, first match wins
//! 1. `TOKENWARDEN_KEY`: 64 hex digits, or base64 (standard or URL-safe, padded or not) of 32
//!    bytes, is the raw key. Any other value is a passphrase, stretched with Argon2id
//!    ([`super::kdf`]; the parameters and salt are stored in the database, and stores keyed
//!    before with the old single SHA-256 are re-keyed on first open).
//! 2. The key file `<data dir>/key` when it exists (an existing store keeps its key).
//! 3. The OS keyring, where one answers ([`super::os_keyring`]: Secret Service, Keychain,
//!    Credential Manager): the key is created there for a new store. `TOKENWARDEN_KEYRING=off`
//!    skips it.
//! 4. Else a new key file: 32 random bytes from the OS CSPRNG, created once, atomically
//!    (written to a temporary file, synced, then hard-linked into place, so no process ever
//!    reads a half-written key), mode 0600 in the 0700 data directory.
//!
//! Where the key came from is a [`KeyOrigin`], which `doctor` shows.

use super::crypto::{KEY_LEN, StoreKey, wipe};
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::secret::SecretString;
use rand::RngCore as _;
use std::ffi::OsString;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// The environment variable holding the key or passphrase.
pub const KEY_ENV: &str = "TOKENWARDEN_KEY";

/// The environment variable that turns the OS keyring off (`off`, `0`, `false` or `no`): the
/// key file is used.
pub const KEYRING_ENV: &str = "TOKENWARDEN_KEYRING";

/// What a resolved key is made of. `Debug` redacts both.
#[derive(Debug)]
pub(crate) enum KeyMaterial {
    /// A 256-bit key, used as it is.
    Raw(StoreKey),
    /// A passphrase: the key is stretched from it with the parameters the database stores.
    Passphrase(SecretString),
}

/// The key material a `TOKENWARDEN_KEY` value gives. An empty value is refused.
pub(crate) fn parse_value(value: &str) -> Result<KeyMaterial> {
    if value.is_empty() {
        return Err(
            Error::store(format!("{KEY_ENV} is set but empty")).with_hint(format!(
                "unset {KEY_ENV} to use the OS keyring or the key file, or set it to a key"
            )),
        );
    }
    if let Some(key) = StoreKey::parse(value) {
        return Ok(KeyMaterial::Raw(key));
    }
    if value.len() < 16 {
        tracing::warn!(
            "{KEY_ENV} is a short passphrase ({} bytes); stretching slows guessing down, but a long random value is much safer",
            value.len()
        );
    }
    Ok(KeyMaterial::Passphrase(SecretString::new(value)))
}
/// Where the store's key comes from. See the module docs for the formats and the order.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeySource {
    /// A value as `TOKENWARDEN_KEY` holds it (hex, base64, or a passphrase).
    Value(SecretString),
    /// A key already in hand.
    Key(StoreKey),
    /// The key file in the data directory, created on first use (the keyring is not asked).
    KeyFile,
    /// The key file when it exists, else the OS keyring where one answers, else a new key
    /// file: the default.
    KeyringOrFile,
}

impl KeySource {
    /// `TOKENWARDEN_KEY` when set and not empty; else the key file when `TOKENWARDEN_KEYRING`
    /// is `off`; else [`KeySource::KeyringOrFile`].
    pub fn from_env() -> Result<KeySource> {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// As [`KeySource::from_env`], from a variable lookup (testable without touching the
    /// process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<KeySource> {
        if let Some(value) = var(KEY_ENV).filter(|v| !v.is_empty()) {
            return match value.into_string() {
                Ok(s) => Ok(KeySource::Value(SecretString::new(s))),
                Err(_) => Err(
                    Error::config(format!("{KEY_ENV} is not valid UTF-8")).with_hint(format!(
                        "set {KEY_ENV} to 64 hex digits, base64, or a text passphrase"
                    )),
                ),
            };
        }
        let keyring_off = var(KEYRING_ENV).is_some_and(|v| {
            let v = v.to_string_lossy().trim().to_ascii_lowercase();
            matches!(v.as_str(), "off" | "0" | "false" | "no")
        });
        Ok(if keyring_off {
            KeySource::KeyFile
        } else {
            KeySource::KeyringOrFile
        })
    }
}

/// Where the store's key came from, as `doctor` and messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// A raw key in `TOKENWARDEN_KEY`.
    EnvKey,
    /// A passphrase in `TOKENWARDEN_KEY`, stretched ([`super::kdf`]).
    EnvPassphrase,
    /// A key given by the program.
    Given,
    /// The OS keyring's entry for this data directory.
    Keyring {
        /// The entry's account (`store key <data dir>`; service `tokenwarden`).
        account: String,
    },
    /// The key file.
    KeyFile {
        /// Where it is.
        path: std::path::PathBuf,
        /// Why the keyring holds no key, when it was asked: `None` when the key file existed
        /// already or the keyring is turned off.
        keyring_unavailable: Option<String>,
    },
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::EnvKey => write!(f, "{KEY_ENV} (a raw key)"),
            KeyOrigin::EnvPassphrase => write!(f, "{KEY_ENV} (a passphrase, stretched)"),
            KeyOrigin::Given => f.write_str("the key given by the program"),
            KeyOrigin::Keyring { account } => write!(
                f,
                "the OS keyring (service `{}`, account `{account}`)",
                super::os_keyring::SERVICE
            ),
            KeyOrigin::KeyFile {
                path,
                keyring_unavailable: None,
            } => write!(f, "the key file {}", path.display()),
            KeyOrigin::KeyFile {
                path,
                keyring_unavailable: Some(why),
            } => write!(
                f,
                "the key file {} (no OS keyring answered: {why})",
                path.display()
            ),
        }
    }
}

/// A resolved key, with where it came from (for messages).
#[derive(Debug)]
pub(crate) struct ResolvedKey {
    pub(crate) material: KeyMaterial,
    pub(crate) origin: KeyOrigin,
}

/// Resolves `source`. A key is created (in the keyring or a key file) only when `may_create`
/// (the database does not exist yet): a missing key next to an existing database is an error,
/// not a new key.
pub(crate) fn resolve(source: KeySource, paths: &Paths, may_create: bool) -> Result<ResolvedKey> {
    let file = |key: StoreKey, keyring_unavailable: Option<String>| ResolvedKey {
        material: KeyMaterial::Raw(key),
        origin: KeyOrigin::KeyFile {
            path: paths.key_file(),
            keyring_unavailable,
        },
    };
    match source {
        KeySource::Value(value) => {
            let material = parse_value(value.expose())?;
            let origin = match material {
                KeyMaterial::Raw(_) => KeyOrigin::EnvKey,
                KeyMaterial::Passphrase(_) => KeyOrigin::EnvPassphrase,
            };
            Ok(ResolvedKey { material, origin })
        }
        KeySource::Key(key) => Ok(ResolvedKey {
            material: KeyMaterial::Raw(key),
            origin: KeyOrigin::Given,
        }),
        KeySource::KeyFile => Ok(file(
            load_or_create_key_file(&paths.key_file(), &paths.database(), may_create, None)?,
            None,
        )),
        KeySource::KeyringOrFile => {
            let path = paths.key_file();
            if super::perms::check_private_file(&path, "the key file")? {
                return Ok(file(read_key_file(&path)?, None));
            }
            let keyring = |key| ResolvedKey {
                material: KeyMaterial::Raw(key),
                origin: KeyOrigin::Keyring {
                    account: super::os_keyring::account(paths),
                },
            };
            let why = match super::os_keyring::lookup(paths)? {
                super::os_keyring::Lookup::Found(key) => return Ok(keyring(key)),
                super::os_keyring::Lookup::Absent if !may_create => {
                    return Err(Error::store(format!(
                        "the token database {} exists, but neither the key file {} nor the OS keyring holds its key",
                        paths.database().display(),
                        path.display()
                    ))
                    .with_hint(format!(
                        "restore the key file or the keyring entry (or set {KEY_ENV} to the key used before); to start over instead, move {} away and log in again",
                        paths.database().display()
                    )));
                }
                super::os_keyring::Lookup::Absent => match super::os_keyring::create(paths)? {
                    Some(key) => return Ok(keyring(key)),
                    None => "it stopped answering while the key was created".to_string(),
                },
                super::os_keyring::Lookup::Unavailable(why) => why,
            };
            tracing::debug!(reason = %why, "no OS keyring answered; using the key file");
            let key = load_or_create_key_file(&path, &paths.database(), may_create, Some(&why))?;
            Ok(file(key, Some(why)))
        }
    }
}

fn load_or_create_key_file(
    path: &Path,
    database: &Path,
    may_create: bool,
    keyring_unavailable: Option<&str>,
) -> Result<StoreKey> {
    if super::perms::check_private_file(path, "the key file")? {
        return read_key_file(path);
    }
    if !may_create {
        let keyring = keyring_unavailable
            .map(|why| format!(", and no OS keyring answered ({why})"))
            .unwrap_or_default();
        return Err(Error::store(format!(
            "the key file {} is missing{keyring}, but the token database {} exists: its tokens cannot be read without that key",
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
        Ok(bytes) => Ok(StoreKey::from_bytes(bytes)),
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_keys_or_passphrases() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(matches!(
            parse_value("correct horse battery staple").unwrap(),
            KeyMaterial::Passphrase(_)
        ));
        assert!(matches!(parse_value(hex).unwrap(), KeyMaterial::Raw(_)));
        assert!(parse_value("").is_err());
    }

    #[test]
    fn key_source_from_vars() {
        let src = KeySource::from_vars(|_| None).unwrap();
        assert!(matches!(src, KeySource::KeyringOrFile));
        let src = KeySource::from_vars(|_| Some(OsString::from(""))).unwrap();
        assert!(matches!(src, KeySource::KeyringOrFile));
        let src =
            KeySource::from_vars(|k| (k == KEYRING_ENV).then(|| OsString::from("Off"))).unwrap();
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
        let raw = |r: ResolvedKey| match r.material {
            KeyMaterial::Raw(k) => k,
            KeyMaterial::Passphrase(_) => panic!("a key file holds a key"),
        };
        let a = raw(resolve(KeySource::KeyFile, &paths, true).unwrap());
        let b = raw(resolve(KeySource::KeyFile, &paths, false).unwrap());
        assert_eq!(a.bytes(), b.bytes());
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
