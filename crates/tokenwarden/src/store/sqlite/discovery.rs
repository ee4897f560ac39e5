//! The rows of the discovery documents the SQLite store keeps (table `discovery`), sealed as
//! [`crate::store::discovery`] says.

use super::row::OpError;
use crate::store::StoredDiscovery;
use crate::store::crypto::Sealer;
use crate::store::discovery::DiscoveryRow;
use rusqlite::{Connection, OptionalExtension as _, params};

/// The document kept for `issuer`; `None` when there is none or it does not open.
pub(super) fn read(
    conn: &Connection,
    sealer: &Sealer,
    issuer: &str,
) -> std::result::Result<Option<StoredDiscovery>, OpError> {
    let row = conn
        .prepare_cached(
            "SELECT issuer, source, document, body, fetched_at, expires_at FROM discovery \
             WHERE issuer = ?1",
        )?
        .query_row([issuer], |r| {
            Ok(DiscoveryRow {
                issuer: r.get(0)?,
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

/// Keeps `row`, replacing what was kept for its issuer.
pub(super) fn write(conn: &Connection, row: &DiscoveryRow) -> std::result::Result<(), OpError> {
    conn.prepare_cached(
        "INSERT INTO discovery (issuer, source, document, body, fetched_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (issuer) DO UPDATE SET \
         source = excluded.source, document = excluded.document, body = excluded.body, \
         fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        row.issuer,
        row.source,
        row.document,
        row.body,
        row.fetched_at,
        row.expires_at
    ])?;
    Ok(())
}

/// Forgets what was kept for `issuer`.
pub(super) fn forget(conn: &Connection, issuer: &str) -> std::result::Result<(), OpError> {
    conn.prepare_cached("DELETE FROM discovery WHERE issuer = ?1")?
        .execute([issuer])?;
    Ok(())
}
