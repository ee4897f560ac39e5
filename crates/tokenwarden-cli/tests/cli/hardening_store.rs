//! Store damage as `token` meets it: an empty `tokens.db` and a file that is not SQLite are set
//! aside and named (exit 6), never read as "not logged in"; a dangling symbolic link is named as
//! one; a token row that no longer opens costs only its own profile a login, and a damaged page
//! costs no profile whose tokens can still be read.

use crate::login_util::{Mock, home_with, svc_profile};
use crate::util::{Env, Run};
use std::path::Path;

const SECRET: (&str, &str) = ("SVC_SECRET", "svc-secret");

fn token(env: &Env, profile: &str) -> Run {
    env.run_env(&["--profile", profile, "token"], &[SECRET])
}

fn login(env: &Env, profile: &str) {
    env.run_env(&["--profile", profile, "login"], &[SECRET])
        .code(0);
}

/// A home with the client-credentials profiles `names`, each logged in.
fn logged_in(mock: &Mock, names: &[&str]) -> Env {
    let profiles: Vec<String> = names
        .iter()
        .map(|n| svc_profile(n, &mock.issuer()))
        .collect();
    let env = home_with(&profiles);
    for name in names {
        login(&env, name);
    }
    env
}

fn set_aside(home: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(home)
        .expect("home")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("tokens.db.corrupt-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    found.sort();
    found
}

/// Replaces tokens.db with `content` (its journal files gone, as an editor or a copy leaves
/// it): `token` names the damage and where the file went, exit 6; then the profile is simply
/// not logged in, and a login works.
fn damaged_by(content: &[u8], named: &str) {
    let mock = Mock::auto();
    let env = logged_in(&mock, &["svc"]);
    let db = env.home().join("tokens.db");
    for side in ["tokens.db-wal", "tokens.db-shm"] {
        let _ = std::fs::remove_file(env.home().join(side));
    }
    std::fs::write(&db, content).expect("overwrite");
    let run = token(&env, "svc");
    run.code(6);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let aside = set_aside(&env.home());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(run.stderr.contains(named), "{}", run.stderr);
    assert!(
        run.stderr.contains(&db.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&aside[0]),
        "names where: {}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(env.home().join(&aside[0])).expect("kept"),
        content
    );
    token(&env, "svc").code(3);
    login(&env, "svc");
    token(&env, "svc").code(0);
    assert_eq!(set_aside(&env.home()).len(), 1);
}

#[test]
fn an_empty_token_database_is_set_aside_and_named() {
    damaged_by(b"", "empty (0 bytes)");
}

#[test]
fn a_token_database_that_is_not_sqlite_is_set_aside_and_named() {
    damaged_by(b"# my notes\nthis is not a database\n", "not a database");
}

#[test]
fn a_dangling_symlink_is_named_as_one() {
    let mock = Mock::auto();
    let env = logged_in(&mock, &["svc"]);
    let db = env.home().join("tokens.db");
    let moved = env.home().join("moved").join("tokens.db");
    for side in ["tokens.db-wal", "tokens.db-shm"] {
        let _ = std::fs::remove_file(env.home().join(side));
    }
    std::fs::remove_file(&db).expect("remove");
    std::os::unix::fs::symlink(&moved, &db).expect("symlink");
    for args in [
        vec!["--profile", "svc", "token"],
        vec!["--profile", "svc", "status"],
    ] {
        let run = env.run_env(&args, &[SECRET]);
        run.code(6);
        assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
        assert!(
            run.stderr.contains(&moved.display().to_string()),
            "names the target: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("kept being replaced"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("rm "), "{}", run.stderr);
    }
    let doctor = env.run_env(&["--profile", "svc", "doctor", "--offline"], &[SECRET]);
    doctor.code(1);
    assert!(doctor.stdout.contains("symbolic link"), "{}", doctor.stdout);
    assert!(set_aside(&env.home()).is_empty(), "nothing is set aside");
    std::fs::remove_file(&db).expect("rm the link");
    token(&env, "svc").code(3);
}

#[test]
fn a_row_that_does_not_open_costs_only_its_profile_a_login() {
    let mock = Mock::auto();
    let env = logged_in(&mock, &["a", "b"]);
    let before_b = token(&env, "b");
    before_b.code(0);
    {
        // Flip one bit of a's sealed access token, as a damaged page or an edit would.
        let conn = rusqlite::Connection::open(env.home().join("tokens.db")).expect("opens");
        let mut blob: Vec<u8> = conn
            .query_row(
                "SELECT access_token FROM tokens WHERE profile = 'a'",
                [],
                |r| r.get(0),
            )
            .expect("a's row");
        let middle = blob.len() / 2;
        blob[middle] ^= 0x01;
        conn.execute(
            "UPDATE tokens SET access_token = ?1 WHERE profile = 'a'",
            [blob],
        )
        .expect("updated");
    }
    // b keeps working, with the same token.
    let b = token(&env, "b");
    b.code(0);
    assert_eq!(b.stdout, before_b.stdout);
    // a is named, set aside, and needs a new login; b still works after that.
    let a = token(&env, "a");
    a.code(6);
    assert!(a.stderr.contains("profile \"a\""), "{}", a.stderr);
    assert!(a.stderr.contains("log in again"), "{}", a.stderr);
    assert_eq!(set_aside(&env.home()).len(), 1);
    token(&env, "a").code(3);
    let b = token(&env, "b");
    b.code(0);
    assert_eq!(b.stdout, before_b.stdout);
    login(&env, "a");
    token(&env, "a").code(0);
}

#[test]
fn a_damaged_page_costs_no_profile_whose_tokens_still_read() {
    let mock = Mock::auto();
    let env = logged_in(&mock, &["a", "b"]);
    let before_a = token(&env, "a");
    before_a.code(0);
    let before_b = token(&env, "b");
    before_b.code(0);
    let db = env.home().join("tokens.db");
    {
        // Everything into the file, then the first page of the event log overwritten.
        let conn = rusqlite::Connection::open(&db).expect("opens");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .expect("events table");
        let size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        drop(conn);
        let mut bytes = std::fs::read(&db).expect("read");
        let start = usize::try_from((root - 1) * size).expect("offset");
        bytes[start..start + usize::try_from(size).expect("size")].fill(0x5A);
        std::fs::write(&db, bytes).expect("write");
    }
    // Nothing scans the file on open: the cached token is handed out as it was. The damaged
    // page is met by the first operation that reads it (here the token's own bookkeeping),
    // which sets the file aside and carries every profile whose tokens still read.
    let cached = token(&env, "a");
    cached.code(0);
    assert_eq!(cached.stdout, before_a.stdout);
    let aside = set_aside(&env.home());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        cached.stderr.contains(&aside[0])
            && cached
                .stderr
                .contains("could still be read (profile \"a\", \"b\")"),
        "{}",
        cached.stderr
    );
    // Both keep their tokens: no login, no new grant.
    let grants = mock.server.stats().token_requests.total();
    let a = token(&env, "a");
    a.code(0);
    assert_eq!(a.stdout, before_a.stdout);
    let b = token(&env, "b");
    b.code(0);
    assert_eq!(b.stdout, before_b.stdout);
    assert_eq!(mock.server.stats().token_requests.total(), grants);
}
