//! OAuth error codes (RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 8628 §3.5, RFC 6750
//! §3.1) as an enum, with the providers' own names for standard conditions mapped in one place
//! ([`OAuthErrorCode::meaning`]), and the error body they come in.

use std::fmt;

/// An OAuth error code (RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.5, RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`
    AccessDenied,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `server_error`
    ServerError,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// `authorization_pending` (device grant)
    AuthorizationPending,
    /// `slow_down` (device grant)
    SlowDown,
    /// `expired_token` (device grant)
    ExpiredToken,
    /// `invalid_token` (bearer token rejected by a resource server)
    InvalidToken,
    /// `insufficient_scope`
    InsufficientScope,
    /// `unsupported_token_type` (revocation, RFC 7009 §2.2.1)
    UnsupportedTokenType,
    /// `invalid_target` (RFC 8707 §2: a resource indicator missing, unknown or not allowed)
    InvalidTarget,
    /// `redirect_uri_mismatch` (Google's and GitHub's answer to a redirect URI that differs
    /// from the registered one)
    RedirectUriMismatch,
    /// A code this crate does not know.
    Other(String),
}

impl OAuthErrorCode {
    /// Parses the wire form.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "authorization_pending" => Self::AuthorizationPending,
            "slow_down" => Self::SlowDown,
            "expired_token" => Self::ExpiredToken,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "unsupported_token_type" => Self::UnsupportedTokenType,
            "invalid_target" => Self::InvalidTarget,
            "redirect_uri_mismatch" => Self::RedirectUriMismatch,
            other => Self::Other(other.to_string()),
        }
    }

    /// The standard code this one stands for, to match on: a provider that names a standard
    /// condition its own way is mapped to the standard name (GitHub's `bad_verification_code`
    /// and `bad_refresh_token` are `invalid_grant`, its `incorrect_client_credentials` is
    /// `invalid_client`); every other code is itself. [`OAuthErrorCode::as_str`] keeps what the
    /// provider sent, for messages.
    pub fn meaning(&self) -> OAuthErrorCode {
        match self {
            Self::Other(s) => match s.as_str() {
                "bad_verification_code" | "bad_refresh_token" => Self::InvalidGrant,
                "incorrect_client_credentials" => Self::InvalidClient,
                _ => self.clone(),
            },
            standard => standard.clone(),
        }
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::RedirectUriMismatch => "redirect_uri_mismatch",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error response body (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code.
    pub code: OAuthErrorCode,
    /// The `error_description`, when given.
    pub description: Option<String>,
    /// The `error_uri`, when given.
    pub uri: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_codes_round_trip() {
        for c in [
            "invalid_grant",
            "slow_down",
            "redirect_uri_mismatch",
            "unsupported_token_type",
            "made_up",
        ] {
            assert_eq!(OAuthErrorCode::parse(c).as_str(), c);
        }
    }

    #[test]
    fn provider_names_mean_the_standard_codes() {
        let meaning = |c: &str| OAuthErrorCode::parse(c).meaning();
        assert_eq!(
            meaning("bad_verification_code"),
            OAuthErrorCode::InvalidGrant
        );
        assert_eq!(meaning("bad_refresh_token"), OAuthErrorCode::InvalidGrant);
        assert_eq!(
            meaning("incorrect_client_credentials"),
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(meaning("invalid_scope"), OAuthErrorCode::InvalidScope);
        assert_eq!(meaning("made_up"), OAuthErrorCode::Other("made_up".into()));
        // What the provider sent stays what is shown.
        assert_eq!(
            OAuthErrorCode::parse("bad_refresh_token").as_str(),
            "bad_refresh_token"
        );
    }
}
