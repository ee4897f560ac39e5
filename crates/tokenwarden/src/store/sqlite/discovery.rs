//! The rows of the discovery documents the SQLite store keeps (table `discovery`, one row per
//! issuer and kind), sealed as [`crate::store::discovery`] says.

use super::row::OpError;
use crate::store::crypto::Sealer;
use crate::store::discovery::DiscoveryRow;
use crate::store::{DiscoveryKind, StoredDiscovery};
use rusqlite::{Connection, OptionalExtension as _, params};

/// The document of `kind` kept for `issuer`; `None` when there is none or it does not open.
pub(super) fn read(
    conn: &Connection,
    sealer: &Sealer,
    issuer: &str,
    kind: DiscoveryKind,
) -> std::result::Result<Option<StoredDiscovery>, OpError> {
    let row = conn
        .prepare_cached(
            "SELECT issuer, source, document, body, fetched_at, expires_at FROM discovery \
             WHERE issuer = ?1 AND kind = ?2",
        )?
        .query_row([issuer, kind.as_str()], |r| {
            Ok(DiscoveryRow {
                issuer: r.get(0)?,
                kind,
                source: r.get(1)?,
                document: r.get(2)?,
                body: r.get(3)?,
                fetched_at: r.get(4)?,
                expires_at: r.get(5)?,
            })
        })
        .optional()?;
    Ok(row.and_then(|row| row.open(sealer)))
}

/// Keeps `row`, replacing what was kept for its issuer and kind.
pub(super) fn write(conn: &Connection, row: &DiscoveryRow) -> std::result::Result<(), OpError> {
    conn.prepare_cached(
        "INSERT INTO discovery (issuer, kind, source, document, body, fetched_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (issuer, kind) DO UPDATE SET \
         source = excluded.source, document = excluded.document, body = excluded.body, \
         fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        row.issuer,
        row.kind.as_str(),
        row.source,
        row.document,
        row.body,
        row.fetched_at,
        row.expires_at
    ])?;
    Ok(())
}

/// Forgets the document of `kind` kept for `issuer`.
pub(super) fn forget(
    conn: &Connection,
    issuer: &str,
    kind: DiscoveryKind,
) -> std::result::Result<(), OpError> {
    conn.prepare_cached("DELETE FROM discovery WHERE issuer = ?1 AND kind = ?2")?
        .execute([issuer, kind.as_str()])?;
    Ok(())
}
