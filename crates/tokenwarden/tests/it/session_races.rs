//! Races between a refresh and a rejection, made deterministic: a store that runs a step of
//! "another caller" right after one of its reads returns, at exactly the moment the race needs.
//! - an invalidation landing between a slow path's store read and its cache update must not be
//!   undone by the cache;
//! - a rejection recorded by another process while a refresh is under way must not be undone by
//!   the refresh's own bookkeeping (the in-flight mark, the failure record);
//! - a store held by another process when a refresh's answer is to be written: the write is
//!   tried again, and when the store never takes it, it is kept for the next read.

use super::session::{Fixture, PROFILE, Scripted, unavailable};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokenwarden::Result;
use tokenwarden::session::Session;
use tokenwarden::store::{
    BreakerBackend, BreakerRecord, CasOutcome, Event, LastError, MemoryStore, RefreshGuard, Store,
    StoredTokens, TokenState, Version,
};
use tokenwarden::token::TokenSet;

/// A step run once, right after the `n`-th read (from 1) returned.
type Step = Box<dyn FnOnce() + Send>;

/// A [`MemoryStore`] that runs a step after a given read.
struct HookStore {
    inner: Arc<MemoryStore>,
    reads: Mutex<usize>,
    after_read: Mutex<Option<(usize, Step)>>,
    /// How many more token writes fail as if another process held the store.
    busy_writes: Mutex<u32>,
}

impl HookStore {
    fn new(inner: Arc<MemoryStore>) -> Arc<HookStore> {
        Arc::new(HookStore {
            inner,
            reads: Mutex::new(0),
            after_read: Mutex::new(None),
            busy_writes: Mutex::new(0),
        })
    }

    /// The next `n` token writes fail as they do while another process holds the store.
    fn busy_writes(&self, n: u32) {
        *self.busy_writes.lock().unwrap() = n;
    }

    /// Runs `step` right after the `n`-th read from now returns its result.
    fn after_read(&self, n: usize, step: impl FnOnce() + Send + 'static) {
        *self.reads.lock().unwrap() = 0;
        *self.after_read.lock().unwrap() = Some((n, Box::new(step)));
    }
}

impl BreakerBackend for HookStore {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        self.inner.load(key)
    }

    fn save(&self, key: &str, rec: &BreakerRecord) -> Result<()> {
        self.inner.save(key, rec)
    }

    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>> {
        self.inner.breaker_records()
    }
}

impl Store for HookStore {
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>> {
        let result = self.inner.read(profile);
        let n = {
            let mut reads = self.reads.lock().unwrap();
            *reads += 1;
            *reads
        };
        let step = {
            let mut hook = self.after_read.lock().unwrap();
            match hook.take() {
                Some((at, step)) if at == n => Some(step),
                other => {
                    *hook = other;
                    None
                }
            }
        };
        if let Some(step) = step {
            step();
        }
        result
    }

    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        {
            let mut busy = self.busy_writes.lock().unwrap();
            if *busy > 0 {
                *busy -= 1;
                return Err(tokenwarden::Error::store(
                    "the token database is locked by another process",
                )
                .with_cause(tokenwarden::error::Cause::StoreBusy));
            }
        }
        self.inner.write_if_version(profile, expected, tokens)
    }

    fn keep_unwritten(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<String> {
        self.inner.keep_unwritten(profile, expected, tokens)
    }

    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version> {
        self.inner.replace(profile, tokens)
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.inner.delete(profile)
    }

    fn list_profiles(&self) -> Result<Vec<String>> {
        self.inner.list_profiles()
    }

    fn mark_rejected(&self, profile: &str, version: Version) -> Result<bool> {
        self.inner.mark_rejected(profile, version)
    }

    fn mark_state(
        &self,
        profile: &str,
        version: Version,
        state: TokenState,
        last_error: Option<&LastError>,
        transient: bool,
    ) -> Result<bool> {
        self.inner
            .mark_state(profile, version, state, last_error, transient)
    }

    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool> {
        self.inner.mark_in_flight(profile, version, in_flight)
    }

    fn record_refresh_failure(
        &self,
        profile: &str,
        version: Version,
        last_error: &LastError,
        maybe_rotated: bool,
    ) -> Result<bool> {
        self.inner
            .record_refresh_failure(profile, version, last_error, maybe_rotated)
    }

    fn lock_profile(&self, profile: &str, wait: Duration) -> Result<Box<dyn RefreshGuard>> {
        self.inner.lock_profile(profile, wait)
    }

    fn try_lock_profile(&self, profile: &str) -> Result<Option<Box<dyn RefreshGuard>>> {
        self.inner.try_lock_profile(profile)
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        self.inner.append_event(event)
    }

    fn recent_events(
        &self,
        since: std::time::SystemTime,
        profile: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.inner.recent_events(since, profile, limit)
    }

    fn prune_events(&self, before: std::time::SystemTime, keep: usize) -> Result<usize> {
        self.inner.prune_events(before, keep)
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// A session over a hook store on the fixture's memory store.
fn hooked(f: &Fixture, grants: &Arc<Scripted>) -> (Arc<Session>, Arc<HookStore>) {
    let store = HookStore::new(f.store.clone());
    let session = Arc::new(Session::new(
        PROFILE,
        store.clone(),
        grants.clone(),
        f.clock.clone(),
        tokenwarden::session::SessionOptions::default(),
    ));
    (session, store)
}

#[tokio::test]
async fn an_invalidation_between_a_store_read_and_the_cache_update_sticks() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    // A token of the login, as another task of the process holds it: the API will refuse it.
    let held = f
        .session(&Scripted::new(|_, _| Err(unavailable())))
        .get_token(Duration::ZERO)
        .await
        .unwrap();
    let (s, store) = hooked(&f, &grants);
    // The first caller reads the store (the token is still valid there); right then the task
    // whose request the API refused invalidates that token through the same session.
    let weak: Arc<OnceLock<Weak<Session>>> = Arc::new(OnceLock::new());
    weak.set(Arc::downgrade(&s)).ok();
    let w = weak.clone();
    store.after_read(1, move || {
        let session = w.get().and_then(Weak::upgrade).expect("the session");
        session.invalidate(&held).unwrap();
    });
    let first = s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(
        first.access_token().expose(),
        "at-login",
        "read before the rejection"
    );
    assert_eq!(f.stored().state, TokenState::Rejected);
    let next = s.get_token(Duration::ZERO).await.unwrap();
    assert_ne!(
        next.version(),
        first.version(),
        "the rejected token must not come back from the cache"
    );
    assert_eq!(next.access_token().expose(), "at-r0");
    assert_eq!(grants.calls(), 1);
}

#[tokio::test]
async fn a_rejection_before_the_in_flight_mark_is_not_undone() {
    let f = Fixture::new(MINUTE);
    let grants = Scripted::new(|_, _| Err(unavailable()));
    let (s, store) = hooked(&f, &grants);
    let v = f.stored().version;
    // Inside the window the caller refreshes; right after its re-read under the lock another
    // process records that the API refused this token.
    let inner = f.store.clone();
    store.after_read(2, move || {
        assert!(inner.mark_rejected(PROFILE, v).unwrap());
    });
    f.at(40);
    s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(grants.calls(), 1);
    let st = f.stored();
    assert_eq!(
        st.state,
        TokenState::Rejected,
        "neither the in-flight mark nor the failure record may undo the rejection"
    );
    assert!(st.refresh_failure_transient);
    assert!(st.last_error.is_some_and(|e| e.message.contains("503")));
}

#[tokio::test]
async fn a_rejection_during_the_refresh_request_is_not_undone() {
    let f = Fixture::new(MINUTE);
    let (inner, v) = (f.store.clone(), f.stored().version);
    let grants = Scripted::new(move |_, _| {
        // While the request is out, another process's API call is refused.
        assert!(inner.mark_rejected(PROFILE, v).unwrap());
        Err(unavailable())
    });
    let s = f.session(&grants);
    f.at(40);
    s.get_token(Duration::ZERO).await.unwrap();
    assert_eq!(f.stored().state, TokenState::Rejected);
    // So the next caller refreshes instead of using the rejected token.
    let e = s
        .get_token(Duration::ZERO)
        .await
        .expect_err("rejected, and the provider still fails");
    assert_eq!(e.kind(), tokenwarden::ErrorKind::ProviderUnavailable);
    assert!(
        e.message().contains("rejected by the API"),
        "{}",
        e.report()
    );
    assert_eq!(grants.calls(), 2);
}

#[tokio::test]
async fn a_refreshed_token_set_waits_for_a_busy_store_then_is_stored() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let (s, store) = hooked(&f, &grants);
    f.clock.advance(2 * MINUTE);
    store.busy_writes(3);
    let t = s
        .get_token(Duration::ZERO)
        .await
        .expect("stored after the store was free");
    assert_eq!(t.access_token().expose(), "at-r0");
    assert_eq!(f.stored().tokens.access_token.expose(), "at-r0");
    assert_eq!(
        grants.calls(),
        1,
        "one refresh, written once the store was free"
    );
}

#[tokio::test]
async fn a_refreshed_token_set_the_store_never_takes_is_kept_for_the_next_read() {
    let f = Fixture::new(MINUTE);
    let grants = f.rotating(MINUTE);
    let store = HookStore::new(f.store.clone());
    let s = Session::new(
        PROFILE,
        store.clone(),
        grants.clone(),
        f.clock.clone(),
        tokenwarden::session::SessionOptions {
            store_write_wait: Duration::ZERO,
            ..tokenwarden::session::SessionOptions::default()
        },
    );
    f.clock.advance(2 * MINUTE);
    let login = f.stored();
    store.busy_writes(u32::MAX);
    let err = s.get_token(Duration::ZERO).await.expect_err("not stored");
    assert_eq!(err.kind(), tokenwarden::ErrorKind::Store);
    assert_eq!(err.cause(), Some(tokenwarden::error::Cause::StoreBusy));
    assert!(
        err.message().contains("sealed into memory")
            && err.message().contains("stores before anything else"),
        "{}",
        err.message()
    );
    assert!(
        err.hint()
            .unwrap_or_default()
            .contains("nothing needs a new login"),
        "{:?}",
        err.hint()
    );
    assert!(!err.message().contains("at-r0"), "no secret in the message");
    // The store is free again: the next read stores the kept tokens first, over the version
    // they replace, and no second refresh is needed.
    store.busy_writes(0);
    let next = f.stored();
    assert_eq!(next.tokens.access_token.expose(), "at-r0");
    assert!(next.version > login.version);
    let t = s.get_token(Duration::ZERO).await.expect("token");
    assert_eq!(t.access_token().expose(), "at-r0");
    assert_eq!(grants.calls(), 1);
}
