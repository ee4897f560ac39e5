//! [`SqliteStore`]: the default [`Store`], one SQLite file shared by every process of the user.
//!
//! - WAL journal, `busy_timeout` 5 s, `secure_delete`. Every write is one short transaction;
//!   compare-and-swap writes use `BEGIN IMMEDIATE`, so the version check and the write are
//!   atomic across processes. Token values, states and deletions are on disk when the write
//!   returns (`synchronous=FULL`); the refresh-in-flight mark, the event log, breaker records
//!   and discovery documents are not waited for (`synchronous=NORMAL`: a power loss may lose
//!   the last of them, never corrupts): see the `durability` module.
//! - Token secrets are sealed ([`super::crypto`]); a key check in `meta` tells a wrong key
//!   (reported, file untouched) from damage (set aside: see the `setaside` module).
//! - The data directory is 0700, the database, its `-wal`/`-shm` and the key file 0600; the
//!   database file is created by us (0600) before SQLite opens it, and SQLite gives its journal
//!   files the database's mode. Looser modes are refused with the `chmod` that fixes them.
//! - Before each operation the path is checked to still name the file the connection has open
//!   (device and inode); when it was set aside or removed by another process, the connection is
//!   reopened, so a long-lived process never writes into a set-aside file.
//! - The refresh lock is a file lock per profile ([`super::lock::FileLock`]), next to the
//!   database in the lock directory.
//!
//! # What a refresh costs in fsyncs
//! A `tokenwarden token` that refreshes, with no other process holding the database open,
//! makes five (seven when every write was FULL):
//! - one for the refreshed tokens' commit, which also covers the in-flight mark written
//!   before it; durability needs it: a rotated refresh token is the only one that works;
//! - two for the write-ahead log that the process's first write starts: its header and its
//!   entry in the directory, without which that commit would not survive a power loss (the
//!   last connection to close removes the log, so the next writer creates it again);
//! - two at exit, when the last connection folds the log into the database (the log, then the
//!   database file) before removing it.
//!
//! The event appended after the tokens waits for none; nor does a discovery document, written
//! only when it was fetched.
//!
//! # Layout
//! - this file: [`SqliteStore`] and its [`Store`] and [`BreakerBackend`] operations.
//! - `connection`: opening, error mapping, and running each operation on the current file.
//! - `durability`: how durable each write must be, set per write.
//! - `discovery`: the rows of the discovery documents kept for other processes.
//! - `create`: what the path names (a dangling link is named), and a fresh database built
//!   aside and linked into place, so that a 0-byte `tokens.db` is always damage.
//! - `recovery`: a refresh's tokens the database would not take, sealed into a recovery file
//!   ([`Store::keep_unwritten`]) that the next read of the profile stores first.
//! - `revocation`: the rows of revocations a logout could not make yet.
//! - `row`: token rows sealed and opened; breaker and event rows mapped.
//! - `schema`: applying the migrations; `migrations`: their SQL.
//! - `setaside`: what happens to a damaged database; `salvage`: the token rows still readable
//!   in it, carried into the fresh one.

mod connection;
mod create;
mod discovery;
mod durability;
pub(super) mod recovery;
mod rekey;
pub(super) mod revocation;
pub(super) mod row;
#[cfg(feature = "fuzzing")]
pub(crate) use row::{RawRow, decode as decode_row};
mod migrations;
mod salvage;
mod schema;
mod setaside;

use super::crypto::Sealer;
use super::guard::RefreshGuard;
use super::kdf::{self, KdfParams};
use super::keys::{self, KeyMaterial, KeyOrigin, KeySource};
use super::lock;
use super::perms::ensure_private_dir;
use super::{
    BreakerBackend, BreakerRecord, CasOutcome, DiscoveryKind, Event, LastError, PendingRevocation,
    Retention, Store, StoredDiscovery, StoredTokens, TokenState, Version, truncate_breaker,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{Cause, Error, Result};
use crate::http::TokenTypeHint;
use crate::paths::Paths;
use crate::secret::SecretString;
use crate::store::discovery::DiscoveryRow;
use crate::token::{TokenSet, to_unix_millis};
use connection::Handle;
use durability::Durability;
use row::{Found, OpError};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The token store in `<data dir>/tokens.db`.
pub struct SqliteStore {
    paths: Paths,
    db: PathBuf,
    sealer: Sealer,
    /// How the key was stretched from a passphrase (written into a new database's `meta`).
    kdf: Option<KdfParams>,
    key_origin: KeyOrigin,
    conn: Mutex<Option<Handle>>,
    clock: Arc<dyn Clock>,
    retention: Retention,
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
        // A dangling symbolic link is named before any key is looked for or created.
        let exists = matches!(create::inspect(&db)?, create::Found::File(n) if n > 0);
        let resolved = keys::resolve(key, paths, !exists)?;
        let mut legacy = None;
        let mut passphrase = None;
        let (sealer, kdf) = match resolved.material {
            KeyMaterial::Raw(key) => (Sealer::new(&key), None),
            KeyMaterial::Passphrase(pass) => {
                let stored = if exists {
                    rekey::stored_params(&db)
                } else {
                    None
                };
                let found = match stored {
                    Some(params) => (Sealer::new(&params.derive(pass.expose())?), Some(params)),
                    // Keyed before passphrases were stretched: opened with the old key, then
                    // re-keyed below.
                    None if exists => {
                        legacy = Some(pass.clone());
                        (Sealer::new(&kdf::legacy_key(pass.expose())), None)
                    }
                    None => {
                        let params = KdfParams::fresh();
                        (Sealer::new(&params.derive(pass.expose())?), Some(params))
                    }
                };
                passphrase = Some(pass);
                found
            }
        };
        let mut store = SqliteStore {
            paths: paths.clone(),
            db,
            sealer,
            kdf,
            key_origin: resolved.origin,
            conn: Mutex::new(None),
            clock: Arc::new(SystemClock),
            retention: Retention::default(),
        };
        let handle = match store.connect_or_set_aside() {
            Ok(handle) => handle,
            // Another process created the database (or re-keyed it) with its own salt while
            // this one looked: derive with the parameters stored now, and try once more.
            Err(e) => match (&passphrase, rekey::stored_params(&store.db)) {
                (Some(pass), Some(params)) if store.kdf.as_ref() != Some(&params) => {
                    store.sealer = Sealer::new(&params.derive(pass.expose())?);
                    store.kdf = Some(params);
                    legacy = None;
                    store.connect_or_set_aside()?
                }
                _ => return Err(e),
            },
        };
        *store.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        if let Some(pass) = legacy {
            store.rekey(&pass)?;
        }
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

    /// Where the key came from (`TOKENWARDEN_KEY`, the OS keyring, the key file); its
    /// `Display` is what messages say. For `doctor`.
    pub fn key_origin(&self) -> &KeyOrigin {
        &self.key_origin
    }

    /// How the key was stretched from a passphrase; `None` for a raw key.
    pub fn kdf(&self) -> Option<&KdfParams> {
        self.kdf.as_ref()
    }

    /// SQLite's full `PRAGMA integrity_check` (opening runs no check): `Ok(vec![])` when the
    /// database is sound, else the problems SQLite lists. For `doctor`.
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

    fn write_tokens(
        &self,
        profile: &str,
        expected: Option<Version>,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.write(Durability::Full, |conn| {
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

impl BreakerBackend for SqliteStore {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        self.run(|conn| Ok(row::load_breaker(conn, key)?.unwrap_or_default()))
    }

    fn save(&self, key: &str, record: &BreakerRecord) -> Result<()> {
        self.write(Durability::Relaxed, |conn| {
            Ok(row::save_breaker(conn, key, record)?)
        })
    }

    /// Read, change and write in one `BEGIN IMMEDIATE` transaction: atomic across processes.
    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        self.write(Durability::Relaxed, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut record = row::load_breaker(&tx, key)?.unwrap_or_default();
            f(&mut record);
            row::save_breaker(&tx, key, &record)?;
            tx.commit()?;
            Ok(truncate_breaker(&record))
        })
    }

    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>> {
        self.run(|conn| Ok(row::breaker_records(conn)?))
    }
}

impl SqliteStore {
    /// Stores the tokens a recovery file keeps for `profile`, if there is one: with
    /// compare-and-swap on the version they replace; a stale file (the profile moved on) goes.
    fn adopt_kept(&self, profile: &str) -> Result<()> {
        let Some(kept) = recovery::load(
            &recovery::dir(&self.paths),
            &self.sealer,
            profile,
            self.now(),
        )?
        else {
            return Ok(());
        };
        match self.write_tokens(profile, Some(kept.expected), &kept.tokens) {
            Ok(CasOutcome::Written(version)) => {
                tracing::info!(
                    profile,
                    %version,
                    path = %kept.path.display(),
                    "stored the refreshed tokens kept in a recovery file"
                );
                recovery::remove(&kept);
                Ok(())
            }
            Ok(CasOutcome::Conflict(_)) => {
                tracing::warn!(
                    profile,
                    path = %kept.path.display(),
                    "dropped a recovery file: the profile's tokens were replaced since (a login or a logout)"
                );
                recovery::remove(&kept);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "the refreshed tokens of profile `{profile}` kept in {} cannot be stored yet: {}",
                    kept.path.display(),
                    e.message()
                );
                Err(e.with_message(msg))
            }
        }
    }
}

impl Store for SqliteStore {
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>> {
        self.adopt_kept(profile)?;
        self.run(|conn| self.read_in(conn, profile))
    }

    fn keep_unwritten(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<String> {
        let path = recovery::keep(
            &recovery::dir(&self.paths),
            &self.sealer,
            profile,
            expected,
            tokens,
            self.now(),
        )?;
        tracing::warn!(profile, path = %path.display(), "refreshed tokens kept in a recovery file");
        Ok(path.display().to_string())
    }

    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.write_tokens(profile, Some(expected), tokens)
    }

    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version> {
        match self.write_tokens(profile, None, tokens)? {
            CasOutcome::Written(v) => Ok(v),
            CasOutcome::Conflict(_) => Err(Error::store("an unconditional write met a conflict")),
        }
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.write(Durability::Full, |conn| {
            Ok(conn.execute("DELETE FROM tokens WHERE profile = ?1", [profile])? > 0)
        })
    }

    fn delete_keeping_revocations(
        &self,
        profile: &str,
        version: Version,
        pending: &[(TokenTypeHint, SecretString)],
        error: &LastError,
    ) -> Result<bool> {
        let now = self.now();
        self.write(Durability::Full, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx.execute(
                "DELETE FROM tokens WHERE profile = ?1 AND version = ?2",
                params![profile, version.get()],
            )? > 0;
            revocation::keep(&tx, &self.sealer, profile, version, pending, error, now)?;
            tx.commit()?;
            Ok(deleted)
        })
    }

    fn pending_revocations(&self, profile: &str) -> Result<Vec<PendingRevocation>> {
        self.write(Durability::Full, |conn| {
            let (found, unreadable) = revocation::pending(conn, &self.sealer, profile)?;
            for id in unreadable {
                tracing::warn!(
                    profile,
                    id,
                    "dropped a pending revocation whose token does not open (damaged, or another key)"
                );
                revocation::forget(conn, id)?;
            }
            Ok(found)
        })
    }

    fn settle_revocation(&self, id: i64, failure: Option<&LastError>) -> Result<()> {
        let now = self.now();
        self.write(Durability::Full, |conn| {
            match failure {
                None => revocation::forget(conn, id)?,
                Some(e) => revocation::failed(conn, id, e, now)?,
            }
            Ok(())
        })
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
        self.write(Durability::Full, |conn| {
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
        last_error: Option<&LastError>,
        transient: bool,
    ) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.write(Durability::Full, |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET state = ?3, state_reason = ?4, state_cause = ?5, \
                     last_error = ?6, last_error_cause = ?7, refresh_failure_transient = ?8, \
                     last_refresh_at = ?9, updated_at = ?9 WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![
                    profile,
                    version.get(),
                    state.as_str(),
                    state.reason(),
                    state.cause().map(Cause::as_str),
                    last_error.map(|e| e.message.as_str()),
                    last_error.and_then(|e| e.cause).map(Cause::as_str),
                    transient,
                    now
                ])?;
            Ok(n > 0)
        })
    }

    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.write(Durability::Relaxed, |conn| {
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
        last_error: &LastError,
        maybe_rotated: bool,
    ) -> Result<bool> {
        let now = to_unix_millis(self.now());
        self.write(Durability::Full, |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE tokens SET last_error = ?3, last_error_cause = ?4, \
                     refresh_failure_transient = ?5, last_refresh_at = ?6, updated_at = ?6 \
                     WHERE profile = ?1 AND version = ?2",
                )?
                .execute(params![
                    profile,
                    version.get(),
                    last_error.message,
                    last_error.cause.map(Cause::as_str),
                    maybe_rotated,
                    now
                ])?;
            Ok(n > 0)
        })
    }

    fn try_lock_profile(&self, profile: &str) -> Result<Option<Box<dyn RefreshGuard>>> {
        Ok(lock::try_lock_file(&self.paths, profile)?
            .map(|held| Box::new(held) as Box<dyn RefreshGuard>))
    }

    fn lock_profile(&self, profile: &str, wait: Duration) -> Result<Box<dyn RefreshGuard>> {
        Ok(Box::new(lock::lock_file(&self.paths, profile, wait)?))
    }

    fn lock_wait_exceeded(&self, profile: &str, waited: Duration) -> Error {
        lock::file_wait_exceeded(&self.paths, profile, waited)
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        self.write(Durability::Relaxed, |conn| {
            Ok(row::append_event(conn, event, &self.retention)?)
        })
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
        self.write(Durability::Relaxed, |conn| {
            Ok(row::prune_events(conn, before, keep)?)
        })
    }

    fn read_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<Option<StoredDiscovery>> {
        self.run(|conn| discovery::read(conn, &self.sealer, issuer, kind))
    }

    fn write_discovery(&self, doc: &StoredDiscovery) -> Result<()> {
        let row = DiscoveryRow::seal(&self.sealer, doc)?;
        self.write(Durability::Relaxed, |conn| discovery::write(conn, &row))
    }

    fn forget_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<()> {
        self.write(Durability::Relaxed, |conn| {
            discovery::forget(conn, issuer, kind)
        })
    }
}
