//! [`Warden`]: a session built around the caller's own refresh grant.

use super::util;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokenwarden::http::Exchanged;
use tokenwarden::paths::Paths;
use tokenwarden::secret::RefreshToken;
use tokenwarden::session::{BoxFuture, Effort, Grants};
use tokenwarden::token::TokenSet;
use tokenwarden::warden::{ClientGrants, Warden};

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// The plain grant, counting the refreshes that go through it.
struct Counting {
    inner: ClientGrants,
    refreshes: Arc<AtomicU32>,
}

impl Grants for Counting {
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, tokenwarden::Result<()>> {
        self.inner.prepare(effort)
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.inner.refresh(refresh_token, effort)
    }

    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        self.inner.client_credentials(effort)
    }
}

#[tokio::test]
async fn a_session_with_given_grants_refreshes_through_them() {
    let server = util::mock(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("tw");
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&home).expect("home");
    let config = format!(
        "[profiles.test]\nclient_id = \"cli\"\nauthorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nscopes = [\"openid\", \"offline_access\"]\n",
        server.url("/authorize"),
        server.url("/token")
    );
    std::fs::write(home.join("config.toml"), config).expect("config");
    let warden = Warden::open(Paths::in_dir(&home)).expect("warden opens");
    let profile = warden.profile("test").expect("profile").profile;

    let client = warden.client(&profile).expect("client");
    let (code, verifier) = util::authorize(&server, "cli", REDIRECT).await;
    let login = client
        .exchange_code(code, REDIRECT, Some(verifier), Some("st"))
        .await
        .expect("code exchange");
    warden
        .store()
        .expect("store")
        .replace("test", &login)
        .expect("stored");

    let refreshes = Arc::new(AtomicU32::new(0));
    let grants = Counting {
        inner: ClientGrants(client),
        refreshes: refreshes.clone(),
    };
    let session = warden
        .session_with_grants("test", Arc::new(grants))
        .expect("session");
    assert_eq!(session.profile(), "test");
    let first = session
        .get_token(Duration::ZERO)
        .await
        .expect("stored token");
    assert_eq!(first.access_token().expose(), login.access_token.expose());
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        0,
        "a fresh token needs none"
    );

    // A rejected token makes the session refresh, through the given grant.
    session.invalidate(&first).expect("invalidate");
    let second = session.get_token(Duration::ZERO).await.expect("refreshed");
    assert_ne!(
        second.access_token().expose(),
        first.access_token().expose()
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    server.shutdown().await.expect("mockauth stops");
}

#[tokio::test]
async fn a_new_warden_finds_the_discovery_document_another_one_kept() {
    let server = mockauth::Server::start(mockauth::Config {
        auto_approve: true,
        discovery_max_age: Some(Duration::from_secs(3600)),
        ..mockauth::Config::default()
    })
    .await
    .expect("mockauth starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("tw");
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&home).expect("home");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[profiles.test]\nclient_id = \"cli\"\nissuer = \"{}\"\nmax_attempts = 1\n",
            server.issuer()
        ),
    )
    .expect("config");
    let paths = Paths::in_dir(&home);
    let key =
        || tokenwarden::store::KeySource::Key(tokenwarden::store::StoreKey::from_bytes([9; 32]));
    let first = Warden::open(paths.clone())
        .expect("opens")
        .with_key_source(key());
    let profile = first.profile("test").expect("profile").profile;
    let client = first.client(&profile).expect("client");
    assert_eq!(
        client.token_endpoint().await.expect("discovered").as_str(),
        server.url("/token")
    );
    assert!(!client.http().tls_set_up(), "an http issuer sets no TLS up");

    // The next process finds it in the store: the discovery endpoint is not asked.
    server
        .set_faults(mockauth::FaultPlan::default().with(
            mockauth::Endpoint::Discovery,
            mockauth::FaultSpec::status(500),
        ))
        .expect("plan");
    let next = Warden::open(paths).expect("opens").with_key_source(key());
    let kept = next.client(&profile).expect("client");
    assert_eq!(
        kept.token_endpoint()
            .await
            .expect("from the store")
            .as_str(),
        server.url("/token")
    );
    // What only reads the provider, to diagnose it, asks it live.
    let live = next.client_without_store(&profile).expect("client");
    live.token_endpoint()
        .await
        .expect_err("fetched live, from a failing endpoint");
    server.shutdown().await.expect("mockauth stops");
}
