//! [`Warden`]: the one object a program (or the CLI) opens to get sessions, clients and the store
//! for its profiles, all sharing one HTTP client, one store and one clock; and what needs both
//! the configuration and the store, like the failure-rate warnings of `status` and `doctor`.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, GrantType, LoadedProfile, Profile};
use crate::discovery::Discovery;
use crate::error::Result;
use crate::events::FailureRate;
use crate::http::{Exchanged, HttpClient, TokenClient, Tracer};
use crate::paths::Paths;
use crate::secret::RefreshToken;
use crate::session::{BoxFuture, Effort, Grants, Session, SessionOptions};
use crate::store::postgres::{FleetSettings, STORE_URL_ENV, StoreUrl};
use crate::store::{KeySource, PgStore, SqliteStore, Store};
use crate::token::TokenSet;
use std::sync::{Arc, OnceLock};

/// The store a warden opened: this machine's file, or the fleet store.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The SQLite file in the data directory (the default).
    Local(Arc<SqliteStore>),
    /// The PostgreSQL database shared by a fleet (`[store] url`, `TOKENWARDEN_STORE_URL`).
    Fleet(Arc<PgStore>),
}

impl Backend {
    /// The store, whichever it is.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Local(s) => s.clone(),
            Backend::Fleet(s) => s.clone(),
        }
    }
}

/// Opens profiles, the store and sessions.
pub struct Warden {
    paths: Paths,
    config: Config,
    store: OnceLock<Backend>,
    /// Where the store's key comes from; `None`: [`KeySource::from_env`].
    key_source: std::sync::Mutex<Option<KeySource>>,
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
            key_source: std::sync::Mutex::new(None),
            clock: Arc::new(SystemClock),
            tracer: None,
        })
    }

    /// Opens the store with the key from `source` instead of the environment's (a program
    /// with a temporary home of its own, such as the demo, keeps its key out of the OS
    /// keyring with [`KeySource::KeyFile`]).
    pub fn with_key_source(self, source: KeySource) -> Warden {
        *self
            .key_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(source);
        self
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

    /// The `--trace-http` tracer, when set.
    pub fn tracer(&self) -> Option<&Arc<dyn Tracer>> {
        self.tracer.as_ref()
    }

    /// The fleet store's settings when one is configured: `TOKENWARDEN_STORE_URL` (which
    /// wins) or `[store] url`; `None` when tokens are kept in this machine's file.
    pub fn fleet_settings(&self) -> Result<Option<FleetSettings>> {
        let store = self.config.store();
        let url = std::env::var(STORE_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or(store.url);
        let Some(url) = url else {
            return Ok(None);
        };
        Ok(Some(FleetSettings {
            url: StoreUrl::parse(&url)?,
            key_file: store.key_file,
            auto_migrate: store.auto_migrate,
        }))
    }

    /// The token store, opened on first use: the fleet store when one is configured
    /// ([`Warden::fleet_settings`]), else this machine's file (created on first use; opening
    /// it applies the event log's retention bounds).
    pub fn backend(&self) -> Result<Backend> {
        if let Some(b) = self.store.get() {
            return Ok(b.clone());
        }
        let backend = match self.fleet_settings()? {
            Some(settings) => Backend::Fleet(Arc::new(PgStore::open(&self.paths, &settings)?)),
            None => Backend::Local(self.local_store()?),
        };
        Ok(self.store.get_or_init(|| backend).clone())
    }

    /// The store `spec` names: `local` (this machine's file) or a `postgres://` URL (opened
    /// with `[store]`'s `key_file` and `auto_migrate`). For `store copy`.
    pub fn open_store(&self, spec: &str) -> Result<Backend> {
        if spec == "local" {
            return Ok(Backend::Local(self.local_store()?));
        }
        if !StoreUrl::is_postgres(spec) {
            return Err(crate::error::Error::usage(format!(
                "`{spec}` names no store: use `local` (this machine's file) or a postgres:// URL"
            )));
        }
        let store = self.config.store();
        let settings = FleetSettings {
            url: StoreUrl::parse(spec)?,
            key_file: store.key_file,
            auto_migrate: store.auto_migrate,
        };
        Ok(Backend::Fleet(Arc::new(PgStore::open(
            &self.paths,
            &settings,
        )?)))
    }

    /// The token store (see [`Warden::backend`]).
    pub fn store(&self) -> Result<Arc<dyn Store>> {
        Ok(self.backend()?.store())
    }

    /// This machine's own SQLite store, whatever the configuration says (what `store copy`
    /// moves logins from or to). Opening applies the event log's retention bounds.
    pub fn local_store(&self) -> Result<Arc<SqliteStore>> {
        if let Some(Backend::Local(s)) = self.store.get() {
            return Ok(s.clone());
        }
        let given = self
            .key_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let source = match given {
            Some(source) => source,
            None => KeySource::from_env()?,
        };
        let store = Arc::new(SqliteStore::open(&self.paths, source)?);
        if let Err(e) = crate::events::prune(store.as_ref(), self.clock.now()) {
            tracing::warn!(error = %e, "could not prune the event log");
        }
        Ok(store)
    }

    /// Records in the event log how `operation` on `profile` ended (a login, a logout). A
    /// store that cannot be opened is logged, never reported: the log serves diagnosis.
    pub fn record_outcome<T>(
        &self,
        profile: &str,
        operation: crate::events::Operation,
        result: &Result<T>,
        duration: std::time::Duration,
    ) {
        match self.store() {
            Ok(store) => crate::events::record_result(
                &StoreEvents(store),
                self.clock.now(),
                profile,
                operation,
                result,
                duration,
            ),
            Err(e) => tracing::warn!(error = %e, "could not record a token operation"),
        }
    }

    /// The 5xx rate of `profile`'s requests to the authorization server over the last
    /// [`crate::events::ALERT_WINDOW`], against its `failure_rate_threshold`.
    fn failure_rate_of(&self, profile: &Profile) -> Result<FailureRate> {
        let store = self.store()?;
        let now = self.clock.now();
        crate::events::failure_rate(
            store.as_ref(),
            &profile.name,
            profile.failure_rate_threshold,
            now,
        )
    }

    /// The 5xx rate of the profile `name` over the last [`crate::events::ALERT_WINDOW`] against
    /// its `failure_rate_threshold` (a profile that is not valid, or only in the store, is held
    /// to [`crate::config::DEFAULT_FAILURE_RATE_THRESHOLD`]).
    pub fn failure_rate(&self, name: &str) -> Result<FailureRate> {
        let threshold = self
            .profile(name)
            .map(|l| l.profile.failure_rate_threshold)
            .unwrap_or(crate::config::DEFAULT_FAILURE_RATE_THRESHOLD);
        let store = self.store()?;
        crate::events::failure_rate(store.as_ref(), name, threshold, self.clock.now())
    }

    /// The warning `status` and `doctor` show when the 5xx rate of `profile` over the last 15
    /// minutes passes its `failure_rate_threshold`; `None` when it does not.
    pub fn failure_rate_warning(&self, profile: &Profile) -> Result<Option<String>> {
        Ok(self.failure_rate_of(profile)?.warning(&profile.name))
    }

    /// The failure-rate warnings of every valid profile of the configuration (what `status`
    /// shows). A profile whose rate cannot be read gives no warning.
    pub fn failure_rate_warnings(&self) -> Vec<String> {
        self.config
            .profile_names()
            .iter()
            .filter_map(|name| self.config.profile(name).ok())
            .filter_map(|loaded| self.failure_rate_warning(&loaded.profile).ok().flatten())
            .collect()
    }

    /// An HTTP client with `profile`'s timeouts and the `--trace-http` tracer.
    pub fn http_client(&self, profile: &Profile) -> Result<HttpClient> {
        let http = HttpClient::for_profile(profile)?;
        Ok(match &self.tracer {
            Some(t) => http.with_tracer(t.clone()),
            None => http,
        })
    }

    /// A token client for `profile`, with the store's shared circuit breaker and discovery
    /// documents (a document another process fetched is used while fresh); it records its
    /// code exchanges, device grants and revocations in the store's event log.
    pub fn client(&self, profile: &Profile) -> Result<TokenClient> {
        self.client_factory(profile)?.build()
    }

    /// A token client for `profile` that touches no local file: no store is opened or created,
    /// nothing is recorded, its circuit breaker lives in memory, and discovery documents are
    /// fetched live. For what only reads the
    /// provider, like discovering the endpoints (`doctor --curl` on a fresh home).
    pub fn client_without_store(&self, profile: &Profile) -> Result<TokenClient> {
        let mut b = TokenClient::builder(profile.clone())
            .http(self.http_client(profile)?)
            .clock(self.clock.clone());
        if let Some(secret) = profile.client_secret()? {
            b = b.client_secret(secret);
        }
        b.build()
    }

    fn client_factory(&self, profile: &Profile) -> Result<ClientFactory> {
        Ok(ClientFactory {
            profile: profile.clone(),
            tracer: self.tracer.clone(),
            clock: self.clock.clone(),
            store: self.store()?,
        })
    }

    /// A session for the profile `name`. Its token client (HTTP client, client secret) is built
    /// on the first refresh: a caller whose token is still fresh pays for none of it.
    pub fn session(&self, name: &str) -> Result<Session> {
        let profile = self.profile(name)?.profile;
        let grants = LazyGrants {
            factory: self.client_factory(&profile)?,
            client: OnceLock::new(),
        };
        self.session_over(name, &profile, Arc::new(grants))
    }

    /// A session for the profile `name` that refreshes through `client` (a command that also
    /// needs the client's HTTP connection pool, like `request`, builds it once).
    pub fn session_with(&self, name: &str, client: TokenClient) -> Result<Session> {
        let profile = client.profile().clone();
        self.session_over(name, &profile, Arc::new(ClientGrants(client)))
    }

    /// A session for the profile `name` that refreshes through `grants`, built as
    /// [`Warden::session`] builds its own: this warden's store, clock and tracer, the profile's
    /// refresh window and lock wait. For a caller that wraps the refresh grant, e.g. to observe
    /// each refresh (`ClientGrants(warden.client(&profile)?)` is the plain grant).
    pub fn session_with_grants(&self, name: &str, grants: Arc<dyn Grants>) -> Result<Session> {
        let profile = self.profile(name)?.profile;
        self.session_over(name, &profile, grants)
    }

    fn session_over(
        &self,
        name: &str,
        profile: &Profile,
        grants: Arc<dyn Grants>,
    ) -> Result<Session> {
        let store = self.store()?;
        let opts = SessionOptions {
            refresh_skew: profile.refresh_skew,
            lock_wait: profile.lock_wait(),
            store_write_wait: profile.store_write_wait,
            refresh_revokes_previous_access_token: profile.refresh_revokes_previous_access_token,
        };
        let session = Session::new(name, store, grants, self.clock.clone(), opts);
        Ok(match &self.tracer {
            Some(t) => session.with_tracer(t.clone()),
            None => session,
        })
    }
}

/// What building a profile's [`TokenClient`] takes, so that it can be built later.
struct ClientFactory {
    profile: Profile,
    tracer: Option<Arc<dyn Tracer>>,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
}

/// The event log of a store, as a token client records into it.
struct StoreEvents(Arc<dyn Store>);

impl crate::events::EventSink for StoreEvents {
    fn record_event(&self, event: &crate::store::Event) -> Result<()> {
        self.0.append_event(event)
    }
}

impl ClientFactory {
    fn build(&self) -> Result<TokenClient> {
        let mut http = HttpClient::for_profile(&self.profile)?;
        if let Some(t) = &self.tracer {
            http = http.with_tracer(t.clone());
        }
        // Discovery documents and key sets kept in the store spare every new process requests.
        let discovery = Discovery::new(crate::discovery::DEFAULT_TTL, self.clock.clone())
            .with_store(self.store.clone());
        let mut b = TokenClient::builder(self.profile.clone())
            .http(http)
            .clock(self.clock.clone())
            .discovery(Arc::new(discovery))
            .events(Arc::new(StoreEvents(self.store.clone())))
            .breaker_backend(self.store.clone());
        if let Some(secret) = self.profile.client_secret()? {
            b = b.client_secret(secret);
        }
        b.build()
    }
}

/// [`Grants`] through a [`TokenClient`] built on first use.
struct LazyGrants {
    factory: ClientFactory,
    client: OnceLock<TokenClient>,
}

impl LazyGrants {
    fn client(&self) -> Result<&TokenClient> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = self.factory.build()?;
        Ok(self.client.get_or_init(|| built))
    }
}

impl Grants for LazyGrants {
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            with_effort(self.client()?, effort).token_endpoint().await?;
            Ok(())
        })
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async move {
            match self.client() {
                Ok(c) => {
                    with_effort(c, effort)
                        .refresh_exchanged(refresh_token)
                        .await
                }
                Err(e) => Exchanged::unsent(Err(e)),
            }
        })
    }

    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        (self.factory.profile.grant == GrantType::ClientCredentials).then(|| {
            Box::pin(async move {
                match self.client() {
                    Ok(c) => with_effort(c, effort).client_credentials_exchanged().await,
                    Err(e) => Exchanged::unsent(Err(e)),
                }
            }) as BoxFuture<'a, Exchanged<TokenSet>>
        })
    }
}

/// `client` making as many attempts as `effort` says.
fn with_effort(client: &TokenClient, effort: Effort) -> TokenClient {
    match effort {
        Effort::Full => client.clone(),
        Effort::Single => client.single_attempt(),
    }
}

/// [`Grants`] through a [`TokenClient`].
#[derive(Debug)]
pub struct ClientGrants(pub TokenClient);

impl Grants for ClientGrants {
    fn prepare<'a>(&'a self, effort: Effort) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            with_effort(&self.0, effort).token_endpoint().await?;
            Ok(())
        })
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a RefreshToken,
        effort: Effort,
    ) -> BoxFuture<'a, Exchanged<TokenSet>> {
        Box::pin(async move {
            with_effort(&self.0, effort)
                .refresh_exchanged(refresh_token)
                .await
        })
    }

    fn client_credentials<'a>(
        &'a self,
        effort: Effort,
    ) -> Option<BoxFuture<'a, Exchanged<TokenSet>>> {
        (self.0.profile().grant == GrantType::ClientCredentials).then(|| {
            Box::pin(async move {
                with_effort(&self.0, effort)
                    .client_credentials_exchanged()
                    .await
            }) as BoxFuture<'a, Exchanged<TokenSet>>
        })
    }
}
