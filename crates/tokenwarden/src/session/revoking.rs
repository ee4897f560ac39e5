//! Providers that revoke the previous access token when a grant is refreshed (the profile key
//! `refresh_revokes_previous_access_token`), and telling a refusal caused by someone else's
//! refresh from one that is not.
//!
//! By design a session hands out the current, still-valid token while another caller refreshes
//! it. Against a provider that kills the previous access token the moment it refreshes, that
//! token dies in the caller's hands. With the key set:
//! - no caller is handed the stored token once a refresh of it may have started: the store's
//!   "refresh in flight" mark is set (a refresher sets it right before it sends the request, so
//!   a token read without it has not been refreshed yet), or this process's refresh mutex is
//!   held; inside the proactive window, a caller that finds the refresh lock taken waits too.
//!   The caller waits for that refresh instead (bounded by `lock_wait`) and gets its answer;
//! - the refresher waits [`REFRESH_DRAIN`] between setting that mark and sending the refresh,
//!   so that a token handed out just before the mark (to a script running
//!   `curl -H "Authorization: Bearer $(tokenwarden token)"`) is used before it dies;
//! - a stored token whose last refresh may have been processed with its answer lost is not
//!   handed out either: it is refreshed;
//! - [`Session::send`](super::Session::send) treats a bare 403 (no `insufficient_scope`) that
//!   follows a refresh (a newer token is stored, or one is being refreshed) like a 401: the
//!   token is invalidated, refreshed once, the request resent once.
//!
//! A long-running process hands out its in-memory token for at most [`STORE_RECHECK`] after it
//! last read the store (checking the store on every call would cost the fast path its point),
//! which is less than the refresher's drain: it sees another process's mark before that
//! refresh is sent. A call already on its way when the refresh is processed cannot be saved by
//! any client; that is what the retry is for. If the wait for the refresh runs out
//! (`lock_wait`), the current token is handed out with a warning, as for any provider.
//!
//! Without the key, [`Session::refusal_hint`] names it when a 401 or 403 comes within
//! [`REFRESH_AFTERMATH`] of a refresh made by another session (another process).

use super::Session;
use crate::error::Result;
use crate::store::{StoredTokens, TokenState, Version};
use crate::token::to_unix_millis;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How soon after another session's refresh a 401 or 403 is taken as possibly caused by it.
pub const REFRESH_AFTERMATH: Duration = Duration::from_secs(10);

/// How long a session of a provider that revokes the previous access token hands out its
/// in-memory token before it reads the store again: well under [`REFRESH_DRAIN`], so that a
/// long-running process sees another process's in-flight mark before that refresh is sent.
pub const STORE_RECHECK: Duration = Duration::from_millis(400);

/// When a session last read its stored token and found it fresh and unmarked (unix
/// milliseconds of the session's clock; `i64::MIN`: never).
#[derive(Debug)]
pub(super) struct StoreCheck(AtomicI64);

impl StoreCheck {
    pub(super) fn new() -> StoreCheck {
        StoreCheck(AtomicI64::new(i64::MIN))
    }
}

/// How long a refresher of a provider that revokes the previous access token waits between
/// marking the refresh in flight (from then on nobody is handed the token) and sending it, so
/// that a token handed out just before the mark (to a script that sends it a moment later) is
/// not killed in its user's hands. At most half the token's remaining lifetime.
pub const REFRESH_DRAIN: Duration = Duration::from_secs(1);

impl Session {
    /// Whether `t`'s access token may be dying under a refresh: a refresh of it was sent (the
    /// store's in-flight mark: in flight now, or its answer lost) or this process is refreshing.
    /// The store's lock is not probed: probing takes it for an instant, and callers would then
    /// wait for each other's probes.
    pub(super) fn refresh_may_have_started(&self, t: &StoredTokens) -> bool {
        t.refresh_failure_transient || self.flight.try_lock().is_err()
    }

    /// Whether the token of `version` was refreshed, or may be being refreshed, since it was
    /// handed out (after an API refused it, so rarely): a newer version is stored, a refresh of
    /// it may have started, or another process holds the refresh lock.
    pub(crate) fn refreshed_since(&self, version: Version) -> Result<bool> {
        let Some(stored) = self.store.read(&self.profile)? else {
            return Ok(false);
        };
        Ok(stored.version != version
            || self.refresh_may_have_started(&stored)
            || self.store.try_lock_profile(&self.profile)?.is_none())
    }

    /// Waits [`REFRESH_DRAIN`] (at most half of what is left of `t2`'s lifetime) before a
    /// refresh of a token that is still alive is sent to a provider that revokes it, once the
    /// in-flight mark is set; returns how long it waited. No wait for other providers, for a
    /// token already rejected or expired, or when a refresh of it was already sent (it may be
    /// dead already).
    pub(super) async fn drain_before_refresh(&self, t2: &StoredTokens) -> Duration {
        if !self.revokes_previous()
            || t2.refresh_failure_transient
            || t2.state != TokenState::Valid
            || t2.tokens.is_expired(self.clock.now())
        {
            return Duration::ZERO;
        }
        let wait = t2
            .tokens
            .remaining(self.clock.now())
            .map_or(REFRESH_DRAIN, |left| REFRESH_DRAIN.min(left / 2));
        tokio::time::sleep(wait).await;
        wait
    }

    /// Whether the fast path may hand out the cached token: always for an ordinary provider;
    /// for one that revokes the previous access token, not while this process refreshes, and
    /// only within [`STORE_RECHECK`] of the last read of the store that found the token fresh
    /// and unmarked.
    pub(super) fn cache_may_serve(&self) -> bool {
        if !self.revokes_previous() {
            return true;
        }
        if self.flight.try_lock().is_err() {
            return false;
        }
        let since = to_unix_millis(self.clock.now())
            .saturating_sub(self.store_check.0.load(Ordering::Relaxed));
        let recheck = i64::try_from(STORE_RECHECK.as_millis()).unwrap_or(i64::MAX);
        (0..recheck).contains(&since)
    }

    /// Remembers that the store was read just now and its token found fresh and unmarked (or
    /// stored by this session's own refresh).
    pub(super) fn note_store_checked(&self) {
        if self.revokes_previous() {
            self.store_check
                .0
                .store(to_unix_millis(self.clock.now()), Ordering::Relaxed);
        }
    }

    /// Whether the profile's provider revokes the previous access token on refresh.
    pub(crate) fn revokes_previous(&self) -> bool {
        self.opts.refresh_revokes_previous_access_token
    }

    /// Remembers that this session stored `version` itself (see [`Session::refusal_hint`]).
    pub(super) fn note_own_refresh(&self, version: Version) {
        if let Ok(mut v) = self.own_refresh.lock() {
            *v = Some(version);
        }
    }

    /// Whether another session (another process) refreshed the token within
    /// [`REFRESH_AFTERMATH`] of now, or is refreshing it now.
    fn refreshed_elsewhere_lately(&self) -> bool {
        let Ok(Some(stored)) = self.store.read(&self.profile) else {
            return false;
        };
        let own = self.own_refresh.lock().ok().and_then(|v| *v);
        let now = self.clock.now();
        let lately = stored.last_refresh_at.is_some_and(|at| {
            now.duration_since(at)
                .map_or(true, |d| d <= REFRESH_AFTERMATH)
        });
        (lately && own != Some(stored.version)) || stored.refresh_failure_transient
    }

    /// The hint for an API's refusal of this session's token (`status` 401 or 403, with its
    /// `WWW-Authenticate` and body), for the callers of [`Session::send`] that report it (the
    /// `request` command, the proxy): "lacks permission" only when the answer says
    /// `insufficient_scope`; the key `refresh_revokes_previous_access_token` when the refusal
    /// follows another process's refresh and the profile does not set it; `None` for other
    /// statuses.
    pub fn refusal_hint(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        body: &[u8],
    ) -> Option<String> {
        if !matches!(status, 401 | 403) {
            return None;
        }
        if says_insufficient_scope(www_authenticate, body) {
            return Some(
                "the token was accepted but lacks permission (insufficient_scope): check the profile's scopes (and resource_indicator), then log in again".into(),
            );
        }
        if !self.revokes_previous() && self.refreshed_elsewhere_lately() {
            return Some(format!(
                "the API refused the token {} s or less after another process refreshed it: the provider may revoke the previous access token when it refreshes; set refresh_revokes_previous_access_token = true in profile `{}` so that nobody is handed the old token once a refresh may have started",
                REFRESH_AFTERMATH.as_secs(),
                self.profile
            ));
        }
        Some(match status {
            401 => "the API refused the token (401): run `tokenwarden login` if it keeps happening; `tokenwarden doctor --live` checks the token against the profile's resource".into(),
            _ => "the API refused the request (403) without saying the token lacks a scope: this client or account may not use this resource; the response body says more".into(),
        })
    }
}

/// Whether an API's refusal says `insufficient_scope` (RFC 6750 §3.1): in `WWW-Authenticate`,
/// or as the `error` of a JSON body.
pub(super) fn says_insufficient_scope(www_authenticate: Option<&str>, body: &[u8]) -> bool {
    let in_header = www_authenticate.is_some_and(|h| h.contains("insufficient_scope"));
    let in_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| {
            v.get("error").and_then(serde_json::Value::as_str) == Some("insufficient_scope")
        });
    in_header || in_body
}

#[cfg(test)]
mod tests {
    use super::says_insufficient_scope;

    #[test]
    fn insufficient_scope_in_the_header_or_the_body() {
        assert!(says_insufficient_scope(
            Some(r#"Bearer error="insufficient_scope", scope="read""#),
            b""
        ));
        assert!(says_insufficient_scope(
            None,
            br#"{"error":"insufficient_scope"}"#
        ));
        assert!(!says_insufficient_scope(
            None,
            br#"{"type":"error","error":{"type":"permission_error"}}"#
        ));
        assert!(!says_insufficient_scope(
            Some("Bearer realm=\"api\""),
            b"forbidden"
        ));
    }
}
