//! The refresh token's horizon: when a new login will be needed, seen ahead of time.
//!
//! Refresh tokens expire too: GitHub apps send `refresh_token_expires_in`, other providers cap
//! a session at days or weeks (a profile's `session_lifetime`). When the refresh token expires,
//! every process using the profile drops at once, so tokenwarden says so beforehand:
//! - `status` shows when (JSON `refresh_token_expires_at`);
//! - `token` (and an agent) warn on stderr from [`Profile::refresh_expiry_warning`] before
//!   (default [`DEFAULT_WARNING`]), at most once every [`WARN_EVERY`] per profile: the warning
//!   is recorded in the event log as `expiry_warning`, and the log is where "already warned
//!   today" is decided, so every process of the machine shares it;
//! - `doctor` fails its `refresh_token_expiry` check within that window.
//!
//! Everything here takes "now" as an argument.

use crate::config::Profile;
use crate::store::{Event, Operation, Outcome, Store};
use crate::token::TokenSet;
use std::time::{Duration, SystemTime};

/// How long before the refresh token expires the warnings start, when the profile does not
/// say (`refresh_expiry_warning`).
pub const DEFAULT_WARNING: Duration = Duration::from_secs(3 * 24 * 3600);

/// A profile is warned at most once in this long.
pub const WARN_EVERY: Duration = Duration::from_secs(24 * 3600);

/// How many of the profile's most recent log records are searched for the last warning. A
/// profile with more records than this in a day may be warned twice that day.
const RECENT_RECORDS: usize = 2_000;

/// When a profile's refresh token expires, seen from `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// When the refresh token stops working.
    pub expires_at: SystemTime,
    /// How long it has left (zero once past).
    pub left: Duration,
    /// True within the warning window (or past it): a new login is needed soon.
    pub within_warning: bool,
}

impl Horizon {
    /// The horizon of a refresh token that expires at `expires_at` (`None`: not known), for a
    /// profile that warns `warn_before` ahead.
    pub fn at(
        expires_at: Option<SystemTime>,
        now: SystemTime,
        warn_before: Duration,
    ) -> Option<Horizon> {
        let expires_at = expires_at?;
        let left = expires_at.duration_since(now).unwrap_or(Duration::ZERO);
        Some(Horizon {
            expires_at,
            left,
            within_warning: left <= warn_before,
        })
    }

    /// True once the refresh token has expired.
    pub fn expired(&self) -> bool {
        self.left.is_zero()
    }

    /// The warning in words, for `profile`: what happens when, and what to do.
    pub fn message(&self, profile: &str) -> String {
        let when = humantime::format_rfc3339_seconds(self.expires_at);
        if self.expired() {
            format!(
                "the refresh token of profile `{profile}` expired at {when}: a new login is needed (`tokenwarden --profile {profile} login`)"
            )
        } else {
            format!(
                "the refresh token of profile `{profile}` expires in {} (at {when}); log in again before then (`tokenwarden --profile {profile} login`), or every program using it stops at once",
                crate::human::duration(Duration::from_secs(self.left.as_secs()))
            )
        }
    }
}

/// The tokens a login obtained, with the profile's `session_lifetime` applied: the refresh
/// token expires no later than the login plus that cap (the provider's own
/// `refresh_token_expires_in`, when sooner, stays). Refreshes keep that horizon
/// ([`TokenSet::renewing`]) unless the provider states another.
pub fn with_session_cap(tokens: &TokenSet, session_lifetime: Option<Duration>) -> TokenSet {
    let mut tokens = tokens.clone();
    if let (Some(cap), Some(_)) = (session_lifetime, &tokens.refresh_token) {
        let capped = tokens.obtained_at + cap;
        tokens.refresh_token_expires_at = Some(match tokens.refresh_token_expires_at {
            Some(said) => said.min(capped),
            None => capped,
        });
    }
    tokens
}

/// The warning `token` (or an agent) shows now for `profile`, whose refresh token expires at
/// `expires_at`: `Some` when inside the profile's warning window and no warning was recorded in
/// the last [`WARN_EVERY`]; it is then recorded (operation `expiry_warning`), so the next one
/// comes a day later, whichever process asks. A log that cannot be read or written never stops
/// the token: the warning is then shown (and logged) every time.
pub fn due_warning(
    store: &dyn Store,
    profile: &Profile,
    expires_at: Option<SystemTime>,
    now: SystemTime,
) -> Option<Horizon> {
    let horizon = Horizon::at(expires_at, now, profile.refresh_expiry_warning)?;
    if !horizon.within_warning {
        return None;
    }
    let since = now
        .checked_sub(WARN_EVERY)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match store.recent_events(since, Some(&profile.name), RECENT_RECORDS) {
        Ok(recent)
            if recent
                .iter()
                .any(|e| e.operation == Operation::ExpiryWarning) =>
        {
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not read the event log for the last expiry warning")
        }
    }
    let mut event = Event::new(now, &profile.name, Operation::ExpiryWarning, Outcome::Ok);
    event.correlation_id = crate::correlation::current();
    if let Err(e) = store.append_event(&event) {
        tracing::warn!(error = %e, "could not record the expiry warning in the event log");
    }
    Some(horizon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use std::time::UNIX_EPOCH;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn horizon_and_window() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(Horizon::at(None, now, DEFAULT_WARNING), None);
        let h = Horizon::at(Some(now + 2 * DAY), now, DEFAULT_WARNING).unwrap();
        assert!(h.within_warning && !h.expired());
        assert_eq!(h.left, 2 * DAY);
        assert!(
            h.message("p").contains("expires in 2 days"),
            "{}",
            h.message("p")
        );
        let far = Horizon::at(Some(now + 10 * DAY), now, DEFAULT_WARNING).unwrap();
        assert!(!far.within_warning);
        let past = Horizon::at(Some(now - DAY), now, DEFAULT_WARNING).unwrap();
        assert!(past.expired() && past.within_warning);
        assert!(past.message("p").contains("expired"));
    }

    #[test]
    fn a_session_cap_bounds_the_horizon_from_the_login() {
        use crate::secret::{AccessToken, RefreshToken};
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let tokens = TokenSet {
            access_token: AccessToken::new("a"),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("r")),
            id_token: None,
            expires_at: Some(now + Duration::from_secs(3600)),
            scopes: Vec::new(),
            obtained_at: now,
            refresh_token_obtained_at: Some(now),
            refresh_token_expires_at: None,
            subject: None,
            issuer: None,
        };
        assert_eq!(with_session_cap(&tokens, None), tokens);
        let capped = with_session_cap(&tokens, Some(14 * DAY));
        assert_eq!(capped.refresh_token_expires_at, Some(now + 14 * DAY));
        // The provider's own horizon stays when it is sooner, and the cap wins when not.
        let said = TokenSet {
            refresh_token_expires_at: Some(now + 2 * DAY),
            ..tokens.clone()
        };
        assert_eq!(
            with_session_cap(&said, Some(14 * DAY)).refresh_token_expires_at,
            Some(now + 2 * DAY)
        );
        assert_eq!(
            with_session_cap(&said, Some(DAY)).refresh_token_expires_at,
            Some(now + DAY)
        );
        // No refresh token: nothing to bound.
        let bare = TokenSet {
            refresh_token: None,
            ..tokens
        };
        assert_eq!(
            with_session_cap(&bare, Some(DAY)).refresh_token_expires_at,
            None
        );
    }

    #[test]
    fn warned_once_a_day_through_the_log() {
        let store = MemoryStore::new();
        let profile = Profile::new("p", "cli");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let expires = Some(now + 2 * DAY);
        assert!(due_warning(&store, &profile, expires, now).is_some());
        let hour = Duration::from_secs(3600);
        assert!(due_warning(&store, &profile, expires, now + hour).is_none());
        assert!(due_warning(&store, &profile, expires, now + DAY + hour).is_some());
        let logged = store.recent_events(now, Some("p"), 10).unwrap();
        assert_eq!(logged.len(), 2);
        assert!(
            logged
                .iter()
                .all(|e| e.operation == Operation::ExpiryWarning)
        );
        // Outside the window: nothing, nothing logged.
        let other = Profile::new("q", "cli");
        assert!(due_warning(&store, &other, Some(now + 10 * DAY), now).is_none());
        assert!(store.recent_events(now, Some("q"), 10).unwrap().is_empty());
    }
}
