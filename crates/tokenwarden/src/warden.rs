//! [`Warden`]: the one object a program (or the CLI) opens to get sessions, clients and the store
//! for its profiles, all sharing one HTTP client, one store and one clock.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, GrantType, LoadedProfile, Profile};
use crate::error::Result;
use crate::http::{HttpClient, HttpSettings, TokenClient, Tracer};
use crate::paths::Paths;
use crate::secret::RefreshToken;
use crate::session::{BoxFuture, Grants, Session, SessionOptions};
use crate::store::{KeySource, SqliteStore, Store};
use crate::token::TokenSet;
use std::sync::{Arc, OnceLock};

/// Opens profiles, the store and sessions.
pub struct Warden {
    paths: Paths,
    config: Config,
    store: OnceLock<Arc<SqliteStore>>,
    clock: Arc<dyn Clock>,
    tracer: Option<Arc<dyn Tracer>>,
}

impl std::fmt::Debug for Warden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warden")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Warden {
    /// Loads the configuration under `paths`. The store is opened on first use.
    pub fn open(paths: Paths) -> Result<Warden> {
        let config = Config::load(&paths)?;
        Ok(Warden {
            paths,
            config,
            store: OnceLock::new(),
            clock: Arc::new(SystemClock),
            tracer: None,
        })
    }

    /// Passes every HTTP exchange to `tracer` (`--trace-http`).
    pub fn with_tracer(mut self, tracer: Arc<dyn Tracer>) -> Warden {
        self.tracer = Some(tracer);
        self
    }

    /// Where files live.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The loaded configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A validated profile (with its warnings).
    pub fn profile(&self, name: &str) -> Result<LoadedProfile> {
        self.config.profile(name)
    }

    /// The token store, opened (and created) on first use.
    pub fn store(&self) -> Result<Arc<SqliteStore>> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let store = Arc::new(SqliteStore::open(&self.paths, KeySource::from_env()?)?);
        Ok(self.store.get_or_init(|| store).clone())
    }

    /// A token client for `profile`, with the store's shared circuit breaker.
    pub fn client(&self, profile: &Profile) -> Result<TokenClient> {
        let mut http = HttpClient::new(HttpSettings::for_profile(profile))?;
        if let Some(t) = &self.tracer {
            http = http.with_tracer(t.clone());
        }
        let mut b = TokenClient::builder(profile.clone())
            .http(http)
            .clock(self.clock.clone())
            .breaker_backend(self.store()?);
        if let Some(secret) = profile.client_secret()? {
            b = b.client_secret(secret);
        }
        b.build()
    }

    /// A session for the profile `name`.
    pub fn session(&self, name: &str) -> Result<Session> {
        let loaded = self.profile(name)?;
        let profile = loaded.profile;
        let client = self.client(&profile)?;
        let store: Arc<dyn Store> = self.store()?;
        let opts = SessionOptions {
            refresh_skew: profile.refresh_skew,
            ..SessionOptions::default()
        };
        Ok(Session::new(
            name,
            store,
            Arc::new(ClientGrants(client)),
            self.clock.clone(),
            opts,
        ))
    }
}

/// [`Grants`] through a [`TokenClient`].
#[derive(Debug)]
pub struct ClientGrants(pub TokenClient);

impl Grants for ClientGrants {
    fn refresh<'a>(&'a self, refresh_token: &'a RefreshToken) -> BoxFuture<'a, Result<TokenSet>> {
        Box::pin(self.0.refresh(refresh_token))
    }

    fn client_credentials(&self) -> Option<BoxFuture<'_, Result<TokenSet>>> {
        (self.0.profile().grant == GrantType::ClientCredentials)
            .then(|| Box::pin(self.0.client_credentials()) as BoxFuture<'_, Result<TokenSet>>)
    }
}
