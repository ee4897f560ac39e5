//! The logins without a browser, against mockauth: the device grant (RFC 8628) — polling at the
//! interval, `slow_down`, denial, expiry, backing off through provider failures and connection
//! errors — and client credentials. The polling never waits: a scripted sleeper records each
//! delay and moves both the client's and mockauth's clocks forward by it.

use crate::login::mock_with;
use crate::util;
use mockauth::{Endpoint, FaultPlan, FaultSpec, ServerHandle};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokenwarden::ErrorKind;
use tokenwarden::error::Cause;
use tokenwarden::flow::device::{self, SLOW_DOWN_STEP};
use tokenwarden::http::DeviceAuthorization;
use tokenwarden::retry::{BoxFuture, ManualClock, RecordingSleeper, Sleeper};
use tokenwarden::token::TokenSet;
use url::Url;

type Script = Box<dyn Fn(usize, Duration, &ServerHandle) + Send + Sync>;

/// Records each delay, moves the client's clock forward by it, then runs the script for the
/// n-th sleep (which moves mockauth's clock, approves, denies...).
struct Scripted {
    server: Arc<ServerHandle>,
    clock: Arc<ManualClock>,
    slept: Mutex<Vec<Duration>>,
    script: Script,
}

impl Scripted {
    fn new(server: &Arc<ServerHandle>, clock: &Arc<ManualClock>, script: Script) -> Self {
        Scripted {
            server: server.clone(),
            clock: clock.clone(),
            slept: Mutex::new(Vec::new()),
            script,
        }
    }

    fn slept(&self) -> Vec<Duration> {
        self.slept.lock().expect("lock").clone()
    }
}

impl Sleeper for Scripted {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let n = {
            let mut s = self.slept.lock().expect("lock");
            s.push(d);
            s.len() - 1
        };
        self.clock.advance(d);
        (self.script)(n, d, &self.server);
        Box::pin(std::future::ready(()))
    }
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs(*s)).collect()
}

async fn server(interval: u64, ttl: u64, auto_approve: bool) -> Arc<ServerHandle> {
    Arc::new(
        mock_with(mockauth::Config {
            device_interval: Duration::from_secs(interval),
            device_code_ttl: Duration::from_secs(ttl),
            auto_approve,
            ..mockauth::Config::default()
        })
        .await,
    )
}

/// Starts the grant and polls it with `sleeper`.
async fn login(
    h: &util::Harness,
    sleeper: &dyn Sleeper,
) -> (DeviceAuthorization, tokenwarden::Result<TokenSet>) {
    let auth = device::start(&h.client)
        .await
        .expect("device authorization");
    let clock = h.clock.clone();
    let now = move || -> SystemTime { tokenwarden::retry::Clock::now(clock.as_ref()) };
    let r = device::poll(&h.client, &auth, sleeper, &now).await;
    (auth, r)
}

/// The user code of the only pending device authorization: the test reads it from the
/// response, as the person reads it from the terminal.
fn shared_code() -> Arc<Mutex<String>> {
    Arc::new(Mutex::new(String::new()))
}

#[tokio::test]
async fn polls_at_the_interval_until_approved() {
    let server = server(2, 600, false).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let auth = device::start(&h.client)
        .await
        .expect("device authorization");
    assert_eq!(auth.verification_uri, server.url("/device"));
    assert_eq!(auth.user_code.len(), 9, "XXXX-XXXX");
    assert_eq!(auth.interval, Duration::from_secs(2));
    assert_eq!(auth.expires_at, util::t0() + Duration::from_secs(600));
    let code = auth.user_code.clone();
    let sleeper = Scripted::new(
        &server,
        &h.clock,
        Box::new(move |n, d, s| {
            s.advance_clock(d);
            if n == 1 {
                s.approve_device(&code).expect("approve");
            }
        }),
    );
    let clock = h.clock.clone();
    let now = move || tokenwarden::retry::Clock::now(clock.as_ref());
    let tokens = device::poll(&h.client, &auth, &sleeper, &now)
        .await
        .unwrap_or_else(|e| panic!("device login: {}", e.report()));
    assert!(tokens.access_token.expose().starts_with("mat_"));
    assert!(tokens.refresh_token.is_some());
    assert_eq!(sleeper.slept(), secs(&[2, 2]));
    assert_eq!(server.stats().token_requests.device_code, 2);
}

#[tokio::test]
async fn slow_down_adds_five_seconds_for_good() {
    let server = server(1, 600, false).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let code = shared_code();
    let c = code.clone();
    let sleeper = Scripted::new(
        &server,
        &h.clock,
        Box::new(move |n, d, s| match n {
            // The second poll comes too early for the server: slow_down.
            1 => {}
            3 => {
                s.advance_clock(d);
                s.approve_device(&c.lock().expect("lock")).expect("approve");
            }
            _ => s.advance_clock(d),
        }),
    );
    let auth = device::start(&h.client)
        .await
        .expect("device authorization");
    *code.lock().expect("lock") = auth.user_code.clone();
    let clock = h.clock.clone();
    let now = move || tokenwarden::retry::Clock::now(clock.as_ref());
    device::poll(&h.client, &auth, &sleeper, &now)
        .await
        .unwrap_or_else(|e| panic!("device login: {}", e.report()));
    let six = Duration::from_secs(1) + SLOW_DOWN_STEP;
    assert_eq!(sleeper.slept(), [secs(&[1, 1]), vec![six, six]].concat());
    assert_eq!(server.stats().token_errors.get("slow_down"), Some(&1));
}

#[tokio::test]
async fn a_denied_device_login_is_login_required_and_says_so() {
    let server = server(1, 600, false).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let code = shared_code();
    let c = code.clone();
    let sleeper = Scripted::new(
        &server,
        &h.clock,
        Box::new(move |_, d, s| {
            s.advance_clock(d);
            let _ = s.deny_device(&c.lock().expect("lock"));
        }),
    );
    let auth = device::start(&h.client)
        .await
        .expect("device authorization");
    *code.lock().expect("lock") = auth.user_code.clone();
    let clock = h.clock.clone();
    let now = move || tokenwarden::retry::Clock::now(clock.as_ref());
    let e = device::poll(&h.client, &auth, &sleeper, &now)
        .await
        .expect_err("denied");
    util::assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::ConsentDenied));
    assert!(
        e.message().starts_with("the device login was denied"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("login --device")));
}

#[tokio::test]
async fn expired_token_from_the_provider_ends_the_login() {
    let server = server(1, 60, false).await;
    let h = util::client(util::profile(&server, "cli"), None);
    // The provider's clock runs ahead: its device code is already dead at the first poll.
    let sleeper = Scripted::new(
        &server,
        &h.clock,
        Box::new(|_, _, s| s.advance_clock(Duration::from_secs(61))),
    );
    let (_, r) = login(&h, &sleeper).await;
    let e = r.expect_err("expired");
    util::assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert!(
        e.message()
            .starts_with("the device code expired before the login was approved"),
        "{}",
        e.message()
    );
    assert_eq!(sleeper.slept().len(), 1);
}

#[tokio::test]
async fn polling_stops_at_expires_in() {
    let server = server(5, 30, false).await;
    let h = util::client(util::profile(&server, "cli"), None);
    let sleeper = Scripted::new(&server, &h.clock, Box::new(|_, d, s| s.advance_clock(d)));
    let (_, r) = login(&h, &sleeper).await;
    let e = r.expect_err("never approved");
    assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
    assert!(
        e.message()
            .starts_with("the device code expired before the login was approved"),
        "{}",
        e.message()
    );
    let slept = sleeper.slept();
    assert!(slept.len() <= 6, "{slept:?}");
    assert_eq!(slept.iter().sum::<Duration>(), Duration::from_secs(30));
}

#[tokio::test]
async fn provider_failures_back_off_and_honour_retry_after() {
    // Each poll is one token-client call with its own retries (4 attempts): 4 faults fail one
    // poll, and the loop waits longer before the next.
    for (fault, second_wait) in [
        (FaultSpec::status(503).count(4), 2),
        (FaultSpec::status(503).count(4).retry_after(30), 30),
    ] {
        let server = server(1, 600, true).await;
        server
            .set_faults(FaultPlan::default().with(Endpoint::Token, fault))
            .expect("valid plan");
        let h = util::client(util::profile(&server, "cli"), None);
        let sleeper = RecordingSleeper::new(Some(h.clock.clone()));
        let (_, r) = login(&h, &sleeper).await;
        r.unwrap_or_else(|e| panic!("device login: {}", e.report()));
        assert_eq!(sleeper.slept(), secs(&[1, second_wait]));
        let stats = server.stats();
        assert_eq!(stats.token_requests.device_code, 5);
        assert_eq!(stats.faults_injected, 4);
    }
}

#[tokio::test]
async fn connection_errors_back_off_until_the_code_expires_and_say_why() {
    let server = server(5, 600, false).await;
    let mut p = util::profile(&server, "cli");
    p.endpoints.token = Url::parse(&format!("http://127.0.0.1:{}/token", util::closed_port())).ok();
    let h = util::client(p, None);
    let sleeper = RecordingSleeper::new(Some(h.clock.clone()));
    let (_, r) = login(&h, &sleeper).await;
    let e = r.expect_err("the token endpoint is unreachable");
    assert_eq!(e.kind(), ErrorKind::ProviderUnavailable, "{}", e.report());
    assert!(
        e.message()
            .starts_with("the device code expired while the provider was failing"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("login --device")));
    let slept = sleeper.slept();
    assert_eq!(slept[0], Duration::from_secs(5), "{slept:?}");
    assert!(
        slept[1..].iter().all(|d| *d > Duration::from_secs(5)),
        "backs off: {slept:?}"
    );
    assert!(slept.iter().all(|d| *d <= device::MAX_BACKOFF), "{slept:?}");
    assert!(slept.len() < 25, "bounded: {} polls", slept.len());
    assert!(
        slept.iter().sum::<Duration>() <= Duration::from_secs(600),
        "polls until expires_in, no longer: {slept:?}"
    );
}

#[tokio::test]
async fn client_credentials_for_a_confidential_client() {
    let server = util::mock(vec![]).await;
    let h = util::client(util::svc_profile(&server), Some("svc-secret"));
    let t = h
        .client
        .client_credentials()
        .await
        .unwrap_or_else(|e| panic!("client credentials: {}", e.report()));
    assert!(t.access_token.expose().starts_with("mat_"));
    assert!(t.refresh_token.is_none(), "no refresh token for a client");
    assert_eq!(t.expires_at, Some(util::t0() + Duration::from_secs(3600)));
    let h = util::client(util::svc_profile(&server), Some("wrong"));
    let e = h.client.client_credentials().await.expect_err("bad secret");
    util::assert_classified(&e, ErrorKind::Config, 2);
    assert_eq!(e.cause(), Some(Cause::BadClientCredentials));
}
