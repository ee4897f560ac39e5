//! The fleet store seen by running processes: a session on one "machine" (a warden whose
//! config names the fleet store) learns of a new login made on another through the store's
//! change feed (`LISTEN`/`NOTIFY`), without waiting for its cached token to expire; and the
//! feed itself announces every change of a row's version or state; a store set up by an
//! older build is upgraded on first use with its logins kept.

use crate::store::{KEY, open_fleet, tokens};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::paths::Paths;
use tokenwarden::store::DiscoveryKind::Metadata;
use tokenwarden::store::{Change, Store as _};
use tokenwarden::warden::Warden;

/// A machine: a home whose config.toml names the fleet store at `url` and its key file.
fn machine(url: &str) -> (tempfile::TempDir, Warden) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("tw");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key = home.join("fleet.key");
    std::fs::write(&key, KEY).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[profiles.p]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"cli\"\n\n\
             [store]\nurl = \"{url}\"\nkey_file = \"fleet.key\"\n"
        ),
    )
    .expect("config");
    let warden = Warden::open(Paths::in_dir(&home)).expect("the warden opens");
    (dir, warden)
}

/// Tokens that stay fresh for an hour from now.
fn fresh(tag: &str) -> tokenwarden::token::TokenSet {
    let mut t = tokens(tag);
    t.obtained_at = SystemTime::now();
    t.expires_at = Some(SystemTime::now() + Duration::from_secs(3600));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_another_machine_reaches_a_running_session() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let db = cluster.database();
    let (_a_dir, a) = machine(&db.url);
    let (_b_dir, b) = machine(&db.url);
    b.store()
        .expect("B's store")
        .replace("p", &fresh("one"))
        .unwrap();
    let session = a.session("p").expect("a session");
    let first = session.get_token(Duration::ZERO).await.expect("a token");
    assert_eq!(
        first.access_token().expose(),
        fresh("one").access_token.expose()
    );
    // A cached token is served without the store; the change feed starts with it.
    session.get_token(Duration::ZERO).await.expect("cached");
    // B logs in again. A's cached token lives another hour, yet A uses the new one at once.
    let started = Instant::now();
    b.store()
        .expect("B's store")
        .replace("p", &fresh("two"))
        .unwrap();
    let deadline = started + Duration::from_secs(20);
    loop {
        let t = session.get_token(Duration::ZERO).await.expect("a token");
        if t.access_token().expose() == fresh("two").access_token.expose() {
            break;
        }
        assert!(Instant::now() < deadline, "A never saw B's login");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "B's login reached A's running session in {:?}",
        started.elapsed()
    );
}

#[test]
fn the_feed_announces_each_change_of_version_or_state() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let db = cluster.database();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_fleet(&Paths::in_dir(dir.path().join("a")), &db.url);
    let other = open_fleet(&Paths::in_dir(dir.path().join("b")), &db.url);
    let feed = store.changes().expect("a fleet store has a feed");
    let mut rx = feed.subscribe();
    // The listener announces "re-read everything" once it listens.
    let next = |rx: &mut tokio::sync::broadcast::Receiver<Change>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.try_recv() {
                Ok(c) => return c,
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "no change announced");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("the feed failed: {e}"),
            }
        }
    };
    assert_eq!(next(&mut rx).profile, None);
    let v = other.replace("p", &fresh("one")).unwrap();
    assert_eq!(
        next(&mut rx),
        Change {
            profile: Some("p".into()),
            version: Some(v)
        }
    );
    // A mark of the state is a change; the in-flight mark alone is not.
    assert!(other.mark_in_flight("p", v, true).unwrap());
    assert!(other.mark_rejected("p", v).unwrap());
    assert_eq!(next(&mut rx).version, Some(v));
    assert!(other.delete("p").unwrap());
    assert_eq!(
        next(&mut rx),
        Change {
            profile: Some("p".into()),
            version: None
        }
    );
    assert!(feed.generation() >= 4);
}

#[test]
fn tls_to_the_database_goes_through_rustls_and_checks_the_certificate() {
    let Some(cluster) = crate::pg::Cluster::start_tls() else {
        return;
    };
    let db = cluster.database();
    let ca = cluster.ca_file();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url,
        ca.display()
    );
    let store = open_fleet(&Paths::in_dir(dir.path().join("a")), &url);
    let v = store.replace("p", &fresh("one")).expect("written over TLS");
    assert_eq!(store.read("p").unwrap().expect("stored").version, v);
    assert!(
        store.server_facts().expect("facts").tls,
        "the connection is encrypted"
    );
    // The server's certificate is not signed by a CA the system trusts: refused, and said so.
    let untrusted = open_fleet(
        &Paths::in_dir(dir.path().join("b")),
        &format!("{}?sslmode=require", db.url),
    );
    let err = untrusted.read("p").unwrap_err();
    assert_eq!(err.kind(), tokenwarden::ErrorKind::Store);
    assert_eq!(err.cause(), Some(tokenwarden::error::Cause::Tls));
    assert!(err.message().contains("TLS handshake"), "{}", err.message());
    assert!(err.hint().unwrap_or_default().contains("sslrootcert"));
}

#[test]
fn a_schema_1_store_is_upgraded_on_first_use_and_keeps_its_logins() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let db = cluster.database();
    let (_dir, paths) = crate::store::temp_paths();
    let store = open_fleet(&paths, &db.url);
    let v = store.replace("p", &tokens("1")).expect("written");
    drop(store);
    // What schema 1 was: this build's migrations 4, 3 and 2 taken back.
    cluster.psql(
        &db.name,
        "DROP TABLE tw_discovery; ALTER TABLE tw_tokens DROP COLUMN refresh_token_expires_at; \
         DROP TABLE tw_pending_revocations; UPDATE tw_schema SET version = 1",
    );
    let store = open_fleet(&paths, &db.url);
    let read = store.read("p").expect("reads").expect("kept");
    assert_eq!((read.version, read.tokens), (v, tokens("1")));
    assert_eq!(cluster.psql(&db.name, "SELECT version FROM tw_schema"), "4");
    assert!(store.pending_revocations("p").expect("lists").is_empty());
    assert_eq!(
        store
            .read_discovery("https://as.example", Metadata)
            .expect("reads"),
        None
    );
    let mut horizon = tokens("2");
    horizon.refresh_token_expires_at = Some(crate::store::t0() + Duration::from_secs(86_400));
    store.replace("p", &horizon).expect("written");
    assert_eq!(
        store.read("p").expect("reads").expect("kept").tokens,
        horizon
    );
}

#[test]
fn a_schema_3_store_keeps_its_discovery_documents_as_metadata() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let db = cluster.database();
    let (_dir, paths) = crate::store::temp_paths();
    let issuer = "https://as.example";
    let doc = crate::store::discovery_of(issuer, "https://as.example/token");
    open_fleet(&paths, &db.url)
        .write_discovery(&doc)
        .expect("kept");
    // What schema 3 had: one document per issuer, keyed by the issuer alone.
    cluster.psql(
        &db.name,
        "ALTER TABLE tw_discovery DROP CONSTRAINT tw_discovery_pkey; \
         ALTER TABLE tw_discovery DROP COLUMN kind; \
         ALTER TABLE tw_discovery ADD PRIMARY KEY (issuer); UPDATE tw_schema SET version = 3",
    );
    let store = open_fleet(&paths, &db.url);
    assert_eq!(
        store.read_discovery(issuer, Metadata).expect("reads"),
        Some(doc)
    );
    assert_eq!(cluster.psql(&db.name, "SELECT version FROM tw_schema"), "4");
}

#[test]
fn a_discovery_document_changed_in_the_database_is_ignored() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let db = cluster.database();
    let (_dir, paths) = crate::store::temp_paths();
    let store = open_fleet(&paths, &db.url);
    let issuer = "https://as.example";
    let doc = crate::store::discovery_of(issuer, "https://as.example/token");
    store.write_discovery(&doc).expect("kept");
    assert_eq!(
        store.read_discovery(issuer, Metadata).expect("reads"),
        Some(doc)
    );
    // A database user without the fleet key points the token endpoint elsewhere.
    cluster.psql(
        &db.name,
        "UPDATE tw_discovery SET source = 'https://evil.example/.well-known/x'",
    );
    assert_eq!(store.read_discovery(issuer, Metadata).expect("reads"), None);
}
