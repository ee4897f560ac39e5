//! [`MemoryStore`]: the [`Store`] semantics in memory, for tests of the session and of anything
//! built on a store. Versions, compare-and-swap, states and the breaker behave as in the SQLite
//! store; the refresh lock is an in-process lock table ([`MemoryLock`]) with the same bounded
//! wait and error.

use super::guard::{RefreshGuard, wait_exceeded};
use super::{
    BreakerBackend, BreakerRecord, CasOutcome, DiscoveryKind, Event, LastError, PendingRevocation,
    Retention, Store, StoredDiscovery, StoredTokens, TokenState, Version, truncate_breaker,
    truncate_duration_ms, truncate_ms,
};
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use crate::token::TokenSet;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A [`Store`] held in memory. Share it between "processes" of a test with an `Arc`.
pub struct MemoryStore {
    state: Mutex<State>,
    locks: Arc<LockTable>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    rows: BTreeMap<String, StoredTokens>,
    last_version: i64,
    breakers: HashMap<String, BreakerRecord>,
    /// What [`Store::keep_unwritten`] kept: the version it replaces, and the tokens.
    unwritten: HashMap<String, (Version, TokenSet)>,
    /// Pending revocations, oldest first, and the last id given.
    revocations: Vec<PendingRevocation>,
    last_revocation_id: i64,
    events: Vec<Event>,
    appended: u64,
    retention: Retention,
    /// Discovery documents by issuer and kind.
    discovery: HashMap<(String, DiscoveryKind), StoredDiscovery>,
}

#[derive(Default)]
struct LockTable {
    held: Mutex<HashSet<String>>,
    released: Condvar,
}

/// The refresh lock of one profile in a [`MemoryStore`]; released on drop.
pub struct MemoryLock {
    table: Arc<LockTable>,
    profile: String,
}

impl std::fmt::Debug for MemoryLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLock")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl RefreshGuard for MemoryLock {
    fn profile(&self) -> &str {
        &self.profile
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        let mut held = self
            .table
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.remove(&self.profile);
        self.table.released.notify_all();
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::default()),
            locks: Arc::new(LockTable::default()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for `updated_at` and `last_refresh_at`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> MemoryStore {
        self.clock = clock;
        self
    }

    /// Keeps the event log within `retention` (default: [`Retention::default`]).
    pub fn with_event_retention(self, retention: Retention) -> MemoryStore {
        self.state().retention = retention;
        self
    }

    /// Now, to the millisecond, as the SQLite store keeps times.
    fn now(&self) -> SystemTime {
        truncate_ms(self.clock.now())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below is complete before anything can panic, so a poisoned state is
        // still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(
        &self,
        state: &mut State,
        profile: &str,
        tokens: &TokenSet,
        last_refresh_at: Option<SystemTime>,
    ) -> Version {
        state.last_version += 1;
        let version = Version::from_raw(state.last_version);
        let mut tokens = tokens.clone();
        tokens.expires_at = tokens.expires_at.map(truncate_ms);
        tokens.obtained_at = truncate_ms(tokens.obtained_at);
        tokens.refresh_token_obtained_at = tokens.refresh_token_obtained_at.map(truncate_ms);
        tokens.refresh_token_expires_at = tokens.refresh_token_expires_at.map(truncate_ms);
        state.rows.insert(
            profile.to_string(),
            StoredTokens {
                profile: profile.to_string(),
                tokens,
                version,
                state: TokenState::Valid,
                last_error: None,
                last_refresh_at: last_refresh_at.map(truncate_ms),
                refresh_failure_transient: false,
                updated_at: self.now(),
            },
        );
        version
    }

    fn try_take(&self, profile: &str) -> Option<MemoryLock> {
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.take_if_free(&mut held, profile)
    }

    fn take_if_free(&self, held: &mut HashSet<String>, profile: &str) -> Option<MemoryLock> {
        if !held.insert(profile.to_string()) {
            return None;
        }
        Some(MemoryLock {
            table: Arc::clone(&self.locks),
            profile: profile.to_string(),
        })
    }
}

impl BreakerBackend for MemoryStore {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        Ok(self.state().breakers.get(key).cloned().unwrap_or_default())
    }

    fn save(&self, key: &str, record: &BreakerRecord) -> Result<()> {
        self.state()
            .breakers
            .insert(key.to_string(), truncate_breaker(record));
        Ok(())
    }

    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        let mut state = self.state();
        let mut record = state.breakers.get(key).cloned().unwrap_or_default();
        f(&mut record);
        let record = truncate_breaker(&record);
        state.breakers.insert(key.to_string(), record.clone());
        Ok(record)
    }

    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>> {
        let state = self.state();
        let mut all: Vec<_> = state
            .breakers
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

impl Store for MemoryStore {
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>> {
        let mut state = self.state();
        if let Some((expected, tokens)) = state.unwritten.remove(profile) {
            let current = state.rows.get(profile).map_or(Version::NONE, |r| r.version);
            if current == expected {
                let now = self.now();
                self.put(&mut state, profile, &tokens, Some(now));
            }
        }
        Ok(state.rows.get(profile).cloned())
    }

    fn keep_unwritten(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<String> {
        self.state()
            .unwritten
            .insert(profile.to_string(), (expected, tokens.clone()));
        Ok("memory".to_string())
    }

    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        let mut state = self.state();
        let current = state.rows.get(profile);
        let current_version = current.map_or(Version::NONE, |r| r.version);
        if current_version != expected {
            return Ok(CasOutcome::Conflict(current.cloned().map(Box::new)));
        }
        let last_refresh_at = (expected != Version::NONE).then(|| self.now());
        Ok(CasOutcome::Written(self.put(
            &mut state,
            profile,
            tokens,
            last_refresh_at,
        )))
    }

    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version> {
        let mut state = self.state();
        Ok(self.put(&mut state, profile, tokens, None))
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        Ok(self.state().rows.remove(profile).is_some())
    }

    fn delete_keeping_revocations(
        &self,
        profile: &str,
        version: Version,
        pending: &[(TokenTypeHint, SecretString)],
        error: &LastError,
    ) -> Result<bool> {
        let now = self.now();
        let mut state = self.state();
        let deleted = match state.rows.get(profile) {
            Some(row) if row.version == version => state.rows.remove(profile).is_some(),
            _ => false,
        };
        for (hint, token) in pending {
            state.last_revocation_id += 1;
            let id = state.last_revocation_id;
            state.revocations.push(PendingRevocation {
                id,
                profile: profile.to_string(),
                hint: *hint,
                token: token.clone(),
                since: now,
                attempts: 1,
                last_error: Some(error.clone()),
            });
        }
        Ok(deleted)
    }

    fn pending_revocations(&self, profile: &str) -> Result<Vec<PendingRevocation>> {
        let state = self.state();
        Ok(state
            .revocations
            .iter()
            .filter(|r| r.profile == profile)
            .cloned()
            .collect())
    }

    fn settle_revocation(&self, id: i64, failure: Option<&LastError>) -> Result<()> {
        let mut state = self.state();
        match failure {
            None => state.revocations.retain(|r| r.id != id),
            Some(e) => {
                if let Some(r) = state.revocations.iter_mut().find(|r| r.id == id) {
                    r.attempts = r.attempts.saturating_add(1);
                    r.last_error = Some(e.clone());
                }
            }
        }
        Ok(())
    }

    fn list_profiles(&self) -> Result<Vec<String>> {
        Ok(self.state().rows.keys().cloned().collect())
    }

    fn mark_rejected(&self, profile: &str, version: Version) -> Result<bool> {
        let now = self.now();
        let mut state = self.state();
        match state.rows.get_mut(profile) {
            Some(row) if row.version == version => {
                if !matches!(row.state, TokenState::LoginRequired { .. }) {
                    row.state = TokenState::Rejected;
                }
                row.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn mark_state(
        &self,
        profile: &str,
        version: Version,
        new_state: TokenState,
        last_error: Option<&LastError>,
        transient: bool,
    ) -> Result<bool> {
        let now = self.now();
        let mut state = self.state();
        match state.rows.get_mut(profile) {
            Some(row) if row.version == version => {
                row.state = new_state;
                row.last_error = last_error.cloned();
                row.refresh_failure_transient = transient;
                row.last_refresh_at = Some(now);
                row.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool> {
        let now = self.now();
        let mut state = self.state();
        match state.rows.get_mut(profile) {
            Some(row) if row.version == version => {
                row.refresh_failure_transient = in_flight;
                row.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn record_refresh_failure(
        &self,
        profile: &str,
        version: Version,
        last_error: &LastError,
        maybe_rotated: bool,
    ) -> Result<bool> {
        let now = self.now();
        let mut state = self.state();
        match state.rows.get_mut(profile) {
            Some(row) if row.version == version => {
                row.last_error = Some(last_error.clone());
                row.refresh_failure_transient = maybe_rotated;
                row.last_refresh_at = Some(now);
                row.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Waits on a condition variable: a release wakes the waiters at once.
    fn lock_profile(&self, profile: &str, wait: Duration) -> Result<Box<dyn RefreshGuard>> {
        let started = Instant::now();
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(lock) = self.take_if_free(&mut held, profile) {
                return Ok(Box::new(lock));
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(wait_exceeded(profile, wait, None, None));
            }
            held = self
                .locks
                .released
                .wait_timeout(held, wait - waited)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn try_lock_profile(&self, profile: &str) -> Result<Option<Box<dyn RefreshGuard>>> {
        Ok(self
            .try_take(profile)
            .map(|lock| Box::new(lock) as Box<dyn RefreshGuard>))
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        let mut event = event.clone();
        event.at = truncate_ms(event.at);
        event.duration = event.duration.map(truncate_duration_ms);
        let mut state = self.state();
        let at = event.at;
        state.events.push(event);
        state.appended += 1;
        let r = state.retention;
        if r.prune_every > 0 && state.appended.is_multiple_of(r.prune_every) {
            prune(&mut state.events, r.before(at), r.max_events);
        }
        Ok(())
    }

    fn recent_events(
        &self,
        since: SystemTime,
        profile: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let mut events: Vec<Event> = self
            .state()
            .events
            .iter()
            .filter(|e| e.at >= since && profile.is_none_or(|p| e.profile == p))
            .cloned()
            .collect();
        // Stable: records of the same millisecond stay in the order appended.
        events.sort_by_key(|e| e.at);
        let excess = events.len().saturating_sub(limit);
        events.drain(..excess);
        Ok(events)
    }

    fn prune_events(&self, before: SystemTime, keep: usize) -> Result<usize> {
        Ok(prune(&mut self.state().events, before, keep))
    }

    fn read_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<Option<StoredDiscovery>> {
        let key = (issuer.to_string(), kind);
        Ok(self.state().discovery.get(&key).cloned())
    }

    fn write_discovery(&self, doc: &StoredDiscovery) -> Result<()> {
        self.state()
            .discovery
            .insert((doc.issuer.clone(), doc.kind), doc.truncated());
        Ok(())
    }

    fn forget_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<()> {
        self.state().discovery.remove(&(issuer.to_string(), kind));
        Ok(())
    }
}

/// Deletes the records older than `before`, then all but the newest `keep`; how many went.
fn prune(events: &mut Vec<Event>, before: SystemTime, keep: usize) -> usize {
    let len = events.len();
    events.retain(|e| e.at >= before);
    let excess = events.len().saturating_sub(keep);
    events.drain(..excess);
    len - events.len()
}
