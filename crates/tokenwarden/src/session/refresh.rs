//! The refresh itself, under both locks: re-read, refresh (or renew with the client
//! credentials grant), compare-and-swap the answer into the store durably (trying again while
//! another process holds the store, and having the store keep it aside when it cannot), and
//! only then hand it out. What a failure means is `failure`'s.

use super::{Effort, Session, Token, failure};
use crate::error::{Cause, Error, Result};
use crate::events::{Operation, Outcome};
use crate::http::Exchange;
use crate::store::{CasOutcome, StoredTokens, TokenState};
use crate::token::TokenSet;
use std::time::{Duration, Instant};

/// The pause between two tries to store a refresh's answer while the store is held (each try
/// itself waits for the store's own busy timeout).
const WRITE_RETRY_PAUSE: Duration = Duration::from_millis(100);

impl Session {
    pub(super) async fn refresh_locked(
        &self,
        seen: &StoredTokens,
        min_ttl: Duration,
        effort: Effort,
    ) -> Result<Token> {
        // Re-read under the lock: another process may have refreshed, or logged in.
        let t2 = self.read()?;
        let now = self.clock.now();
        let need = self.attainable(&t2.tokens, min_ttl);
        let usable = t2.state == TokenState::Valid;
        let newer = t2.version != seen.version;
        // A refresh of t2 may have been processed with its answer lost: a provider that
        // revokes the previous access token may have killed it, so it is refreshed instead.
        let dying = self.revokes_previous() && t2.refresh_failure_transient;
        if usable
            && !dying
            && ((newer && t2.tokens.is_valid_for(now, need))
                || t2.tokens.is_fresh(now, need, self.opts.refresh_skew))
        {
            self.cache.set(&t2);
            return Ok(Token::from_stored(&t2));
        }
        if matches!(t2.state, TokenState::LoginRequired { .. }) {
            return Err(self.login_required_again(&t2));
        }
        // One attempt only while the token still serves the caller.
        let effort = if usable && t2.tokens.is_valid_for(now, need) {
            effort
        } else {
            Effort::Full
        };
        let refresh_token = t2.tokens.refresh_token.as_ref();
        let (operation, client_credentials) = match refresh_token {
            Some(_) => (Operation::Refresh, None),
            None => match self.grants.client_credentials(effort) {
                Some(grant) => (Operation::ClientCredentials, Some(grant)),
                None => return Err(self.no_refresh_token(&t2)),
            },
        };
        let started = Instant::now();
        if let Err(err) = self.grants.prepare(effort).await {
            // Nothing was sent: no in-flight mark, nothing the server can have rotated.
            let failed = failure::Failed {
                operation,
                exchange: Exchange::default(),
                elapsed: started.elapsed(),
                prepared: false,
            };
            return self.refresh_failed(&t2, err, &failed);
        }
        let mut drained = Duration::ZERO;
        let done = match (refresh_token, client_credentials) {
            (Some(rt), _) => {
                self.mark_in_flight(&t2);
                drained = self.drain_before_refresh(&t2).await;
                self.grants.refresh(rt, effort).await
            }
            (None, Some(grant)) => grant.await,
            (None, None) => return Err(self.no_refresh_token(&t2)),
        };
        // The drain is not the provider's latency.
        let elapsed = started.elapsed().saturating_sub(drained);
        match done.result {
            Ok(fresh) => {
                self.store_fresh(&t2, fresh, operation, &done.exchange, elapsed)
                    .await
            }
            Err(err) => {
                let failed = failure::Failed {
                    operation,
                    exchange: done.exchange,
                    elapsed,
                    prepared: true,
                };
                self.refresh_failed(&t2, err, &failed)
            }
        }
    }

    /// Marks `t2` "a refresh may be in flight", so that a crash before the answer is stored
    /// makes a later `invalid_grant` read as a possibly lost rotation (see the module docs).
    /// Only the flag is written: a rejection recorded meanwhile stays.
    fn mark_in_flight(&self, t2: &StoredTokens) {
        if t2.refresh_failure_transient {
            return;
        }
        if let Err(e) = self.store.mark_in_flight(&self.profile, t2.version, true) {
            tracing::warn!(profile = %self.profile, error = %e, "cannot mark the refresh in flight");
        }
    }

    fn no_refresh_token(&self, t2: &StoredTokens) -> Error {
        let what = if t2.state == TokenState::Rejected {
            "was rejected"
        } else {
            "expired"
        };
        Error::login_required(format!(
            "the access token of profile `{}` {what} and there is no refresh token to renew it",
            self.profile
        ))
        .with_cause(Cause::NotLoggedIn)
        .with_hint(format!(
            "{}; a confidential client that logs in with --client-credentials renews by itself when its profile says grant = \"client_credentials\"",
            self.login_hint()
        ))
    }

    /// Writes a refresh's answer with compare-and-swap on `t2`'s version. The answer is the
    /// only copy of the new tokens (see "A refreshed token set is never dropped" in the module
    /// docs): while another process holds the store, the write is tried again, under the
    /// refresh lock, for up to `store_write_wait`; if it still fails, the store keeps the tokens
    /// aside for the next read of the profile, and the error says where.
    async fn write_refreshed(&self, t2: &StoredTokens, fresh: &TokenSet) -> Result<CasOutcome> {
        let started = Instant::now();
        let mut tries = 0u32;
        let err = loop {
            tries += 1;
            match self
                .store
                .write_if_version(&self.profile, t2.version, fresh)
            {
                Ok(outcome) => return Ok(outcome),
                Err(e)
                    if e.cause() == Some(Cause::StoreBusy)
                        && started.elapsed() < self.opts.store_write_wait =>
                {
                    tracing::warn!(
                        profile = %self.profile,
                        tries,
                        "the token store is held by another process; trying again to store the refreshed tokens"
                    );
                    tokio::time::sleep(WRITE_RETRY_PAUSE).await;
                }
                Err(e) => break e,
            }
        };
        let tried = crate::human::duration(started.elapsed());
        Err(
            match self.store.keep_unwritten(&self.profile, t2.version, fresh) {
                Ok(place) => {
                    let msg = format!(
                        "{}; profile `{}` was refreshed, but its new tokens could not be stored (tried for {tried}): they were sealed into {place}, which the next tokenwarden run stores before anything else",
                        err.message(),
                        self.profile
                    );
                    let hint = match err.hint() {
                        Some(h) => format!("nothing needs a new login; {h}"),
                        None => "nothing needs a new login: run the command again".to_string(),
                    };
                    err.with_message(msg).with_hint(hint)
                }
                Err(kept) => {
                    let msg = format!(
                        "{}; profile `{}` was refreshed, but its new tokens could not be stored, nor kept aside ({}): if the provider rotates refresh tokens, the next refresh may fail and need a new login",
                        err.message(),
                        self.profile,
                        kept.message()
                    );
                    err.with_message(msg)
                }
            },
        )
    }

    /// Stores a refreshed token set with compare-and-swap on the version it replaces, durably,
    /// and only then hands it out. What the answer leaves out (an unrotated refresh token) is
    /// kept from `t2` ([`TokenSet::renewing`]).
    async fn store_fresh(
        &self,
        t2: &StoredTokens,
        fresh: TokenSet,
        operation: Operation,
        exchange: &Exchange,
        elapsed: Duration,
    ) -> Result<Token> {
        let fresh = fresh.renewing(&t2.tokens);
        match self.write_refreshed(t2, &fresh).await? {
            CasOutcome::Written(version) => {
                self.note_own_refresh(version);
                self.note_store_checked();
                self.event(operation, Outcome::Ok, Some(exchange), Some(elapsed));
                if let Ok(mut w) = self.last_warning.lock() {
                    *w = None;
                }
                let now = self.clock.now();
                let stored = StoredTokens {
                    profile: self.profile.clone(),
                    tokens: fresh,
                    version,
                    state: TokenState::Valid,
                    last_error: None,
                    last_refresh_at: Some(now),
                    refresh_failure_transient: false,
                    updated_at: now,
                };
                self.cache.set(&stored);
                Ok(Token::from_stored(&stored))
            }
            CasOutcome::Conflict(current) => {
                // A writer that does not take the lock (a login in another terminal, a logout)
                // got there first: what it stored wins.
                self.event(
                    operation,
                    Outcome::OkSuperseded,
                    Some(exchange),
                    Some(elapsed),
                );
                match current {
                    Some(cur) if cur.state == TokenState::Valid => {
                        self.cache.set(&cur);
                        Ok(Token::from_stored(&cur))
                    }
                    Some(cur) => match &cur.state {
                        TokenState::LoginRequired { .. } => Err(self.login_required_again(&cur)),
                        _ => Err(Error::login_required(format!(
                            "the token of profile `{}` was replaced during the refresh and the replacement was rejected by the server",
                            self.profile
                        ))
                        .with_hint(self.login_hint())),
                    },
                    None => {
                        self.cache.clear();
                        Err(Error::login_required(format!(
                            "profile `{}` was logged out while its token was being refreshed",
                            self.profile
                        ))
                        .with_cause(Cause::NotLoggedIn)
                        .with_hint(self.login_hint()))
                    }
                }
            }
        }
    }
}
