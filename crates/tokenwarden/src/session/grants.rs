//! The grants seam: what the session needs from the token endpoint ([`Grants`]), and how hard
//! one refresh tries ([`Effort`]). The library's implementation is the warden's `ClientGrants`;
//! tests and the demo supply their own.

use crate::error::Result;
use crate::http::Exchanged;
use crate::secret::RefreshToken;
use crate::token::TokenSet;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the object-safe [`Grants`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How hard a refresh tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// The whole retry policy: every attempt, with its backoff and `Retry-After` waits. For a
    /// caller that has no usable token.
    Full,
    /// One attempt, bounded by the HTTP timeout: no retry, no backoff, no `Retry-After` wait.
    /// For a caller that still holds a valid token and refreshes ahead of time: on a transient
    /// failure it uses that token.
    Single,
}

/// What the session needs from the token endpoint. The retry policy and circuit breaker live
/// behind it: a returned error is final for this refresh. Each grant returns its result with
/// what its exchanges looked like ([`Exchanged`]): the evidence the session records, and whether
/// a lost answer may have rotated the refresh token. The requests run in the session's
/// operation (one correlation id, [`crate::correlation`]).
pub trait Grants: Send + Sync {
    /// Readies what a request needs without sending anything to the token endpoint: the client,
    /// its secret, the token endpoint (discovery). An error here proves that nothing was sent,
    /// so the stored tokens are not marked "a refresh may be in flight". The default has
    /// nothing to ready.
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, Result<()>> {
        let _ = effort;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Refreshes with `refresh_token` (RFC 6749 §6), trying as hard as `effort` says. The
    /// tokens are the provider's answer, without a refresh token when it does not rotate (the
    /// session keeps the one it has: [`TokenSet::renewing`]).
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>>;

    /// Obtains a new token with the client credentials grant (RFC 6749 §4.4), when the profile
    /// is a confidential client that uses it; `None` otherwise.
    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>>;
}
