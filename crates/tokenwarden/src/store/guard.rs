//! The refresh lock as every store hands it out: [`RefreshGuard`], held while one caller
//! refreshes a profile and released on drop; the bounded wait for it (`poll_until`) and the
//! error when that wait runs out (`wait_exceeded`), which do not depend on how a backend
//! locks.
//!
//! Each backend brings its own guard: the SQLite store a kernel advisory lock on a file
//! ([`super::lock`]), the memory store an in-process lock table, a database server a lock on
//! a connection the guard owns (released by the server when that connection ends, so also when
//! the holder dies).

use super::perms::shell_quote;
use crate::error::Error;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A held refresh lock of one profile, from [`super::Store::try_lock_profile`] or
/// [`super::Store::lock_profile`]. Dropping it releases the lock. Other processes (and, for a
/// shared store, other machines) see it; threads of one process are serialised by the
/// session's own mutex before they take it.
pub trait RefreshGuard: Send + fmt::Debug {
    /// The profile this lock is for.
    fn profile(&self) -> &str;
}

/// Calls `attempt` until it gives `Some`, or `wait` has passed (then `None`). Sleeps between
/// attempts start at 1 ms and double up to 50 ms, never past the deadline.
pub(crate) fn poll_until<T, E>(
    wait: Duration,
    mut attempt: impl FnMut() -> std::result::Result<Option<T>, E>,
) -> std::result::Result<Option<T>, E> {
    // Counted as time elapsed, not as a deadline: no `wait` can overflow an `Instant`.
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(found) = attempt()? {
            return Ok(Some(found));
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Ok(None);
        }
        std::thread::sleep(pause.min(wait - waited));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The Store error of a wait of `wait` for the refresh lock of `profile` that ran out; `path`
/// and `holder` name the lock file and the holder's PID when the backend knows them.
pub(crate) fn wait_exceeded(
    profile: &str,
    wait: Duration,
    path: Option<&Path>,
    holder: Option<u32>,
) -> Error {
    let by = match holder {
        Some(pid) => format!("another process (pid {pid})"),
        None => "another process".to_string(),
    };
    let mut hint = format!(
        "{by} is refreshing profile {profile:?} and has not finished; try again in a moment. \
         If it is stuck, end it: its lock is released the moment it exits"
    );
    if let Some(path) = path {
        hint.push_str(&format!(
            " (`fuser -v {}` shows it)",
            shell_quote(&path.display().to_string())
        ));
    }
    hint.push_str(
        ". If the provider is only slow, raise `lock_wait` in the profile (by default it covers \
         the longest refresh the retry policy allows)",
    );
    let file = path
        .map(|p| format!(" (lock file {})", p.display()))
        .unwrap_or_default();
    Error::store(format!(
        "waited {} for the refresh lock of profile {profile:?}{file} held by {by}",
        crate::human::duration(wait)
    ))
    .with_hint(hint)
}
