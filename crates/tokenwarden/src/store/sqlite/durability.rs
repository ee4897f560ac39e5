//! How durable each write of the SQLite store must be ([`Durability`]), and the helper every
//! write goes through ([`SqliteStore::write`]), which sets SQLite's `synchronous` for it.
//!
//! In WAL mode a commit under `synchronous=FULL` returns once the write-ahead log is fsynced:
//! it survives a power loss. Under `synchronous=NORMAL` the commit is not synced: it is as
//! atomic and the database is never corrupted, but a power loss (not a crash of the process:
//! the operating system still writes what it was given) may lose the last such commits,
//! never a FULL commit made after them (its fsync covers the whole log up to it) nor any
//! change moved into the database file by a checkpoint (which syncs either way). See
//! <https://www.sqlite.org/pragma.html#pragma_synchronous> and
//! <https://www.sqlite.org/wal.html#durability>.
//!
//! What must survive: token values (a rotated refresh token is the only one that works),
//! their states and failure records, deletions, pending revocations. What may be lost,
//! because it is diagnostic, or only spares work, and is written again by the next process
//! that needs it: the "refresh in flight" mark, the event log, the circuit breakers' shared
//! backoff, and the cached discovery documents.

use super::SqliteStore;
use super::row::OpError;
use crate::error::Result;
use rusqlite::Connection;

/// How durable one write must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// On disk when the call returns (`synchronous=FULL`: the commit fsyncs the log).
    Full,
    /// Atomic, but a power loss may lose it (`synchronous=NORMAL`: no fsync at commit).
    Relaxed,
}

impl Durability {
    /// SQLite's `synchronous` setting for it.
    fn synchronous(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        }
    }
}

impl SqliteStore {
    /// Runs the write `op` with the durability it needs. Each write sets `synchronous` itself
    /// (a statement that touches no file), so that no setting left by an earlier write can
    /// weaken a durable one; a relaxed write puts `FULL` back for whatever runs outside this
    /// helper (opening, re-keying).
    pub(super) fn write<T>(
        &self,
        durability: Durability,
        mut op: impl FnMut(&mut Connection) -> std::result::Result<T, OpError>,
    ) -> Result<T> {
        self.run(|conn| {
            conn.pragma_update(None, "synchronous", durability.synchronous())?;
            let done = op(conn);
            if durability != Durability::Full {
                conn.pragma_update(None, "synchronous", Durability::Full.synchronous())?;
            }
            done
        })
    }
}
