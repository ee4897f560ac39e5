//! Recovery files: a refresh's new tokens that the database would not take (another process
//! held it too long), kept sealed next to it until the next read of the profile stores them.
//!
//! - One file per profile, `<data dir>/recovery/<profile>.json` (a name made file-safe), mode
//!   0600 in a 0700 directory, written to a temporary name, synced, then renamed into place: a
//!   reader sees the whole file or none.
//! - The token values are sealed as the database seals them, with the same key, and bound to
//!   the profile, the version they replace and the token's other fields (associated data
//!   under column names of their own: a blob cannot be moved between a row and a file).
//! - The file names the version the tokens replace. The store's read writes them with
//!   compare-and-swap on that version before it reads ([`super::SqliteStore`]); when the
//!   stored version has moved on (a login or a logout came first), the file is stale and goes.
//! - A file is removed only if it is still the one that was read (device and inode): a newer
//!   file for the same profile, written meanwhile by a later failed write, is never removed by
//!   the reader of an older one.
//! - A file that does not open (another key, damage) is set aside as
//!   `<name>.unreadable-<time>` and named in the error; nothing is deleted.

use super::setaside::{FileId, file_id};
use crate::error::{Error, Result};
use crate::paths::{Paths, safe_join};
use crate::secret::{AccessToken, IdToken, RefreshToken};
use crate::store::Version;
use crate::store::crypto::{OpenError, Sealer, token_aad};
use crate::store::perms::{create_private_file, ensure_private_dir, sync_dir};
use crate::token::{TokenSet, from_unix_millis, to_unix_millis};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const FORMAT: u32 = 1;

/// The file as written.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    format: u32,
    profile: String,
    expected_version: i64,
    kept_at_ms: i64,
    token_type: String,
    expires_at_ms: Option<i64>,
    scopes: Vec<String>,
    obtained_at_ms: i64,
    refresh_token_obtained_at_ms: Option<i64>,
    /// When the refresh token expires (absent in files written before it was known).
    #[serde(default)]
    refresh_token_expires_at_ms: Option<i64>,
    subject: Option<String>,
    issuer: Option<String>,
    /// Base64 of the sealed values.
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// Tokens found in a recovery file.
pub(crate) struct Kept {
    /// The file.
    pub(crate) path: PathBuf,
    file: FileId,
    /// The version the tokens replace.
    pub(crate) expected: Version,
    /// The tokens.
    pub(crate) tokens: TokenSet,
}

/// The local store's recovery directory under `paths` (the fleet store keeps its own).
pub(crate) fn dir(paths: &Paths) -> PathBuf {
    paths.data_dir.join("recovery")
}

/// The recovery file of `profile` in the recovery directory `dir`.
pub(crate) fn path(dir: &Path, profile: &str) -> PathBuf {
    safe_join(dir, profile, ".json")
}

fn column(name: &str) -> String {
    format!("recovery:{name}")
}

/// The non-secret fields of `tokens` as stored (times to the millisecond), with no secrets.
fn meta(r: &Record) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(String::new()),
        token_type: r.token_type.clone(),
        refresh_token: None,
        id_token: None,
        expires_at: r.expires_at_ms.map(from_unix_millis),
        scopes: r.scopes.clone(),
        obtained_at: from_unix_millis(r.obtained_at_ms),
        refresh_token_obtained_at: r.refresh_token_obtained_at_ms.map(from_unix_millis),
        refresh_token_expires_at: r.refresh_token_expires_at_ms.map(from_unix_millis),
        subject: r.subject.clone(),
        issuer: r.issuer.clone(),
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::store(format!("{what} {}", path.display())).with_source(e)
}

/// Seals `tokens` (replacing version `expected` of `profile`) into the profile's recovery
/// file in `dir`, durably. Returns the file.
pub(crate) fn keep(
    dir: &Path,
    sealer: &Sealer,
    profile: &str,
    expected: Version,
    tokens: &TokenSet,
    now: SystemTime,
) -> Result<PathBuf> {
    ensure_private_dir(dir, "the recovery directory")?;
    let mut record = Record {
        format: FORMAT,
        profile: profile.to_string(),
        expected_version: expected.get(),
        kept_at_ms: to_unix_millis(now),
        token_type: tokens.token_type.clone(),
        expires_at_ms: tokens.expires_at.map(to_unix_millis),
        scopes: tokens.scopes.clone(),
        obtained_at_ms: to_unix_millis(tokens.obtained_at),
        refresh_token_obtained_at_ms: tokens.refresh_token_obtained_at.map(to_unix_millis),
        refresh_token_expires_at_ms: tokens.refresh_token_expires_at.map(to_unix_millis),
        subject: tokens.subject.clone(),
        issuer: tokens.issuer.clone(),
        access_token: String::new(),
        refresh_token: None,
        id_token: None,
    };
    let m = meta(&record);
    let seal = |name: &str, value: &str| -> Result<String> {
        let aad = token_aad(profile, &column(name), expected.get(), &m);
        Ok(STANDARD.encode(sealer.seal(value.as_bytes(), &aad)?))
    };
    record.access_token = seal("access_token", tokens.access_token.expose())?;
    record.refresh_token = match &tokens.refresh_token {
        Some(t) => Some(seal("refresh_token", t.expose())?),
        None => None,
    };
    record.id_token = match &tokens.id_token {
        Some(t) => Some(seal("id_token", t.expose())?),
        None => None,
    };
    let bytes = serde_json::to_vec(&record)
        .map_err(|e| Error::store("cannot encode a recovery file").with_source(e))?;
    let target = path(dir, profile);
    let nonce: u64 = rand::random();
    let tmp = dir.join(format!(".tmp-{}-{nonce:016x}", std::process::id()));
    let written = (|| {
        let mut f = create_private_file(&tmp).map_err(|e| io_error("cannot create", &tmp, e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| io_error("cannot write", &tmp, e))?;
        fs::rename(&tmp, &target).map_err(|e| io_error("cannot move into place", &target, e))?;
        sync_dir(dir).map_err(|e| io_error("cannot sync", dir, e))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| target)
}

/// The tokens kept for `profile`, if a recovery file exists in `dir`. A file that does not
/// open is set aside and named in the error.
pub(crate) fn load(
    dir: &Path,
    sealer: &Sealer,
    profile: &str,
    now: SystemTime,
) -> Result<Option<Kept>> {
    let path = path(dir, profile);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot read the recovery file", &path, e)),
    };
    let file = match fs::metadata(&path) {
        Ok(m) => file_id(&m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot inspect the recovery file", &path, e)),
    };
    match open(&bytes, sealer, profile) {
        Ok((expected, tokens)) => Ok(Some(Kept {
            path,
            file,
            expected,
            tokens,
        })),
        Err(detail) => Err(unreadable(&path, profile, &detail, now)),
    }
}

fn open(
    bytes: &[u8],
    sealer: &Sealer,
    profile: &str,
) -> std::result::Result<(Version, TokenSet), String> {
    let r: Record =
        serde_json::from_slice(bytes).map_err(|_| "it is not a recovery file".to_string())?;
    if r.format != FORMAT {
        return Err(format!("its format {} is unknown to this build", r.format));
    }
    if r.profile != profile {
        return Err(format!("it is about profile {:?}", r.profile));
    }
    let mut tokens = meta(&r);
    let unseal = |name: &str, blob: &str| -> std::result::Result<String, String> {
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| format!("its {name} is not base64"))?;
        let aad = token_aad(profile, &column(name), r.expected_version, &tokens);
        match sealer.open(&blob, &aad) {
            Ok(plain) => String::from_utf8(plain).map_err(|_| format!("its {name} is not text")),
            Err(OpenError::Malformed) => Err(format!("its sealed {name} is malformed")),
            Err(OpenError::Authentication) => Err(format!(
                "its sealed {name} failed authentication (another key, or an altered file)"
            )),
        }
    };
    let access = unseal("access_token", &r.access_token)?;
    let refresh = r
        .refresh_token
        .as_deref()
        .map(|b| unseal("refresh_token", b))
        .transpose()?;
    let id = r
        .id_token
        .as_deref()
        .map(|b| unseal("id_token", b))
        .transpose()?;
    tokens.access_token = AccessToken::new(access);
    tokens.refresh_token = refresh.map(RefreshToken::new);
    tokens.id_token = id.map(IdToken::new);
    Ok((Version::from_raw(r.expected_version), tokens))
}

/// Sets the unreadable recovery file `path` aside; the error to report.
fn unreadable(path: &Path, profile: &str, detail: &str, now: SystemTime) -> Error {
    let stamp: String = crate::human::timestamp(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut aside = path.as_os_str().to_os_string();
    aside.push(format!(".unreadable-{stamp}"));
    let aside = PathBuf::from(aside);
    match fs::rename(path, &aside) {
        Ok(()) => Error::store(format!(
            "the refreshed tokens of profile `{profile}` kept in {} could not be opened ({detail}); the file was set aside as {}",
            path.display(),
            aside.display()
        ))
        .with_hint(format!(
            "if the next refresh of `{profile}` fails with invalid_grant, log in again (`tokenwarden --profile {profile} login`); {} can be deleted",
            aside.display()
        )),
        Err(e) => io_error("cannot set aside the unreadable recovery file", path, e),
    }
}

/// Removes the recovery file of `kept` if it is still the one that was read.
pub(crate) fn remove(kept: &Kept) {
    let same = fs::metadata(&kept.path).is_ok_and(|m| file_id(&m) == kept.file);
    if !same {
        return;
    }
    match fs::remove_file(&kept.path) {
        Ok(()) => {
            if let Some(dir) = kept.path.parent() {
                let _ = sync_dir(dir);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %kept.path.display(), error = %e, "cannot remove a recovery file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_at(path: &Path) -> Kept {
        Kept {
            path: path.to_path_buf(),
            file: file_id(&fs::metadata(path).unwrap()),
            expected: Version::NONE,
            tokens: TokenSet {
                access_token: AccessToken::new("a"),
                token_type: "Bearer".into(),
                refresh_token: None,
                id_token: None,
                expires_at: None,
                scopes: Vec::new(),
                obtained_at: SystemTime::UNIX_EPOCH,
                refresh_token_obtained_at: None,
                refresh_token_expires_at: None,
                subject: None,
                issuer: None,
            },
        }
    }

    #[test]
    fn only_the_file_that_was_read_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        fs::write(&path, b"older").unwrap();
        let older = kept_at(&path);
        // A later failed write keeps newer tokens (a new file renamed into place)...
        let tmp = dir.path().join(".tmp");
        fs::write(&tmp, b"newer").unwrap();
        fs::rename(&tmp, &path).unwrap();
        // ...which the reader of the older one must leave alone.
        remove(&older);
        assert_eq!(fs::read(&path).unwrap(), b"newer");
        remove(&kept_at(&path));
        assert!(!path.exists());
    }
}
