//! Helpers shared by the integration tests: mockauth started in-process on 127.0.0.1 port 0,
//! profiles pointed at it, token clients whose sleeps are recorded instead of waited, and an
//! authorization code obtained the way a browser would (auto-approve, redirect not followed).

#![allow(dead_code)]

use base64::Engine as _;
use sha2::Digest as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokenwarden::config::{ClientAuth, Profile};
use tokenwarden::retry::{ManualClock, RecordingSleeper};
use tokenwarden::secret::{AuthorizationCode, PkceVerifier};
use tokenwarden::{Error, TokenClient};
use url::Url;

/// A fixed start for manual clocks.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// Starts mockauth with auto-approve and the built-in clients (plus `extra`).
pub async fn mock(extra: Vec<mockauth::ClientConfig>) -> mockauth::ServerHandle {
    let mut config = mockauth::Config {
        auto_approve: true,
        ..mockauth::Config::default()
    };
    for c in extra {
        config = config.with_client(c);
    }
    mockauth::Server::start(config)
        .await
        .expect("mockauth starts")
}

/// A profile for the public client `client_id` with explicit endpoints on `server`.
pub fn profile(server: &mockauth::ServerHandle, client_id: &str) -> Profile {
    let mut p = Profile::new("test", client_id);
    let u = |path: &str| Url::parse(&server.url(path)).ok();
    p.endpoints.authorization = u("/authorize");
    p.endpoints.token = u("/token");
    p.endpoints.device_authorization = u("/device_authorization");
    p.endpoints.revocation = u("/revoke");
    p.scopes = vec!["openid".into(), "offline_access".into()];
    p.timeout = Duration::from_secs(10);
    p
}

/// The confidential client `svc` with `client_secret_basic`.
pub fn svc_profile(server: &mockauth::ServerHandle) -> Profile {
    let mut p = profile(server, "svc");
    p.client_auth = ClientAuth::ClientSecretBasic;
    p.scopes = Vec::new();
    p
}

/// What a test client records.
pub struct Harness {
    pub client: TokenClient,
    pub sleeper: Arc<RecordingSleeper>,
    pub clock: Arc<ManualClock>,
}

/// A token client that records its sleeps (advancing a manual clock) instead of waiting.
pub fn client(profile: Profile, secret: Option<&str>) -> Harness {
    let clock = Arc::new(ManualClock::new(t0()));
    let sleeper = Arc::new(RecordingSleeper::new(Some(clock.clone())));
    let mut b = TokenClient::builder(profile)
        .sleeper(sleeper.clone())
        .clock(clock.clone())
        .jitter_seed(7);
    if let Some(s) = secret {
        b = b.client_secret(tokenwarden::secret::ClientSecret::new(s));
    }
    Harness {
        client: b.build().expect("client builds"),
        sleeper,
        clock,
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!("{:0>64}", rand::random::<u64>());
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    (verifier, challenge)
}

/// Runs `/authorize` as a browser would (mockauth auto-approves) and returns the code and the
/// verifier.
pub async fn authorize(
    server: &mockauth::ServerHandle,
    client_id: &str,
    redirect_uri: &str,
) -> (AuthorizationCode, PkceVerifier) {
    let (verifier, challenge) = pkce();
    let mut url = Url::parse(&server.url("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "st")
        .append_pair("scope", "openid offline_access")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http.get(url).send().await.expect("authorize answers");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no redirect from /authorize: {}", resp.status()))
        .to_string();
    let back = Url::parse(&location).expect("redirect URL");
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in redirect");
    (AuthorizationCode::new(code), PkceVerifier::new(verifier))
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// Asserts the parts every classified error must have.
pub fn assert_classified(e: &Error, kind: tokenwarden::ErrorKind, exit: u8) {
    assert_eq!(e.kind(), kind, "{}", e.report());
    assert_eq!(e.kind().exit_code(), exit, "{}", e.report());
    assert!(
        e.hint().is_some_and(|h| !h.is_empty()),
        "no hint: {}",
        e.report()
    );
    assert!(
        e.correlation_id().is_some_and(|c| c.starts_with("tw-")),
        "no correlation id: {}",
        e.report()
    );
}
