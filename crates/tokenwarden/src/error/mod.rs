//! The error taxonomy: every failure has a kind (which decides retry and the CLI exit code), a
//! message saying what happened, a hint saying what to do, and the evidence a person needs to
//! follow it up: HTTP status, OAuth `error` and `error_description` (RFC 6749 §5.2), the
//! provider's request id, and tokenwarden's correlation id. A failed exchange also says whether
//! its request reached the server ([`Delivery`]).
//!
//! `Display` prints the message only; the cause, when there is one, is in `source()`, so a chain
//! printer shows each layer once. [`Error::report`] renders everything for a person.
//!
//! # Layout
//! - this file: [`ErrorKind`] and [`Error`] with its typed accessors.
//! - [`cause`]: [`Cause`], the known causes.
//! - [`oauth`]: [`OAuthErrorCode`] and [`OAuthError`].
//! - [`evidence`]: [`HttpEvidence`] and [`Delivery`], what was seen of an exchange.

pub mod cause;
pub mod evidence;
pub mod exit;
pub mod oauth;

pub use cause::Cause;
pub use evidence::{Delivery, HttpEvidence};
pub use oauth::{OAuthError, OAuthErrorCode};

use std::fmt;
use std::time::SystemTime;

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
    /// The process exit code the CLI uses for this kind ([`exit`] maps it).
    pub fn exit_code(self) -> exit::ExitCode {
        exit::ExitCode::from(self)
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

struct Inner {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    cause: Option<Cause>,
    oauth: Option<OAuthError>,
    http: Option<HttpEvidence>,
    delivery: Option<Delivery>,
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
            delivery: None,
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

    /// Says whether the failed request reached the server (set by the HTTP layer's classifier,
    /// and by the retrier for a request it held back).
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.0.delivery = Some(delivery);
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

    /// The OAuth error code the provider sent, as the standard code it stands for
    /// ([`OAuthErrorCode::meaning`]): what to match on.
    pub fn oauth_code(&self) -> Option<OAuthErrorCode> {
        self.oauth().map(|o| o.code.meaning())
    }

    /// Whether the failed request reached the server; `None` when the error did not come from
    /// an exchange (configuration, the store, anything raised before a request was made).
    pub fn delivery(&self) -> Option<Delivery> {
        self.0.delivery
    }

    /// Whether the server may have carried out the failed request although no usable answer
    /// came back (for a refresh: rotated the refresh token, and the new one was lost); the
    /// rule is [`Delivery::may_have_been_processed`]. False for an error that did not come from
    /// an exchange.
    pub fn may_have_been_processed(&self) -> bool {
        self.0.delivery.is_some_and(|d| {
            d.may_have_been_processed(self.status(), self.0.oauth.as_ref().map(|o| &o.code))
        })
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

    /// The structured form printed by `--json` ([`exit::ErrorDocument`]):
    /// `{"error":{"kind","message","hint","oauth_error","oauth_error_description","status",
    /// "request_id","correlation_id","retry_at","exit_code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(exit::ErrorDocument::new(self)).unwrap_or_default()
    }

    /// A multi-line report for a person: the message, the evidence, the cause chain and the fix.
    pub fn report(&self) -> String {
        self.report_with(Causes::Chain)
    }

    /// [`Error::report`] with the causes shown as `causes` says: the whole chain (one
    /// `caused by` line per layer, for `-v`), or only the innermost one, which names what
    /// actually failed (`failed to lookup address information: …`) without the HTTP stack's
    /// layers in between.
    pub fn report_with(&self, causes: Causes) -> String {
        use std::fmt::Write as _;
        let mut out = format!("error: {}", self.message());
        let mut source = std::error::Error::source(self);
        let mut innermost = None;
        while let Some(s) = source {
            match causes {
                Causes::Chain => {
                    let _ = write!(out, "\n  caused by: {s}");
                }
                Causes::Innermost => innermost = Some(s.to_string()),
            }
            source = s.source();
        }
        if let Some(s) = innermost {
            let _ = write!(out, "\n  cause: {s}");
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
            let _ = write!(out, "\n  next try: {}", crate::human::timestamp(t));
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

/// How many of an error's causes [`Error::report_with`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causes {
    /// Every layer, outermost first.
    Chain,
    /// Only the innermost, the one that names what failed.
    Innermost,
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
            .field("delivery", &self.0.delivery)
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
