//! The fleet key and this machine's name: what a machine brings to the fleet store besides
//! its URL.

use crate::error::{Error, Result};
use crate::store::crypto::StoreKey;
use crate::store::keys::{KEY_ENV, KeyMaterial, parse_value};
use std::path::Path;

/// The fleet key: `TOKENWARDEN_KEY` when set, else the key file. The file holds the 32 raw
/// bytes, or the same text forms as `TOKENWARDEN_KEY` (64 hex digits, base64 of 32 bytes); it
/// must not be readable by others. Returns the key and where it came from (for messages).
///
/// A passphrase is refused here: the local store stretches one with Argon2id and a salt kept
/// in its own file, but a fleet key must give every machine the same key before anything is
/// read from the database, and the fleet is better served by a random key the operator
/// distributes (`openssl rand -hex 32`).
pub fn fleet_key(key_file: Option<&Path>) -> Result<(StoreKey, String)> {
    if let Some(value) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
        let value = value.into_string().map_err(|_| {
            Error::config(format!("{KEY_ENV} is not valid UTF-8")).with_hint(format!(
                "set {KEY_ENV} to 64 hex digits, base64, or a text passphrase"
            ))
        })?;
        return Ok((raw_key(&value, KEY_ENV)?, KEY_ENV.to_string()));
    }
    let Some(path) = key_file else {
        return Err(Error::store(
            "the fleet store needs the fleet key, and none is given: TOKENWARDEN_KEY is not set and `[store] key_file` names no file",
        )
        .with_hint(
            "every machine sharing the store must use the same key: generate one once (`openssl rand -hex 32`), then set TOKENWARDEN_KEY to it, or put it in a 0600 file that `[store] key_file` names, on each machine",
        ));
    };
    if !crate::store::perms::check_private_file(path, "the fleet key file")? {
        return Err(Error::store(format!(
            "the fleet key file {} does not exist",
            path.display()
        ))
        .with_hint(
            "copy the fleet key file from another machine of the fleet, or fix `[store] key_file`",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Error::store(format!("cannot read the fleet key file {}", path.display())).with_source(e)
    })?;
    let key = match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(raw) => StoreKey::from_bytes(raw),
        Err(_) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::store(format!(
                    "the fleet key file {} holds neither 32 raw bytes nor a text key",
                    path.display()
                ))
            })?;
            raw_key(
                text.trim(),
                &format!("the fleet key file {}", path.display()),
            )?
        }
    };
    Ok((key, format!("the key file {}", path.display())))
}

/// The 256-bit key `value` (from `origin`) spells; a passphrase or an empty value is refused.
fn raw_key(value: &str, origin: &str) -> Result<StoreKey> {
    match parse_value(value) {
        Ok(KeyMaterial::Raw(key)) => Ok(key),
        Ok(KeyMaterial::Passphrase(_)) => Err(Error::store(format!(
            "the fleet key in {origin} is not a 256-bit key (64 hex digits, or base64 of 32 bytes): the fleet store takes no passphrase"
        ))
        .with_hint(
            "generate one key for the fleet once (`openssl rand -hex 32`) and give the same one to every machine sharing the store",
        )),
        Err(e) => Err(e),
    }
}

/// This machine's name, as events record it.
pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
