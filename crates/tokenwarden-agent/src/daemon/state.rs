//! The agent's state: the configuration it runs with (reloaded when `config.toml` changes),
//! the profiles it keeps ([`Kept`]: a session, its token client, what the keepalive last did),
//! the counters and metrics, and the status it reports.

use super::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::agent::protocol::{AgentStatus, PROTOCOL_VERSION, ProfileStatus, RELEASE};
use tokenwarden::session::Session;
use tokenwarden::store::{Operation, Store, Version};

/// The most event-log records one metrics scrape reads for lock waits.
const LOCK_WAIT_SCAN: usize = 10_000;
use tokenwarden::warden::Warden;
use tokenwarden::{Result, TokenClient};

/// What the keepalive of one profile last saw and did.
#[derive(Debug, Clone, Default)]
pub struct KeptStats {
    /// `valid`, `degraded`, `login_required`, `logged_out`, `failing` or `starting`.
    pub state: &'static str,
    /// When the keepalive refreshes next.
    pub next_refresh: Option<SystemTime>,
    /// When the current token expires.
    pub expires_at: Option<SystemTime>,
    /// How long the current token was granted for.
    pub lifetime: Option<Duration>,
    /// When the refresh token expires (a new login is needed then), when known.
    pub refresh_token_expires_at: Option<SystemTime>,
    /// When the keepalive last refreshed.
    pub last_refresh: Option<SystemTime>,
    /// Refreshes the keepalive made.
    pub refreshes: u64,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// Until when the token endpoint's breaker is open.
    pub breaker_open_until: Option<SystemTime>,
    /// Transient failures in a row at the token endpoint.
    pub breaker_failures: u32,
    /// Since when the profile is served degraded.
    pub degraded_since: Option<Instant>,
}

/// One profile the agent keeps.
pub struct Kept {
    /// The profile's name.
    pub name: String,
    /// Its session (shared by the keepalive and every client request).
    pub session: Arc<Session>,
    /// Its token client (the session refreshes through it; its breaker is read for status).
    pub client: TokenClient,
    /// The profile's `refresh_skew`.
    pub refresh_skew: Duration,
    /// Wakes the keepalive (the stored tokens changed, a client invalidated a token).
    pub wake: tokio::sync::Notify,
    /// What the keepalive last saw and did.
    pub stats: Mutex<KeptStats>,
    /// The stored version and state the watcher last saw.
    pub seen: Mutex<Option<(Version, &'static str)>>,
    /// The keepalive task.
    pub task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// Updates the stats.
    pub fn update(&self, f: impl FnOnce(&mut KeptStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// A copy of the stats.
    pub fn stats(&self) -> KeptStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if let Ok(Some(task)) = self.task.lock().map(|mut t| t.take()) {
            task.abort();
        }
    }
}

/// The agent.
pub struct Agent {
    /// The configuration and store it runs with.
    pub warden: RwLock<Arc<Warden>>,
    /// The store (shared by every session; the watcher reads it).
    pub store: RwLock<Arc<dyn Store>>,
    /// The profiles it keeps, by name.
    pub kept: RwLock<BTreeMap<String, Arc<Kept>>>,
    /// Its socket, as shown.
    pub socket: String,
    /// When it started.
    pub started_at: SystemTime,
    started: Instant,
    /// Token requests answered.
    pub tokens_served: AtomicU64,
    /// Token requests that waited for a refresh.
    pub waited: AtomicU64,
    /// The metrics.
    pub metrics: Metrics,
    /// Set to true to end the agent (`stop`, a newer client, a signal).
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The config file's last seen modification time and length.
    pub config_stamp: Mutex<Option<(SystemTime, u64)>>,
    /// The time of the newest lock-wait record already counted in the metrics.
    lock_waits_seen: Mutex<SystemTime>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent over `warden`, listening on `socket`.
    pub fn new(warden: Warden, socket: String) -> Result<Agent> {
        let store: Arc<dyn Store> = warden.store()?;
        let stamp = config_stamp(&warden);
        Ok(Agent {
            warden: RwLock::new(Arc::new(warden)),
            store: RwLock::new(store),
            kept: RwLock::new(BTreeMap::new()),
            socket,
            started_at: SystemTime::now(),
            started: Instant::now(),
            tokens_served: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            metrics: Metrics::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
            config_stamp: Mutex::new(stamp),
            lock_waits_seen: Mutex::new(SystemTime::now()),
        })
    }

    /// Ends the agent.
    pub fn stop(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once the agent is told to stop.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// The warden in use.
    pub fn warden(&self) -> Arc<Warden> {
        self.warden
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The store in use.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The kept profile `name`, if the agent keeps it.
    pub fn kept(&self, name: &str) -> Option<Arc<Kept>> {
        self.kept
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every kept profile.
    pub fn all_kept(&self) -> Vec<Arc<Kept>> {
        self.kept
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// A session and client for the profile `name` of the current configuration.
    pub fn build_kept(&self, name: &str) -> Result<Kept> {
        let warden = self.warden();
        let profile = warden.profile(name)?.profile;
        let client = warden.client(&profile)?;
        let session = warden.session_with(name, client.clone())?;
        Ok(Kept {
            name: name.to_string(),
            session: Arc::new(session),
            client,
            refresh_skew: profile.refresh_skew,
            wake: tokio::sync::Notify::new(),
            stats: Mutex::new(KeptStats {
                state: "starting",
                ..KeptStats::default()
            }),
            seen: Mutex::new(None),
            task: Mutex::new(None),
        })
    }

    /// The status `agent status` shows.
    pub fn status(&self) -> AgentStatus {
        let profiles = self
            .all_kept()
            .iter()
            .map(|k| {
                let s = k.stats();
                let breaker = match s.breaker_open_until {
                    Some(u) if u > SystemTime::now() => "open",
                    _ if s.breaker_failures > 0 => "failing",
                    _ => "closed",
                };
                ProfileStatus {
                    profile: k.name.clone(),
                    state: s.state.to_string(),
                    expires_at: s.expires_at.map(rfc3339),
                    next_refresh: s.next_refresh.map(rfc3339),
                    last_refresh: s.last_refresh.map(rfc3339),
                    refreshes: s.refreshes,
                    breaker: breaker.to_string(),
                    breaker_open_until: s
                        .breaker_open_until
                        .filter(|u| *u > SystemTime::now())
                        .map(rfc3339),
                    last_error: s.last_error,
                }
            })
            .collect();
        AgentStatus {
            pid: std::process::id(),
            release: RELEASE.to_string(),
            protocol: PROTOCOL_VERSION,
            socket: self.socket.clone(),
            started_at: rfc3339(self.started_at),
            uptime_s: self.started.elapsed().as_secs(),
            tokens_served: self.tokens_served.load(Ordering::Relaxed),
            waited_for_refresh: self.waited.load(Ordering::Relaxed),
            profiles,
        }
    }

    /// The metrics text, with the per-profile gauges brought up to date.
    pub fn metrics_text(&self) -> String {
        let now = SystemTime::now();
        for k in self.all_kept() {
            let s = k.stats();
            let label = Metrics::profile(&k.name);
            let open = s.breaker_open_until.is_some_and(|u| u > now);
            self.metrics
                .breaker_open
                .get_or_create(&label)
                .set(i64::from(open));
            if let Some(horizon) = s.refresh_token_expires_at {
                let left = match horizon.duration_since(now) {
                    Ok(d) => d.as_secs_f64(),
                    Err(past) => -past.duration().as_secs_f64(),
                };
                self.metrics
                    .refresh_token_expires_in
                    .get_or_create(&label)
                    .set(left);
            }
            if let (Some(exp), Some(lifetime)) = (s.expires_at, s.lifetime) {
                let issued = exp.checked_sub(lifetime).unwrap_or(exp);
                let age = now.duration_since(issued).unwrap_or_default();
                self.metrics
                    .token_age
                    .get_or_create(&label)
                    .set(age.as_secs_f64());
            }
        }
        self.count_lock_waits();
        self.metrics.encode()
    }

    /// Adds to the lock-wait metrics the waits for a refresh lock that any process of this home
    /// recorded in the event log (those of 100 ms or more) since the last scrape.
    fn count_lock_waits(&self) {
        let Ok(mut seen) = self.lock_waits_seen.lock() else {
            return;
        };
        let events = match self.store().recent_events(*seen, None, LOCK_WAIT_SCAN) {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!("the event log is not readable for the lock-wait metrics: {e}");
                return;
            }
        };
        for e in events
            .iter()
            .filter(|e| e.operation == Operation::LockWait && e.at > *seen)
        {
            let label = Metrics::outcome(&e.profile, e.outcome.as_str());
            self.metrics.lock_waits.get_or_create(&label).inc();
            if let Some(d) = e.duration {
                self.metrics
                    .lock_wait_seconds
                    .get_or_create(&Metrics::profile(&e.profile))
                    .inc_by(d.as_secs_f64());
            }
        }
        if let Some(newest) = events.iter().map(|e| e.at).max() {
            *seen = newest.max(*seen);
        }
    }
}

/// The modification time and length of the configuration file, when it exists.
pub fn config_stamp(warden: &Warden) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(warden.paths().config_file()).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// RFC 3339 with seconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
