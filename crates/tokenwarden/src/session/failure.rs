//! What a failed refresh means, and what the caller gets:
//!
//! - `invalid_grant` (or any LoginRequired answer): first re-read the store, since another
//!   writer may have stored a newer token (then that token is the answer); otherwise mark the
//!   stored tokens LoginRequired (kept, never deleted) and say whether the provider revoked the
//!   session or a rotation was probably lost (an earlier attempt's answer never arrived). The
//!   mark stores that cause as data (and the in-flight flag stays set on a lost rotation), so
//!   that later calls, `status` and `doctor` report the same cause without reading the words.
//! - a transient failure while the current token has not hard-expired: degraded mode, the
//!   current token with a warning; until the time the error names (an open circuit breaker, a
//!   `Retry-After`) this session does not try again.
//! - anything else: the error, recorded on the stored tokens for `status`.
//!
//! Whether the server may have rotated the refresh token is read from the refresh's exchanges
//! ([`Exchange::maybe_processed`], each attempt's [`crate::error::Delivery`] as the HTTP layer
//! decided it), never re-derived here: the in-flight flag stays set once a refresh may have been
//! processed without its answer arriving (or with an answer refused as malformed: a success
//! status means the provider processed it), and an error raised before anything was sent
//! (configuration, a missing client secret, an open breaker) leaves the flag as it was before
//! this attempt.

use super::{Session, Token};
use crate::error::{Cause, Delivery, Error, ErrorKind, OAuthErrorCode, Result};
use crate::events::Operation;
use crate::http::Exchange;
use crate::store::{LastError, StoredTokens, TokenState, Version};
use std::time::{Duration, SystemTime};

/// The provider is failing for this version of the tokens: the warning, and when to try again.
#[derive(Debug, Clone)]
pub(super) struct Degraded {
    version: Version,
    until: Option<SystemTime>,
    detail: String,
}

/// How a failed grant went: which operation, what its token-endpoint exchanges looked like,
/// how long it took, and whether the grants were readied (when not, nothing was marked in
/// flight).
pub(super) struct Failed {
    pub(super) operation: Operation,
    pub(super) exchange: Exchange,
    pub(super) elapsed: Duration,
    pub(super) prepared: bool,
}

impl Failed {
    /// Whether this refresh, which failed with `err`, may have been processed by the provider
    /// with its answer lost or unusable: the provider may have rotated the refresh token. A
    /// success status whose token response was refused (a CR/LF in the token, a negative
    /// `expires_in`...) was processed: the refresh token presented may be spent.
    fn maybe_rotated(&self, err: &Error) -> bool {
        let unusable_answer = err.kind() == ErrorKind::Protocol
            && err.cause() == Some(Cause::MalformedResponse)
            && err.status().is_some_and(|s| (200..300).contains(&s));
        self.operation == Operation::Refresh && (self.exchange.maybe_processed || unusable_answer)
    }
}

impl Session {
    /// What the caller gets when refreshing `t2` failed with `err`.
    pub(super) fn refresh_failed(
        &self,
        t2: &StoredTokens,
        err: Error,
        failed: &Failed,
    ) -> Result<Token> {
        let operation = failed.operation;
        if err.kind() == ErrorKind::LoginRequired
            || err.oauth_code() == Some(OAuthErrorCode::InvalidGrant)
        {
            self.event_err(operation, &err, &failed.exchange, failed.elapsed);
            return self.refused(t2, err, failed);
        }
        let transient = err.kind() == ErrorKind::ProviderUnavailable;
        // Once a refresh may have been processed with its answer lost, the stored refresh token
        // may have been replaced: the flag stays until a refresh succeeds.
        let maybe_rotated = t2.refresh_failure_transient || failed.maybe_rotated(&err);
        // The retrier held the request back (an open breaker, a running Retry-After: no answer
        // came), and no earlier attempt of this refresh may have been processed.
        let held_back = matches!(err.cause(), Some(Cause::CircuitOpen | Cause::RateLimited))
            && err.delivery() != Some(Delivery::Answered)
            && !failed.exchange.maybe_processed;
        let written = if held_back {
            // An open breaker or a running Retry-After sent nothing and says nothing new: only
            // the in-flight mark this attempt set is taken back.
            let marked =
                failed.prepared && operation == Operation::Refresh && !t2.refresh_failure_transient;
            if marked {
                self.store
                    .mark_in_flight(&self.profile, t2.version, false)
                    .map(|_| ())
            } else {
                Ok(())
            }
        } else {
            self.event_err(operation, &err, &failed.exchange, failed.elapsed);
            self.store
                .record_refresh_failure(
                    &self.profile,
                    t2.version,
                    &LastError::of(&err),
                    maybe_rotated,
                )
                .map(|_| ())
        };
        if let Err(e) = written {
            tracing::warn!(profile = %self.profile, error = %e, "cannot record the refresh failure");
        }
        let now = self.clock.now();
        if transient && t2.state == TokenState::Valid && !t2.tokens.is_expired(now) {
            let detail = err.message().to_string();
            if let Ok(mut d) = self.degraded.lock() {
                *d = Some(Degraded {
                    version: t2.version,
                    until: err.retry_at(),
                    detail: detail.clone(),
                });
            }
            let token = self.with_warning(t2, &detail, now);
            if let Some(w) = token.degraded() {
                // Shown by the caller (Token::degraded); logged for those who look at logs.
                tracing::info!(profile = %self.profile, "{w}");
            }
            return Ok(token);
        }
        if transient {
            let what = if t2.state == TokenState::Rejected {
                "the current token was rejected by the API"
            } else {
                "the current token has expired"
            };
            let msg = format!("{}; {what}", err.message());
            return Err(err.with_message(msg));
        }
        Err(err)
    }

    /// The refresh token was refused: a newer token stored by someone else, or LoginRequired.
    /// A possibly lost rotation when an earlier refresh of these tokens may have been processed
    /// (the stored in-flight flag: a failed attempt, or a process stopped mid-refresh) or an
    /// earlier attempt of this one was.
    fn refused(&self, t2: &StoredTokens, err: Error, failed: &Failed) -> Result<Token> {
        // Someone else may have stored newer tokens (a login in another terminal, a writer that
        // does not take the lock): those are the answer.
        match self.read() {
            Ok(t3) if t3.version != t2.version && t3.state == TokenState::Valid => {
                self.cache.set(&t3);
                return Ok(Token::from_stored(&t3));
            }
            _ => {}
        }
        let lost_rotation = t2.refresh_failure_transient || failed.maybe_rotated(&err);
        let obtained = t2
            .tokens
            .refresh_token_obtained_at
            .map(crate::human::timestamp)
            .unwrap_or_else(|| "at an unknown time".into());
        let (message, cause) = if lost_rotation {
            (
                format!(
                    "the provider refused the refresh token of profile `{}` (obtained {obtained}) after an earlier refresh's answer was lost (a 5xx, a timeout, or a process killed mid-refresh): the provider probably rotated the refresh token and the new one never arrived",
                    self.profile
                ),
                Cause::PossiblyLostRotation,
            )
        } else {
            (
                format!(
                    "the provider revoked the session of profile `{}`: it refused the refresh token (obtained {obtained}), and no other process had stored a newer one",
                    self.profile
                ),
                Cause::RefreshTokenRevoked,
            )
        };
        let reason = match err.oauth() {
            Some(o) => match &o.description {
                Some(d) => format!("{}: {d}", o.code),
                None => o.code.to_string(),
            },
            None => err.message().to_string(),
        };
        // The cause is stored with the mark, so that later calls (and `status`, `doctor`)
        // report the same one. A lost rotation also keeps the in-flight flag.
        if let Err(e) = self.store.mark_state(
            &self.profile,
            t2.version,
            TokenState::LoginRequired {
                reason,
                cause: Some(cause),
            },
            Some(&LastError::new(message.clone(), Some(cause))),
            lost_rotation,
        ) {
            tracing::warn!(profile = %self.profile, error = %e, "cannot mark the profile login-required");
        }
        self.cache.clear();
        Err(err
            .with_kind(ErrorKind::LoginRequired)
            .with_message(message)
            .with_cause(cause)
            .with_hint(self.relogin_hint(cause)))
    }

    /// What to do about tokens marked LoginRequired for `cause`.
    fn relogin_hint(&self, cause: Cause) -> String {
        match cause {
            Cause::PossiblyLostRotation => format!(
                "{}; a provider-side reuse grace period (accepting the previous refresh token for a few seconds) avoids this",
                self.login_hint()
            ),
            _ => self.login_hint(),
        }
    }

    /// The error for tokens already marked LoginRequired: the message recorded when it
    /// happened, with the cause stored with the mark and the same hint as then. A mark made
    /// before the store kept causes has none: then the in-flight flag, which a possibly lost
    /// rotation keeps, tells that cause from a revocation.
    pub(super) fn login_required_again(&self, t: &StoredTokens) -> Error {
        let reason = t.state.reason().unwrap_or_default();
        let cause = t.state.cause().unwrap_or(if t.refresh_failure_transient {
            Cause::PossiblyLostRotation
        } else {
            Cause::RefreshTokenRevoked
        });
        let what = t
            .last_error
            .as_ref()
            .map(LastError::headline)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| cause.describe());
        let said = if reason.is_empty() || what.contains(reason) {
            String::new()
        } else {
            format!(" (the provider said: {reason})")
        };
        Error::login_required(format!(
            "profile `{}` needs a new login: {what}{said}",
            self.profile
        ))
        .with_cause(cause)
        .with_hint(self.relogin_hint(cause))
    }

    /// The current token with a warning, when the provider failed for this version and said
    /// when to try again, and that time has not come.
    pub(super) fn degraded_until_retry(&self, t: &StoredTokens, now: SystemTime) -> Option<Token> {
        let d = self.degraded.lock().ok()?;
        let d = d.as_ref()?;
        (d.version == t.version && d.until.is_some_and(|u| u > now))
            .then(|| self.with_warning(t, &d.detail, now))
    }

    /// The token of a caller inside the proactive window while someone else refreshes: with a
    /// warning when the last attempt for this version failed.
    pub(super) fn in_window_token(&self, t: &StoredTokens, now: SystemTime) -> Token {
        let known = self
            .degraded
            .lock()
            .ok()
            .and_then(|d| d.as_ref().filter(|d| d.version == t.version).cloned())
            .map(|d| d.detail);
        let stored = || {
            t.last_error
                .as_ref()
                .filter(|_| t.refresh_failure_transient)
                .map(LastError::headline)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
        };
        match known.or_else(stored) {
            Some(detail) => self.with_warning(t, &detail, now),
            None => Token::from_stored(t),
        }
    }

    /// The store cannot be reached (`err`, of cause [`Cause::StoreUnreachable`]): the token
    /// this machine last saw, with a warning, while it has not hard-expired; else `err`.
    pub(super) fn store_unreachable(&self, err: Error) -> Result<Token> {
        let now = self.clock.now();
        match self.store.last_known(&self.profile) {
            Some(t) if t.state == TokenState::Valid && !t.tokens.is_expired(now) => {
                let left = t
                    .tokens
                    .remaining(now)
                    .map(|d| format!("{} s left", d.as_secs()))
                    .unwrap_or_else(|| "no expiry".into());
                let warning = format!(
                    "{}; using the token of profile `{}` this machine last saw, still valid ({left})",
                    err.message(),
                    self.profile
                );
                tracing::info!(profile = %self.profile, "{warning}");
                Ok(self.warned(&t, warning))
            }
            _ => Err(err),
        }
    }

    fn with_warning(&self, t: &StoredTokens, detail: &str, now: SystemTime) -> Token {
        let left = t
            .tokens
            .remaining(now)
            .map(|d| format!("{} s left", d.as_secs()))
            .unwrap_or_else(|| "no expiry".into());
        let warning = format!(
            "the provider is failing ({detail}); using the current token of profile `{}`, still valid ({left})",
            self.profile
        );
        self.warned(t, warning)
    }

    /// The token of `t`, handed out in degraded mode with `warning`, which [`Session::warning`]
    /// repeats until a refresh succeeds.
    pub(super) fn warned(&self, t: &StoredTokens, warning: String) -> Token {
        if let Ok(mut w) = self.last_warning.lock() {
            *w = Some(warning.clone());
        }
        Token::from_stored(t).with_degraded(Some(warning))
    }
}
