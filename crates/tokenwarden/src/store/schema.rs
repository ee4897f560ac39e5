//! The SQLite schema and its migrations.
//!
//! `PRAGMA user_version` counts the migrations applied. Opening applies the missing ones in one
//! `BEGIN IMMEDIATE` transaction (re-reading the version inside it, so two processes opening at
//! once migrate once). A database whose version is newer than this build knows is refused: an
//! older tokenwarden must not write a schema it does not understand. Migrations are only ever
//! appended to [`MIGRATIONS`]; a released step is never edited.

use crate::error::Error;
use crate::token::to_unix_millis;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use std::time::SystemTime;

/// Migration 1: tokens, the version sequence, breaker state, meta (the key check).
const V1: &str = "
CREATE TABLE tokens (
    profile TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    access_token BLOB NOT NULL,
    refresh_token BLOB,
    id_token BLOB,
    token_type TEXT NOT NULL,
    expires_at INTEGER,
    scopes TEXT NOT NULL,
    obtained_at INTEGER NOT NULL,
    refresh_token_obtained_at INTEGER,
    subject TEXT,
    issuer TEXT,
    state TEXT NOT NULL CHECK (state IN ('valid', 'rejected', 'login_required')),
    state_reason TEXT,
    last_error TEXT,
    last_refresh_at INTEGER,
    refresh_failure_transient INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE sequence (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO sequence (name, value) VALUES ('version', 0);
CREATE TABLE breaker (
    key TEXT PRIMARY KEY NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    open_until INTEGER,
    last_retry_after_ms INTEGER,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;
";

/// Migration 2: the token-operation log (diagnostics).
const V2: &str = "
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    profile TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    oauth_error TEXT,
    request_id TEXT,
    correlation_id TEXT,
    duration_ms INTEGER,
    attempt INTEGER NOT NULL
) STRICT;
CREATE INDEX events_at ON events (at);
";

/// Migration 3: the cause of a login-required mark, as data ([`crate::error::Cause::as_str`];
/// NULL for any other state, and for the marks made before it existed).
const V3: &str = "
ALTER TABLE tokens ADD COLUMN state_cause TEXT;
";

/// Migration 4: whether a failed exchange's request reached the server
/// ([`crate::error::Delivery::as_str`]; NULL for successes, operations without an exchange, and
/// the records written before it existed).
const V4: &str = "
ALTER TABLE events ADD COLUMN delivery TEXT;
";

/// Every migration, in order. `user_version` = how many have been applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// Fills `meta` of a new database: the key check and the creation time.
pub(crate) fn init_meta(
    conn: &Connection,
    key_check: &[u8],
    now: SystemTime,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('key_check', ?1), ('created_at', ?2)",
        params![key_check, to_unix_millis(now).to_string().into_bytes()],
    )
    .map(|_| ())
}

/// The error for a database from a newer tokenwarden (schema `found`).
pub(crate) fn newer_error(db: &std::path::Path, found: i64) -> Error {
    Error::store(format!(
        "the token database {} was written by a newer tokenwarden (schema {found}; this build knows up to {})",
        db.display(),
        current_version()
    ))
    .with_hint("upgrade tokenwarden, or point this one at another directory with TOKENWARDEN_HOME")
}

/// The schema version this build writes.
pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Why migrating failed.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The database is from a newer tokenwarden: the schema version found.
    Newer(i64),
    /// SQLite failed.
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Brings the database to `target` migrations. `on_create` runs in the same transaction right
/// after migration 1 (the database is new): it writes the key check.
pub(crate) fn migrate_to(
    conn: &mut Connection,
    target: i64,
    on_create: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
) -> std::result::Result<(), MigrateError> {
    let check = |found: i64| {
        if found > current_version() {
            Err(MigrateError::Newer(found))
        } else {
            Ok(found)
        }
    };
    if check(user_version(conn)?)? >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = check(user_version(&tx)?)?;
    if found >= target {
        return Ok(());
    }
    let mut on_create = Some(on_create);
    for (index, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found as usize)
    {
        tx.execute_batch(step)?;
        if index == 0
            && let Some(f) = on_create.take()
        {
            f(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(())
}

/// Brings the database to the current schema.
pub(crate) fn migrate(
    conn: &mut Connection,
    on_create: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
) -> std::result::Result<(), MigrateError> {
    migrate_to(conn, current_version(), on_create)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Cause;
    use crate::paths::Paths;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::store::crypto::Sealer;
    use crate::store::perms::{create_private_file, ensure_private_dir};
    use crate::store::{Event, KeySource, SqliteStore, Store, StoreKey, TokenState, row};
    use crate::token::{TokenSet, from_unix_millis};

    #[test]
    fn migrates_step_by_step_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut created = 0;
        migrate_to(&mut conn, 1, |_| {
            created += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
        migrate(&mut conn, |_| panic!("not new")).unwrap();
        assert_eq!(created, 1);
        assert_eq!(user_version(&conn).unwrap(), current_version());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        conn.pragma_update(None, "user_version", current_version() + 1)
            .unwrap();
        match migrate(&mut conn, |_| Ok(())) {
            Err(MigrateError::Newer(found)) => assert_eq!(found, current_version() + 1),
            other => panic!("expected Newer, got {other:?}"),
        }
    }

    /// The token columns of schemas 1 and 2: all an older tokenwarden wrote.
    const OLD_TOKEN_COLUMNS: &str = "profile, version, access_token, refresh_token, id_token, \
         token_type, expires_at, scopes, obtained_at, refresh_token_obtained_at, subject, issuer, \
         state, state_reason, last_error, last_refresh_at, refresh_failure_transient, updated_at";

    fn old_tokens(now: SystemTime) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("old-access"),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("old-refresh")),
            id_token: None,
            expires_at: Some(from_unix_millis(1_700_000_360_000)),
            scopes: vec!["openid".into()],
            obtained_at: now,
            refresh_token_obtained_at: Some(now),
            subject: None,
            issuer: None,
        }
    }

    /// What an older tokenwarden (schema `version`) left behind in `paths`: its tables, made by
    /// its own migrations, holding profile `p` (valid) and profile `gone` (marked
    /// login-required, with a reason and the in-flight flag, as those builds marked it). The
    /// rows are sealed by this build in a scratch database at the current schema, then copied
    /// column by column into the columns the old schema has.
    fn old_database(paths: &Paths, version: i64, tokens: &TokenSet, now: SystemTime) {
        let sealer = Sealer::new(&StoreKey::from_bytes([9; 32]));
        let scratch = paths.data_dir.join("scratch.db");
        {
            let mut conn = Connection::open(&scratch).unwrap();
            migrate(&mut conn, |_| Ok(())).unwrap();
            let tx = conn.transaction().unwrap();
            for profile in ["p", "gone"] {
                let v = row::next_version(&tx).unwrap();
                row::put(&tx, &sealer, profile, v, tokens, None, now).unwrap();
            }
            tx.execute(
                "UPDATE tokens SET state = 'login_required', \
                 state_reason = 'invalid_grant: the refresh token was revoked', \
                 last_error = 'the provider revoked the session', refresh_failure_transient = 1 \
                 WHERE profile = 'gone'",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        drop(create_private_file(&paths.database()).unwrap());
        let mut conn = Connection::open(paths.database()).unwrap();
        let check = sealer.key_check().unwrap();
        migrate_to(&mut conn, version, |tx| init_meta(tx, &check, now)).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS scratch", [scratch.to_str().unwrap()])
            .unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO main.tokens ({OLD_TOKEN_COLUMNS}) \
             SELECT {OLD_TOKEN_COLUMNS} FROM scratch.tokens; \
             UPDATE main.sequence SET value = (SELECT value FROM scratch.sequence); \
             DETACH DATABASE scratch;"
        ))
        .unwrap();
        assert_eq!(user_version(&conn).unwrap(), version);
        drop(conn);
        std::fs::remove_file(&scratch).unwrap();
    }

    #[test]
    fn an_older_database_is_migrated_and_its_tokens_and_marks_kept() {
        for version in 1..current_version() {
            let dir = tempfile::tempdir().unwrap();
            let paths = Paths::in_dir(dir.path().join("tw"));
            ensure_private_dir(&paths.data_dir, "the data directory").unwrap();
            let now = from_unix_millis(1_700_000_000_000);
            let tokens = old_tokens(now);
            old_database(&paths, version, &tokens, now);
            let store =
                SqliteStore::open(&paths, KeySource::Key(StoreKey::from_bytes([9; 32]))).unwrap();
            let conn = Connection::open(paths.database()).unwrap();
            assert_eq!(user_version(&conn).unwrap(), current_version());
            let read = store.read("p").unwrap().unwrap();
            assert_eq!(read.tokens, tokens, "schema {version}");
            assert_eq!(read.state, TokenState::Valid);
            // A mark made before causes were stored reads back with its reason and no cause.
            let gone = store.read("gone").unwrap().unwrap();
            assert_eq!(gone.tokens, tokens);
            assert_eq!(
                gone.state,
                TokenState::LoginRequired {
                    reason: "invalid_grant: the refresh token was revoked".into(),
                    cause: None,
                },
                "schema {version}"
            );
            assert_eq!(gone.state.cause(), None);
            assert_eq!(
                gone.last_error.as_deref(),
                Some("the provider revoked the session")
            );
            assert!(gone.refresh_failure_transient);
            // New versions continue the old sequence; new marks keep their cause.
            let v = store.replace("p", &tokens).unwrap();
            assert!(v > gone.version);
            let mark = TokenState::LoginRequired {
                reason: "invalid_grant".into(),
                cause: Some(Cause::RefreshTokenRevoked),
            };
            assert!(store.mark_state("p", v, mark.clone(), None, false).unwrap());
            assert_eq!(store.read("p").unwrap().unwrap().state, mark);
            store
                .append_event(&Event::new(now, "p", "refresh", "ok"))
                .unwrap();
            assert_eq!(store.recent_events(now, None, 10).unwrap().len(), 1);
        }
    }
}
