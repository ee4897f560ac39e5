//! [`Token`]: what a session hands out — the access token, its expiry and version, and the
//! warnings that go with a degraded or short-lived one.
//!
//! What a token is (the secret, its type, expiry, scopes, version, ID token) lives in one
//! reference-counted body that every copy shares: handing a cached token out copies a pointer
//! and bumps a count, with no heap allocation (`session/cache.rs` gives each thread its own
//! body, so that count is never written by two threads). The warnings are per hand-out and
//! sit beside it.

use crate::secret::{AccessToken, IdToken};
use crate::store::{StoredTokens, Version};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An access token handed out by a session. Cloning it is cheap (a reference count), and it
/// is two words wide, so handing it out moves little.
#[derive(Debug, Clone)]
pub struct Token {
    body: Arc<Body>,
    /// Rarely set: boxed, so that a token without warnings stays small.
    notes: Option<Box<Notes>>,
}

/// The warnings that go with one hand-out of a token.
#[derive(Debug, Clone, Default)]
struct Notes {
    degraded: Option<String>,
    warning: Option<String>,
}

/// What every copy of one token shares.
#[derive(Debug, Clone)]
struct Body {
    access_token: AccessToken,
    token_type: String,
    expires_at: Option<SystemTime>,
    scopes: Vec<String>,
    version: Version,
    id_token: Option<IdToken>,
    refresh_token_expires_at: Option<SystemTime>,
    lifetime: Option<Duration>,
}

impl Token {
    /// A token as another process handed it out (the agent's answer).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        access_token: AccessToken,
        token_type: String,
        expires_at: Option<SystemTime>,
        scopes: Vec<String>,
        version: Version,
        lifetime: Option<Duration>,
        id_token: Option<IdToken>,
        refresh_token_expires_at: Option<SystemTime>,
    ) -> Token {
        Token {
            body: Arc::new(Body {
                access_token,
                token_type,
                expires_at,
                scopes,
                version,
                id_token,
                refresh_token_expires_at,
                lifetime,
            }),
            notes: None,
        }
    }

    pub(super) fn from_stored(s: &StoredTokens) -> Token {
        Token::from_parts(
            s.tokens.access_token.clone(),
            s.tokens.token_type.clone(),
            s.tokens.expires_at,
            s.tokens.scopes.clone(),
            s.version,
            s.tokens.lifetime(),
            s.tokens.id_token.clone(),
            s.tokens.refresh_token_expires_at,
        )
    }

    /// The same token with a body of its own, shared with no other copy: what a thread's
    /// cache keeps, so that handing it out touches only memory that thread owns.
    pub(super) fn unshared(&self) -> Token {
        Token {
            body: Arc::new(Body::clone(&self.body)),
            notes: self.notes.clone(),
        }
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.body.access_token
    }

    /// The token type, normally `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.body.token_type
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.body.expires_at
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.body.scopes
    }

    /// The stored version it came from (what [`super::Session::invalidate`] names).
    pub fn version(&self) -> Version {
        self.body.version
    }

    /// The OpenID Connect ID token stored with it (verified at login: signature, issuer,
    /// audience, nonce), when the provider gave one.
    pub fn id_token(&self) -> Option<&IdToken> {
        self.body.id_token.as_ref()
    }

    /// When the refresh token behind it expires (a new login is needed then), when known
    /// ([`crate::horizon`]).
    pub fn refresh_token_expires_at(&self) -> Option<SystemTime> {
        self.body.refresh_token_expires_at
    }

    /// How long the provider granted it for, when known.
    pub fn lifetime(&self) -> Option<Duration> {
        self.body.lifetime
    }

    /// Set when this still-valid token is handed out instead of a fresh one because the
    /// provider is failing (or another process's refresh outlasted the lock wait): the warning
    /// to show.
    pub fn degraded(&self) -> Option<&str> {
        self.notes.as_ref()?.degraded.as_deref()
    }

    /// Set when the token is fine but cannot be what was asked: the provider grants tokens
    /// shorter than the `min_ttl` asked for. The warning to show.
    pub fn warning(&self) -> Option<&str> {
        self.notes.as_ref()?.warning.as_deref()
    }

    /// The same token handed out with the degraded-mode warning `warning`.
    pub(crate) fn with_degraded(self, warning: Option<String>) -> Token {
        self.noting(|n| n.degraded = warning)
    }

    /// The same token handed out with `warning`.
    pub(crate) fn with_warning(self, warning: Option<String>) -> Token {
        self.noting(|n| n.warning = warning)
    }

    fn noting(mut self, change: impl FnOnce(&mut Notes)) -> Token {
        let mut notes = self.notes.take().map(|b| *b).unwrap_or_default();
        change(&mut notes);
        if notes.degraded.is_some() || notes.warning.is_some() {
            self.notes = Some(Box::new(notes));
        }
        self
    }

    /// The same token without the [`Token::warning`] (for a caller that asked for no
    /// particular `min_ttl`: a provider's short tokens are no news to it).
    pub fn without_warning(self) -> Token {
        self.with_warning(None)
    }

    /// When it enters the proactive refresh window of `refresh_skew` (min(`refresh_skew`, half
    /// its lifetime) before it expires); `None` when it does not expire.
    pub fn refresh_due(&self, refresh_skew: Duration) -> Option<SystemTime> {
        let window = self
            .lifetime()
            .map_or(Duration::ZERO, |l| refresh_skew.min(l / 2));
        self.expires_at()
            .map(|e| e.checked_sub(window).unwrap_or(e))
    }

    /// The `Authorization` header value, e.g. `Bearer abc`. Secret: never log it.
    pub fn authorization(&self) -> String {
        let scheme = if self.token_type().eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            self.token_type()
        };
        format!("{scheme} {}", self.access_token().expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn token() -> Token {
        Token::from_parts(
            AccessToken::new("at-1"),
            "bearer".into(),
            Some(UNIX_EPOCH + Duration::from_secs(100)),
            vec!["openid".into()],
            Version::from_raw(3),
            Some(Duration::from_secs(60)),
            None,
            None,
        )
    }

    #[test]
    fn copies_share_one_body_and_unshared_makes_its_own() {
        let t = token();
        let copy = t.clone();
        assert!(Arc::ptr_eq(&t.body, &copy.body));
        let own = t.unshared();
        assert!(!Arc::ptr_eq(&t.body, &own.body));
        assert_eq!(own.access_token(), t.access_token());
        assert_eq!(own.version(), t.version());
    }

    #[test]
    fn a_token_is_two_words() {
        assert_eq!(size_of::<Token>(), 2 * size_of::<usize>());
    }

    #[test]
    fn warnings_belong_to_one_hand_out() {
        let t = token();
        let warned = t.clone().with_degraded(Some("provider failing".into()));
        assert_eq!(warned.degraded(), Some("provider failing"));
        assert_eq!(t.degraded(), None);
        let both = warned.with_warning(Some("short".into()));
        assert_eq!(both.warning(), Some("short"));
        assert_eq!(both.degraded(), Some("provider failing"));
        let cleared = both.with_degraded(None).without_warning();
        assert!(cleared.notes.is_none());
    }

    #[test]
    fn authorization_writes_the_scheme_canonically_and_debug_redacts() {
        let t = token();
        assert_eq!(t.authorization(), "Bearer at-1");
        assert!(!format!("{t:?}").contains("at-1"));
        assert_eq!(
            t.refresh_due(Duration::from_secs(30)),
            Some(UNIX_EPOCH + Duration::from_secs(70))
        );
    }
}
