//! [`PgStore`]: the fleet store, one PostgreSQL database shared by every machine that uses the
//! same login (CI runners, containers, build hosts), so that the fleet refreshes each token once
//! per expiry and a login on one machine serves all.
//!
//! - **Same rows, same seals.** Token secrets are sealed with the fleet key (`TOKENWARDEN_KEY`,
//!   or the key file `[store] key_file` that the operator distributes) exactly as the SQLite
//!   store seals them; the key never enters the database. A key-check row (`tw_meta`) tells a
//!   wrong key (refused, nothing touched) from a damaged row.
//! - **One refresh per expiry, fleet-wide.** The refresh lock of a profile is a session-level
//!   advisory lock (`pg_try_advisory_lock` on a hash of the profile) on the process's
//!   connection, which the server releases the moment that connection ends: when its holder
//!   exits, is killed (`kill -9`), or its machine drops off. Threads of one process are told
//!   apart by an in-process table in front of it (advisory locks are re-entrant per
//!   connection). The session's algorithm is unchanged: in-process mutex, then this lock,
//!   re-read, refresh, compare-and-swap write.
//! - **A refresh whose holder lost its lock.** Before sending a refresh the session marks the
//!   row "in flight"; here that mark is also a lease naming its holder, the server's start time
//!   and an end ([`IN_FLIGHT_LEASE`]). When the server restarts in the middle of a refresh, every
//!   lock is gone while the holder may still be about to write its answer: a process that takes
//!   the lock and finds a lease from before the restart by another holder treats the lock as
//!   taken until the lease ends or the row changes. A holder killed while the server stayed up
//!   leaves a lease from the current server start: ignored, so the others proceed at once. The
//!   holder's write keeps reconnecting for a while ([`WRITE_PATIENCE`]), and a write whose
//!   acknowledgement was lost is recognised by its version.
//! - **Fast.** Nothing is sent when the store is opened: the first statement of a process also
//!   checks the schema version and the key (one round trip for a one-shot `tokenwarden token`
//!   on its fast path). A running process holding a fresh token does not query at all.
//! - **Live.** Every change of a row's version or state is announced with `NOTIFY`; a
//!   long-running process follows them ([`Store::changes`], started on first use), so its cache
//!   drops a token another machine replaced within a moment.
//! - **Degraded.** This machine keeps a copy of the last row it saw of each profile (`cache`),
//!   so that a token that is still valid is served while the database cannot be reached
//!   ([`Store::last_known`]); the session warns that it is degraded.
//! - **Shared state.** Circuit-breaker records and the event log live in the database: the
//!   fleet backs off together, and `events`/`stats --all` show every machine (each event names
//!   its host). So do the revocations a logout could not make yet (`revoke`): the next
//!   `logout` or `doctor` on any machine asks the provider again.
//! - **A refreshed token set is never dropped.** When the database stays away longer than
//!   [`WRITE_PATIENCE`] after the provider answered a refresh, the new tokens are sealed into
//!   a recovery file on this machine (`<data dir>/fleet-recovery/`, the local store's format
//!   and seals, with the fleet key; [`Store::keep_unwritten`]), and the next read of the
//!   profile on this machine writes them with compare-and-swap on the version they replace
//!   before anything else (dropped when the profile moved on meanwhile).
//!
//! # Layout
//! - this file: [`PgStore`], [`FleetSettings`]: opening, the schema and key checks, writes.
//! - `ops`: the [`Store`] and breaker operations, and [`PgLock`]; `key`: the fleet key.
//! - `revoke`: the pending revocations' statements.
//! - `url`: [`StoreUrl`], the URL and PostgreSQL's conventions for what it leaves out.
//! - `tls`: TLS through rustls.
//! - `conn`: the runtime, the shared connection, reconnecting, errors.
//! - `schema`: the migrations; `rows`: the statements; `listen`: the change feed; `cache`: this
//!   machine's copy of the rows it saw.

mod cache;
mod conn;
mod key;
mod listen;
mod ops;
mod records;
mod revoke;
mod rows;
mod schema;
mod tls;
pub mod url;

pub use key::fleet_key;
pub use ops::PgLock;

pub use url::{STORE_URL_ENV, SslMode, StoreUrl};

use super::changes::ChangeFeed;
use super::crypto::{OpenError, Sealer, StoreKey};
use super::{CasOutcome, Retention, StoredTokens, Version};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::token::TokenSet;
use conn::{Db, OpError};
use rows::{PgRow, Written};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio_postgres::error::SqlState;

/// How long a refresh marked in flight keeps other machines from refreshing the same tokens
/// after the database restarted (see the module docs).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(30);

/// How long the write of a refreshed token keeps reconnecting when the database is away: the
/// provider may have rotated the refresh token, so its answer must not be lost.
pub const WRITE_PATIENCE: Duration = Duration::from_secs(10);

/// The directory under the data directory where this machine keeps a refresh's tokens that the
/// fleet store would not take, until they are written (apart from the local store's own).
pub const RECOVERY_DIR: &str = "fleet-recovery";

/// What opening the fleet store takes.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// Where the database is.
    pub url: StoreUrl,
    /// The key file the operator distributes (`[store] key_file`), used when
    /// `TOKENWARDEN_KEY` is not set.
    pub key_file: Option<PathBuf>,
    /// Whether the first use may create or upgrade the schema (`[store] auto_migrate`,
    /// default true); otherwise `tokenwarden store migrate` does.
    pub auto_migrate: bool,
}

/// How `tokenwarden store migrate` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    /// The schema was current already (its version).
    Current(i32),
    /// Applied the migrations from the first version (0: a new store) to the second.
    Applied {
        /// The version before.
        from: i32,
        /// The version now.
        to: i32,
    },
}

/// What `doctor` reads from the fleet store.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    /// The server's clock (`clock_timestamp()`) when it answered.
    pub now: SystemTime,
    /// Whether the connection is encrypted (TLS).
    pub tls: bool,
    /// The server's version.
    pub version: String,
    /// The schema version the store has.
    pub schema: Option<i32>,
    /// The schema version this build writes.
    pub schema_supported: i32,
    /// What the user may not do on the store's tables (empty: everything needed).
    pub missing_privileges: Vec<String>,
}

/// The fleet store. See the module docs.
pub struct PgStore {
    db: Arc<Db>,
    sealer: Sealer,
    key_origin: String,
    key_check: Vec<u8>,
    /// Names this process as the holder of a lease.
    me: String,
    host: String,
    clock: Arc<dyn Clock>,
    retention: Retention,
    auto_migrate: bool,
    checked: AtomicBool,
    last_seen: cache::LastSeen,
    /// Where a refresh's tokens the database would not take are kept ([`Store::keep_unwritten`]).
    recovery_dir: PathBuf,
    feed: OnceLock<ChangeFeed>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.db.url.redacted())
            .field("key", &self.key_origin)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// The fleet store `settings` name, with this machine's copies under `paths`. Nothing is
    /// sent yet: the first operation connects, checks the schema (creating or upgrading it when
    /// `auto_migrate` allows) and the key.
    pub fn open(paths: &Paths, settings: &FleetSettings) -> Result<PgStore> {
        let (key, key_origin) = fleet_key(settings.key_file.as_deref())?;
        Self::open_sealed(paths, settings, key, key_origin)
    }

    /// As [`PgStore::open`], with the fleet key in hand (a program that holds the key itself;
    /// tests).
    pub fn open_with_key(
        paths: &Paths,
        settings: &FleetSettings,
        key: StoreKey,
    ) -> Result<PgStore> {
        Self::open_sealed(
            paths,
            settings,
            key,
            "the key given by the program".to_string(),
        )
    }

    fn open_sealed(
        paths: &Paths,
        settings: &FleetSettings,
        key: StoreKey,
        key_origin: String,
    ) -> Result<PgStore> {
        super::perms::ensure_private_dir(&paths.data_dir, "the data directory")?;
        let sealer = Sealer::new(&key);
        drop(key);
        let host = key::host_name();
        Ok(PgStore {
            db: Arc::new(Db::new(settings.url.clone())?),
            key_check: sealer.key_check()?,
            sealer,
            key_origin,
            me: format!("{host} pid {}", std::process::id()),
            host,
            clock: Arc::new(SystemClock),
            retention: Retention::default(),
            auto_migrate: settings.auto_migrate,
            checked: AtomicBool::new(false),
            last_seen: cache::LastSeen::new(paths),
            recovery_dir: paths.data_dir.join(RECOVERY_DIR),
            feed: OnceLock::new(),
        })
    }

    /// Uses `clock` for `updated_at`, `last_refresh_at` and leases.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> PgStore {
        self.clock = clock;
        self
    }

    /// Keeps the event log within `retention` (default: [`Retention::default`]).
    pub fn with_event_retention(mut self, retention: Retention) -> PgStore {
        self.retention = retention;
        self
    }

    /// The store's URL, as messages show it (no password).
    pub fn url(&self) -> &StoreUrl {
        &self.db.url
    }

    /// Where the key came from (`TOKENWARDEN_KEY`, or the key file).
    pub fn key_origin(&self) -> &str {
        &self.key_origin
    }

    /// This machine's name, as events record it.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Creates or upgrades the schema (`tokenwarden store migrate`), then checks the key.
    /// A schema newer than this build is refused.
    pub fn migrate(&self) -> Result<Migration> {
        let key_check = self.key_check.clone();
        let done = self.db.run(Duration::ZERO, async |c| {
            Ok(schema::migrate(c, &key_check).await?)
        })?;
        let migration = match done {
            schema::Migrated::Current(v) => Migration::Current(v),
            schema::Migrated::Applied { from, to } => Migration::Applied { from, to },
            schema::Migrated::Newer(found) => return Err(self.newer(found)),
        };
        self.checked.store(false, Ordering::Release);
        self.ensure_ready()?;
        Ok(migration)
    }

    /// Connects (if not yet), and checks the schema and the key once per process.
    fn ensure_ready(&self) -> Result<()> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        // The checks ride on a read of a profile name no row has (names are never empty).
        self.read_checked("").map(|_| ())
    }

    /// A read that also checks the schema version and the key (the first statement).
    fn read_checked(&self, profile: &str) -> Result<Option<PgRow>> {
        let mut migrated = false;
        loop {
            let checked = self.db.run(Duration::ZERO, async |c| {
                match rows::read_checked(c, profile).await {
                    Ok(checked) => Ok(Ok(checked)),
                    // No tables, or tables of another schema than this build's statements
                    // read: the schema's version says which.
                    Err(e)
                        if e.code() == Some(&SqlState::UNDEFINED_TABLE)
                            || e.code() == Some(&SqlState::UNDEFINED_COLUMN) =>
                    {
                        Ok(Err(rows::schema_version(c).await?))
                    }
                    Err(e) => Err(OpError::Pg(e)),
                }
            })?;
            let current = schema::current_version();
            let found = match checked {
                Ok(c) => c,
                Err(Some(v)) if v > current => return Err(self.newer(v)),
                Err(_) if !migrated && self.auto_migrate => {
                    self.migrate_for_use()?;
                    migrated = true;
                    continue;
                }
                Err(found) => return Err(self.not_set_up(found)),
            };
            match found.schema {
                Some(v) if v > current => return Err(self.newer(v)),
                Some(v) if v == current => {}
                _ if !migrated && self.auto_migrate => {
                    self.migrate_for_use()?;
                    migrated = true;
                    continue;
                }
                other => return Err(self.not_set_up(other)),
            }
            match found
                .key_check
                .as_deref()
                .map(|b| self.sealer.verify_key_check(b))
            {
                Some(Ok(())) => {}
                Some(Err(OpenError::Authentication)) => return Err(self.wrong_key()),
                Some(Err(OpenError::Malformed)) | None => {
                    return Err(Error::store(format!(
                        "the key check of the fleet store at {} is missing or damaged",
                        self.db.url.redacted()
                    ))
                    .with_hint("restore the database from a backup, or move its tw_* tables away and run `tokenwarden store migrate` (every profile then logs in again)"));
                }
            }
            self.checked.store(true, Ordering::Release);
            return Ok(found.row);
        }
    }

    fn migrate_for_use(&self) -> Result<()> {
        let key_check = self.key_check.clone();
        let done = self.db.run(Duration::ZERO, async |c| {
            Ok(schema::migrate(c, &key_check).await?)
        })?;
        match done {
            schema::Migrated::Newer(found) => Err(self.newer(found)),
            schema::Migrated::Applied { from, to } => {
                tracing::info!(
                    "set up the fleet store at {} (schema {from} to {to})",
                    self.db.url.redacted()
                );
                Ok(())
            }
            schema::Migrated::Current(_) => Ok(()),
        }
    }

    fn not_set_up(&self, found: Option<i32>) -> Error {
        let what = match found {
            None => "has no tokenwarden tables yet".to_string(),
            Some(v) => format!(
                "has schema {v}, older than this build's {}",
                schema::current_version()
            ),
        };
        Error::store(format!(
            "the fleet store at {} {what}",
            self.db.url.redacted()
        ))
        .with_hint("run `tokenwarden store migrate` (as a user allowed to create tables), or allow it on first use with `auto_migrate = true` in [store]")
    }

    fn newer(&self, found: i32) -> Error {
        Error::store(format!(
            "the fleet store at {} was set up by a newer tokenwarden (schema {found}; this build knows up to {})",
            self.db.url.redacted(),
            schema::current_version()
        ))
        .with_hint("upgrade tokenwarden on this machine: every machine sharing the store needs a build that knows its schema. Nothing was changed")
    }

    fn wrong_key(&self) -> Error {
        Error::store(format!(
            "the fleet store at {} was sealed with a different key than {}",
            self.db.url.redacted(),
            self.key_origin
        ))
        .with_hint("every machine sharing the store must use the same fleet key: set TOKENWARDEN_KEY (or the file `[store] key_file` names) to the key the other machines use. Nothing was changed")
    }

    fn damaged(&self, d: super::sqlite::row::Damaged) -> Error {
        Error::store(format!(
            "the fleet store at {} holds a damaged row: {}",
            self.db.url.redacted(),
            d.detail
        ))
        .with_hint(format!(
            "log in again on one machine (`tokenwarden --profile {} login`) to replace it; the row is left as it is for inspection",
            d.profile
        ))
    }

    /// Opens `row`, remembering it as this machine's copy.
    fn opened(&self, row: Option<PgRow>, profile: &str) -> Result<Option<StoredTokens>> {
        match row {
            None => {
                self.last_seen.forget(profile);
                Ok(None)
            }
            Some(row) => {
                let stored = row.open(&self.sealer).map_err(|d| self.damaged(d))?;
                self.last_seen.saw(&row);
                Ok(Some(stored))
            }
        }
    }

    fn write(
        &self,
        profile: &str,
        expected: Option<Version>,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.ensure_ready()?;
        let now = self.now();
        let sealer = &self.sealer;
        let mut tried: Vec<Version> = Vec::new();
        let written = self.db.run(WRITE_PATIENCE, async |c| {
            let version = rows::next_version(c).await?;
            // The write may commit with its answer lost, and be sent again: a conflict with a
            // version tried here is then this write.
            tried.push(Version::from_raw(version));
            rows::write(c, sealer, profile, expected, version, tokens, now).await
        })?;
        match written {
            Written::Version(v) => {
                if let Some(row) = self.reread_after_write(profile) {
                    self.last_seen.saw(&row);
                }
                Ok(CasOutcome::Written(v))
            }
            Written::Conflict(Some(row)) if tried.contains(&Version::from_raw(row.version)) => {
                self.last_seen.saw(&row);
                Ok(CasOutcome::Written(Version::from_raw(row.version)))
            }
            Written::Conflict(row) => {
                let current = self.opened(row.map(|r| *r), profile)?;
                Ok(CasOutcome::Conflict(current.map(Box::new)))
            }
        }
    }

    /// The row just written, for this machine's copy (a failure only costs the copy).
    fn reread_after_write(&self, profile: &str) -> Option<PgRow> {
        self.db
            .run(Duration::ZERO, async |c| Ok(rows::read(c, profile).await?))
            .ok()
            .flatten()
    }

    /// The server's clock, TLS, version, schema and the privileges missing, for `doctor`.
    pub fn server_facts(&self) -> Result<ServerFacts> {
        let (now, tls, version) =
            self.db.run(
                Duration::ZERO,
                async |c| Ok(records::server_facts(c).await?),
            )?;
        let schema = self
            .db
            .run(Duration::ZERO, async |c| Ok(rows::schema_version(c).await?))?;
        let missing_privileges = if schema.is_some() {
            self.db.run(Duration::ZERO, async |c| {
                Ok(records::missing_privileges(c).await?)
            })?
        } else {
            Vec::new()
        };
        Ok(ServerFacts {
            now,
            tls,
            version,
            schema,
            schema_supported: schema::current_version(),
            missing_privileges,
        })
    }

    /// Checks the key against the store's key check (and the schema): `doctor`'s key check.
    pub fn check(&self) -> Result<()> {
        self.checked.store(false, Ordering::Release);
        self.ensure_ready()
    }
}
