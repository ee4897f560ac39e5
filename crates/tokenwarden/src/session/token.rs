//! [`Token`]: what a session hands out — the access token, its expiry and version, and the
//! warnings that go with a degraded or short-lived one.

use crate::secret::{AccessToken, IdToken};
use crate::store::{StoredTokens, Version};
use std::time::{Duration, SystemTime};

/// An access token handed out by a session.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: AccessToken,
    /// Normally `Bearer`.
    pub token_type: String,
    /// When it expires, if known.
    pub expires_at: Option<SystemTime>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The stored version it came from (what [`Session::invalidate`] names).
    pub version: Version,
    /// Set when this still-valid token is handed out instead of a fresh one because the
    /// provider is failing (or another process's refresh outlasted the lock wait): the warning
    /// to show.
    pub degraded: Option<String>,
    /// Set when the token is fine but cannot be what was asked: the provider grants tokens
    /// shorter than the `min_ttl` asked for. The warning to show.
    pub warning: Option<String>,
    /// The OpenID Connect ID token stored with it (verified at login: signature, issuer,
    /// audience, nonce), when the provider gave one.
    pub id_token: Option<IdToken>,
    /// When the refresh token behind it expires (a new login is needed then), when known
    /// ([`crate::horizon`]).
    pub refresh_token_expires_at: Option<SystemTime>,
    /// How long the provider granted it for, when known.
    pub(super) lifetime: Option<Duration>,
}

impl Token {
    /// A token as another process handed it out (the agent's answer).
    pub(crate) fn from_parts(
        access_token: AccessToken,
        token_type: String,
        expires_at: Option<SystemTime>,
        scopes: Vec<String>,
        version: Version,
        lifetime: Option<Duration>,
    ) -> Token {
        Token {
            access_token,
            token_type,
            expires_at,
            scopes,
            version,
            degraded: None,
            warning: None,
            id_token: None,
            refresh_token_expires_at: None,
            lifetime,
        }
    }

    /// How long the provider granted it for, when known.
    pub fn lifetime(&self) -> Option<Duration> {
        self.lifetime
    }

    /// When it enters the proactive refresh window of `refresh_skew` (min(`refresh_skew`, half
    /// its lifetime) before it expires); `None` when it does not expire.
    pub fn refresh_due(&self, refresh_skew: Duration) -> Option<SystemTime> {
        let window = self
            .lifetime
            .map_or(Duration::ZERO, |l| refresh_skew.min(l / 2));
        self.expires_at.map(|e| e.checked_sub(window).unwrap_or(e))
    }

    pub(super) fn from_stored(s: &StoredTokens) -> Token {
        Token {
            access_token: s.tokens.access_token.clone(),
            token_type: s.tokens.token_type.clone(),
            expires_at: s.tokens.expires_at,
            scopes: s.tokens.scopes.clone(),
            version: s.version,
            degraded: None,
            warning: None,
            id_token: s.tokens.id_token.clone(),
            refresh_token_expires_at: s.tokens.refresh_token_expires_at,
            lifetime: s.tokens.lifetime(),
        }
    }

    /// The `Authorization` header value, e.g. `Bearer abc`. Secret: never log it.
    pub fn authorization(&self) -> String {
        let scheme = if self.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            self.token_type.as_str()
        };
        format!("{scheme} {}", self.access_token.expose())
    }
}
