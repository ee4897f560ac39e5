//! Pending revocations in the SQLite store: kept sealed in the logout's transaction (the
//! tokens row goes only if it is still the version logged out), listed per profile, counted on
//! failure, forgotten on success; a kept token that does not open is dropped.

use super::{open, temp_paths, tokens};
use rusqlite::Connection;
use std::fs;
use tokenwarden::http::TokenTypeHint;
use tokenwarden::secret::SecretString;
use tokenwarden::store::{LastError, Store as _};

fn pending_of(tag: &str) -> Vec<(TokenTypeHint, SecretString)> {
    vec![
        (
            TokenTypeHint::RefreshToken,
            SecretString::new(format!("refresh-{tag}-PLAINTEXT-MARKER")),
        ),
        (
            TokenTypeHint::AccessToken,
            SecretString::new(format!("access-{tag}-PLAINTEXT-MARKER")),
        ),
    ]
}

#[test]
fn a_logout_keeps_what_it_could_not_revoke_sealed_until_settled() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v = store.replace("p", &tokens("1")).unwrap();
    store.replace("other", &tokens("o")).unwrap();
    let why = LastError::new("the revocation endpoint answered 503", None);
    assert!(
        store
            .delete_keeping_revocations("p", v, &pending_of("1"), &why)
            .unwrap()
    );
    assert!(store.read("p").unwrap().is_none(), "logged out");
    assert!(store.read("other").unwrap().is_some());
    // Sealed: no token in any file of the data directory.
    for entry in fs::read_dir(&paths.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            let marker = b"PLAINTEXT-MARKER";
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker),
                "a token in plaintext in {}",
                path.display()
            );
        }
    }
    let pending = open(&paths).pending_revocations("p").unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].hint, TokenTypeHint::RefreshToken);
    assert_eq!(pending[0].token.expose(), "refresh-1-PLAINTEXT-MARKER");
    assert_eq!(pending[1].token.expose(), "access-1-PLAINTEXT-MARKER");
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].last_error.as_ref(), Some(&why));
    assert!(store.pending_revocations("other").unwrap().is_empty());

    // A new login does not touch them; settling does.
    store.replace("p", &tokens("2")).unwrap();
    let again = LastError::new("the revocation endpoint answered 502", None);
    store
        .settle_revocation(pending[0].id, Some(&again))
        .unwrap();
    store.settle_revocation(pending[1].id, None).unwrap();
    let left = store.pending_revocations("p").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].attempts, left[0].last_error.as_ref()),
        (2, Some(&again))
    );
    store.settle_revocation(left[0].id, None).unwrap();
    assert!(store.pending_revocations("p").unwrap().is_empty());
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("2"));
}

#[test]
fn a_logout_raced_by_a_login_keeps_the_new_tokens() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let old = store.replace("p", &tokens("1")).unwrap();
    store.replace("p", &tokens("2")).unwrap();
    let why = LastError::new("unavailable", None);
    assert!(
        !store
            .delete_keeping_revocations("p", old, &pending_of("1"), &why)
            .unwrap()
    );
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("2"));
    assert_eq!(store.pending_revocations("p").unwrap().len(), 2);
}

#[test]
fn a_kept_token_that_does_not_open_is_dropped() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v = store.replace("p", &tokens("1")).unwrap();
    let why = LastError::new("unavailable", None);
    store
        .delete_keeping_revocations("p", v, &pending_of("1"), &why)
        .unwrap();
    {
        // Moved to another profile: the seal binds the profile.
        let conn = Connection::open(paths.database()).unwrap();
        conn.execute(
            "UPDATE pending_revocations SET profile = 'q' WHERE token_type_hint = 'access_token'",
            [],
        )
        .unwrap();
    }
    assert!(store.pending_revocations("q").unwrap().is_empty());
    assert_eq!(store.pending_revocations("p").unwrap().len(), 1);
    let conn = Connection::open(paths.database()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM pending_revocations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "the one that does not open is gone");
}
