//! The fleet store's [`Store`] and [`BreakerBackend`] operations, and [`PgLock`], its
//! refresh lock: each operation checks the schema and key once per process (`ensure_ready`),
//! then runs its statements on the shared connection (`super::conn`).

use super::conn::Db;
use super::{IN_FLIGHT_LEASE, PgStore, listen, records, revoke, rows};
use crate::error::{Error, Result};
use crate::http::TokenTypeHint;
use crate::secret::SecretString;
use crate::store::changes::ChangeFeed;
use crate::store::discovery::DiscoveryRow;
use crate::store::guard::RefreshGuard;
use crate::store::sqlite::recovery;
use crate::store::{
    BreakerBackend, BreakerRecord, CasOutcome, DiscoveryKind, Event, LastError, PendingRevocation,
    Store, StoredDiscovery, StoredTokens, TokenState, Version, truncate_breaker,
};
use crate::token::TokenSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// The refresh lock of one profile in the fleet store: an advisory lock on the process's
/// connection. Dropping it releases it.
pub struct PgLock {
    profile: String,
    db: Arc<Db>,
}

impl std::fmt::Debug for PgLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLock")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl RefreshGuard for PgLock {
    fn profile(&self) -> &str {
        &self.profile
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        self.db
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.profile);
        let profile = self.profile.clone();
        // A lost connection released the lock already.
        if let Err(e) = self.db.run(Duration::ZERO, async |c| {
            Ok(records::unlock(c, &profile).await?)
        }) {
            tracing::debug!(error = %e, "releasing the fleet store's refresh lock");
        }
    }
}

impl BreakerBackend for PgStore {
    fn load(&self, key: &str) -> Result<BreakerRecord> {
        self.ensure_ready()?;
        Ok(self
            .db
            .run(Duration::ZERO, async |c| {
                Ok(records::load_breaker(c, key).await?)
            })?
            .0)
    }

    fn save(&self, key: &str, record: &BreakerRecord) -> Result<()> {
        self.ensure_ready()?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::save_breaker(c, key, record, None).await?)
        })?;
        Ok(())
    }

    /// Read, change, and write back if nobody wrote meanwhile (a sequence number per record);
    /// else again. Atomic across the fleet without holding a transaction open.
    fn update(&self, key: &str, f: &mut dyn FnMut(&mut BreakerRecord)) -> Result<BreakerRecord> {
        self.ensure_ready()?;
        for _ in 0..20 {
            let (mut record, seq) = self.db.run(Duration::ZERO, async |c| {
                Ok(records::load_breaker(c, key).await?)
            })?;
            f(&mut record);
            let saved = self.db.run(Duration::ZERO, async |c| {
                Ok(records::save_breaker(c, key, &record, Some(seq)).await?)
            })?;
            if saved {
                return Ok(truncate_breaker(&record));
            }
        }
        Err(Error::store(format!(
            "the circuit breaker record {key:?} in the fleet store kept changing under this update"
        ))
        .with_hint("try again"))
    }

    fn breaker_records(&self) -> Result<Vec<(String, BreakerRecord)>> {
        self.ensure_ready()?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::breaker_records(c).await?)
        })
    }
}

impl PgStore {
    /// Stores the tokens this machine kept aside for `profile` ([`Store::keep_unwritten`]), if
    /// any: with compare-and-swap on the version they replace; a stale file (the profile moved
    /// on, on this machine or another) goes. One look at the directory when there is none.
    fn adopt_kept(&self, profile: &str) -> Result<()> {
        let Some(kept) = recovery::load(&self.recovery_dir, &self.sealer, profile, self.now())?
        else {
            return Ok(());
        };
        match self.write(profile, Some(kept.expected), &kept.tokens) {
            Ok(CasOutcome::Written(version)) => {
                tracing::info!(
                    profile,
                    %version,
                    path = %kept.path.display(),
                    "stored the refreshed tokens kept in a recovery file in the fleet store"
                );
                recovery::remove(&kept);
                Ok(())
            }
            Ok(CasOutcome::Conflict(_)) => {
                tracing::warn!(
                    profile,
                    path = %kept.path.display(),
                    "dropped a recovery file: the profile's tokens in the fleet store were replaced since"
                );
                recovery::remove(&kept);
                Ok(())
            }
            Err(e) => {
                let msg = format!(
                    "the refreshed tokens of profile `{profile}` kept in {} cannot be stored in the fleet store yet: {}",
                    kept.path.display(),
                    e.message()
                );
                Err(e.with_message(msg))
            }
        }
    }
}

impl Store for PgStore {
    fn read(&self, profile: &str) -> Result<Option<StoredTokens>> {
        self.adopt_kept(profile)?;
        let row = if self.checked.load(Ordering::Acquire) {
            self.db
                .run(Duration::ZERO, async |c| Ok(rows::read(c, profile).await?))?
        } else {
            self.read_checked(profile)?
        };
        self.opened(row, profile)
    }

    fn write_if_version(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.write(profile, Some(expected), tokens)
    }

    fn replace(&self, profile: &str, tokens: &TokenSet) -> Result<Version> {
        match self.write(profile, None, tokens)? {
            CasOutcome::Written(v) => Ok(v),
            CasOutcome::Conflict(_) => Err(Error::store("an unconditional write met a conflict")),
        }
    }

    /// The tokens go into a recovery file on this machine (see the module docs of [`super`]):
    /// the database is what could not be reached, so it cannot keep them itself.
    fn keep_unwritten(
        &self,
        profile: &str,
        expected: Version,
        tokens: &TokenSet,
    ) -> Result<String> {
        let path = recovery::keep(
            &self.recovery_dir,
            &self.sealer,
            profile,
            expected,
            tokens,
            self.now(),
        )?;
        tracing::warn!(profile, path = %path.display(), "refreshed tokens kept in a recovery file until the fleet store takes them");
        Ok(path.display().to_string())
    }

    fn delete_keeping_revocations(
        &self,
        profile: &str,
        version: Version,
        pending: &[(TokenTypeHint, SecretString)],
        error: &LastError,
    ) -> Result<bool> {
        self.ensure_ready()?;
        let now = self.now();
        let sealer = &self.sealer;
        let deleted = self.db.run(Duration::ZERO, async |c| {
            revoke::delete_keeping(c, sealer, profile, version, pending, error, now).await
        })?;
        if deleted {
            self.last_seen.forget(profile);
        }
        Ok(deleted)
    }

    fn pending_revocations(&self, profile: &str) -> Result<Vec<PendingRevocation>> {
        self.ensure_ready()?;
        let sealer = &self.sealer;
        let (found, unreadable) = self.db.run(Duration::ZERO, async |c| {
            Ok(revoke::pending(c, sealer, profile).await?)
        })?;
        for id in unreadable {
            tracing::warn!(
                profile,
                id,
                "dropped a pending revocation whose token does not open (damaged, or another key)"
            );
            self.db
                .run(Duration::ZERO, async |c| Ok(revoke::forget(c, id).await?))?;
        }
        Ok(found)
    }

    fn settle_revocation(&self, id: i64, failure: Option<&LastError>) -> Result<()> {
        self.ensure_ready()?;
        let now = self.now();
        self.db.run(Duration::ZERO, async |c| {
            match failure {
                None => revoke::forget(c, id).await?,
                Some(e) => revoke::failed(c, id, e, now).await?,
            }
            Ok(())
        })
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.ensure_ready()?;
        let deleted = self.db.run(
            Duration::ZERO,
            async |c| Ok(rows::delete(c, profile).await?),
        )?;
        self.last_seen.forget(profile);
        Ok(deleted)
    }

    fn list_profiles(&self) -> Result<Vec<String>> {
        self.ensure_ready()?;
        self.db
            .run(Duration::ZERO, async |c| Ok(rows::list(c).await?))
    }

    fn mark_rejected(&self, profile: &str, version: Version) -> Result<bool> {
        self.ensure_ready()?;
        let now = self.now();
        self.db.run(Duration::ZERO, async |c| {
            Ok(rows::mark_rejected(c, profile, version, now).await?)
        })
    }

    fn mark_state(
        &self,
        profile: &str,
        version: Version,
        state: TokenState,
        last_error: Option<&LastError>,
        transient: bool,
    ) -> Result<bool> {
        self.ensure_ready()?;
        let now = self.now();
        let state = &state;
        self.db.run(Duration::ZERO, async |c| {
            Ok(rows::mark_state(c, profile, version, state, last_error, transient, now).await?)
        })
    }

    fn mark_in_flight(&self, profile: &str, version: Version, in_flight: bool) -> Result<bool> {
        self.ensure_ready()?;
        let now = self.now();
        let until = now + IN_FLIGHT_LEASE;
        let me = self.me.as_str();
        self.db.run(Duration::ZERO, async |c| {
            Ok(rows::mark_in_flight(c, profile, version, in_flight, me, until, now).await?)
        })
    }

    fn record_refresh_failure(
        &self,
        profile: &str,
        version: Version,
        last_error: &LastError,
        maybe_rotated: bool,
    ) -> Result<bool> {
        self.ensure_ready()?;
        let now = self.now();
        self.db.run(Duration::ZERO, async |c| {
            Ok(
                rows::record_refresh_failure(c, profile, version, last_error, maybe_rotated, now)
                    .await?,
            )
        })
    }

    fn try_lock_profile(&self, profile: &str) -> Result<Option<Box<dyn RefreshGuard>>> {
        self.ensure_ready()?;
        if !self
            .db
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(profile.to_string())
        {
            return Ok(None);
        }
        let now = self.now();
        let me = self.me.as_str();
        let taken = self.db.run(Duration::ZERO, async |c| {
            let (got, lease) = records::try_lock(c, profile, me, now).await?;
            if got && lease.is_some() {
                records::unlock(c, profile).await?;
            }
            Ok((got, lease))
        });
        match taken {
            Ok((true, None)) => Ok(Some(Box::new(PgLock {
                profile: profile.to_string(),
                db: self.db.clone(),
            }))),
            other => {
                self.db
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(profile);
                match other {
                    Err(e) => Err(e),
                    Ok((true, Some(lease))) => {
                        tracing::debug!(
                            profile,
                            holder = %lease.holder,
                            "a refresh by another holder may still be in flight (the database restarted during it); waiting for it"
                        );
                        Ok(None)
                    }
                    Ok(_) => Ok(None),
                }
            }
        }
    }

    fn lock_wait_exceeded(&self, profile: &str, waited: Duration) -> Error {
        Error::store(format!(
            "waited {} for the refresh lock of profile {profile:?} in the fleet store at {}, held by another process (on this machine or another)",
            crate::human::duration(waited),
            self.db.url.redacted()
        ))
        .with_hint(format!(
            "another process is refreshing profile {profile:?} and has not finished; try again in a moment. If it is stuck, end it: the database releases its lock the moment its connection ends (`SELECT pid, client_addr, application_name FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory'` shows it). If the provider is only slow, raise `lock_wait` in the profile"
        ))
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        self.ensure_ready()?;
        let host = self.host.as_str();
        let id = self.db.run(Duration::ZERO, async |c| {
            Ok(records::append_event(c, event, host).await?)
        })?;
        let every = self.retention.prune_every;
        if every > 0 && u64::try_from(id).unwrap_or(0).is_multiple_of(every) {
            self.prune_events(self.retention.before(event.at), self.retention.max_events)?;
        }
        Ok(())
    }

    fn recent_events(
        &self,
        since: SystemTime,
        profile: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        self.ensure_ready()?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::recent_events(c, since, profile, limit).await?)
        })
    }

    fn prune_events(&self, before: SystemTime, keep: usize) -> Result<usize> {
        self.ensure_ready()?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::prune_events(c, before, keep).await?)
        })
    }

    fn read_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<Option<StoredDiscovery>> {
        self.ensure_ready()?;
        let row = self.db.run(Duration::ZERO, async |c| {
            Ok(records::read_discovery(c, issuer, kind).await?)
        })?;
        Ok(row.and_then(|row| row.open(&self.sealer)))
    }

    fn write_discovery(&self, doc: &StoredDiscovery) -> Result<()> {
        self.ensure_ready()?;
        let row = DiscoveryRow::seal(&self.sealer, doc)?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::write_discovery(c, &row).await?)
        })
    }

    fn forget_discovery(&self, issuer: &str, kind: DiscoveryKind) -> Result<()> {
        self.ensure_ready()?;
        self.db.run(Duration::ZERO, async |c| {
            Ok(records::forget_discovery(c, issuer, kind).await?)
        })
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(
            self.feed
                .get_or_init(|| {
                    let feed = ChangeFeed::new();
                    listen::start(self.db.handle(), self.db.connector.clone(), feed.clone());
                    feed
                })
                .clone(),
        )
    }

    fn last_known(&self, profile: &str) -> Option<StoredTokens> {
        self.last_seen.get(profile)?.open(&self.sealer).ok()
    }
}
