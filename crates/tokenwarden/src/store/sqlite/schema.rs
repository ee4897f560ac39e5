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

/// Migration 4: typed records.
///
/// - The event log admits only the stable names of [`crate::store::Operation`] and
///   [`crate::store::Outcome`] (a `CHECK`; a new name needs a new migration). Older builds
///   wrote only these names; a row with any other (written by hand) is dropped on the way, as
///   `INSERT OR IGNORE` skips the rows a `CHECK` refuses. Row ids are kept.
/// - A failed exchange's record says whether its request reached the server (`delivery`,
///   [`crate::error::Delivery::as_str`]; NULL for successes, operations without an exchange,
///   and the records written before it existed).
/// - The last refresh error is a message and a cause ([`crate::error::Cause::as_str`], NULL
///   when none was named). Older builds stored a rendered report (`error: <message>` and lines
///   of evidence): its message is kept, the evidence is in the event log.
/// - A login-required mark made before causes were stored (migration 3) whose reason is the
///   provider's `invalid_grant` gets the cause the session names for such marks: a possibly
///   lost rotation when the in-flight flag is set, else a revoked refresh token.
const V4: &str = "
CREATE TABLE events_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    profile TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('login', 'code_exchange', 'refresh',
        'client_credentials', 'device_authorization', 'device_poll', 'revocation', 'invalidate',
        'resource', 'lock_wait', 'logout')),
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'ok_superseded', 'stale', 'unauthorized',
        'timeout', 'retried', 'usage', 'config', 'login_required', 'provider_unavailable',
        'session_rejected', 'store', 'protocol', 'other')),
    status INTEGER,
    oauth_error TEXT,
    request_id TEXT,
    correlation_id TEXT,
    duration_ms INTEGER,
    attempt INTEGER NOT NULL,
    delivery TEXT CHECK (delivery IN ('not_sent', 'maybe_processed', 'answered'))
) STRICT;
INSERT OR IGNORE INTO events_v4 (id, at, profile, operation, outcome, status, oauth_error,
    request_id, correlation_id, duration_ms, attempt)
    SELECT id, at, profile, operation, outcome, status, oauth_error, request_id, correlation_id,
    duration_ms, attempt FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE INDEX events_at ON events (at);
ALTER TABLE tokens ADD COLUMN last_error_cause TEXT;
UPDATE tokens SET last_error = substr(last_error, 8, CASE WHEN instr(last_error, char(10)) > 0
    THEN instr(last_error, char(10)) - 8 ELSE length(last_error) END)
    WHERE substr(last_error, 1, 7) = 'error: ';
UPDATE tokens SET state_cause = CASE WHEN refresh_failure_transient != 0
    THEN 'possibly_lost_rotation' ELSE 'refresh_token_revoked' END
    WHERE state = 'login_required' AND state_cause IS NULL
    AND substr(state_reason, 1, 13) = 'invalid_grant';
";

/// Migration 5: revocations a logout could not make yet ([`crate::store::revocation`]): the
/// token sealed (bound to its profile, hint and the version of the tokens logged out), when the
/// logout happened, the attempts and the last error (a message and a cause name).
const V5: &str = "
CREATE TABLE pending_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    version INTEGER NOT NULL,
    token_type_hint TEXT NOT NULL CHECK (token_type_hint IN ('refresh_token', 'access_token')),
    token BLOB NOT NULL,
    since INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    last_error_cause TEXT,
    last_attempt_at INTEGER
) STRICT;
CREATE INDEX pending_revocations_profile ON pending_revocations (profile);
";

/// Migration 6: the refresh token's horizon, and its warning in the log.
///
/// - `refresh_token_expires_at`: when the refresh token stops working (Unix milliseconds), when
///   known; NULL for the tokens stored before (their horizon is unknown).
/// - The log admits the operation `expiry_warning` (a warning that a new login will soon be
///   needed was shown): the table is rebuilt with the longer `CHECK`, rows and ids kept.
const V6: &str = "
ALTER TABLE tokens ADD COLUMN refresh_token_expires_at INTEGER;
CREATE TABLE events_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    profile TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('login', 'code_exchange', 'refresh',
        'client_credentials', 'device_authorization', 'device_poll', 'revocation', 'invalidate',
        'resource', 'lock_wait', 'logout', 'expiry_warning')),
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'ok_superseded', 'stale', 'unauthorized',
        'timeout', 'retried', 'usage', 'config', 'login_required', 'provider_unavailable',
        'session_rejected', 'store', 'protocol', 'other')),
    status INTEGER,
    oauth_error TEXT,
    request_id TEXT,
    correlation_id TEXT,
    duration_ms INTEGER,
    attempt INTEGER NOT NULL,
    delivery TEXT CHECK (delivery IN ('not_sent', 'maybe_processed', 'answered'))
) STRICT;
INSERT INTO events_v6 (id, at, profile, operation, outcome, status, oauth_error, request_id,
    correlation_id, duration_ms, attempt, delivery)
    SELECT id, at, profile, operation, outcome, status, oauth_error, request_id, correlation_id,
    duration_ms, attempt, delivery FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;
CREATE INDEX events_at ON events (at);
";

/// Every migration, in order. `user_version` = how many have been applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The `meta` key of the Argon2id parameters of a passphrase-keyed store
/// ([`crate::store::kdf::KdfParams::encode`]).
pub(crate) const KDF_META_KEY: &str = "kdf";

/// Fills `meta` of a new database: the key check, the creation time, and for a
/// passphrase-keyed store its Argon2id parameters.
pub(crate) fn init_meta(
    conn: &Connection,
    key_check: &[u8],
    kdf: Option<&str>,
    now: SystemTime,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('key_check', ?1), ('created_at', ?2)",
        params![key_check, to_unix_millis(now).to_string().into_bytes()],
    )?;
    if let Some(kdf) = kdf {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![KDF_META_KEY, kdf.as_bytes()],
        )?;
    }
    Ok(())
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
    use super::super::row;
    use super::*;
    use crate::error::Cause;
    use crate::error::{ErrorKind, OAuthErrorCode};
    use crate::paths::Paths;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::store::crypto::Sealer;
    use crate::store::perms::{create_private_file, ensure_private_dir};
    use crate::store::{
        Event, KeySource, LastError, Operation, Outcome, SqliteStore, Store, StoreKey, TokenState,
    };
    use crate::token::{TokenSet, from_unix_millis};

    #[test]
    fn a_schema_4_database_keeps_its_tokens_and_gains_pending_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path().join("tw"));
        ensure_private_dir(&paths.data_dir, "the data directory").unwrap();
        let now = from_unix_millis(1_700_000_000_000);
        let tokens = old_tokens(now);
        let sealer = Sealer::new(&StoreKey::from_bytes([9; 32]));
        {
            drop(create_private_file(&paths.database()).unwrap());
            let mut conn = Connection::open(paths.database()).unwrap();
            let check = sealer.key_check().unwrap();
            migrate(&mut conn, |tx| init_meta(tx, &check, None, now)).unwrap();
            let tx = conn.transaction().unwrap();
            let v = row::next_version(&tx).unwrap();
            row::put(&tx, &sealer, "p", v, &tokens, None, now).unwrap();
            tx.commit().unwrap();
            // Back to what schema 4 had: no pending revocations, no refresh token horizon.
            conn.execute_batch(
                "DROP TABLE pending_revocations; \
                 ALTER TABLE tokens DROP COLUMN refresh_token_expires_at;",
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 4).unwrap();
        }
        let store =
            SqliteStore::open(&paths, KeySource::Key(StoreKey::from_bytes([9; 32]))).unwrap();
        let conn = Connection::open(paths.database()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), current_version());
        assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens);
        assert!(store.pending_revocations("p").unwrap().is_empty());
    }

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

    #[test]
    fn the_log_admits_every_name_this_build_writes_and_no_other() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, |_| Ok(())).unwrap();
        let at = from_unix_millis(1_700_000_000_000);
        let mut written = Vec::new();
        for op in Operation::ALL {
            written.push(Event::new(at, "p", op, Outcome::Ok));
        }
        for outcome in Outcome::ALL {
            let mut e = Event::new(at, "p", Operation::Refresh, outcome);
            e.oauth_error = Some(OAuthErrorCode::parse("a_code_from_elsewhere"));
            written.push(e);
        }
        let keep = crate::store::Retention::default();
        for e in &written {
            row::append_event(&conn, e, &keep).unwrap();
        }
        let read = row::recent_events(&conn, at, None, written.len()).unwrap();
        assert_eq!(read, written);
        let refused = conn.execute(
            "INSERT INTO events (at, profile, operation, outcome, attempt) \
             VALUES (0, 'p', 'refresh', 'made_up', 1)",
            [],
        );
        assert!(refused.is_err(), "an unknown outcome is refused");
    }

    /// The token columns of schemas 1 to 3 but the cause column (schema 3's): all an older
    /// tokenwarden wrote.
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
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        }
    }

    /// What an older tokenwarden (schema `version`) left behind in `paths`: its tables, made by
    /// its own migrations, holding profile `p` (valid, its last refresh failed: the error as
    /// those builds rendered it) and profile `gone` (marked login-required, with a reason and
    /// the in-flight flag, as those builds marked it); from schema 2, two log records, and in
    /// schemas 2 and 3 (which checked no names) one with a name no build wrote. The rows are sealed by this build in a scratch database at
    /// the current schema, then copied column by column into the columns the old schema has.
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
            tx.execute(
                "UPDATE tokens SET last_error = ?1 WHERE profile = 'p'",
                [
                    "error: the token endpoint answered 503 Service Unavailable\n  \
                  http status: 503\n  hint: try again later",
                ],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        drop(create_private_file(&paths.database()).unwrap());
        let mut conn = Connection::open(paths.database()).unwrap();
        let check = sealer.key_check().unwrap();
        migrate_to(&mut conn, version, |tx| init_meta(tx, &check, None, now)).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS scratch", [scratch.to_str().unwrap()])
            .unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO main.tokens ({OLD_TOKEN_COLUMNS}) \
             SELECT {OLD_TOKEN_COLUMNS} FROM scratch.tokens; \
             UPDATE main.sequence SET value = (SELECT value FROM scratch.sequence); \
             DETACH DATABASE scratch;"
        ))
        .unwrap();
        if version >= 2 {
            conn.execute_batch(
                "INSERT INTO events (at, profile, operation, outcome, status, oauth_error, \
                 attempt) VALUES \
                 (1700000000000, 'p', 'refresh', 'provider_unavailable', 503, NULL, 2), \
                 (1700000001000, 'gone', 'refresh', 'login_required', 400, 'invalid_grant', 1);",
            )
            .unwrap();
        }
        if (2..4).contains(&version) {
            // Schemas 2 and 3 checked no names: a record no build wrote could be there.
            conn.execute_batch(
                "INSERT INTO events (at, profile, operation, outcome, status, oauth_error, \
                 attempt) VALUES (1700000002000, 'p', 'made_up', 'ok', NULL, NULL, 1);",
            )
            .unwrap();
        }
        assert_eq!(user_version(&conn).unwrap(), version);
        drop(conn);
        std::fs::remove_file(&scratch).unwrap();
    }

    #[test]
    fn schema_5_gains_the_refresh_token_horizon_and_admits_the_expiry_warning() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 5, |_| Ok(())).unwrap();
        conn.execute_batch(
            "INSERT INTO events (at, profile, operation, outcome, attempt, delivery) \
             VALUES (1700000000000, 'p', 'refresh', 'provider_unavailable', 2, 'maybe_processed');",
        )
        .unwrap();
        let warning = "INSERT INTO events (at, profile, operation, outcome, attempt) \
             VALUES (1700000001000, 'p', 'expiry_warning', 'ok', 1)";
        assert!(
            conn.execute(warning, []).is_err(),
            "schema 5 does not know it"
        );
        migrate(&mut conn, |_| panic!("not new")).unwrap();
        let kept: (i64, String, Option<String>) = conn
            .query_row("SELECT id, operation, delivery FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(kept, (1, "refresh".into(), Some("maybe_processed".into())));
        conn.execute(warning, []).unwrap();
        conn.prepare("SELECT refresh_token_expires_at FROM tokens")
            .unwrap();
    }

    #[test]
    fn an_older_database_is_migrated_and_its_tokens_and_marks_kept() {
        // The fixtures are what builds before schema 4 wrote (rendered reports, marks without
        // causes, unchecked event names); schema 4 and later are covered below.
        for version in 1..4 {
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
            // A rendered report reads as its message; the evidence is in the event log.
            assert_eq!(
                read.last_error,
                Some(LastError::new(
                    "the token endpoint answered 503 Service Unavailable",
                    None
                )),
                "schema {version}"
            );
            // A mark made before causes were stored gets the one the session names for it
            // (the in-flight flag is set: a possibly lost rotation), and keeps its reason.
            let gone = store.read("gone").unwrap().unwrap();
            assert_eq!(gone.tokens, tokens);
            assert_eq!(
                gone.state,
                TokenState::LoginRequired {
                    reason: "invalid_grant: the refresh token was revoked".into(),
                    cause: Some(Cause::PossiblyLostRotation),
                },
                "schema {version}"
            );
            assert_eq!(
                gone.last_error,
                Some(LastError::new("the provider revoked the session", None))
            );
            assert!(gone.refresh_failure_transient);
            // The log's records read back typed; a name no build wrote is gone.
            let old = store.recent_events(from_unix_millis(0), None, 10).unwrap();
            let seen: Vec<_> = old
                .iter()
                .map(|e| (e.operation, e.outcome, e.oauth_error.clone(), e.attempt))
                .collect();
            let expected = if version >= 2 {
                vec![
                    (
                        Operation::Refresh,
                        Outcome::Failed(ErrorKind::ProviderUnavailable),
                        None,
                        2,
                    ),
                    (
                        Operation::Refresh,
                        Outcome::Failed(ErrorKind::LoginRequired),
                        Some(OAuthErrorCode::InvalidGrant),
                        1,
                    ),
                ]
            } else {
                Vec::new()
            };
            assert_eq!(seen, expected, "schema {version}");
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
                .append_event(&Event::new(now, "p", Operation::Refresh, Outcome::Ok))
                .unwrap();
            assert_eq!(
                store.recent_events(now, None, 10).unwrap().len(),
                expected.len() + 1
            );
        }
    }
}
