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
//! - this file: [`Session`], its options, the fast path and the slow path's decisions.
//! - `token`: [`Token`], what a session hands out.
//! - `grants`: the seam to the token endpoint ([`Grants`], [`Effort`]).
//! - `cache`: the lock-free fast-path cache (per-thread copies behind a generation counter).
//! - `gate`: the locks (in-process mutex, then the store's refresh lock) and a wait that ran out.
//! - `refresh`: the refresh under both locks, and the compare-and-swap write of its answer.
//! - `failure`: what a failed refresh means (lost race, revocation, lost rotation, degraded).
//! - `min_ttl`: a `min_ttl` the provider cannot meet.
//! - `record`: the event log records of each operation.
//! - [`send`]: [`Session::send`], the resource call with one 401 retry, written once for every
//!   [`TokenSource`] ([`send_retrying`]).
//! - `source`: [`TokenSource`], a session or the agent, and the [`Rejection`] records.
//! - `revoking`: providers that revoke the previous access token on refresh (no caller gets a
//!   token whose refresh may have started; a bare 403 after a refresh is retried like a 401),
//!   and [`Session::refusal_hint`].
//!
//! # Crashes, and the one case that needs a new login
//! Every store write is atomic and complete when it returns (SQLite: one transaction per
//! write; token values also survive a power loss, `synchronous=FULL`), so a process killed at
//! any moment (`kill -9`) leaves either the old record or the new one, never half of one, and
//! the store releases its refresh lock at once (SQLite's file lock: the kernel, when the
//! process's files close). Right before sending a refresh (after everything that can fail
//! locally: the client, its secret, discovery) the session marks the stored version "a refresh
//! may be in flight" (the store's `refresh_failure_transient` flag; a power loss, unlike a
//! crash, may lose this mark); a successful write clears it, a failure keeps it only when
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
//! # A refreshed token set is never dropped
//! Once the provider has answered a refresh, the answer is the only copy of the new tokens
//! (with rotation, the old refresh token is already dead). When the store refuses the write
//! because another process holds it (a long write transaction, a backup tool), the write is
//! tried again, still under the refresh lock, for up to `store_write_wait`. If it still
//! cannot be written, the store keeps the new tokens aside ([`Store::keep_unwritten`]: the
//! SQLite store seals them into a 0600 recovery file) and the error says where; the next read
//! of the profile, in any process, stores them with compare-and-swap on the version they
//! replace before anything else, so the next run needs no new login.
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
mod gate;
mod grants;
mod min_ttl;
mod record;
mod refresh;
mod revoking;
pub mod send;
mod source;
mod token;

pub use grants::{BoxFuture, Effort, Grants};
pub use revoking::{REFRESH_AFTERMATH, REFRESH_DRAIN, STORE_RECHECK};
pub use send::{Rejected, SendFailed, Sent, send_retrying, send_with};
pub use source::{Rejection, TokenSource};
pub use token::Token;

use crate::clock::Clock;
use crate::error::{Cause, Error, Result};
use crate::events::{Operation, Outcome};
use crate::retry::RetryPolicy;
use crate::store::{Store, StoredTokens, TokenState};
use gate::Gate;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// How long a refresh's answer waits for the store when another process holds it (the
    /// store's lock, not the refresh lock) before it is kept aside for the next run instead
    /// (see "A refreshed token set is never dropped" in the module docs).
    pub store_write_wait: Duration,
    /// The provider revokes the previous access token when it refreshes (the profile key of
    /// that name): no caller is handed a token whose refresh may have started, and a bare 403
    /// right after a refresh is retried like a 401 (see the `revoking` module).
    pub refresh_revokes_previous_access_token: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            refresh_skew: crate::token::DEFAULT_REFRESH_SKEW,
            lock_wait: RetryPolicy::default().default_lock_wait(crate::config::DEFAULT_TIMEOUT),
            store_write_wait: crate::config::DEFAULT_STORE_WRITE_WAIT,
            refresh_revokes_previous_access_token: false,
        }
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
    /// The last version this session stored itself (a refresh it made).
    own_refresh: Mutex<Option<crate::store::Version>>,
    /// When the store last said the cached token may be handed out (see `revoking`).
    store_check: revoking::StoreCheck,
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
            own_refresh: Mutex::new(None),
            store_check: revoking::StoreCheck::new(),
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
        // A provider that revokes the previous token may be about to kill the cached one: see
        // `revoking` for when the slow path checks the store instead.
        if self.cache_may_serve()
            && let Some(token) = self.cached(min_ttl)
        {
            return Ok(token);
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
        // Read before writing: on the fast path nothing changed, and a read keeps the cache
        // line shared between the threads that call at once.
        self.seen_changes.load(std::sync::atomic::Ordering::Acquire) != now
            && self
                .seen_changes
                .swap(now, std::sync::atomic::Ordering::AcqRel)
                != now
    }

    /// The cached token for `min_ttl`, unless the store announced a change made elsewhere
    /// since this session last looked (then the cache is dropped).
    fn cached(&self, min_ttl: Duration) -> Option<Token> {
        // The coarse clock: this runs on every call, and its margins are seconds.
        let token = self.cache.fresh(self.clock.now_coarse(), min_ttl)?;
        if self.changed_elsewhere() {
            self.cache.clear();
            return None;
        }
        Some(token)
    }

    /// The token this session would hand out for `min_ttl` without reading the store, taking
    /// a lock or waiting (its fast path), when it has one: for a caller that must know whether
    /// asking would wait (the agent counts those waits).
    pub fn fresh_token(&self, min_ttl: Duration) -> Option<Token> {
        self.cached(min_ttl)
    }

    /// A token valid for at least `min_ttl` without refreshing, taking a lock or waiting: the
    /// cached one, else the stored one when it is still valid (inside the proactive window it
    /// comes with the degraded warning when the provider is failing). `None` when only a
    /// refresh can give one. For a caller whose refreshes are someone else's job (the agent
    /// serves clients this way while its keepalive refreshes ahead).
    pub fn usable_token(&self, min_ttl: Duration) -> Result<Option<Token>> {
        if let Some(token) = self.cached(min_ttl) {
            return Ok(Some(token));
        }
        let t = match self.store.read(&self.profile)? {
            Some(t) if t.state == TokenState::Valid => t,
            _ => return Ok(None),
        };
        let now = self.clock.now();
        let need = self.attainable(&t.tokens, min_ttl);
        if t.tokens.is_fresh(now, need, self.opts.refresh_skew) {
            self.cache.set(&t);
            return Ok(Some(
                self.note_unattainable(Token::from_stored(&t), min_ttl),
            ));
        }
        if t.tokens.is_valid_for(now, need) {
            let token = self.in_window_token(&t, now);
            return Ok(Some(self.note_unattainable(token, min_ttl)));
        }
        Ok(None)
    }

    /// Drops the cached token, so that the next call reads the store (for a caller that saw
    /// the stored tokens change, e.g. a login in another terminal).
    pub fn forget_cached(&self) {
        self.cache.clear();
    }

    /// The session's refresh options.
    pub fn options(&self) -> &SessionOptions {
        &self.opts
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

    async fn slow_path(&self, min_ttl: Duration) -> Result<Token> {
        let t = self.read()?;
        let now = self.clock.now();
        if matches!(t.state, TokenState::LoginRequired { .. }) {
            self.cache.clear();
            return Err(self.login_required_again(&t));
        }
        let need = self.attainable(&t.tokens, min_ttl);
        let usable = t.state == TokenState::Valid;
        let valid = usable && t.tokens.is_valid_for(now, need);
        // A provider that revokes the previous access token on refresh: a token whose refresh
        // may have started is not handed out; its refresh is waited for below.
        let dying = valid && self.revokes_previous() && self.refresh_may_have_started(&t);
        if valid && !dying && t.tokens.is_fresh(now, need, self.opts.refresh_skew) {
            self.note_store_checked();
            self.cache.set(&t);
            return Ok(Token::from_stored(&t));
        }
        if valid && !dying {
            // Inside the proactive window: refresh only if nobody else is and the provider is
            // not known to be down; one attempt; never wait (unless the provider revokes the
            // token someone else is refreshing).
            if let Some(token) = self.degraded_until_retry(&t, now) {
                return Ok(token);
            }
            match self.try_gate()? {
                None if !self.revokes_previous() => return Ok(self.in_window_token(&t, now)),
                None => {}
                Some(held) => {
                    let result = self.refresh_locked(&t, min_ttl, Effort::Single).await;
                    drop(held);
                    return result;
                }
            }
        }
        let held = match self.wait_gate().await? {
            Gate::Held(held) => held,
            Gate::TimedOut { waited, in_process } => {
                return self.lock_wait_ran_out(waited, in_process, min_ttl);
            }
        };
        // A caller whose token still serves it tries once; one with nothing usable, fully.
        let effort = if valid { Effort::Single } else { Effort::Full };
        let result = self.refresh_locked(&t, min_ttl, effort).await;
        drop(held);
        result
    }

    /// Marks exactly `token` (by version) rejected by a resource server, so that the next
    /// `get_token` refreshes. A token that was already replaced is left alone.
    pub fn invalidate(&self, token: &Token) -> Result<()> {
        self.invalidate_version(token.version())
    }

    /// Marks exactly the token of `version` rejected ([`Session::invalidate`], for a caller
    /// that has only the version: the agent, told by a client).
    pub fn invalidate_version(&self, version: crate::store::Version) -> Result<()> {
        // The cache refuses this version first: a slow path that read it from the store while
        // it was still valid cannot put it back for the next callers.
        self.cache.reject(version);
        let marked = self.store.mark_rejected(&self.profile, version)?;
        let outcome = if marked { Outcome::Ok } else { Outcome::Stale };
        self.event(Operation::Invalidate, outcome, None, None);
        Ok(())
    }
}
