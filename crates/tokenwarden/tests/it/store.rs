//! The token store: the [`Store`] contract, checked on every implementation (the same test body
//! runs on a `MemoryStore`, on a `SqliteStore` in a temporary directory, and on a `PgStore` in a
//! database of its own on the throwaway PostgreSQL cluster; more of it in `store::contract_more`),
//! then what only the SQLite store does (`store::sqlite`) and what needs several processes
//! (`store::process`).

mod contract_more;
mod damage;
mod process;
mod recovery;
mod revocation;
mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokenwarden::ErrorKind;
use tokenwarden::clock::ManualClock;
use tokenwarden::error::{Cause, OAuthErrorCode};
use tokenwarden::paths::Paths;
use tokenwarden::secret::{AccessToken, IdToken, RefreshToken};
use tokenwarden::store::{
    BreakerBackend, BreakerRecord, CasOutcome, DiscoveryKind, Event, KeySource, LastError,
    MemoryStore, Operation, Outcome, Retention, SqliteStore, Store, StoreKey, StoredDiscovery,
    TokenState, Version,
};
use tokenwarden::token::{TokenSet, from_unix_millis};

use contract_more::{
    breaker_records_are_listed_by_key, discovery_documents_are_kept_per_issuer,
    kept_tokens_are_stored_by_the_next_read, revocations_are_kept_until_settled,
    the_refresh_token_horizon_round_trips,
};

/// A fixed instant with whole milliseconds (stores keep milliseconds).
pub fn t0() -> SystemTime {
    from_unix_millis(1_700_000_000_123)
}

/// A token set with every field filled, its secrets tagged with `tag`.
pub fn tokens(tag: &str) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(format!("access-{tag}-PLAINTEXT-MARKER")),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(format!("refresh-{tag}-PLAINTEXT-MARKER"))),
        id_token: Some(IdToken::new(format!("idtoken-{tag}-PLAINTEXT-MARKER"))),
        expires_at: Some(t0() + Duration::from_secs(3600)),
        scopes: vec!["openid".into(), "offline_access".into()],
        obtained_at: t0(),
        refresh_token_obtained_at: Some(t0() - Duration::from_secs(60)),
        refresh_token_expires_at: None,
        subject: Some("user-1".into()),
        issuer: Some("https://issuer.example".into()),
    }
}

/// A discovery document of `issuer` as a store would keep it.
pub fn discovery_of(issuer: &str, token_endpoint: &str) -> StoredDiscovery {
    StoredDiscovery {
        issuer: issuer.to_string(),
        kind: DiscoveryKind::Metadata,
        source: format!("{issuer}/.well-known/oauth-authorization-server"),
        document: "rfc8414".to_string(),
        body: format!(r#"{{"issuer":"{issuer}","token_endpoint":"{token_endpoint}"}}"#),
        fetched_at: t0(),
        expires_at: t0() + Duration::from_secs(900),
    }
}

/// The raw test key (explicit: tests never touch the process environment).
pub const KEY: [u8; 32] = [7; 32];

/// A `KeySource` for [`KEY`].
pub fn key() -> KeySource {
    KeySource::Key(StoreKey::from_bytes(KEY))
}

/// A temporary directory and the store paths in a `tw` directory inside it.
pub fn temp_paths() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = Paths::in_dir(dir.path().join("tw"));
    (dir, paths)
}

/// Opens the SQLite store of `paths` with [`KEY`].
pub fn open(paths: &Paths) -> SqliteStore {
    SqliteStore::open(paths, key()).expect("open store")
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

/// Runs a contract test on both stores. The SQLite store and its directory live for the test.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod contract_memory {
            $(#[test] fn $name() {
                let clock = super::manual_clock();
                let store = tokenwarden::store::MemoryStore::new().with_clock(clock.clone());
                super::$name(&store, &clock);
            })*
        }
        mod contract_sqlite {
            $(#[test] fn $name() {
                let (_dir, paths) = super::temp_paths();
                let clock = super::manual_clock();
                let store = super::open(&paths).with_clock(clock.clone());
                super::$name(&store, &clock);
            })*
        }
        mod contract_postgres {
            $(#[test] fn $name() {
                let Some(cluster) = crate::pg::shared() else { return };
                let (_dir, paths) = super::temp_paths();
                let clock = super::manual_clock();
                let store = super::open_fleet(&paths, &cluster.database().url)
                    .with_clock(clock.clone());
                super::$name(&store, &clock);
            })*
        }
    };
}

/// Opens a fleet store on the database at `url` with [`KEY`].
pub fn open_fleet(paths: &Paths, url: &str) -> tokenwarden::store::PgStore {
    let settings = tokenwarden::store::postgres::FleetSettings {
        url: tokenwarden::store::postgres::StoreUrl::parse(url).expect("the URL parses"),
        key_file: None,
        auto_migrate: true,
    };
    tokenwarden::store::PgStore::open_with_key(paths, &settings, StoreKey::from_bytes(KEY))
        .expect("the fleet store opens")
}

contract!(
    cas_semantics,
    versions_grow_and_are_never_reused,
    marks_apply_only_to_the_version_seen,
    a_write_resets_the_state,
    profiles_are_isolated,
    every_field_round_trips,
    login_required_causes_round_trip,
    breaker_records_round_trip,
    events_round_trip,
    locks_exclude_and_wait_boundedly,
    breaker_records_are_listed_by_key,
    the_refresh_token_horizon_round_trips,
    kept_tokens_are_stored_by_the_next_read,
    revocations_are_kept_until_settled,
    discovery_documents_are_kept_per_issuer,
);

fn cas_semantics(s: &dyn Store, _: &ManualClock) {
    assert!(s.read("p").unwrap().is_none());
    // NONE expected: the profile must not exist.
    let v1 = s
        .write_if_version("p", Version::NONE, &tokens("1"))
        .unwrap()
        .written()
        .unwrap();
    assert!(v1 > Version::NONE);
    match s
        .write_if_version("p", Version::NONE, &tokens("x"))
        .unwrap()
    {
        CasOutcome::Conflict(Some(current)) => {
            assert_eq!(current.version, v1);
            assert_eq!(current.tokens, tokens("1"));
        }
        other => panic!("expected a conflict with the current record, got {other:?}"),
    }
    let v2 = s
        .write_if_version("p", v1, &tokens("2"))
        .unwrap()
        .written()
        .unwrap();
    assert!(v2 > v1);
    // The stale version loses and learns what is there now.
    match s.write_if_version("p", v1, &tokens("y")).unwrap() {
        CasOutcome::Conflict(Some(current)) => assert_eq!(current.version, v2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Expecting a version of a profile that does not exist: conflict with nothing.
    assert_eq!(
        s.write_if_version("q", v2, &tokens("z")).unwrap(),
        CasOutcome::Conflict(None)
    );
    assert_eq!(s.read("p").unwrap().unwrap().tokens, tokens("2"));
    assert!(s.read("q").unwrap().is_none());
}

fn versions_grow_and_are_never_reused(s: &dyn Store, _: &ManualClock) {
    let mut seen = Vec::new();
    seen.push(s.replace("p", &tokens("1")).unwrap());
    seen.push(s.replace("q", &tokens("1")).unwrap());
    seen.push(s.replace("p", &tokens("2")).unwrap());
    assert!(s.delete("p").unwrap());
    let again = s
        .write_if_version("p", Version::NONE, &tokens("3"))
        .unwrap()
        .written()
        .unwrap();
    seen.push(again);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

fn marks_apply_only_to_the_version_seen(s: &dyn Store, clock: &ManualClock) {
    let v1 = s.replace("p", &tokens("1")).unwrap();
    let v2 = s.replace("p", &tokens("2")).unwrap();
    assert!(!s.mark_rejected("p", v1).unwrap());
    assert!(!s.mark_rejected("absent", v2).unwrap());
    assert!(
        !s.mark_state(
            "p",
            v1,
            TokenState::Rejected,
            Some(&LastError::new("old", None)),
            true
        )
        .unwrap()
    );
    assert_eq!(s.read("p").unwrap().unwrap().state, TokenState::Valid);

    clock.advance(Duration::from_secs(5));
    assert!(s.mark_rejected("p", v2).unwrap());
    let r = s.read("p").unwrap().unwrap();
    assert_eq!((r.state.clone(), r.version), (TokenState::Rejected, v2));
    assert_eq!(r.updated_at, t0() + Duration::from_secs(5));
    assert_eq!(r.last_refresh_at, None);

    let login = TokenState::LoginRequired {
        reason: "invalid_grant: token revoked".into(),
        cause: Some(Cause::RefreshTokenRevoked),
    };
    clock.advance(Duration::from_secs(5));
    let error = LastError::new("HTTP 400 invalid_grant", Some(Cause::RefreshTokenRevoked));
    assert!(
        s.mark_state("p", v2, login.clone(), Some(&error), true)
            .unwrap()
    );
    let r = s.read("p").unwrap().unwrap();
    assert_eq!(r.state, login);
    assert_eq!(r.last_error, Some(error));
    assert!(r.refresh_failure_transient);
    assert_eq!(r.last_refresh_at, Some(t0() + Duration::from_secs(10)));
    // The credentials are kept, the version unchanged.
    assert_eq!((r.version, r.tokens), (v2, tokens("2")));
    // A later rejection does not hide that a login is required.
    assert!(s.mark_rejected("p", v2).unwrap());
    assert_eq!(s.read("p").unwrap().unwrap().state, login);
}

fn a_write_resets_the_state(s: &dyn Store, clock: &ManualClock) {
    let v1 = s.replace("p", &tokens("1")).unwrap();
    assert!(
        s.mark_state(
            "p",
            v1,
            TokenState::Rejected,
            Some(&LastError::new("503", None)),
            true
        )
        .unwrap()
    );
    clock.advance(Duration::from_secs(1));
    let v2 = s
        .write_if_version("p", v1, &tokens("2"))
        .unwrap()
        .written()
        .unwrap();
    let r = s.read("p").unwrap().unwrap();
    assert_eq!(r.version, v2);
    assert_eq!(r.state, TokenState::Valid);
    assert_eq!(r.last_error, None);
    assert!(!r.refresh_failure_transient);
    // A refresh (a write over an existing version) records when it happened.
    assert_eq!(r.last_refresh_at, Some(t0() + Duration::from_secs(1)));
    // A login does not.
    let v3 = s.replace("p", &tokens("3")).unwrap();
    let r = s.read("p").unwrap().unwrap();
    assert_eq!((r.version, r.last_refresh_at), (v3, None));
}

fn profiles_are_isolated(s: &dyn Store, _: &ManualClock) {
    assert!(s.list_profiles().unwrap().is_empty());
    let va = s.replace("b", &tokens("b")).unwrap();
    s.replace("a", &tokens("a")).unwrap();
    s.replace("c", &tokens("c")).unwrap();
    assert_eq!(s.list_profiles().unwrap(), ["a", "b", "c"]);
    assert!(s.delete("a").unwrap());
    assert!(!s.delete("a").unwrap());
    assert_eq!(s.list_profiles().unwrap(), ["b", "c"]);
    assert!(s.mark_rejected("b", va).unwrap());
    assert_eq!(s.read("c").unwrap().unwrap().state, TokenState::Valid);
    assert_eq!(s.read("b").unwrap().unwrap().tokens, tokens("b"));
}

fn every_field_round_trips(s: &dyn Store, _: &ManualClock) {
    let full = tokens("full");
    let v = s.replace("full", &full).unwrap();
    let r = s.read("full").unwrap().unwrap();
    assert_eq!(r.profile, "full");
    assert_eq!(r.version, v);
    assert_eq!(r.tokens, full);
    assert_eq!(r.updated_at, t0());
    let sparse = TokenSet {
        refresh_token: None,
        id_token: None,
        expires_at: None,
        scopes: vec![],
        refresh_token_obtained_at: None,
        refresh_token_expires_at: None,
        subject: None,
        issuer: None,
        ..tokens("sparse")
    };
    s.replace("sparse", &sparse).unwrap();
    assert_eq!(s.read("sparse").unwrap().unwrap().tokens, sparse);
    // Secrets stay redacted in Debug.
    assert!(!format!("{r:?}").contains("PLAINTEXT-MARKER"));
}

fn login_required_causes_round_trip(s: &dyn Store, _: &ManualClock) {
    let v = s.replace("p", &tokens("1")).unwrap();
    // Every cause, and none (a mark that names no cause).
    let causes = Cause::ALL.iter().copied().map(Some).chain([None]);
    for cause in causes {
        let mark = TokenState::LoginRequired {
            reason: "invalid_grant: token revoked".into(),
            cause,
        };
        assert!(
            s.mark_state(
                "p",
                v,
                mark.clone(),
                Some(&LastError::new("revoked", cause)),
                false
            )
            .unwrap()
        );
        let r = s.read("p").unwrap().unwrap();
        assert_eq!(r.state, mark);
        assert_eq!(r.state.cause(), cause);
        assert_eq!(r.state.reason(), Some("invalid_grant: token revoked"));
    }
    let lost = TokenState::LoginRequired {
        reason: "invalid_grant".into(),
        cause: Some(Cause::PossiblyLostRotation),
    };
    assert!(s.mark_state("p", v, lost.clone(), None, true).unwrap());
    // A rejection keeps the mark and its cause.
    assert!(s.mark_rejected("p", v).unwrap());
    assert_eq!(s.read("p").unwrap().unwrap().state, lost);
    // Other states carry no cause.
    assert!(
        s.mark_state("p", v, TokenState::Rejected, None, false)
            .unwrap()
    );
    assert_eq!(s.read("p").unwrap().unwrap().state.cause(), None);
    // A new write clears the mark and its cause.
    assert!(s.mark_state("p", v, lost, None, true).unwrap());
    let v2 = s
        .write_if_version("p", v, &tokens("2"))
        .unwrap()
        .written()
        .unwrap();
    let r = s.read("p").unwrap().unwrap();
    assert_eq!((r.version, r.state), (v2, TokenState::Valid));
    // Profiles keep their own causes.
    let vq = s.replace("q", &tokens("q")).unwrap();
    let revoked = TokenState::LoginRequired {
        reason: String::new(),
        cause: Some(Cause::RefreshTokenRevoked),
    };
    assert!(s.mark_state("q", vq, revoked.clone(), None, false).unwrap());
    assert_eq!(s.read("q").unwrap().unwrap().state, revoked);
    assert_eq!(s.read("p").unwrap().unwrap().state, TokenState::Valid);
}

fn breaker_records_round_trip(s: &dyn Store, _: &ManualClock) {
    let backend: &dyn BreakerBackend = s;
    assert_eq!(backend.load("k").unwrap(), BreakerRecord::default());
    let rec = BreakerRecord {
        consecutive_failures: 3,
        open_until: Some(t0() + Duration::from_secs(30)),
        last_retry_after: Some(Duration::from_millis(1500)),
        updated_at: t0(),
    };
    backend.save("k", &rec).unwrap();
    assert_eq!(backend.load("k").unwrap(), rec);
    let updated = backend
        .update("k", &mut |r| r.consecutive_failures += 1)
        .unwrap();
    assert_eq!(updated.consecutive_failures, 4);
    assert_eq!(backend.load("k").unwrap(), updated);
    assert_eq!(backend.load("other").unwrap(), BreakerRecord::default());
}

fn events_round_trip(s: &dyn Store, _: &ManualClock) {
    let mut e1 = Event::new(
        t0(),
        "p",
        Operation::Refresh,
        Outcome::Failed(ErrorKind::ProviderUnavailable),
    );
    e1.status = Some(503);
    e1.request_id = Some("req-1".into());
    e1.correlation_id = Some("tw-1".into());
    e1.duration = Some(Duration::from_millis(250));
    e1.attempt = 2;
    e1.oauth_error = Some(OAuthErrorCode::TemporarilyUnavailable);
    let mut e2 = Event::new(
        t0() + Duration::from_secs(1),
        "p",
        Operation::Refresh,
        Outcome::Ok,
    );
    e2.oauth_error = None;
    let old = Event::new(
        t0() - Duration::from_secs(1),
        "p",
        Operation::Login,
        Outcome::Ok,
    );
    let other = Event::new(
        t0() + Duration::from_secs(2),
        "q",
        Operation::Refresh,
        Outcome::Ok,
    );
    for e in [&old, &e1, &e2, &other] {
        s.append_event(e).unwrap();
    }
    // A store shared by machines names the host of each record: compared without it.
    let s = |since, profile, limit| -> Vec<Event> {
        s.recent_events(since, profile, limit)
            .unwrap()
            .into_iter()
            .map(|mut e: Event| {
                e.host = None;
                e
            })
            .collect()
    };
    let p = Some("p");
    assert_eq!(s(t0(), p, 10), [e1.clone(), e2.clone()]);
    // The limit keeps the newest, and the profile is chosen before the limit.
    assert_eq!(s(t0(), p, 1), [e2.clone()]);
    assert_eq!(s(t0(), None, 2), [e2, other]);
    assert_eq!(s(old.at, None, 10).len(), 4);
    assert_eq!(s(old.at, Some("nobody"), 10), []);
}

/// Retention applied by the store itself while records are appended (no reopening).
fn retention_applies_while_appending(s: &dyn Store) {
    let two_hours_ago = t0() - Duration::from_secs(2 * 3600);
    for _ in 0..2 {
        s.append_event(&Event::new(
            two_hours_ago,
            "p",
            Operation::Login,
            Outcome::Ok,
        ))
        .unwrap();
    }
    let mut newest = Vec::new();
    for i in 0..10u64 {
        let e = Event::new(
            t0() + Duration::from_secs(i),
            "p",
            Operation::Refresh,
            Outcome::Ok,
        );
        s.append_event(&e).unwrap();
        newest.push(e);
    }
    let mut left = s.recent_events(std::time::UNIX_EPOCH, None, 100).unwrap();
    // A store shared by machines names the host of each record: compared without it.
    left.iter_mut().for_each(|e| e.host = None);
    // 12 appended, pruned at the 4th, 8th and 12th: the newest 5 stay.
    assert_eq!(left, newest[5..], "{left:#?}");
}

fn small_retention() -> Retention {
    Retention {
        max_age: Duration::from_secs(3600),
        max_events: 5,
        prune_every: 4,
    }
}

#[test]
fn retention_applies_while_appending_to_memory() {
    retention_applies_while_appending(&MemoryStore::new().with_event_retention(small_retention()));
}

#[test]
fn retention_applies_while_appending_to_postgres() {
    let Some(cluster) = crate::pg::shared() else {
        return;
    };
    let (_dir, paths) = temp_paths();
    let store = open_fleet(&paths, &cluster.database().url).with_event_retention(small_retention());
    retention_applies_while_appending(&store);
}

#[test]
fn retention_applies_while_appending_to_sqlite() {
    let (_dir, paths) = temp_paths();
    retention_applies_while_appending(&open(&paths).with_event_retention(small_retention()));
}

fn locks_exclude_and_wait_boundedly(s: &dyn Store, _: &ManualClock) {
    let held = s.try_lock_profile("p").unwrap().expect("free");
    assert_eq!(held.profile(), "p");
    assert!(s.try_lock_profile("p").unwrap().is_none());
    assert!(s.try_lock_profile("q").unwrap().is_some());
    let err = s.lock_profile("p", Duration::from_millis(30)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.message()
            .starts_with("waited 30 ms for the refresh lock of profile \"p\"")
            && err.message().contains(" held by another process"),
        "{}",
        err.message()
    );
    assert!(err.hint().is_some());
    drop(held);
    let again = s.lock_profile("p", Duration::from_secs(5)).unwrap();
    // A waiter is let in when the holder lets go (another thread here).
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| s.lock_profile("p", Duration::from_secs(30)).map(|_| ()));
        drop(again);
        waiter.join().expect("waiter").expect("lock after release");
    });
}

#[test]
fn memory_store_is_a_store_and_a_breaker_backend() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let _backend: Arc<dyn BreakerBackend> = store;
}
