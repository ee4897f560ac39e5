//! [`NaiveClient`]: the refresh strategy of the sample code in OAuth troubleshooting guides,
//! kept on purpose to show what goes wrong (the session tests and `tokenwarden demo` run it
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
//! [`Session`]: crate::session::Session

use crate::error::Result;
use crate::http::TokenClient;
use crate::secret::AccessToken;
use crate::token::{DEFAULT_REFRESH_SKEW, TokenSet};
use std::time::Duration;

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

    /// The access token of its own copy, refreshed first when that copy looks expired (inside
    /// the same proactive window a [`Session`](crate::session::Session) uses, so the two
    /// refresh at the same moments). A refused refresh is returned as is: LoginRequired,
    /// nothing re-read, nothing retried.
    pub async fn token(&mut self) -> Result<AccessToken> {
        let now = self.client.retrier().clock().now();
        if !self
            .tokens
            .is_fresh(now, Duration::ZERO, DEFAULT_REFRESH_SKEW)
        {
            let Some(refresh_token) = self.tokens.refresh_token.clone() else {
                return Err(crate::Error::login_required(
                    "the naive client's token expired and it has no refresh token",
                )
                .with_hint("log in again"));
            };
            self.refreshes += 1;
            // The client keeps the presented refresh token when the answer carries none.
            self.tokens = self.client.refresh(&refresh_token).await?;
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
