//! The fleet store's statements: token rows sealed and opened (the same sealed columns and
//! associated data as the SQLite store: [`crate::store::sqlite`]'s row codec), breaker records,
//! event records. Every statement is one round trip (`query_typed`: no separate prepare).
//!
//! Times are Unix milliseconds, as in the SQLite store. A token row also carries the lease of a
//! refresh in flight (`in_flight_by`, `in_flight_server`, `in_flight_until`; see the module docs
//! of [`super`]), which never leaves this module except as [`Lease`].

use super::conn::OpError;
use crate::error::{Cause, Delivery, OAuthErrorCode};
use crate::store::crypto::Sealer;
use crate::store::sqlite::row::{self as codec, Damaged, RawRow};
use crate::store::{
    BreakerRecord, Event, LastError, Operation, Outcome, StoredTokens, TokenState, Version,
};
use crate::token::{TokenSet, from_unix_millis, to_unix_millis};
use std::time::{Duration, SystemTime};
use tokio_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};

/// A query parameter with its type.
type P<'a> = (&'a (dyn ToSql + Sync), Type);

/// The token columns, in the order [`PgRow::from_row`] reads them.
pub(super) const TOKEN_COLUMNS: &str = "t.profile, t.version, t.access_token, t.refresh_token, \
     t.id_token, t.token_type, t.expires_at, t.scopes, t.obtained_at, t.refresh_token_obtained_at, \
     t.subject, t.issuer, t.state, t.state_reason, t.state_cause, t.last_error, t.last_error_cause, \
     t.last_refresh_at, t.refresh_failure_transient, t.updated_at";

/// A token row as stored (secrets still sealed). Also what this machine keeps of the last row
/// it saw (`super::cache`), so it serialises, the sealed columns as base64.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct PgRow {
    pub(super) profile: String,
    pub(super) version: i64,
    #[serde(with = "b64")]
    access: Vec<u8>,
    #[serde(with = "b64_opt")]
    refresh: Option<Vec<u8>>,
    #[serde(with = "b64_opt")]
    id: Option<Vec<u8>>,
    token_type: String,
    expires_at: Option<i64>,
    scopes: String,
    obtained_at: i64,
    refresh_token_obtained_at: Option<i64>,
    subject: Option<String>,
    issuer: Option<String>,
    pub(super) state: String,
    state_reason: Option<String>,
    state_cause: Option<String>,
    last_error: Option<String>,
    last_error_cause: Option<String>,
    last_refresh_at: Option<i64>,
    transient: bool,
    pub(super) updated_at: i64,
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = serde::Deserialize::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl PgRow {
    /// Reads the [`TOKEN_COLUMNS`] of `r` starting at column `at`; `None` when the row has no
    /// tokens (a left join that found none).
    pub(super) fn from_row(
        r: &tokio_postgres::Row,
        at: usize,
    ) -> Result<Option<PgRow>, tokio_postgres::Error> {
        let Some(profile) = r.try_get::<_, Option<String>>(at)? else {
            return Ok(None);
        };
        Ok(Some(PgRow {
            profile,
            version: r.try_get(at + 1)?,
            access: r.try_get(at + 2)?,
            refresh: r.try_get(at + 3)?,
            id: r.try_get(at + 4)?,
            token_type: r.try_get(at + 5)?,
            expires_at: r.try_get(at + 6)?,
            scopes: r.try_get(at + 7)?,
            obtained_at: r.try_get(at + 8)?,
            refresh_token_obtained_at: r.try_get(at + 9)?,
            subject: r.try_get(at + 10)?,
            issuer: r.try_get(at + 11)?,
            state: r.try_get(at + 12)?,
            state_reason: r.try_get(at + 13)?,
            state_cause: r.try_get(at + 14)?,
            last_error: r.try_get(at + 15)?,
            last_error_cause: r.try_get(at + 16)?,
            last_refresh_at: r.try_get(at + 17)?,
            transient: r.try_get(at + 18)?,
            updated_at: r.try_get(at + 19)?,
        }))
    }

    /// Opens the row: the secrets are unsealed and every field checked (the SQLite store's
    /// codec, so both stores read a row the same way).
    pub(super) fn open(&self, sealer: &Sealer) -> Result<StoredTokens, Damaged> {
        let raw = RawRow {
            profile: self.profile.clone(),
            version: self.version,
            access: self.access.clone(),
            refresh: self.refresh.clone(),
            id: self.id.clone(),
            token_type: self.token_type.clone(),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            obtained_at: self.obtained_at,
            refresh_token_obtained_at: self.refresh_token_obtained_at,
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            state: self.state.clone(),
            state_reason: self.state_reason.clone(),
            state_cause: self.state_cause.clone(),
            last_error: self.last_error.clone(),
            last_error_cause: self.last_error_cause.clone(),
            last_refresh_at: self.last_refresh_at,
            transient: i64::from(self.transient),
            updated_at: self.updated_at,
        };
        codec::decode(raw, sealer)
    }
}

/// The row of `profile`, if any.
pub(super) async fn read(
    c: &impl GenericClient,
    profile: &str,
) -> Result<Option<PgRow>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            &format!("SELECT {TOKEN_COLUMNS} FROM tw_tokens t WHERE t.profile = $1"),
            &[(&profile, Type::TEXT)],
        )
        .await?;
    match rows.first() {
        Some(r) => PgRow::from_row(r, 0),
        None => Ok(None),
    }
}

/// What the first statement of a process reads besides the row: the schema version and the
/// key check, so that a one-shot caller needs one round trip.
pub(super) struct Checked {
    pub(super) schema: Option<i32>,
    pub(super) key_check: Option<Vec<u8>>,
    pub(super) row: Option<PgRow>,
}

/// The schema version, the key check and the row of `profile`, in one statement.
pub(super) async fn read_checked(
    c: &impl GenericClient,
    profile: &str,
) -> Result<Checked, tokio_postgres::Error> {
    let r = c
        .query_typed_one(
            &format!(
                "SELECT (SELECT version FROM tw_schema WHERE id = 1), \
                 (SELECT value FROM tw_meta WHERE key = 'key_check'), {TOKEN_COLUMNS} \
                 FROM (SELECT 1) AS one LEFT JOIN tw_tokens t ON t.profile = $1"
            ),
            &[(&profile, Type::TEXT)],
        )
        .await?;
    Ok(Checked {
        schema: r.try_get(0)?,
        key_check: r.try_get(1)?,
        row: PgRow::from_row(&r, 2)?,
    })
}

/// The result of a conditional write.
pub(super) enum Written {
    /// Written at this version.
    Version(Version),
    /// The stored version was another: what is stored now.
    Conflict(Option<Box<PgRow>>),
}

/// A new token row; its values are parameters 1 to 14 of [`write`].
const INSERT: &str = "INSERT INTO tw_tokens AS t (profile, version, access_token, refresh_token, \
     id_token, token_type, expires_at, scopes, obtained_at, refresh_token_obtained_at, subject, \
     issuer, state, last_refresh_at, refresh_failure_transient, updated_at) VALUES ($1, $2, $3, \
     $4, $5, $6, $7, $8, $9, $10, $11, $12, 'valid', $13, false, $14)";

/// A token row's new values (parameters 2 to 14 of [`write`]), marks and lease cleared.
const SET: &str = "version = $2, access_token = $3, refresh_token = $4, id_token = $5, \
     token_type = $6, expires_at = $7, scopes = $8, obtained_at = $9, \
     refresh_token_obtained_at = $10, subject = $11, issuer = $12, state = 'valid', \
     state_reason = NULL, state_cause = NULL, last_error = NULL, last_error_cause = NULL, \
     last_refresh_at = $13, refresh_failure_transient = false, updated_at = $14, \
     in_flight_by = NULL, in_flight_server = NULL, in_flight_until = NULL";

/// Writes `tokens` as the row of `profile`, state valid, if the stored version is `expected`
/// (`Some(Version::NONE)`: no row; `None`: whatever is stored), at `version` (from
/// [`next_version`]: it is part of the seals' associated data). One statement: the version
/// check and the write are atomic.
pub(super) async fn write(
    c: &impl GenericClient,
    sealer: &Sealer,
    profile: &str,
    expected: Option<Version>,
    version: i64,
    tokens: &TokenSet,
    now: SystemTime,
) -> Result<Written, OpError> {
    let (access, refresh, id) = codec::seal_secrets(sealer, profile, version, tokens)?;
    let scopes = serde_json::Value::from(tokens.scopes.clone()).to_string();
    let last_refresh_at = match expected {
        Some(v) if v != Version::NONE => Some(to_unix_millis(now)),
        _ => None,
    };
    let expires_at = tokens.expires_at.map(to_unix_millis);
    let obtained_at = to_unix_millis(tokens.obtained_at);
    let rt_obtained = tokens.refresh_token_obtained_at.map(to_unix_millis);
    let now_ms = to_unix_millis(now);
    let expected_raw = expected.map(Version::get).unwrap_or(0);
    let sql = match expected {
        Some(Version::NONE) => {
            format!("{INSERT} ON CONFLICT (profile) DO NOTHING RETURNING t.version")
        }
        Some(_) => format!(
            "UPDATE tw_tokens AS t SET {SET} WHERE t.profile = $1 AND t.version = $15 \
             RETURNING t.version"
        ),
        None => format!("{INSERT} ON CONFLICT (profile) DO UPDATE SET {SET} RETURNING t.version"),
    };
    let params: &[P<'_>] = &[
        (&profile, Type::TEXT),
        (&version, Type::INT8),
        (&access, Type::BYTEA),
        (&refresh, Type::BYTEA),
        (&id, Type::BYTEA),
        (&tokens.token_type, Type::TEXT),
        (&expires_at, Type::INT8),
        (&scopes, Type::TEXT),
        (&obtained_at, Type::INT8),
        (&rt_obtained, Type::INT8),
        (&tokens.subject, Type::TEXT),
        (&tokens.issuer, Type::TEXT),
        (&last_refresh_at, Type::INT8),
        (&now_ms, Type::INT8),
        (&expected_raw, Type::INT8),
    ];
    let rows = c.query_typed(&sql, params).await?;
    if !rows.is_empty() {
        return Ok(Written::Version(Version::from_raw(version)));
    }
    Ok(Written::Conflict(read(c, profile).await?.map(Box::new)))
}

/// The next version from the store-wide sequence (versions are never reused).
pub(super) async fn next_version(c: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    c.query_typed_one("SELECT nextval('tw_version')", &[])
        .await?
        .try_get(0)
}

/// Deletes the row of `profile`.
pub(super) async fn delete(
    c: &impl GenericClient,
    profile: &str,
) -> Result<bool, tokio_postgres::Error> {
    let n = c
        .execute_typed(
            "DELETE FROM tw_tokens WHERE profile = $1",
            &[(&profile, Type::TEXT)],
        )
        .await?;
    Ok(n > 0)
}

/// Every profile with a row, sorted.
pub(super) async fn list(c: &impl GenericClient) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = c
        .query_typed("SELECT profile FROM tw_tokens ORDER BY profile", &[])
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Marks the token of `version` rejected (a login-required mark is kept).
pub(super) async fn mark_rejected(
    c: &impl GenericClient,
    profile: &str,
    version: Version,
    now: SystemTime,
) -> Result<bool, tokio_postgres::Error> {
    let (v, now) = (version.get(), to_unix_millis(now));
    let n = c
        .execute_typed(
            "UPDATE tw_tokens SET state = CASE WHEN state = 'login_required' THEN state \
             ELSE 'rejected' END, updated_at = $3 WHERE profile = $1 AND version = $2",
            &[(&profile, Type::TEXT), (&v, Type::INT8), (&now, Type::INT8)],
        )
        .await?;
    Ok(n > 0)
}

/// Records a refresh attempt's outcome (state, error, transient flag); ends any lease.
pub(super) async fn mark_state(
    c: &impl GenericClient,
    profile: &str,
    version: Version,
    state: &TokenState,
    last_error: Option<&LastError>,
    transient: bool,
    now: SystemTime,
) -> Result<bool, tokio_postgres::Error> {
    let (v, now) = (version.get(), to_unix_millis(now));
    let (name, reason, cause) = (
        state.as_str(),
        state.reason(),
        state.cause().map(Cause::as_str),
    );
    let message = last_error.map(|e| e.message.as_str());
    let error_cause = last_error.and_then(|e| e.cause).map(Cause::as_str);
    let n = c
        .execute_typed(
            "UPDATE tw_tokens SET state = $3, state_reason = $4, state_cause = $5, \
             last_error = $6, last_error_cause = $7, refresh_failure_transient = $8, \
             last_refresh_at = $9, updated_at = $9, in_flight_by = NULL, in_flight_server = NULL, \
             in_flight_until = NULL WHERE profile = $1 AND version = $2",
            &[
                (&profile, Type::TEXT),
                (&v, Type::INT8),
                (&name, Type::TEXT),
                (&reason, Type::TEXT),
                (&cause, Type::TEXT),
                (&message, Type::TEXT),
                (&error_cause, Type::TEXT),
                (&transient, Type::BOOL),
                (&now, Type::INT8),
            ],
        )
        .await?;
    Ok(n > 0)
}

/// Sets or clears the in-flight flag of `version`; setting it also takes the lease (who, on
/// which server start, until when), clearing it ends the lease.
pub(super) async fn mark_in_flight(
    c: &impl GenericClient,
    profile: &str,
    version: Version,
    in_flight: bool,
    holder: &str,
    lease_until: SystemTime,
    now: SystemTime,
) -> Result<bool, tokio_postgres::Error> {
    let (v, now, until) = (
        version.get(),
        to_unix_millis(now),
        to_unix_millis(lease_until),
    );
    let n = c
        .execute_typed(
            "UPDATE tw_tokens SET refresh_failure_transient = $3, updated_at = $4, \
             in_flight_by = CASE WHEN $3 THEN $5 END, \
             in_flight_server = CASE WHEN $3 THEN pg_postmaster_start_time() END, \
             in_flight_until = CASE WHEN $3 THEN $6 END \
             WHERE profile = $1 AND version = $2",
            &[
                (&profile, Type::TEXT),
                (&v, Type::INT8),
                (&in_flight, Type::BOOL),
                (&now, Type::INT8),
                (&holder, Type::TEXT),
                (&until, Type::INT8),
            ],
        )
        .await?;
    Ok(n > 0)
}

/// Records a failed refresh attempt; ends any lease.
pub(super) async fn record_refresh_failure(
    c: &impl GenericClient,
    profile: &str,
    version: Version,
    last_error: &LastError,
    maybe_rotated: bool,
    now: SystemTime,
) -> Result<bool, tokio_postgres::Error> {
    let (v, now) = (version.get(), to_unix_millis(now));
    let cause = last_error.cause.map(Cause::as_str);
    let n = c
        .execute_typed(
            "UPDATE tw_tokens SET last_error = $3, last_error_cause = $4, \
             refresh_failure_transient = $5, last_refresh_at = $6, updated_at = $6, \
             in_flight_by = NULL, in_flight_server = NULL, in_flight_until = NULL \
             WHERE profile = $1 AND version = $2",
            &[
                (&profile, Type::TEXT),
                (&v, Type::INT8),
                (&last_error.message, Type::TEXT),
                (&cause, Type::TEXT),
                (&maybe_rotated, Type::BOOL),
                (&now, Type::INT8),
            ],
        )
        .await?;
    Ok(n > 0)
}

/// A refresh in flight by another holder that this server cannot vouch for: the server
/// restarted since it was marked (so its holder's lock ended without the holder ending), and
/// its lease has not run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lease {
    pub(super) holder: String,
    pub(super) until: SystemTime,
}

/// The two keys of the advisory lock of `profile`: tokenwarden's namespace, and a hash of the
/// name (two profiles that collide only share a lock).
pub(super) fn lock_keys(profile: &str) -> (i32, i32) {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(profile.as_bytes());
    let hash = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (LOCK_NAMESPACE, hash)
}

/// The first key of every advisory lock tokenwarden takes ("tw" and 1).
pub(super) const LOCK_NAMESPACE: i32 = 0x7477_0001;

/// Tries the session-level advisory lock of `profile`; when taken, also says whether another
/// holder's refresh may still be in flight ([`Lease`]).
pub(super) async fn try_lock(
    c: &impl GenericClient,
    profile: &str,
    me: &str,
    now: SystemTime,
) -> Result<(bool, Option<Lease>), tokio_postgres::Error> {
    let (ns, key) = lock_keys(profile);
    let now = to_unix_millis(now);
    let r = c
        .query_typed_one(
            "SELECT pg_try_advisory_lock($1, $2), t.in_flight_by, t.in_flight_until \
             FROM (SELECT 1) AS one LEFT JOIN tw_tokens t ON t.profile = $3 \
             AND t.in_flight_by IS NOT NULL AND t.in_flight_by <> $4 AND t.in_flight_until > $5 \
             AND t.in_flight_server <> pg_postmaster_start_time()",
            &[
                (&ns, Type::INT4),
                (&key, Type::INT4),
                (&profile, Type::TEXT),
                (&me, Type::TEXT),
                (&now, Type::INT8),
            ],
        )
        .await?;
    let got: bool = r.try_get(0)?;
    let lease = match (
        r.try_get::<_, Option<String>>(1)?,
        r.try_get::<_, Option<i64>>(2)?,
    ) {
        (Some(holder), Some(until)) => Some(Lease {
            holder,
            until: from_unix_millis(until),
        }),
        _ => None,
    };
    Ok((got, lease))
}

/// Releases the advisory lock of `profile` held by this connection.
pub(super) async fn unlock(
    c: &impl GenericClient,
    profile: &str,
) -> Result<(), tokio_postgres::Error> {
    let (ns, key) = lock_keys(profile);
    c.query_typed(
        "SELECT pg_advisory_unlock($1, $2)",
        &[(&ns, Type::INT4), (&key, Type::INT4)],
    )
    .await?;
    Ok(())
}

/// The breaker record of `key` with its row sequence (0: no row).
pub(super) async fn load_breaker(
    c: &impl GenericClient,
    key: &str,
) -> Result<(BreakerRecord, i64), tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT consecutive_failures, open_until, last_retry_after_ms, updated_at, seq \
             FROM tw_breaker WHERE key = $1",
            &[(&key, Type::TEXT)],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok((BreakerRecord::default(), 0));
    };
    let record = BreakerRecord {
        consecutive_failures: u32::try_from(r.try_get::<_, i64>(0)?).unwrap_or(u32::MAX),
        open_until: r.try_get::<_, Option<i64>>(1)?.map(from_unix_millis),
        last_retry_after: r
            .try_get::<_, Option<i64>>(2)?
            .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        updated_at: from_unix_millis(r.try_get(3)?),
    };
    Ok((record, r.try_get(4)?))
}

/// Saves the breaker record of `key` if its row sequence is still `seq` (`None`: whatever it
/// is); true when saved.
pub(super) async fn save_breaker(
    c: &impl GenericClient,
    key: &str,
    rec: &BreakerRecord,
    seq: Option<i64>,
) -> Result<bool, tokio_postgres::Error> {
    let failures = i64::from(rec.consecutive_failures);
    let open_until = rec.open_until.map(to_unix_millis);
    let retry_after = rec
        .last_retry_after
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let updated = to_unix_millis(rec.updated_at);
    const COLUMNS: &str =
        "key, consecutive_failures, open_until, last_retry_after_ms, updated_at, seq";
    const SET: &str = "consecutive_failures = $2, open_until = $3, last_retry_after_ms = $4, \
         updated_at = $5, seq = b.seq + 1";
    let sql = match seq {
        None => format!(
            "INSERT INTO tw_breaker AS b ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1) \
             ON CONFLICT (key) DO UPDATE SET {SET} RETURNING b.seq"
        ),
        Some(0) => format!(
            "INSERT INTO tw_breaker AS b ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1) \
             ON CONFLICT (key) DO NOTHING RETURNING b.seq"
        ),
        Some(_) => format!(
            "UPDATE tw_breaker AS b SET {SET} WHERE b.key = $1 AND b.seq = $6 RETURNING b.seq"
        ),
    };
    let seq = seq.unwrap_or(0);
    let rows = c
        .query_typed(
            &sql,
            &[
                (&key, Type::TEXT),
                (&failures, Type::INT8),
                (&open_until, Type::INT8),
                (&retry_after, Type::INT8),
                (&updated, Type::INT8),
                (&seq, Type::INT8),
            ],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Appends an event, naming `host`; returns its id.
pub(super) async fn append_event(
    c: &impl GenericClient,
    e: &Event,
    host: &str,
) -> Result<i64, tokio_postgres::Error> {
    let at = to_unix_millis(e.at);
    let host = e.host.as_deref().unwrap_or(host);
    let (operation, outcome) = (e.operation.as_str(), e.outcome.as_str());
    let status = e.status.map(i32::from);
    let oauth = e.oauth_error.as_ref().map(OAuthErrorCode::as_str);
    let duration = e
        .duration
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let attempt = i32::try_from(e.attempt).unwrap_or(i32::MAX);
    let delivery = e.delivery.map(Delivery::as_str);
    let r = c
        .query_typed_one(
            "INSERT INTO tw_events (at, host, profile, operation, outcome, status, oauth_error, \
             request_id, correlation_id, duration_ms, attempt, delivery) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                (&at, Type::INT8),
                (&host, Type::TEXT),
                (&e.profile, Type::TEXT),
                (&operation, Type::TEXT),
                (&outcome, Type::TEXT),
                (&status, Type::INT4),
                (&oauth, Type::TEXT),
                (&e.request_id, Type::TEXT),
                (&e.correlation_id, Type::TEXT),
                (&duration, Type::INT8),
                (&attempt, Type::INT4),
                (&delivery, Type::TEXT),
            ],
        )
        .await?;
    r.try_get(0)
}

/// Deletes the events older than `before`, then all but the newest `keep`.
pub(super) async fn prune_events(
    c: &impl GenericClient,
    before: SystemTime,
    keep: usize,
) -> Result<usize, tokio_postgres::Error> {
    let before = to_unix_millis(before);
    let old = c
        .execute_typed(
            "DELETE FROM tw_events WHERE at < $1",
            &[(&before, Type::INT8)],
        )
        .await?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let extra = c
        .execute_typed(
            "DELETE FROM tw_events WHERE id <= (SELECT id FROM tw_events ORDER BY id DESC \
             LIMIT 1 OFFSET $1)",
            &[(&keep, Type::INT8)],
        )
        .await?;
    Ok(usize::try_from(old + extra).unwrap_or(usize::MAX))
}

/// The newest `limit` events at or after `since` (of `profile`, when given), oldest first.
/// A record with a name this build does not know (a newer tokenwarden's) is left out.
pub(super) async fn recent_events(
    c: &impl GenericClient,
    since: SystemTime,
    profile: Option<&str>,
    limit: usize,
) -> Result<Vec<Event>, tokio_postgres::Error> {
    let since = to_unix_millis(since);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .query_typed(
            "SELECT at, profile, operation, outcome, status, oauth_error, request_id, \
             correlation_id, duration_ms, attempt, delivery, host FROM (SELECT * FROM tw_events \
             WHERE at >= $1 AND ($2::text IS NULL OR profile = $2) ORDER BY at DESC, id DESC \
             LIMIT $3) AS newest ORDER BY at, id",
            &[
                (&since, Type::INT8),
                (&profile, Type::TEXT),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (Some(operation), Some(outcome)) = (
            Operation::parse(&r.try_get::<_, String>(2)?),
            Outcome::parse(&r.try_get::<_, String>(3)?),
        ) else {
            continue;
        };
        out.push(Event {
            at: from_unix_millis(r.try_get(0)?),
            profile: r.try_get(1)?,
            operation,
            outcome,
            status: r
                .try_get::<_, Option<i32>>(4)?
                .and_then(|s| u16::try_from(s).ok()),
            oauth_error: r
                .try_get::<_, Option<String>>(5)?
                .map(|code| OAuthErrorCode::parse(&code)),
            request_id: r.try_get(6)?,
            correlation_id: r.try_get(7)?,
            duration: r
                .try_get::<_, Option<i64>>(8)?
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            attempt: u32::try_from(r.try_get::<_, i32>(9)?).unwrap_or(1),
            delivery: r
                .try_get::<_, Option<String>>(10)?
                .as_deref()
                .and_then(Delivery::parse),
            host: r.try_get(11)?,
        });
    }
    Ok(out)
}

/// The server's clock and whether this connection is encrypted, for `doctor`.
pub(super) async fn server_facts(
    c: &impl GenericClient,
) -> Result<(SystemTime, bool, String), tokio_postgres::Error> {
    let r = c
        .query_typed_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint, \
             coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
             current_setting('server_version')",
            &[],
        )
        .await?;
    Ok((
        from_unix_millis(r.try_get(0)?),
        r.try_get(1)?,
        r.try_get(2)?,
    ))
}

/// Whether the current user may read and write every table of the store.
pub(super) async fn missing_privileges(
    c: &impl GenericClient,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT t || ' (' || p || ')' FROM unnest(ARRAY['tw_tokens', 'tw_breaker', \
             'tw_events', 'tw_meta', 'tw_schema']) AS t, unnest(ARRAY['SELECT', 'INSERT', \
             'UPDATE', 'DELETE']) AS p WHERE NOT has_table_privilege(t, p) \
             UNION ALL SELECT 'tw_version (USAGE)' WHERE NOT has_sequence_privilege('tw_version', 'USAGE')",
            &[],
        )
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}
