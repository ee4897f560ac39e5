//! The fleet store's schema and its versioned migrations.
//!
//! `tw_schema` holds one row: how many of [`MIGRATIONS`] have been applied. Migrating runs in
//! one transaction under a transaction-level advisory lock, re-reading the version inside it,
//! so machines that migrate at once migrate once. A schema newer than this build knows is
//! refused: an older tokenwarden must not write a schema it does not understand. Migrations
//! are only ever appended; a released step is never edited.
//!
//! The first migration also stores the key check (`tw_meta`), sealed with the key of the
//! machine that migrates: the fleet key. A machine with another key is then told so instead of
//! reading rows it cannot open.
//!
//! Every change to a token row's version or state (and every delete) is announced by a trigger
//! with `NOTIFY tokenwarden, '<version> <profile>'`, which running processes on other machines
//! hear (`super::listen`).

use super::records::LOCK_NAMESPACE;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

/// The channel the trigger notifies.
pub(super) const CHANNEL: &str = "tokenwarden";

/// Migration 1: tokens (with the refresh lease), the version sequence, breaker records, the
/// event log (each record names its host), meta (the key check), and the change trigger.
const V1: &str = "
CREATE SEQUENCE tw_version;
CREATE TABLE tw_tokens (
    profile text PRIMARY KEY,
    version bigint NOT NULL,
    access_token bytea NOT NULL,
    refresh_token bytea,
    id_token bytea,
    token_type text NOT NULL,
    expires_at bigint,
    scopes text NOT NULL,
    obtained_at bigint NOT NULL,
    refresh_token_obtained_at bigint,
    subject text,
    issuer text,
    state text NOT NULL CHECK (state IN ('valid', 'rejected', 'login_required')),
    state_reason text,
    state_cause text,
    last_error text,
    last_error_cause text,
    last_refresh_at bigint,
    refresh_failure_transient boolean NOT NULL DEFAULT false,
    updated_at bigint NOT NULL,
    in_flight_by text,
    in_flight_server timestamptz,
    in_flight_until bigint
);
CREATE TABLE tw_breaker (
    key text PRIMARY KEY,
    consecutive_failures bigint NOT NULL,
    open_until bigint,
    last_retry_after_ms bigint,
    updated_at bigint NOT NULL,
    seq bigint NOT NULL
);
CREATE TABLE tw_events (
    id bigserial PRIMARY KEY,
    at bigint NOT NULL,
    host text,
    profile text NOT NULL,
    operation text NOT NULL,
    outcome text NOT NULL,
    status integer,
    oauth_error text,
    request_id text,
    correlation_id text,
    duration_ms bigint,
    attempt integer NOT NULL,
    delivery text
);
CREATE INDEX tw_events_at ON tw_events (at);
CREATE TABLE tw_meta (
    key text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE FUNCTION tw_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tokenwarden', '0 ' || OLD.profile);
    ELSIF TG_OP = 'INSERT' OR NEW.version <> OLD.version OR NEW.state <> OLD.state THEN
        PERFORM pg_notify('tokenwarden', NEW.version || ' ' || NEW.profile);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tw_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON tw_tokens
    FOR EACH ROW EXECUTE FUNCTION tw_notify();
";

/// Migration 2, what the local store's migrations 5 and 6 brought:
/// - `tw_pending_revocations`: revocations a logout could not make yet
///   ([`crate::store::revocation`]): the token sealed (bound to its profile, hint and the
///   version of the tokens logged out), when the logout happened, the attempts and the last
///   error (a message and a cause name).
/// - `tw_tokens.refresh_token_expires_at`: when the refresh token stops working (Unix
///   milliseconds), when known; part of the seals' associated data when set, as locally.
///
/// The event log needs no change for the `expiry_warning` operation: `tw_events` has no
/// `CHECK` on operation or outcome names (a newer build's names are read as unknown ones).
const V2: &str = "
ALTER TABLE tw_tokens ADD COLUMN refresh_token_expires_at bigint;
CREATE TABLE tw_pending_revocations (
    id bigserial PRIMARY KEY,
    profile text NOT NULL,
    version bigint NOT NULL,
    token_type_hint text NOT NULL CHECK (token_type_hint IN ('refresh_token', 'access_token')),
    token bytea NOT NULL,
    since bigint NOT NULL,
    attempts bigint NOT NULL,
    last_error text,
    last_error_cause text,
    last_attempt_at bigint
);
CREATE INDEX tw_pending_revocations_profile ON tw_pending_revocations (profile);
";

/// Migration 3: discovery documents, kept for every machine of the fleet
/// ([`crate::store::StoredDiscovery`]): the issuer as configured, where the document came from
/// and which it is, the JSON sealed with the fleet key (bound to the other columns), when it
/// was fetched and until when it may be used (Unix milliseconds).
const V3: &str = "
CREATE TABLE tw_discovery (
    issuer text PRIMARY KEY,
    source text NOT NULL,
    document text NOT NULL,
    body bytea NOT NULL,
    fetched_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
";

/// Migration 4: an issuer's key set (JWKS) kept beside its metadata
/// ([`crate::store::DiscoveryKind`]): the primary key of `tw_discovery` was the issuer alone,
/// so a second document per issuer needs the kind in the key. The rows there are metadata
/// (their seals still open).
const V4: &str = "
ALTER TABLE tw_discovery ADD COLUMN kind text NOT NULL DEFAULT 'metadata'
    CHECK (kind IN ('metadata', 'key_set'));
ALTER TABLE tw_discovery ALTER COLUMN kind DROP DEFAULT;
ALTER TABLE tw_discovery DROP CONSTRAINT tw_discovery_pkey;
ALTER TABLE tw_discovery ADD PRIMARY KEY (issuer, kind);
";

/// Every migration, in order. `tw_schema.version` = how many have been applied.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The schema version this build writes.
pub(super) fn current_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// How migrating went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Migrated {
    /// Nothing to do: the schema was current.
    Current(i32),
    /// Applied the migrations from the first version to the second.
    Applied { from: i32, to: i32 },
    /// The schema is newer than this build (the version found).
    Newer(i32),
}

/// Brings the schema to the current version in one transaction; `key_check` is stored when the
/// schema is created.
pub(super) async fn migrate(
    client: &mut Client,
    key_check: &[u8],
) -> Result<Migrated, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.query_typed(
        "SELECT pg_advisory_xact_lock($1, 0)",
        &[(&LOCK_NAMESPACE, Type::INT4)],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tw_schema (id integer PRIMARY KEY CHECK (id = 1), \
         version integer NOT NULL)",
    )
    .await?;
    let found: i32 = tx
        .query_typed("SELECT version FROM tw_schema WHERE id = 1", &[])
        .await?
        .first()
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
    let target = current_version();
    if found > target {
        return Ok(Migrated::Newer(found));
    }
    if found == target {
        return Ok(Migrated::Current(found));
    }
    for (index, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(step).await?;
        if index == 0 {
            let created = crate::token::to_unix_millis(std::time::SystemTime::now())
                .to_string()
                .into_bytes();
            tx.query_typed(
                "INSERT INTO tw_meta (key, value) VALUES ('key_check', $1), ('created_at', $2)",
                &[(&key_check, Type::BYTEA), (&created, Type::BYTEA)],
            )
            .await?;
        }
    }
    tx.query_typed(
        "INSERT INTO tw_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = $1",
        &[(&target, Type::INT4)],
    )
    .await?;
    tx.commit().await?;
    Ok(Migrated::Applied {
        from: found,
        to: target,
    })
}
