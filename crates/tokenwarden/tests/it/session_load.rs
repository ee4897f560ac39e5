//! Sessions against mockauth with refresh-token rotation on and reuse grace 0, in real time:
//! 64 tasks across more than ten expiry windows (the naive strategy's rotation race beside
//! them is tested with the naive client, in the demo crate); a storm of 500s (and one attempt per proactive refresh); early
//! revocation and `send`; client credentials renewing by themselves. Each "process" is a session over its own handle on one
//! SQLite store, as separate processes would be. The real binary in several processes is
//! tested in the CLI tests (`sessions`).

use super::util;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenwarden::config::{GrantType, Profile};
use tokenwarden::paths::Paths;
use tokenwarden::session::{Session, SessionOptions};
use tokenwarden::store::{KeySource, SqliteStore, Store, StoreKey};
use tokenwarden::token::TokenSet;
use tokenwarden::warden::ClientGrants;
use tokenwarden::{ErrorKind, TokenClient};

const PROFILE: &str = "test";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// mockauth, a profile pointed at it, and a store directory.
pub struct Env {
    pub server: mockauth::ServerHandle,
    pub profile: Profile,
    pub paths: Paths,
    _dir: tempfile::TempDir,
}

/// mockauth with rotation on, `reuse_grace`, access tokens living `access_ttl`.
pub async fn env(access_ttl: Duration, reuse_grace: Duration) -> Env {
    let config = mockauth::Config {
        auto_approve: true,
        access_ttl,
        rotate_refresh_tokens: true,
        reuse_grace,
        ..mockauth::Config::default()
    };
    let server = mockauth::Server::start(config)
        .await
        .expect("mockauth starts");
    let profile = util::profile(&server, "cli");
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
    /// A new login (authorization code + PKCE): a new token family at the provider.
    pub async fn login(&self) -> TokenSet {
        let client = TokenClient::new(self.profile.clone()).expect("client");
        let (code, verifier) = util::authorize(&self.server, "cli", REDIRECT).await;
        client
            .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
            .await
            .expect("code exchange")
    }

    /// A new handle on the store (what each process opens).
    pub fn store(&self) -> Arc<SqliteStore> {
        let key = KeySource::Key(StoreKey::from_bytes([9; 32]));
        Arc::new(SqliteStore::open(&self.paths, key).expect("store opens"))
    }

    /// A session over its own store handle and token client (a process of its own).
    pub fn session(&self, profile: &Profile) -> Session {
        let store = self.store();
        let client = TokenClient::builder(profile.clone())
            .breaker_backend(store.clone())
            .client_secret(tokenwarden::secret::ClientSecret::new("svc-secret"))
            .build()
            .expect("client");
        Session::new(
            PROFILE,
            store,
            Arc::new(ClientGrants(client)),
            Arc::new(tokenwarden::clock::SystemClock),
            SessionOptions {
                refresh_skew: profile.refresh_skew,
                ..SessionOptions::default()
            },
        )
    }
}

/// Calls `get_token(min_ttl)` in a loop on `session` until `run` has passed since `start`,
/// pausing `pace` between calls; returns how many calls succeeded and how many were degraded.
async fn hammer(
    session: Arc<Session>,
    start: Instant,
    run: Duration,
    min_ttl: Duration,
) -> (u64, u64) {
    let (mut ok, mut degraded) = (0, 0);
    while start.elapsed() < run {
        let t = session
            .get_token(min_ttl)
            .await
            .unwrap_or_else(|e| panic!("get_token failed: {}", e.report()));
        ok += 1;
        degraded += u64::from(t.degraded().is_some());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (ok, degraded)
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
async fn sixty_four_tasks_refresh_once_per_window() {
    let ttl = Duration::from_secs(1);
    let env = env(ttl, Duration::ZERO).await;
    env.store().replace(PROFILE, &env.login().await).unwrap();
    let session = Arc::new(env.session(&env.profile));
    let before = env.server.stats();
    let start = Instant::now();
    let run = Duration::from_secs(11);
    let tasks: Vec<_> = (0..64)
        .map(|_| tokio::spawn(hammer(session.clone(), start, run, Duration::ZERO)))
        .collect();
    let mut calls = 0;
    for t in tasks {
        calls += t.await.expect("task").0;
    }
    let elapsed = start.elapsed();
    let after = env.server.stats();
    let refreshes = after.token_requests.refresh_token - before.token_requests.refresh_token;
    let most = one_client_needs(elapsed, ttl);
    eprintln!("64 tasks: {calls} calls, {refreshes} refreshes in {elapsed:?} (at most {most})");
    assert!(
        refreshes <= most,
        "{refreshes} refreshes in {elapsed:?} for {calls} calls; one client needs {most}"
    );
    assert!(
        refreshes + 1 >= elapsed.as_secs(),
        "{refreshes} refreshes in {elapsed:?}: the run did not cross the expiry windows"
    );
    assert_eq!(invalid_grants(&after), 0, "{:?}", after.token_errors);
    assert_eq!(after.refresh_reuse_detected, 0);
}

/// Polls `cond` every 5 ms until it holds; fails after 30 s saying `what`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Env {
    /// What is stored for [`PROFILE`].
    fn stored(&self) -> tokenwarden::store::StoredTokens {
        self.store()
            .read(PROFILE)
            .expect("the store reads")
            .expect("tokens are stored")
    }

    /// The shared circuit breaker's record of the token endpoint.
    fn breaker(&self) -> tokenwarden::retry::BreakerRecord {
        use tokenwarden::retry::BreakerBackend as _;
        let key = self.server.url("/token");
        self.store().load(&key).expect("the breaker record reads")
    }
}

fn storm_of_500s() -> mockauth::FaultPlan {
    mockauth::FaultPlan::default().with(
        mockauth::Endpoint::Token,
        mockauth::FaultSpec::status(500).oauth_error("server_error"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_500s_serves_the_valid_token_within_the_breaker_then_a_real_refresh() {
    // Tokens live 10 s (window 5 s) and callers ask for 3 s: from 2 s after the login every
    // call is inside the window and wants a refresh. The storm lasts the first 5 s; the token
    // expires 5 s later, so the first request after the storm needs a real refresh.
    let env = env(Duration::from_secs(10), Duration::ZERO).await;
    let mut profile = env.profile.clone();
    profile.retry.breaker_cooldown = Duration::from_secs(1);
    let threshold = u64::from(profile.retry.breaker_threshold);
    env.store().replace(PROFILE, &env.login().await).unwrap();
    env.server.set_faults(storm_of_500s()).unwrap();
    let before = env.server.stats();
    let start = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::new(env.session(&profile));
            tokio::spawn(hammer(
                s,
                start,
                Duration::from_secs(5),
                Duration::from_secs(3),
            ))
        })
        .collect();
    let (mut calls, mut degraded) = (0, 0);
    for t in tasks {
        let (c, d) = t.await.expect("every caller keeps getting the valid token");
        calls += c;
        degraded += d;
    }
    let storm = start.elapsed();
    let after = env.server.stats();
    env.server.clear_faults();
    let attempts = after.token_requests.refresh_token - before.token_requests.refresh_token;
    // The schedule of the one credential: `threshold` failures in a row open the breaker, then
    // one probe per cool-down; callers with a valid token never retry on their own.
    let cooldown = profile.retry.breaker_cooldown;
    let most = threshold + (storm.as_secs_f64() / cooldown.as_secs_f64()).ceil() as u64;
    eprintln!(
        "storm: {calls} calls ({degraded} degraded) in {storm:?}, {attempts} refresh attempts (at most {most})"
    );
    assert!(
        (1..=most).contains(&attempts),
        "{attempts} refresh attempts by {calls} calls of 16 processes in a {storm:?} storm; the schedule allows {most}"
    );
    assert!(degraded > 0, "callers were warned");

    // After the storm: once the token has expired, the first request must refresh for real.
    until("the token to expire", || {
        env.stored().tokens.is_expired(std::time::SystemTime::now())
    })
    .await;
    until("the breaker's cool-down to end", || {
        env.breaker()
            .open_until
            .is_none_or(|t| t <= std::time::SystemTime::now())
    })
    .await;
    let before = env.server.stats();
    let session = env.session(&profile);
    let http = reqwest::Client::new();
    let url = env.server.url("/v1/messages");
    let resp = session
        .send(|t| http.get(&url).header("authorization", t.authorization()))
        .await
        .expect("the first request after the storm");
    assert_eq!(resp.status(), 200);
    let after = env.server.stats();
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "one real refresh, and it succeeded"
    );
    assert_eq!(session.warning(), None);
}

#[tokio::test]
async fn a_proactive_refresh_makes_one_attempt_and_an_expired_token_the_whole_policy() {
    let env = env(Duration::from_secs(4), Duration::ZERO).await;
    let mut profile = env.profile.clone();
    profile.retry.max_attempts = 3;
    profile.retry.base_delay = Duration::from_millis(1);
    profile.retry.max_delay = Duration::from_millis(1);
    env.store().replace(PROFILE, &env.login().await).unwrap();
    env.server.set_faults(storm_of_500s()).unwrap();
    let session = env.session(&profile);
    let skew = profile.refresh_skew;
    until("the token to enter its proactive window", || {
        !env.stored()
            .tokens
            .is_fresh(std::time::SystemTime::now(), Duration::ZERO, skew)
    })
    .await;
    let refreshes = || env.server.stats().token_requests.refresh_token;
    let before = refreshes();
    let t = session
        .get_token(Duration::ZERO)
        .await
        .expect("the token still works");
    assert!(t.degraded().is_some(), "warned");
    assert_eq!(
        refreshes() - before,
        1,
        "one attempt, no retries, while the token still works"
    );
    until("the token to expire", || {
        env.stored().tokens.is_expired(std::time::SystemTime::now())
    })
    .await;
    let before = refreshes();
    let e = session
        .get_token(Duration::ZERO)
        .await
        .expect_err("nothing valid left");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert_eq!(
        refreshes() - before,
        3,
        "every attempt of the policy once nothing else is left"
    );
}

#[tokio::test]
async fn revoke_all_costs_one_refresh_for_everyone_and_a_rejecting_api_is_session_rejected() {
    let env = env(Duration::from_secs(3600), Duration::ZERO).await;
    env.store().replace(PROFILE, &env.login().await).unwrap();
    let session = Arc::new(env.session(&env.profile));
    let url = env.server.url("/v1/messages");
    let http = reqwest::Client::new();
    let ok = session
        .send(|t| http.get(&url).header("authorization", t.authorization()))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    env.server.revoke_all();
    let before = env.server.stats();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, http, url) = (session.clone(), http.clone(), url.clone());
            tokio::spawn(async move {
                s.send(|t| http.get(&url).header("authorization", t.authorization()))
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().expect("recovered"), 200);
    }
    let after = env.server.stats();
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "one refresh recovers every caller"
    );

    // Now the API rejects every token.
    env.server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Resource,
            mockauth::FaultSpec::status(401),
        ))
        .unwrap();
    let before = env.server.stats();
    let e = session
        .send(|t| http.get(&url).header("authorization", t.authorization()))
        .await
        .expect_err("rejected twice");
    let after = env.server.stats();
    assert_eq!(e.kind(), ErrorKind::SessionRejected);
    assert_eq!(e.kind().exit_code(), 5);
    assert!(
        e.message().contains("rejected by the server"),
        "{}",
        e.report()
    );
    assert_eq!(e.status(), Some(401));
    assert_eq!(
        after.faults_injected - before.faults_injected,
        2,
        "two API calls, no loop"
    );
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1
    );
}

#[tokio::test]
async fn client_credentials_renew_by_themselves_when_the_profile_says_so() {
    let env = env(Duration::from_secs(3600), Duration::ZERO).await;
    let mut svc = util::svc_profile(&env.server);
    svc.name = PROFILE.into();
    let first = TokenClient::builder(svc.clone())
        .client_secret(tokenwarden::secret::ClientSecret::new("svc-secret"))
        .build()
        .unwrap()
        .client_credentials()
        .await
        .expect("client credentials");
    let v = env.store().replace(PROFILE, &first).unwrap();
    // The API refused the token: renewal needed.
    assert!(env.store().mark_rejected(PROFILE, v).unwrap());
    let need = Duration::ZERO;
    let e = env
        .session(&svc)
        .get_token(need)
        .await
        .expect_err("the profile does not say grant = client_credentials");
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert!(
        e.hint().unwrap().contains("grant = \"client_credentials\""),
        "{}",
        e.report()
    );
    svc.grant = GrantType::ClientCredentials;
    let before = env.server.stats();
    let t = env.session(&svc).get_token(need).await.expect("renewed");
    assert_ne!(t.access_token(), &first.access_token);
    let after = env.server.stats();
    assert_eq!(
        after.token_requests.client_credentials - before.token_requests.client_credentials,
        1
    );
}

/// A refresh whose first attempt the server processes (rotating the refresh token) but answers
/// with a 500: the retry presents the replaced refresh token.
async fn refresh_after_a_lost_answer(reuse_grace: Duration) -> tokenwarden::Result<()> {
    let env = env(Duration::from_secs(3600), reuse_grace).await;
    let v = env.store().replace(PROFILE, &env.login().await).unwrap();
    env.server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Token,
                mockauth::FaultSpec::status(500)
                    .oauth_error("server_error")
                    .processed()
                    .count(1),
            ),
        )
        .unwrap();
    // The API refused the token: the refresh is due now, with the whole retry policy.
    assert!(env.store().mark_rejected(PROFILE, v).unwrap());
    env.session(&env.profile)
        .get_token(Duration::ZERO)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn invalid_grant_on_the_retry_of_a_lost_answer_is_a_possibly_lost_rotation() {
    let e = refresh_after_a_lost_answer(Duration::ZERO)
        .await
        .expect_err("the retry presents the rotated refresh token");
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert_eq!(
        e.cause(),
        Some(tokenwarden::error::Cause::PossiblyLostRotation),
        "{}",
        e.report()
    );
    assert!(e.message().contains("probably rotated"), "{}", e.report());
    refresh_after_a_lost_answer(Duration::from_secs(30))
        .await
        .expect("within the reuse grace the retry gets the same successor");
}
