//! The session's logic on a [`MemoryStore`] with a [`ManualClock`] and scripted grants: the
//! proactive window, the gates, degraded mode, invalidation by version, LoginRequired kept with
//! its evidence, lost rotations, and the races with a login made in another terminal. The
//! sessions against mockauth, with real time and many callers, are in `session_load`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokenwarden::clock::ManualClock;
use tokenwarden::error::{Cause, Delivery, HttpEvidence, OAuthError, OAuthErrorCode};
use tokenwarden::http::{Exchange, Exchanged};
use tokenwarden::secret::{AccessToken, RefreshToken};
use tokenwarden::session::{BoxFuture, Effort, Grants, Session, SessionOptions};
use tokenwarden::store::{LastError, MemoryStore, RefreshGuard, Store, StoredTokens, TokenState};
use tokenwarden::token::TokenSet;
use tokenwarden::{Error, ErrorKind, Result};

pub const PROFILE: &str = "p";

/// A fixed start with whole milliseconds (stores keep milliseconds).
pub fn t0() -> SystemTime {
    tokenwarden::token::from_unix_millis(1_750_000_000_000)
}

/// A token set tagged `tag`, obtained at `at`, living `lifetime`.
pub fn tokens(tag: &str, at: SystemTime, lifetime: Duration) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(format!("at-{tag}")),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(format!("rt-{tag}"))),
        id_token: None,
        expires_at: Some(at + lifetime),
        scopes: vec!["openid".into()],
        obtained_at: at,
        refresh_token_obtained_at: Some(at),
        refresh_token_expires_at: None,
        subject: None,
        issuer: None,
    }
}

/// What the scripted token endpoint answers to the n-th call (from 0).
type Script = dyn Fn(usize, &RefreshToken) -> Result<TokenSet> + Send + Sync;

/// Grants that answer from a script, counting calls; each call takes `latency` (tokio time).
pub struct Scripted {
    script: Box<Script>,
    calls: AtomicUsize,
    latency: Duration,
    presented: Mutex<Vec<String>>,
    efforts: Mutex<Vec<Effort>>,
    unprepared: Mutex<Option<Error>>,
}

impl Scripted {
    pub fn new(
        script: impl Fn(usize, &RefreshToken) -> Result<TokenSet> + Send + Sync + 'static,
    ) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            latency: Duration::ZERO,
            presented: Mutex::new(Vec::new()),
            efforts: Mutex::new(Vec::new()),
            unprepared: Mutex::new(None),
        })
    }

    pub fn slow(
        latency: Duration,
        script: impl Fn(usize, &RefreshToken) -> Result<TokenSet> + Send + Sync + 'static,
    ) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            latency,
            presented: Mutex::new(Vec::new()),
            efforts: Mutex::new(Vec::new()),
            unprepared: Mutex::new(None),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn presented(&self) -> Vec<String> {
        self.presented.lock().unwrap().clone()
    }

    /// The next `prepare` fails with `err` (nothing is sent).
    pub fn fail_prepare_once(&self, err: Error) {
        *self.unprepared.lock().unwrap() = Some(err);
    }

    /// How hard each call was asked to try.
    pub fn efforts(&self) -> Vec<Effort> {
        self.efforts.lock().unwrap().clone()
    }
}

impl Grants for Scripted {
    fn prepare<'a>(&'a self, _: Effort) -> BoxFuture<'a, Result<()>> {
        let result = match self.unprepared.lock().unwrap().take() {
            Some(e) => Err(e),
            None => Ok(()),
        };
        Box::pin(std::future::ready(result))
    }

    fn refresh<'a>(
        &'a self,
        rt: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            self.presented.lock().unwrap().push(rt.expose().to_string());
            self.efforts.lock().unwrap().push(effort);
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            // One request, as a client with no retries makes it.
            let result = (self.script)(n, rt);
            let exchange = Exchange::of_attempt(&result, self.latency);
            Exchanged { result, exchange }
        })
    }

    fn client_credentials<'a>(&'a self, _: Effort) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        None
    }
}

/// The error a token endpoint's `invalid_grant` becomes.
pub fn invalid_grant() -> Error {
    Error::login_required("the token endpoint refused the refresh token (invalid_grant)")
        .with_oauth(OAuthError {
            code: OAuthErrorCode::InvalidGrant,
            description: Some("the refresh token was revoked".into()),
            uri: None,
        })
        .with_http(HttpEvidence {
            status: Some(400),
            request_id: Some("req-42".into()),
            ..HttpEvidence::default()
        })
        .with_delivery(Delivery::Answered)
        .with_correlation_id("tw-test")
}

/// The error a 503 becomes after the retries.
pub fn unavailable() -> Error {
    Error::new(
        ErrorKind::ProviderUnavailable,
        "the token endpoint answered 503 (gave up after 4 attempts)",
    )
    .with_cause(Cause::ProviderOutage)
    .with_http(HttpEvidence {
        status: Some(503),
        request_id: Some("req-503".into()),
        ..HttpEvidence::default()
    })
    .with_delivery(Delivery::Answered)
    .with_hint("the provider is having trouble")
}

/// A session test: a memory store holding a login made at t0, and a manual clock.
pub struct Fixture {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl Fixture {
    /// A login at t0 whose access token lives `lifetime`.
    pub fn new(lifetime: Duration) -> Fixture {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(MemoryStore::new().with_clock(clock.clone()));
        store
            .replace(PROFILE, &tokens("login", t0(), lifetime))
            .expect("login stored");
        Fixture { store, clock }
    }

    /// A session over the store with default options.
    pub fn session(&self, grants: &Arc<Scripted>) -> Session {
        self.session_with(grants, SessionOptions::default())
    }

    pub fn session_with(&self, grants: &Arc<Scripted>, opts: SessionOptions) -> Session {
        Session::new(
            PROFILE,
            self.store.clone(),
            grants.clone(),
            self.clock.clone(),
            opts,
        )
    }

    /// Sets the clock to t0 + `ms` milliseconds.
    pub fn at_ms(&self, ms: u64) {
        self.clock.set(t0() + Duration::from_millis(ms));
    }

    /// Sets the clock to t0 + `s` seconds.
    pub fn at(&self, s: u64) {
        self.at_ms(s * 1000);
    }

    pub fn now(&self) -> SystemTime {
        tokenwarden::clock::Clock::now(&*self.clock)
    }

    /// What the store holds now.
    pub fn stored(&self) -> StoredTokens {
        self.store
            .read(PROFILE)
            .expect("store reads")
            .expect("tokens stay stored")
    }

    /// Grants that rotate: the n-th refresh returns tokens tagged `r{n}`, living `lifetime`
    /// from the clock's now.
    pub fn rotating(&self, lifetime: Duration) -> Arc<Scripted> {
        let clock = self.clock.clone();
        Scripted::new(move |n, _| {
            Ok(tokens(
                &format!("r{n}"),
                tokenwarden::clock::Clock::now(&*clock),
                lifetime,
            ))
        })
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn proactive_window_is_half_a_short_lifetime() {
    let f = Fixture::new(Duration::from_secs(4));
    let grants = f.rotating(Duration::from_secs(4));
    let s = f.session(&grants);
    f.at_ms(1_900);
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-login");
    assert_eq!(
        grants.calls(),
        0,
        "outside the 2 s window of a 4 s token: no refresh"
    );
    f.at_ms(2_100);
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-r0");
    assert!(t.degraded().is_none());
    for _ in 0..10 {
        s.get_token(Duration::ZERO).await.unwrap();
    }
    assert_eq!(grants.calls(), 1, "one refresh per window");
    assert_eq!(grants.presented(), ["rt-login"]);
    let st = f.stored();
    assert_eq!(
        st.tokens.access_token.expose(),
        "at-r0",
        "stored before handed out"
    );
    assert_eq!(st.version, t.version());
}

#[tokio::test]
async fn long_tokens_refresh_skew_before_expiry_and_min_ttl_counts() {
    let f = Fixture::new(Duration::from_secs(3600));
    let grants = f.rotating(Duration::from_secs(3600));
    let s = f.session(&grants);
    f.at(3560);
    s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(grants.calls(), 0, "40 s left, window 30 s");
    let t = s.get_token(Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        grants.calls(),
        1,
        "40 s left is not 15 s beyond the 30 s window"
    );
    assert_eq!(t.access_token().expose(), "at-r0");
}

/// A session that waits at most 200 ms for the refresh lock, and the lock, held as another
/// process refreshing would hold it.
fn short_wait_while_locked(
    f: &Fixture,
    grants: &Arc<Scripted>,
) -> (Session, Box<dyn RefreshGuard>) {
    let s = f.session_with(
        grants,
        SessionOptions {
            lock_wait: Duration::from_millis(200),
            ..SessionOptions::default()
        },
    );
    let held = f
        .store
        .lock_profile(PROFILE, Duration::ZERO)
        .expect("another process refreshes");
    (s, held)
}

#[tokio::test]
async fn inside_the_window_a_busy_lock_means_the_current_token_not_a_wait() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let (s, held) = short_wait_while_locked(&f, &grants);
    f.at(45);
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(
        t.access_token().expose(),
        "at-login",
        "still valid: taken, no wait"
    );
    assert_eq!(grants.calls(), 0);
    f.at(61);
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("expired, and the lock is held past the wait");
    assert_eq!(e.kind(), ErrorKind::Store);
    assert_eq!(e.kind().exit_code(), 6);
    assert!(
        e.message().contains("refresh lock of profile \"p\"")
            && e.message().contains("has expired"),
        "{}",
        e.report()
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("lock_wait")),
        "{}",
        e.report()
    );
    drop(held);
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-r0", "the lock is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_for_many_tasks() {
    let f = Fixture::new(MINUTE);
    let clock = f.clock.clone();
    let grants = Scripted::slow(Duration::from_millis(50), move |n, _| {
        Ok(tokens(
            &format!("r{n}"),
            tokenwarden::clock::Clock::now(&*clock),
            MINUTE,
        ))
    });
    let s = Arc::new(f.session(&grants));
    f.at(61);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.get_token(Duration::ZERO).await })
        })
        .collect();
    for t in tasks {
        let t = t.await.unwrap().expect("every task gets a token");
        assert_eq!(t.access_token().expose(), "at-r0");
    }
    assert_eq!(grants.calls(), 1, "64 tasks, one refresh");
}

#[tokio::test]
async fn degraded_mode_serves_the_valid_token_and_stops_at_expiry() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|_, _| Err(unavailable()));
    let s = f.session(&grants);
    f.at(40);
    let t = s
        .get_token(Duration::ZERO)
        .await
        .expect("degraded, not an error");
    assert_eq!(t.access_token().expose(), "at-login");
    let w = t.degraded().expect("a warning");
    assert!(
        w.contains("503") && w.contains("still valid (20 s left)"),
        "{w}"
    );
    let st = f.stored();
    assert!(st.refresh_failure_transient);
    assert!(st.last_error.is_some_and(|e| e.message.contains("503")));
    assert_eq!(
        st.state,
        TokenState::Valid,
        "a failed refresh never touches the credentials"
    );
    assert_eq!(
        st.tokens.refresh_token.as_ref().unwrap().expose(),
        "rt-login"
    );
    f.at(61);
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("nothing valid left");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    assert!(e.message().contains("has expired"), "{}", e.report());
    assert_eq!(e.status(), Some(503));
    assert_eq!(
        grants.efforts(),
        [Effort::Single, Effort::Full],
        "one attempt while the token works; the whole policy once it has expired"
    );
}

#[tokio::test]
async fn an_open_breaker_is_not_asked_again_before_its_time() {
    let f = Fixture::new(MINUTE);
    let until = t0() + Duration::from_secs(50);
    let grants = Scripted::new(move |_, _| {
        Err(Error::new(
            ErrorKind::ProviderUnavailable,
            "the token endpoint failed 5 times in a row",
        )
        .with_cause(Cause::CircuitOpen)
        .with_retry_at(until))
    });
    let s = f.session(&grants);
    f.at(35);
    for _ in 0..20 {
        let t = s.get_token(Duration::ZERO).await.unwrap();
        assert!(t.degraded().is_some());
    }
    assert_eq!(
        grants.calls(),
        1,
        "the breaker said 50 s: no attempt before"
    );
    assert!(
        f.stored().last_error.is_none(),
        "nothing was sent: nothing recorded"
    );
    f.at(51);
    s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(grants.calls(), 2);
}

#[tokio::test]
async fn invalidate_marks_exactly_one_version() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let s = f.session(&grants);
    let old = s.get_token(Duration::ZERO).await.unwrap();
    f.at(40);
    let new = s.get_token(Duration::ZERO).await.unwrap();
    assert_ne!(old.version(), new.version());
    s.invalidate(&old).unwrap();
    assert_eq!(
        f.stored().state,
        TokenState::Valid,
        "a stale invalidation is dropped"
    );
    let again = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(again.version(), new.version());
    assert_eq!(grants.calls(), 1);
    s.invalidate(&new).unwrap();
    assert_eq!(f.stored().state, TokenState::Rejected);
    let fresh = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(grants.calls(), 2, "rejected: refreshed though not expired");
    assert_eq!(fresh.access_token().expose(), "at-r1");
}

#[tokio::test]
async fn invalid_grant_marks_login_required_and_keeps_the_credentials() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|_, _| Err(invalid_grant()));
    let s = f.session(&grants);
    f.at(61);
    let e = s.get_token(Duration::ZERO).await.expect_err("revoked");
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert_eq!(e.kind().exit_code(), 3);
    assert_eq!(e.cause(), Some(Cause::RefreshTokenRevoked));
    assert!(
        e.message().contains("revoked the session"),
        "{}",
        e.report()
    );
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.request_id(), Some("req-42"));
    assert!(
        e.message().contains("obtained 2025-"),
        "when the refresh token was obtained: {}",
        e.message()
    );
    let st = f.stored();
    assert_eq!(
        st.state,
        TokenState::LoginRequired {
            reason: "invalid_grant: the refresh token was revoked".into(),
            cause: Some(Cause::RefreshTokenRevoked),
        },
        "the cause is stored as data"
    );
    assert_eq!(
        st.tokens.access_token.expose(),
        "at-login",
        "kept, not deleted"
    );
    assert_eq!(
        st.tokens.refresh_token.as_ref().unwrap().expose(),
        "rt-login"
    );
    let again = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("still login required");
    assert_eq!(again.kind(), ErrorKind::LoginRequired);
    assert!(
        again.message().contains("revoked the session"),
        "{}",
        again.report()
    );
    assert_eq!(again.cause(), Some(Cause::RefreshTokenRevoked));
    assert_eq!(again.hint(), e.hint(), "the same fix as the first time");
    assert!(
        again.message().contains("the refresh token was revoked"),
        "the provider's words: {}",
        again.report()
    );
    assert_eq!(grants.calls(), 1, "no second refresh of a refused token");
    // A login in another terminal is picked up at the next call.
    f.store
        .replace(PROFILE, &tokens("relogin", f.now(), MINUTE))
        .unwrap();
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-relogin");
}

#[tokio::test]
async fn invalid_grant_after_a_login_elsewhere_returns_that_login() {
    let f = Fixture::new(MINUTE);
    let (store, clock) = (f.store.clone(), f.clock.clone());
    let grants = Scripted::new(move |_, _| {
        // While our refresh is in flight the user logs in again in another terminal, which
        // ended the old session at the provider.
        let now = tokenwarden::clock::Clock::now(&*clock);
        store
            .replace(PROFILE, &tokens("other-terminal", now, MINUTE))
            .unwrap();
        Err(invalid_grant())
    });
    let s = f.session(&grants);
    f.at(61);
    let t = s
        .get_token(Duration::ZERO)
        .await
        .expect("the re-read finds the new login");
    assert_eq!(t.access_token().expose(), "at-other-terminal");
    assert_eq!(f.stored().state, TokenState::Valid);
}

#[tokio::test]
async fn a_login_during_a_refresh_wins_the_compare_and_swap() {
    let f = Fixture::new(MINUTE);
    let (store, clock) = (f.store.clone(), f.clock.clone());
    let grants = Scripted::new(move |_, _| {
        let now = tokenwarden::clock::Clock::now(&*clock);
        store
            .replace(PROFILE, &tokens("other-terminal", now, MINUTE))
            .unwrap();
        Ok(tokens("refreshed", now, MINUTE))
    });
    let s = f.session(&grants);
    f.at(61);
    let t = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(
        t.access_token().expose(),
        "at-other-terminal",
        "the login is kept"
    );
    assert_eq!(
        f.stored().tokens.access_token.expose(),
        "at-other-terminal",
        "our write was refused"
    );
}

#[tokio::test]
async fn invalid_grant_after_an_interrupted_refresh_is_a_possibly_lost_rotation() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|n, _| {
        if n == 0 {
            Err(unavailable())
        } else {
            Err(invalid_grant())
        }
    });
    let s = f.session(&grants);
    f.at(61);
    let e = s.get_token(Duration::ZERO).await.expect_err("503, expired");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("then invalid_grant");
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert_eq!(
        e.cause(),
        Some(Cause::PossiblyLostRotation),
        "{}",
        e.report()
    );
    assert!(e.message().contains("probably rotated"), "{}", e.report());
    assert!(e.hint().unwrap().contains("reuse grace"), "{}", e.report());
    // The mark stores the cause as data: the next call (or another process, `status`,
    // `doctor`) reports the same cause from it, not from the words of the message.
    assert_eq!(f.stored().state.cause(), Some(Cause::PossiblyLostRotation));
    let again = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("still login required");
    assert_eq!(
        again.cause(),
        Some(Cause::PossiblyLostRotation),
        "{}",
        again.report()
    );
    assert!(
        again.message().contains("probably rotated"),
        "{}",
        again.report()
    );
    assert_eq!(again.hint(), e.hint(), "the same fix as the first time");
    assert_eq!(grants.calls(), 2);
}

#[tokio::test]
async fn a_stored_mark_is_reported_with_its_stored_cause() {
    let lost_hint = "reuse grace period";
    // (stored cause, in-flight flag, recorded message) -> the cause reported.
    let cases = [
        // The stored cause decides, whatever the flag and the words.
        (
            Some(Cause::PossiblyLostRotation),
            false,
            Some("the provider said no"),
            Cause::PossiblyLostRotation,
        ),
        (
            Some(Cause::RefreshTokenRevoked),
            true,
            Some("an answer was lost: probably rotated"),
            Cause::RefreshTokenRevoked,
        ),
        (Some(Cause::NotLoggedIn), false, None, Cause::NotLoggedIn),
        // A mark from before the store kept causes: the flag tells.
        (None, true, None, Cause::PossiblyLostRotation),
        (None, false, None, Cause::RefreshTokenRevoked),
    ];
    for (stored_cause, flag, last_error, expected) in cases {
        let f = Fixture::new(MINUTE);
        let grants = Scripted::new(|_, _| panic!("a marked profile is not refreshed"));
        let v = f.stored().version;
        let mark = TokenState::LoginRequired {
            reason: "invalid_grant: the session ended".into(),
            cause: stored_cause,
        };
        assert!(
            f.store
                .mark_state(
                    PROFILE,
                    v,
                    mark,
                    last_error.map(|e| LastError::new(e, None)).as_ref(),
                    flag
                )
                .unwrap()
        );
        let s = f.session(&grants);
        let e = s.get_token(Duration::ZERO).await.expect_err("marked");
        let case = format!("{stored_cause:?}, flag {flag}: {}", e.report());
        assert_eq!(e.kind(), ErrorKind::LoginRequired, "{case}");
        assert_eq!(e.cause(), Some(expected), "{case}");
        let hint = e.hint().expect("a hint");
        assert!(hint.contains("tokenwarden --profile p login"), "{case}");
        assert_eq!(
            hint.contains(lost_hint),
            expected == Cause::PossiblyLostRotation,
            "{case}"
        );
        // What happened, then what the provider said.
        let what = last_error.unwrap_or(expected.describe());
        assert!(e.message().contains(what), "{case}");
        assert!(e.message().contains("the session ended"), "{case}");
        assert_eq!(grants.calls(), 0);
    }
}

#[tokio::test]
async fn a_refresh_killed_in_flight_leaves_the_mark_that_explains_the_next_invalid_grant() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|_, _| Err(invalid_grant()));
    // What a process killed mid-refresh leaves: the in-flight mark on the version it refreshed.
    let v = f.stored().version;
    f.store
        .mark_state(PROFILE, v, TokenState::Valid, None, true)
        .unwrap();
    let s = f.session(&grants);
    f.at(61);
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("invalid_grant");
    assert_eq!(
        e.cause(),
        Some(Cause::PossiblyLostRotation),
        "{}",
        e.report()
    );
}

#[tokio::test]
async fn a_refresh_marks_itself_in_flight_and_success_clears_it() {
    let f = Fixture::new(MINUTE);
    let (store, clock) = (f.store.clone(), f.clock.clone());
    let grants = Scripted::new(move |_, _| {
        let st = store.read(PROFILE).unwrap().unwrap();
        assert!(
            st.refresh_failure_transient,
            "marked before the request is sent"
        );
        let mut t = tokens("r", tokenwarden::clock::Clock::now(&*clock), MINUTE);
        t.refresh_token = None; // a provider that does not rotate
        t.refresh_token_obtained_at = None;
        Ok(t)
    });
    let s = f.session(&grants);
    f.at(61);
    s.get_token(Duration::ZERO).await.unwrap();
    let st = f.stored();
    assert!(!st.refresh_failure_transient);
    assert_eq!(
        st.tokens.refresh_token.as_ref().unwrap().expose(),
        "rt-login",
        "kept"
    );
    assert_eq!(st.tokens.refresh_token_obtained_at, Some(t0()));
    assert!(st.last_refresh_at.is_some());
}

#[tokio::test]
async fn not_logged_in_is_login_required() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::new().with_clock(clock.clone()));
    let grants = Scripted::new(|_, _| Err(invalid_grant()));
    let s = Session::new(PROFILE, store, grants, clock, SessionOptions::default());
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("nothing stored");
    assert_eq!(e.kind(), ErrorKind::LoginRequired);
    assert_eq!(e.cause(), Some(Cause::NotLoggedIn));
    assert!(e.hint().unwrap().contains("tokenwarden --profile p login"));
}

#[tokio::test]
async fn a_waiter_whose_token_still_works_gets_it_when_the_lock_wait_runs_out() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let (s, held) = short_wait_while_locked(&f, &grants);
    // 15 s left, 20 s asked for: this caller waits for the lock, which stays held.
    f.at(45);
    let t = s
        .get_token(Duration::from_secs(20))
        .await
        .expect("the token still works: not a Store error");
    assert_eq!(t.access_token().expose(), "at-login");
    let w = t.degraded().expect("a warning");
    assert!(
        w.contains("refresh lock of profile `p`") && w.contains("still valid (15 s left)"),
        "{w}"
    );
    assert_eq!(grants.calls(), 0);
    drop(held);
    let t = s.get_token(Duration::from_secs(20)).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-r0", "the lock is free again");
    assert!(t.degraded().is_none());
}

#[test]
fn the_default_lock_wait_outlasts_the_longest_refresh() {
    let policy = tokenwarden::retry::RetryPolicy::default();
    let timeout = tokenwarden::config::DEFAULT_TIMEOUT;
    let wait = SessionOptions::default().lock_wait;
    assert!(
        wait > policy.worst_case(timeout),
        "{wait:?} is shorter than one refresh's worst case"
    );
    assert_eq!(wait, policy.default_lock_wait(timeout));
    let mut profile = tokenwarden::config::Profile::new("p", "cli");
    profile.retry.max_attempts = 1;
    profile.retry.max_retry_after = Duration::ZERO;
    profile.timeout = Duration::from_secs(10);
    assert_eq!(
        profile.lock_wait(),
        Duration::from_secs(2 * 10 + 5),
        "discovery and the token request, one 10 s attempt each, and the margin"
    );
    profile.lock_wait = Some(Duration::from_secs(7));
    assert_eq!(profile.lock_wait(), Duration::from_secs(7));
}

#[tokio::test]
async fn degraded_mode_hands_out_any_token_not_yet_expired_whatever_min_ttl_asked() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|_, _| Err(unavailable()));
    let s = f.session(&grants);
    // 15 s left, 20 s asked for: the refresh fails, and the token still works.
    f.at(45);
    let t = s
        .get_token(Duration::from_secs(20))
        .await
        .expect("degraded, not ProviderUnavailable");
    assert_eq!(t.access_token().expose(), "at-login");
    assert!(
        t.degraded()
            .is_some_and(|w| w.contains("still valid (15 s left)")),
        "{:?}",
        t.degraded()
    );
    assert_eq!(grants.efforts(), [Effort::Full]);
}

#[tokio::test]
async fn a_min_ttl_longer_than_the_provider_grants_refreshes_once_not_on_every_call() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let s = f.session(&grants);
    let want = Duration::from_secs(120);
    // 25 s left of a 1 min token: due by any measure.
    f.at(35);
    let t = s.get_token(want).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-r0", "refreshed");
    let w = t.warning().expect("says why it is shorter than asked");
    assert!(
        w.contains("2m") && w.contains("for only 1m") && w.contains("(1m left)"),
        "{w}"
    );
    assert!(t.degraded().is_none());
    f.at(36);
    for _ in 0..10 {
        let t = s.get_token(want).await.unwrap();
        assert_eq!(t.access_token().expose(), "at-r0");
        assert!(t.warning().is_some());
    }
    assert_eq!(grants.calls(), 1, "no refresh on every call");
    // Past half its life, the token is refreshed again.
    f.at(35 + 31);
    let t = s.get_token(want).await.unwrap();
    assert_eq!(t.access_token().expose(), "at-r1");
    assert_eq!(grants.calls(), 2);
    // A min_ttl the provider can meet carries no warning.
    assert!(
        s.get_token(Duration::from_secs(10))
            .await
            .unwrap()
            .warning()
            .is_none()
    );
}

/// The error of a profile whose client secret is missing: raised before anything is sent.
fn missing_secret() -> Error {
    Error::config("profile `p` uses client_auth = client_secret_basic but has no client secret")
        .with_hint("set client_secret_env = \"VAR\" in the profile and export VAR")
}

#[tokio::test]
async fn an_error_before_sending_leaves_no_in_flight_mark_and_revocation_stays_revocation() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|n, _| {
        if n == 0 {
            Err(missing_secret())
        } else {
            Err(invalid_grant())
        }
    });
    let s = f.session(&grants);
    f.at(61);
    // Readying the client fails: nothing is sent.
    grants.fail_prepare_once(missing_secret());
    let e = s.get_token(Duration::ZERO).await.expect_err("no secret");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(grants.calls(), 0);
    let st = f.stored();
    assert!(!st.refresh_failure_transient, "nothing was sent");
    assert!(
        st.last_error
            .is_some_and(|e| e.message.contains("no client secret"))
    );
    // The grant itself fails before sending (a client without `prepare`): no mark either.
    let e = s.get_token(Duration::ZERO).await.expect_err("no secret");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!f.stored().refresh_failure_transient, "nothing was sent");
    // So a real revocation is reported as one, not as a possibly lost rotation.
    let e = s.get_token(Duration::ZERO).await.expect_err("revoked");
    assert_eq!(
        e.cause(),
        Some(Cause::RefreshTokenRevoked),
        "{}",
        e.report()
    );
    assert!(
        e.message().contains("revoked the session"),
        "{}",
        e.report()
    );
}
