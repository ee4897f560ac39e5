//! [`ChangeFeed`]: how a store shared with other machines tells a running process that a
//! profile's tokens changed elsewhere (a refresh, a new login, a rejection, a logout), so that
//! its cache drops what it holds instead of serving a replaced token until it expires.
//!
//! A store that has one hands it out from [`super::Store::changes`] (the PostgreSQL store:
//! `LISTEN`/`NOTIFY`); the local store has none (every process reads the same file). Two ways
//! to follow it:
//! - [`ChangeFeed::generation`]: a counter bumped on every change, one atomic load: what the
//!   session's fast path compares before it trusts its cached token;
//! - [`ChangeFeed::subscribe`]: every [`Change`] as it arrives, for a long-running process
//!   that keeps tokens of its own (an agent).
//!
//! A [`Change`] with no profile means "anything may have changed" (the feed was interrupted
//! and resumed, so changes may have been missed): drop everything.

use super::Version;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One change, as the feed announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The profile whose tokens changed; `None`: any may have (re-read everything).
    pub profile: Option<String>,
    /// The version stored now; `None` when the tokens were deleted, or not known.
    pub version: Option<Version>,
}

/// The changes of a shared store. Cheap to clone (clones share the feed).
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    generation: AtomicU64,
    tx: tokio::sync::broadcast::Sender<Change>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed::new()
    }
}

impl ChangeFeed {
    /// A feed with nothing announced yet.
    pub fn new() -> ChangeFeed {
        ChangeFeed {
            inner: Arc::new(Inner {
                generation: AtomicU64::new(0),
                tx: tokio::sync::broadcast::channel(256).0,
            }),
        }
    }

    /// How many changes were announced so far (it only grows).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Every change announced from now on. A receiver that falls more than 256 changes
    /// behind is told it lagged: it should then re-read everything.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.inner.tx.subscribe()
    }

    /// Announces `change` (stores only).
    pub fn publish(&self, change: Change) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        // No receiver is fine: the generation carries it.
        let _ = self.inner.tx.send(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_counts_and_subscribers_hear() {
        let feed = ChangeFeed::new();
        let mut rx = feed.subscribe();
        assert_eq!(feed.generation(), 0);
        let change = Change {
            profile: Some("p".into()),
            version: Some(Version::from_raw(3)),
        };
        feed.clone().publish(change.clone());
        assert_eq!(feed.generation(), 1);
        assert_eq!(rx.try_recv().unwrap(), change);
    }
}
