//! Store damage the SQLite store names instead of reading it as "not logged in": an empty
//! `tokens.db`, a file that is not SQLite at all, a symbolic link to nothing.

use super::{key, open, temp_paths, tokens};
use std::fs;
use std::path::{Path, PathBuf};
use tokenwarden::ErrorKind;
use tokenwarden::paths::Paths;
use tokenwarden::store::{SqliteStore, Store as _};

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn set_aside(paths: &Paths) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(&paths.data_dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("tokens.db.corrupt-")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .collect();
    found.sort();
    found
}

/// `content` replaces the database (its journal files gone too, as an editor leaves it); the
/// next open must name the damage and where the file went, and the one after start afresh.
fn replaced_by(content: &[u8], named: &str) {
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    let db = paths.database();
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(with_suffix(&db, suffix));
    }
    fs::write(&db, content).unwrap();
    let err = SqliteStore::open(&paths, key()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    let aside = set_aside(&paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    let msg = err.message();
    assert!(msg.contains(named), "{msg}");
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains(&aside[0].display().to_string()), "{msg}");
    assert_eq!(fs::read(&aside[0]).unwrap(), content);
    // Set aside once: the next open starts a fresh database, which is not damage.
    let store = open(&paths);
    assert!(store.read("p").unwrap().is_none());
    store.replace("p", &tokens("2")).unwrap();
    assert_eq!(set_aside(&paths).len(), 1);
    assert!(fs::metadata(&db).unwrap().len() > 0);
}

#[test]
fn an_empty_database_is_damage_not_a_fresh_store() {
    replaced_by(b"", "empty (0 bytes)");
}

#[test]
fn a_file_that_is_not_sqlite_is_set_aside() {
    replaced_by(b"not a database, just text\n", "not a database");
    replaced_by(&[0u8; 100], "not a database");
}

#[test]
fn an_empty_database_with_a_journal_is_set_aside_with_it() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("p", &tokens("1")).unwrap();
    let db = paths.database();
    let wal = with_suffix(&db, "-wal");
    fs::write(&wal, b"what the journal held").unwrap();
    fs::write(&db, b"").unwrap();
    let err = SqliteStore::open(&paths, key()).unwrap_err();
    assert!(
        err.message().contains("empty (0 bytes)"),
        "{}",
        err.message()
    );
    let aside = set_aside(&paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs::read(with_suffix(&aside[0], "-wal")).unwrap(),
        b"what the journal held"
    );
    assert!(!wal.exists() || fs::metadata(&wal).unwrap().len() == 0);
    // A process that had the old file open follows the path to the fresh one.
    assert!(store.read("p").unwrap().is_none());
}

#[test]
fn a_dangling_symlink_is_named_and_nothing_is_created_or_set_aside() {
    let (dir, paths) = temp_paths();
    {
        use std::os::unix::fs::DirBuilderExt as _;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&paths.data_dir)
            .unwrap();
    }
    let target = dir.path().join("elsewhere").join("tokens.db");
    std::os::unix::fs::symlink(&target, paths.database()).unwrap();
    for _ in 0..2 {
        let err = SqliteStore::open(&paths, tokenwarden::store::KeySource::KeyFile).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        let msg = err.message();
        assert!(msg.contains("symbolic link"), "{msg}");
        assert!(msg.contains(&target.display().to_string()), "{msg}");
        assert!(!msg.contains("kept being replaced"), "{msg}");
        assert!(
            err.hint().unwrap_or_default().contains("rm "),
            "{:?}",
            err.hint()
        );
    }
    assert!(set_aside(&paths).is_empty());
    assert!(
        !paths.key_file().exists(),
        "no key is created for a missing database"
    );
    // Once its target exists, the link is followed.
    let elsewhere = Paths::in_dir(dir.path().join("elsewhere"));
    open(&elsewhere).replace("p", &tokens("1")).unwrap();
    assert_eq!(elsewhere.database(), target);
    let store = open(&paths);
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("1"));
    assert!(
        fs::symlink_metadata(paths.database())
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Overwrites the first page of table `table` of the database at `paths` with garbage, after
/// moving everything from the journal into the file (as a crash-free close would).
pub fn damage_table_page(db: &Path, table: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut bytes = fs::read(db).unwrap();
    let start = usize::try_from((root - 1) * page_size).unwrap();
    let end = start + usize::try_from(page_size).unwrap();
    bytes[start..end].fill(0x5A);
    fs::write(db, bytes).unwrap();
}

#[test]
fn a_damaged_page_costs_only_the_tokens_on_it() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let va = store.replace("a", &tokens("a")).unwrap();
    let vb = store.replace("b", &tokens("b")).unwrap();
    let event = tokenwarden::store::Event {
        at: super::t0(),
        profile: "a".into(),
        operation: tokenwarden::store::Operation::Refresh,
        outcome: tokenwarden::store::Outcome::Ok,
        status: Some(200),
        oauth_error: None,
        request_id: None,
        correlation_id: None,
        duration: None,
        attempt: 1,
        delivery: None,
        host: None,
    };
    store.append_event(&event).unwrap();
    drop(store);
    let db = paths.database();
    damage_table_page(&db, "events");
    // Opening scans nothing (a scan of the whole file on every open made a cached `token`
    // slower as the log grew): the tokens still read.
    let store = open(&paths);
    assert_eq!(store.read("a").unwrap().unwrap().tokens, tokens("a"));
    // The first operation that meets the damaged page (here doctor's integrity check) sets
    // the file aside, carrying over every profile whose tokens still read.
    let err = store.integrity_check().unwrap_err();
    drop(store);
    assert_eq!(err.kind(), ErrorKind::Store);
    let msg = err.message();
    assert!(msg.contains("could still be read"), "{msg}");
    assert!(msg.contains("\"a\"") && msg.contains("\"b\""), "{msg}");
    assert!(msg.contains("only the other profiles"), "{msg}");
    let aside = set_aside(&paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    // The fresh database has both profiles, as they were, and is sound.
    let store = open(&paths);
    let a = store.read("a").unwrap().unwrap();
    let b = store.read("b").unwrap().unwrap();
    assert_eq!((a.tokens, a.version), (tokens("a"), va));
    assert_eq!((b.tokens, b.version), (tokens("b"), vb));
    assert!(store.integrity_check().unwrap().is_empty());
    // Versions carry on: never one given before.
    let vc = store.replace("c", &tokens("c")).unwrap();
    assert!(vc > vb);
}
