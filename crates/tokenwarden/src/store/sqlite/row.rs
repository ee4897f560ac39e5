//! Rows of the SQLite store: token rows sealed and opened, breaker and event rows mapped.
//!
//! Times are stored as Unix milliseconds. Token secrets are stored only sealed
//! ([`crate::store::crypto`]); everything else in a row is plain, and the fields that describe the
//! token values are bound into the seal's associated data, so changing them is detected.

use crate::error::{Cause, Delivery, Error, OAuthErrorCode};
use crate::secret::{AccessToken, IdToken, RefreshToken};
use crate::store::crypto::{OpenError, Sealer, token_aad};
use crate::store::{
    BreakerRecord, Event, LastError, Operation, Outcome, Retention, StoredTokens, TokenState,
    Version,
};
use crate::token::{TokenSet, from_unix_millis, to_unix_millis};
use rusqlite::{Connection, OptionalExtension as _, Row, params};
use std::time::{Duration, SystemTime};

/// The columns read by [`RawRow::from_row`], in order.
pub(crate) const TOKEN_COLUMNS: &str = "profile, version, access_token, refresh_token, id_token, \
     token_type, expires_at, scopes, obtained_at, refresh_token_obtained_at, subject, issuer, \
     state, state_reason, state_cause, last_error, last_error_cause, last_refresh_at, \
     refresh_failure_transient, updated_at, refresh_token_expires_at";

/// A token row as stored, before opening.
#[derive(Clone)]
pub(crate) struct RawRow {
    pub(crate) profile: String,
    pub(crate) version: i64,
    pub(crate) access: Vec<u8>,
    pub(crate) refresh: Option<Vec<u8>>,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) token_type: String,
    pub(crate) expires_at: Option<i64>,
    pub(crate) scopes: String,
    pub(crate) obtained_at: i64,
    pub(crate) refresh_token_obtained_at: Option<i64>,
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) state: String,
    pub(crate) state_reason: Option<String>,
    pub(crate) state_cause: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_cause: Option<String>,
    pub(crate) last_refresh_at: Option<i64>,
    pub(crate) transient: i64,
    pub(crate) updated_at: i64,
    pub(crate) refresh_token_expires_at: Option<i64>,
}

impl RawRow {
    /// A row made of arbitrary field values, for the fuzz target of [`decode`]: the secrets are
    /// sealed for real (so decoding reaches the field checks) unless `tamper` is set.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn for_fuzzing(
        sealer: &Sealer,
        parts: &[&str],
        numbers: &[i64],
        tamper: bool,
    ) -> RawRow {
        let text = |i: usize| parts.get(i).map(|s| s.to_string()).unwrap_or_default();
        let opt = |i: usize| {
            parts
                .get(i)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
        };
        let num = |i: usize| numbers.get(i).copied().unwrap_or(0);
        let opt_num = |i: usize| numbers.get(i).copied().filter(|n| n % 3 != 0);
        let mut raw = RawRow {
            profile: text(0),
            version: num(0),
            access: Vec::new(),
            refresh: None,
            id: None,
            token_type: text(1),
            expires_at: opt_num(1),
            scopes: text(2),
            obtained_at: num(2),
            refresh_token_obtained_at: opt_num(3),
            subject: opt(3),
            issuer: opt(4),
            state: text(5),
            state_reason: opt(6),
            state_cause: opt(7),
            last_error: opt(8),
            last_error_cause: opt(9),
            last_refresh_at: opt_num(4),
            transient: num(5),
            updated_at: num(6),
            refresh_token_expires_at: opt_num(7),
        };
        // The associated data binds the non-secret fields; they must read back for it.
        let meta = TokenSet {
            access_token: AccessToken::new(String::new()),
            token_type: raw.token_type.clone(),
            refresh_token: None,
            id_token: None,
            expires_at: raw.expires_at.and_then(checked_unix_millis),
            scopes: serde_json::from_str(&raw.scopes).unwrap_or_default(),
            obtained_at: checked_unix_millis(raw.obtained_at).unwrap_or(std::time::UNIX_EPOCH),
            refresh_token_obtained_at: raw.refresh_token_obtained_at.and_then(checked_unix_millis),
            refresh_token_expires_at: raw.refresh_token_expires_at.and_then(checked_unix_millis),
            subject: raw.subject.clone(),
            issuer: raw.issuer.clone(),
        };
        let seal = |column: &str, value: &str| {
            let aad = token_aad(&raw.profile, column, raw.version, &meta);
            let mut sealed = sealer.seal(value.as_bytes(), &aad).unwrap_or_default();
            if tamper && let Some(b) = sealed.last_mut() {
                *b ^= 1;
            }
            sealed
        };
        raw.access = seal("access_token", &text(10));
        raw.refresh = opt(11).map(|v| seal("refresh_token", &v));
        raw.id = opt(12).map(|v| seal("id_token", &v));
        raw
    }

    /// Reads a row selected with [`TOKEN_COLUMNS`].
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            profile: r.get(0)?,
            version: r.get(1)?,
            access: r.get(2)?,
            refresh: r.get(3)?,
            id: r.get(4)?,
            token_type: r.get(5)?,
            expires_at: r.get(6)?,
            scopes: r.get(7)?,
            obtained_at: r.get(8)?,
            refresh_token_obtained_at: r.get(9)?,
            subject: r.get(10)?,
            issuer: r.get(11)?,
            state: r.get(12)?,
            state_reason: r.get(13)?,
            state_cause: r.get(14)?,
            last_error: r.get(15)?,
            last_error_cause: r.get(16)?,
            last_refresh_at: r.get(17)?,
            transient: r.get(18)?,
            updated_at: r.get(19)?,
            refresh_token_expires_at: r.get(20)?,
        })
    }
}

/// Why an operation on the database failed.
#[derive(Debug)]
pub(crate) enum OpError {
    /// SQLite failed (busy, I/O, or the file is damaged).
    Sql(rusqlite::Error),
    /// A token row does not open.
    Damaged(Damaged),
    /// Anything else, already explained.
    Store(Error),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sql(e)
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Store(e)
    }
}

/// A row that cannot be turned back into tokens: which profile, and what is wrong (no secrets).
#[derive(Debug)]
pub(crate) struct Damaged {
    pub(crate) profile: String,
    pub(crate) detail: String,
}

fn open_column(
    sealer: &Sealer,
    raw: &RawRow,
    column: &str,
    blob: &[u8],
    meta: &TokenSet,
) -> std::result::Result<String, Damaged> {
    let damaged = |what: &str| Damaged {
        profile: raw.profile.clone(),
        detail: format!("the sealed {column} of profile {:?} {what}", raw.profile),
    };
    let aad = token_aad(&raw.profile, column, raw.version, meta);
    match sealer.open(blob, &aad) {
        Ok(plain) => String::from_utf8(plain).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.fill(0);
            damaged("is not text")
        }),
        Err(OpenError::Malformed) => Err(damaged("is malformed")),
        Err(OpenError::Authentication) => Err(damaged("failed authentication")),
    }
}

/// `ms` milliseconds after the epoch, when a `SystemTime` can hold it.
#[cfg(feature = "fuzzing")]
fn checked_unix_millis(ms: i64) -> Option<std::time::SystemTime> {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        std::time::UNIX_EPOCH.checked_add(d)
    } else {
        std::time::UNIX_EPOCH.checked_sub(d)
    }
}

/// Opens a row: the secrets are unsealed and every field checked.
pub(crate) fn decode(raw: RawRow, sealer: &Sealer) -> std::result::Result<StoredTokens, Damaged> {
    let damaged = |detail: String| Damaged {
        profile: raw.profile.clone(),
        detail,
    };
    let scopes: Vec<String> = serde_json::from_str(&raw.scopes).map_err(|_| {
        damaged(format!(
            "the scopes of profile {:?} are not a list",
            raw.profile
        ))
    })?;
    let state = TokenState::from_parts(
        &raw.state,
        raw.state_reason.clone(),
        raw.state_cause.as_deref(),
    )
    .ok_or_else(|| damaged(format!("the state of profile {:?} is unknown", raw.profile)))?;
    // The non-secret fields first: they are part of each secret's associated data.
    let mut tokens = TokenSet {
        access_token: AccessToken::new(String::new()),
        token_type: raw.token_type.clone(),
        refresh_token: None,
        id_token: None,
        expires_at: raw.expires_at.map(from_unix_millis),
        scopes,
        obtained_at: from_unix_millis(raw.obtained_at),
        refresh_token_obtained_at: raw.refresh_token_obtained_at.map(from_unix_millis),
        refresh_token_expires_at: raw.refresh_token_expires_at.map(from_unix_millis),
        subject: raw.subject.clone(),
        issuer: raw.issuer.clone(),
    };
    let access = open_column(sealer, &raw, "access_token", &raw.access, &tokens)?;
    let refresh = match &raw.refresh {
        Some(blob) => Some(open_column(sealer, &raw, "refresh_token", blob, &tokens)?),
        None => None,
    };
    let id = match &raw.id {
        Some(blob) => Some(open_column(sealer, &raw, "id_token", blob, &tokens)?),
        None => None,
    };
    tokens.access_token = AccessToken::new(access);
    tokens.refresh_token = refresh.map(RefreshToken::new);
    tokens.id_token = id.map(IdToken::new);
    Ok(StoredTokens {
        version: Version::from_raw(raw.version),
        tokens,
        state,
        last_error: raw.last_error.map(|message| LastError {
            // A cause this build does not know reads as none (a newer tokenwarden may know more).
            cause: raw.last_error_cause.as_deref().and_then(Cause::parse),
            message,
        }),
        last_refresh_at: raw.last_refresh_at.map(from_unix_millis),
        refresh_failure_transient: raw.transient != 0,
        updated_at: from_unix_millis(raw.updated_at),
        profile: raw.profile,
    })
}

/// What a read of one profile found.
pub(crate) enum Found {
    /// Nothing stored.
    Nothing,
    /// A row that opened.
    Tokens(Box<StoredTokens>),
    /// A row that did not.
    Damaged(Damaged),
}

/// Reads and opens the row of `profile`.
pub(crate) fn read(conn: &Connection, sealer: &Sealer, profile: &str) -> rusqlite::Result<Found> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE profile = ?1"
        ))?
        .query_row([profile], RawRow::from_row)
        .optional()?;
    Ok(match raw {
        None => Found::Nothing,
        Some(raw) => match decode(raw, sealer) {
            Ok(t) => Found::Tokens(Box::new(t)),
            Err(d) => Found::Damaged(d),
        },
    })
}

/// Every row that does not open: (profile, version, what is wrong).
pub(crate) fn damaged_rows(
    conn: &Connection,
    sealer: &Sealer,
) -> rusqlite::Result<Vec<(Damaged, i64)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY profile"
    ))?;
    let rows = stmt.query_map([], RawRow::from_row)?;
    let mut out = Vec::new();
    for raw in rows {
        let raw = raw?;
        let version = raw.version;
        if let Err(d) = decode(raw, sealer) {
            out.push((d, version));
        }
    }
    Ok(out)
}

/// Inserts `raw` exactly as it was stored (its seals stay valid: they bind the same values),
/// unless the profile already has a row. True when inserted.
pub(crate) fn insert_raw(conn: &Connection, raw: &RawRow) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO tokens ({TOKEN_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
             ?19, ?20, ?21)"
        ))?
        .execute(params![
            raw.profile,
            raw.version,
            raw.access,
            raw.refresh,
            raw.id,
            raw.token_type,
            raw.expires_at,
            raw.scopes,
            raw.obtained_at,
            raw.refresh_token_obtained_at,
            raw.subject,
            raw.issuer,
            raw.state,
            raw.state_reason,
            raw.state_cause,
            raw.last_error,
            raw.last_error_cause,
            raw.last_refresh_at,
            raw.transient,
            raw.updated_at,
            raw.refresh_token_expires_at,
        ])?;
    Ok(n > 0)
}

/// Re-seals the secrets of every token row that opens with `old` with `new`, in place (same
/// version, same associated data); returns how many. A row that does not open with `old` is
/// left as it is (it is damaged, and is found so when read). Inside a write transaction.
pub(crate) fn reseal_all(
    conn: &Connection,
    old: &Sealer,
    new: &Sealer,
) -> std::result::Result<usize, OpError> {
    let raws = {
        let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens"))?;
        let rows = stmt.query_map([], RawRow::from_row)?;
        rows.collect::<rusqlite::Result<Vec<RawRow>>>()?
    };
    let mut resealed = 0;
    for raw in raws {
        let (profile, version) = (raw.profile.clone(), raw.version);
        let stored = match decode(raw, old) {
            Ok(stored) => stored,
            Err(d) => {
                tracing::warn!(profile = %d.profile, "a token row that does not open was left as it is");
                continue;
            }
        };
        let t = &stored.tokens;
        let seal = |column: &str, value: &str| {
            new.seal(value.as_bytes(), &token_aad(&profile, column, version, t))
        };
        let access = seal("access_token", t.access_token.expose())?;
        let refresh = match &t.refresh_token {
            Some(r) => Some(seal("refresh_token", r.expose())?),
            None => None,
        };
        let id = match &t.id_token {
            Some(i) => Some(seal("id_token", i.expose())?),
            None => None,
        };
        conn.execute(
            "UPDATE tokens SET access_token = ?3, refresh_token = ?4, id_token = ?5 \
             WHERE profile = ?1 AND version = ?2",
            params![profile, version, access, refresh, id],
        )?;
        resealed += 1;
    }
    Ok(resealed)
}

/// Takes the next version from the store-wide sequence (inside a write transaction).
pub(crate) fn next_version(conn: &Connection) -> rusqlite::Result<Version> {
    conn.query_row(
        "UPDATE sequence SET value = value + 1 WHERE name = 'version' RETURNING value",
        [],
        |r| r.get(0),
    )
    .map(Version::from_raw)
}

/// The sealed access token, refresh token and ID token of a row.
pub(crate) type SealedSecrets = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The sealed access, refresh and ID tokens of `tokens` for the row of `profile` at
/// `version` (every store seals the same columns the same way).
pub(crate) fn seal_secrets(
    sealer: &Sealer,
    profile: &str,
    version: i64,
    tokens: &TokenSet,
) -> crate::error::Result<SealedSecrets> {
    let seal = |column: &str, value: &str| {
        sealer.seal(
            value.as_bytes(),
            &token_aad(profile, column, version, tokens),
        )
    };
    let access = seal("access_token", tokens.access_token.expose())?;
    let refresh = match &tokens.refresh_token {
        Some(t) => Some(seal("refresh_token", t.expose())?),
        None => None,
    };
    let id = match &tokens.id_token {
        Some(t) => Some(seal("id_token", t.expose())?),
        None => None,
    };
    Ok((access, refresh, id))
}

/// Writes `tokens` as the row of `profile` at `version`, state valid (inside a write
/// transaction).
pub(crate) fn put(
    conn: &Connection,
    sealer: &Sealer,
    profile: &str,
    version: Version,
    tokens: &TokenSet,
    last_refresh_at: Option<SystemTime>,
    now: SystemTime,
) -> std::result::Result<(), OpError> {
    let v = version.get();
    let (access, refresh, id) = seal_secrets(sealer, profile, v, tokens)?;
    let scopes = serde_json::Value::from(tokens.scopes.clone()).to_string();
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO tokens ({TOKEN_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'valid', NULL, NULL, NULL, NULL, ?13, 0, \
         ?14, ?15)"
    ))?
    .execute(params![
        profile,
        v,
        access,
        refresh,
        id,
        tokens.token_type,
        tokens.expires_at.map(to_unix_millis),
        scopes,
        to_unix_millis(tokens.obtained_at),
        tokens.refresh_token_obtained_at.map(to_unix_millis),
        tokens.subject,
        tokens.issuer,
        last_refresh_at.map(to_unix_millis),
        to_unix_millis(now),
        tokens.refresh_token_expires_at.map(to_unix_millis),
    ])?;
    Ok(())
}

/// A breaker row: `consecutive_failures, open_until, last_retry_after_ms, updated_at` from
/// column `first` on. Values out of range read as the nearest possible one; the breaker bounds
/// what they mean ([`crate::retry::breaker`]).
fn breaker_row(r: &Row<'_>, first: usize) -> rusqlite::Result<BreakerRecord> {
    Ok(BreakerRecord {
        consecutive_failures: u32::try_from(r.get::<_, i64>(first)?.max(0)).unwrap_or(u32::MAX),
        open_until: r.get::<_, Option<i64>>(first + 1)?.map(from_unix_millis),
        last_retry_after: r
            .get::<_, Option<i64>>(first + 2)?
            .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        updated_at: from_unix_millis(r.get(first + 3)?),
    })
}

/// The breaker record of `key`.
pub(crate) fn load_breaker(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<BreakerRecord>> {
    conn.prepare_cached(
        "SELECT consecutive_failures, open_until, last_retry_after_ms, updated_at FROM breaker WHERE key = ?1",
    )?
    .query_row([key], |r| breaker_row(r, 0))
    .optional()
}

/// Every breaker record with its key, sorted by key.
pub(crate) fn breaker_records(conn: &Connection) -> rusqlite::Result<Vec<(String, BreakerRecord)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, consecutive_failures, open_until, last_retry_after_ms, updated_at FROM breaker ORDER BY key",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, breaker_row(r, 1)?)))?;
    rows.collect()
}

/// Saves the breaker record of `key`.
pub(crate) fn save_breaker(
    conn: &Connection,
    key: &str,
    rec: &BreakerRecord,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO breaker (key, consecutive_failures, open_until, last_retry_after_ms, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key,
        i64::from(rec.consecutive_failures),
        rec.open_until.map(to_unix_millis),
        rec.last_retry_after.map(duration_ms),
        to_unix_millis(rec.updated_at),
    ])
    .map(|_| ())
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Appends an event; every `retention.prune_every` rows (by row id), applies the retention.
pub(crate) fn append_event(
    conn: &Connection,
    e: &Event,
    retention: &Retention,
) -> rusqlite::Result<()> {
    insert_event(conn, e)?;
    let id = u64::try_from(conn.last_insert_rowid()).unwrap_or(0);
    if retention.prune_every > 0 && id.is_multiple_of(retention.prune_every) {
        prune_events(conn, retention.before(e.at), retention.max_events)?;
    }
    Ok(())
}

fn insert_event(conn: &Connection, e: &Event) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (at, profile, operation, outcome, status, oauth_error, request_id, \
         correlation_id, duration_ms, attempt, delivery) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        to_unix_millis(e.at),
        e.profile,
        e.operation.as_str(),
        e.outcome.as_str(),
        e.status,
        e.oauth_error.as_ref().map(OAuthErrorCode::as_str),
        e.request_id,
        e.correlation_id,
        e.duration.map(duration_ms),
        e.attempt,
        e.delivery.map(Delivery::as_str),
    ])
    .map(|_| ())
}

/// Deletes the events older than `before`, then all but the newest `keep`.
///
/// Every open of the store calls this, so it costs the same whatever the log's size: a read
/// through the `at` index and the row id (no write lock) decides whether anything is due, and
/// the count is taken from the row ids (`AUTOINCREMENT`: increasing, never reused, and deleted
/// only from the oldest end) instead of walking `keep` rows. (`max` and `min` each in a
/// subquery of its own: SQLite answers a lone `max(id)` from one end of the table, but
/// `max(id) - min(id)` by a scan.)
pub(crate) fn prune_events(
    conn: &Connection,
    before: SystemTime,
    keep: usize,
) -> rusqlite::Result<usize> {
    let before = to_unix_millis(before);
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let due: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE at < ?1) \
             OR coalesce((SELECT max(id) FROM events) - (SELECT min(id) FROM events), 0) >= ?2",
        )?
        .query_row(params![before, keep], |r| r.get(0))?;
    if !due {
        return Ok(0);
    }
    let old = conn
        .prepare_cached("DELETE FROM events WHERE at < ?1")?
        .execute([before])?;
    let extra = conn
        .prepare_cached("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1")?
        .execute([keep])?;
    Ok(old + extra)
}

/// The newest `limit` events at or after `since` (of `profile`, when given), oldest first.
pub(crate) fn recent_events(
    conn: &Connection,
    since: SystemTime,
    profile: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, profile, operation, outcome, status, oauth_error, request_id, correlation_id, \
         duration_ms, attempt, delivery FROM (SELECT * FROM events WHERE at >= ?1 AND (?2 IS NULL OR profile = ?2) \
         ORDER BY at DESC, id DESC LIMIT ?3) ORDER BY at, id",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![to_unix_millis(since), profile, limit], |r| {
        Ok(Event {
            at: from_unix_millis(r.get(0)?),
            profile: r.get(1)?,
            operation: named(r, 2, Operation::parse)?,
            outcome: named(r, 3, Outcome::parse)?,
            status: r.get(4)?,
            oauth_error: r
                .get::<_, Option<String>>(5)?
                .map(|code| OAuthErrorCode::parse(&code)),
            request_id: r.get(6)?,
            correlation_id: r.get(7)?,
            duration: r
                .get::<_, Option<i64>>(8)?
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            attempt: r.get(9)?,
            // A name this build does not know (a newer tokenwarden's) reads as not recorded.
            delivery: r
                .get::<_, Option<String>>(10)?
                .as_deref()
                .and_then(Delivery::parse),
            host: None,
        })
    })?;
    rows.collect()
}

/// Column `index` of `r`, a stored name, parsed with `parse`. The schema admits only the names
/// this build knows (a `CHECK`), so an unknown one is a damaged row: a conversion error.
fn named<T>(r: &Row<'_>, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let name: String = r.get(index)?;
    parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown name {name:?} in the event log").into(),
        )
    })
}
