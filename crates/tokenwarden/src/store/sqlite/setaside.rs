//! What happens to a damaged token database: it is set aside as
//! `tokens.db.corrupt-<UTC time>` (never deleted, never silently dropped) and the user is told
//! which file and which profiles.
//!
//! Two cases:
//! - **The file is unreadable** (not a database, empty, a read meets a damaged page, the key
//!   check is missing): it is renamed aside with its `-wal`/`-shm`. The token rows that can still be
//!   read and opened are first copied into a fresh database that replaces it (the `salvage`
//!   module), so only the profiles whose tokens are really lost log in again; with nothing
//!   readable, the next open starts an empty one. Every process that has the old file open
//!   fails on it too, then follows the path to the fresh one.
//! - **A token row does not open** although the key check passes (the file was altered or a
//!   page damaged): the database is copied aside (`VACUUM INTO`, a consistent snapshot, 0600)
//!   and only the damaged rows are removed from the live file, in a transaction that re-checks
//!   their version. Other profiles keep their tokens, and processes that have the file open
//!   carry on.
//!
//! Renaming a file that other processes still have open is safe with SQLite's unix VFS: a
//! connection whose file was moved refuses to write (`SQLITE_READONLY_DBMOVED`) and, when it
//! closes, neither checkpoints nor deletes the `-wal`/`-shm` that now belong to the fresh
//! database (`databaseIsUnmoved` in the pager). The store also checks before every operation
//! that its path still names the file it has open, and reopens when not.
//!
//! Both run under a maintenance lock (`<lock dir>/.store.lock`, a name no profile lock can
//! have), and both re-check what they saw under it: when two processes detect the same damage,
//! the first sets it aside and the second finds the file (identified by device and inode) or
//! the row already gone, so it never sets aside the fresh database the first one started.

use super::row::{self, Damaged};
use super::{create, salvage};
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::store::crypto::Sealer;
use crate::store::guard::poll_until;
use crate::store::perms::{create_private_file, open_private_file, sync_dir};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Identifies a file across renames: (device, inode).
pub(crate) type FileId = (u64, u64);

/// The identity of the file `meta` describes.
pub(crate) fn file_id(meta: &Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// How long to wait for another process's set-aside to finish.
const MAINTENANCE_WAIT: Duration = Duration::from_secs(30);

/// Takes the maintenance lock; released when the returned file is dropped.
pub(crate) fn maintenance_lock(paths: &Paths) -> Result<File> {
    let path = paths.lock_dir().join(".store.lock");
    let attempt = || -> Result<Option<File>> {
        let file = open_private_file(&path).map_err(|e| {
            Error::store(format!("cannot open the lock file {}", path.display())).with_source(e)
        })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(Error::store(format!("cannot lock {}", path.display())).with_source(e))
            }
        }
    };
    poll_until(MAINTENANCE_WAIT, attempt)?.ok_or_else(|| {
        Error::store(format!(
            "waited {} for another process to finish setting aside the damaged token database",
            crate::human::duration(MAINTENANCE_WAIT)
        ))
        .with_hint("try again; if it persists, look for a hung tokenwarden process")
    })
}

/// `YYYYMMDDTHHMMSSZ`.
fn stamp(now: SystemTime) -> String {
    crate::human::timestamp(now)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// A free `tokens.db.corrupt-<stamp>[-N]` name.
fn target_for(db: &Path, now: SystemTime) -> PathBuf {
    let base = with_suffix(db, &format!(".corrupt-{}", stamp(now)));
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() || with_suffix(&candidate, "-wal").exists() {
        n += 1;
        candidate = with_suffix(&base, &format!("-{n}"));
    }
    candidate
}

/// The most recent set-aside copy of `db`, if any.
fn newest_set_aside(db: &Path) -> Option<PathBuf> {
    let dir = db.parent()?;
    let prefix = format!("{}.corrupt-", db.file_name()?.to_str()?);
    fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .max()
        .map(|n| dir.join(n))
}

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::store(format!("{what} {}", path.display())).with_source(e)
}

fn login_hint(target: &Path) -> String {
    format!(
        "log in again (`tokenwarden login`); {} is kept for inspection and can be deleted",
        target.display()
    )
}

/// Sets aside the unreadable database `db`, which was file `seen` when found unreadable, and
/// starts a fresh one with the token rows that could still be read and opened with `sealer`
/// (see the `salvage` module; `kdf`: the encoded Argon2id parameters the fresh one records, for
/// a passphrase-keyed store). `detail` says what is wrong. Returns the error to report.
pub(crate) fn set_aside_file(
    paths: &Paths,
    db: &Path,
    seen: FileId,
    detail: &str,
    sealer: &Sealer,
    kdf: Option<&str>,
    now: SystemTime,
) -> Error {
    match set_aside_file_inner(paths, db, seen, sealer, kdf, now) {
        Ok(Some((target, kept))) if kept.is_empty() => Error::store(format!(
            "the token database {} is damaged ({detail}); it was set aside as {} and a fresh one will be started: every profile must log in again",
            db.display(),
            target.display()
        ))
        .with_hint(login_hint(&target)),
        Ok(Some((target, kept))) => {
            let names: Vec<String> = kept.iter().map(|p| format!("{p:?}")).collect();
            Error::store(format!(
                "the token database {} is damaged ({detail}); it was set aside as {}, and a fresh one was started with the tokens that could still be read (profile {}): only the other profiles must log in again",
                db.display(),
                target.display(),
                names.join(", ")
            ))
            .with_hint(format!(
                "run the command again; a profile not named here logs in again (`tokenwarden login`); {} is kept for inspection and can be deleted",
                target.display()
            ))
        }
        Ok(None) => already_set_aside(db, detail),
        Err(e) => e,
    }
}

fn already_set_aside(db: &Path, detail: &str) -> Error {
    let target = newest_set_aside(db);
    let named = target
        .as_ref()
        .map(|t| format!(" as {}", t.display()))
        .unwrap_or_default();
    let mut e = Error::store(format!(
        "the token database {} was damaged ({detail}) and another process has set it aside{named}: the affected profiles must log in again",
        db.display()
    ));
    if let Some(t) = target {
        e = e.with_hint(login_hint(&t));
    }
    e
}

/// The set-aside file, and the profiles whose tokens the fresh database holds.
type SetAside = (PathBuf, Vec<String>);

fn set_aside_file_inner(
    paths: &Paths,
    db: &Path,
    seen: FileId,
    sealer: &Sealer,
    kdf: Option<&str>,
    now: SystemTime,
) -> Result<Option<SetAside>> {
    let _guard = maintenance_lock(paths)?;
    match fs::metadata(db) {
        Ok(meta) if file_id(&meta) == seen => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot inspect", db, e)),
    }
    let found = salvage::read(db, sealer);
    let prepared = if found.is_empty() {
        None
    } else {
        let built = sealer.key_check().and_then(|check| {
            create::Prepared::build(db, &check, kdf, now, |tx| salvage::fill(tx, &found))
        });
        match built {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a fresh database with the tokens still readable");
                None
            }
        }
    };
    let target = target_for(db, now);
    // The journal files first: once the database is gone, a process starting a fresh one
    // must not find the old `-wal` and apply it.
    for suffix in ["-wal", "-shm", "-journal"] {
        match fs::rename(with_suffix(db, suffix), with_suffix(&target, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("cannot set aside", &with_suffix(db, suffix), e)),
        }
    }
    fs::rename(db, &target).map_err(|e| io_error("cannot set aside", db, e))?;
    if let Some(dir) = db.parent() {
        sync_dir(dir).map_err(|e| io_error("cannot sync", dir, e))?;
    }
    tracing::warn!(path = %target.display(), "damaged token database set aside");
    let kept = match prepared.map(|p| p.link(db)) {
        None => Vec::new(),
        Some(Ok(true)) => found.profiles(),
        // Another process started a fresh database meanwhile: add the rows to it.
        Some(Ok(false)) => match merge(db, &found) {
            Ok(()) => found.profiles(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot add the tokens still readable to the fresh database");
                Vec::new()
            }
        },
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot start a fresh database with the tokens still readable");
            Vec::new()
        }
    };
    Ok(Some((target, kept)))
}

/// Adds the salvaged rows to the fresh database another process started at `db`.
fn merge(db: &Path, found: &salvage::Salvage) -> rusqlite::Result<()> {
    let mut conn = Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(super::connection::BUSY_TIMEOUT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    salvage::fill(&tx, found)?;
    tx.commit()
}

/// Copies the database aside and removes the token rows that do not open (see the module
/// docs). `conn` is an open, healthy connection to `db`. Returns the error to report.
pub(crate) fn set_aside_rows(
    paths: &Paths,
    db: &Path,
    conn: &mut Connection,
    sealer: &Sealer,
    seen: &str,
    now: SystemTime,
) -> Error {
    match set_aside_rows_inner(paths, db, conn, sealer, now) {
        Ok(Some((target, damaged))) => {
            let profiles: Vec<String> =
                damaged.iter().map(|d| format!("{:?}", d.profile)).collect();
            let details: Vec<&str> = damaged.iter().map(|d| d.detail.as_str()).collect();
            Error::store(format!(
                "the stored tokens of profile {} could not be opened ({}): the token database {} was altered or damaged. \
                 A copy was set aside as {} and the damaged tokens were removed: profile {} must log in again",
                profiles.join(", "),
                details.join("; "),
                db.display(),
                target.display(),
                profiles.join(", "),
            ))
            .with_hint(login_hint(&target))
        }
        Ok(None) => already_set_aside(db, seen),
        Err(e) => e,
    }
}

fn set_aside_rows_inner(
    paths: &Paths,
    db: &Path,
    conn: &mut Connection,
    sealer: &Sealer,
    now: SystemTime,
) -> Result<Option<(PathBuf, Vec<Damaged>)>> {
    let sql = |e: rusqlite::Error| {
        Error::store(format!(
            "cannot set aside the damaged token database {}",
            db.display()
        ))
        .with_source(e)
    };
    let _guard = maintenance_lock(paths)?;
    // Rows that do not open with a key the key check no longer accepts are not damaged: the
    // store was re-keyed by another process since this one opened it.
    let check: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    if let Some(check) = check
        && sealer.verify_key_check(&check).is_err()
    {
        return Err(Error::store(format!(
            "the token database {} was re-keyed by another process since this one opened it",
            db.display()
        ))
        .with_hint("run the command again (it opens the store with its new key)"));
    }
    let damaged = row::damaged_rows(conn, sealer).map_err(sql)?;
    if damaged.is_empty() {
        return Ok(None);
    }
    let target = target_for(db, now);
    let target_str = target
        .to_str()
        .ok_or_else(|| Error::store(format!("the path {} is not valid UTF-8", target.display())))?;
    // VACUUM INTO needs a missing or empty file: create it empty, private.
    drop(create_private_file(&target).map_err(|e| io_error("cannot create", &target, e))?);
    conn.execute("VACUUM INTO ?1", [target_str]).map_err(sql)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    for (d, version) in &damaged {
        tx.execute(
            "DELETE FROM tokens WHERE profile = ?1 AND version = ?2",
            params![d.profile, version],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    tracing::warn!(path = %target.display(), rows = damaged.len(), "damaged token rows set aside");
    Ok(Some((
        target,
        damaged.into_iter().map(|(d, _)| d).collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_names() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(stamp(t), "20231114T221320Z");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokens.db");
        let first = target_for(&db, t);
        assert_eq!(
            first.file_name().unwrap(),
            "tokens.db.corrupt-20231114T221320Z"
        );
        fs::write(&first, b"x").unwrap();
        let second = target_for(&db, t);
        assert_eq!(
            second.file_name().unwrap(),
            "tokens.db.corrupt-20231114T221320Z-2"
        );
        fs::write(&second, b"x").unwrap();
        fs::write(with_suffix(&second, "-wal"), b"x").unwrap();
        assert_eq!(newest_set_aside(&db), Some(second));
    }

    #[test]
    fn the_loser_of_a_race_does_not_set_aside_the_fresh_database() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        crate::store::perms::ensure_private_dir(&paths.lock_dir(), "the lock directory").unwrap();
        let db = paths.database();
        fs::write(&db, b"garbage").unwrap();
        fs::write(with_suffix(&db, "-wal"), b"old wal").unwrap();
        let seen = file_id(&fs::metadata(&db).unwrap());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // Two processes found the same damaged file; the first sets it aside...
        let sealer = Sealer::new(&crate::store::StoreKey::from_bytes([1; 32]));
        let first = set_aside_file(&paths, &db, seen, "not a database", &sealer, None, now);
        let target = dir.path().join("tokens.db.corrupt-20231114T221320Z");
        assert!(
            first.message().contains(&target.display().to_string()),
            "{}",
            first.message()
        );
        assert_eq!(fs::read(&target).unwrap(), b"garbage");
        assert_eq!(fs::read(with_suffix(&target, "-wal")).unwrap(), b"old wal");
        assert!(!with_suffix(&db, "-wal").exists());
        // ...and starts a fresh one, which the second must leave alone.
        fs::write(&db, b"fresh").unwrap();
        let second = set_aside_file(&paths, &db, seen, "not a database", &sealer, None, now);
        assert!(
            second.message().contains("another process"),
            "{}",
            second.message()
        );
        assert!(second.message().contains(&target.display().to_string()));
        assert_eq!(fs::read(&db).unwrap(), b"fresh");
        assert_eq!(newest_set_aside(&db), Some(target));
    }
}
