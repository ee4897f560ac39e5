//! [`SqliteStore`]: the default [`Store`], one SQLite file shared by every process of the user.
//!
//! - WAL journal, `synchronous=FULL` (a write is on disk when it returns), `busy_timeout` 5 s,
//!   `secure_delete`. Every write is one short transaction; compare-and-swap writes use
//!   `BEGIN IMMEDIATE`, so the version check and the write are atomic across processes.
//! - Token secrets are sealed ([`super::crypto`]); a key check in `meta` tells a wrong key
//!   (reported, file untouched) from damage (set aside: see the `setaside` module).
//! - The data directory is 0700, the database, its `-wal`/`-shm` and the key file 0600; the
//!   database file is created by us (0600) before SQLite opens it, and SQLite gives its journal
//!   files the database's mode. Looser modes are refused with the `chmod` that fixes them.
//! - Before each operation the path is checked to still name the file the connection has open
//!   (device and inode); when it was set aside or removed by another process, the connection is
//!   reopened, so a long-lived process never writes into a set-aside file.

use super::crypto::{self, KeySource, OpenError, Sealer};
use super::lock::{self, ProfileLock};
use super::perms::{check_private_file, create_private_file, ensure_private_dir};
use super::row::{self, Found, OpError};
use super::schema::{self, MigrateError};
use super::setaside::{self, FileId, file_id};
use super::{
    BreakerBackend, BreakerRecord, CasOutcome, Event, Retention, Store, StoredTokens, TokenState,
    Version, truncate_breaker,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{Cause, Error, Result};
use crate::paths::Paths;
use crate::token::{TokenSet, to_unix_millis};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension as _, TransactionBehavior, params,
};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// How long a statement waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The token store in `<data dir>/tokens.db`.
pub struct SqliteStore {
    paths: Paths,
    db: PathBuf,
    sealer: Sealer,
    key_origin: String,
    conn: Mutex<Option<Handle>>,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

struct Handle {
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

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("db", &self.db)
            .field("key", &self.key_origin)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the token database of `paths`, with the key from `key`.
    ///
    /// Fails with a Store error when: a directory or file is open to other users (the hint is
    /// the `chmod`), the key is not the one the database was sealed with, the database is from
    /// a newer tokenwarden, or the database is damaged (it is then set aside and the error
    /// names where; the next open starts a fresh one).
    pub fn open(paths: &Paths, key: KeySource) -> Result<SqliteStore> {
        ensure_private_dir(&paths.data_dir, "the data directory")?;
        ensure_private_dir(&paths.lock_dir(), "the lock directory")?;
        let db = paths.database();
        let exists = fs::metadata(&db).map(|m| m.len() > 0).unwrap_or(false);
        let resolved = crypto::resolve(key, paths, !exists)?;
        let store = SqliteStore {
            paths: paths.clone(),
            db,
            sealer: Sealer::new(&resolved.key),
            key_origin: resolved.origin,
            conn: Mutex::new(None),
            clock: Arc::new(SystemClock),
            retention: Retention::default(),
        };
        drop(resolved.key);
        let handle = store.connect_or_set_aside()?;
        *store.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        Ok(store)
    }

    /// Uses `clock` for `updated_at`, `last_refresh_at` and set-aside names.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SqliteStore {
        self.clock = clock;
        self
    }

    /// Keeps the event log within `retention` (default: [`Retention::default`]).
    pub fn with_event_retention(mut self, retention: Retention) -> SqliteStore {
        self.retention = retention;
        self
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        &self.db
    }

    /// Where the key came from, as messages name it (e.g. `TOKENWARDEN_KEY`, or `the key file
    /// /x/key`). For `doctor`.
    pub fn key_origin(&self) -> &str {
        &self.key_origin
    }

    /// SQLite's full `PRAGMA integrity_check` (opening runs only the quick check): `Ok(vec![])`
    /// when the database is sound, else the problems SQLite lists. For `doctor`.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.run(|conn| {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let found = rows.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(found.into_iter().filter(|l| l != "ok").collect())
        })
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn connect_or_set_aside(&self) -> Result<Handle> {
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
        // Create the file ourselves, 0600, so SQLite never creates it with the umask's mode.
        match create_private_file(db) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::store(format!(
                    "cannot create the token database {}",
                    db.display()
                ))
                .with_source(e)
                .into());
            }
        }
        check_private_file(db, "the token database")?;
        let before = self.current_file()?;
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
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(classify)?;
        if check != "ok" {
            return Err(unreadable(format!("integrity check failed: {check}")));
        }
        let key_check = self.sealer.key_check()?;
        match schema::migrate(&mut conn, |tx| {
            schema::init_meta(tx, &key_check, self.now())
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

    fn sql_error(&self, e: rusqlite::Error) -> Error {
        let db = self.db.display();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::store(format!(
                "the token database {db} is locked by another process (waited up to {})",
                crate::human::duration(BUSY_TIMEOUT)
            ))
            .with_hint(format!(
                "try again; if it persists, look for a hung process using it (`fuser -v {db}`)"
            ))
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
    fn run<T>(
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

    fn read_in(
        &self,
        conn: &Connection,
        profile: &str,
    ) -> std::result::Result<Option<StoredTokens>, OpError> {
        match row::read(conn, &self.sealer, profile)? {
            Found::Nothing => Ok(None),
            Found::Tokens(t) => Ok(Some(*t)),
            Found::Damaged(d) => Err(OpError::Damaged(d)),
        }
    }

    fn write(
        &self,
        profile: &str,
        expected: Option<Version>,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = tx
                .prepare_cached("SELECT version FROM tokens WHERE profile = ?1")?
                .query_row([profile], |r| r.get::<_, i64>(0))
                .optional()?
                .map_or(Version::NONE, Version::from_raw);
            if let Some(expected) = expected
                && current != expected
            {
                let stored = self.read_in(&tx, profile)?;
                return Ok(CasOutcome::Conflict(stored.map(Box::new)));
            }
            let version = row::next_version(&tx)?;
            let now = self.now();
            let last_refresh_at = match expected {
                Some(v) if v != Version::NONE => Some(now),
                _ => None,
            };
            row::put(
                &tx,
                &self.sealer,
                profile,
                version,
                tokens,
                last_refresh_at,
                now,
            )?;
            tx.commit()?;
            Ok(CasOutcome::Written(version))
        })
    }
}

/// Switches the database to WAL (a persistent setting: only the first open of a new file
/// changes it). The switch needs every other connection to stand still, and SQLite answers
/// `SQLITE_BUSY` at once instead of calling the busy handler, so this polls up to
/// [`BUSY_TIMEOUT`]. Returns the journal mode in force.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let mut last_busy = None;
    let found = lock::poll_until(BUSY_TIMEOUT, || {
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

impl BreakerBackend for SqliteStore {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        self.run(|conn| Ok(row::load_breaker(conn, key)?.unwrap_or_default()))
    }

    fn save(&self, key: &str, record: &BreakerRecord) -> Result<()> {
        self.run(|conn| Ok(row::save_breaker(conn, key, record)?))
    }

    /// Read, change and write in one `BEGIN IMMEDIATE` transaction: atomic across processes.
    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut record = row::load_breaker(&tx, key)?.unwrap_or_default();
            f(&mut record);
            row::save_breaker(&tx, key, &record)?;
            tx.commit()?;
            Ok(truncate_breaker(&record))
        })
    }
}

impl Store for SqliteStore {
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>> {
        self.run(|conn| self.read_in(conn, profile))
    }

    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.write(profile, Some(expected), tokens)
    }

    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version> {
        match self.write(profile, None, tokens)? {
            CasOutcome::Written(v) => Ok(v),
            CasOutcome::Conflict(_) => Err(Error::store("an unconditional write met a conflict")),
        }
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.run(|conn| Ok(conn.execute("DELETE FROM tokens WHERE profile = ?1", [profile])? > 0))
    }

    fn list_profiles(&self) -> Result<Vec<String>> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached("SELECT profile FROM tokens ORDER BY profile")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    fn mark_rejected(&self, profile: &str, version: Version) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.run(|conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET state = CASE WHEN state = 'login_required' THEN state ELSE 'rejected' END, \
                     updated_at = ?3 WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![profile, version.get(), now])?;
            Ok(n > 0)
        })
    }

    fn mark_state(
        &self,
        profile: &str,
        version: Version,
        state: TokenState,
        last_error: Option<&str>,
        transient: bool,
    ) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.run(|conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET state = ?3, state_reason = ?4, state_cause = ?5, \
                     last_error = ?6, refresh_failure_transient = ?7, last_refresh_at = ?8, \
                     updated_at = ?8 WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![
                    profile,
                    version.get(),
                    state.as_str(),
                    state.reason(),
                    state.cause().map(Cause::as_str),
                    last_error,
                    transient,
                    now
                ])?;
            Ok(n > 0)
        })
    }

    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.run(|conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET refresh_failure_transient = ?3, updated_at = ?4 \
                     WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![profile, version.get(), in_flight, now])?;
            Ok(n > 0)
        })
    }

    fn record_refresh_failure(
        &self,
        profile: &str,
        version: Version,
        last_error: &str,
        maybe_rotated: bool,
    ) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.run(|conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET last_error = ?3, refresh_failure_transient = ?4, \
                     last_refresh_at = ?5, updated_at = ?5 WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![
                    profile,
                    version.get(),
                    last_error,
                    maybe_rotated,
                    now
                ])?;
            Ok(n > 0)
        })
    }

    fn lock(&self, profile: &str, wait: Duration) -> Result<ProfileLock> {
        lock::lock_file(&self.paths, profile, wait)
    }

    fn try_lock(&self, profile: &str) -> Result<Option<ProfileLock>> {
        lock::try_lock_file(&self.paths, profile)
    }

    fn lock_wait_exceeded(&self, profile: &str, waited: Duration) -> crate::error::Error {
        lock::file_wait_exceeded(&self.paths, profile, waited)
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        self.run(|conn| Ok(row::append_event(conn, event, &self.retention)?))
    }

    fn recent_events(
        &self,
        since: SystemTime,
        profile: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.run(|conn| Ok(row::recent_events(conn, since, profile, limit)?))
    }

    fn prune_events(&self, before: SystemTime, keep: usize) -> Result<usize> {
        self.run(|conn| Ok(row::prune_events(conn, before, keep)?))
    }
}
