//! The issuer's key set (JWKS) kept in a store beside its discovery document, so that the ID
//! token a refresh brings is verified without asking for the keys again: kept while its caching
//! headers allow, only for the `jwks_uri` it came from, ignored when its row does not open,
//! and fetched once more, never in a loop, when the provider has rotated its signing key. Every
//! "process" here is a token client with a discovery cache of its own over one SQLite store;
//! mockauth counts the requests for `/jwks`.

use crate::util;
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::TokenClient;
use tokenwarden::discovery::Discovery;
use tokenwarden::paths::Paths;
use tokenwarden::retry::{ManualClock, RecordingSleeper};
use tokenwarden::secret::RefreshToken;
use tokenwarden::store::DiscoveryKind::KeySet;
use tokenwarden::store::{SqliteStore, Store, StoredDiscovery};

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// How long mockauth lets clients keep its documents and keys here.
const MAX_AGE: Duration = Duration::from_secs(600);

/// mockauth letting clients keep its metadata and keys for `max_age` (`None`: `no-cache`).
async fn mock(max_age: Option<Duration>) -> mockauth::ServerHandle {
    mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        discovery_max_age: max_age,
        ..mockauth::Config::default()
    })
    .await
    .expect("mockauth starts")
}

/// One SQLite store the processes share, and the time they read.
struct Machine {
    _dir: tempfile::TempDir,
    paths: Paths,
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
}

impl Machine {
    fn new() -> Machine {
        let (dir, paths) = crate::store::temp_paths();
        Machine {
            store: Arc::new(crate::store::open(&paths)),
            _dir: dir,
            paths,
            clock: Arc::new(ManualClock::new(util::t0())),
        }
    }

    /// A new process: the public client `cli` of `server`, found by discovery, with a
    /// discovery cache of its own over the shared store.
    fn process(&self, server: &mockauth::ServerHandle) -> TokenClient {
        let mut profile = tokenwarden::config::Profile::new("j", "cli");
        profile.issuer = Some(server.issuer());
        profile.scopes = vec!["openid".into(), "offline_access".into()];
        profile.retry.max_attempts = 1;
        let discovery = Discovery::new(Duration::from_secs(60), self.clock.clone())
            .with_store(self.store.clone());
        TokenClient::builder(profile)
            .clock(self.clock.clone())
            .sleeper(Arc::new(RecordingSleeper::new(Some(self.clock.clone()))))
            .discovery(Arc::new(discovery))
            .build()
            .expect("client")
    }

    fn stored_keys(&self, server: &mockauth::ServerHandle) -> Option<StoredDiscovery> {
        self.store
            .read_discovery(&server.issuer(), KeySet)
            .expect("reads")
    }
}

/// A login's refresh token, from a code exchange of `client`.
async fn login(server: &mockauth::ServerHandle, client: &TokenClient) -> RefreshToken {
    let (code, verifier) = util::authorize(server, "cli", REDIRECT).await;
    client
        .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
        .await
        .expect("code exchange")
        .refresh_token
        .expect("a refresh token")
}

/// Refreshes with `rt`; whether the ID token that came with it was verified (a verified one
/// is kept with its subject, one that is not is dropped), and the next refresh token.
async fn refresh(client: &TokenClient, rt: RefreshToken) -> (bool, RefreshToken) {
    let tokens = client.refresh(&rt).await.expect("refreshed");
    let verified = tokens.id_token.is_some() && tokens.subject.as_deref() == Some("mock-user");
    (verified, tokens.refresh_token.unwrap_or(rt))
}

fn jwks_requests(server: &mockauth::ServerHandle) -> u64 {
    server.stats().jwks_requests
}

/// A server keeping its keys for [`MAX_AGE`], a machine, and its first process after a login
/// and one refresh: the key set fetched once and kept. With the refresh token to go on with.
async fn keys_kept() -> (mockauth::ServerHandle, Machine, TokenClient, RefreshToken) {
    let server = mock(Some(MAX_AGE)).await;
    let m = Machine::new();
    let first = m.process(&server);
    let rt = login(&server, &first).await;
    let (_, rt) = refresh(&first, rt).await;
    assert_eq!(jwks_requests(&server), 1);
    (server, m, first, rt)
}

#[tokio::test]
async fn the_next_process_verifies_a_refreshed_id_token_with_the_stored_keys() {
    let server = mock(Some(MAX_AGE)).await;
    let m = Machine::new();
    let first = m.process(&server);
    let rt = login(&server, &first).await;
    let (verified, rt) = refresh(&first, rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 1);
    let kept = m.stored_keys(&server).expect("the key set is stored");
    assert_eq!(kept.source, server.url("/jwks"));
    assert_eq!(kept.expires_at, util::t0() + MAX_AGE);

    // The same process, and the next one: neither asks for the keys.
    let (verified, rt) = refresh(&first, rt).await;
    assert!(verified);
    let (verified, _) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 1);
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn an_expired_stored_key_set_is_fetched_again() {
    let (server, m, _first, rt) = keys_kept().await;

    m.clock.advance(MAX_AGE);
    let (verified, _) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 2, "expired: fetched again");
    let kept = m.stored_keys(&server).expect("stored again");
    assert_eq!(kept.expires_at, util::t0() + MAX_AGE + MAX_AGE);
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_key_set_stored_for_another_jwks_uri_is_not_used() {
    let (server, m, _first, rt) = keys_kept().await;
    // The very keys that verify, but kept for another URL than the metadata's `jwks_uri`.
    let kept = m.stored_keys(&server).expect("stored");
    let elsewhere = format!("http://127.0.0.1:{}/jwks", util::closed_port());
    m.store
        .write_discovery(&StoredDiscovery {
            source: elsewhere,
            ..kept
        })
        .expect("planted");

    let (verified, _) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 2, "not used: fetched");
    let replaced = m.stored_keys(&server).expect("stored");
    assert_eq!(replaced.source, server.url("/jwks"));
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_stored_key_set_that_does_not_open_or_parse_is_ignored() {
    let server = mock(Some(MAX_AGE)).await;
    let m = Machine::new();
    let first = m.process(&server);
    let rt = login(&server, &first).await;
    let (_, mut rt) = refresh(&first, rt).await;
    let mut expected = 1;

    // Someone who can write the file but holds no key lengthens its life.
    let conn = Connection::open(m.paths.database()).expect("opens");
    let changed = conn
        .execute(
            "UPDATE discovery SET expires_at = expires_at + 1 WHERE kind = 'key_set'",
            [],
        )
        .expect("updates");
    assert_eq!(changed, 1);
    drop(conn);
    assert_eq!(m.stored_keys(&server), None, "the row does not open");
    let (verified, next) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    expected += 1;
    assert_eq!(jwks_requests(&server), expected, "ignored: fetched");
    rt = next;

    // A sealed row whose body is no key set.
    let kept = m.stored_keys(&server).expect("stored again");
    for body in ["<html>", r#"{"keys":"none"}"#] {
        m.store
            .write_discovery(&StoredDiscovery {
                body: body.to_string(),
                ..kept.clone()
            })
            .expect("planted");
        let (verified, next) = refresh(&m.process(&server), rt).await;
        assert!(verified, "a stored body {body}");
        expected += 1;
        assert_eq!(jwks_requests(&server), expected, "{body}: fetched");
        rt = next;
    }
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_and_the_id_token_verifies() {
    let (server, m, first, rt) = keys_kept().await;

    let kid = server.rotate_signing_key().expect("rotates");
    // This process holds the old set in memory: one more request, then verified.
    let (verified, rt) = refresh(&first, rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 2);
    let kept = m.stored_keys(&server).expect("stored");
    assert!(kept.body.contains(&kid), "the stored set is replaced");
    // The next process starts from the replaced set.
    let (verified, rt) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 2);

    // Another process still holding the old set from the store (read before a rotation).
    let holder = m.process(&server);
    let (_, rt) = refresh(&holder, rt).await;
    server.rotate_signing_key().expect("rotates");
    let (verified, _) = refresh(&holder, rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 3, "exactly one more request");
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_token_no_key_verifies_costs_one_request_and_is_dropped() {
    let (server, _m, first, rt) = keys_kept().await;

    // The next ID token is signed with a key the server never publishes.
    let body = serde_json::json!({
        "access_token": "at-forged-id", "token_type": "Bearer", "expires_in": 3600,
        "id_token": crate::refresh_answers::forged_id_token(&server.issuer(), "attacker"),
    })
    .to_string();
    server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Token,
            mockauth::FaultSpec::raw(200, &body).count(1),
        ))
        .expect("plan");
    let tokens = first.refresh(&rt).await.expect("the refresh stands");
    assert_eq!(tokens.id_token, None, "not verified: dropped");
    assert_eq!(tokens.subject, None);
    assert_eq!(
        jwks_requests(&server),
        2,
        "fetched once more, not in a loop"
    );
    server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_no_cache_key_set_is_held_by_its_process_but_not_stored() {
    let server = mock(None).await;
    let m = Machine::new();
    let first = m.process(&server);
    let rt = login(&server, &first).await;
    let (verified, rt) = refresh(&first, rt).await;
    assert!(verified);
    assert_eq!(m.stored_keys(&server), None, "no-cache: not stored");
    let (verified, rt) = refresh(&first, rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 1, "held by the process");
    let (verified, _) = refresh(&m.process(&server), rt).await;
    assert!(verified);
    assert_eq!(jwks_requests(&server), 2, "the next process asks again");
    server.shutdown().await.expect("stop");
}
