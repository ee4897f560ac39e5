//! The refresh coordinator: hands out a valid access token to any number of tasks, threads and
//! processes, refreshing exactly once per expiry, surviving refresh-token rotation races, early
//! revocation and provider outages (DESIGN.md, "The central algorithm").
//!
//! ```text
//! get_token(min_ttl):
//!   cached copy fresh for min_ttl + window and not rejected   -> return it   (no lock, no I/O)
//!   t = store.read()                                          (another process may have refreshed)
//!   t fresh                                                   -> return t
//!   t still valid (inside the proactive window only)          -> refresh only if both locks are free
//!                                                                at once, one attempt, else return t
//!   else: in-process mutex, then the store's cross-process lock (bounded wait: lock_wait)
//!     wait ran out                         t not hard-expired -> return it with a warning
//!                                          else               -> Store error naming the lock
//!     t2 = store.read()                    t2 newer and usable -> return t2 (someone refreshed)
//!     refresh(t2.refresh_token)            under the retry policy and circuit breaker
//!       ok            -> write_if_version(t2.version) durably, THEN return it
//!       invalid_grant -> t3 = store.read(); newer -> return t3; else mark LoginRequired (kept,
//!                        never deleted) and say why, with the evidence
//!       transient     -> t2 not hard-expired and not rejected -> return it, degraded (warn)
//!                        else ProviderUnavailable
//! ```
//!
//! The proactive window is min(`refresh_skew`, half the token's lifetime). `invalidate` marks
//! exactly one version rejected; [`Session::send`] retries a 401 once with a fresh token and
//! reports a second 401 as SessionRejected instead of looping.
//!
//! # How hard a refresh tries
//! A caller whose token still works (inside the proactive window) that finds both locks free
//! refreshes with [`Effort::Single`]: one attempt, bounded by the HTTP timeout, no backoff and no
//! `Retry-After` wait; if it fails transiently the caller uses its token. Only a caller with no
//! usable token runs the whole retry policy ([`Effort::Full`]). A waiter's `lock_wait` defaults
//! to the longest refresh the policy allows ([`RetryPolicy::default_lock_wait`]), so it does not
//! give up on a holder that is merely slow; if it does run out, a token that has not
//! hard-expired is handed out with a warning, and only a caller with nothing usable gets the
//! Store error.
//!
//! # A `min_ttl` the provider cannot meet
//! When the provider grants tokens too short for `min_ttl` (a brand-new token would already be
//! inside `min_ttl` + window), refreshing cannot help: the token is handed out with
//! [`Token::warning`] saying what the provider grants, and refreshed once half its life has
//! passed, never on every call.
//!
//! # Layout
//! - this file: [`Session`], the fast path, the gates (locks) and the refresh itself.
//! - `cache`: the lock-free fast-path cache (per-thread copies behind a generation counter).
//! - `failure`: what a failed refresh means (lost race, revocation, lost rotation, degraded).
//! - `send`: [`Session::send`], the resource call with one 401 retry.
//!
//! # Crashes, and the one case that needs a new login
//! Every store write is durable and atomic when it returns (SQLite: `synchronous=FULL`, one
//! transaction per write), so a process killed at any moment (`kill -9`) leaves either the old
//! record or the new one, never half of one, and the store releases its refresh lock at once
//! (SQLite's file lock: the kernel, when the process's files close). Right before sending a
//! refresh (after everything that can fail locally: the client, its secret, discovery) the
//! session marks the stored version "a refresh may be in flight" (the store's
//! `refresh_failure_transient` flag); a successful write clears it, a failure keeps it only when
//! the refresh may have been processed with its answer lost (the exchange's evidence, from the
//! [`Delivery`](crate::error::Delivery) of each attempt) or an earlier one may have been.
//!
//! With refresh-token rotation one window cannot be closed by any client: the process is
//! killed (or the answer is lost: 5xx after processing, timeout, a proxy's error page) *after*
//! the server rotated the refresh token and *before* the new one was stored. The store then
//! holds a refresh token the server has already replaced. With reuse detection and no grace
//! period (RFC 9700 §4.14.2) the next refresh presents it, gets `invalid_grant` and the server
//! revokes the session: a new login is needed. Because the flag is still set, that
//! `invalid_grant` is reported as a possibly lost rotation ([`Cause::PossiblyLostRotation`]),
//! not as a revocation, then and on every later call until a new login. A provider-side *reuse
//! grace period* closes the window: within it the server answers the previous refresh token
//! with the same successor instead of revoking, so the next process's refresh simply succeeds
//! (tested with mockauth's `reuse_grace`).
//!
//! # Degraded mode
//! A store on another machine (the fleet store) that cannot be reached is met like a provider
//! outage: the token this machine last saw ([`Store::last_known`]) is handed out with
//! [`Token::degraded`] while it has not hard-expired; only with nothing valid is the Store
//! error (naming the database's host and port) returned. Such a store also announces changes
//! made on other machines ([`Store::changes`]): the fast path drops its cached token when one
//! arrives, so a token another machine replaced is not served until it expires.
//!
//! A transient failure (5xx, 429, network, open circuit breaker) while the current token has
//! not hard-expired hands that token out with [`Token::degraded`] set, whatever `min_ttl` asked;
//! ProviderUnavailable comes only when nothing valid is left. Attempts are bounded per
//! credential by the retry policy and the circuit breaker, whose state the store shares between
//! processes; while the breaker is open this session does not try again before the time it
//! names.

mod cache;
mod failure;
mod send;

use crate::clock::Clock;
use crate::error::{Cause, Error, Result};
use crate::events::{Operation, Outcome};
use crate::http::{Exchange, Exchanged};
use crate::retry::RetryPolicy;
use crate::secret::{AccessToken, RefreshToken};
use crate::store::{CasOutcome, Event, RefreshGuard, Store, StoredTokens, TokenState, Version};
use crate::token::TokenSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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

/// Tunables of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The proactive refresh window (capped at half a token's lifetime).
    pub refresh_skew: Duration,
    /// How long a caller whose token cannot serve it waits for another process's refresh. It
    /// should cover the longest refresh a holder may run ([`RetryPolicy::default_lock_wait`];
    /// the default is that of the default retry policy and timeout). When it runs out, a token that has not
    /// hard-expired is handed out with a warning; with nothing usable, a Store error.
    pub lock_wait: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            refresh_skew: crate::token::DEFAULT_REFRESH_SKEW,
            lock_wait: RetryPolicy::default().default_lock_wait(crate::config::DEFAULT_TIMEOUT),
        }
    }
}

/// An access token handed out by a session.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: AccessToken,
    /// Normally `Bearer`.
    pub token_type: String,
    /// When it expires, if known.
    pub expires_at: Option<SystemTime>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The stored version it came from (what [`Session::invalidate`] names).
    pub version: Version,
    /// Set when this still-valid token is handed out instead of a fresh one because the
    /// provider is failing (or another process's refresh outlasted the lock wait): the warning
    /// to show.
    pub degraded: Option<String>,
    /// Set when the token is fine but cannot be what was asked: the provider grants tokens
    /// shorter than the `min_ttl` asked for. The warning to show.
    pub warning: Option<String>,
    /// How long the provider granted it for, when known.
    lifetime: Option<Duration>,
}

impl Token {
    fn from_stored(s: &StoredTokens) -> Token {
        Token {
            access_token: s.tokens.access_token.clone(),
            token_type: s.tokens.token_type.clone(),
            expires_at: s.tokens.expires_at,
            scopes: s.tokens.scopes.clone(),
            version: s.version,
            degraded: None,
            warning: None,
            lifetime: s.tokens.lifetime(),
        }
    }

    /// The `Authorization` header value, e.g. `Bearer abc`. Secret: never log it.
    pub fn authorization(&self) -> String {
        let scheme = if self.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            self.token_type.as_str()
        };
        format!("{scheme} {}", self.access_token.expose())
    }
}

/// Keeps one profile's token valid. Cheap to share (`Arc<Session>`); all methods take `&self`.
pub struct Session {
    profile: String,
    store: Arc<dyn Store>,
    grants: Arc<dyn Grants>,
    clock: Arc<dyn Clock>,
    opts: SessionOptions,
    cache: cache::Cache,
    flight: tokio::sync::Mutex<()>,
    degraded: Mutex<Option<failure::Degraded>>,
    last_warning: Mutex<Option<String>>,
    tracer: Option<Arc<dyn crate::http::Tracer>>,
    changes: std::sync::OnceLock<Option<crate::store::ChangeFeed>>,
    seen_changes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("profile", &self.profile)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Both locks, held by the one caller that refreshes; released on drop.
struct Held<'a> {
    _flight: tokio::sync::MutexGuard<'a, ()>,
    _lock: Box<dyn RefreshGuard>,
}

/// How waiting for the locks ended.
enum Gate<'a> {
    /// Both held.
    Held(Held<'a>),
    /// `lock_wait` ran out; `in_process` when another task of this process held the mutex.
    TimedOut { waited: Duration, in_process: bool },
}

impl Session {
    /// A session for `profile` over `store`, refreshing through `grants`.
    pub fn new(
        profile: impl Into<String>,
        store: Arc<dyn Store>,
        grants: Arc<dyn Grants>,
        clock: Arc<dyn Clock>,
        opts: SessionOptions,
    ) -> Session {
        Session {
            profile: profile.into(),
            store,
            grants,
            clock,
            cache: cache::Cache::new(opts.refresh_skew),
            opts,
            flight: tokio::sync::Mutex::new(()),
            degraded: Mutex::new(None),
            last_warning: Mutex::new(None),
            tracer: None,
            changes: std::sync::OnceLock::new(),
            seen_changes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Passes the resource requests of [`Session::send`] to `tracer` (`--trace-http`).
    pub fn with_tracer(mut self, tracer: Arc<dyn crate::http::Tracer>) -> Session {
        self.tracer = Some(tracer);
        self
    }

    /// The profile this session serves.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The warning of the last degraded token this session handed out (see
    /// [`Token::degraded`]), until a refresh succeeds: for callers that do not see the token,
    /// like those of [`Session::send`].
    pub fn warning(&self) -> Option<String> {
        self.last_warning.lock().ok().and_then(|w| w.clone())
    }

    /// A token valid for at least `min_ttl`, refreshing when needed (once, whoever asks). When
    /// the provider grants tokens too short for `min_ttl`, the token comes with
    /// [`Token::warning`] instead of a refresh on every call.
    pub async fn get_token(&self, min_ttl: Duration) -> Result<Token> {
        if let Some(token) = self.cache.fresh(self.clock.now(), min_ttl) {
            if !self.changed_elsewhere() {
                return Ok(token);
            }
            self.cache.clear();
        }
        // One operation: its log lines, event records and error share one correlation id.
        let token = match crate::correlation::operation(|_| self.slow_path(min_ttl)).await {
            Err(e) if e.cause() == Some(Cause::StoreUnreachable) => self.store_unreachable(e)?,
            other => other?,
        };
        Ok(self.note_unattainable(token, min_ttl))
    }

    /// True when the store announced a change made elsewhere (another machine refreshed,
    /// logged in, or rejected a token) since this session last looked: its cached token may
    /// have been replaced. A store shared between machines starts its feed on the first
    /// call (so a one-shot command, which never gets here, never starts it).
    fn changed_elsewhere(&self) -> bool {
        let Some(feed) = self.changes.get_or_init(|| self.store.changes()) else {
            return false;
        };
        let now = feed.generation();
        self.seen_changes
            .swap(now, std::sync::atomic::Ordering::AcqRel)
            != now
    }

    fn read(&self) -> Result<StoredTokens> {
        match self.store.read(&self.profile)? {
            Some(s) => Ok(s),
            None => {
                self.cache.clear();
                Err(Error::login_required(format!(
                    "no tokens are stored for profile `{}`",
                    self.profile
                ))
                .with_cause(Cause::NotLoggedIn)
                .with_hint(self.login_hint()))
            }
        }
    }

    fn login_hint(&self) -> String {
        format!("run `tokenwarden --profile {} login`", self.profile)
    }

    /// The `min_ttl` tokens like `tokens` can meet. When even a brand-new one would be inside
    /// `min_ttl` + window (the provider grants less), refreshing cannot help: such a token is
    /// treated as due once half its life has passed (the usual window for short tokens).
    fn attainable(&self, tokens: &crate::token::TokenSet, min_ttl: Duration) -> Duration {
        match tokens.lifetime() {
            Some(lifetime) if unattainable(lifetime, self.opts.refresh_skew, min_ttl) => {
                (lifetime / 2).saturating_sub(tokens.proactive_window(self.opts.refresh_skew))
            }
            _ => min_ttl,
        }
    }

    /// `token` with [`Token::warning`] set when its provider grants tokens too short for
    /// `min_ttl`.
    fn note_unattainable(&self, mut token: Token, min_ttl: Duration) -> Token {
        let Some(lifetime) = token.lifetime else {
            return token;
        };
        if !unattainable(lifetime, self.opts.refresh_skew, min_ttl) {
            return token;
        }
        let window = self.opts.refresh_skew.min(lifetime / 2);
        let left = token
            .expires_at
            .and_then(|e| e.duration_since(self.clock.now()).ok())
            .unwrap_or_default();
        token.warning = Some(format!(
            "a token valid for at least {} was asked for, but the provider grants tokens of profile `{}` for only {}, too short for that plus the {} refresh window; using this one ({} left), refreshed once half its life has passed",
            secs(min_ttl),
            self.profile,
            secs(lifetime),
            secs(window),
            secs(left),
        ));
        token
    }

    async fn slow_path(&self, min_ttl: Duration) -> Result<Token> {
        let t = self.read()?;
        let now = self.clock.now();
        if matches!(t.state, TokenState::LoginRequired { .. }) {
            self.cache.clear();
            return Err(self.login_required_again(&t));
        }
        let need = self.attainable(&t.tokens, min_ttl);
        let usable = t.state == TokenState::Valid;
        if usable && t.tokens.is_fresh(now, need, self.opts.refresh_skew) {
            self.cache.set(&t);
            return Ok(Token::from_stored(&t));
        }
        if usable && t.tokens.is_valid_for(now, need) {
            // Inside the proactive window: refresh only if nobody else is and the provider is
            // not known to be down; one attempt; never wait.
            if let Some(token) = self.degraded_until_retry(&t, now) {
                return Ok(token);
            }
            return match self.try_gate()? {
                None => Ok(self.in_window_token(&t, now)),
                Some(held) => {
                    let result = self.refresh_locked(&t, min_ttl, Effort::Single).await;
                    drop(held);
                    result
                }
            };
        }
        let held = match self.wait_gate().await? {
            Gate::Held(held) => held,
            Gate::TimedOut { waited, in_process } => {
                return self.lock_wait_ran_out(waited, in_process, min_ttl);
            }
        };
        let result = self.refresh_locked(&t, min_ttl, Effort::Full).await;
        drop(held);
        result
    }

    /// Both locks if both are free now; `None` when someone else is refreshing.
    fn try_gate(&self) -> Result<Option<Held<'_>>> {
        let Ok(flight) = self.flight.try_lock() else {
            return Ok(None);
        };
        Ok(self
            .store
            .try_lock_profile(&self.profile)?
            .map(|lock| Held {
                _flight: flight,
                _lock: lock,
            }))
    }

    /// Both locks, waiting at most `lock_wait` in all. The store's lock is polled (every 2 to
    /// 50 ms), so a holder killed with `kill -9` is noticed within 50 ms.
    async fn wait_gate(&self) -> Result<Gate<'_>> {
        let started = Instant::now();
        let wait = self.opts.lock_wait;
        let Ok(flight) = tokio::time::timeout(wait, self.flight.lock()).await else {
            let waited = started.elapsed();
            self.event(Operation::LockWait, Outcome::Timeout, None, Some(waited));
            return Ok(Gate::TimedOut {
                waited,
                in_process: true,
            });
        };
        let mut pause = Duration::from_millis(2);
        let mut announced = false;
        loop {
            if let Some(lock) = self.store.try_lock_profile(&self.profile)? {
                let waited = started.elapsed();
                if waited > Duration::from_millis(100) {
                    self.event(Operation::LockWait, Outcome::Ok, None, Some(waited));
                }
                return Ok(Gate::Held(Held {
                    _flight: flight,
                    _lock: lock,
                }));
            }
            if !announced {
                announced = true;
                tracing::info!(
                    profile = %self.profile,
                    "waiting for the refresh lock of profile `{}`: another process is refreshing (at most {:.1} s)",
                    self.profile,
                    wait.as_secs_f64()
                );
            }
            let waited = started.elapsed();
            if waited >= wait {
                self.event(Operation::LockWait, Outcome::Timeout, None, Some(waited));
                return Ok(Gate::TimedOut {
                    waited,
                    in_process: false,
                });
            }
            tokio::time::sleep(pause.min(wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The wait for the refresh lock ran out while another refresh goes on. What is stored now
    /// is the answer when it serves (the holder may just have finished); a token that has not
    /// hard-expired is handed out with a warning; with nothing usable, a Store error.
    fn lock_wait_ran_out(
        &self,
        waited: Duration,
        in_process: bool,
        min_ttl: Duration,
    ) -> Result<Token> {
        let t = self.read()?;
        let now = self.clock.now();
        if matches!(t.state, TokenState::LoginRequired { .. }) {
            return Err(self.login_required_again(&t));
        }
        let valid = t.state == TokenState::Valid;
        if valid
            && t.tokens
                .is_valid_for(now, self.attainable(&t.tokens, min_ttl))
        {
            self.cache.set(&t);
            return Ok(Token::from_stored(&t));
        }
        if valid && !t.tokens.is_expired(now) {
            let left = t
                .tokens
                .remaining(now)
                .map(|d| format!("{} s left", d.as_secs()))
                .unwrap_or_else(|| "no expiry".into());
            let holder = if in_process {
                "another task of this process"
            } else {
                "another process"
            };
            let warning = format!(
                "waited {:.1} s for the refresh lock of profile `{}`, held by {holder} that is still refreshing (the provider may be slow); using the current token, still valid ({left})",
                waited.as_secs_f64(),
                self.profile
            );
            return Ok(self.warned(&t, warning));
        }
        let what = match t.state {
            TokenState::Rejected => "the current token was rejected by the API",
            _ => "the current token has expired",
        };
        let err = if in_process {
            Error::store(format!(
                "waited {:.1} s for the refresh lock of profile `{}`, held by another task of this process that is still refreshing",
                waited.as_secs_f64(),
                self.profile
            ))
            .with_hint("a refresh is taking longer than `lock_wait` (the provider may be very slow); try again, raise `lock_wait` in the profile, and check `tokenwarden doctor`")
        } else {
            self.store.lock_wait_exceeded(&self.profile, waited)
        };
        let msg = format!(
            "{}; {what}, so there is none to use meanwhile",
            err.message()
        );
        Err(err.with_message(msg))
    }

    async fn refresh_locked(
        &self,
        seen: &StoredTokens,
        min_ttl: Duration,
        effort: Effort,
    ) -> Result<Token> {
        // Re-read under the lock: another process may have refreshed, or logged in.
        let t2 = self.read()?;
        let now = self.clock.now();
        let need = self.attainable(&t2.tokens, min_ttl);
        let usable = t2.state == TokenState::Valid;
        let newer = t2.version != seen.version;
        if usable
            && ((newer && t2.tokens.is_valid_for(now, need))
                || t2.tokens.is_fresh(now, need, self.opts.refresh_skew))
        {
            self.cache.set(&t2);
            return Ok(Token::from_stored(&t2));
        }
        if matches!(t2.state, TokenState::LoginRequired { .. }) {
            return Err(self.login_required_again(&t2));
        }
        // One attempt only while the token still serves the caller.
        let effort = if usable && t2.tokens.is_valid_for(now, need) {
            effort
        } else {
            Effort::Full
        };
        let refresh_token = t2.tokens.refresh_token.as_ref();
        let (operation, client_credentials) = match refresh_token {
            Some(_) => (Operation::Refresh, None),
            None => match self.grants.client_credentials(effort) {
                Some(grant) => (Operation::ClientCredentials, Some(grant)),
                None => return Err(self.no_refresh_token(&t2)),
            },
        };
        let started = Instant::now();
        if let Err(err) = self.grants.prepare(effort).await {
            // Nothing was sent: no in-flight mark, nothing the server can have rotated.
            let failed = failure::Failed {
                operation,
                exchange: Exchange::default(),
                elapsed: started.elapsed(),
                prepared: false,
            };
            return self.refresh_failed(&t2, err, &failed);
        }
        let done = match (refresh_token, client_credentials) {
            (Some(rt), _) => {
                self.mark_in_flight(&t2);
                self.grants.refresh(rt, effort).await
            }
            (None, Some(grant)) => grant.await,
            (None, None) => return Err(self.no_refresh_token(&t2)),
        };
        let elapsed = started.elapsed();
        match done.result {
            Ok(fresh) => self.store_fresh(&t2, fresh, operation, &done.exchange, elapsed),
            Err(err) => {
                let failed = failure::Failed {
                    operation,
                    exchange: done.exchange,
                    elapsed,
                    prepared: true,
                };
                self.refresh_failed(&t2, err, &failed)
            }
        }
    }

    /// Marks `t2` "a refresh may be in flight", so that a crash before the answer is stored
    /// makes a later `invalid_grant` read as a possibly lost rotation (see the module docs).
    /// Only the flag is written: a rejection recorded meanwhile stays.
    fn mark_in_flight(&self, t2: &StoredTokens) {
        if t2.refresh_failure_transient {
            return;
        }
        if let Err(e) = self.store.mark_in_flight(&self.profile, t2.version, true) {
            tracing::warn!(profile = %self.profile, error = %e, "cannot mark the refresh in flight");
        }
    }

    fn no_refresh_token(&self, t2: &StoredTokens) -> Error {
        let what = if t2.state == TokenState::Rejected {
            "was rejected"
        } else {
            "expired"
        };
        Error::login_required(format!(
            "the access token of profile `{}` {what} and there is no refresh token to renew it",
            self.profile
        ))
        .with_cause(Cause::NotLoggedIn)
        .with_hint(format!(
            "{}; a confidential client that logs in with --client-credentials renews by itself when its profile says grant = \"client_credentials\"",
            self.login_hint()
        ))
    }

    /// Stores a refreshed token set with compare-and-swap on the version it replaces, durably,
    /// and only then hands it out. What the answer leaves out (an unrotated refresh token) is
    /// kept from `t2` ([`TokenSet::renewing`]).
    fn store_fresh(
        &self,
        t2: &StoredTokens,
        fresh: TokenSet,
        operation: Operation,
        exchange: &Exchange,
        elapsed: Duration,
    ) -> Result<Token> {
        let fresh = fresh.renewing(&t2.tokens);
        match self
            .store
            .write_if_version(&self.profile, t2.version, &fresh)?
        {
            CasOutcome::Written(version) => {
                self.event(operation, Outcome::Ok, Some(exchange), Some(elapsed));
                if let Ok(mut w) = self.last_warning.lock() {
                    *w = None;
                }
                let now = self.clock.now();
                let stored = StoredTokens {
                    profile: self.profile.clone(),
                    tokens: fresh,
                    version,
                    state: TokenState::Valid,
                    last_error: None,
                    last_refresh_at: Some(now),
                    refresh_failure_transient: false,
                    updated_at: now,
                };
                self.cache.set(&stored);
                Ok(Token::from_stored(&stored))
            }
            CasOutcome::Conflict(current) => {
                // A writer that does not take the lock (a login in another terminal, a logout)
                // got there first: what it stored wins.
                self.event(
                    operation,
                    Outcome::OkSuperseded,
                    Some(exchange),
                    Some(elapsed),
                );
                match current {
                    Some(cur) if cur.state == TokenState::Valid => {
                        self.cache.set(&cur);
                        Ok(Token::from_stored(&cur))
                    }
                    Some(cur) => match &cur.state {
                        TokenState::LoginRequired { .. } => Err(self.login_required_again(&cur)),
                        _ => Err(Error::login_required(format!(
                            "the token of profile `{}` was replaced during the refresh and the replacement was rejected by the server",
                            self.profile
                        ))
                        .with_hint(self.login_hint())),
                    },
                    None => {
                        self.cache.clear();
                        Err(Error::login_required(format!(
                            "profile `{}` was logged out while its token was being refreshed",
                            self.profile
                        ))
                        .with_cause(Cause::NotLoggedIn)
                        .with_hint(self.login_hint()))
                    }
                }
            }
        }
    }

    /// Marks exactly `token` (by version) rejected by a resource server, so that the next
    /// `get_token` refreshes. A token that was already replaced is left alone.
    pub fn invalidate(&self, token: &Token) -> Result<()> {
        // The cache refuses this version first: a slow path that read it from the store while
        // it was still valid cannot put it back for the next callers.
        self.cache.reject(token.version);
        let marked = self.store.mark_rejected(&self.profile, token.version)?;
        let outcome = if marked { Outcome::Ok } else { Outcome::Stale };
        self.event(Operation::Invalidate, outcome, None, None);
        Ok(())
    }

    /// Records how `operation` ended; a grant's record names its token-endpoint `exchange`.
    fn event(
        &self,
        operation: Operation,
        outcome: Outcome,
        exchange: Option<&Exchange>,
        duration: Option<Duration>,
    ) {
        let mut e = Event::new(self.clock.now(), &self.profile, operation, outcome);
        e.duration = duration;
        self.record(&with_evidence(e, exchange));
    }

    /// Records that `operation` failed with `err` after the token-endpoint `exchange`. A grant
    /// that sent nothing to the token endpoint (it failed before: discovery, the client secret,
    /// an open breaker) is recorded as [`Delivery::NotSent`], whatever an earlier request
    /// (discovery's) got.
    ///
    /// [`Delivery::NotSent`]: crate::error::Delivery::NotSent
    fn event_err(
        &self,
        operation: Operation,
        err: &Error,
        exchange: &Exchange,
        duration: Duration,
    ) {
        let mut e = crate::events::error_event(
            self.clock.now(),
            &self.profile,
            operation,
            err,
            Some(duration),
        );
        if exchange.attempts == 0 {
            e.delivery = Some(crate::error::Delivery::NotSent);
        }
        self.record(&with_evidence(e, Some(exchange)));
    }

    /// Appends to the event log; a failure to do so never fails the operation.
    fn record(&self, e: &Event) {
        if let Err(err) = self.store.append_event(e) {
            tracing::warn!(error = %err, "could not record a token operation in the event log");
        }
    }
}

/// `e` with the operation's correlation id and, for a grant, the status, request id and attempt
/// count of its token-endpoint `exchange`.
fn with_evidence(mut e: Event, exchange: Option<&Exchange>) -> Event {
    if e.correlation_id.is_none() {
        e.correlation_id = crate::correlation::current();
    }
    if let Some(x) = exchange {
        e.status = e.status.or(x.status);
        e.request_id = e.request_id.or_else(|| x.request_id.clone());
        e.attempt = x.attempts.max(1);
    }
    e
}

/// True when tokens living `lifetime` cannot serve `min_ttl`: even a brand-new one would be
/// inside `min_ttl` plus the proactive window.
fn unattainable(lifetime: Duration, refresh_skew: Duration, min_ttl: Duration) -> bool {
    !lifetime.is_zero() && min_ttl.saturating_add(refresh_skew.min(lifetime / 2)) >= lifetime
}

/// `d` in whole seconds, as people read durations (`1h 30s`).
fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
