//! What can still be read from a token database found damaged (a page overwritten, a bad
//! sector), so that only the profiles whose tokens are really lost need a new login.
//!
//! Before the damaged file is set aside, a private copy of it (and of its journal) is read, so
//! that the file itself is set aside exactly as found; with this key (its key check must pass), each token row that can still be read and opens is kept as it was stored — its
//! seals stay valid, since they bind the same values — and copied into the fresh database that
//! replaces it, with the version sequence carried on (or, when the sequence itself is lost,
//! moved well past every version seen), so no version is ever given twice. The copy is made
//! in the fresh database before it is linked into place; if another process started a fresh
//! database first, the rows are added to that one instead, never over a row it already has.

use super::row::{self, RawRow, TOKEN_COLUMNS};
use crate::store::crypto::Sealer;
use crate::store::perms::create_private_file;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// How far past the highest version seen the sequence moves when the old one cannot be read:
/// far enough that a version a lost row had (and some process may still hold) is not reused.
const LOST_SEQUENCE_MARGIN: i64 = 1_000_000;

/// The token rows read from a damaged database.
#[derive(Default)]
pub(super) struct Salvage {
    rows: Vec<RawRow>,
    next_version: i64,
}

impl Salvage {
    /// The profiles whose tokens were read, in the order read.
    pub(super) fn profiles(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.profile.clone()).collect()
    }

    /// True when nothing could be read.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Reads what still opens from the damaged database `db` (and its `-wal`). SQLite may change
/// or remove the journal of a file it opens, so it reads a private copy: the damaged file and
/// its journal are set aside exactly as found. Nothing when it does not open at all, or was
/// sealed with another key.
pub(super) fn read(db: &Path, sealer: &Sealer) -> Salvage {
    let Some(dir) = db.parent() else {
        return Salvage::default();
    };
    let nonce: u64 = rand::random();
    let scratch = dir.join(format!(".salvage-{}-{nonce:016x}", std::process::id()));
    let found = match copy(db, &scratch) {
        Ok(copied) => read_copy(&copied, sealer),
        Err(e) => {
            tracing::warn!(error = %e, "cannot copy the damaged token database to read it");
            Salvage::default()
        }
    };
    let _ = fs::remove_dir_all(&scratch);
    found
}

/// Copies `db` and its `-wal` (when there is one) into the new private directory `scratch`;
/// the copy of the database.
fn copy(db: &Path, scratch: &Path) -> io::Result<PathBuf> {
    fs::DirBuilder::new().mode(0o700).create(scratch)?;
    let copied = scratch.join("tokens.db");
    for (from, to) in [
        (db.to_path_buf(), copied.clone()),
        (with_suffix(db, "-wal"), with_suffix(&copied, "-wal")),
    ] {
        let mut source = match fs::File::open(&from) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut target = create_private_file(&to)?;
        io::copy(&mut source, &mut target)?;
    }
    Ok(copied)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn read_copy(db: &Path, sealer: &Sealer) -> Salvage {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(db, flags) else {
        return Salvage::default();
    };
    let key_ok = conn
        .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .is_ok_and(|blob| sealer.verify_key_check(&blob).is_ok());
    if !key_ok {
        return Salvage::default();
    }
    // The names first (a scan may stop at a damaged page), then each row by its key, so that
    // a damaged page costs only the rows on it.
    let mut names = Vec::new();
    if let Ok(mut stmt) = conn.prepare("SELECT profile FROM tokens")
        && let Ok(rows) = stmt.query_map([], |r| r.get::<_, String>(0))
    {
        names.extend(rows.map_while(Result::ok));
    }
    let select = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE profile = ?1");
    let mut out = Salvage::default();
    let mut highest = 0;
    for name in names {
        let Ok(Some(raw)) = conn
            .query_row(&select, [&name], RawRow::from_row)
            .optional()
        else {
            continue;
        };
        if row::decode(raw.clone(), sealer).is_ok() {
            highest = highest.max(raw.version);
            out.rows.push(raw);
        }
    }
    let sequence: Option<i64> = conn
        .query_row(
            "SELECT value FROM sequence WHERE name = 'version'",
            [],
            |r| r.get(0),
        )
        .ok();
    out.next_version = match sequence {
        Some(s) if s >= highest => s,
        _ => highest.saturating_add(LOST_SEQUENCE_MARGIN),
    };
    out
}

/// Copies the salvaged rows into the database of `conn` (inside a write transaction), never
/// over a row it has, and carries the version sequence on.
pub(super) fn fill(conn: &Connection, salvage: &Salvage) -> rusqlite::Result<()> {
    for raw in &salvage.rows {
        row::insert_raw(conn, raw)?;
    }
    conn.execute(
        "UPDATE sequence SET value = max(value, ?1) WHERE name = 'version'",
        [salvage.next_version],
    )?;
    Ok(())
}
