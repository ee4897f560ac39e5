//! The naive strategy's rotation race beside tokenwarden's absence of it, against mockauth with
//! refresh-token rotation on and reuse grace 0, in real time. Each "process" of tokenwarden is
//! a session over its own handle on one SQLite store, as separate processes would be; each
//! naive "process" is a [`NaiveClient`] with its own copy of one login. The real binary in
//! several processes is tested by the CLI's `demo` tests.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenwarden::config::Profile;
use tokenwarden::paths::Paths;
use tokenwarden::session::{Session, SessionOptions};
use tokenwarden::store::{KeySource, SqliteStore, Store as _, StoreKey};
use tokenwarden::token::TokenSet;
use tokenwarden::warden::ClientGrants;
use tokenwarden::{ErrorKind, TokenClient};
use tokenwarden_demo::naive::NaiveClient;

const PROFILE: &str = "test";

/// mockauth, a profile pointed at it, and a store directory.
struct Env {
    server: mockauth::ServerHandle,
    profile: Profile,
    paths: Paths,
    _dir: tempfile::TempDir,
}

/// mockauth with rotation on and no reuse grace, access tokens living `access_ttl`.
async fn env(access_ttl: Duration) -> Env {
    let config = mockauth::Config {
        auto_approve: true,
        access_ttl,
        rotate_refresh_tokens: true,
        reuse_grace: Duration::ZERO,
        ..mockauth::Config::default()
    };
    let server = mockauth::Server::start(config)
        .await
        .expect("mockauth starts");
    let mut profile = Profile::new(PROFILE, "cli");
    // The issuer validates the ID token of the login; the endpoints are given, not discovered.
    profile.issuer = Some(server.issuer());
    let u = |path: &str| url::Url::parse(&server.url(path)).ok();
    profile.endpoints.authorization = u("/authorize");
    profile.endpoints.token = u("/token");
    profile.scopes = vec!["openid".into(), "offline_access".into()];
    profile.timeout = Duration::from_secs(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = Paths::in_dir(dir.path().join("tw"));
    Env {
        server,
        profile,
        paths,
        _dir: dir,
    }
}

impl Env {
    /// A new login (authorization code + PKCE, no browser): a new token family.
    async fn login(&self) -> TokenSet {
        let client = TokenClient::new(self.profile.clone()).expect("client");
        tokenwarden_demo::login::headless(&client)
            .await
            .unwrap_or_else(|e| panic!("login: {}", e.report()))
    }

    /// A new handle on the store (what each process opens).
    fn store(&self) -> Arc<SqliteStore> {
        let key = KeySource::Key(StoreKey::from_bytes([9; 32]));
        Arc::new(SqliteStore::open(&self.paths, key).expect("store opens"))
    }

    /// A session over its own store handle and token client (a process of its own).
    fn session(&self) -> Session {
        let store = self.store();
        let client = TokenClient::builder(self.profile.clone())
            .breaker_backend(store.clone())
            .build()
            .expect("client");
        Session::new(
            PROFILE,
            store,
            Arc::new(ClientGrants(client)),
            Arc::new(tokenwarden::clock::SystemClock),
            SessionOptions {
                refresh_skew: self.profile.refresh_skew,
                ..SessionOptions::default()
            },
        )
    }
}

fn invalid_grants(s: &mockauth::Stats) -> u64 {
    s.token_errors.get("invalid_grant").copied().unwrap_or(0)
}

/// The refreshes one well-behaved client needs over `elapsed`: one per (TTL − window), plus
/// one for where the run starts in a window.
fn one_client_needs(elapsed: Duration, ttl: Duration) -> u64 {
    let period = ttl - ttl / 2; // the window of a short token is half its lifetime
    (elapsed.as_secs_f64() / period.as_secs_f64()).floor() as u64 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn naive_clients_race_into_a_relogin_and_sessions_do_not() {
    const N: usize = 4;
    let ttl = Duration::from_secs(1);
    let run = Duration::from_secs(3);
    let env = env(ttl).await;

    // The naive strategy: N processes, each with its own copy of one login.
    let login = env.login().await;
    let before = env.server.stats();
    let start = Instant::now();
    let naive: Vec<_> = (0..N)
        .map(|_| {
            let client = TokenClient::new(env.profile.clone()).expect("client");
            let mut c = NaiveClient::new(client, login.clone());
            tokio::spawn(async move {
                while start.elapsed() < run {
                    if let Err(e) = c.token().await {
                        return Some(e);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                None
            })
        })
        .collect();
    let mut relogins = 0;
    for t in naive {
        if let Some(e) = t.await.expect("task") {
            assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
            relogins += 1;
        }
    }
    let mid = env.server.stats();
    eprintln!(
        "naive: {relogins}/{N} forced re-logins, {} refreshes, {} invalid_grant, {} reuse detected",
        mid.token_requests.refresh_token - before.token_requests.refresh_token,
        invalid_grants(&mid) - invalid_grants(&before),
        mid.refresh_reuse_detected - before.refresh_reuse_detected
    );
    assert_eq!(
        relogins, N,
        "every naive process is sent back to log in: the first refresh rotated the token, the \
         others presented the old one, and reuse detection revoked the session"
    );
    assert!(invalid_grants(&mid) - invalid_grants(&before) >= (N - 1) as u64);
    assert!(mid.refresh_reuse_detected > before.refresh_reuse_detected);

    // tokenwarden: N processes sharing one store, on a new login.
    env.store().replace(PROFILE, &env.login().await).unwrap();
    let start = Instant::now();
    let sessions: Vec<_> = (0..N)
        .map(|_| {
            let s = Arc::new(env.session());
            tokio::spawn(async move {
                while start.elapsed() < run {
                    s.get_token(Duration::ZERO)
                        .await
                        .unwrap_or_else(|e| panic!("get_token failed: {}", e.report()));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    for t in sessions {
        t.await.expect("no session fails");
    }
    let elapsed = start.elapsed();
    let after = env.server.stats();
    let refreshes = after.token_requests.refresh_token - mid.token_requests.refresh_token;
    eprintln!("tokenwarden: 0 re-logins, {refreshes} refreshes in {elapsed:?}");
    assert!(
        refreshes <= one_client_needs(elapsed, ttl),
        "{refreshes} refreshes"
    );
    assert!(refreshes >= 2, "the run crossed expiry windows");
    assert_eq!(
        invalid_grants(&after),
        invalid_grants(&mid),
        "no invalid_grant"
    );
    assert_eq!(after.refresh_reuse_detected, mid.refresh_reuse_detected);
    env.server.shutdown().await.expect("mockauth stops");
}
