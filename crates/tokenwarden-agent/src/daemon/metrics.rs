//! The agent's Prometheus metrics (`--metrics ADDR`, text format at `/metrics`): refreshes by
//! outcome, failures by kind, resource 401s, seconds degraded, breaker state, token requests
//! that waited for a refresh, waits for the cross-process refresh lock (any process's, from the
//! event log), and the age of each profile's token.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A profile.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProfileLabel {
    /// The profile's name.
    pub profile: String,
}

/// A profile and an outcome or kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProfileOutcome {
    /// The profile's name.
    pub profile: String,
    /// `ok`, `degraded`, `login_required`, `failed` (refreshes); an error kind (failures).
    pub outcome: String,
}

/// Every metric the agent keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Keepalive refresh attempts by outcome.
    pub refreshes: Family<ProfileOutcome, Counter>,
    /// Failed refresh attempts by error kind.
    pub failures: Family<ProfileOutcome, Counter>,
    /// 401s from resource servers reported by clients (the proxy, `request`).
    pub unauthorized: Family<ProfileLabel, Counter>,
    /// Seconds a profile was served in degraded mode (the provider failing).
    pub degraded_seconds: Family<ProfileLabel, Counter<f64, AtomicU64>>,
    /// 1 while the profile's token-endpoint breaker is open.
    pub breaker_open: Family<ProfileLabel, Gauge>,
    /// Token requests answered.
    pub tokens_served: Family<ProfileLabel, Counter>,
    /// Token requests that had to wait for a refresh (lock waits included).
    pub token_waits: Family<ProfileLabel, Counter>,
    /// Waits for the refresh lock of 100 ms or more, by any process of this home, by outcome
    /// (`ok`, `timeout`).
    pub lock_waits: Family<ProfileOutcome, Counter>,
    /// Seconds those waits lasted.
    pub lock_wait_seconds: Family<ProfileLabel, Counter<f64, AtomicU64>>,
    /// Seconds since the current token was issued.
    pub token_age: Family<ProfileLabel, Gauge<f64, AtomicU64>>,
    /// Seconds until the refresh token expires and a new login is needed (negative once past),
    /// for the profiles whose horizon is known.
    pub refresh_token_expires_in: Family<ProfileLabel, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    /// The text exposition of `self`.
    pub fn encode(&self) -> String {
        let mut registry = Registry::with_prefix("tokenwarden_agent");
        registry.register(
            "refreshes",
            "Keepalive refresh attempts by outcome",
            self.refreshes.clone(),
        );
        registry.register(
            "refresh_failures",
            "Failed refresh attempts by error kind",
            self.failures.clone(),
        );
        registry.register(
            "resource_unauthorized",
            "401 answers from resource servers reported by clients",
            self.unauthorized.clone(),
        );
        registry.register(
            "degraded_seconds",
            "Seconds served in degraded mode while the provider failed",
            self.degraded_seconds.clone(),
        );
        registry.register(
            "breaker_open",
            "1 while the token endpoint's circuit breaker is open",
            self.breaker_open.clone(),
        );
        registry.register(
            "tokens_served",
            "Token requests answered",
            self.tokens_served.clone(),
        );
        registry.register(
            "token_waits",
            "Token requests that waited for a refresh",
            self.token_waits.clone(),
        );
        registry.register(
            "lock_waits",
            "Waits of 100 ms or more for the cross-process refresh lock, by any process",
            self.lock_waits.clone(),
        );
        registry.register(
            "lock_wait_seconds",
            "Seconds spent in those waits",
            self.lock_wait_seconds.clone(),
        );
        registry.register(
            "token_age_seconds",
            "Seconds since the current access token was issued",
            self.token_age.clone(),
        );
        registry.register(
            "refresh_token_expires_in_seconds",
            "Seconds until the refresh token expires and a new login is needed",
            self.refresh_token_expires_in.clone(),
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// The label of `profile`.
    pub fn profile(profile: &str) -> ProfileLabel {
        ProfileLabel {
            profile: profile.to_string(),
        }
    }

    /// The label of `profile` with `outcome`.
    pub fn outcome(profile: &str, outcome: &str) -> ProfileOutcome {
        ProfileOutcome {
            profile: profile.to_string(),
            outcome: outcome.to_string(),
        }
    }
}
