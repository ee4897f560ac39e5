//! The OS keyring as the home of the store key, through the `keyring` crate: the Secret Service
//! on Linux and the BSDs (over D-Bus, in pure Rust: `gnome-keyring`, KeePassXC, KWallet's
//! bridge), the Keychain on macOS, the Credential Manager on Windows.
//!
//! One entry per data directory: service `tokenwarden`, account `store key <data dir>`, the
//! key as 64 hex digits. A keyring "answers" when it can say whether that entry exists; one
//! that cannot be reached (no session bus, as over SSH or in CI), or that does not answer within
//! [`ANSWER_WITHIN`] (a locked keyring waiting for a prompt nobody sees), does not, and the key
//! file is used instead ([`super::crypto`] decides).
//!
//! Creating the entry runs under a file lock (`<lock dir>/.keyring.lock`), re-checking first,
//! so two processes starting on a new store never create two keys.

use super::crypto::{StoreKey, parse_hex};
use super::guard::poll_until;
use super::perms::open_private_file;
use crate::error::{Error, Result};
use crate::paths::Paths;
use std::fs::{File, TryLockError};
use std::time::Duration;

/// The keyring service name of tokenwarden's entries.
pub const SERVICE: &str = "tokenwarden";

/// How long the keyring has to answer before it is treated as unavailable.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What the keyring said about the store key of a data directory.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The entry holds this key.
    Found(StoreKey),
    /// The keyring answers, and has no such entry.
    Absent,
    /// No keyring answered: why, in words.
    Unavailable(String),
}

/// The keyring account naming the store key of `paths`' data directory.
pub(crate) fn account(paths: &Paths) -> String {
    let dir = std::fs::canonicalize(&paths.data_dir).unwrap_or_else(|_| paths.data_dir.clone());
    format!("store key {}", dir.display())
}

/// Asks the keyring for the store key of `paths`.
pub(crate) fn lookup(paths: &Paths) -> Result<Lookup> {
    let account = account(paths);
    match within(move || ::keyring::Entry::new(SERVICE, &account)?.get_password()) {
        Err(why) => Ok(Lookup::Unavailable(why)),
        Ok(Ok(hex)) => match parse_hex(&hex) {
            Some(key) => Ok(Lookup::Found(key)),
            None => Err(Error::store(format!(
                "the OS keyring's entry `{SERVICE}` / `{}` does not hold a tokenwarden key",
                self::account(paths)
            ))
            .with_hint("remove that entry (e.g. `secret-tool clear service tokenwarden`) only if the token database is new; otherwise restore the key")),
        },
        Ok(Err(::keyring::Error::NoEntry)) => Ok(Lookup::Absent),
        Ok(Err(::keyring::Error::Ambiguous(found))) => Err(Error::store(format!(
            "the OS keyring holds {} entries `{SERVICE}` / `{}`: tokenwarden cannot tell which is the key",
            found.len(),
            self::account(paths)
        ))
        .with_hint("remove the entries that do not hold the key, or set TOKENWARDEN_KEY")),
        Ok(Err(other)) => Ok(Lookup::Unavailable(other.to_string())),
    }
}

/// Creates the store key of `paths` in the keyring (a new store), unless another process just
/// did: returns the key the keyring holds afterwards, read back. `Ok(None)` when the keyring
/// stopped answering.
pub(crate) fn create(paths: &Paths) -> Result<Option<StoreKey>> {
    let _lock = creation_lock(paths)?;
    match lookup(paths)? {
        Lookup::Found(key) => return Ok(Some(key)),
        Lookup::Unavailable(_) => return Ok(None),
        Lookup::Absent => {}
    }
    let key = StoreKey::generate();
    let hex = to_hex(&key);
    let account = account(paths);
    match within(move || ::keyring::Entry::new(SERVICE, &account)?.set_password(&hex)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(Error::store("the OS keyring refused to store the new key").with_source(e));
        }
        Err(_) => return Ok(None),
    }
    match lookup(paths)? {
        Lookup::Found(read) if read.bytes() == key.bytes() => Ok(Some(read)),
        Lookup::Found(_) | Lookup::Absent => Err(Error::store(
            "the OS keyring did not keep the new key: reading it back gave something else",
        )
        .with_hint("set TOKENWARDEN_KEYRING=off to use a key file instead")),
        Lookup::Unavailable(_) => Ok(None),
    }
}

/// Runs a keyring call on a thread of its own and waits at most [`ANSWER_WITHIN`]: a keyring
/// that hangs (a locked collection prompting on a screen nobody sees) counts as no keyring.
fn within<T: Send + 'static>(
    call: impl FnOnce() -> ::keyring::Result<T> + Send + 'static,
) -> std::result::Result<::keyring::Result<T>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tokenwarden-keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread to ask it: {e}"));
    }
    rx.recv_timeout(ANSWER_WITHIN).map_err(|_| {
        format!(
            "it did not answer within {}",
            crate::human::duration(ANSWER_WITHIN)
        )
    })
}

fn creation_lock(paths: &Paths) -> Result<File> {
    let path = paths.lock_dir().join(".keyring.lock");
    let held = poll_until(ANSWER_WITHIN, || {
        let file = open_private_file(&path).map_err(|e| {
            Error::store(format!("cannot open the lock file {}", path.display())).with_source(e)
        })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(Error::store(format!("cannot lock {}", path.display())).with_source(e))
            }
        }
    })?;
    held.ok_or_else(|| {
        Error::store(format!(
            "another process held {} for {} while creating the store key",
            path.display(),
            crate::human::duration(ANSWER_WITHIN)
        ))
        .with_hint("try again")
    })
}

fn to_hex(key: &StoreKey) -> String {
    key.bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let key = StoreKey::generate();
        let back = parse_hex(&to_hex(&key)).unwrap();
        assert_eq!(back.bytes(), key.bytes());
        assert!(parse_hex("abc").is_none());
        assert!(parse_hex(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn accounts_name_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = account(&Paths::in_dir(dir.path().join("a")));
        let b = account(&Paths::in_dir(dir.path().join("b")));
        assert_ne!(a, b);
        assert!(a.starts_with("store key "));
    }
}
