//! [`TokenSource`]: where a caller gets its tokens, whoever refreshes them: a [`Session`] in
//! this process, or the agent (`crate::agent`) over its socket. What sends a request with the
//! token and handles a 401 (`send`, the proxy) is written once against this seam.

use super::{BoxFuture, Session, Token};
use crate::error::Result;
use crate::events::{Operation, Outcome};
use crate::store::Event;
use std::time::Duration;

/// A resource server's 401, as the event log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status (401).
    pub status: u16,
    /// The resource server's request id, when it sent one.
    pub request_id: Option<String>,
    /// 1 for the first 401 of a request, 2 (or 3) for the 401 of its retry.
    pub attempt: u32,
    /// True when this is the second 401 in a row: the session is rejected by the server
    /// (recorded as [`Outcome::Failed`] with [`crate::ErrorKind::SessionRejected`]).
    pub session_rejected: bool,
}

impl Rejection {
    /// The event-log record of this rejection for `profile` at `at`, with the current
    /// operation's correlation id.
    pub fn event(&self, at: std::time::SystemTime, profile: &str) -> Event {
        let outcome = if self.session_rejected {
            Outcome::Failed(crate::ErrorKind::SessionRejected)
        } else {
            Outcome::Unauthorized
        };
        let mut e = Event::new(at, profile, Operation::Resource, outcome);
        e.status = Some(self.status);
        e.request_id = self.request_id.clone();
        e.correlation_id = crate::correlation::current();
        e.attempt = self.attempt;
        e
    }
}

/// Hands out tokens for one profile and hears what the resource server said of them.
pub trait TokenSource: Send + Sync {
    /// The profile served.
    fn profile(&self) -> &str;

    /// A token valid for at least `min_ttl` ([`Session::get_token`]).
    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<Token>>;

    /// Marks exactly `token` rejected by a resource server ([`Session::invalidate`]).
    fn invalidate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<()>>;

    /// Records a resource server's 401 in the event log. Never fails the caller.
    fn rejected<'a>(&'a self, rejection: &'a Rejection) -> BoxFuture<'a, ()>;

    /// Whether the profile's provider revokes the previous access token when it refreshes
    /// (`refresh_revokes_previous_access_token`): then a bare 403 may refuse the token itself.
    fn revokes_previous(&self) -> bool {
        false
    }

    /// Whether the token of `version` has been refreshed since (another token is stored now, or
    /// a refresh is under way): what makes a bare 403 of such a provider a 401.
    fn refreshed_since(&self, _version: crate::store::Version) -> Result<bool> {
        Ok(false)
    }

    /// The hint for an API's refusal of this profile's token ([`Session::refusal_hint`]).
    fn refusal_hint(
        &self,
        _status: u16,
        _www_authenticate: Option<&str>,
        _body: &[u8],
    ) -> Option<String> {
        None
    }
}

impl TokenSource for Session {
    fn profile(&self) -> &str {
        Session::profile(self)
    }

    fn token(&self, min_ttl: Duration) -> BoxFuture<'_, Result<Token>> {
        Box::pin(self.get_token(min_ttl))
    }

    fn invalidate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(Session::invalidate(self, token)))
    }

    fn rejected<'a>(&'a self, rejection: &'a Rejection) -> BoxFuture<'a, ()> {
        self.record(&rejection.event(self.clock.now(), &self.profile));
        Box::pin(std::future::ready(()))
    }

    fn revokes_previous(&self) -> bool {
        Session::revokes_previous(self)
    }

    fn refreshed_since(&self, version: crate::store::Version) -> Result<bool> {
        Session::refreshed_since(self, version)
    }

    fn refusal_hint(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        body: &[u8],
    ) -> Option<String> {
        Session::refusal_hint(self, status, www_authenticate, body)
    }
}
