//! How an operation ends a `tokenwarden` command, for the programs that run it: the exit code
//! scripts branch on ([`ExitCode`], mapped to its number here and nowhere else) and the error
//! document a failed command prints with `--json` ([`ErrorDocument`]).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | protocol error (the provider answered something that is not valid OAuth) or other failure |
//! | 2 | usage or configuration error |
//! | 3 | login required |
//! | 4 | provider unavailable, after bounded retries |
//! | 5 | session rejected (the API rejects even a freshly refreshed token) |
//! | 6 | token store error |
//! | 130 | cancelled (Ctrl-C: 128 + SIGINT, as shells report it) |
//!
//! `exec` ends with the code of the command it ran ([`ExitCode::Command`]), or 128 + N when a
//! signal N ended that command ([`ExitCode::Signalled`]).

use super::{Error, ErrorKind};
use std::fmt;

/// How a command ends. [`ExitCode::code`] is the one place that gives each its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// 0: the command did what it was asked.
    Success,
    /// 1: a protocol error, or any other failure.
    Failure,
    /// 2: bad usage or configuration (including a client the provider does not accept).
    Usage,
    /// 3: a person must log in (again).
    LoginRequired,
    /// 4: the provider is unavailable and no valid token is left.
    ProviderUnavailable,
    /// 5: the API rejects even a freshly refreshed token.
    SessionRejected,
    /// 6: the local token store failed.
    Store,
    /// 130: cancelled by Ctrl-C before anything was stored.
    Cancelled,
    /// The exit code of the command `exec` ran, passed on as it is.
    Command(u8),
    /// The command `exec` ran was ended by signal N: 128 + N, as shells report it.
    Signalled(u8),
}

impl ExitCode {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::LoginRequired => 3,
            ExitCode::ProviderUnavailable => 4,
            ExitCode::SessionRejected => 5,
            ExitCode::Store => 6,
            ExitCode::Cancelled => 130,
            ExitCode::Command(code) => code,
            ExitCode::Signalled(signal) => 128u8.saturating_add(signal),
        }
    }

    /// Every exit code with a name (all but a command's own code and a signal's).
    pub const NAMED: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::LoginRequired,
        ExitCode::ProviderUnavailable,
        ExitCode::SessionRejected,
        ExitCode::Store,
        ExitCode::Cancelled,
    ];

    /// What the code tells a script, in a few words (for help texts and the README).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "a protocol error (not valid OAuth) or another failure",
            ExitCode::Usage => "usage or configuration error",
            ExitCode::LoginRequired => "a person must log in (again)",
            ExitCode::ProviderUnavailable => {
                "the provider is unavailable and no valid token is left (try later)"
            }
            ExitCode::SessionRejected => "the API rejects even a freshly refreshed token",
            ExitCode::Store => "the token store failed (corrupt, wrong key, permissions, lock)",
            ExitCode::Cancelled => "cancelled (Ctrl-C); nothing was stored",
            ExitCode::Command(_) => "the exit code of the command `exec` ran",
            ExitCode::Signalled(_) => "ended by a signal: 128 + its number",
        }
    }

    /// The named exit code with this number, if there is one; any other number is what a
    /// command run by `exec` returned ([`ExitCode::Command`]).
    pub fn from_code(code: u8) -> ExitCode {
        ExitCode::NAMED
            .into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(ExitCode::Command(code))
    }
}

impl From<ErrorKind> for ExitCode {
    /// The exit code of a failure of this kind (DESIGN.md's error taxonomy).
    fn from(kind: ErrorKind) -> ExitCode {
        match kind {
            ErrorKind::Usage | ErrorKind::Config => ExitCode::Usage,
            ErrorKind::LoginRequired => ExitCode::LoginRequired,
            ErrorKind::ProviderUnavailable => ExitCode::ProviderUnavailable,
            ErrorKind::SessionRejected => ExitCode::SessionRejected,
            ErrorKind::Store => ExitCode::Store,
            ErrorKind::Protocol | ErrorKind::Other => ExitCode::Failure,
        }
    }
}

/// Compares with the number a script sees (`$?`).
impl PartialEq<u8> for ExitCode {
    fn eq(&self, other: &u8) -> bool {
        self.code() == *other
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Written as its number.
impl serde::Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

/// Read from its number ([`ExitCode::from_code`]).
impl<'de> serde::Deserialize<'de> for ExitCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ExitCode, D::Error> {
        Ok(ExitCode::from_code(u8::deserialize(d)?))
    }
}

/// What a failed command prints with `--json` (one object, on stderr):
/// `{"error":{"kind","message","hint","oauth_error","oauth_error_description","status",
/// "request_id","correlation_id","retry_at","exit_code"}}`; every key is always there (`null`
/// when unknown).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDocument {
    /// The error.
    pub error: ErrorBody,
}

/// The fields of an [`ErrorDocument`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error kind (`login_required`, `provider_unavailable`, ...).
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// The OAuth `error` code the provider answered.
    pub oauth_error: Option<String>,
    /// The provider's `error_description`.
    pub oauth_error_description: Option<String>,
    /// The HTTP status of the answer.
    pub status: Option<u16>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// tokenwarden's correlation id of the operation.
    pub correlation_id: Option<String>,
    /// When trying again may help (RFC 3339), after a `Retry-After` or an open breaker.
    pub retry_at: Option<String>,
    /// The process exit code.
    pub exit_code: ExitCode,
}

impl ErrorDocument {
    /// The document of `err`, with the exit code of its kind.
    pub fn new(err: &Error) -> ErrorDocument {
        let oauth = err.oauth();
        ErrorDocument {
            error: ErrorBody {
                kind: err.kind(),
                message: err.message().to_string(),
                hint: err.hint().map(str::to_string),
                oauth_error: oauth.map(|o| o.code.as_str().to_string()),
                oauth_error_description: oauth.and_then(|o| o.description.clone()),
                status: err.status(),
                request_id: err.request_id().map(str::to_string),
                correlation_id: err.correlation_id().map(str::to_string),
                retry_at: err.retry_at().map(crate::human::timestamp),
                exit_code: ExitCode::from(err.kind()),
            },
        }
    }

    /// The error this document describes, as another process reported it (the agent's
    /// answer): kind, message, hint, OAuth error, status, request id, correlation id and retry
    /// time come back; the cause and the delivery of the exchange stay with that process.
    pub fn into_error(self) -> Error {
        let b = self.error;
        let mut e = Error::new(b.kind, b.message);
        if let Some(h) = b.hint {
            e = e.with_hint(h);
        }
        if let Some(code) = b.oauth_error {
            e = e.with_oauth(crate::error::OAuthError {
                code: crate::error::OAuthErrorCode::parse(&code),
                description: b.oauth_error_description,
                uri: None,
            });
        }
        if b.status.is_some() || b.request_id.is_some() {
            e = e.with_http(crate::error::HttpEvidence {
                status: b.status,
                request_id: b.request_id,
                ..Default::default()
            });
        }
        if let Some(c) = b.correlation_id {
            e = e.with_correlation_id(c);
        }
        if let Some(at) = b.retry_at.and_then(|t| humantime::parse_rfc3339(&t).ok()) {
            e = e.with_retry_at(at);
        }
        e
    }

    /// The same document with another exit code (a cancelled command is not a failure of
    /// its kind).
    pub fn with_exit_code(mut self, code: ExitCode) -> ErrorDocument {
        self.error.exit_code = code;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_reads_back_from_its_number() {
        for code in ExitCode::NAMED {
            assert_eq!(ExitCode::from_code(code.code()), code);
        }
        assert_eq!(ExitCode::Cancelled, 130);
        assert_eq!(ExitCode::from_code(42), ExitCode::Command(42));
        assert_eq!(ExitCode::Signalled(9).code(), 137);
        assert_eq!(ExitCode::Signalled(200).code(), 255);
    }

    #[test]
    fn the_error_document_decodes_and_names_its_exit_code() {
        let e = Error::new(ErrorKind::Store, "the store is locked")
            .with_hint("wait")
            .with_correlation_id("tw-1");
        let text = serde_json::to_string(&ErrorDocument::new(&e)).expect("serializes");
        let back: ErrorDocument = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back.error.kind, ErrorKind::Store);
        assert_eq!(back.error.exit_code, ExitCode::Store);
        assert_eq!(back.error.hint.as_deref(), Some("wait"));
        assert!(text.contains("\"exit_code\":6"), "{text}");
        assert!(text.contains("\"retry_at\":null"), "{text}");
        let cancelled = ErrorDocument::new(&e).with_exit_code(ExitCode::Cancelled);
        let text = serde_json::to_string(&cancelled).expect("serializes");
        assert!(text.contains("\"exit_code\":130"), "{text}");
    }
}
