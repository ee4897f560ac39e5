//! [`TokenClientBuilder`]: how a [`TokenClient`] is put together — the HTTP client and tracer,
//! the sleeper and clock of the retry policy, the circuit breaker's backend, the discovery
//! cache, the client secret and the event sink — each replaceable (tests inject time; the store
//! supplies the shared breaker and the event log; the CLI the `--trace-http` tracer).

use super::client::{Inner, TokenClient};
use super::{HttpClient, Tracer};
use crate::config::Profile;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::retry::{
    BreakerBackend, Clock, MemoryBreakerBackend, Retrier, Sleeper, SystemClock, TokioSleeper,
};
use crate::secret::ClientSecret;
use std::sync::Arc;

/// Builds a [`TokenClient`], with any part replaced (tests inject the sleeper, clock and seed;
/// the store supplies a shared breaker backend; the CLI a tracer).
pub struct TokenClientBuilder {
    profile: Profile,
    http: Option<HttpClient>,
    tracer: Option<Arc<dyn Tracer>>,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    backend: Arc<dyn BreakerBackend>,
    discovery: Option<Arc<Discovery>>,
    seed: Option<u64>,
    secret: Option<ClientSecret>,
    events: Option<Arc<dyn EventSink>>,
}

impl TokenClientBuilder {
    /// A builder for `profile` with the defaults (real time, real sleep, in-memory breaker).
    pub(super) fn new(profile: Profile) -> Self {
        TokenClientBuilder {
            profile,
            http: None,
            tracer: None,
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
            backend: Arc::new(MemoryBreakerBackend::default()),
            discovery: None,
            seed: None,
            secret: None,
            events: None,
        }
    }

    /// Records the code exchanges, device grants, revocations and client-credentials grants made
    /// on their own ([`TokenClient::client_credentials_standalone`]) in `sink` (the store).
    /// Refreshes and the client-credentials grants of a session are recorded by the session,
    /// which knows how they ended.
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    /// Uses this HTTP client (share one per process).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Passes every exchange to `tracer`.
    pub fn tracer(mut self, tracer: Arc<dyn Tracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Waits through `sleeper` between attempts.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Reads the time from `clock` (expiry, breaker, discovery cache).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps circuit-breaker state in `backend` (shared between processes by the store).
    pub fn breaker_backend(mut self, backend: Arc<dyn BreakerBackend>) -> Self {
        self.backend = backend;
        self
    }

    /// Shares a discovery cache.
    pub fn discovery(mut self, discovery: Arc<Discovery>) -> Self {
        self.discovery = Some(discovery);
        self
    }

    /// Makes the backoff jitter reproducible.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Uses this client secret instead of reading the profile's environment variable.
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Builds the client. Reads the client secret now when the profile's `client_auth` needs
    /// one, and the values of its `token_request_headers`: a missing variable is a Config error
    /// naming it.
    pub fn build(self) -> Result<TokenClient> {
        let p = self.profile;
        let secret = match self.secret {
            Some(s) => Some(s),
            None if p.client_auth.needs_secret() => Some(p.client_secret()?.ok_or_else(|| {
                Error::config(format!(
                    "profile `{}` uses client_auth = {} but has no client secret",
                    p.name,
                    p.client_auth.as_str()
                ))
                .with_hint("set client_secret_env = \"VAR\" in the profile and export VAR")
            })?),
            None => None,
        };
        let headers = p.token_request_headers()?;
        let mut http = match self.http {
            Some(h) => h,
            None => HttpClient::for_profile(&p)?,
        };
        if let Some(t) = self.tracer {
            http = http.with_tracer(t);
        }
        let retrier = Retrier::with_parts(
            p.retry,
            self.backend,
            self.sleeper,
            self.clock.clone(),
            self.seed,
        );
        let discovery = self
            .discovery
            .unwrap_or_else(|| Arc::new(Discovery::new(crate::discovery::DEFAULT_TTL, self.clock)));
        let single_attempt = retrier.single_attempt();
        Ok(TokenClient {
            inner: Arc::new(Inner {
                profile: p,
                http,
                retrier,
                single_attempt,
                discovery,
                secret,
                headers,
                events: self.events,
            }),
            single_attempt: false,
        })
    }
}
