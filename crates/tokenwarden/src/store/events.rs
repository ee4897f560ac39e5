//! The records of the token-operation log, as every store keeps them: [`Event`], its typed
//! [`Operation`] and [`Outcome`], and the log's bounded [`Retention`].
//!
//! The names ([`Operation::as_str`], [`Outcome::as_str`], and the OAuth error code's wire
//! form) are the stored form: stable, written once and never renamed, and a store refuses a
//! name it does not know (the SQLite schema lists them in a `CHECK`). A new operation or
//! outcome is therefore a new variant here *and* a schema migration. Statistics and recording
//! helpers are the [`crate::events`] module's; this is only what a record is. Nothing in a record is secret: no token values, no codes, only ids and
//! statuses.

use crate::error::{ErrorKind, OAuthErrorCode};
use std::cmp::Ordering;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Records older than this are deleted.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// At most this many records are kept (the newest).
pub const MAX_EVENTS: usize = 10_000;

/// Stores apply the retention bounds again after every this many records appended (besides
/// when they are opened), so a long-running process stays bounded.
pub const PRUNE_EVERY: u64 = 200;

/// How much of the log a store keeps. Applied when the store is opened
/// ([`crate::events::prune`]) and by the store itself every `prune_every` records appended, so
/// that a long-running process stays bounded too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records older than this (counted back from the time of the record just appended) are
    /// deleted.
    pub max_age: Duration,
    /// At most this many records are kept: the newest.
    pub max_events: usize,
    /// Prune after every this many records appended (counted by row id, across processes).
    pub prune_every: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: MAX_AGE,
            max_events: MAX_EVENTS,
            prune_every: PRUNE_EVERY,
        }
    }
}

impl Retention {
    /// The cut-off time for records when the newest is at `now`.
    pub fn before(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A token operation.
///
/// Ordered by name, as listings show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A `tokenwarden login` as a whole (browser wait included).
    Login,
    /// The authorization code exchange (RFC 6749 §4.1.3).
    CodeExchange,
    /// A refresh (RFC 6749 §6).
    Refresh,
    /// A client credentials grant (RFC 6749 §4.4).
    ClientCredentials,
    /// The device authorization request (RFC 8628 §3.1).
    DeviceAuthorization,
    /// The device grant's token request, when it ended (RFC 8628 §3.4).
    DevicePoll,
    /// A revocation (RFC 7009).
    Revocation,
    /// A resource server rejected a token; it was marked so the next use refreshes.
    Invalidate,
    /// A call to the protected resource (recorded when it answered 401).
    Resource,
    /// Waiting for another process's refresh lock.
    LockWait,
    /// A `tokenwarden logout`.
    Logout,
    /// A warning that the refresh token expires soon (a new login will be needed) was shown;
    /// the log is where "at most once a day" is decided ([`crate::horizon`]).
    ExpiryWarning,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 12] = [
        Operation::Login,
        Operation::CodeExchange,
        Operation::Refresh,
        Operation::ClientCredentials,
        Operation::DeviceAuthorization,
        Operation::DevicePoll,
        Operation::Revocation,
        Operation::Invalidate,
        Operation::Resource,
        Operation::LockWait,
        Operation::Logout,
        Operation::ExpiryWarning,
    ];

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::CodeExchange => "code_exchange",
            Operation::Refresh => "refresh",
            Operation::ClientCredentials => "client_credentials",
            Operation::DeviceAuthorization => "device_authorization",
            Operation::DevicePoll => "device_poll",
            Operation::Revocation => "revocation",
            Operation::Invalidate => "invalidate",
            Operation::Resource => "resource",
            Operation::LockWait => "lock_wait",
            Operation::Logout => "logout",
            Operation::ExpiryWarning => "expiry_warning",
        }
    }

    /// Parses a stored name; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// True for the operations that are one request to the authorization server (what the
    /// 5xx rate counts).
    pub fn is_token_request(self) -> bool {
        matches!(
            self,
            Operation::CodeExchange
                | Operation::Refresh
                | Operation::ClientCredentials
                | Operation::DeviceAuthorization
                | Operation::DevicePoll
                | Operation::Revocation
        )
    }

    /// True for the operations that obtain a new access token without a person (refresh,
    /// client credentials): their durations are the "refresh latency".
    pub fn renews_token(self) -> bool {
        matches!(self, Operation::Refresh | Operation::ClientCredentials)
    }

    /// True for the operations that leave new tokens in the store when they succeed: the
    /// renewals, a code exchange, a device grant, a login.
    pub fn obtains_tokens(self) -> bool {
        self.renews_token()
            || matches!(
                self,
                Operation::CodeExchange | Operation::DevicePoll | Operation::Login
            )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialOrd for Operation {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Operation {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl serde::Serialize for Operation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How an operation ended.
///
/// Ordered by name, as listings show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It worked.
    Ok,
    /// A refresh worked, but a login stored newer tokens meanwhile; those were kept.
    OkSuperseded,
    /// Nothing to do: the token named was already replaced.
    Stale,
    /// The resource server answered 401.
    Unauthorized,
    /// A wait ran out.
    Timeout,
    /// One attempt failed transiently and the request was sent again (the next record of the
    /// same correlation id says how it ended).
    Retried,
    /// It failed; the error's kind.
    Failed(ErrorKind),
}

/// The error kinds an outcome can name, for parsing.
const KINDS: [ErrorKind; 8] = [
    ErrorKind::Usage,
    ErrorKind::Config,
    ErrorKind::LoginRequired,
    ErrorKind::ProviderUnavailable,
    ErrorKind::SessionRejected,
    ErrorKind::Store,
    ErrorKind::Protocol,
    ErrorKind::Other,
];

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 14] = [
        Outcome::Ok,
        Outcome::OkSuperseded,
        Outcome::Stale,
        Outcome::Unauthorized,
        Outcome::Timeout,
        Outcome::Retried,
        Outcome::Failed(KINDS[0]),
        Outcome::Failed(KINDS[1]),
        Outcome::Failed(KINDS[2]),
        Outcome::Failed(KINDS[3]),
        Outcome::Failed(KINDS[4]),
        Outcome::Failed(KINDS[5]),
        Outcome::Failed(KINDS[6]),
        Outcome::Failed(KINDS[7]),
    ];

    /// The name as stored and shown (`ok`, `unauthorized`, or an error kind such as
    /// `provider_unavailable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OkSuperseded => "ok_superseded",
            Outcome::Stale => "stale",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Timeout => "timeout",
            Outcome::Retried => "retried",
            Outcome::Failed(kind) => kind.as_str(),
        }
    }

    /// Parses a stored name; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// True when the operation did what was asked.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::OkSuperseded | Outcome::Stale)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialOrd for Outcome {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Outcome {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One token operation (a refresh, a login, an invalidation, a lock wait…) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the operation ended.
    pub at: SystemTime,
    /// The profile it was for.
    pub profile: String,
    /// What was done.
    pub operation: Operation,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status, when there was an exchange.
    pub status: Option<u16>,
    /// The OAuth `error` code, when the provider sent one (stored in its wire form, so a code
    /// this build does not know comes back as [`OAuthErrorCode::Other`]).
    pub oauth_error: Option<OAuthErrorCode>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// tokenwarden's correlation id of the operation.
    pub correlation_id: Option<String>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// Which attempt this was (1 for the first).
    pub attempt: u32,
    /// For a failed exchange, whether its request reached the server, as the classifier
    /// decided it ([`crate::error::Error::delivery`]); `None` for a success, an operation
    /// without an exchange, and records written before the log kept it.
    pub delivery: Option<crate::error::Delivery>,
    /// The machine that recorded it, in a store shared by several machines (the fleet store
    /// fills it in when it appends the record); `None` in a machine's own store.
    pub host: Option<String>,
}

impl Event {
    /// A record of `operation` on `profile` ending with `outcome` at `at`, first attempt, with
    /// no evidence yet (fill the public fields).
    pub fn new(
        at: SystemTime,
        profile: impl Into<String>,
        operation: Operation,
        outcome: Outcome,
    ) -> Event {
        Event {
            at,
            profile: profile.into(),
            operation,
            outcome,
            status: None,
            oauth_error: None,
            request_id: None,
            correlation_id: None,
            duration: None,
            attempt: 1,
            delivery: None,
            host: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        let mut names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Outcome::ALL.len());
        assert_eq!(Outcome::parse("made_up"), None);
        assert_eq!(Operation::parse("made_up"), None);
    }

    #[test]
    fn ordered_and_padded_by_name() {
        assert!(Operation::CodeExchange < Operation::Login);
        assert!(Outcome::Failed(ErrorKind::LoginRequired) < Outcome::Ok);
        assert_eq!(format!("{:<8}|", Operation::Login), "login   |");
        assert_eq!(format!("{:<4}|", Outcome::Ok), "ok  |");
    }
}
