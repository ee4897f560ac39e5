//! [`NaiveClient`]: the refresh strategy of the sample code in OAuth troubleshooting guides,
//! kept on purpose to show what goes wrong (`tokenwarden demo` and this crate's tests run it
//! beside [`Session`]). Do not use it to get tokens.
//!
//! Each instance keeps its own copy of the tokens, as each process of a naive program does (in
//! memory, or in a file it alone rewrites); refreshes when *its* copy looks expired; keeps the
//! refresh token the answer carries; and takes no lock and re-reads nothing. Several instances
//! started from one login therefore refresh the same expiry each on its own, so the provider
//! sees one refresh per instance instead of one in all. With refresh-token rotation the first
//! refresh replaces the refresh token and every other instance presents the old one:
//! `invalid_grant`, and a provider with reuse detection (RFC 9700 §4.14.2) revokes the whole
//! session, so every instance is sent back to log in. A [`Session`] refreshes once per expiry
//! for all of them, under a lock, and re-reads the store before refreshing.
//!
//! [`Session`]: tokenwarden::session::Session

use std::time::Duration;
use tokenwarden::error::Result;
use tokenwarden::http::TokenClient;
use tokenwarden::secret::AccessToken;
use tokenwarden::token::TokenSet;

/// A client that refreshes its own copy of the tokens, uncoordinated (see the module docs).
#[derive(Debug)]
pub struct NaiveClient {
    client: TokenClient,
    tokens: TokenSet,
    refreshes: u64,
}

impl NaiveClient {
    /// A naive client holding its own copy of `initial` (what a process read at start-up).
    pub fn new(client: TokenClient, initial: TokenSet) -> NaiveClient {
        NaiveClient {
            client,
            tokens: initial,
            refreshes: 0,
        }
    }

    /// The access token of its own copy, refreshed first when that copy looks expired: inside
    /// the proactive window a [`Session`](tokenwarden::session::Session) uses, min(the profile's
    /// `refresh_skew`, half the token's lifetime), so the two refresh at the same moments. A
    /// refused refresh is returned as is: LoginRequired, nothing re-read, nothing retried.
    pub async fn token(&mut self) -> Result<AccessToken> {
        let now = self.client.retrier().clock().now();
        let skew = self.client.profile().refresh_skew;
        if !self.tokens.is_fresh(now, Duration::ZERO, skew) {
            let Some(refresh_token) = self.tokens.refresh_token.clone() else {
                return Err(tokenwarden::Error::login_required(
                    "the naive client's token expired and it has no refresh token",
                )
                .with_hint("log in again"));
            };
            self.refreshes += 1;
            // An answer without a refresh token keeps the presented one.
            self.tokens = self
                .client
                .refresh(&refresh_token)
                .await?
                .renewing(&self.tokens);
        }
        Ok(self.tokens.access_token.clone())
    }

    /// Its copy of the tokens.
    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    /// Replaces its copy (after a new login).
    pub fn replace(&mut self, tokens: TokenSet) {
        self.tokens = tokens;
    }

    /// How many refreshes it sent.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use tokenwarden::config::Profile;
    use tokenwarden::secret::RefreshToken;

    /// A token set of `lifetime` obtained `age` ago.
    fn tokens(lifetime: Duration, age: Duration) -> TokenSet {
        let obtained_at = SystemTime::now() - age;
        TokenSet {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("unknown-refresh-token")),
            id_token: None,
            expires_at: Some(obtained_at + lifetime),
            scopes: Vec::new(),
            obtained_at,
            refresh_token_obtained_at: Some(obtained_at),
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        }
    }

    /// The window is the profile's `refresh_skew` (capped at half the lifetime), as a Session's.
    #[tokio::test]
    async fn refreshes_inside_the_profiles_window_only() {
        let server = mockauth::Server::start(mockauth::Config::default())
            .await
            .expect("mockauth starts");
        let mut profile = Profile::new("test", "cli");
        profile.endpoints.token = url::Url::parse(&server.url("/token")).ok();
        profile.refresh_skew = Duration::from_secs(10);
        profile.retry.max_attempts = 1;
        let client = TokenClient::new(profile).expect("client");
        let hour = Duration::from_secs(3600);

        // 20 s left: outside a 10 s window (the default 30 s window would refresh).
        let left_20s = hour - Duration::from_secs(20);
        let mut naive = NaiveClient::new(client.clone(), tokens(hour, left_20s));
        assert_eq!(naive.token().await.expect("its own copy").expose(), "at");
        assert_eq!(naive.refreshes(), 0);

        // 5 s left: inside it, so it refreshes (and mockauth refuses the unknown token).
        let left_5s = hour - Duration::from_secs(5);
        let mut naive = NaiveClient::new(client, tokens(hour, left_5s));
        let err = naive.token().await.expect_err("an unknown refresh token");
        assert_eq!(naive.refreshes(), 1, "{}", err.report());
        server.shutdown().await.expect("stops");
    }
}
