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
//!                                                                at once, else return t
//!   else: in-process mutex, then the cross-process file lock (bounded wait)
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

use crate::clock::Clock;
use crate::error::{Cause, Error, ErrorKind, OAuthErrorCode, Result};
use crate::secret::{AccessToken, RefreshToken};
use crate::store::{CasOutcome, Event, Store, StoredTokens, TokenState, Version};
use crate::token::TokenSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// A boxed future, for the object-safe [`Grants`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the session needs from the token endpoint. The retry policy and circuit breaker live
/// behind it: a returned error is final for this refresh.
pub trait Grants: Send + Sync {
    /// Refreshes with `refresh_token` (RFC 6749 §6).
    fn refresh<'a>(&'a self, refresh_token: &'a RefreshToken) -> BoxFuture<'a, Result<TokenSet>>;

    /// Obtains a new token with the client credentials grant (RFC 6749 §4.4), when the profile
    /// is a confidential client that uses it; `None` otherwise.
    fn client_credentials(&self) -> Option<BoxFuture<'_, Result<TokenSet>>>;
}

/// Tunables of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The proactive refresh window (capped at half a token's lifetime).
    pub refresh_skew: Duration,
    /// How long a caller whose token is unusable waits for another process's refresh.
    pub lock_wait: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            refresh_skew: crate::token::DEFAULT_REFRESH_SKEW,
            lock_wait: Duration::from_secs(60),
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
    /// Set when the provider is failing and this still-valid token is handed out instead of a
    /// fresh one: the warning to show.
    pub degraded: Option<String>,
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
    cache: RwLock<Option<Arc<StoredTokens>>>,
    flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("profile", &self.profile)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

enum Gate<'a> {
    /// Both locks held: this caller refreshes.
    Held(
        #[allow(dead_code)] tokio::sync::MutexGuard<'a, ()>,
        #[allow(dead_code)] crate::store::ProfileLock,
    ),
    /// Someone else is refreshing.
    Busy,
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
            opts,
            cache: RwLock::new(None),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// The profile this session serves.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// A token valid for at least `min_ttl`, refreshing when needed (once, whoever asks).
    pub async fn get_token(&self, min_ttl: Duration) -> Result<Token> {
        let now = self.clock.now();
        if let Some(cached) = self.cached()
            && cached.state == TokenState::Valid
            && cached.tokens.is_fresh(now, min_ttl, self.opts.refresh_skew)
        {
            return Ok(Token::from_stored(&cached));
        }
        self.slow_path(min_ttl).await
    }

    fn cached(&self) -> Option<Arc<StoredTokens>> {
        self.cache.read().map(|c| c.clone()).unwrap_or(None)
    }

    fn remember(&self, stored: &StoredTokens) {
        if let Ok(mut c) = self.cache.write() {
            *c = Some(Arc::new(stored.clone()));
        }
    }

    fn forget(&self) {
        if let Ok(mut c) = self.cache.write() {
            *c = None;
        }
    }

    fn read(&self) -> Result<StoredTokens> {
        match self.store.read(&self.profile)? {
            Some(s) => Ok(s),
            None => {
                self.forget();
                Err(Error::login_required(format!(
                    "no tokens are stored for profile `{}`",
                    self.profile
                ))
                .with_cause(Cause::NotLoggedIn)
                .with_hint(format!(
                    "run `tokenwarden --profile {} login`",
                    self.profile
                )))
            }
        }
    }

    async fn slow_path(&self, min_ttl: Duration) -> Result<Token> {
        let t = self.read()?;
        let now = self.clock.now();
        if let TokenState::LoginRequired { reason } = &t.state {
            self.remember(&t);
            return Err(self.login_required_again(&t, reason));
        }
        let usable = t.state == TokenState::Valid;
        if usable && t.tokens.is_fresh(now, min_ttl, self.opts.refresh_skew) {
            self.remember(&t);
            return Ok(Token::from_stored(&t));
        }
        let still_valid = usable && t.tokens.is_valid_for(now, min_ttl);
        let gate = if still_valid {
            // Inside the proactive window: refresh only if nobody else is; never wait.
            self.try_gate()?
        } else {
            self.wait_gate().await?
        };
        match gate {
            Gate::Busy => {
                self.remember(&t);
                Ok(Token::from_stored(&t))
            }
            Gate::Held(_flight, _lock) => self.refresh_locked(&t, min_ttl).await,
        }
    }

    fn try_gate(&self) -> Result<Gate<'_>> {
        let Ok(flight) = self.flight.try_lock() else {
            return Ok(Gate::Busy);
        };
        match self.store.try_lock(&self.profile)? {
            Some(lock) => Ok(Gate::Held(flight, lock)),
            None => Ok(Gate::Busy),
        }
    }

    async fn wait_gate(&self) -> Result<Gate<'_>> {
        let started = Instant::now();
        let flight = match tokio::time::timeout(self.opts.lock_wait, self.flight.lock()).await {
            Ok(g) => g,
            Err(_) => return Err(self.lock_timeout(started.elapsed())),
        };
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(lock) = self.store.try_lock(&self.profile)? {
                let waited = started.elapsed();
                if waited > Duration::from_millis(100) {
                    self.event("lock_wait", "ok", None, Some(waited));
                }
                return Ok(Gate::Held(flight, lock));
            }
            let waited = started.elapsed();
            if waited >= self.opts.lock_wait {
                self.event("lock_wait", "timeout", None, Some(waited));
                return Err(self.lock_timeout(waited));
            }
            tokio::time::sleep(pause.min(self.opts.lock_wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn lock_timeout(&self, waited: Duration) -> Error {
        Error::store(format!(
            "waited {:.1} s for the refresh lock of profile `{}`, held by another process",
            waited.as_secs_f64(),
            self.profile
        ))
        .with_hint("another tokenwarden process is refreshing and has not finished; check for a hung process (`ps`), or raise the wait with `lock_wait` in the profile")
    }

    async fn refresh_locked(&self, seen: &StoredTokens, min_ttl: Duration) -> Result<Token> {
        // Re-read under the lock: another process may have refreshed, or logged in.
        let t2 = self.read()?;
        let now = self.clock.now();
        if t2.version != seen.version {
            if t2.state == TokenState::Valid && t2.tokens.is_valid_for(now, min_ttl) {
                self.remember(&t2);
                return Ok(Token::from_stored(&t2));
            }
            if let TokenState::LoginRequired { reason } = &t2.state {
                return Err(self.login_required_again(&t2, reason));
            }
        } else if t2.state == TokenState::Valid
            && t2.tokens.is_fresh(now, min_ttl, self.opts.refresh_skew)
        {
            self.remember(&t2);
            return Ok(Token::from_stored(&t2));
        }
        if let TokenState::LoginRequired { reason } = &t2.state {
            return Err(self.login_required_again(&t2, reason));
        }

        let started = Instant::now();
        let (operation, result) =
            match (&t2.tokens.refresh_token, self.grants.client_credentials()) {
                (Some(rt), _) => ("refresh", self.grants.refresh(rt).await),
                (None, Some(cc)) => ("client_credentials", cc.await),
                (None, None) => {
                    let e = Error::login_required(format!(
                    "the access token of profile `{}` {} and the provider gave no refresh token",
                    self.profile,
                    if t2.state == TokenState::Rejected { "was rejected" } else { "expired" }
                ))
                .with_cause(Cause::NotLoggedIn)
                .with_hint(format!("run `tokenwarden --profile {} login`", self.profile));
                    return Err(e);
                }
            };
        let elapsed = started.elapsed();
        match result {
            Ok(mut fresh) => {
                if fresh.refresh_token.is_none() {
                    // RFC 6749 §6: the server may keep the refresh token; keep ours.
                    fresh.refresh_token = t2.tokens.refresh_token.clone();
                    fresh.refresh_token_obtained_at = t2.tokens.refresh_token_obtained_at;
                }
                if fresh.id_token.is_none() {
                    fresh.subject = fresh.subject.or_else(|| t2.tokens.subject.clone());
                    fresh.issuer = fresh.issuer.or_else(|| t2.tokens.issuer.clone());
                }
                match self
                    .store
                    .write_if_version(&self.profile, t2.version, &fresh)?
                {
                    CasOutcome::Written(version) => {
                        self.event(operation, "ok", None, Some(elapsed));
                        let stored = self.read()?;
                        if stored.version == version {
                            self.remember(&stored);
                            return Ok(Token::from_stored(&stored));
                        }
                        // Someone wrote after us (a login in another terminal): theirs wins.
                        self.remember(&stored);
                        Ok(Token::from_stored(&stored))
                    }
                    CasOutcome::Conflict(current) => {
                        // A writer that did not take the lock (a new login) got there first.
                        self.event(operation, "ok_superseded", None, Some(elapsed));
                        match current {
                            Some(cur) if cur.state == TokenState::Valid => {
                                self.remember(&cur);
                                Ok(Token::from_stored(&cur))
                            }
                            _ => Err(Error::store(format!(
                                "the tokens of profile `{}` changed during a refresh and are no longer usable",
                                self.profile
                            ))
                            .with_hint("run the command again")),
                        }
                    }
                }
            }
            Err(err) => {
                self.event_err(operation, &err, elapsed);
                self.refresh_failed(&t2, err, min_ttl)
            }
        }
    }

    fn refresh_failed(&self, t2: &StoredTokens, err: Error, min_ttl: Duration) -> Result<Token> {
        let invalid_grant = matches!(
            err.oauth().map(|o| &o.code),
            Some(OAuthErrorCode::InvalidGrant)
        );
        if err.kind() == ErrorKind::LoginRequired || invalid_grant {
            // Someone else may have rotated the refresh token and stored the result.
            if let Ok(t3) = self.read()
                && t3.version != t2.version
                && t3.state == TokenState::Valid
            {
                self.remember(&t3);
                return Ok(Token::from_stored(&t3));
            }
            let lost_rotation =
                t2.refresh_failure_transient || err.cause() == Some(Cause::PossiblyLostRotation);
            let obtained = t2
                .tokens
                .refresh_token_obtained_at
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .unwrap_or_else(|| "an unknown time".into());
            let (message, cause, hint) = if lost_rotation {
                (
                    format!(
                        "the provider refused the refresh token of profile `{}` right after an earlier refresh attempt failed in transit: the server probably rotated the token but its answer was lost (refresh token obtained {obtained})",
                        self.profile
                    ),
                    Cause::PossiblyLostRotation,
                    format!(
                        "run `tokenwarden --profile {} login`; a provider-side reuse grace period avoids this",
                        self.profile
                    ),
                )
            } else {
                (
                    format!(
                        "the provider revoked the session of profile `{}`: it refused the refresh token (obtained {obtained}), and no other process stored a newer one",
                        self.profile
                    ),
                    Cause::RefreshTokenRevoked,
                    format!("run `tokenwarden --profile {} login`", self.profile),
                )
            };
            let reason = match err.oauth() {
                Some(o) => format!(
                    "{}{}",
                    o.code,
                    o.description
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
                None => err.message().to_string(),
            };
            let _ = self.store.mark_state(
                &self.profile,
                t2.version,
                TokenState::LoginRequired { reason },
                Some(&message),
                false,
            );
            self.forget();
            return Err(err
                .with_kind(ErrorKind::LoginRequired)
                .with_message(message)
                .with_cause(cause)
                .with_hint(hint));
        }
        let transient = err.kind() == ErrorKind::ProviderUnavailable;
        let _ = self.store.mark_state(
            &self.profile,
            t2.version,
            t2.state.clone(),
            Some(&err.report()),
            transient,
        );
        let now = self.clock.now();
        if transient && t2.state == TokenState::Valid && t2.tokens.is_valid_for(now, min_ttl) {
            let left = t2
                .tokens
                .remaining(now)
                .map(|d| format!("{} s", d.as_secs()))
                .unwrap_or_else(|| "no expiry".into());
            let warning = format!(
                "the provider is failing ({}); using the current token, still valid ({left} left)",
                err.message()
            );
            tracing::warn!(profile = %self.profile, "{warning}");
            self.remember(t2);
            let mut token = Token::from_stored(t2);
            token.degraded = Some(warning);
            return Ok(token);
        }
        if transient {
            let what = if t2.state == TokenState::Rejected {
                "the current token was rejected"
            } else {
                "the current token has expired"
            };
            let msg = format!("{}; {what}", err.message());
            return Err(err.with_message(msg));
        }
        Err(err)
    }

    fn login_required_again(&self, t: &StoredTokens, reason: &str) -> Error {
        Error::login_required(format!(
            "profile `{}` needs a new login: {}",
            self.profile,
            t.last_error.as_deref().unwrap_or(reason)
        ))
        .with_cause(Cause::RefreshTokenRevoked)
        .with_hint(format!(
            "run `tokenwarden --profile {} login`",
            self.profile
        ))
    }

    /// Marks exactly `token` (by version) rejected by a resource server, so that the next
    /// `get_token` refreshes. A token that was already replaced is left alone.
    pub fn invalidate(&self, token: &Token) -> Result<()> {
        self.forget();
        let marked = self.store.mark_rejected(&self.profile, token.version)?;
        self.event(
            "invalidate",
            if marked { "ok" } else { "stale" },
            None,
            None,
        );
        Ok(())
    }

    /// Sends a request built by `build` with the bearer token. On a 401 the token is
    /// invalidated, refreshed once and the request built and sent again once; a second 401 is
    /// [`ErrorKind::SessionRejected`]. `build` is called once per attempt, so the body must be
    /// replayable (hold it as bytes).
    pub async fn send(
        &self,
        build: impl Fn(&Token) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let token = self.get_token(Duration::ZERO).await?;
        let first = send_one(build(&token)).await?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.event_status("resource", "unauthorized", first.status().as_u16(), &first);
        self.invalidate(&token)?;
        let fresh = self.get_token(Duration::ZERO).await?;
        let second = send_one(build(&fresh)).await?;
        if second.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(second);
        }
        self.event_status(
            "resource",
            "unauthorized",
            second.status().as_u16(),
            &second,
        );
        let www = second
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let request_id = crate::session::request_id(&second);
        // Do not mark the fresh token: another refresh would only be rejected again.
        Err(Error::new(
            ErrorKind::SessionRejected,
            format!(
                "the server rejected a freshly refreshed token of profile `{}` (401 twice): the session is rejected by the server",
                self.profile
            ),
        )
        .with_cause(Cause::ResourceRejected)
        .with_http(crate::error::HttpEvidence {
            request: Some(format!("{}", second.url())),
            status: Some(401),
            request_id,
            www_authenticate: www,
            ..Default::default()
        })
        .with_hint("the provider may bind sessions to one client instance, or the token lacks the audience/scope this API needs; check the profile's scopes and `resource`, then log in again"))
    }

    fn event(
        &self,
        operation: &str,
        outcome: &str,
        status: Option<u16>,
        duration: Option<Duration>,
    ) {
        let mut e = Event::new(self.clock.now(), &self.profile, operation, outcome);
        e.status = status;
        e.duration = duration;
        let _ = self.store.append_event(&e);
    }

    fn event_err(&self, operation: &str, err: &Error, duration: Duration) {
        let mut e = Event::new(
            self.clock.now(),
            &self.profile,
            operation,
            err.kind().as_str(),
        );
        e.status = err.status();
        e.oauth_error = err.oauth().map(|o| o.code.to_string());
        e.request_id = err.request_id().map(str::to_string);
        e.correlation_id = err.correlation_id().map(str::to_string);
        e.duration = Some(duration);
        let _ = self.store.append_event(&e);
    }

    fn event_status(&self, operation: &str, outcome: &str, status: u16, resp: &reqwest::Response) {
        let mut e = Event::new(self.clock.now(), &self.profile, operation, outcome);
        e.status = Some(status);
        e.request_id = request_id(resp);
        let _ = self.store.append_event(&e);
    }
}

fn request_id(resp: &reqwest::Response) -> Option<String> {
    ["x-request-id", "request-id", "cf-ray"]
        .iter()
        .find_map(|h| {
            resp.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

async fn send_one(req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    req.send().await.map_err(|e| {
        let (cause, what) = if e.is_timeout() {
            (Cause::Timeout, "timed out")
        } else if e.is_connect() {
            (Cause::Connect, "could not connect")
        } else {
            (Cause::Connect, "failed")
        };
        Error::new(
            ErrorKind::ProviderUnavailable,
            format!("the request to the API {what}"),
        )
        .with_cause(cause)
        .with_source(e)
        .with_hint("check the URL and that the API is reachable from here")
    })
}
