//! The SQLite store's recovery files: a refresh's tokens it could not write, kept sealed and
//! private, stored by the next read with compare-and-swap, dropped when stale, set aside when
//! they do not open.

use super::{open, temp_paths, tokens};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use tokenwarden::ErrorKind;
use tokenwarden::paths::Paths;
use tokenwarden::store::{Store as _, TokenState};

fn recovery_dir(paths: &Paths) -> PathBuf {
    paths.data_dir.join("recovery")
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn kept_tokens_are_sealed_private_and_stored_by_the_next_read() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v1 = store.replace("p", &tokens("1")).unwrap();
    store.mark_rejected("p", v1).unwrap();
    let place = store.keep_unwritten("p", v1, &tokens("2")).unwrap();
    let file = recovery_dir(&paths).join("p.json");
    assert_eq!(place, file.display().to_string());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&recovery_dir(&paths)), 0o700);
    let bytes = fs::read(&file).unwrap();
    let marker = b"PLAINTEXT-MARKER";
    assert!(
        !bytes.windows(marker.len()).any(|w| w == marker),
        "a token is in the recovery file in plaintext"
    );
    // Another process (a second store on the same files) reads first: it stores them.
    let other = open(&paths);
    let read = other.read("p").unwrap().unwrap();
    assert_eq!(read.tokens, tokens("2"));
    assert!(read.version > v1);
    assert_eq!(read.state, TokenState::Valid);
    assert!(read.last_refresh_at.is_some());
    assert!(!file.exists());
    assert_eq!(store.read("p").unwrap().unwrap().version, read.version);
}

#[test]
fn kept_tokens_made_stale_by_a_login_are_dropped() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v1 = store.replace("p", &tokens("1")).unwrap();
    store.keep_unwritten("p", v1, &tokens("2")).unwrap();
    let v3 = store.replace("p", &tokens("3")).unwrap();
    let read = store.read("p").unwrap().unwrap();
    assert_eq!((read.version, read.tokens), (v3, tokens("3")));
    assert!(!recovery_dir(&paths).join("p.json").exists());
    // A logout counts too: nothing comes back.
    let v4 = store.replace("q", &tokens("4")).unwrap();
    store.keep_unwritten("q", v4, &tokens("5")).unwrap();
    assert!(store.delete("q").unwrap());
    assert!(store.read("q").unwrap().is_none());
    assert!(!recovery_dir(&paths).join("q.json").exists());
}

#[test]
fn a_recovery_file_that_does_not_open_is_set_aside_and_named() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v1 = store.replace("p", &tokens("1")).unwrap();
    store.keep_unwritten("p", v1, &tokens("2")).unwrap();
    let file = recovery_dir(&paths).join("p.json");
    let text = fs::read_to_string(&file).unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Another expiry: the seal binds it.
    record["expires_at_ms"] = serde_json::json!(1);
    fs::write(&file, record.to_string()).unwrap();
    let err = store.read("p").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.message().contains("could not be opened"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("set aside as"), "{}", err.message());
    assert!(!file.exists());
    let aside: Vec<_> = fs::read_dir(recovery_dir(&paths))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("p.json.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    // Named once; the stored tokens are read as they are.
    assert_eq!(store.read("p").unwrap().unwrap().tokens, tokens("1"));
}

#[test]
fn profile_names_become_safe_file_names() {
    let (_dir, paths) = temp_paths();
    let store = open(&paths);
    let v1 = store.replace("a/../b", &tokens("1")).unwrap();
    store.keep_unwritten("a/../b", v1, &tokens("2")).unwrap();
    assert!(recovery_dir(&paths).join("a%2F..%2Fb.json").exists());
    assert_eq!(store.read("a/../b").unwrap().unwrap().tokens, tokens("2"));
}
