//! The fleet store's statements about everything but token rows: the refresh lock (a
//! session-level advisory lock, with the lease of a refresh in flight), breaker records, event
//! records, discovery documents, and what `doctor` asks the server. Every statement is one
//! round trip.

use crate::error::{Delivery, OAuthErrorCode};
use crate::store::discovery::{DiscoveryKind, DiscoveryRow};
use crate::store::{BreakerRecord, Event, Operation, Outcome};
use crate::token::{from_unix_millis, to_unix_millis};
use std::time::{Duration, SystemTime};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

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
    Ok((breaker_row(r, 0)?, r.try_get(4)?))
}

/// Every breaker record with its key, sorted by key.
pub(super) async fn breaker_records(
    c: &impl GenericClient,
) -> Result<Vec<(String, BreakerRecord)>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT key, consecutive_failures, open_until, last_retry_after_ms, updated_at \
             FROM tw_breaker ORDER BY key",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, breaker_row(r, 1)?)))
        .collect()
}

/// The breaker record in the columns of `r` from `at` on (failures, open until, last
/// Retry-After, updated at).
fn breaker_row(r: &tokio_postgres::Row, at: usize) -> Result<BreakerRecord, tokio_postgres::Error> {
    Ok(BreakerRecord {
        consecutive_failures: u32::try_from(r.try_get::<_, i64>(at)?).unwrap_or(u32::MAX),
        open_until: r.try_get::<_, Option<i64>>(at + 1)?.map(from_unix_millis),
        last_retry_after: r
            .try_get::<_, Option<i64>>(at + 2)?
            .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        updated_at: from_unix_millis(r.try_get(at + 3)?),
    })
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

/// The discovery document row of `kind` kept for `issuer`, if any (still sealed).
pub(super) async fn read_discovery(
    c: &impl GenericClient,
    issuer: &str,
    kind: DiscoveryKind,
) -> Result<Option<DiscoveryRow>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT issuer, source, document, body, fetched_at, expires_at FROM tw_discovery \
             WHERE issuer = $1 AND kind = $2",
            &[(&issuer, Type::TEXT), (&kind.as_str(), Type::TEXT)],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(DiscoveryRow {
                issuer: r.try_get(0)?,
                kind,
                source: r.try_get(1)?,
                document: r.try_get(2)?,
                body: r.try_get(3)?,
                fetched_at: r.try_get(4)?,
                expires_at: r.try_get(5)?,
            })
        })
        .transpose()
}

/// Keeps `row`, replacing what was kept for its issuer and kind.
pub(super) async fn write_discovery(
    c: &impl GenericClient,
    row: &DiscoveryRow,
) -> Result<(), tokio_postgres::Error> {
    c.execute_typed(
        "INSERT INTO tw_discovery (issuer, source, document, body, fetched_at, expires_at, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, kind) DO UPDATE SET \
         source = $2, document = $3, body = $4, fetched_at = $5, expires_at = $6",
        &[
            (&row.issuer, Type::TEXT),
            (&row.source, Type::TEXT),
            (&row.document, Type::TEXT),
            (&row.body, Type::BYTEA),
            (&row.fetched_at, Type::INT8),
            (&row.expires_at, Type::INT8),
            (&row.kind.as_str(), Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// Forgets the discovery document of `kind` kept for `issuer`.
pub(super) async fn forget_discovery(
    c: &impl GenericClient,
    issuer: &str,
    kind: DiscoveryKind,
) -> Result<(), tokio_postgres::Error> {
    c.execute_typed(
        "DELETE FROM tw_discovery WHERE issuer = $1 AND kind = $2",
        &[(&issuer, Type::TEXT), (&kind.as_str(), Type::TEXT)],
    )
    .await?;
    Ok(())
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

/// What the current user may not do on the store's tables and sequences (those the schema has).
pub(super) async fn missing_privileges(
    c: &impl GenericClient,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT t || ' (' || p || ')' FROM unnest(ARRAY['tw_tokens', 'tw_breaker', \
             'tw_events', 'tw_meta', 'tw_schema', 'tw_pending_revocations']) AS t, \
             unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p \
             WHERE to_regclass(t) IS NOT NULL AND NOT has_table_privilege(t, p) \
             UNION ALL SELECT s || ' (USAGE)' FROM unnest(ARRAY['tw_version', \
             'tw_events_id_seq', 'tw_pending_revocations_id_seq']) AS s \
             WHERE to_regclass(s) IS NOT NULL AND NOT has_sequence_privilege(s, 'USAGE')",
            &[],
        )
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}
