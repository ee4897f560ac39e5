//! Keepalive: each logged-in profile's token is refreshed just *before* its proactive window
//! opens, so that no caller ever meets a token due for refresh and waits. The refresh goes
//! through the profile's session like any other caller's (the same cross-process lock, circuit
//! breaker, degraded mode): a `tokenwarden token` in another shell never races it.
//!
//! A watcher looks at `config.toml` and the store every [`WATCH_EVERY`]: a profile added, a
//! login or logout done in another terminal, a token refreshed by another process are picked up
//! within that time, without a restart.
//!
//! When the refresh is due: the session is asked for a token valid for [`ahead`] more than
//! the window allows, which makes it refresh (one attempt, as for any caller whose token still
//! works). A failure leaves the current token in use (degraded) and the keepalive tries again
//! after a pause, never before the time the provider or the breaker named.

use super::metrics::Metrics;
use super::state::{Agent, Kept, config_stamp};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokenwarden::ErrorKind;
use tokenwarden::horizon::{self, Horizon};
use tokenwarden::store::TokenState;

/// How often the watcher looks at the configuration and the store.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// The shortest pause before trying again after a failed or skipped refresh.
const MIN_RETRY: Duration = Duration::from_millis(250);

/// The longest pause before trying again after a failed refresh.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// How long before the proactive window opens the keepalive refreshes: a tenth of the window,
/// between 50 ms and 5 s.
pub fn ahead(window: Duration) -> Duration {
    (window / 10).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// What the keepalive waits for next.
enum Next {
    /// Refresh at this time.
    At(SystemTime),
    /// Nothing to refresh until the stored tokens change (logged out, login required).
    Change,
}

/// Starts the keepalive of `kept`.
pub fn start(agent: &Arc<Agent>, kept: &Arc<Kept>) {
    let task = tokio::spawn(run(agent.clone(), Arc::downgrade(kept)));
    if let Ok(mut t) = kept.task.lock() {
        *t = Some(task.abort_handle());
    }
}

async fn run(agent: Arc<Agent>, kept: std::sync::Weak<Kept>) {
    let mut not_before: Option<SystemTime> = None;
    loop {
        let Some(k) = kept.upgrade() else { return };
        let next = plan(&agent, &k, not_before);
        let notified = k.wake.notified();
        tokio::pin!(notified);
        let wait = match next {
            Next::At(t) => t.duration_since(SystemTime::now()).unwrap_or_default(),
            Next::Change => Duration::from_secs(3600),
        };
        let degraded_tick = k.stats().degraded_since.is_some();
        let wait = if degraded_tick {
            wait.min(Duration::from_secs(1))
        } else {
            wait
        };
        let woke = tokio::select! {
            _ = &mut notified => true,
            _ = tokio::time::sleep(wait) => false,
        };
        count_degraded(&agent, &k);
        if woke {
            not_before = None;
            continue;
        }
        match next {
            Next::At(t) if SystemTime::now() >= t => {
                not_before = Some(refresh(&agent, &k).await);
            }
            _ => {}
        }
    }
}

/// When the profile's token is due, from the store.
fn plan(agent: &Agent, k: &Kept, not_before: Option<SystemTime>) -> Next {
    let stored = match agent.store().read(&k.name) {
        Ok(s) => s,
        Err(e) => {
            k.update(|s| {
                s.state = "failing";
                s.last_error = Some(e.message().to_string());
            });
            return Next::At(SystemTime::now() + MAX_RETRY);
        }
    };
    let Some(t) = stored else {
        k.update(|s| {
            s.state = "logged_out";
            s.next_refresh = None;
            s.expires_at = None;
        });
        return Next::Change;
    };
    if let TokenState::LoginRequired { reason, .. } = &t.state {
        let reason = reason.clone();
        k.update(|s| {
            s.state = "login_required";
            s.next_refresh = None;
            s.last_error = Some(reason)
                .filter(|r| !r.is_empty())
                .or(s.last_error.take());
        });
        return Next::Change;
    }
    let window = t.tokens.proactive_window(k.refresh_skew);
    let due = match (&t.state, t.tokens.expires_at) {
        (TokenState::Rejected, _) => SystemTime::now(),
        (_, Some(exp)) => exp.checked_sub(window + ahead(window)).unwrap_or(exp),
        (_, None) => {
            k.update(|s| {
                s.state = "valid";
                s.next_refresh = None;
                s.expires_at = None;
            });
            return Next::Change;
        }
    };
    let due = not_before.map_or(due, |nb| due.max(nb));
    let horizon = t
        .tokens
        .refresh_token
        .as_ref()
        .and(t.tokens.refresh_token_expires_at);
    warn_of_horizon(agent, &k.name, horizon);
    k.update(|s| {
        s.refresh_token_expires_at = horizon;
        if matches!(s.state, "starting" | "logged_out" | "login_required") {
            s.state = "valid";
        }
        s.next_refresh = Some(due);
        s.expires_at = t.tokens.expires_at;
        s.lifetime = t.tokens.lifetime();
    });
    Next::At(due)
}

/// Inside the profile's `refresh_expiry_warning` of the refresh token's expiry: logs the
/// warning, once a day whichever process gives it ([`tokenwarden::horizon::due_warning`]).
fn warn_of_horizon(agent: &Agent, name: &str, expires_at: Option<SystemTime>) {
    let Ok(loaded) = agent.warden().profile(name) else {
        return;
    };
    let now = SystemTime::now();
    let within = Horizon::at(expires_at, now, loaded.profile.refresh_expiry_warning)
        .is_some_and(|h| h.within_warning);
    if !within {
        return;
    }
    if let Some(h) = horizon::due_warning(agent.store().as_ref(), &loaded.profile, expires_at, now)
    {
        tracing::warn!(profile = %name, "{}", h.message(name));
    }
}

/// Refreshes `k` now; returns the earliest time of the next attempt.
async fn refresh(agent: &Agent, k: &Kept) -> SystemTime {
    let before = agent
        .store()
        .read(&k.name)
        .ok()
        .flatten()
        .map(|t| (t.version, t.tokens.proactive_window(k.refresh_skew)));
    let Some((version, window)) = before else {
        return SystemTime::now();
    };
    // A token valid for `ahead` beyond the window is one the session must refresh now.
    let result = k
        .session
        .get_token(ahead(window) + Duration::from_millis(1))
        .await;
    let now = SystemTime::now();
    let next = match &result {
        Ok(t) if t.degraded().is_some() => {
            let detail = t.degraded().map(str::to_string);
            k.update(|s| {
                s.state = "degraded";
                s.last_error = detail;
                s.degraded_since.get_or_insert_with(Instant::now);
            });
            agent
                .metrics
                .refreshes
                .get_or_create(&Metrics::outcome(&k.name, "degraded"))
                .inc();
            now + retry_pause(t.expires_at(), now)
        }
        Ok(t) if t.version() != version => {
            k.update(|s| {
                s.state = "valid";
                s.last_refresh = Some(now);
                s.refreshes += 1;
                s.last_error = None;
                s.degraded_since = None;
            });
            agent
                .metrics
                .refreshes
                .get_or_create(&Metrics::outcome(&k.name, "ok"))
                .inc();
            now
        }
        // Someone else is refreshing (the lock was taken): look again shortly.
        Ok(_) => now + MIN_RETRY,
        Err(e) => {
            let outcome = if e.kind() == ErrorKind::LoginRequired {
                "login_required"
            } else {
                "failed"
            };
            let message = e.message().to_string();
            k.update(|s| {
                s.state = if outcome == "login_required" {
                    "login_required"
                } else {
                    "failing"
                };
                s.last_error = Some(message);
            });
            agent
                .metrics
                .refreshes
                .get_or_create(&Metrics::outcome(&k.name, outcome))
                .inc();
            agent
                .metrics
                .failures
                .get_or_create(&Metrics::outcome(&k.name, e.kind().as_str()))
                .inc();
            let pause = now + retry_pause(None, now);
            e.retry_at().map_or(pause, |at| at.max(pause))
        }
    };
    if let Ok(Some(t)) = result.as_ref().map(|t| t.degraded()) {
        agent
            .metrics
            .failures
            .get_or_create(&Metrics::outcome(&k.name, "provider_unavailable"))
            .inc();
        tracing::info!(profile = %k.name, "keepalive: {t}");
    }
    read_breaker(agent, k).await;
    next
}

/// The pause before trying again while the current token still works: an eighth of what is
/// left, between [`MIN_RETRY`] and [`MAX_RETRY`].
fn retry_pause(expires_at: Option<SystemTime>, now: SystemTime) -> Duration {
    let left = expires_at
        .and_then(|e| e.duration_since(now).ok())
        .unwrap_or(MAX_RETRY * 8);
    (left / 8).clamp(MIN_RETRY, MAX_RETRY)
}

/// Reads the token endpoint's breaker record (the endpoint is known once the client has
/// resolved it for a refresh; nothing is sent to find it).
async fn read_breaker(agent: &Agent, k: &Kept) {
    let endpoint =
        tokio::time::timeout(Duration::from_millis(200), k.client.token_endpoint()).await;
    let Ok(Ok(url)) = endpoint else { return };
    if let Ok(record) = agent.store().load(url.as_str()) {
        k.update(|s| {
            s.breaker_open_until = record.open_until;
            s.breaker_failures = record.consecutive_failures;
        });
    }
}

/// Adds the time degraded since the last look to the metric.
fn count_degraded(agent: &Agent, k: &Kept) {
    let mut since = None;
    k.update(|s| {
        if let Some(t) = s.degraded_since {
            since = Some(t.elapsed());
            s.degraded_since = Some(Instant::now());
        }
    });
    if let Some(d) = since {
        agent
            .metrics
            .degraded_seconds
            .get_or_create(&Metrics::profile(&k.name))
            .inc_by(d.as_secs_f64());
    }
}

/// The watcher: reloads the configuration when `config.toml` changes, keeps the set of kept
/// profiles in step with it, and wakes a profile's keepalive when its stored tokens change.
pub async fn watch(agent: Arc<Agent>) {
    loop {
        sync_profiles(&agent);
        for k in agent.all_kept() {
            look_at_store(&agent, &k);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Keeps a profile for every valid profile of the configuration (reloaded when it changed).
pub fn sync_profiles(agent: &Arc<Agent>) {
    let warden = agent.warden();
    let stamp = config_stamp(&warden);
    let changed = agent
        .config_stamp
        .lock()
        .map(|mut s| {
            let changed = *s != stamp;
            *s = stamp;
            changed
        })
        .unwrap_or(false);
    if changed {
        match tokenwarden::warden::Warden::open(warden.paths().clone()) {
            Ok(w) => {
                if let Ok(mut slot) = agent.warden.write() {
                    *slot = Arc::new(w);
                }
                // Every profile is rebuilt from the new configuration.
                if let Ok(mut kept) = agent.kept.write() {
                    kept.clear();
                }
                tracing::info!("config.toml changed: profiles reloaded");
            }
            Err(e) => tracing::warn!("config.toml changed but cannot be read: {}", e.message()),
        }
    }
    let warden = agent.warden();
    let names: Vec<String> = warden
        .config()
        .profile_names()
        .into_iter()
        .filter(|n| warden.profile(n).is_ok())
        .collect();
    let mut kept = agent
        .kept
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    kept.retain(|name, _| names.contains(name));
    for name in names {
        if kept.contains_key(&name) {
            continue;
        }
        match agent.build_kept(&name) {
            Ok(k) => {
                let k = Arc::new(k);
                start(agent, &k);
                kept.insert(name, k);
            }
            Err(e) => tracing::warn!(profile = %name, "cannot keep profile: {}", e.message()),
        }
    }
}

/// Wakes `k`'s keepalive when its stored tokens changed since the last look; a version the
/// session did not hand out (a login elsewhere) makes it drop its cached token.
fn look_at_store(agent: &Agent, k: &Kept) {
    let now = match agent.store().read(&k.name) {
        Ok(Some(t)) => Some((t.version, t.state.as_str())),
        Ok(None) => None,
        Err(_) => return,
    };
    let changed = k
        .seen
        .lock()
        .map(|mut seen| {
            let changed = *seen != now;
            *seen = now;
            changed
        })
        .unwrap_or(false);
    if changed {
        let cached = k.session.fresh_token(Duration::ZERO).map(|t| t.version());
        if cached.is_some() && cached != now.map(|(v, _)| v) {
            k.session.forget_cached();
        }
        k.wake.notify_one();
    }
}
