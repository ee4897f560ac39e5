//! The authorization-code login over the loopback listener, against mockauth: a "browser" (an
//! HTTP client that follows the authorization redirect) completes the login; the negatives
//! (state mismatch, consent denied, code expiry, a 500 on the exchange, code reuse, RFC 9207
//! `iss`, a second callback, a timeout) each end with the right kind, cause and hint.
//! ID-token and metadata checks are in `login_checks`; the device grant in `login_device`.

use crate::util;
use mockauth::{Endpoint, FaultPlan, FaultSpec};
use std::collections::HashMap;
use std::time::Duration;
use tokenwarden::ErrorKind;
use tokenwarden::config::Profile;
use tokenwarden::error::{Cause, OAuthErrorCode};
use tokenwarden::flow::authcode::{self, Prepared};
use tokenwarden::secret::{AuthorizationCode, PkceVerifier};
use url::Url;

/// How long a test login waits for its callback.
pub const WAIT: Duration = Duration::from_secs(10);

/// A profile for the public client `cli` that discovers mockauth's endpoints from its issuer
/// and asks for `openid`, so that the ID token is validated.
pub fn oidc_profile(server: &mockauth::ServerHandle) -> Profile {
    let mut p = Profile::new("test", "cli");
    p.issuer = Some(server.issuer());
    p.scopes = vec!["openid".into(), "offline_access".into()];
    p.redirect_uri = Some("http://127.0.0.1/callback".into());
    p.timeout = Duration::from_secs(10);
    p
}

/// Starts mockauth with `config` (the built-in clients included).
pub async fn mock_with(config: mockauth::Config) -> mockauth::ServerHandle {
    mockauth::Server::start(config)
        .await
        .expect("mockauth starts")
}

/// A browser: follows redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().build().expect("http client")
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The query parameters of `url`.
pub fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Opens `url` as a browser would and returns the final page (status, headers, body).
pub async fn open(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = browser().get(url).send().await.expect("the page answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("a body"))
}

/// Asks `/authorize` (auto-approved) for the redirect back, without following it.
pub async fn redirect_back(authorization_url: &str) -> String {
    let resp = no_redirects()
        .get(authorization_url)
        .send()
        .await
        .expect("authorize answers");
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no redirect from /authorize: {}", resp.status()))
        .to_string()
}

/// The callback URL of `prepared` with `params`.
fn callback_url(prepared: &Prepared, params: &[(&str, &str)]) -> String {
    let mut u = Url::parse(&prepared.redirect_uri).expect("redirect URI");
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// The loopback address of a redirect URI.
pub fn addr_of(redirect_uri: &str) -> std::net::SocketAddr {
    let u = Url::parse(redirect_uri).expect("redirect URI");
    let port = u.port().expect("a bound port");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// Polls (with a deadline) until nothing accepts connections at `addr`.
pub async fn assert_closed(addr: std::net::SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the callback listener at {addr} is still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn loopback_login_with_pkce_and_a_validated_id_token() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let q = query(&prepared.url);
    assert!(prepared.url.starts_with(&server.url("/authorize")));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "cli");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 22, "state has at least 128 bits");
    assert!(q["nonce"].len() >= 22, "a nonce is sent with openid");
    assert_eq!(q["scope"], "openid offline_access");
    assert_eq!(q["redirect_uri"], prepared.redirect_uri);
    let listener = addr_of(&prepared.redirect_uri);
    assert_ne!(listener.port(), 0, "an ephemeral port was bound");

    let url = prepared.url.clone();
    let (tokens, (status, headers, page)) =
        tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let tokens = tokens.unwrap_or_else(|e| panic!("login: {}", e.report()));
    assert!(tokens.access_token.expose().starts_with("mat_"));
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.id_token.is_some());
    assert_eq!(tokens.subject.as_deref(), Some("mock-user"));
    assert_eq!(tokens.issuer.as_deref(), Some(server.issuer().as_str()));
    assert!(tokens.scopes.iter().any(|s| s == "openid"));

    // The page: short, self-contained, going nowhere.
    assert_eq!(status, 200);
    assert!(page.contains("You may close this tab"), "{page}");
    for elsewhere in [
        "<script",
        "src=",
        "href=",
        "http-equiv",
        "http://",
        "https://",
    ] {
        assert!(
            !page.contains(elsewhere),
            "the page has `{elsewhere}`: {page}"
        );
    }
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok());
    assert!(csp.is_some_and(|c| c.starts_with("default-src 'none'")));

    let stats = server.stats();
    assert_eq!(stats.token_requests.authorization_code, 1, "exchanged once");
    assert_closed(listener).await;
}

/// A callback for `prepared` with a code and a `state` it never sent.
fn forged_callback(prepared: &Prepared, server: &mockauth::ServerHandle) -> String {
    callback_url(
        prepared,
        &[
            ("code", "forged"),
            ("state", "wrong"),
            ("iss", &server.issuer()),
        ],
    )
}

#[tokio::test]
async fn a_callback_with_the_wrong_state_is_refused_and_the_real_one_still_works() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let forged = forged_callback(&prepared, &server);
    let url = prepared.url.clone();
    let browse = async {
        let forged_page = open(&forged).await;
        let real_page = open(&url).await;
        (forged_page, real_page)
    };
    let (r, ((status, _, page), (real_status, _, _))) =
        tokio::join!(prepared.finish(&h.client, WAIT), browse);
    assert_eq!(status, 400);
    assert!(page.contains("does not match"), "{page}");
    assert_eq!(real_status, 200);
    let tokens = r.expect("the real callback completes the login");
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        server.stats().token_requests.authorization_code,
        1,
        "only the real code is exchanged"
    );
}

#[tokio::test]
async fn only_a_wrong_state_callback_ends_in_its_refusal_at_the_timeout() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let forged = forged_callback(&prepared, &server);
    let (r, (status, _, _)) = tokio::join!(
        prepared.finish(&h.client, Duration::from_secs(2)),
        open(&forged)
    );
    let e = r.expect_err("state mismatch");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
    assert_eq!(e.cause(), Some(Cause::StateMismatch));
    assert!(
        e.message().contains("`state` does not match"),
        "{}",
        e.message()
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("within 2 s")),
        "{:?}",
        e.hint()
    );
    assert_eq!(status, 400);
    assert_eq!(
        server.stats().token_requests.total(),
        0,
        "nothing exchanged"
    );
}

#[tokio::test]
async fn denied_consent_is_login_required_with_the_providers_description() {
    let server = mock_with(mockauth::Config::default()).await; // consent page, no auto-approve
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let url = prepared.url.clone();
    let deny = async {
        let page = browser()
            .get(&url)
            .send()
            .await
            .expect("consent page")
            .text()
            .await
            .expect("body");
        let marker = "name=\"consent\" value=\"";
        let start = page.find(marker).expect("a consent form") + marker.len();
        let id = &page[start..start + page[start..].find('"').expect("value ends")];
        browser()
            .post(server.url("/authorize/decision"))
            .form(&[("consent", id), ("decision", "deny")])
            .send()
            .await
            .expect("the decision is posted")
            .status()
            .as_u16()
    };
    let (r, status) = tokio::join!(prepared.finish(&h.client, WAIT), deny);
    let e = r.expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
    assert_eq!(e.kind().exit_code(), 3);
    assert_eq!(e.cause(), Some(Cause::ConsentDenied));
    assert!(
        e.message().contains("the user denied the request"),
        "{}",
        e.message()
    );
    assert_eq!(
        e.oauth().map(|o| o.code.clone()),
        Some(OAuthErrorCode::AccessDenied)
    );
    assert_eq!(status, 400, "the callback page says the login failed");
    assert_eq!(server.stats().token_requests.total(), 0);
}

#[tokio::test]
async fn an_expired_code_is_login_required_with_the_expiry_hint() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let url = prepared.url.clone();
    let slow_browser = async {
        let back = redirect_back(&url).await;
        server.advance_clock(server.config().code_ttl + Duration::from_secs(1));
        open(&back).await
    };
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), slow_browser);
    let e = r.expect_err("expired code");
    util::assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::CodeExpiredOrReused));
    assert!(e.hint().is_some_and(|h| h.contains("expired")));
    assert_eq!(server.stats().token_requests.authorization_code, 1);
}

#[tokio::test]
async fn a_500_on_the_exchange_is_not_retried_and_the_next_login_works() {
    let server = util::mock(vec![]).await;
    // The server uses up the code and then fails: the code must not be sent again.
    server
        .set_faults(
            FaultPlan::default().with(Endpoint::Token, FaultSpec::status(500).count(1).processed()),
        )
        .expect("valid plan");
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let url = prepared.url.clone();
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let e = r.expect_err("500");
    util::assert_classified(&e, ErrorKind::ProviderUnavailable, 4);
    assert_eq!(e.cause(), Some(Cause::CodeMaybeConsumed));
    assert_eq!(e.status(), Some(500));
    assert!(e.request_id().is_some());
    let hint = e.hint().unwrap_or_default();
    assert!(
        hint.contains("code") && hint.contains("run `tokenwarden login` again"),
        "{hint}"
    );
    assert_eq!(
        server.stats().token_requests.authorization_code,
        1,
        "sent once"
    );
    assert!(h.sleeper.slept().is_empty(), "no retry was scheduled");

    let prepared = authcode::prepare(&h.client).await.expect("prepare again");
    let url = prepared.url.clone();
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let tokens = r.unwrap_or_else(|e| panic!("second login: {}", e.report()));
    assert_eq!(tokens.subject.as_deref(), Some("mock-user"));
}

#[tokio::test]
async fn a_second_exchange_of_the_same_code_is_refused_with_the_reuse_hint() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let (url, redirect_uri) = (prepared.url.clone(), prepared.redirect_uri.clone());
    let browse = async {
        let back = redirect_back(&url).await;
        let code = query(&back)["code"].clone();
        open(&back).await;
        code
    };
    let (r, code) = tokio::join!(prepared.finish(&h.client, WAIT), browse);
    r.unwrap_or_else(|e| panic!("login: {}", e.report()));

    let (verifier, _) = util::pkce();
    let e = h
        .client
        .exchange_code(
            AuthorizationCode::new(code),
            &redirect_uri,
            Some(PkceVerifier::new(verifier)),
            None,
        )
        .await
        .expect_err("a code works once");
    util::assert_classified(&e, ErrorKind::LoginRequired, 3);
    assert_eq!(e.cause(), Some(Cause::CodeExpiredOrReused));
    assert_eq!(
        e.oauth().map(|o| o.code.clone()),
        Some(OAuthErrorCode::InvalidGrant)
    );
    assert!(e.hint().is_some_and(|h| h.contains("already used")));
    let stats = server.stats();
    assert_eq!(stats.token_requests.authorization_code, 2);
    assert_eq!(stats.code_reuse_detected, 1);
}

#[tokio::test]
async fn rfc9207_iss_must_match_and_must_be_present() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    for iss in [Some("http://127.0.0.1:1"), None] {
        let prepared = authcode::prepare(&h.client).await.expect("prepare");
        let state = query(&prepared.url)["state"].clone();
        let mut params = vec![("code", "c"), ("state", state.as_str())];
        if let Some(i) = iss {
            params.push(("iss", i));
        }
        let cb = callback_url(&prepared, &params);
        let (r, (status, _, _)) = tokio::join!(prepared.finish(&h.client, WAIT), open(&cb));
        let e = r.expect_err("iss refused");
        assert_eq!(e.kind(), ErrorKind::Protocol, "{}", e.report());
        assert!(e.message().contains("RFC 9207"), "{}", e.message());
        assert!(e.hint().is_some());
        assert_eq!(status, 400);
    }
    assert_eq!(server.stats().token_requests.total(), 0);
}

#[tokio::test]
async fn the_first_valid_callback_wins_and_later_ones_are_ignored() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let listener = addr_of(&prepared.redirect_uri);
    let back = redirect_back(&prepared.url).await;
    // Both arrive before the login even looks: the first is taken, the second is told so.
    let (first, _, _) = open(&back).await;
    let (second, _, page) = open(&back).await;
    assert_eq!(first, 200);
    assert_eq!(second, 409);
    assert!(page.contains("already received"), "{page}");
    let tokens = prepared
        .finish(&h.client, WAIT)
        .await
        .unwrap_or_else(|e| panic!("login: {}", e.report()));
    assert!(tokens.refresh_token.is_some());
    assert_eq!(server.stats().token_requests.authorization_code, 1);
    assert_closed(listener).await;
}

#[tokio::test]
async fn no_callback_within_the_timeout_is_login_required_and_closes_the_listener() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let listener = addr_of(&prepared.redirect_uri);
    // Elapsed real time is what is tested here; keep it short.
    let e = prepared
        .finish(&h.client, Duration::from_millis(50))
        .await
        .expect_err("timeout");
    assert_eq!(e.kind(), ErrorKind::LoginRequired, "{}", e.report());
    assert!(e.message().contains("within 50 ms"), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("--timeout")));
    assert_closed(listener).await;
    assert_eq!(server.stats().token_requests.total(), 0);
}

#[tokio::test]
async fn a_fixed_port_in_the_redirect_uri_is_used_and_a_busy_one_is_explained() {
    let server = util::mock(vec![]).await;
    let port = util::closed_port();
    let mut p = oidc_profile(&server);
    p.redirect_uri = Some(format!("http://127.0.0.1:{port}/callback"));
    let h = util::client(p, None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    assert_eq!(
        prepared.redirect_uri,
        format!("http://127.0.0.1:{port}/callback")
    );
    let e = authcode::prepare(&h.client)
        .await
        .expect_err("the port is taken by the first login");
    assert!(e.message().contains(&port.to_string()), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("another program")));
    drop(prepared);
}

#[tokio::test]
async fn idle_or_stuck_connections_to_the_listener_do_not_hold_up_the_login() {
    let server = util::mock(vec![]).await;
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    // Browsers open spare connections they may never use.
    let _idle = tokio::net::TcpStream::connect(addr_of(&prepared.redirect_uri))
        .await
        .expect("connect");
    // And a request that never finishes.
    let mut stuck = tokio::net::TcpStream::connect(addr_of(&prepared.redirect_uri))
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut stuck, b"GET /callback HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let url = prepared.url.clone();
    let login = async { tokio::join!(prepared.finish(&h.client, WAIT), open(&url)).0 };
    let tokens = tokio::time::timeout(Duration::from_secs(20), login)
        .await
        .expect("the login ends although a connection stays open")
        .unwrap_or_else(|e| panic!("login: {}", e.report()));
    assert!(tokens.refresh_token.is_some());
}

#[tokio::test]
async fn an_openid_login_answered_without_an_id_token_is_refused_and_nothing_is_returned() {
    let server = util::mock(vec![]).await;
    server
        .set_faults(FaultPlan::default().with(
            Endpoint::Token,
            FaultSpec::raw(
                200,
                r#"{"access_token":"mat_x","token_type":"Bearer","expires_in":60,"refresh_token":"mrt_y"}"#,
            )
            .count(1),
        ))
        .expect("valid plan");
    let h = util::client(oidc_profile(&server), None);
    let prepared = authcode::prepare(&h.client).await.expect("prepare");
    let url = prepared.url.clone();
    let (r, _) = tokio::join!(prepared.finish(&h.client, WAIT), open(&url));
    let e = r.expect_err("no id_token");
    util::assert_classified(&e, ErrorKind::Protocol, 1);
    assert!(e.message().contains("id_token"), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("openid")));
}
