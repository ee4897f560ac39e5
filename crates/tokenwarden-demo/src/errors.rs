//! What the workers make of the library's errors: a short label for the wire, and whether an
//! error means the session is lost. Both strategies' workers read errors through here.

use tokenwarden::error::{Cause, OAuthErrorCode};
use tokenwarden::{Error, ErrorKind};

/// A short label for an error: the OAuth error or HTTP status, else the cause, else the kind.
pub fn label(e: &Error) -> String {
    let code = e.oauth().map(|o| o.code.as_str().to_string());
    let what = match (code, e.status()) {
        (Some(c), Some(s)) => format!("{s} {c}"),
        (Some(c), None) => c,
        (None, Some(s)) if e.cause() == Some(Cause::ProxyAnswered) => format!("{s} html page"),
        (None, Some(s)) => format!("{s}"),
        (None, None) => match e.cause() {
            Some(Cause::CircuitOpen) => "circuit open".into(),
            Some(Cause::RateLimited) => "waiting for Retry-After".into(),
            Some(Cause::Timeout) => "timeout".into(),
            Some(Cause::Connect) => "connect".into(),
            _ => e.kind().as_str().into(),
        },
    };
    format!("{}: {what}", e.kind().as_str())
}

/// True when `e` means the session is gone and only a new login helps.
pub fn is_login_required(e: &Error) -> bool {
    e.kind() == ErrorKind::LoginRequired
}

/// True when `e` carries the OAuth error `invalid_grant`.
pub fn is_invalid_grant(e: &Error) -> bool {
    matches!(
        e.oauth().map(|o| &o.code),
        Some(OAuthErrorCode::InvalidGrant)
    )
}
