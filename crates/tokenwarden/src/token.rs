//! `TokenSet`: what a token endpoint granted, and the expiry arithmetic on it.
//!
//! Every function that needs the current time takes it as an argument (`now`), so the arithmetic
//! is tested without waiting and a test can put a token anywhere in its life. Expiry is always
//! computed from `expires_in` at receipt (RFC 6749 §5.1), never from the server's clock.

use crate::secret::{AccessToken, IdToken, RefreshToken};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The proactive refresh window used when a profile does not set `refresh_skew`.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(30);

/// The tokens obtained by one grant, with what is known about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type, normally `Bearer`.
    pub token_type: String,
    /// The refresh token, when the grant returned one (or one kept from an earlier grant).
    pub refresh_token: Option<RefreshToken>,
    /// The OpenID Connect ID token, when one came.
    pub id_token: Option<IdToken>,
    /// When the access token stops working; `None` when the provider gave no `expires_in`.
    pub expires_at: Option<SystemTime>,
    /// The granted scopes (the requested ones when the response did not say).
    pub scopes: Vec<String>,
    /// When this token set was received.
    pub obtained_at: SystemTime,
    /// When the refresh token was received (it may be older than the access token when the
    /// provider does not rotate refresh tokens).
    pub refresh_token_obtained_at: Option<SystemTime>,
    /// When the refresh token stops working, when known: from the provider's
    /// `refresh_token_expires_in` at receipt (GitHub apps send it), or from the profile's
    /// `session_lifetime` at login. After that a new login is needed
    /// ([`crate::horizon`]).
    pub refresh_token_expires_at: Option<SystemTime>,
    /// The `sub` claim of the ID token, when one came.
    pub subject: Option<String>,
    /// The `iss` claim of the ID token, when one came.
    pub issuer: Option<String>,
}

impl TokenSet {
    /// How long the access token was granted for, when known.
    pub fn lifetime(&self) -> Option<Duration> {
        self.expires_at.map(|exp| {
            exp.duration_since(self.obtained_at)
                .unwrap_or(Duration::ZERO)
        })
    }

    /// Time left before the access token expires at `now`; `None` when it does not expire.
    /// Zero once expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|exp| exp.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// The proactive refresh window: min(`refresh_skew`, half the token's lifetime), so that a
    /// token that lives only seconds is not refreshed on every call.
    pub fn proactive_window(&self, refresh_skew: Duration) -> Duration {
        match self.lifetime() {
            Some(lifetime) => refresh_skew.min(lifetime / 2),
            None => Duration::ZERO,
        }
    }

    /// True once the access token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.remaining(now) == Some(Duration::ZERO)
    }

    /// True when the token can be handed out without refreshing: it stays valid for `min_ttl`
    /// beyond the proactive window.
    pub fn is_fresh(&self, now: SystemTime, min_ttl: Duration, refresh_skew: Duration) -> bool {
        match self.remaining(now) {
            None => true,
            Some(left) => left > min_ttl.saturating_add(self.proactive_window(refresh_skew)),
        }
    }

    /// True when the token still works for at least `min_ttl` (it may be inside the proactive
    /// window): a caller may use it while someone else refreshes.
    pub fn is_valid_for(&self, now: SystemTime, min_ttl: Duration) -> bool {
        match self.remaining(now) {
            None => true,
            Some(left) => left > min_ttl,
        }
    }

    /// The granted scopes joined by spaces, as OAuth writes them.
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }

    /// The tokens that replace `previous` when a refresh (or another grant renewing them)
    /// answered `self`: what the answer leaves out is kept from `previous`. Without a refresh
    /// token the provider did not rotate, and the one presented stays valid (RFC 6749 §6): it is
    /// kept, with when it was obtained. Without an ID token, the subject and issuer of the
    /// earlier one are kept. An ID token that names another subject or issuer than the stored
    /// ones is not the same end-user's (OIDC Core §12.2): it is dropped with a warning, and the
    /// stored subject and issuer stay. An answer that does not say when the refresh token
    /// expires keeps the horizon known before (a rotated refresh token continues the same login,
    /// and a session cap counts from the login). This is the one place that rule lives.
    pub fn renewing(mut self, previous: &TokenSet) -> TokenSet {
        if self.refresh_token.is_none() {
            self.refresh_token = previous.refresh_token.clone();
            self.refresh_token_obtained_at = previous.refresh_token_obtained_at;
        }
        if self.refresh_token_expires_at.is_none() && self.refresh_token.is_some() {
            self.refresh_token_expires_at = previous.refresh_token_expires_at;
        }
        let differs = |new: &Option<String>, old: &Option<String>| {
            old.is_some() && new.is_some() && new != old
        };
        if self.id_token.is_some()
            && (differs(&self.subject, &previous.subject)
                || differs(&self.issuer, &previous.issuer))
        {
            tracing::warn!(
                "the ID token of a refresh names another subject or issuer than the login's (OpenID Connect Core §12.2): it was ignored, and the stored subject and issuer are kept"
            );
            self.id_token = None;
            self.subject = None;
            self.issuer = None;
        }
        if self.id_token.is_none() {
            self.subject = self.subject.or_else(|| previous.subject.clone());
            self.issuer = self.issuer.or_else(|| previous.issuer.clone());
        }
        self
    }
}

/// Milliseconds since the Unix epoch (negative before it), the store's time format.
pub fn to_unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The inverse of [`to_unix_millis`].
pub fn from_unix_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(lifetime: Option<u64>, now: SystemTime) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("a"),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("r")),
            id_token: None,
            expires_at: lifetime.map(|s| now + Duration::from_secs(s)),
            scopes: vec!["openid".into()],
            obtained_at: now,
            refresh_token_obtained_at: Some(now),
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        }
    }

    #[test]
    fn window_is_half_the_lifetime_for_short_tokens() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = token(Some(4), now);
        assert_eq!(
            t.proactive_window(DEFAULT_REFRESH_SKEW),
            Duration::from_secs(2)
        );
        assert!(t.is_fresh(
            now + Duration::from_millis(1_900),
            Duration::ZERO,
            DEFAULT_REFRESH_SKEW
        ));
        assert!(!t.is_fresh(
            now + Duration::from_millis(2_100),
            Duration::ZERO,
            DEFAULT_REFRESH_SKEW
        ));
        assert!(t.is_valid_for(now + Duration::from_millis(3_900), Duration::ZERO));
        assert!(t.is_expired(now + Duration::from_secs(4)));
    }

    #[test]
    fn window_is_the_skew_for_long_tokens() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = token(Some(3600), now);
        assert_eq!(
            t.proactive_window(DEFAULT_REFRESH_SKEW),
            DEFAULT_REFRESH_SKEW
        );
        assert!(!t.is_fresh(
            now + Duration::from_secs(3571),
            Duration::ZERO,
            DEFAULT_REFRESH_SKEW
        ));
        assert!(!t.is_fresh(now, Duration::from_secs(3600), DEFAULT_REFRESH_SKEW));
    }

    #[test]
    fn tokens_without_expiry_never_expire() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let t = token(None, now);
        assert!(t.is_fresh(
            now + Duration::from_secs(10_000_000),
            Duration::from_secs(60),
            DEFAULT_REFRESH_SKEW
        ));
        assert!(!t.is_expired(now + Duration::from_secs(10_000_000)));
    }

    #[test]
    fn a_renewal_keeps_what_the_answer_leaves_out() {
        let then = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = then + Duration::from_secs(3600);
        let horizon = then + Duration::from_secs(14 * 24 * 3600);
        let previous = TokenSet {
            subject: Some("user-1".into()),
            issuer: Some("https://issuer".into()),
            refresh_token_expires_at: Some(horizon),
            ..token(Some(3600), then)
        };
        // Not rotated, no ID token: the refresh token (and its age) and the claims stay.
        let answer = TokenSet {
            refresh_token: None,
            refresh_token_obtained_at: None,
            access_token: AccessToken::new("a2"),
            ..token(Some(3600), now)
        };
        let renewed = answer.renewing(&previous);
        assert_eq!(renewed.access_token.expose(), "a2");
        assert_eq!(renewed.refresh_token, previous.refresh_token);
        assert_eq!(renewed.refresh_token_obtained_at, Some(then));
        assert_eq!(renewed.subject.as_deref(), Some("user-1"));
        assert_eq!(renewed.issuer.as_deref(), Some("https://issuer"));
        assert_eq!(renewed.refresh_token_expires_at, Some(horizon));
        // Rotated: the new refresh token, obtained now.
        let rotated = TokenSet {
            refresh_token: Some(RefreshToken::new("r2")),
            ..token(Some(3600), now)
        }
        .renewing(&previous);
        assert_eq!(rotated.refresh_token, Some(RefreshToken::new("r2")));
        assert_eq!(rotated.refresh_token_obtained_at, Some(now));
        // The answer did not say when the new one expires: the login's horizon stays.
        assert_eq!(rotated.refresh_token_expires_at, Some(horizon));
        // It said: that is the horizon now.
        let later = now + Duration::from_secs(30 * 24 * 3600);
        let told = TokenSet {
            refresh_token: Some(RefreshToken::new("r3")),
            refresh_token_expires_at: Some(later),
            ..token(Some(3600), now)
        }
        .renewing(&previous);
        assert_eq!(told.refresh_token_expires_at, Some(later));
    }

    #[test]
    fn a_renewal_never_takes_another_subject_or_issuer() {
        let then = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = then + Duration::from_secs(3600);
        let previous = TokenSet {
            subject: Some("user-1".into()),
            issuer: Some("https://issuer".into()),
            id_token: Some(IdToken::new("old.id.token")),
            ..token(Some(3600), then)
        };
        for (sub, iss) in [("user-2", "https://issuer"), ("user-1", "https://evil")] {
            let answer = TokenSet {
                id_token: Some(IdToken::new("new.id.token")),
                subject: Some(sub.into()),
                issuer: Some(iss.into()),
                ..token(Some(3600), now)
            };
            let renewed = answer.renewing(&previous);
            assert_eq!(renewed.subject.as_deref(), Some("user-1"));
            assert_eq!(renewed.issuer.as_deref(), Some("https://issuer"));
            assert_eq!(renewed.id_token, None);
        }
        // The same end-user: the new ID token is kept.
        let answer = TokenSet {
            id_token: Some(IdToken::new("new.id.token")),
            subject: Some("user-1".into()),
            issuer: Some("https://issuer".into()),
            ..token(Some(3600), now)
        };
        let renewed = answer.renewing(&previous);
        assert_eq!(renewed.id_token, Some(IdToken::new("new.id.token")));
    }

    #[test]
    fn unix_millis_round_trip() {
        for ms in [0i64, 1, 1_700_000_000_123, -5_000] {
            assert_eq!(to_unix_millis(from_unix_millis(ms)), ms);
        }
    }
}
