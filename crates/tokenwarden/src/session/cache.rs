//! The fast path's cache: the token a session last handed out, read by any number of threads
//! without a lock and without writing to memory that another thread reads.
//!
//! The shared copy sits behind an `RwLock`, with a generation counter bumped on every change.
//! Each thread keeps its own copy (thread-local), tagged with the generation it was taken at. A
//! read loads the generation (one atomic load of a cache line only writers change), finds its
//! own copy still current, and clones the token from it. Only a change (a refresh, an
//! invalidation) sends threads back to the lock, once each.
//!
//! Why not just the `RwLock`: its readers all write the lock's reader count, and cloning an
//! `Arc` from it writes the shared reference count, so the cache line bounces between cores and
//! a second thread lowered the total throughput (`bench/benches/get_token.rs` at the repository
//! root).
//!
//! A version rejected by a resource server ([`Cache::reject`]) is never cached again, nor any
//! older one: a slow path that read the store just before the rejection was recorded cannot put
//! that token back (it would be handed out to every later caller).
//!
//! A thread keeps copies for at most [`MAX_SLOTS`] sessions; a dropped session's copy on other
//! threads stays until evicted or the thread ends (its own thread's copy goes with it).

use super::Token;
use crate::store::{StoredTokens, TokenState, Version};
use std::cell::RefCell;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Sessions whose copies one thread keeps at once.
const MAX_SLOTS: usize = 8;

/// Tells sessions apart in the thread-local slots.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static SLOTS: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// One thread's copy of one session's cache.
struct Slot {
    cache: u64,
    generation: u64,
    entry: Option<Entry>,
}

/// A cached token with what the freshness check needs.
#[derive(Clone)]
struct Entry {
    token: Token,
    /// When it enters the proactive window (its expiry less the window); `None` when it does
    /// not expire.
    fresh_until: Option<SystemTime>,
}

impl Entry {
    /// The token, if it stays valid for `min_ttl` beyond the proactive window at `now`.
    fn fresh(&self, now: SystemTime, min_ttl: Duration) -> Option<Token> {
        let fresh = match self.fresh_until {
            None => true,
            Some(until) => now.checked_add(min_ttl).is_some_and(|need| until > need),
        };
        fresh.then(|| self.token.clone())
    }

    /// The same entry with a token body of its own, for one thread's copy.
    fn unshared(&self) -> Entry {
        Entry {
            token: self.token.unshared(),
            fresh_until: self.fresh_until,
        }
    }
}

/// What the lock guards: the entry, and the newest version known to be rejected.
#[derive(Default)]
struct Shared {
    entry: Option<Entry>,
    rejected: Option<Version>,
}

/// The cache of one session.
pub(super) struct Cache {
    id: u64,
    refresh_skew: Duration,
    generation: AtomicU64,
    shared: RwLock<Shared>,
}

impl Cache {
    /// An empty cache; `refresh_skew` sizes the proactive window.
    pub(super) fn new(refresh_skew: Duration) -> Cache {
        Cache {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            refresh_skew,
            generation: AtomicU64::new(0),
            shared: RwLock::new(Shared::default()),
        }
    }

    /// The cached token when it is fresh for `min_ttl` at `now`.
    pub(super) fn fresh(&self, now: SystemTime, min_ttl: Duration) -> Option<Token> {
        let generation = self.generation.load(Ordering::Acquire);
        let local = SLOTS.try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            if let Some(slot) = slots
                .iter()
                .find(|s| s.cache == self.id && s.generation == generation)
            {
                return Some(slot.entry.as_ref().and_then(|e| e.fresh(now, min_ttl)));
            }
            // Everything written before `generation` was published is visible now, so this copy
            // is at least that new (a newer one only costs one more visit to the lock).
            let entry = self.shared_entry().map(|e| e.unshared());
            let token = entry.as_ref().and_then(|e| e.fresh(now, min_ttl));
            slots.retain(|s| s.cache != self.id);
            if slots.len() >= MAX_SLOTS {
                slots.remove(0);
            }
            slots.push(Slot {
                cache: self.id,
                generation,
                entry,
            });
            Some(token)
        });
        match local {
            Ok(Some(token)) => token,
            // The thread is ending, or (not expected) the slots are in use: ask the lock.
            _ => self.shared_entry().and_then(|e| e.fresh(now, min_ttl)),
        }
    }

    fn shared_entry(&self) -> Option<Entry> {
        self.shared
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry
            .clone()
    }

    /// Caches `stored` (only a valid one; anything else empties the cache). A version known to
    /// be rejected, or older than one, is refused.
    pub(super) fn set(&self, stored: &StoredTokens) {
        if stored.state != TokenState::Valid {
            self.clear();
            return;
        }
        let mut shared = self.write();
        if shared.rejected.is_some_and(|r| stored.version <= r) {
            return;
        }
        if shared
            .entry
            .as_ref()
            .is_some_and(|e| e.token.version() == stored.version)
        {
            return;
        }
        let window = stored.tokens.proactive_window(self.refresh_skew);
        shared.entry = Some(Entry {
            token: Token::from_stored(stored),
            fresh_until: stored
                .tokens
                .expires_at
                .map(|exp| exp.checked_sub(window).unwrap_or(std::time::UNIX_EPOCH)),
        });
        self.publish(shared);
    }

    /// Remembers that `version` was rejected: it (and anything older) leaves the cache and is
    /// never cached again.
    pub(super) fn reject(&self, version: Version) {
        let mut shared = self.write();
        shared.rejected = shared.rejected.max(Some(version));
        if shared
            .entry
            .as_ref()
            .is_some_and(|e| e.token.version() <= version)
        {
            shared.entry = None;
        }
        self.publish(shared);
    }

    /// Empties the cache: the next call reads the store.
    pub(super) fn clear(&self) {
        let mut shared = self.write();
        shared.entry = None;
        self.publish(shared);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Shared> {
        self.shared
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bumps the generation while still holding the lock, then releases it: a reader that sees
    /// the new generation finds the new entry.
    fn publish(&self, shared: std::sync::RwLockWriteGuard<'_, Shared>) {
        self.generation.fetch_add(1, Ordering::Release);
        drop(shared);
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = SLOTS.try_with(|cell| {
            if let Ok(mut slots) = cell.try_borrow_mut() {
                slots.retain(|s| s.cache != self.id);
            }
        });
    }
}
