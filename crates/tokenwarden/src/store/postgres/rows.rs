//! The fleet store's statements on token rows, sealed and opened with the same sealed columns
//! and associated data as the SQLite store ([`crate::store::sqlite`]'s row codec). Every
//! statement is one round trip (`query_typed`: no separate prepare). The other statements
//! (locks, breaker, events) are in `records`.
//!
//! Times are Unix milliseconds, as in the SQLite store. A token row also carries the lease of a
//! refresh in flight (`in_flight_by`, `in_flight_server`, `in_flight_until`; see the module docs
//! of [`super`]), which never leaves this module except as [`Lease`].

use super::conn::OpError;
use crate::error::Cause;
use crate::store::crypto::Sealer;
use crate::store::sqlite::row::{self as codec, Damaged, RawRow};
use crate::store::{LastError, StoredTokens, TokenState, Version};
use crate::token::{TokenSet, to_unix_millis};
use std::time::SystemTime;
use tokio_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};

/// A query parameter with its type.
type P<'a> = (&'a (dyn ToSql + Sync), Type);

/// The token columns, in the order [`PgRow::from_row`] reads them.
pub(super) const TOKEN_COLUMNS: &str = "t.profile, t.version, t.access_token, t.refresh_token, \
     t.id_token, t.token_type, t.expires_at, t.scopes, t.obtained_at, t.refresh_token_obtained_at, \
     t.subject, t.issuer, t.state, t.state_reason, t.state_cause, t.last_error, t.last_error_cause, \
     t.last_refresh_at, t.refresh_failure_transient, t.updated_at, t.refresh_token_expires_at";

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
    /// Absent from copies this machine kept before the column existed.
    #[serde(default)]
    refresh_token_expires_at: Option<i64>,
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
            refresh_token_expires_at: r.try_get(at + 20)?,
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
            refresh_token_expires_at: self.refresh_token_expires_at,
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

/// The schema version alone (`None`: no tokenwarden tables yet), for when the tables are not
/// those this build's statements read.
pub(super) async fn schema_version(
    c: &impl GenericClient,
) -> Result<Option<i32>, tokio_postgres::Error> {
    match c
        .query_typed("SELECT version FROM tw_schema WHERE id = 1", &[])
        .await
    {
        Ok(rows) => rows.first().map(|r| r.try_get(0)).transpose(),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The result of a conditional write.
pub(super) enum Written {
    /// Written at this version.
    Version(Version),
    /// The stored version was another: what is stored now.
    Conflict(Option<Box<PgRow>>),
}

/// A new token row; its values are parameters 1 to 15 of [`write`].
const INSERT: &str = "INSERT INTO tw_tokens AS t (profile, version, access_token, refresh_token, \
     id_token, token_type, expires_at, scopes, obtained_at, refresh_token_obtained_at, subject, \
     issuer, state, last_refresh_at, refresh_failure_transient, updated_at, \
     refresh_token_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
     'valid', $13, false, $14, $15)";

/// A token row's new values (parameters 2 to 15 of [`write`]), marks and lease cleared.
const SET: &str = "version = $2, access_token = $3, refresh_token = $4, id_token = $5, \
     token_type = $6, expires_at = $7, scopes = $8, obtained_at = $9, \
     refresh_token_obtained_at = $10, subject = $11, issuer = $12, state = 'valid', \
     state_reason = NULL, state_cause = NULL, last_error = NULL, last_error_cause = NULL, \
     last_refresh_at = $13, refresh_failure_transient = false, updated_at = $14, \
     refresh_token_expires_at = $15, in_flight_by = NULL, in_flight_server = NULL, in_flight_until = NULL";

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
    let rt_expires = tokens.refresh_token_expires_at.map(to_unix_millis);
    let now_ms = to_unix_millis(now);
    let expected_raw = expected.map(Version::get).unwrap_or(0);
    let sql = match expected {
        Some(Version::NONE) => {
            format!("{INSERT} ON CONFLICT (profile) DO NOTHING RETURNING t.version")
        }
        Some(_) => format!(
            "UPDATE tw_tokens AS t SET {SET} WHERE t.profile = $1 AND t.version = $16 \
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
        (&rt_expires, Type::INT8),
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
