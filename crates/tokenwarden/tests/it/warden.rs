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
