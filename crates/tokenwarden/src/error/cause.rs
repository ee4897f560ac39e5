//! [`Cause`]: the known causes of failures, named so that callers match on a variant instead of
//! on message text, with the stable names the store and JSON output use.

use std::fmt;

/// A known cause, named so that callers can match on it instead of on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The authorization code expired, or was already used.
    CodeExpiredOrReused,
    /// The code exchange failed after the server may have consumed the code.
    CodeMaybeConsumed,
    /// The redirect URI differs from the registered one or the one sent to `/authorize`.
    RedirectMismatch,
    /// The client id or secret was refused.
    BadClientCredentials,
    /// The local clock is off compared with the provider's.
    ClockSkew,
    /// The provider is rate limiting (429, `slow_down`).
    RateLimited,
    /// The provider answered 5xx / `server_error` / `temporarily_unavailable`.
    ProviderOutage,
    /// The refresh token was revoked or expired.
    RefreshTokenRevoked,
    /// An `invalid_grant` followed a refresh whose answer was lost: the server may have rotated.
    PossiblyLostRotation,
    /// Something other than the provider answered (an HTML page from a proxy or CDN).
    ProxyAnswered,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The TCP connection failed.
    Connect,
    /// The request timed out.
    Timeout,
    /// The response body was larger than the cap.
    ResponseTooLarge,
    /// The response was not the JSON (or form) expected.
    MalformedResponse,
    /// The callback's `state` did not match.
    StateMismatch,
    /// The circuit breaker is open after repeated transient failures.
    CircuitOpen,
    /// The session was rejected by the resource server after a refresh.
    ResourceRejected,
    /// The user or the provider denied consent.
    ConsentDenied,
    /// No tokens are stored for the profile.
    NotLoggedIn,
    /// The token store is on another machine (the fleet store) and cannot be reached.
    StoreUnreachable,
    /// The token store stayed locked by another process (a write transaction held too long).
    StoreBusy,
    /// The provider refused the RFC 8707 resource indicator (`invalid_target`): missing,
    /// unknown, or not part of the authorization.
    ResourceIndicator,
}

impl Cause {
    /// Every cause, in declaration order. A new variant is added here too (a unit test checks
    /// that each one round-trips through [`Cause::as_str`] and [`Cause::parse`]).
    pub const ALL: &'static [Cause] = &[
        Cause::CodeExpiredOrReused,
        Cause::CodeMaybeConsumed,
        Cause::RedirectMismatch,
        Cause::BadClientCredentials,
        Cause::ClockSkew,
        Cause::RateLimited,
        Cause::ProviderOutage,
        Cause::RefreshTokenRevoked,
        Cause::PossiblyLostRotation,
        Cause::ProxyAnswered,
        Cause::Dns,
        Cause::Tls,
        Cause::Connect,
        Cause::Timeout,
        Cause::ResponseTooLarge,
        Cause::MalformedResponse,
        Cause::StateMismatch,
        Cause::CircuitOpen,
        Cause::ResourceRejected,
        Cause::ConsentDenied,
        Cause::NotLoggedIn,
        Cause::StoreUnreachable,
        Cause::StoreBusy,
        Cause::ResourceIndicator,
    ];

    /// The stable name of the cause, as stored and as written in JSON output
    /// (`refresh_token_revoked`, `possibly_lost_rotation`, ...). A released name never changes.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::CodeExpiredOrReused => "code_expired_or_reused",
            Cause::CodeMaybeConsumed => "code_maybe_consumed",
            Cause::RedirectMismatch => "redirect_mismatch",
            Cause::BadClientCredentials => "bad_client_credentials",
            Cause::ClockSkew => "clock_skew",
            Cause::RateLimited => "rate_limited",
            Cause::ProviderOutage => "provider_outage",
            Cause::RefreshTokenRevoked => "refresh_token_revoked",
            Cause::PossiblyLostRotation => "possibly_lost_rotation",
            Cause::ProxyAnswered => "proxy_answered",
            Cause::Dns => "dns",
            Cause::Tls => "tls",
            Cause::Connect => "connect",
            Cause::Timeout => "timeout",
            Cause::ResponseTooLarge => "response_too_large",
            Cause::MalformedResponse => "malformed_response",
            Cause::StateMismatch => "state_mismatch",
            Cause::CircuitOpen => "circuit_open",
            Cause::ResourceRejected => "resource_rejected",
            Cause::ConsentDenied => "consent_denied",
            Cause::NotLoggedIn => "not_logged_in",
            Cause::StoreUnreachable => "store_unreachable",
            Cause::StoreBusy => "store_busy",
            Cause::ResourceIndicator => "resource_indicator",
        }
    }

    /// The cause named `name` (the form of [`Cause::as_str`]); `None` for a name this build does
    /// not know (written by a newer tokenwarden, or damaged), never an error.
    pub fn parse(name: &str) -> Option<Cause> {
        Cause::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The cause in words, for a person (`status`, messages).
    pub fn describe(self) -> &'static str {
        match self {
            Cause::CodeExpiredOrReused => "the authorization code expired or was already used",
            Cause::CodeMaybeConsumed => {
                "the code exchange failed after the provider may have used the code"
            }
            Cause::RedirectMismatch => {
                "the redirect URI differs from the one registered with the provider"
            }
            Cause::BadClientCredentials => "the provider refused the client id or secret",
            Cause::ClockSkew => "the local clock is off compared with the provider's",
            Cause::RateLimited => "the provider is rate limiting",
            Cause::ProviderOutage => "the provider is failing (5xx or temporarily unavailable)",
            Cause::RefreshTokenRevoked => {
                "the provider revoked the session: it refused the refresh token, revoked or expired"
            }
            Cause::PossiblyLostRotation => {
                "a refresh-token rotation was probably lost: an earlier refresh's answer never arrived, and the provider refused the refresh token it had replaced"
            }
            Cause::ProxyAnswered => {
                "something other than the provider answered (a proxy or CDN page)"
            }
            Cause::Dns => "the provider's host name did not resolve",
            Cause::Tls => "the TLS handshake with the provider failed",
            Cause::Connect => "the connection to the provider failed",
            Cause::Timeout => "the request to the provider timed out",
            Cause::ResponseTooLarge => "the provider's answer was larger than allowed",
            Cause::MalformedResponse => "the provider's answer was not what OAuth expects",
            Cause::StateMismatch => "the login callback's state did not match",
            Cause::CircuitOpen => "requests are held back after repeated provider failures",
            Cause::ResourceRejected => "the API rejected a freshly refreshed token",
            Cause::ConsentDenied => "the user or the provider denied consent",
            Cause::NotLoggedIn => "no usable tokens are stored",
            Cause::StoreUnreachable => "the fleet token store cannot be reached",
            Cause::StoreBusy => "the token store is locked by another process",
            Cause::ResourceIndicator => {
                "the provider refused the resource indicator (RFC 8707 invalid_target)"
            }
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_round_trip_and_unknown_names_are_none() {
        // Exhaustive: a new variant does not compile here until it is listed, and then the
        // length check below asks for it in `Cause::ALL` too.
        let listed = |c: Cause| match c {
            Cause::CodeExpiredOrReused
            | Cause::CodeMaybeConsumed
            | Cause::RedirectMismatch
            | Cause::BadClientCredentials
            | Cause::ClockSkew
            | Cause::RateLimited
            | Cause::ProviderOutage
            | Cause::RefreshTokenRevoked
            | Cause::PossiblyLostRotation
            | Cause::ProxyAnswered
            | Cause::Dns
            | Cause::Tls
            | Cause::Connect
            | Cause::Timeout
            | Cause::ResponseTooLarge
            | Cause::MalformedResponse
            | Cause::StateMismatch
            | Cause::CircuitOpen
            | Cause::ResourceRejected
            | Cause::ConsentDenied
            | Cause::NotLoggedIn
            | Cause::StoreUnreachable
            | Cause::StoreBusy
            | Cause::ResourceIndicator => 24,
        };
        assert_eq!(Cause::ALL.len(), listed(Cause::Dns));
        let mut names = std::collections::HashSet::new();
        for &c in Cause::ALL {
            assert_eq!(Cause::parse(c.as_str()), Some(c));
            assert!(names.insert(c.as_str()), "{c:?} has a name of its own");
            assert!(!c.describe().is_empty());
        }
        assert_eq!(
            Cause::parse("refresh_token_revoked"),
            Some(Cause::RefreshTokenRevoked)
        );
        assert_eq!(
            Cause::parse("possibly_lost_rotation"),
            Some(Cause::PossiblyLostRotation)
        );
        for unknown in [
            "",
            "made_up",
            "RefreshTokenRevoked",
            "refresh token revoked",
        ] {
            assert_eq!(Cause::parse(unknown), None, "{unknown:?}");
        }
    }
}
