//! The error taxonomy: every failure has a kind (which decides retry and the CLI exit code), a
//! message saying what happened, a hint saying what to do, and the evidence a person needs to
//! follow it up: HTTP status, OAuth `error` and `error_description` (RFC 6749 §5.2), the
//! provider's request id, and tokenwarden's correlation id.
//!
//! `Display` prints the message only; the cause, when there is one, is in `source()`, so a chain
//! printer shows each layer once. [`Error::report`] renders everything for a person.

use std::fmt;
use std::time::{Duration, SystemTime};

/// The class of a failure, as in DESIGN.md's error taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad command-line input.
    Usage,
    /// Invalid configuration, or a client the provider does not accept (`invalid_client`,
    /// `invalid_scope`, `unauthorized_client`, `unsupported_grant_type`, redirect mismatch).
    Config,
    /// No usable tokens: log in again (`invalid_grant` on refresh after a re-read,
    /// `access_denied`, an expired device code).
    LoginRequired,
    /// The provider is failing transiently (5xx, 429, `temporarily_unavailable`, network
    /// failures) and retries were exhausted.
    ProviderUnavailable,
    /// The resource server rejects a freshly refreshed token.
    SessionRejected,
    /// The local token store failed: corrupt, wrong key, bad permissions, lock wait exceeded.
    Store,
    /// The provider answered something that is not valid OAuth: non-JSON or HTML body, missing
    /// fields, state mismatch, PKCE failure.
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The process exit code the CLI uses for this kind ([`crate::exit`] maps it).
    pub fn exit_code(self) -> crate::exit::ExitCode {
        crate::exit::ExitCode::from(self)
    }

    /// Whether a failure of this kind may succeed if the same request is tried again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::ProviderUnavailable)
    }

    /// The kind's name as written in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Config => "config",
            ErrorKind::LoginRequired => "login_required",
            ErrorKind::ProviderUnavailable => "provider_unavailable",
            ErrorKind::SessionRejected => "session_rejected",
            ErrorKind::Store => "store",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
            other => Self::Other(other.to_string()),
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

/// What was seen of one HTTP exchange, kept with the error it caused. Holds no secret: the body
/// snippet is redacted before it is stored here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpEvidence {
    /// The request method and URL (without query secrets), e.g. `POST https://x/token`.
    pub request: Option<String>,
    /// The response status, when a response came.
    pub status: Option<u16>,
    /// `X-Request-Id`, `Request-Id` or `CF-Ray`, whichever the provider sent.
    pub request_id: Option<String>,
    /// `Retry-After`, resolved to a duration from receipt.
    pub retry_after: Option<Duration>,
    /// The `Date` header, parsed.
    pub date: Option<SystemTime>,
    /// `WWW-Authenticate`.
    pub www_authenticate: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The first bytes of the body, with secrets redacted.
    pub body_snippet: Option<String>,
    /// How long the exchange took.
    pub elapsed: Option<Duration>,
}

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
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

struct Inner {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    cause: Option<Cause>,
    oauth: Option<OAuthError>,
    http: Option<HttpEvidence>,
    correlation_id: Option<String>,
    retry_at: Option<SystemTime>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// A tokenwarden error. Cheap to move (one pointer); see the module docs.
pub struct Error(Box<Inner>);

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` saying `message` (what happened, in words a person understands).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            hint: None,
            cause: None,
            oauth: None,
            http: None,
            correlation_id: None,
            retry_at: None,
            source: None,
        }))
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// A store error.
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Store, message)
    }

    /// A protocol error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// A login-required error.
    pub fn login_required(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LoginRequired, message)
    }

    /// Adds the one-line fix.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Names the known cause.
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.0.cause = Some(cause);
        self
    }

    /// Attaches the OAuth error body.
    pub fn with_oauth(mut self, oauth: OAuthError) -> Self {
        self.0.oauth = Some(oauth);
        self
    }

    /// Attaches what was seen of the HTTP exchange.
    pub fn with_http(mut self, http: HttpEvidence) -> Self {
        self.0.http = Some(http);
        self
    }

    /// Attaches the correlation id of the operation (kept if one is already set).
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        if self.0.correlation_id.is_none() {
            self.0.correlation_id = Some(id.into());
        }
        self
    }

    /// When a retry may succeed (circuit breaker open-until, `Retry-After`).
    pub fn with_retry_at(mut self, at: SystemTime) -> Self {
        self.0.retry_at = Some(at);
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Changes the kind (e.g. LoginRequired decided after a store re-read).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = kind;
        self
    }

    /// Replaces the message, keeping the evidence.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// What happened.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// The known cause.
    pub fn cause(&self) -> Option<Cause> {
        self.0.cause
    }

    /// The OAuth error body, when the provider sent one.
    pub fn oauth(&self) -> Option<&OAuthError> {
        self.0.oauth.as_ref()
    }

    /// The HTTP evidence, when there was an exchange.
    pub fn http(&self) -> Option<&HttpEvidence> {
        self.0.http.as_ref()
    }

    /// The HTTP status, when a response came.
    pub fn status(&self) -> Option<u16> {
        self.0.http.as_ref().and_then(|h| h.status)
    }

    /// The provider's request id, when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.0.http.as_ref().and_then(|h| h.request_id.as_deref())
    }

    /// The correlation id of the operation.
    pub fn correlation_id(&self) -> Option<&str> {
        self.0.correlation_id.as_deref()
    }

    /// When a retry may succeed.
    pub fn retry_at(&self) -> Option<SystemTime> {
        self.0.retry_at
    }

    /// Whether retrying may help.
    pub fn is_retryable(&self) -> bool {
        self.0.kind.is_retryable()
    }

    /// The structured form printed by `--json` ([`crate::exit::ErrorDocument`]):
    /// `{"error":{"kind","message","hint","oauth_error","oauth_error_description","status",
    /// "request_id","correlation_id","retry_at","exit_code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(crate::exit::ErrorDocument::new(self)).unwrap_or_default()
    }

    /// A multi-line report for a person: the message, the evidence, the cause chain and the fix.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("error: {}", self.message());
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let _ = write!(out, "\n  caused by: {s}");
            source = s.source();
        }
        if let Some(o) = self.oauth() {
            let _ = write!(out, "\n  oauth error: {}", o.code);
            if let Some(d) = &o.description {
                let _ = write!(out, " ({d})");
            }
        }
        if let Some(h) = self.http() {
            if let Some(r) = &h.request {
                let _ = write!(out, "\n  request: {r}");
            }
            if let Some(s) = h.status {
                let _ = write!(out, "\n  http status: {s}");
            }
            if let Some(id) = &h.request_id {
                let _ = write!(out, "\n  provider request id: {id}");
            }
            if let Some(b) = &h.body_snippet
                && self.oauth().is_none()
                && !b.is_empty()
            {
                let _ = write!(out, "\n  response body: {b}");
            }
        }
        if let Some(t) = self.retry_at() {
            let _ = write!(
                out,
                "\n  next try: {}",
                humantime::format_rfc3339_seconds(t)
            );
        }
        if let Some(c) = self.correlation_id() {
            let _ = write!(out, "\n  correlation id: {c}");
        }
        if let Some(h) = self.hint() {
            let _ = write!(out, "\n  hint: {h}");
        }
        out
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("hint", &self.0.hint)
            .field("cause", &self.0.cause)
            .field("oauth", &self.0.oauth)
            .field("http", &self.0.http)
            .field("correlation_id", &self.0.correlation_id)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(ErrorKind::Usage.exit_code(), 2);
        assert_eq!(ErrorKind::Config.exit_code(), 2);
        assert_eq!(ErrorKind::LoginRequired.exit_code(), 3);
        assert_eq!(ErrorKind::ProviderUnavailable.exit_code(), 4);
        assert_eq!(ErrorKind::SessionRejected.exit_code(), 5);
        assert_eq!(ErrorKind::Store.exit_code(), 6);
        assert_eq!(ErrorKind::Protocol.exit_code(), 1);
        assert!(ErrorKind::ProviderUnavailable.is_retryable());
        assert!(!ErrorKind::LoginRequired.is_retryable());
    }

    #[test]
    fn oauth_codes_round_trip() {
        for c in ["invalid_grant", "slow_down", "made_up"] {
            assert_eq!(OAuthErrorCode::parse(c).as_str(), c);
        }
    }

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
            | Cause::NotLoggedIn => 21,
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

    #[test]
    fn json_form_has_every_key() {
        let e = Error::login_required("the refresh token was revoked")
            .with_hint("run `tokenwarden login`")
            .with_oauth(OAuthError {
                code: OAuthErrorCode::InvalidGrant,
                description: Some("revoked".into()),
                uri: None,
            })
            .with_http(HttpEvidence {
                status: Some(400),
                request_id: Some("req-1".into()),
                ..Default::default()
            })
            .with_correlation_id("tw-1");
        let j = e.to_json();
        let o = &j["error"];
        assert_eq!(o["kind"], "login_required");
        assert_eq!(o["oauth_error"], "invalid_grant");
        assert_eq!(o["status"], 400);
        assert_eq!(o["request_id"], "req-1");
        assert_eq!(o["correlation_id"], "tw-1");
        assert!(e.report().contains("hint: run `tokenwarden login`"));
    }
}
