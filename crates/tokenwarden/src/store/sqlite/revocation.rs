//! Rows of pending revocations ([`crate::store::revocation`]): kept sealed, bound to their
//! profile, hint and the version of the tokens that were logged out.

use super::row::OpError;
use crate::error::Cause;
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use crate::store::crypto::{Sealer, aad};
use crate::store::{LastError, PendingRevocation, Version};
use crate::token::{from_unix_millis, to_unix_millis};
use rusqlite::{Connection, params};
use std::time::SystemTime;

/// The associated data of a kept token.
pub(crate) fn token_aad(profile: &str, hint: TokenTypeHint, version: i64) -> Vec<u8> {
    aad(&[
        b"pending-revocation",
        profile.as_bytes(),
        hint.as_str().as_bytes(),
        &version.to_be_bytes(),
    ])
}

/// Keeps `pending` for `profile` (inside a write transaction); `version` is that of the tokens
/// logged out.
pub(super) fn keep(
    conn: &Connection,
    sealer: &Sealer,
    profile: &str,
    version: Version,
    pending: &[(TokenTypeHint, SecretString)],
    error: &LastError,
    now: SystemTime,
) -> Result<(), OpError> {
    for (hint, token) in pending {
        let sealed = sealer.seal(
            token.expose().as_bytes(),
            &token_aad(profile, *hint, version.get()),
        )?;
        conn.prepare_cached(
            "INSERT INTO pending_revocations (profile, version, token_type_hint, token, since, \
             attempts, last_error, last_error_cause, last_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?5)",
        )?
        .execute(params![
            profile,
            version.get(),
            hint.as_str(),
            sealed,
            to_unix_millis(now),
            error.message,
            error.cause.map(Cause::as_str),
        ])?;
    }
    Ok(())
}

/// The pending revocations of `profile` that open, oldest first; the ids of those that do not.
pub(super) fn pending(
    conn: &Connection,
    sealer: &Sealer,
    profile: &str,
) -> rusqlite::Result<(Vec<PendingRevocation>, Vec<i64>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, version, token_type_hint, token, since, attempts, last_error, \
         last_error_cause FROM pending_revocations WHERE profile = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([profile], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    let (mut found, mut unreadable) = (Vec::new(), Vec::new());
    for row in rows {
        let (id, version, hint, blob, since, attempts, message, cause) = row?;
        let opened = TokenTypeHint::parse(&hint).and_then(|hint| {
            let plain = sealer
                .open(&blob, &token_aad(profile, hint, version))
                .ok()?;
            Some((hint, String::from_utf8(plain).ok()?))
        });
        match opened {
            Some((hint, token)) => found.push(PendingRevocation {
                id,
                profile: profile.to_string(),
                hint,
                token: SecretString::new(token),
                since: from_unix_millis(since),
                attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
                last_error: message
                    .map(|m| LastError::new(m, cause.as_deref().and_then(Cause::parse))),
            }),
            None => unreadable.push(id),
        }
    }
    Ok((found, unreadable))
}

/// Forgets the pending revocation `id`.
pub(super) fn forget(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM pending_revocations WHERE id = ?1")?
        .execute([id])
        .map(|_| ())
}

/// Counts a failed attempt of the pending revocation `id`.
pub(super) fn failed(
    conn: &Connection,
    id: i64,
    error: &LastError,
    now: SystemTime,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE pending_revocations SET attempts = attempts + 1, last_error = ?2, \
         last_error_cause = ?3, last_attempt_at = ?4 WHERE id = ?1",
    )?
    .execute(params![
        id,
        error.message,
        error.cause.map(Cause::as_str),
        to_unix_millis(now)
    ])
    .map(|_| ())
}
