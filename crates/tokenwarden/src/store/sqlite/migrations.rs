//! The SQL of each migration of the SQLite schema, in order ([`MIGRATIONS`]); the `schema`
//! module applies them. Steps are only ever appended; a released step is never edited.

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

/// Migration 7: discovery documents, kept for every process of the user
/// ([`crate::store::StoredDiscovery`]): the issuer as configured, where the document came from
/// and which it is, the JSON sealed (bound to the other columns: public, but whoever cannot
/// seal must not be able to point clients at another token endpoint), when it was fetched and
/// until when it may be used (Unix milliseconds).
const V7: &str = "
CREATE TABLE discovery (
    issuer TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL,
    document TEXT NOT NULL,
    body BLOB NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
";

/// Migration 8: an issuer's key set (JWKS) kept beside its metadata
/// ([`crate::store::DiscoveryKind`]): the primary key of `discovery` was the issuer alone, so
/// a second document per issuer needs the kind in the key. SQLite cannot change a primary key
/// in place: the table is rebuilt, its rows kept as metadata (their seals still open).
const V8: &str = "
CREATE TABLE discovery_v8 (
    issuer TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('metadata', 'key_set')),
    source TEXT NOT NULL,
    document TEXT NOT NULL,
    body BLOB NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, kind)
) STRICT;
INSERT INTO discovery_v8 (issuer, kind, source, document, body, fetched_at, expires_at)
    SELECT issuer, 'metadata', source, document, body, fetched_at, expires_at FROM discovery;
DROP TABLE discovery;
ALTER TABLE discovery_v8 RENAME TO discovery;
";

/// Every migration, in order. `user_version` = how many have been applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];
