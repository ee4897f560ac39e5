//! The locking gates of a refresh: the in-process mutex, then the store's cross-process refresh
//! lock, taken at once ([`Session::try_gate`], inside the proactive window) or waited for up to
//! `lock_wait` ([`Session::wait_gate`]); and what a caller gets when that wait runs out.

use super::{Session, Token};
use crate::error::{Error, Result};
use crate::events::{Operation, Outcome};
use crate::store::{RefreshGuard, TokenState};
use std::time::{Duration, Instant};

/// Both locks, held by the one caller that refreshes; released on drop.
pub(super) struct Held<'a> {
    _flight: tokio::sync::MutexGuard<'a, ()>,
    _lock: Box<dyn RefreshGuard>,
}

/// How waiting for the locks ended.
pub(super) enum Gate<'a> {
    /// Both held.
    Held(Held<'a>),
    /// `lock_wait` ran out; `in_process` when another task of this process held the mutex.
    TimedOut { waited: Duration, in_process: bool },
}

impl Session {
    /// Both locks if both are free now; `None` when someone else is refreshing.
    pub(super) fn try_gate(&self) -> Result<Option<Held<'_>>> {
        let Ok(flight) = self.flight.try_lock() else {
            return Ok(None);
        };
        Ok(self
            .store
            .try_lock_profile(&self.profile)?
            .map(|lock| Held {
                _flight: flight,
                _lock: lock,
            }))
    }

    /// Both locks, waiting at most `lock_wait` in all. The store's lock is polled (every 2 to
    /// 50 ms), so a holder killed with `kill -9` is noticed within 50 ms.
    pub(super) async fn wait_gate(&self) -> Result<Gate<'_>> {
        let started = Instant::now();
        let wait = self.opts.lock_wait;
        let Ok(flight) = tokio::time::timeout(wait, self.flight.lock()).await else {
            let waited = started.elapsed();
            self.event(Operation::LockWait, Outcome::Timeout, None, Some(waited));
            return Ok(Gate::TimedOut {
                waited,
                in_process: true,
            });
        };
        let mut pause = Duration::from_millis(2);
        let mut announced = false;
        loop {
            if let Some(lock) = self.store.try_lock_profile(&self.profile)? {
                let waited = started.elapsed();
                if waited > Duration::from_millis(100) {
                    self.event(Operation::LockWait, Outcome::Ok, None, Some(waited));
                }
                return Ok(Gate::Held(Held {
                    _flight: flight,
                    _lock: lock,
                }));
            }
            if !announced {
                announced = true;
                tracing::info!(
                    profile = %self.profile,
                    "waiting for the refresh lock of profile `{}`: another process is refreshing (at most {:.1} s)",
                    self.profile,
                    wait.as_secs_f64()
                );
            }
            let waited = started.elapsed();
            if waited >= wait {
                self.event(Operation::LockWait, Outcome::Timeout, None, Some(waited));
                return Ok(Gate::TimedOut {
                    waited,
                    in_process: false,
                });
            }
            tokio::time::sleep(pause.min(wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The wait for the refresh lock ran out while another refresh goes on. What is stored now
    /// is the answer when it serves (the holder may just have finished); a token that has not
    /// hard-expired is handed out with a warning; with nothing usable, a Store error.
    pub(super) fn lock_wait_ran_out(
        &self,
        waited: Duration,
        in_process: bool,
        min_ttl: Duration,
    ) -> Result<Token> {
        let t = self.read()?;
        let now = self.clock.now();
        if matches!(t.state, TokenState::LoginRequired { .. }) {
            return Err(self.login_required_again(&t));
        }
        let valid = t.state == TokenState::Valid;
        if valid
            && t.tokens
                .is_valid_for(now, self.attainable(&t.tokens, min_ttl))
        {
            self.cache.set(&t);
            return Ok(Token::from_stored(&t));
        }
        if valid && !t.tokens.is_expired(now) {
            let left = t
                .tokens
                .remaining(now)
                .map(|d| format!("{} s left", d.as_secs()))
                .unwrap_or_else(|| "no expiry".into());
            let holder = if in_process {
                "another task of this process"
            } else {
                "another process"
            };
            let warning = format!(
                "waited {:.1} s for the refresh lock of profile `{}`, held by {holder} that is still refreshing (the provider may be slow); using the current token, still valid ({left})",
                waited.as_secs_f64(),
                self.profile
            );
            return Ok(self.warned(&t, warning));
        }
        let what = match t.state {
            TokenState::Rejected => "the current token was rejected by the API",
            _ => "the current token has expired",
        };
        let err = if in_process {
            Error::store(format!(
                "waited {:.1} s for the refresh lock of profile `{}`, held by another task of this process that is still refreshing",
                waited.as_secs_f64(),
                self.profile
            ))
            .with_hint("a refresh is taking longer than `lock_wait` (the provider may be very slow); try again, raise `lock_wait` in the profile, and check `tokenwarden doctor`")
        } else {
            self.store.lock_wait_exceeded(&self.profile, waited)
        };
        let msg = format!(
            "{}; {what}, so there is none to use meanwhile",
            err.message()
        );
        Err(err.with_message(msg))
    }
}
