//! The fleet store's pending revocations ([`crate::store::revocation`]): what a logout could
//! not revoke yet, sealed exactly as the local store seals it (bound to the profile, the hint
//! and the version of the tokens logged out), in `tw_pending_revocations`.

use super::conn::OpError;
use crate::error::Cause;
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use crate::store::crypto::Sealer;
use crate::store::sqlite::revocation::token_aad;
use crate::store::{LastError, PendingRevocation, Version};
use crate::token::{from_unix_millis, to_unix_millis};
use std::time::SystemTime;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

/// In one transaction: deletes the row of `profile` if its version is still `version` (true
/// when deleted) and keeps `pending`. A kept token already pending for the same profile,
/// version and hint is not kept twice (the transaction may be sent again when its
/// acknowledgement was lost).
pub(super) async fn delete_keeping(
    c: &mut Client,
    sealer: &Sealer,
    profile: &str,
    version: Version,
    pending: &[(TokenTypeHint, SecretString)],
    error: &LastError,
    now: SystemTime,
) -> Result<bool, OpError> {
    let v = version.get();
    let now = to_unix_millis(now);
    let cause = error.cause.map(Cause::as_str);
    let mut sealed = Vec::with_capacity(pending.len());
    for (hint, token) in pending {
        let blob = sealer.seal(token.expose().as_bytes(), &token_aad(profile, *hint, v))?;
        sealed.push((hint.as_str(), blob));
    }
    let tx = c.transaction().await?;
    let deleted = tx
        .execute_typed(
            "DELETE FROM tw_tokens WHERE profile = $1 AND version = $2",
            &[(&profile, Type::TEXT), (&v, Type::INT8)],
        )
        .await?
        > 0;
    for (hint, blob) in &sealed {
        tx.execute_typed(
            "INSERT INTO tw_pending_revocations (profile, version, token_type_hint, token, since, \
             attempts, last_error, last_error_cause, last_attempt_at) \
             SELECT $1, $2, $3, $4, $5, 1, $6, $7, $5 WHERE NOT EXISTS (SELECT 1 FROM \
             tw_pending_revocations WHERE profile = $1 AND version = $2 AND token_type_hint = $3)",
            &[
                (&profile, Type::TEXT),
                (&v, Type::INT8),
                (hint, Type::TEXT),
                (blob, Type::BYTEA),
                (&now, Type::INT8),
                (&error.message, Type::TEXT),
                (&cause, Type::TEXT),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

/// The pending revocations of `profile` that open, oldest first; the ids of those that do not.
pub(super) async fn pending(
    c: &Client,
    sealer: &Sealer,
    profile: &str,
) -> Result<(Vec<PendingRevocation>, Vec<i64>), tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT id, version, token_type_hint, token, since, attempts, last_error, \
             last_error_cause FROM tw_pending_revocations WHERE profile = $1 ORDER BY id",
            &[(&profile, Type::TEXT)],
        )
        .await?;
    let (mut found, mut unreadable) = (Vec::new(), Vec::new());
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        let version: i64 = r.try_get(1)?;
        let hint: String = r.try_get(2)?;
        let blob: Vec<u8> = r.try_get(3)?;
        let opened = TokenTypeHint::parse(&hint).and_then(|hint| {
            let plain = sealer
                .open(&blob, &token_aad(profile, hint, version))
                .ok()?;
            Some((hint, String::from_utf8(plain).ok()?))
        });
        let Some((hint, token)) = opened else {
            unreadable.push(id);
            continue;
        };
        let message: Option<String> = r.try_get(6)?;
        let cause: Option<String> = r.try_get(7)?;
        found.push(PendingRevocation {
            id,
            profile: profile.to_string(),
            hint,
            token: SecretString::new(token),
            since: from_unix_millis(r.try_get(4)?),
            attempts: u32::try_from(r.try_get::<_, i64>(5)?.max(0)).unwrap_or(u32::MAX),
            last_error: message.map(|m| LastError::new(m, cause.as_deref().and_then(Cause::parse))),
        });
    }
    Ok((found, unreadable))
}

/// Forgets the pending revocation `id`.
pub(super) async fn forget(c: &Client, id: i64) -> Result<(), tokio_postgres::Error> {
    c.execute_typed(
        "DELETE FROM tw_pending_revocations WHERE id = $1",
        &[(&id, Type::INT8)],
    )
    .await?;
    Ok(())
}

/// Counts a failed attempt of the pending revocation `id`.
pub(super) async fn failed(
    c: &Client,
    id: i64,
    error: &LastError,
    now: SystemTime,
) -> Result<(), tokio_postgres::Error> {
    let now = to_unix_millis(now);
    let cause = error.cause.map(Cause::as_str);
    c.execute_typed(
        "UPDATE tw_pending_revocations SET attempts = attempts + 1, last_error = $2, \
         last_error_cause = $3, last_attempt_at = $4 WHERE id = $1",
        &[
            (&id, Type::INT8),
            (&error.message, Type::TEXT),
            (&cause, Type::TEXT),
            (&now, Type::INT8),
        ],
    )
    .await?;
    Ok(())
}
