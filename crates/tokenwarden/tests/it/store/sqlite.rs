//! What only the SQLite store does: sealing at rest, keys, damage, permissions, schema
//! versions, and compare-and-swap between independent connections.

use super::{KEY, key, open, temp_paths, tokens};
use base64::Engine as _;
use rusqlite::Connection;
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use tokenwarden::ErrorKind;
use tokenwarden::error::Cause;
use tokenwarden::paths::Paths;
use tokenwarden::secret::SecretString;
use tokenwarden::store::DiscoveryKind::Metadata;
use tokenwarden::store::{
    CasOutcome, KeySource, LastError, SqliteStore, Store, StoreKey, TokenState, Version,
};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn set_aside_files(paths: &Paths) -> Vec<PathBuf> {
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

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_token_value_is_stored_in_plaintext() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("work", &tokens("secret1")).unwrap();
    let v = store.replace("work", &tokens("secret2")).unwrap();
    store.mark_rejected("work", v).unwrap();
    let db = paths.database();
    // While the store is open, the last writes are in the WAL.
    let mut files = vec![fs::read(&db).unwrap()];
    if let Ok(wal) = fs::read(with_suffix(&db, "-wal")) {
        files.push(wal);
    }
    assert!(
        files.iter().any(|f| contains(f, "work")),
        "the profile name is stored in clear"
    );
    for bytes in &files {
        assert!(!contains(bytes, "PLAINTEXT-MARKER"));
        assert!(!contains(bytes, "secret1") && !contains(bytes, "secret2"));
    }
    drop(store);
    let bytes = fs::read(&db).unwrap();
    assert!(!contains(&bytes, "PLAINTEXT-MARKER"));
}

#[test]
fn files_are_created_private_whatever_the_umask() {
    let (_dir, paths) = temp_paths();
    let store = SqliteStore::open(&paths, KeySource::KeyFile).unwrap();
    store.replace("p", &tokens("1")).unwrap();
    let _lock = store.try_lock_profile("p").unwrap().unwrap();
    assert_eq!(mode(&paths.data_dir), 0o700);
    assert_eq!(mode(&paths.lock_dir()), 0o700);
    assert_eq!(mode(&paths.key_file()), 0o600);
    let db = paths.database();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&with_suffix(&db, "-wal")), 0o600);
    assert_eq!(mode(&with_suffix(&db, "-shm")), 0o600);
    assert_eq!(mode(&paths.lock_dir().join("p.lock")), 0o600);
    assert_eq!(fs::read(paths.key_file()).unwrap().len(), 32);
    // The key file is used again, not replaced.
    drop(store);
    let again = SqliteStore::open(&paths, KeySource::KeyFile).unwrap();
    assert_eq!(again.read("p").unwrap().unwrap().tokens, tokens("1"));
}

#[test]
fn loose_permissions_are_refused_with_the_fix() {
    let (_dir, paths) = temp_paths();
    drop(SqliteStore::open(&paths, KeySource::KeyFile).unwrap());
    let db = paths.database();
    let cases: [(&Path, u32, u32); 4] = [
        (&db, 0o644, 0o600),
        (&paths.data_dir, 0o755, 0o700),
        (&paths.key_file(), 0o644, 0o600),
        (&paths.lock_dir(), 0o770, 0o700),
    ];
    for (path, loose, right) in cases {
        chmod(path, loose);
        let err = SqliteStore::open(&paths, KeySource::KeyFile).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store, "{path:?}");
        assert!(
            err.message().contains(&path.display().to_string()),
            "{}",
            err.message()
        );
        assert_eq!(
            err.hint(),
            Some(format!("run `chmod {right:o} {}`", path.display()).as_str())
        );
        chmod(path, right);
    }
    SqliteStore::open(&paths, KeySource::KeyFile).unwrap();
}

#[test]
fn a_wrong_key_is_reported_and_the_database_left_alone() {
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    let before = fs::read(paths.database()).unwrap();
    let other = KeySource::Key(StoreKey::from_bytes([8; 32]));
    let err = SqliteStore::open(&paths, other).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.message().contains("was sealed with a different key"),
        "{}",
        err.message()
    );
    assert!(err.hint().unwrap_or("").contains("TOKENWARDEN_KEY"));
    assert!(set_aside_files(&paths).is_empty());
    assert_eq!(fs::read(paths.database()).unwrap(), before);
    assert_eq!(open(&paths).read("p").unwrap().unwrap().tokens, tokens("1"));
}

#[test]
fn a_key_given_as_hex_base64_or_passphrase() {
    let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    for text in [hex, b64] {
        let store = SqliteStore::open(&paths, KeySource::Value(SecretString::new(text))).unwrap();
        assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("1"));
    }
    // A passphrase is another key.
    let pass = || KeySource::Value(SecretString::new("a long passphrase of my own"));
    let err = SqliteStore::open(&paths, pass()).unwrap_err();
    assert!(err.message().contains("different key"), "{}", err.message());
    let (_dir2, paths2) = temp_paths();
    SqliteStore::open(&paths2, pass())
        .unwrap()
        .replace("p", &tokens("2"))
        .unwrap();
    let store = SqliteStore::open(&paths2, pass()).unwrap();
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("2"));
    assert!(
        !paths2.key_file().exists(),
        "no key file when a key is given"
    );
}

#[test]
fn a_passphrase_is_stretched_and_an_old_store_re_keyed_once() {
    let pass = || KeySource::Value(SecretString::new("an older passphrase of mine"));
    let legacy = || {
        KeySource::Key(tokenwarden::store::kdf::legacy_key(
            "an older passphrase of mine",
        ))
    };
    // A store as builds before stretching made it: sealed with the hashed passphrase.
    let (_dir, paths) = temp_paths();
    let old = SqliteStore::open(&paths, legacy()).unwrap();
    old.replace("p", &tokens("1")).unwrap();
    old.replace("q", &tokens("2")).unwrap();
    drop(old);
    // Opening it with the passphrase re-keys it: same tokens, parameters stored.
    let store = SqliteStore::open(&paths, pass()).unwrap();
    let kdf = store.kdf().expect("stretched").clone();
    assert!(kdf.encode().starts_with("argon2id$v=19$"), "{kdf:?}");
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("1"));
    assert_eq!(store.read("q").unwrap().unwrap().tokens, tokens("2"));
    drop(store);
    // The old key no longer opens it; the passphrase does, with the same parameters.
    let err = SqliteStore::open(&paths, legacy()).unwrap_err();
    assert!(err.message().contains("different key"), "{}", err.message());
    let again = SqliteStore::open(&paths, pass()).unwrap();
    assert_eq!(again.kdf(), Some(&kdf));
    assert_eq!(again.read("q").unwrap().unwrap().tokens, tokens("2"));
    assert!(set_aside_files(&paths).is_empty());
    // A wrong passphrase is a wrong key, not damage.
    let wrong = KeySource::Value(SecretString::new("not the passphrase at all"));
    let err = SqliteStore::open(&paths, wrong).unwrap_err();
    assert!(err.message().contains("different key"), "{}", err.message());
    assert!(set_aside_files(&paths).is_empty());
}

#[test]
fn a_damaged_file_is_set_aside_and_a_fresh_one_started() {
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    let db = paths.database();
    fs::write(&db, vec![0xA5u8; 8192]).unwrap();
    let err = SqliteStore::open(&paths, key()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    let aside = set_aside_files(&paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    let name = aside[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("tokens.db.corrupt-") && name.ends_with('Z'),
        "{name}"
    );
    assert!(
        err.message().contains(&aside[0].display().to_string()),
        "{}",
        err.message()
    );
    assert!(err.message().contains("log in again"), "{}", err.message());
    assert_eq!(fs::read(&aside[0]).unwrap(), vec![0xA5u8; 8192]);
    // The next open starts afresh.
    let store = open(&paths);
    assert!(store.read("p").unwrap().is_none());
    store.replace("p", &tokens("2")).unwrap();
    assert_eq!(set_aside_files(&paths).len(), 1);
}

#[test]
fn a_store_follows_its_path_when_the_file_is_moved_away() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("p", &tokens("1")).unwrap();
    // Another process sets the file aside (or a person removes it): the store follows the path.
    let db = paths.database();
    fs::rename(&db, db.with_extension("db.moved")).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = fs::rename(
            with_suffix(&db, suffix),
            with_suffix(&db.with_extension("db.moved"), suffix),
        );
    }
    assert!(store.read("p").unwrap().is_none());
    store.replace("p", &tokens("2")).unwrap();
    assert_eq!(open(&paths).read("p").unwrap().unwrap().tokens, tokens("2"));
}

#[test]
fn several_openers_of_a_damaged_file_set_it_aside_once() {
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    fs::write(paths.database(), vec![0x5Au8; 4096]).unwrap();
    let barrier = Barrier::new(4);
    let errors: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    SqliteStore::open(&paths, key()).map(|_| ())
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err().map(|e| e.message().to_string()))
            .collect()
    });
    let aside = set_aside_files(&paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    // Whoever saw the damage says where it went; a late opener may have found the fresh file.
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(e.contains(&aside[0].display().to_string()), "{e}");
    }
    assert!(open(&paths).read("p").unwrap().is_none());
}

#[test]
fn many_openers_of_a_new_directory_agree_on_one_key() {
    let (_dir, paths) = temp_paths();
    let barrier = Barrier::new(4);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (paths, barrier) = (&paths, &barrier);
            scope.spawn(move || {
                barrier.wait();
                let store = SqliteStore::open(paths, KeySource::KeyFile).unwrap();
                store.replace(&format!("p{i}"), &tokens("1")).unwrap();
            });
        }
    });
    let store = SqliteStore::open(&paths, KeySource::KeyFile).unwrap();
    assert_eq!(store.list_profiles().unwrap(), ["p0", "p1", "p2", "p3"]);
    for i in 0..4 {
        assert_eq!(
            store.read(&format!("p{i}")).unwrap().unwrap().tokens,
            tokens("1")
        );
    }
}

/// Changes one stored column of profile `p` behind the store's back.
fn tamper(paths: &Paths, sql: &str) {
    let conn = Connection::open(paths.database()).unwrap();
    let n = conn.execute(sql, []).unwrap();
    assert_eq!(n, 1);
}

fn assert_rows_set_aside(paths: &Paths, store: &SqliteStore) {
    let err = store.read("p").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    let aside = set_aside_files(paths);
    assert_eq!(aside.len(), 1, "{aside:?}");
    let msg = err.message();
    assert!(msg.contains("profile \"p\""), "{msg}");
    assert!(msg.contains(&aside[0].display().to_string()), "{msg}");
    assert!(msg.contains("log in again"), "{msg}");
    assert!(!msg.contains("PLAINTEXT-MARKER"));
    assert_eq!(mode(&aside[0]), 0o600);
    // The copy keeps everything, the damaged row included.
    let copy = Connection::open(&aside[0]).unwrap();
    let n: i64 = copy
        .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    // The live database lost only the damaged row.
    assert!(store.read("p").unwrap().is_none());
    assert_eq!(
        store.read("other").unwrap().unwrap().tokens,
        tokens("other")
    );
    assert_eq!(open(paths).list_profiles().unwrap(), ["other"]);
}

#[test]
fn a_tampered_ciphertext_is_detected() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("p", &tokens("1")).unwrap();
    store.replace("other", &tokens("other")).unwrap();
    // Flip one bit in the middle of the sealed refresh token.
    let conn = Connection::open(paths.database()).unwrap();
    let mut blob: Vec<u8> = conn
        .query_row(
            "SELECT refresh_token FROM tokens WHERE profile = 'p'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x01;
    conn.execute(
        "UPDATE tokens SET refresh_token = ?1 WHERE profile = 'p'",
        [blob],
    )
    .unwrap();
    drop(conn);
    assert_rows_set_aside(&paths, &store);
}

#[test]
fn a_changed_expiry_is_detected() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("p", &tokens("1")).unwrap();
    store.replace("other", &tokens("other")).unwrap();
    tamper(
        &paths,
        "UPDATE tokens SET expires_at = expires_at + 86400000 WHERE profile = 'p'",
    );
    assert_rows_set_aside(&paths, &store);
}

#[test]
fn a_ciphertext_moved_to_another_profile_is_detected() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    store.replace("p", &tokens("1")).unwrap();
    store.replace("other", &tokens("other")).unwrap();
    tamper(
        &paths,
        "UPDATE tokens SET access_token = (SELECT access_token FROM tokens WHERE profile = 'other') \
         WHERE profile = 'p'",
    );
    assert_rows_set_aside(&paths, &store);
}

#[test]
fn a_database_from_a_newer_tokenwarden_is_refused() {
    let (_dir, paths) = temp_paths();
    open(&paths).replace("p", &tokens("1")).unwrap();
    {
        let conn = Connection::open(paths.database()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteStore::open(&paths, key()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.message().contains("newer tokenwarden (schema 99"),
        "{}",
        err.message()
    );
    assert!(set_aside_files(&paths).is_empty());
}

fn user_version(paths: &Paths) -> i64 {
    Connection::open(paths.database())
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn a_schema_2_database_opens_and_its_marks_get_the_cause_the_session_names() {
    let (_dir, paths) = temp_paths();
    let current = {
        let store = open(&paths);
        store.replace("p", &tokens("1")).unwrap();
        let v = store.replace("gone", &tokens("gone")).unwrap();
        let mark = TokenState::LoginRequired {
            reason: "invalid_grant: token revoked".into(),
            cause: None,
        };
        assert!(
            store
                .mark_state(
                    "gone",
                    v,
                    mark,
                    Some(&LastError::new("the provider revoked the session", None)),
                    false
                )
                .unwrap()
        );
        user_version(&paths)
    };
    assert_eq!(current, 8);
    // What tokenwarden at schema 2 left: the tokens table without the cause and horizon
    // columns, the event log without the delivery column, no pending revocations, no
    // discovery documents.
    {
        let conn = Connection::open(paths.database()).unwrap();
        conn.execute_batch(
            "ALTER TABLE tokens DROP COLUMN state_cause; \
             ALTER TABLE tokens DROP COLUMN last_error_cause; \
             ALTER TABLE tokens DROP COLUMN refresh_token_expires_at; \
             ALTER TABLE events DROP COLUMN delivery; \
             DROP TABLE pending_revocations; \
             DROP TABLE discovery;",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let store = open(&paths);
    assert_eq!(user_version(&paths), current);
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("1"));
    let gone = store.read("gone").unwrap().unwrap();
    assert_eq!(gone.tokens, tokens("gone"));
    // The provider's `invalid_grant`, with no in-flight flag: what the session calls a
    // revoked refresh token for such a mark.
    assert_eq!(
        gone.state,
        TokenState::LoginRequired {
            reason: "invalid_grant: token revoked".into(),
            cause: Some(Cause::RefreshTokenRevoked),
        }
    );
    assert_eq!(
        gone.last_error,
        Some(LastError::new("the provider revoked the session", None))
    );
    // The migrated store keeps the causes of new marks.
    let lost = TokenState::LoginRequired {
        reason: "invalid_grant".into(),
        cause: Some(Cause::PossiblyLostRotation),
    };
    assert!(
        store
            .mark_state("gone", gone.version, lost.clone(), None, true)
            .unwrap()
    );
    assert_eq!(open(&paths).read("gone").unwrap().unwrap().state, lost);
    assert!(set_aside_files(&paths).is_empty());
}

#[test]
fn an_unknown_cause_reads_as_none_not_as_damage() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v = store.replace("p", &tokens("1")).unwrap();
    let mark = TokenState::LoginRequired {
        reason: "invalid_grant".into(),
        cause: Some(Cause::RefreshTokenRevoked),
    };
    assert!(store.mark_state("p", v, mark, None, false).unwrap());
    // A cause named by a newer tokenwarden, or a damaged name.
    for name in ["a_cause_from_the_future", ""] {
        let conn = Connection::open(paths.database()).unwrap();
        conn.execute(
            "UPDATE tokens SET state_cause = ?1 WHERE profile = 'p'",
            [name],
        )
        .unwrap();
        drop(conn);
        let r = store.read("p").unwrap().unwrap();
        assert_eq!(
            r.state,
            TokenState::LoginRequired {
                reason: "invalid_grant".into(),
                cause: None,
            },
            "{name:?}"
        );
        assert_eq!(r.tokens, tokens("1"));
    }
    assert!(set_aside_files(&paths).is_empty());
}

#[test]
fn a_missing_key_file_next_to_a_database_is_not_replaced() {
    let (_dir, paths) = temp_paths();
    drop(SqliteStore::open(&paths, KeySource::KeyFile).unwrap());
    fs::remove_file(paths.key_file()).unwrap();
    let err = SqliteStore::open(&paths, KeySource::KeyFile).unwrap_err();
    assert!(err.message().contains("key file"), "{}", err.message());
    assert!(!paths.key_file().exists());
}

#[test]
fn writes_are_visible_to_another_connection_at_once() {
    let (_dir, paths) = temp_paths();
    let a = open(&paths);
    let b = open(&paths);
    let v = a.replace("p", &tokens("1")).unwrap();
    assert_eq!(b.read("p").unwrap().unwrap().version, v);
    assert!(b.mark_rejected("p", v).unwrap());
    assert!(!a.read("p").unwrap().unwrap().is_valid_state());
}

#[test]
fn concurrent_cas_from_threads_has_one_winner_per_version() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 15;
    let (_dir, paths) = temp_paths();
    let first = open(&paths).replace("p", &tokens("0")).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let wins: Vec<(i64, i64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let paths = paths.clone();
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    // One store (one connection) per thread, as separate processes would have.
                    let store = open(&paths);
                    barrier.wait();
                    let mut wins = Vec::new();
                    for round in 0..ROUNDS {
                        let seen = store.read("p").unwrap().unwrap().version;
                        let tag = format!("t{i}r{round}");
                        match store.write_if_version("p", seen, &tokens(&tag)).unwrap() {
                            CasOutcome::Written(new) => wins.push((seen.get(), new.get())),
                            CasOutcome::Conflict(Some(now)) => assert_ne!(now.version, seen),
                            CasOutcome::Conflict(None) => panic!("the profile vanished"),
                        }
                    }
                    wins
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_one_winner_per_version(
        first,
        &wins,
        open(&paths).read("p").unwrap().unwrap().version,
    );
}

/// Every version was replaced at most once, and the wins (seen, new) form one chain from
/// `first` to `last`.
pub fn assert_one_winner_per_version(first: Version, wins: &[(i64, i64)], last: Version) {
    let (first, last) = (first.get(), last.get());
    let expected: HashSet<i64> = wins.iter().map(|w| w.0).collect();
    assert_eq!(
        expected.len(),
        wins.len(),
        "a version was replaced twice: {wins:?}"
    );
    let mut at = first;
    let mut steps = 0;
    while let Some(&(_, next)) = wins.iter().find(|w| w.0 == at) {
        at = next;
        steps += 1;
    }
    assert_eq!((at, steps), (last, wins.len()), "{wins:?}");
    assert!(!wins.is_empty());
}

#[test]
fn a_schema_7_database_keeps_its_discovery_documents_as_metadata() {
    let (_dir, paths) = temp_paths();
    let issuer = "https://as.example";
    let doc = super::discovery_of(issuer, "https://as.example/token");
    open(&paths).write_discovery(&doc).unwrap();
    // What schema 7 had: one document per issuer, keyed by the issuer alone.
    {
        let conn = Connection::open(paths.database()).unwrap();
        conn.execute_batch(
            "CREATE TABLE discovery_v7 (issuer TEXT PRIMARY KEY NOT NULL, source TEXT NOT NULL, \
             document TEXT NOT NULL, body BLOB NOT NULL, fetched_at INTEGER NOT NULL, \
             expires_at INTEGER NOT NULL) STRICT; \
             INSERT INTO discovery_v7 SELECT issuer, source, document, body, fetched_at, \
             expires_at FROM discovery; \
             DROP TABLE discovery; \
             ALTER TABLE discovery_v7 RENAME TO discovery;",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
    }
    let store = open(&paths);
    assert_eq!(user_version(&paths), 8);
    assert_eq!(store.read_discovery(issuer, Metadata).unwrap(), Some(doc));
}

#[test]
fn a_discovery_document_changed_in_the_file_is_ignored() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let issuer = "https://as.example";
    let doc = super::discovery_of(issuer, "https://as.example/token");
    store.write_discovery(&doc).unwrap();
    drop(store);
    assert_eq!(
        open(&paths).read_discovery(issuer, Metadata).unwrap(),
        Some(doc)
    );
    // Someone who can write the file but has no key points the token endpoint elsewhere.
    let conn = Connection::open(paths.database()).unwrap();
    let moved = conn
        .execute(
            "UPDATE discovery SET expires_at = expires_at + 86400000 WHERE issuer = ?1",
            [issuer],
        )
        .unwrap();
    assert_eq!(moved, 1);
    drop(conn);
    assert_eq!(open(&paths).read_discovery(issuer, Metadata).unwrap(), None);
}
