//! The shared state of one running server: its configuration, the store of issued
//! credentials, statistics, the fault plan, the signing key and the clock.
//!
//! Each mutable part sits behind its own `std::sync::Mutex`, held only for short, synchronous
//! critical sections (never across an `.await`). A poisoned lock is recovered, not propagated:
//! a panic in one request must not take the server down for the rest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use tokio::sync::watch;

use crate::clock::{self, Clock};
use crate::config::Config;
use crate::faults::FaultState;
use crate::keys::{IdClaims, KeyError, Keys};
use crate::oauth::OAuthError;
use crate::sites::{Mounts, Site};
use crate::stats::Stats;
use crate::store::{Family, Store};

/// How many `/token` requests [`AppState::received`] keeps (the newest).
const RECEIVED_KEPT: usize = 1024;

/// A `/token` request as it arrived: every body parameter and the `Authorization` header,
/// secrets included. A test server shows its tests exactly what a client sent (a leak test
/// needs the PKCE verifier, the device code and the client credentials a client presented).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedTokenRequest {
    /// The body parameters, in order (form or JSON).
    pub params: Vec<(String, String)>,
    /// The `Authorization` header, when sent.
    pub authorization: Option<String>,
}

impl ReceivedTokenRequest {
    /// The value of the parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: Config,
    pub issuer: String,
    /// The external paths served and the site each answers for.
    pub mounts: Mounts,
    /// The ID-token signing key (replaced when rotated).
    keys: RwLock<Keys>,
    pub clock: Clock,
    store: Mutex<Store>,
    stats: Mutex<Stats>,
    faults: Mutex<FaultState>,
    request_seq: AtomicU64,
    request_prefix: u32,
    received: Mutex<std::collections::VecDeque<ReceivedTokenRequest>>,
    /// Turns true (or closes) when the server shuts down; long waits watch it.
    pub shutdown: watch::Receiver<bool>,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    pub fn new(
        config: Config,
        issuer: String,
        keys: Keys,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let faults = FaultState::new(config.faults.clone());
        let mounts = Mounts::new(&config, &issuer);
        AppState {
            config,
            issuer,
            mounts,
            keys: RwLock::new(keys),
            clock: Clock::default(),
            store: Mutex::new(Store::default()),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(faults),
            request_seq: AtomicU64::new(0),
            request_prefix: rand::random(),
            received: Mutex::new(std::collections::VecDeque::new()),
            shutdown,
        }
    }

    /// Keeps `req` among the newest [`RECEIVED_KEPT`] `/token` requests.
    pub fn receive(&self, req: ReceivedTokenRequest) {
        let mut r = relock(&self.received);
        if r.len() == RECEIVED_KEPT {
            r.pop_front();
        }
        r.push_back(req);
    }

    /// The `/token` requests kept, oldest first.
    pub fn received(&self) -> Vec<ReceivedTokenRequest> {
        relock(&self.received).iter().cloned().collect()
    }

    /// Now, for every expiry decision.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The clock-skew fault in force, in signed seconds.
    pub fn skew_s(&self) -> i64 {
        self.faults().clock_skew_s()
    }

    /// Now as the server shows it (the `Date` header): the clock plus the skew fault.
    pub fn shown_now(&self) -> SystemTime {
        clock::shifted(self.now(), self.skew_s())
    }

    /// The JWK Set published at `/jwks`.
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).jwks()
    }

    /// Replaces the signing key (the old one stays published); returns the new `kid`.
    pub fn rotate_key(&self) -> Result<String, KeyError> {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        *keys = keys.rotated()?;
        Ok(keys.kid().to_owned())
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        relock(&self.stats)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        relock(&self.faults)
    }

    /// A request id unique within this server (and very likely beyond).
    pub fn next_request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("mock-{:08x}-{n:06}", self.request_prefix)
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// Signs an ID token for a family (OIDC Core §2; §12.2 on refresh keeps the nonce), with
    /// the issuer (and tenant) of the site it is issued at.
    pub fn id_token(
        &self,
        family: &Family,
        now: SystemTime,
        site: &Site,
    ) -> Result<String, OAuthError> {
        let skew = self.skew_s();
        let iat = clock::unix_secs(now, skew);
        let ttl = i64::try_from(self.config.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = IdClaims {
            iss: &site.token_issuer,
            tid: site
                .tid
                .as_deref()
                .map(|t| self.config.id_token_tid.as_deref().unwrap_or(t)),
            sub: &self.config.subject,
            aud: &family.client_id,
            azp: &family.client_id,
            exp: iat.saturating_add(ttl),
            iat,
            auth_time: clock::unix_secs(family.auth_time, skew),
            nonce: family.nonce.as_deref(),
        };
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .sign(&claims)
            .map_err(|e| OAuthError::server_error(format!("cannot sign the ID token: {e}")))
    }
}
