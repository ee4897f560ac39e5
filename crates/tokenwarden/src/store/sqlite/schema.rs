//! The SQLite schema and its migrations.
//!
//! `PRAGMA user_version` counts the migrations applied. Opening applies the missing ones in one
//! `BEGIN IMMEDIATE` transaction (re-reading the version inside it, so two processes opening at
//! once migrate once). A database whose version is newer than this build knows is refused: an
//! older tokenwarden must not write a schema it does not understand. Migrations are only ever
//! appended to [`MIGRATIONS`] (their SQL is in the `migrations` module); a released step is never
//! edited.

pub(crate) use super::migrations::MIGRATIONS;
use crate::error::Error;
use crate::token::to_unix_millis;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use std::time::SystemTime;

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
        DiscoveryKind, Event, KeySource, LastError, Operation, Outcome, SqliteStore, Store,
        StoreKey, TokenState,
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
            // Back to what schema 4 had: no pending revocations, no refresh token horizon, no
            // discovery documents.
            conn.execute_batch(
                "DROP TABLE pending_revocations; \
                 ALTER TABLE tokens DROP COLUMN refresh_token_expires_at; \
                 DROP TABLE discovery;",
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
        assert_eq!(
            store
                .read_discovery("https://as.example", DiscoveryKind::Metadata)
                .unwrap(),
            None
        );
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
