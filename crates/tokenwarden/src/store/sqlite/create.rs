//! What the database path names before a connection opens it, and how a fresh database comes
//! to be there.
//!
//! - **A fresh database is built aside and linked into place.** It is created (0600) under a
//!   temporary name next to the database, given WAL journaling, its schema and key check,
//!   closed (which checkpoints it), synced, and then hard-linked to the database path, which
//!   fails if another process got there first (then that one is used). So the path never names
//!   an empty or half-made database: **a 0-byte `tokens.db` is always damage** (a truncation,
//!   an editor, a full disk), set aside like any other, never read as "not logged in".
//! - **The path is inspected first** ([`inspect`]): a symbolic link is followed, but a dangling
//!   one is named as such (its target, and what to do), not retried as a file that keeps being
//!   replaced; a directory or other non-file is named too.

use super::schema;
use crate::error::{Error, Result};
use crate::store::perms::{create_private_file, sync_dir};
use rusqlite::{Connection, OpenFlags};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the database path names.
#[derive(Debug)]
pub(super) enum Found {
    /// Nothing: a fresh database is to be created.
    Nothing,
    /// A file (directly or through a symbolic link) of this many bytes.
    File(u64),
}

/// Looks at the database path `db`: nothing, a file (its length), or an error naming what is
/// wrong (a dangling symbolic link, a directory).
pub(super) fn inspect(db: &Path) -> Result<Found> {
    let link = match fs::symlink_metadata(db) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(inspect_error(db, e)),
    };
    let meta = if link.file_type().is_symlink() {
        match fs::metadata(db) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(dangling(db)),
            Err(e) => return Err(inspect_error(db, e)),
        }
    } else {
        link
    };
    if !meta.is_file() {
        return Err(Error::store(format!(
            "the token database path {} is not a file (it is a {})",
            db.display(),
            if meta.is_dir() {
                "directory"
            } else {
                "special file"
            }
        ))
        .with_hint(format!(
            "move it away (`mv {0} {0}.away`); tokenwarden then starts a fresh database (every profile logs in again)",
            db.display()
        )));
    }
    Ok(Found::File(meta.len()))
}

fn inspect_error(db: &Path, e: io::Error) -> Error {
    Error::store(format!(
        "cannot inspect the token database {}",
        db.display()
    ))
    .with_source(e)
}

/// The error for a database path that is a symbolic link to nothing.
fn dangling(db: &Path) -> Error {
    let target = fs::read_link(db)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "an unreadable target".to_string());
    Error::store(format!(
        "the token database {} is a symbolic link to {target}, which does not exist",
        db.display()
    ))
    .with_hint(format!(
        "restore {target} (a file system that is not mounted?), or remove the link (`rm {}`) to start a fresh database (every profile then logs in again)",
        db.display()
    ))
}

/// A temporary name next to `db`, unique to this process and call.
fn temporary(db: &Path) -> PathBuf {
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tokens.db".to_string());
    let nonce: u64 = rand::random();
    db.with_file_name(format!(".{name}.new-{}-{nonce:016x}", std::process::id()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates a fresh database at `db` unless one appeared meanwhile (see the module docs): the
/// schema of this build, the key check `key_check` (and the encoded Argon2id parameters `kdf`
/// of a passphrase-keyed store), WAL journaling.
pub(super) fn create_fresh(
    db: &Path,
    key_check: &[u8],
    kdf: Option<&str>,
    now: SystemTime,
) -> Result<()> {
    let prepared = Prepared::build(db, key_check, kdf, now, |_| Ok(()))?;
    prepared.link(db).map(|_| ())
}

/// A fresh database finished under a temporary name, not yet linked into place. Dropping it
/// removes the temporary file.
pub(super) struct Prepared {
    tmp: PathBuf,
}

impl Prepared {
    /// Builds a fresh database for `db` under a temporary name; `fill` runs in a transaction
    /// once the schema is current.
    pub(super) fn build(
        db: &Path,
        key_check: &[u8],
        kdf: Option<&str>,
        now: SystemTime,
        fill: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<Prepared> {
        let prepared = Prepared { tmp: temporary(db) };
        build(&prepared.tmp, key_check, kdf, now, fill)?;
        Ok(prepared)
    }

    /// Links it to `db`: true when it is now the database, false when one was there already
    /// (another process created it first).
    pub(super) fn link(self, db: &Path) -> Result<bool> {
        link(&self.tmp, db)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for path in [
            self.tmp.clone(),
            with_suffix(&self.tmp, "-wal"),
            with_suffix(&self.tmp, "-shm"),
        ] {
            let _ = fs::remove_file(path);
        }
    }
}

fn build(
    tmp: &Path,
    key_check: &[u8],
    kdf: Option<&str>,
    now: SystemTime,
    fill: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
) -> Result<()> {
    let failed = |e: rusqlite::Error| {
        Error::store(format!(
            "cannot create the token database {}",
            tmp.display()
        ))
        .with_source(e)
    };
    drop(
        create_private_file(tmp)
            .map_err(|e| Error::store(format!("cannot create {}", tmp.display())).with_source(e))?,
    );
    {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(tmp, flags).map_err(failed)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(failed)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::store(format!(
                "the token database {} cannot use WAL journaling (got {mode})",
                tmp.display()
            ))
            .with_hint(
                "keep the data directory on a local file system, or set TOKENWARDEN_HOME to one",
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(failed)?;
        match schema::migrate(&mut conn, |tx| schema::init_meta(tx, key_check, kdf, now)) {
            Ok(()) => {}
            Err(schema::MigrateError::Sql(e)) => return Err(failed(e)),
            Err(schema::MigrateError::Newer(found)) => return Err(schema::newer_error(tmp, found)),
        }
        // At the current schema, before anyone can see the file.
        let tx = conn.transaction().map_err(failed)?;
        fill(&tx).map_err(failed)?;
        tx.commit().map_err(failed)?;
        // Closing the only connection checkpoints the WAL into the file.
    }
    fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::store(format!("cannot sync {}", tmp.display())).with_source(e))
}

/// Links the finished `tmp` to `db`, unless `db` exists (another process created it first):
/// true when linked.
fn link(tmp: &Path, db: &Path) -> Result<bool> {
    match fs::hard_link(tmp, db) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => {
            return Err(
                Error::store(format!("cannot create the token database {}", db.display()))
                    .with_source(e),
            );
        }
    }
    if let Some(dir) = db.parent() {
        sync_dir(dir)
            .map_err(|e| Error::store(format!("cannot sync {}", dir.display())).with_source(e))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_for_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokens.db");
        assert!(matches!(inspect(&db).unwrap(), Found::Nothing));
        fs::write(&db, b"").unwrap();
        assert!(matches!(inspect(&db).unwrap(), Found::File(0)));
        fs::remove_file(&db).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.db"), &db).unwrap();
        let e = inspect(&db).unwrap_err();
        assert!(e.message().contains("symbolic link"), "{}", e.message());
        assert!(e.message().contains("gone.db"), "{}", e.message());
        assert!(e.hint().unwrap().contains("rm "), "{:?}", e.hint());
        fs::write(dir.path().join("gone.db"), b"x").unwrap();
        assert!(matches!(inspect(&db).unwrap(), Found::File(1)));
        fs::remove_file(&db).unwrap();
        fs::create_dir(&db).unwrap();
        let e = inspect(&db).unwrap_err();
        assert!(e.message().contains("directory"), "{}", e.message());
    }

    #[test]
    fn a_fresh_database_appears_whole_and_a_second_creator_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokens.db");
        let now = SystemTime::UNIX_EPOCH;
        create_fresh(&db, b"check-1", None, now).unwrap();
        let len = fs::metadata(&db).unwrap().len();
        assert!(len > 0);
        create_fresh(&db, b"check-2", None, now).unwrap();
        let conn = Connection::open(&db).unwrap();
        let check: Vec<u8> = conn
            .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(check, b"check-1");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Nothing is left behind under a temporary name.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
