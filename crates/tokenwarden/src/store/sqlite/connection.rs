//! The SQLite store's connection: opening (creating the file 0600, WAL, `synchronous=FULL`,
//! the quick check, migrations, the key check), mapping SQLite's errors to Store errors, and
//! running each operation on a connection to the file the path names now — reopening when
//! another process set the file aside, setting it aside when it is damaged.

use super::SqliteStore;
use super::create;
use super::row::OpError;
use super::schema::{self, MigrateError};
use super::setaside::{self, FileId, file_id};
use crate::error::{Cause, Error, Result};
use crate::store::crypto::OpenError;
use crate::store::guard::poll_until;
use crate::store::perms::check_private_file;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::PoisonError;
use std::time::Duration;

/// How long a statement waits for another process's write transaction.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection and the file it has open.
pub(super) struct Handle {
    conn: Connection,
    file: FileId,
}

/// Why connecting failed.
enum ConnectError {
    /// The file is unreadable as a token database: set it aside.
    Unreadable { file: FileId, detail: String },
    /// The file at the path changed while it was being opened (another process set it aside
    /// or started a fresh one): try again.
    Replaced,
    /// Anything else, explained.
    Other(Error),
}

/// How many times opening is tried when the file keeps being replaced under it.
const OPEN_ATTEMPTS: usize = 10;

impl From<Error> for ConnectError {
    fn from(e: Error) -> Self {
        ConnectError::Other(e)
    }
}

impl SqliteStore {
    /// The Argon2id parameters a fresh database records (a passphrase-keyed store), encoded.
    fn kdf_encoded(&self) -> Option<String> {
        self.kdf.as_ref().map(|k| k.encode())
    }

    pub(super) fn connect_or_set_aside(&self) -> Result<Handle> {
        for _ in 0..OPEN_ATTEMPTS {
            match self.connect() {
                Ok(h) => return Ok(h),
                Err(ConnectError::Replaced) => continue,
                Err(ConnectError::Other(e)) => return Err(e),
                Err(ConnectError::Unreadable { file, detail }) => {
                    return Err(setaside::set_aside_file(
                        &self.paths,
                        &self.db,
                        file,
                        &detail,
                        &self.sealer,
                        self.kdf_encoded().as_deref(),
                        self.now(),
                    ));
                }
            }
        }
        Err(Error::store(format!(
            "the token database {} kept being replaced while it was opened ({OPEN_ATTEMPTS} tries)",
            self.db.display()
        ))
        .with_hint("another process is setting it aside or recreating it; try again"))
    }

    fn connect(&self) -> std::result::Result<Handle, ConnectError> {
        let db = &self.db;
        // A fresh database is built aside and linked into place (0600), so the path never
        // names an empty or half-made one: a 0-byte file here is damage.
        if let create::Found::Nothing = create::inspect(db)? {
            create::create_fresh(
                db,
                &self.sealer.key_check()?,
                self.kdf_encoded().as_deref(),
                self.now(),
            )?;
        }
        check_private_file(db, "the token database")?;
        let before = match fs::metadata(db) {
            Ok(m) if m.len() == 0 => {
                return Err(ConnectError::Unreadable {
                    file: file_id(&m),
                    detail: "it is empty (0 bytes): truncated, or replaced by an empty file"
                        .to_string(),
                });
            }
            Ok(m) => Some(file_id(&m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ConnectError::Replaced),
            Err(e) => {
                return Err(Error::store(format!(
                    "cannot inspect the token database {}",
                    db.display()
                ))
                .with_source(e)
                .into());
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = match Connection::open_with_flags(db, flags) {
            Ok(conn) => conn,
            Err(_) if self.current_file()?.is_none() => return Err(ConnectError::Replaced),
            Err(e) => return Err(self.sql_error(e).into()),
        };
        let file = match (before, self.current_file()?) {
            (Some(a), Some(b)) if a == b => a,
            _ => return Err(ConnectError::Replaced),
        };
        let unreadable = |detail: String| ConnectError::Unreadable { file, detail };
        let classify = |e: rusqlite::Error| match corruption(&e) {
            Some(detail) => unreadable(detail),
            None if moved(&e) => ConnectError::Replaced,
            None => ConnectError::Other(self.sql_error(e)),
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(classify)?;
        let mode = enable_wal(&conn).map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::store(format!(
                "the token database {} cannot use WAL journaling (got {mode})",
                db.display()
            ))
            .with_hint(
                "keep the data directory on a local file system, or set TOKENWARDEN_HOME to one",
            )
            .into());
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(classify)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(classify)?;
        // No integrity scan here: it reads the whole file on every open, so a `token` grew
        // slower with the event log. Damage is found by the read that meets it (SQLite answers
        // SQLITE_CORRUPT or SQLITE_NOTADB, mapped by `corruption`), and by `doctor`'s
        // `PRAGMA integrity_check`.
        let key_check = self.sealer.key_check()?;
        let kdf = self.kdf.as_ref().map(|k| k.encode());
        match schema::migrate(&mut conn, |tx| {
            schema::init_meta(tx, &key_check, kdf.as_deref(), self.now())
        }) {
            Ok(()) => {}
            Err(MigrateError::Newer(found)) => return Err(schema::newer_error(db, found).into()),
            Err(MigrateError::Sql(e)) => return Err(classify(e)),
        }
        let stored: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(classify)?;
        match stored.map(|blob| self.sealer.verify_key_check(&blob)) {
            None => return Err(unreadable("its key check is missing".to_string())),
            Some(Err(OpenError::Malformed)) => {
                return Err(unreadable("its key check is malformed".to_string()));
            }
            Some(Err(OpenError::Authentication)) => return Err(self.wrong_key().into()),
            Some(Ok(())) => {}
        }
        for suffix in ["-wal", "-shm"] {
            let mut path = db.as_os_str().to_os_string();
            path.push(suffix);
            check_private_file(Path::new(&path), "the token database journal")?;
        }
        Ok(Handle { conn, file })
    }

    fn wrong_key(&self) -> Error {
        Error::store(format!(
            "the token database {} was sealed with a different key than {}",
            self.db.display(),
            self.key_origin
        ))
        .with_hint(format!(
            "TOKENWARDEN_KEY changed or the key file was replaced: restore the key used before. \
             To start over instead (every profile logs in again), move {} away",
            self.db.display()
        ))
    }

    /// The identity of the file at the database path now; `None` when there is none.
    fn current_file(&self) -> Result<Option<FileId>> {
        match fs::metadata(&self.db) {
            Ok(m) => Ok(Some(file_id(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::store(format!(
                "cannot inspect the token database {}",
                self.db.display()
            ))
            .with_source(e)),
        }
    }

    pub(super) fn sql_error(&self, e: rusqlite::Error) -> Error {
        let db = self.db.display();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::store(format!(
                "the token database {db} is locked by another process (waited up to {})",
                crate::human::duration(BUSY_TIMEOUT)
            ))
            .with_hint(format!(
                "try again; if it persists, look for a hung process using it (`fuser -v {db}`)"
            ))
            .with_cause(Cause::StoreBusy)
            .with_source(e),
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
                Error::store(format!("cannot write the token database {db}"))
                    .with_hint(
                        "check that the data directory and the database are yours and writable",
                    )
                    .with_source(e)
            }
            Some(ErrorCode::DiskFull) => {
                Error::store(format!("the disk holding the token database {db} is full"))
                    .with_source(e)
            }
            _ => Error::store(format!("the token database {db} failed")).with_source(e),
        }
    }

    /// Runs `op` on a connection to the current database file, handling damage.
    pub(super) fn run<T>(
        &self,
        mut op: impl FnMut(&mut Connection) -> std::result::Result<T, OpError>,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut retried = false;
        loop {
            let current = self.current_file()?;
            if guard.as_ref().map(|h| h.file) != current || current.is_none() {
                *guard = None;
                *guard = Some(self.connect_or_set_aside()?);
            }
            let Some(handle) = guard.as_mut() else {
                return Err(Error::store("the token database is not open"));
            };
            return match op(&mut handle.conn) {
                Ok(v) => Ok(v),
                Err(OpError::Store(e)) => Err(e),
                // The file was moved away between the check above and the write (SQLite refuses
                // to write to a moved file): nothing was written; once more on the new file.
                Err(OpError::Sql(e)) if !retried && moved(&e) => {
                    retried = true;
                    *guard = None;
                    continue;
                }
                Err(OpError::Sql(e)) => match corruption(&e) {
                    None => Err(self.sql_error(e)),
                    Some(detail) => {
                        let file = handle.file;
                        // Close our connection before the file is set aside.
                        *guard = None;
                        Err(setaside::set_aside_file(
                            &self.paths,
                            &self.db,
                            file,
                            &detail,
                            &self.sealer,
                            self.kdf_encoded().as_deref(),
                            self.now(),
                        ))
                    }
                },
                Err(OpError::Damaged(damaged)) => Err(setaside::set_aside_rows(
                    &self.paths,
                    &self.db,
                    &mut handle.conn,
                    &self.sealer,
                    &damaged.detail,
                    self.now(),
                )),
            };
        }
    }
}

/// Switches the database to WAL (a persistent setting: only the first open of a new file
/// changes it). The switch needs every other connection to stand still, and SQLite answers
/// `SQLITE_BUSY` at once instead of calling the busy handler, so this polls up to
/// [`BUSY_TIMEOUT`]. Returns the journal mode in force.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let mut last_busy = None;
    let found = poll_until(BUSY_TIMEOUT, || {
        let current: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if current.eq_ignore_ascii_case("wal") {
            return Ok(Some(current));
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) => Ok(Some(mode)),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                last_busy = Some(e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    });
    match found {
        Ok(Some(mode)) => Ok(mode),
        Ok(None) => Err(last_busy.unwrap_or(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ))),
        Err(e) => Err(e),
    }
}

/// True when SQLite refused a write because the file was moved or deleted since it was opened
/// (`SQLITE_READONLY_DBMOVED`).
fn moved(e: &rusqlite::Error) -> bool {
    e.sqlite_error()
        .is_some_and(|f| f.extended_code == rusqlite::ffi::SQLITE_READONLY_DBMOVED)
}

/// What is wrong when `e` says the file is damaged or not a database.
fn corruption(e: &rusqlite::Error) -> Option<String> {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Some("the file is not a database".to_string()),
        Some(ErrorCode::DatabaseCorrupt) => Some(format!("SQLite reports it corrupt: {e}")),
        _ => None,
    }
}
