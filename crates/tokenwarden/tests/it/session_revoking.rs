//! Providers that revoke the previous access token on refresh
//! (`refresh_revokes_previous_access_token`): no caller is handed a token whose refresh may have
//! started; a bare 403 right after a refresh is retried like a 401 (and an `insufficient_scope`
//! 403 is not); without the key, a refusal right after another process's refresh names it.
//! Sessions over one store stand for processes (each has its own in-process mutex; the store's
//! refresh lock is shared).

use super::session::{Fixture, PROFILE, Scripted, tokens};
use crate::util;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenwarden::http::TokenClient;
use tokenwarden::session::{Session, SessionOptions};
use tokenwarden::store::{MemoryStore, Store};
use tokenwarden::warden::ClientGrants;

const MINUTE: Duration = Duration::from_secs(60);

fn revoking() -> SessionOptions {
    SessionOptions {
        refresh_revokes_previous_access_token: true,
        ..SessionOptions::default()
    }
}

/// Polls `cond` every 2 ms until it holds, failing after 10 s.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_waits_for_the_refresh_another_process_holds() {
    let f = Fixture::new(MINUTE);
    let clock = f.clock.clone();
    // "Another process": its refresh takes a while, holding the store's refresh lock.
    let slow = Scripted::slow(Duration::from_millis(300), move |n, _| {
        Ok(tokens(
            &format!("r{n}"),
            tokenwarden::clock::Clock::now(&*clock),
            MINUTE,
        ))
    });
    let other = Arc::new(f.session(&slow));
    f.at(40); // inside the proactive window: 20 s left
    let refreshing = {
        let other = other.clone();
        tokio::spawn(async move { other.get_token(Duration::ZERO).await })
    };
    until("the other refresh to start", || slow.calls() == 1).await;

    // Without the key: the still-valid token, at once (the design for ordinary providers).
    let never = Scripted::new(|_, _| panic!("this caller never refreshes"));
    let plain = f.session(&never);
    let t = plain.get_token(Duration::ZERO).await.expect("a token");
    assert_eq!(t.access_token().expose(), "at-login");

    // With it: the refresh in flight is waited for, and its answer handed out.
    let waiting = f.session_with(&never, revoking());
    let t = waiting.get_token(Duration::ZERO).await.expect("a token");
    assert_eq!(
        t.access_token().expose(),
        "at-r0",
        "never the token being revoked"
    );
    assert_eq!(never.calls(), 0);
    let done = refreshing.await.expect("task").expect("refreshed");
    assert_eq!(done.access_token().expose(), "at-r0");
}

#[tokio::test]
async fn a_fresh_token_whose_refresh_may_have_been_processed_is_refreshed_not_handed_out() {
    let f = Fixture::new(MINUTE);
    let v = f.stored().version;
    // A refresh was sent and its answer lost (a crash, a timeout): the mark stays.
    f.store.mark_in_flight(PROFILE, v, true).expect("marked");
    f.at(1);
    let grants = f.rotating(MINUTE);
    let t = f
        .session(&grants)
        .get_token(Duration::ZERO)
        .await
        .expect("a token");
    assert_eq!(
        t.access_token().expose(),
        "at-login",
        "ordinary providers: still valid"
    );
    assert_eq!(grants.calls(), 0);
    let t = f
        .session_with(&grants, revoking())
        .get_token(Duration::ZERO)
        .await
        .expect("a token");
    assert_eq!(
        t.access_token().expose(),
        "at-r0",
        "the provider may have killed it"
    );
    assert_eq!(grants.calls(), 1);
    assert!(!f.stored().refresh_failure_transient);
}

#[tokio::test]
async fn a_long_running_session_sees_another_processs_refresh_mark_on_its_next_recheck() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let long_running = f.session_with(&grants, revoking());
    f.at(1);
    let t = long_running
        .get_token(Duration::ZERO)
        .await
        .expect("a token");
    assert_eq!(t.access_token().expose(), "at-login");
    // Another process (asking for more than this one does, so the token is fresh here) marks
    // its refresh in flight; it waits out the drain before sending it.
    f.store
        .mark_in_flight(PROFILE, f.stored().version, true)
        .expect("marked");
    f.at_ms(1000 + tokenwarden::session::STORE_RECHECK.as_millis() as u64);
    let t = long_running
        .get_token(Duration::ZERO)
        .await
        .expect("a token");
    assert_eq!(
        t.access_token().expose(),
        "at-r0",
        "the cached token is not handed out once the store says its refresh may have started"
    );
    assert_eq!(grants.calls(), 1);
    // The new token is served from memory again.
    let t = long_running
        .get_token(Duration::ZERO)
        .await
        .expect("a token");
    assert_eq!(t.access_token().expose(), "at-r0");
    assert_eq!(grants.calls(), 1);
}

/// A memory store logged in at mockauth (which kills the previous access token of a grant on
/// refresh and answers a dead token with a bare 403), and the token client.
async fn logged_in(server: &mockauth::ServerHandle) -> (Arc<MemoryStore>, TokenClient) {
    // Real time: the session compares expiry with the system clock.
    let client = TokenClient::new(util::profile(server, "cli")).expect("client");
    let redirect = "http://127.0.0.1:5555/callback";
    let (code, verifier) = util::authorize(server, "cli", redirect).await;
    let tokens = client
        .exchange_code(code, redirect, Some(verifier), None)
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));
    let store = Arc::new(MemoryStore::new());
    store.replace(PROFILE, &tokens).expect("stored");
    (store, client)
}

fn session(store: &Arc<MemoryStore>, client: &TokenClient, opts: SessionOptions) -> Session {
    Session::new(
        PROFILE,
        store.clone(),
        Arc::new(ClientGrants(client.clone())),
        Arc::new(tokenwarden::clock::SystemClock),
        opts,
    )
}

/// "Another process" refreshes the stored token (the provider kills the previous one).
async fn refresh_elsewhere(store: &Arc<MemoryStore>, client: &TokenClient) {
    let t = store.read(PROFILE).expect("read").expect("stored");
    let fresh = client
        .refresh(t.tokens.refresh_token.as_ref().expect("a refresh token"))
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .renewing(&t.tokens);
    store
        .write_if_version(PROFILE, t.version, &fresh)
        .expect("written");
}

/// One API call through `s`.
async fn call(s: &Session, api: &str) -> reqwest::Response {
    let http = reqwest::Client::new();
    s.send(|t| http.get(api).header("Authorization", t.authorization()))
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()))
}

#[tokio::test]
async fn a_bare_403_right_after_a_refresh_is_retried_like_a_401() {
    let server = crate::login::mock_with(mockauth::Config {
        auto_approve: true,
        revoke_previous_on_refresh: true,
        dead_token_status: mockauth::DeadTokenStatus::Forbidden,
        ..mockauth::Config::default()
    })
    .await;
    let (store, client) = logged_in(&server).await;
    let api = server.url("/v1/messages");
    let call = |s| call(s, &api);

    // With the key: the cached token dies under another process's refresh; the 403 is retried.
    let s = session(&store, &client, revoking());
    assert_eq!(
        call(&s).await.status(),
        200,
        "the cache holds the first token"
    );
    refresh_elsewhere(&store, &client).await;
    let resp = call(&s).await;
    assert_eq!(resp.status(), 200, "refreshed once and retried once");
    assert_eq!(
        server.stats().resource_requests.unauthorized,
        1,
        "one 403, then the retry"
    );

    // Without it: the 403 is the answer, and its hint names the key.
    let plain = session(&store, &client, SessionOptions::default());
    assert_eq!(call(&plain).await.status(), 200);
    refresh_elsewhere(&store, &client).await;
    let resp = call(&plain).await;
    assert_eq!(resp.status(), 403);
    let hint = plain.refusal_hint(403, None, b"").expect("a hint");
    assert!(
        hint.contains("refresh_revokes_previous_access_token = true"),
        "{hint}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_403_for_a_missing_scope_is_not_retried_and_says_so() {
    let server = crate::login::mock_with(mockauth::Config {
        auto_approve: true,
        revoke_previous_on_refresh: true,
        ..mockauth::Config::default()
    })
    .await;
    let (store, client) = logged_in(&server).await;
    server
        .set_faults(
            mockauth::FaultPlan::default().with(
                mockauth::Endpoint::Resource,
                mockauth::FaultSpec::status(403)
                    .header(
                        "WWW-Authenticate",
                        "Bearer error=\"insufficient_scope\", scope=\"admin\"",
                    )
                    .count(1),
            ),
        )
        .expect("faults");
    let s = session(&store, &client, revoking());
    let api = server.url("/v1/messages");
    let http = reqwest::Client::new();
    let resp = s
        .send(|t| http.get(&api).header("Authorization", t.authorization()))
        .await
        .unwrap_or_else(|e| panic!("{}", e.report()));
    assert_eq!(resp.status(), 403);
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let hint = s.refusal_hint(403, www.as_deref(), b"").expect("a hint");
    assert!(
        hint.contains("lacks permission (insufficient_scope)"),
        "{hint}"
    );
    assert_eq!(
        server.stats().token_requests.refresh_token,
        0,
        "not a dead token"
    );
    // A plain 403 that follows no refresh is not called a missing permission.
    let hint = s
        .refusal_hint(403, None, br#"{"error":"forbidden"}"#)
        .expect("a hint");
    assert!(!hint.contains("lacks permission"), "{hint}");
    server.shutdown().await.expect("shutdown");
}
